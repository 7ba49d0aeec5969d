// One XEP-0124 BOSH session carrying one XEP-0206 XMPP stream: the framing between HTTP
// requests and the client stream machine. Requests are processed in rid order (§14.2), held
// for long polling (at most `hold`, each for at most `wait`), answered with everything written
// meanwhile, and their responses kept for retransmission (§14.3).
import type { ServerResponse } from 'node:http';
import { Element, escapeXML } from 'ltx';
import { qualifiedStanza, type ClientFraming, type FramingEvents, type OutgoingHeader } from '../../c2s/framing.js';
import { NS_STREAMS, type StreamError } from '../../core/errors.js';
import type { XmlLimits } from '../../xml/stream-parser.js';

export const NS_HTTPBIND = 'http://jabber.org/protocol/httpbind';
export const NS_XBOSH = 'urn:xmpp:xbosh';

/** XEP-0124 §17.2 terminal binding conditions used here. */
export type TerminalCondition =
  | 'bad-request'
  | 'host-unknown'
  | 'item-not-found'
  | 'policy-violation'
  | 'remote-stream-error'
  | 'system-shutdown'
  | 'undefined-condition';

/** What the session's parameters are (negotiated at creation, §7.1). */
export interface BoshParameters {
  wait: number;
  hold: number;
  /** requests = hold + 1 (§7.1): simultaneous requests the client may make. */
  requests: number;
  inactivityS: number;
  pollingS: number;
  /** The client asked for acknowledgements (§9.1, ack='1' at creation). */
  acks: boolean;
}

/** A parsed request, in the session's terms. */
export interface BoshRequest {
  rid: number;
  /** The client's ack attribute (§9.2): responses up to it arrived. */
  ack: number | null;
  /** type='terminate' (§13). */
  terminate: boolean;
  /** xmpp:restart='true' (XEP-0206 §5) with the body's to and xml:lang. */
  restart: Record<string, string | undefined> | null;
  elements: Element[];
}

/** Where a request's answer goes: an HTTP response, or (in a cluster) another node. */
export interface BoshReply {
  send(body: string, status?: number): void;
  /** The HTTP connection of a held request went away. */
  onGone(callback: () => void): void;
}

