// Shared helpers for the XML stream parser tests.
import { expect } from 'chai';
import type { Element } from 'ltx';
import {
  XmlStreamParser,
  type StreamHeader,
  type XmlErrorCondition,
  type XmlLimits,
  type XmlStreamEvents,
} from '../../src/xml/stream-parser.js';

export const NS_STREAMS = 'http://etherx.jabber.org/streams';
export const HEADER =
  "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";
export const DEFAULT_LIMITS: XmlLimits = { maxStanzaBytes: 10_000, maxDepth: 16, maxAttributes: 16 };

export type Ev =
  | { type: 'start'; header: StreamHeader }
  | { type: 'element'; el: Element }
  | { type: 'end' }
  | { type: 'error'; condition: XmlErrorCondition; text: string };

export interface Harness {
  parser: XmlStreamParser;
  events: Ev[];
  /** Optional hooks run after the event is recorded (for reset/end/setLimits from callbacks). */
  on: Partial<XmlStreamEvents>;
}

export function harness(limits: Partial<XmlLimits> = {}): Harness {
  const events: Ev[] = [];
  const on: Partial<XmlStreamEvents> = {};
  const parser = new XmlStreamParser(
    {
      streamStart(header) {
        events.push({ type: 'start', header });
        on.streamStart?.(header);
      },
      element(el) {
        events.push({ type: 'element', el });
        on.element?.(el);
      },
      streamEnd() {
        events.push({ type: 'end' });
        on.streamEnd?.();
      },
      error(condition, text) {
        events.push({ type: 'error', condition, text });
        on.error?.(condition, text);
      },
    },
    { ...DEFAULT_LIMITS, ...limits },
  );
  return { parser, events, on };
}

export function toBuf(input: string | Buffer): Buffer {
  return typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
}

/** Feeds `input` split into chunks of `chunkSize` bytes (Infinity = one write). */
export function feed(h: Harness, input: string | Buffer, chunkSize = Infinity): void {
  const buf = toBuf(input);
  if (chunkSize >= buf.length) {
    h.parser.write(buf);
    return;
  }
  for (let i = 0; i < buf.length; i += chunkSize) h.parser.write(buf.subarray(i, i + chunkSize));
}

/** A comparable summary of an event list. */
export function summarize(events: Ev[]): string[] {
  return events.map((e) => {
    switch (e.type) {
      case 'start':
        return `start ${e.header.prefix ?? ''}|${e.header.localName}|${e.header.namespace}|${e.header.defaultNamespace}|${JSON.stringify({ ...e.header.attrs })}`;
      case 'element':
        return `element ${e.el.toString()}`;
      case 'end':
        return 'end';
      case 'error':
        return `error ${e.condition}`;
    }
  });
}

/** Parses `input` in one write, returning the events. */
export function parse(input: string | Buffer, limits: Partial<XmlLimits> = {}, chunkSize = Infinity): Ev[] {
  const h = harness(limits);
  feed(h, input, chunkSize);
  return h.events;
}

/** Parses a stream body (after HEADER) and returns the emitted elements; fails on any error. */
export function stanzas(body: string | Buffer, limits: Partial<XmlLimits> = {}): Element[] {
  const input = Buffer.concat([Buffer.from(HEADER), toBuf(body)]);
  const whole = parse(input, limits);
  const bytewise = parse(input, limits, 1);
  expect(summarize(bytewise)).to.deep.equal(summarize(whole), 'byte-by-byte parse differs from whole parse');
  const errors = whole.filter((e) => e.type === 'error');
  expect(errors, 'unexpected error').to.deep.equal([]);
  return whole.flatMap((e) => (e.type === 'element' ? [e.el] : []));
}

/** Parses a single stanza and returns it. */
export function stanza(xml: string | Buffer, limits: Partial<XmlLimits> = {}): Element {
  const els = stanzas(xml, limits);
  expect(els).to.have.length(1);
  return els[0];
}

/**
 * Asserts that `input` produces exactly one error with `condition`, as the
 * last event, both when written at once and byte by byte (and in 7-byte chunks).
 */
export function expectError(input: string | Buffer, condition: XmlErrorCondition, limits: Partial<XmlLimits> = {}): Ev[] {
  const whole = parse(input, limits);
  const last = whole[whole.length - 1];
  expect(last, `no error for ${JSON.stringify(toBuf(input).toString('latin1'))}`).to.include({ type: 'error' });
  expect((last as { condition: string }).condition).to.equal(condition);
  expect(whole.filter((e) => e.type === 'error')).to.have.length(1);
  for (const size of [1, 7]) {
    const chunked = parse(input, limits, size);
    expect(summarize(chunked), `chunk size ${size}`).to.deep.equal(summarize(whole));
  }
  return whole;
}

/** Asserts an error inside a stream body (after HEADER). */
export function expectBodyError(body: string | Buffer, condition: XmlErrorCondition, limits: Partial<XmlLimits> = {}): Ev[] {
  return expectError(Buffer.concat([Buffer.from(HEADER), toBuf(body)]), condition, limits);
}
