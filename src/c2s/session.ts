// A bound client session (RFC 6120 §7): a full JID with its presence, stream management
// state and queues. It is not its socket: a stream attaches to it, and under XEP-0198 a
// dead stream only detaches it (hibernation) until another stream resumes it or it expires.
import type { Element } from 'ltx';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { DeliveryFilters } from '../core/delivery-filters.js';
import { StreamError } from '../core/errors.js';
import type { ServerEvents } from '../core/events.js';
import type { HookBus } from '../core/hooks.js';
import { tryParseJid, type Jid } from '../core/jid.js';
import type { Origin } from '../core/origin.js';
import type { Router } from '../core/router.js';
import type { SessionSnapshot } from '../core/session-handover.js';
import type { ClientSession, SessionRegistry } from '../core/sessions.js';
import { isArchived, isCarbonCopied } from '../core/stanza-marks.js';
import { parseStanza } from '../xml/parse-stanza.js';
import { REQUEST_AFTER_STANZAS, ResumableSessions, SmState } from './stream-management.js';

/** What a session needs of the server. */
export interface SessionContext {
  readonly config: Config;
  readonly log: Logger;
  readonly router: Router;
  readonly sessions: SessionRegistry;
  readonly hooks: HookBus<ServerEvents>;
  readonly delivery: DeliveryFilters;
  readonly resumable: ResumableSessions<C2sSession>;
  /** Work of sessions ending (stanzas rerouted, presence sent), awaited at shutdown. */
  readonly endings: Set<Promise<void>>;
}

/** The stream side a session writes to (src/c2s/stream.ts). */
export interface SessionStream {
  readonly remoteAddress: string;
  readonly secure: boolean;
  /** The framing: 'c2s', 'c2s_direct_tls', 'websocket' or 'bosh'. */
  readonly kind: string;
  writeStanza(stanza: Element): void;
  requestAck(): void;
  close(error?: StreamError): void;
  /** The session was resumed on another stream: forget it, then end with a conflict error. */
  replaced(): void;
}

let sessionCounter = 0;

export class C2sSession implements ClientSession {
  readonly id: string;
  readonly node = null;
  readonly flags = new Set<string>();
  readonly since: Date;
  priority = 0;
  available = false;
  presence: Element | null = null;
  availableSeq = 0;
  rosterRequested = false;
  directedPresence: Set<string> | null = null;
  /** XEP-0198 state once the client enabled it. */
  sm: SmState | null = null;
  /** The router origin of this session's stanzas, made once. */
  readonly origin: Origin;
  private attached: SessionStream | null;
  private lastAddress: string;
  private lastSecure: boolean;
  private lastTransport: string;
  /** `moved`: resumed on another cluster node; what still reaches this object goes there. */
  private state: 'attached' | 'hibernated' | 'ended' | 'moved' = 'attached';
  private expiry: NodeJS.Timeout | null = null;
  private hibernatedAt = 0;

  constructor(
    readonly jid: Jid,
    stream: SessionStream,
    private readonly ctx: SessionContext,
    moved?: { id: string; since: Date },
  ) {
    this.id = moved?.id ?? (++sessionCounter).toString(36);
    this.since = moved?.since ?? new Date();
    this.attached = stream;
    this.lastAddress = stream.remoteAddress;
    this.lastSecure = stream.secure;
    this.lastTransport = stream.kind;
    this.origin = { kind: 'c2s', session: this };
  }

  get remoteAddress(): string {
    return this.attached?.remoteAddress ?? this.lastAddress;
  }

  get secure(): boolean {
    return this.attached?.secure ?? this.lastSecure;
  }

  get transport(): string {
    return this.attached?.kind ?? this.lastTransport;
  }

  get stream(): SessionStream | null {
    return this.attached;
  }

  get isHibernated(): boolean {
    return this.state === 'hibernated';
  }

  /** Ended here: for good, or moved to another cluster node. */
  get hasEnded(): boolean {
    return this.state === 'ended' || this.state === 'moved';
  }

  get resumptionId(): string | null {
    return this.sm?.id ?? null;
  }

  deliver(stanza: Element): void {
    if (this.state === 'ended') return;
    if (this.state === 'moved') return this.forward(stanza, false);
    if (this.ctx.delivery.take(this, stanza)) return;
    this.write(stanza);
  }

