// XEP-0124/XEP-0206 BOSH at /http-bind: parses each request's <body/> with the restricted-XML
// tokenizer, creates sessions (each a client stream under every c2s limit) and hands requests
// to them. Session ids are unpredictable and never logged.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Express, Request, Response } from 'express';
import type { Element } from 'ltx';
import type { Logger } from 'pino';
import type { ClientFraming } from '../../c2s/framing.js';
import type { XmlLimits, XmlStreamEvents, StreamHeader, XmlErrorCondition } from '../../xml/stream-parser.js';
import { XmlStreamParser } from '../../xml/stream-parser.js';
import type { ClientAddresses } from './client-address.js';
import { OriginPolicy } from './origins.js';
import { BoshSession, NS_HTTPBIND, NS_XBOSH, replyTo, terminateBody, type BoshParameters, type BoshReply, type BoshRequest } from './bosh-session.js';

export const BOSH_PATH = '/http-bind';

/** What the server grants (§7.1): the client may ask for less. */
const MAX_WAIT_S = 60;
const MAX_HOLD = 1;
const POLLING_S = 2;
/** 2^53 - 1 (§14.1): the largest rid. */
const MAX_RID = Number.MAX_SAFE_INTEGER;

export interface BoshOptions {
  accept(framing: ClientFraming): void;
  origins: OriginPolicy;
  addresses: ClientAddresses;
  /** Parser limits before authentication (raised per session after it). */
  limits: XmlLimits;
  /** The largest request body: one stanza at the post-authentication limit plus the wrapper. */
  maxBodyBytes: number;
  /** http.boshInactivityS (§12); polling sessions get twice as long. */
  inactivityS: number;
  log: Logger;
}

/** A request body: the <body/> attributes and its children, or why it is not one. */
type ParsedBody = { attrs: Record<string, string>; xboshPrefix: string | null; elements: Element[] } | { error: string };

class BodyCollector implements XmlStreamEvents {
  attrs: Record<string, string> | null = null;
  header: StreamHeader | null = null;
  readonly elements: Element[] = [];
  done = false;
  problem: string | null = null;
  constructor(private readonly onHeader: (attrs: Record<string, string>) => XmlLimits | null) {}
  parser: XmlStreamParser | null = null;
  streamStart(header: StreamHeader): void {
    this.header = header;
    this.attrs = header.attrs;
    const limits = this.onHeader(header.attrs);
    if (limits) this.parser?.setLimits(limits);
  }
  element(element: Element): void {
    this.elements.push(element);
  }
  streamEnd(): void {
    this.done = true;
  }
  error(condition: XmlErrorCondition, text: string): void {
    this.problem ??= `${condition}: ${text}`;
  }
}

function parseBody(bytes: Buffer, limits: XmlLimits, limitsFor: (attrs: Record<string, string>) => XmlLimits | null): ParsedBody {
  const collector = new BodyCollector(limitsFor);
  const parser = new XmlStreamParser(collector, limits);
  collector.parser = parser;
  parser.write(bytes);
  parser.end();
  if (collector.problem) return { error: collector.problem };
  const header = collector.header;
  if (!header || !collector.done) return { error: 'the request is not one complete <body/>' };
  if (header.localName !== 'body' || header.namespace !== NS_HTTPBIND) return { error: `the root element must be <body xmlns='${NS_HTTPBIND}'/>` };
  let xboshPrefix: string | null = null;
  for (const [name, value] of Object.entries(header.attrs)) {
    if (name.startsWith('xmlns:') && value === NS_XBOSH) xboshPrefix = name.slice(6);
  }
  return { attrs: header.attrs, xboshPrefix, elements: collector.elements };
}

function parseRid(value: string | undefined): number | null {
  if (value === undefined || !/^[0-9]{1,16}$/.test(value)) return null;
  const rid = Number(value);
  return rid > 0 && rid <= MAX_RID ? rid : null;
}

function boundedInt(value: string | undefined, min: number, max: number, fallback: number): number {
  if (value === undefined || !/^[0-9]{1,9}$/.test(value)) return fallback;
  return Math.min(Math.max(Number(value), min), max);
}

