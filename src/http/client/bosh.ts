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
import type { BoshRelay } from './bosh-relay.js';
import { BoshSession, NS_HTTPBIND, NS_XBOSH, replyTo, terminateBody, type BoshParameters, type BoshReply, type BoshRequest } from './bosh-session.js';

export const BOSH_PATH = '/http-bind';

/** What the server grants (§7.1): the client may ask for less. */
const MAX_WAIT_S = 60;
const MAX_HOLD = 1;
const POLLING_S = 2;
/** How much longer than the longest wait a node waits for another node's answer. */
const FORWARD_MARGIN_S = 15;
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
  /** In a cluster: requests for sessions other nodes hold go there. */
  relay: BoshRelay | null;
  log: Logger;
}

/**
 * A request body: the <body/> attributes and its children, or why it is not one, or the sid
 * of a session this node does not hold (read no further: another node's limits apply).
 */
type ParsedBody = { attrs: Record<string, string>; xboshPrefix: string | null; elements: Element[] } | { error: string } | { foreign: string };

class BodyCollector implements XmlStreamEvents {
  header: StreamHeader | null = null;
  readonly elements: Element[] = [];
  done = false;
  problem: string | null = null;
  foreign: string | null = null;
  constructor(private readonly sessionLimits: (sid: string) => XmlLimits | null) {}
  parser: XmlStreamParser | null = null;
  streamStart(header: StreamHeader): void {
    this.header = header;
    const sid = header.attrs.sid;
    if (sid === undefined) return;
    // The session's own limits (raised once it authenticated) bound its stanzas.
    const limits = this.sessionLimits(sid);
    if (limits) this.parser?.setLimits(limits);
    else {
      this.foreign = sid;
      this.parser?.end();
    }
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

function parseBody(bytes: Buffer, limits: XmlLimits, sessionLimits: (sid: string) => XmlLimits | null): ParsedBody {
  const collector = new BodyCollector(sessionLimits);
  const parser = new XmlStreamParser(collector, limits);
  collector.parser = parser;
  parser.write(bytes);
  parser.end();
  if (collector.foreign !== null) return { foreign: collector.foreign };
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
    options.relay?.onForwarded((body, answer, onCancel) => this.forwarded(body, answer, onCancel));
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
    const reply = replyTo(response as ServerResponse, headers);
    const parsed = parseBody(bytes, this.options.limits, (sid) => this.sessions.get(sid)?.limits ?? null);
    if ('foreign' in parsed) return this.forward(parsed.foreign, bytes, response, reply);
    this.process(parsed, reply, request);
  }

  /** A request for a session another node of the cluster holds (the sid names it): it answers. */
  private forward(sid: string, bytes: Buffer, response: Response, reply: BoshReply): void {
    const tag = sid.slice(sid.lastIndexOf('.') + 1);
    const relay = this.options.relay;
    if (!relay || !sid.includes('.') || tag === relay.tag) {
      reply.send(terminateBody('item-not-found'));
      return;
    }
    void relay.forward(tag, bytes.toString('utf8'), (MAX_WAIT_S + FORWARD_MARGIN_S) * 1000).then((pending) => {
      if (!pending) return reply.send(terminateBody('item-not-found'));
      response.on('close', () => {
        if (!response.writableEnded) pending.cancel();
      });
      void pending.answer.then((answer) => {
        const newline = answer?.indexOf('\n') ?? -1;
        if (answer === null || newline < 0) return reply.send(terminateBody('item-not-found'));
        reply.send(answer.slice(newline + 1), Number(answer.slice(0, newline)) || 200);
      });
    });
  }

  /** A request forwarded by another node for a session held here. */
  private forwarded(body: string, answer: (text: string) => void, onCancel: (callback: () => void) => void): void {
    const reply: BoshReply = {
      send: (text, status = 200) => answer(`${status}\n${text}`),
      onGone: (callback) => onCancel(callback),
    };
    const parsed = parseBody(Buffer.from(body, 'utf8'), this.options.limits, (sid) => this.sessions.get(sid)?.limits ?? null);
    // Another hop is never taken: a sid not held here is unknown.
    if ('foreign' in parsed) return reply.send(terminateBody('item-not-found'));
    this.process(parsed, reply, null);
  }

  private process(parsed: Exclude<ParsedBody, { foreign: string }>, reply: BoshReply, request: Request | null): void {
    if ('error' in parsed) {
      this.options.log.debug({ reason: parsed.error }, 'bad BOSH request');
      reply.send(terminateBody('bad-request'), 400);
      return;
    }
    const attrs = parsed.attrs;
    const rid = parseRid(attrs.rid);
    if (rid === null) {
      reply.send(terminateBody('bad-request'));
      return;
    }
    if (attrs.sid === undefined) {
      if (request) this.create(request, rid, attrs, parsed.xboshPrefix, reply);
      else reply.send(terminateBody('bad-request'));
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
    // In a cluster the sid ends with this node's tag: any node can tell where it lives.
    const sid = randomBytes(24).toString('base64url') + (this.options.relay ? `.${this.options.relay.tag}` : '');
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