export function replyTo(response: ServerResponse, headers: Record<string, string>): BoshReply {
  return {
    send(body: string, status = 200) {
      if (response.writableEnded || response.destroyed) return;
      response.writeHead(status, { ...headers, 'Content-Type': 'text/xml; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
      response.end(body);
    },
    onGone(callback: () => void) {
      response.on('close', () => {
        if (!response.writableEnded) callback();
      });
    },
  };
}

interface Held {
  rid: number;
  reply: BoshReply;
  timer: NodeJS.Timeout;
}

interface Early {
  request: BoshRequest;
  reply: BoshReply;
}

type Input = Element | { kind: 'start'; attrs: Record<string, string | undefined> } | { kind: 'end' };

/** A terminating body, with a stream error inside when the condition is one (XEP-0206 §6). */
export function terminateBody(condition: TerminalCondition | null, inner = ''): string {
  const conditionAttr = condition ? ` condition='${condition}'` : '';
  const streamNs = inner.includes('<stream:') ? ` xmlns:stream='${NS_STREAMS}'` : '';
  return inner
    ? `<body xmlns='${NS_HTTPBIND}' type='terminate'${conditionAttr}${streamNs}>${inner}</body>`
    : `<body xmlns='${NS_HTTPBIND}' type='terminate'${conditionAttr}/>`;
}

export class BoshSession implements ClientFraming {
  readonly kind = 'bosh';
  private events: FramingEvents | null = null;
  /** The next rid to process; lower ones were received (§14.2). */
  private nextRid: number;
  private readonly early = new Map<number, Early>();
  private held: Held[] = [];
  /** Responses kept for retransmission, by rid, oldest first (§14.3). */
  private readonly cache = new Map<number, string>();
  private output: string[] = [];
  private outputBytes = 0;
  private readonly input: Input[] = [];
  private paused = false;
  private flushScheduled = false;
  /** The creation response (with the session's attributes) is still to be sent. */
  private creationPending = true;
  private streamAttrs: { authid: string; from: string } | null = null;
  /** Set once the stream ended: the body every later request gets. */
  private terminal: string | null = null;
  private ended = false;
  /** When the last response went out (inactivity, §12) and the last empty poll came (§16). */
  lastResponseAt = Date.now();
  private lastEmptyRequestAt = 0;
  private lastResponseEmpty = false;
  /** Parser limits for this session's bodies: raised after authentication. */
  readonly limits: XmlLimits;

  constructor(
    readonly sid: string,
    firstRid: number,
    readonly parameters: BoshParameters,
    readonly remoteAddress: string,
    readonly secure: boolean,
    limits: XmlLimits,
    /** The stream's header attributes from the creation request (to, xml:lang, version). */
    private readonly creation: Record<string, string | undefined>,
    /** Called once when the session is gone for good (it leaves the endpoint's table). */
    private readonly onFinished: (session: BoshSession) => void,
  ) {
    this.nextRid = firstRid;
    this.limits = { ...limits };
  }

  get canStartTls(): boolean {
    return false;
  }

  /** Each BOSH request may come on another connection: nothing to bind the stream to. */
  channelBinding(): null {
    return null;
  }

  get pendingBytes(): number {
    return this.outputBytes;
  }

  /** No request held and none pending: the client should be making its next one. */
  get idle(): boolean {
    return this.held.length === 0 && this.early.size === 0;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  attach(events: FramingEvents): void {
    this.events = events;
  }

  // ---- requests ----

  /** The session creation request (§7.1): the stream opens and features follow. */
  start(rid: number, reply: BoshReply): void {
    this.handle({ rid, ack: null, terminate: false, restart: null, elements: [] }, reply, true);
  }

  handle(request: BoshRequest, reply: BoshReply, creation = false): void {
    if (this.terminal !== null && !creation) {
      reply.send(this.terminal);
      this.finish();
      return;
    }
    this.events!.onActivity();
    const { rid } = request;
    if (rid < this.nextRid) return this.repeated(rid, reply);
    // §14.2: a rid beyond the window of simultaneous requests ends the session.
    if (rid >= this.nextRid + this.parameters.requests) return this.terminateWith('item-not-found', reply);
    if (rid > this.nextRid) {
      if (this.early.has(rid)) return this.repeated(rid, reply);
      this.early.set(rid, { request, reply });
      if (this.early.size + this.held.length > this.parameters.requests) return this.terminateWith('policy-violation', reply);
      return;
    }
    this.accept(request, reply, creation);
    // Requests that arrived early, now in order.
    for (let next = this.early.get(this.nextRid); next; next = this.early.get(this.nextRid)) {
      this.early.delete(this.nextRid);
      this.accept(next.request, next.reply, false);
    }
    this.drain();
    this.answer();
  }

  private accept(request: BoshRequest, reply: BoshReply, creation: boolean): void {
    this.nextRid = request.rid + 1;
    if (request.ack !== null) {
      for (const cached of this.cache.keys()) if (cached <= request.ack) this.cache.delete(cached);
    }
    const empty = request.elements.length === 0 && !request.terminate && request.restart === null;
    if (!creation && empty && this.parameters.hold === 0) {
      // §16: a polling client polls no faster than `polling`, unless it was sent something.
      const now = Date.now();
      if (now - this.lastEmptyRequestAt < this.parameters.pollingS * 1000 && this.lastResponseEmpty) {
        this.lastEmptyRequestAt = now;
        this.hold(request.rid, reply);
        this.terminateWith('policy-violation', null);
        return;
      }
      this.lastEmptyRequestAt = now;
    }
    if (creation) this.input.push({ kind: 'start', attrs: this.creation });
    for (const element of request.elements) this.input.push(element);
    if (request.restart) this.input.push({ kind: 'start', attrs: { ...this.creation, ...request.restart } });
    if (request.terminate) this.input.push({ kind: 'end' });
    this.hold(request.rid, reply);
    // §11: more new requests unanswered than allowed.
    if (this.held.length > this.parameters.requests && !request.terminate) this.terminateWith('policy-violation', null);
  }

  private hold(rid: number, reply: BoshReply): void {
    const waitMs = Math.max(this.parameters.wait, 0) * 1000;
    const held: Held = { rid, reply, timer: setTimeout(() => this.expire(held), waitMs) };
    held.timer.unref();
    this.held.push(held);
    reply.onGone(() => this.gone(held));
  }

  /** §14.3: a retransmitted request gets the response it had; one still held is answered to the new connection. */
  private repeated(rid: number, reply: BoshReply): void {
    const cached = this.cache.get(rid);
    if (cached !== undefined) {
      reply.send(cached);
      return;
    }
    const held = this.held.find((h) => h.rid === rid);
    if (held) {
      held.reply = reply;
      reply.onGone(() => this.gone(held));
      return;
    }
    const early = this.early.get(rid);
    if (early) {
      early.reply = reply;
      return;
    }
    this.terminateWith('item-not-found', reply);
  }

  private expire(held: Held): void {
    if (!this.held.includes(held)) return;
    this.respond(held, '');
  }

  private gone(held: Held): void {
    // The client gave up on this request; it will retransmit it (§14.3) or send the next one.
    const index = this.held.indexOf(held);
    if (index < 0) return;
    this.held.splice(index, 1);
    clearTimeout(held.timer);
    this.lastResponseAt = Date.now();
  }

  // ---- input to the stream ----

  private drain(): void {
    while (!this.paused && !this.ended && this.input.length > 0) {
      const next = this.input.shift()!;
      if (next instanceof Element) this.events!.onElement(next);
      else if (next.kind === 'start') this.events!.onStreamStart(next.attrs, null);
      else this.events!.onStreamEnd();
    }
  }

  pauseInput(): void {
    this.paused = true;
  }

  resumeInput(): void {
    if (!this.paused) return;
    this.paused = false;
    this.drain();
    this.answer();
  }

  stopInput(): void {
    this.input.length = 0;
  }

  // ---- output ----

  private queue(xml: string): void {
    if (this.ended) return;
    this.output.push(xml);
    this.outputBytes += xml.length;
    if (!this.flushScheduled && this.held.length > 0) {
      // Everything written while handling this turn leaves in one response.
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.answer();
      });
    }
  }

  openStream(header: OutgoingHeader): void {
    this.streamAttrs ??= { authid: header.id, from: header.from };
  }

  writeStanza(stanza: Element | string): void {
    // Inside <body/> the default namespace is httpbind's.
    this.queue(qualifiedStanza(stanza));
  }

  writeFeatures(features: Element): void {
    features.attrs['xmlns:stream'] = NS_STREAMS;
    this.queue(features.toString());
  }

  writeElement(xml: string): void {
    this.queue(xml);
  }

  flush(): void {
    this.answer();
  }

  /**
   * Answers held requests: the oldest gets the output when there is some; beyond `hold`
   * the oldest are answered (empty if need be) so the client can send again (§11).
   */
  private answer(): void {
    while (this.held.length > 0 && (this.output.length > 0 || this.creationPending || this.held.length > this.parameters.hold)) {
      this.respond(this.held[0]!, this.takeOutput());
    }
  }

  private takeOutput(): string {
    const payload = this.output.length === 1 ? this.output[0]! : this.output.join('');
    this.output = [];
    this.outputBytes = 0;
    return payload;
  }

  private respond(held: Held, payload: string): void {
    const index = this.held.indexOf(held);
    if (index >= 0) this.held.splice(index, 1);
    clearTimeout(held.timer);
    let attrs = '';
    if (this.creationPending) {
      this.creationPending = false;
      attrs = this.creationAttributes(held.rid);
    } else if (this.parameters.acks && this.nextRid - 1 !== held.rid) {
      // §9.1: the highest rid received in order, when it is not this request's.
      attrs = ` ack='${this.nextRid - 1}'`;
    }
    const streamNs = payload.includes('<stream:') && !attrs.includes('xmlns:stream') ? ` xmlns:stream='${NS_STREAMS}'` : '';
    const body = payload ? `<body xmlns='${NS_HTTPBIND}'${attrs}${streamNs}>${payload}</body>` : `<body xmlns='${NS_HTTPBIND}'${attrs}/>`;
    this.cache.set(held.rid, body);
    while (this.cache.size > this.parameters.requests) this.cache.delete(this.cache.keys().next().value!);
    this.lastResponseAt = Date.now();
    this.lastResponseEmpty = payload === '';
    held.reply.send(body);
  }

  /** §7.1 session creation response attributes, with XEP-0206 §4's authid and xmpp:version. */
  private creationAttributes(rid: number): string {
    const p = this.parameters;
    const stream = this.streamAttrs;
    let attrs = ` sid='${this.sid}' wait='${p.wait}' requests='${p.requests}' hold='${p.hold}' inactivity='${p.inactivityS}' polling='${p.pollingS}' ver='1.11'`;
    if (p.acks) attrs += ` ack='${rid}'`;
    if (stream) attrs += ` from='${escapeXML(stream.from)}' authid='${escapeXML(stream.authid)}'`;
    attrs += ` secure='${this.secure ? 'true' : 'false'}' xmpp:version='1.0' xmlns:xmpp='${NS_XBOSH}' xmlns:stream='${NS_STREAMS}'`;
    return attrs;
  }

  // ---- ending ----

  closeStream(error: StreamError | null, _graceMs: number): void {
    if (this.terminal !== null) return;
    let condition: TerminalCondition | null = null;
    let inner = this.takeOutput();
    if (error) {
      // XEP-0206 §6: conditions with a binding equivalent use it; others travel as stream errors.
      if (error.condition === 'host-unknown' || error.condition === 'system-shutdown' || error.condition === 'policy-violation') {
        condition = error.condition;
      } else {
        condition = 'remote-stream-error';
      }
      const element = error.toElement();
      inner += element.toString();
    }
    this.end(terminateBody(condition, inner));
  }

  /** The session ends with a terminal binding condition answered to `reply` (and every held request). */
  private terminateWith(condition: TerminalCondition, reply: BoshReply | null): void {
    const body = terminateBody(condition);
    this.end(body);
    reply?.send(body);
    if (reply) this.finish();
  }

  private end(body: string): void {
    if (this.ended) return;
    this.ended = true;
    this.terminal = body;
    this.output = [];
    this.outputBytes = 0;
    this.input.length = 0;
    const replies = [...this.held.splice(0).map((held) => (clearTimeout(held.timer), held.reply)), ...[...this.early.values()].map((early) => early.reply)];
    this.early.clear();
    for (const reply of replies) reply.send(body);
    // Told: the session is gone. Not told (nothing held): the next request learns it.
    if (replies.length > 0) this.finish();
    // The stream is over for the session machine either way.
    setImmediate(() => this.events?.onTransportClose());
  }

  /** Gone from the endpoint's table: later requests with this sid are unknown. */
  private finish(): void {
    this.onFinished(this);
  }

  /** §12: no request for longer than `inactivity`: the client is gone (without telling it). */
  expireInactive(now: number): boolean {
    if (!this.idle || now - this.lastResponseAt <= this.parameters.inactivityS * 1000) return false;
    if (this.terminal === null) {
      this.ended = true;
      this.terminal = terminateBody('item-not-found');
      this.events?.onTransportClose();
    }
    this.finish();
    return true;
  }

  startTls(): Promise<void> {
    return Promise.reject(new Error('BOSH sessions have no STARTTLS'));
  }

  expectRestart(maxStanzaBytes: number): void {
    this.limits.maxStanzaBytes = maxStanzaBytes;
  }

  probe(): boolean {
    // Requests are the sign of life; inactivity (§12) ends a session whose client vanished.
    return true;
  }

  destroy(): void {
    if (this.ended) return;
    this.ended = true;
    this.terminal = terminateBody('item-not-found');
    for (const held of this.held.splice(0)) {
      clearTimeout(held.timer);
      held.reply.send(terminateBody('undefined-condition'));
    }
    this.finish();
    this.events?.onTransportClose();
  }
}