function readBody(request: IncomingMessage, limit: number): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        return;
      }
      if (!over) chunks.push(chunk);
    });
    request.on('end', () => resolve(over ? 'too-large' : Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

export class BoshEndpoint {
  private readonly sessions = new Map<string, BoshSession>();
  private readonly sweep: NodeJS.Timeout;

  constructor(private readonly options: BoshOptions) {
    // §12: sessions whose client stopped asking are ended; one timer for all of them.
    this.sweep = setInterval(() => {
      const now = Date.now();
      for (const session of this.sessions.values()) session.expireInactive(now);
    }, 1_000);
    this.sweep.unref();
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  mount(app: Express): void {
    app.options(BOSH_PATH, (request, response) => this.preflight(request, response));
    app.post(BOSH_PATH, (request, response) => {
      this.post(request, response).catch((err: unknown) => {
        this.options.log.error({ err }, 'BOSH request failed');
        if (!response.headersSent) response.status(500).type('text/xml').send(terminateBody('undefined-condition'));
      });
    });
    app.get(BOSH_PATH, (_request, response) => {
      response.status(405).setHeader('Allow', 'POST, OPTIONS');
      response.type('text/plain').send('This is an XMPP over BOSH endpoint (XEP-0124, XEP-0206): POST <body/> elements here.\n');
    });
  }

  /** CORS headers for an allowed web page (none for native clients, which send no Origin). */
  private corsHeaders(request: IncomingMessage): Record<string, string> {
    const origin = OriginPolicy.originOf(request);
    return origin === undefined ? {} : { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' };
  }

  private preflight(request: Request, response: Response): void {
    if (!this.options.origins.allows(request)) {
      response.status(403).type('text/plain').send('This origin may not open XMPP sessions here.\n');
      return;
    }
    response.set({
      ...this.corsHeaders(request),
      'Access-Control-Allow-Methods': 'POST, OPTIONS',
      'Access-Control-Allow-Headers': 'Content-Type',
      'Access-Control-Max-Age': '86400',
    });
    response.status(204).end();
  }

  private async post(request: Request, response: Response): Promise<void> {
    if (!this.options.origins.allows(request)) {
      response.status(403).type('text/plain').send('This origin may not open XMPP sessions here.\n');
      return;
    }
    const headers = this.corsHeaders(request);
    const bytes = await readBody(request, this.options.maxBodyBytes);
    if (bytes === 'too-large') {
      response.status(413).set(headers).type('text/xml').send(terminateBody('policy-violation'));
      return;
    }
    const parsed = parseBody(bytes, this.options.limits, (attrs) => (attrs.sid !== undefined ? this.sessions.get(attrs.sid)?.limits ?? null : null));
    if ('error' in parsed) {
      this.options.log.debug({ reason: parsed.error }, 'bad BOSH request');
      response.status(400).set(headers).type('text/xml').send(terminateBody('bad-request'));
      return;
    }
    const reply = replyTo(response as ServerResponse, headers);
    const attrs = parsed.attrs;
    const rid = parseRid(attrs.rid);
    if (rid === null) {
      reply.send(terminateBody('bad-request'));
      return;
    }
    if (attrs.sid === undefined) {
      this.create(request, rid, attrs, parsed.xboshPrefix, reply);
      return;
    }
    const session = this.sessions.get(attrs.sid);
    if (!session) {
      // §14.3: the same answer for unknown sessions and rids, revealing nothing.
      reply.send(terminateBody('item-not-found'));
      return;
    }
    const prefixed = (name: string) => (parsed.xboshPrefix ? attrs[`${parsed.xboshPrefix}:${name}`] : undefined);
    const bodyRequest: BoshRequest = {
      rid,
      ack: parseRid(attrs.ack),
      terminate: attrs.type === 'terminate',
      restart: prefixed('restart') === 'true' ? { to: attrs.to, 'xml:lang': attrs['xml:lang'] } : null,
      elements: parsed.elements,
    };
    session.handle(bodyRequest, reply);
  }

  /** §7.1 / XEP-0206 §4: a new session, whose stream opens at once. */
  private create(request: Request, rid: number, attrs: Record<string, string>, xboshPrefix: string | null, reply: BoshReply): void {
    const wait = boundedInt(attrs.wait, 0, MAX_WAIT_S, MAX_WAIT_S);
    const hold = boundedInt(attrs.hold, 0, MAX_HOLD, MAX_HOLD);
    const polling = wait === 0 || hold === 0;
    const parameters: BoshParameters = {
      wait,
      hold,
      requests: hold + 1,
      inactivityS: polling ? this.options.inactivityS * 2 : this.options.inactivityS,
      pollingS: POLLING_S,
      acks: attrs.ack === '1',
    };
    const client = this.options.addresses.of(request);
    const sid = randomBytes(24).toString('base64url');
    const header = {
      to: attrs.to,
      from: attrs.from,
      'xml:lang': attrs['xml:lang'],
      version: xboshPrefix ? attrs[`${xboshPrefix}:version`] : undefined,
    };
    const session = new BoshSession(sid, rid, parameters, client.address, client.secure, this.options.limits, header, (done) => {
      if (this.sessions.get(done.sid) === done) this.sessions.delete(done.sid);
    });
    this.sessions.set(sid, session);
    this.options.accept(session);
    session.start(rid, reply);
  }

  close(): void {
    clearInterval(this.sweep);
  }
}
