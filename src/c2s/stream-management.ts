// XEP-0198: Stream Management 1.6 — the per-session counters and unacknowledged queue, and
// the registry of resumable sessions. The nonzas themselves are handled by the client stream.
import type { Element } from 'ltx';
import { randomId } from '../core/random-id.js';
import type { SmSnapshot } from '../core/session-handover.js';
import { isArchived, isCarbonCopied, markArchived, markCarbonCopied } from '../core/stanza-marks.js';
import { parseStanza } from '../xml/parse-stanza.js';

export const NS_SM = 'urn:xmpp:sm:3';

/** §4: h counts modulo 2^32. */
const MODULUS = 2 ** 32;

/** The server asks for an acknowledgement once this many stanzas went out unrequested. */
export const REQUEST_AFTER_STANZAS = 5;
/** …or once the oldest unrequested stanza is this old (the liveness sweep checks). */
export const REQUEST_AFTER_MS = 1_000;

/** Stream management state of one session; it outlives the stream it was enabled on. */
export class SmState {
  /** Stanzas received from the client (h of the server's <a/>), modulo 2^32. */
  private received = 0;
  /** Routing work of received stanzas not yet settled: an <a/> counts a stanza only once it is. */
  private readonly inflight = new Set<Promise<void>>();
  /** The last h the client acknowledged (of the stanzas the server sent). */
  private acked = 0;
  /** Sent and not acknowledged, oldest first from `head`. */
  private queue: Element[] = [];
  private head = 0;
  /** Stanzas queued since the server last sent <r/>, and when the first of them was. */
  unrequested = 0;
  firstUnrequestedAt = 0;
  /** The server sent <r/> and has had no <a/> since. */
  requestOutstanding = false;

  constructor(
    /** The resumption id (128 random bits), or null when the session is not resumable. */
    readonly id: string | null,
  ) {}

  static newId(): string {
    return randomId(16);
  }

  /** The state of a resumable session that settled everything it received. */
  snapshot(): SmSnapshot {
    if (this.id === null) throw new Error('only a resumable session moves');
    return {
      id: this.id,
      received: this.received,
      acked: this.acked,
      pending: this.pending().map((stanza) => {
        const item: SmSnapshot['pending'][number] = { xml: stanza.toString() };
        if (isArchived(stanza)) item.archived = true;
        if (isCarbonCopied(stanza)) item.carbon = true;
        return item;
      }),
    };
  }

  static restore(snapshot: SmSnapshot): SmState {
    const sm = new SmState(snapshot.id);
    sm.received = snapshot.received % MODULUS;
    sm.acked = snapshot.acked % MODULUS;
    for (const item of snapshot.pending) {
      const stanza = parseStanza(item.xml);
      if (!stanza) continue; // written by another node of this cluster: never the case
      if (item.archived) markArchived(stanza);
      if (item.carbon) markCarbonCopied(stanza);
      sm.queue.push(stanza);
    }
    return sm;
  }

  get unacknowledged(): number {
    return this.queue.length - this.head;
  }

  /** The number of stanzas sent on this session so far, modulo 2^32. */
  get sent(): number {
    return (this.acked + this.unacknowledged) % MODULUS;
  }

  /** Stanzas received so far, handled or not. */
  get receivedCount(): number {
    return this.received;
  }

  /** Counts a stanza from the client; `work` is its pending routing (Router.route). */
  countInbound(work: Promise<void> | void): void {
    this.received = (this.received + 1) % MODULUS;
    if (work) {
      const tracked = work.finally(() => this.inflight.delete(tracked));
      this.inflight.add(tracked);
    }
  }

  /**
   * h for an <a/>: the stanzas received so far, once each of them is handled (stored
   * and committed where it had to be: acked means durable).
   */
  handled(): number | Promise<number> {
    const h = this.received;
    if (this.inflight.size === 0) return h;
    return Promise.all([...this.inflight]).then(() => h);
  }

  /** Queues a stanza the server sends; false when the queue is over `max`. */
  push(stanza: Element, max: number, now: number): boolean {
    this.queue.push(stanza);
    if (this.unrequested++ === 0) this.firstUnrequestedAt = now;
    return this.unacknowledged <= max;
  }

  /**
   * Applies the client's h (§4). Returns false when h acknowledges more than was sent
   * (the stream then ends with undefined-condition, §4 handled-count-too-high).
   */
  acknowledge(h: number): boolean {
    const count = (h - this.acked + MODULUS) % MODULUS;
    if (count > this.unacknowledged) return false;
    this.acked = h;
    this.head += count;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return true;
  }

  /** What the client has not acknowledged, oldest first (to resend on resumption). */
  pending(): Element[] {
    return this.queue.slice(this.head);
  }

  /** Empties the queue and returns what was in it (a session that ends for good). */
  drain(): Element[] {
    const rest = this.pending();
    this.queue = [];
    this.head = 0;
    return rest;
  }

  requested(): void {
    this.requestOutstanding = true;
    this.unrequested = 0;
  }

  answered(): void {
    this.requestOutstanding = false;
  }
}

/** Parses an h attribute: an unsigned 32-bit integer, or null. */
export function parseH(value: string | undefined): number | null {
  if (value === undefined || !/^\d{1,10}$/.test(value)) return null;
  const h = Number(value);
  return h < MODULUS ? h : null;
}

/** Something that can be resumed: a session with stream management and an id. */
export interface Resumable {
  readonly sm: SmState | null;
  readonly jid: { bareString(): string };
}

/**
 * Sessions that may be resumed, by resumption id, and the final h of sessions that ended
 * recently, so a late <resume/> learns what the server had received (§5 <failed h/>).
 */
export class ResumableSessions<S extends Resumable> {
  private readonly byId = new Map<string, S>();
  private readonly ended = new Map<string, { account: string; h: number }>();

  constructor(private readonly rememberEnded = 10_000) {}

  add(id: string, session: S): void {
    this.byId.set(id, session);
  }

  /** The session moved to another cluster node: it is resumable there, not ended. */
  release(id: string): void {
    this.byId.delete(id);
  }

  get(id: string): S | undefined {
    return this.byId.get(id);
  }

  /** The session is gone for good; `h` is how many of its stanzas the server handled. */
  remove(id: string, account: string, h: number): void {
    if (!this.byId.delete(id)) return;
    this.ended.set(id, { account, h });
    if (this.ended.size > this.rememberEnded) {
      const oldest = this.ended.keys().next().value;
      if (oldest !== undefined) this.ended.delete(oldest);
    }
  }

  /** The final h of an ended session of this account, when remembered. */
  endedH(id: string, account: string): number | undefined {
    const entry = this.ended.get(id);
    return entry && entry.account === account ? entry.h : undefined;
  }

  get size(): number {
    return this.byId.size;
  }
}
