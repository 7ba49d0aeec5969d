// XEP-0114 Jabber Component Protocol, the accepting side: a component opens a
// jabber:component:accept stream to its domain, proves the shared secret with
// <handshake>SHA-1(stream id + secret)</handshake>, then exchanges stanzas. It may send only
// from its own domain (or a subdomain of it); what this server has for that domain goes to it.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { escapeXML, type Element } from 'ltx';
import type { Logger } from 'pino';
import type { TcpTransport, TransportListener } from '../c2s/transport.js';
import { NS_STREAMS, StreamError } from '../core/errors.js';
import type { Origin } from '../core/origin.js';
import type { Router } from '../core/router.js';
import type { StanzaTraffic } from '../metrics/counters.js';
import type { XmlErrorCondition, XmlLimits, XmlStreamEvents, StreamHeader } from '../xml/stream-parser.js';
import { XmlStreamParser } from '../xml/stream-parser.js';

export const NS_COMPONENT_ACCEPT = 'jabber:component:accept';

/** Bytes a component may leave unread before its stream is closed. */
const MAX_PENDING_OUTPUT = 32 * 1024 * 1024;

export interface ComponentStreamContext {
  readonly log: Logger;
  readonly router: Router;
  /** The secret of each configured component domain. */
  readonly secrets: ReadonlyMap<string, string>;
  readonly limits: { preAuth: XmlLimits; stanzaBytes: number };
  readonly traffic: StanzaTraffic;
  /** May this stream become `domain`'s connection? (One per domain, in a cluster too.) */
  claim(domain: string, stream: ComponentStream): Promise<boolean>;
  closed(stream: ComponentStream): void;
}

type State = 'header' | 'handshake' | 'ready' | 'closing' | 'closed';

/** The XEP-0114 §3 handshake value: lower-case hex SHA-1 of the stream id and the secret. */
export function handshakeDigest(streamId: string, secret: string): string {
  return createHash('sha1').update(streamId + secret, 'utf8').digest('hex');
}

export class ComponentStream implements XmlStreamEvents, TransportListener {
  readonly id = randomBytes(12).toString('hex');
  private state: State = 'header';
  private readonly parser: XmlStreamParser;
  private domain: string | null = null;
  private origin: Origin | null = null;
  private headerSent = false;
  private handshakeTimer: NodeJS.Timeout | null;
  lastReadAt = Date.now();
  probeSentAt = 0;

  constructor(
    private readonly transport: TcpTransport,
    private readonly ctx: ComponentStreamContext,
    handshakeTimeoutMs: number,
  ) {
    this.parser = new XmlStreamParser(this, ctx.limits.preAuth);
    transport.attach(this);
    this.handshakeTimer = setTimeout(() => this.fail(new StreamError('connection-timeout', 'no handshake in time')), handshakeTimeoutMs);
    this.handshakeTimer.unref();
  }

  /** Still negotiating or ready: not closing or closed. */
  get isOpen(): boolean {
    return this.state === 'header' || this.state === 'handshake' || this.state === 'ready';
  }

  /** The component domain once the handshake succeeded. */
  get serviceDomain(): string | null {
    return this.state === 'ready' ? this.domain : null;
  }

  get remoteAddress(): string {
    return this.transport.remoteAddress;
  }

  // ---- input ----

  onTransportData(chunk: Buffer): void {
    this.lastReadAt = Date.now();
    this.probeSentAt = 0;
    this.parser.write(chunk);
  }

  onTransportClose(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.parser.end();
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.ctx.closed(this);
  }

  streamStart(header: StreamHeader): void {
    this.guard(() => {
      if (this.state !== 'header') return;
      const to = header.attrs.to;
      this.sendHeader(to !== undefined && this.ctx.secrets.has(to) ? to : undefined);
      if (header.localName !== 'stream' || header.namespace !== NS_STREAMS) throw new StreamError('invalid-namespace', `the stream element must be <stream:stream xmlns:stream='${NS_STREAMS}'>`);
      if (header.defaultNamespace !== NS_COMPONENT_ACCEPT) throw new StreamError('invalid-namespace', `a component stream's namespace is ${NS_COMPONENT_ACCEPT}`);
      if (to === undefined || !this.ctx.secrets.has(to)) throw new StreamError('host-unknown', 'no component is configured for that domain');
      this.domain = to;
      this.state = 'handshake';
    });
  }

  element(element: Element): void {
    this.guard(() => {
      if (this.state === 'handshake') return this.handshake(element);
      if (this.state !== 'ready') return;
      const name = element.name;
      if (element.attrs.xmlns === NS_COMPONENT_ACCEPT && (name === 'message' || name === 'presence' || name === 'iq')) {
        delete element.attrs.xmlns;
        this.ctx.traffic.received.add(name);
        void this.ctx.router.route(element, this.origin!);
        return;
      }
      throw new StreamError('unsupported-stanza-type', `<${name}/> is not a stanza`);
    });
  }