  write(stanza: Element): void {
    if (this.state === 'ended') return;
    if (this.state === 'moved') return this.forward(stanza, true);
    const sm = this.sm;
    if (sm) {
      if (!sm.push(stanza, this.ctx.config.c2s.smMaxUnacked, Date.now())) {
        // The client does not acknowledge what it gets: the stream ends and the queue is
        // handled as on expiry (issue: smMaxUnacked).
        this.ctx.log.info({ jid: this.jid.toString() }, 'stream management queue full');
        this.close(new StreamError('policy-violation', 'too many unacknowledged stanzas'));
        return;
      }
      const stream = this.attached;
      if (stream) {
        stream.writeStanza(stanza);
        if (sm.unrequested >= REQUEST_AFTER_STANZAS && !sm.requestOutstanding) stream.requestAck();
      }
      return;
    }
    this.attached?.writeStanza(stanza);
  }

  close(error?: StreamError): void {
    if (this.state === 'moved') return;
    if (this.attached) this.attached.close(error);
    else void this.end();
  }

  /** XEP-0198 §5: the stream died; the session waits for a resumption, its presence unchanged. */
  hibernate(): void {
    if (this.state !== 'attached') return;
    const sm = this.sm;
    const timeoutS = this.ctx.config.c2s.smResumeTimeoutS;
    if (!sm?.id || timeoutS === 0) {
      void this.end();
      return;
    }
    this.state = 'hibernated';
    this.lastAddress = this.attached?.remoteAddress ?? this.lastAddress;
    this.attached = null;
    this.hibernatedAt = Date.now();
    this.expireLater();
    this.ctx.log.debug({ jid: this.jid.toString() }, 'session hibernated');
    void this.ctx.hooks.emit('session-hibernated', { session: this });
    this.limitHibernated();
  }

  /** Starts the wait for a resumption (a resuming stream that died before <resumed/> too). */
  expireLater(): void {
    if (this.state !== 'hibernated' || this.expiry) return;
    this.expiry = setTimeout(() => void this.end(), this.ctx.config.c2s.smResumeTimeoutS * 1000);
    this.expiry.unref();
  }

  /** Hibernated sessions per account are capped: the oldest beyond the cap ends. */
  private limitHibernated(): void {
    const cap = this.ctx.config.limits.hibernatedPerAccount;
    const hibernated: C2sSession[] = [];
    for (const s of this.ctx.sessions.ofAccount(this.jid.bareString())) {
      if (s instanceof C2sSession && s.isHibernated) hibernated.push(s);
    }
    if (hibernated.length <= cap) return;
    hibernated.sort((a, b) => a.hibernatedAt - b.hibernatedAt);
    for (const s of hibernated.slice(0, hibernated.length - cap)) void s.end();
  }

  /** Detaches the current stream, if any, for a resumption on another one (§5). */
  detachForResumption(): SessionStream | null {
    const old = this.attached;
    if (old) this.lastAddress = old.remoteAddress;
    this.attached = null;
    if (this.expiry) {
      clearTimeout(this.expiry);
      this.expiry = null;
    }
    if (this.state === 'attached' || this.state === 'hibernated') this.state = 'hibernated';
    return old;
  }

  /** Attaches the resuming stream; the caller then resends what is unacknowledged. */
  attach(stream: SessionStream): void {
    if (this.expiry) {
      clearTimeout(this.expiry);
      this.expiry = null;
    }
    this.attached = stream;
    this.lastAddress = stream.remoteAddress;
    this.lastSecure = stream.secure;
    this.lastTransport = stream.kind;
    this.state = 'attached';
  }

  /**
   * The session was resumed on another cluster node (src/core/session-handover.ts): its
   * state goes there, and this object only forwards what still reaches it. Null when the
   * session is not a detached resumable one.
   */
  moveAway(): SessionSnapshot | null {
    const sm = this.sm;
    if (this.state !== 'hibernated' || this.attached || !sm?.id) return null;
    if (this.expiry) {
      clearTimeout(this.expiry);
      this.expiry = null;
    }
    this.state = 'moved';
    this.ctx.resumable.release(sm.id);
    this.sm = null;
    return {
      id: this.id,
      jid: this.jid.toString(),
      since: this.since.getTime(),
      ip: this.lastAddress,
      tls: this.lastSecure,
      priority: this.priority,
      available: this.available,
      presence: this.presence ? this.presence.toString() : null,
      rosterRequested: this.rosterRequested,
      flags: [...this.flags],
      directedPresence: this.directedPresence ? [...this.directedPresence] : null,
      sm: sm.snapshot(),
    };
  }

  /** A session moved here from another cluster node, for `stream` to attach once <resumed/> is out. */
  static arrive(snapshot: SessionSnapshot, stream: SessionStream, ctx: SessionContext): C2sSession | null {
    const jid = tryParseJid(snapshot.jid);
    if (!jid || jid.resource === '') return null;
    const session = new C2sSession(jid, stream, ctx, { id: snapshot.id, since: new Date(snapshot.since) });
    session.attached = null;
    session.state = 'hibernated';
    session.lastAddress = snapshot.ip;
    session.lastSecure = snapshot.tls;
    session.priority = snapshot.priority;
    session.available = snapshot.available;
    session.presence = snapshot.presence === null ? null : parseStanza(snapshot.presence);
    session.rosterRequested = snapshot.rosterRequested;
    for (const flag of snapshot.flags) session.flags.add(flag);
    session.directedPresence = snapshot.directedPresence ? new Set(snapshot.directedPresence) : null;
    session.sm = SmState.restore(snapshot.sm);
    ctx.resumable.add(snapshot.sm.id, session);
    return session;
  }

  /** What reaches a moved session goes where its full JID is now (or is handled as for a gone resource). */
  private forward(stanza: Element, pastFilters: boolean): void {
    const current = this.ctx.sessions.get(this.jid);
    if (!current || current === this) void this.ctx.router.redeliver(stanza);
    else if (pastFilters) current.write(stanza);
    else current.deliver(stanza);
  }

  /**
   * Ends the session for good: out of the registry, what the client had not acknowledged
   * handled as RFC 6121 §8.5.3 says for a resource that is gone, then (only then) the
   * session-closed hooks (unavailable presence, §4.5.2).
   */
  end(): Promise<void> {
    if (this.state === 'ended' || this.state === 'moved') return Promise.resolve();
    this.state = 'ended';
    if (this.expiry) {
      clearTimeout(this.expiry);
      this.expiry = null;
    }
    // A stream still attached is the one ending this session (its teardown calls here).
    this.attached = null;
    const sm = this.sm;
    this.sm = null;
    if (sm?.id) this.ctx.resumable.remove(sm.id, this.jid.bareString(), sm.receivedCount);
    const unbound = this.ctx.sessions.unbind(this);
    const wasAvailable = this.available;
    this.available = false;
    const work = this.finish(sm, unbound, wasAvailable);
    this.ctx.endings.add(work);
    void work.finally(() => this.ctx.endings.delete(work));
    return work;
  }

  private async finish(sm: SmState | null, unbound: boolean, wasAvailable: boolean): Promise<void> {
    // What the session had not acknowledged is handled as for a resource no longer available
    // (RFC 6121 §8.5.3.2): messages reach another resource or offline storage before the
    // resource goes unavailable. Groupchat messages are bounced only after it went unavailable
    // (its directed presence ended, §4.6.3): a room hears that its occupant left before the
    // bounce, which it would otherwise take for a delivery failure (XEP-0045 status 333).
    const afterwards: Element[] = [];
    await this.reroute(sm?.drain() ?? [], afterwards);
    if (unbound) await this.ctx.hooks.emit('session-closed', { session: this, wasAvailable });
    await this.reroute(afterwards, null);
  }

  /** Hands unacknowledged stanzas to the router; groupchat ones go to `later` when given. */
  private async reroute(stanzas: Iterable<Element>, later: Element[] | null): Promise<void> {
    try {
      const rerouted: Promise<void>[] = [];
      for (const stanza of stanzas) {
        if (stanza.name === 'message') {
          // Already in the account's archive, or already on its other devices: a client gets
          // it from there, not a second time (issue: no double delivery).
          if (isArchived(stanza) || isCarbonCopied(stanza)) continue;
          if (later && stanza.attrs.type === 'groupchat') {
            later.push(stanza);
            continue;
          }
        }
        const work = this.ctx.router.redeliver(stanza);
        if (work) rerouted.push(work);
      }
      await Promise.all(rerouted);
    } catch (err) {
      this.ctx.log.error({ err, jid: this.jid.toString() }, 'rerouting unacknowledged stanzas failed');
    }
  }
}