  streamEnd(): void {
    if (this.state === 'closed') return;
    if (this.state !== 'closing') this.transport.write('</stream:stream>');
    this.state = 'closing';
    this.transport.end(0);
  }

  error(condition: XmlErrorCondition, text: string): void {
    this.fail(new StreamError(condition, text));
  }

  private guard(step: () => void): void {
    try {
      step();
    } catch (err) {
      if (err instanceof StreamError) return this.fail(err);
      this.ctx.log.error({ err, stream: this.id }, 'unexpected error on a component stream');
      this.fail(new StreamError('internal-server-error'));
    }
  }

  /** §3: one attempt; the value is compared in constant time. */
  private handshake(element: Element): void {
    if (element.name !== 'handshake' || element.attrs.xmlns !== NS_COMPONENT_ACCEPT) {
      throw new StreamError('not-authorized', 'send the handshake first');
    }
    const domain = this.domain!;
    const expected = Buffer.from(handshakeDigest(this.id, this.ctx.secrets.get(domain)!), 'utf8');
    const given = Buffer.from(element.getText().trim().toLowerCase(), 'utf8');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      this.ctx.log.warn({ component: domain, ip: this.transport.remoteAddress }, 'component handshake failed');
      throw new StreamError('not-authorized', 'the handshake does not match the secret');
    }
    // One connection per component domain: a second one is refused while the first lives.
    // Nothing more is read until that is settled.
    this.parser.pause();
    this.transport.pause();
    this.ctx.claim(domain, this).then(
      (mine) => this.guard(() => {
        if (this.state !== 'handshake') return;
        if (!mine) throw new StreamError('conflict', `${domain} is already connected`);
        this.ready(domain);
        this.transport.resume();
        this.parser.resume();
      }),
      (err: unknown) => {
        this.ctx.log.error({ err, component: domain }, 'could not register the component');
        this.fail(new StreamError('internal-server-error'));
      },
    );
  }

  private ready(domain: string): void {
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
    this.state = 'ready';
    this.origin = { kind: 'service', domain };
    this.parser.setLimits({ maxStanzaBytes: this.ctx.limits.stanzaBytes });
    this.transport.write('<handshake/>');
    this.ctx.log.info({ component: domain, ip: this.transport.remoteAddress }, 'component connected');
  }

  // ---- output ----

  private sendHeader(domain: string | undefined): void {
    if (this.headerSent) return;
    this.headerSent = true;
    const from = domain !== undefined ? ` from='${escapeXML(domain)}'` : '';
    this.transport.write(`<?xml version='1.0'?><stream:stream xmlns='${NS_COMPONENT_ACCEPT}' xmlns:stream='${NS_STREAMS}' id='${this.id}'${from}>`);
  }

  /** A stanza for the component. */
  write(stanza: Element): void {
    if (this.state !== 'ready') return;
    if (this.transport.pendingBytes > MAX_PENDING_OUTPUT) {
      this.fail(new StreamError('resource-constraint', 'the component does not read its stream'));
      return;
    }
    this.ctx.traffic.sent.add(stanza.name);
    this.transport.write(stanza.toString());
  }

  /** An XEP-0199 ping when the component has been silent; no answer in time drops it. */
  checkLiveness(now: number, idleMs: number, timeoutMs: number, serverDomain: string): void {
    if (this.state !== 'ready') return;
    if (this.probeSentAt !== 0) {
      if (now - this.probeSentAt > timeoutMs) {
        this.ctx.log.warn({ component: this.domain }, 'component did not answer a ping; dropping it');
        this.transport.destroy();
      }
      return;
    }
    if (now - this.lastReadAt < idleMs) return;
    this.probeSentAt = now;
    this.transport.write(`<iq type='get' id='ping-${now.toString(36)}' from='${escapeXML(serverDomain)}' to='${escapeXML(this.domain!)}'><ping xmlns='urn:xmpp:ping'/></iq>`);
  }

  close(error?: StreamError): void {
    if (error) this.fail(error);
    else if (this.state !== 'closing' && this.state !== 'closed') {
      this.sendHeader(undefined);
      this.transport.write('</stream:stream>');
      this.state = 'closing';
      this.transport.end(2_000);
    }
  }

  fail(error: StreamError): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.sendHeader(undefined);
    this.transport.write(error.toElement().toString() + '</stream:stream>');
    this.state = 'closing';
    this.parser.end();
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.transport.end(1_000);
  }
}
