// The session registry of a cluster node: its own sessions, plus a mirror of every other
// node's, kept from the events channel (and Redis, after a gap). Routing reads the mirror
// synchronously, so a stanza between two users of one node never waits for Redis; a session
// of another node is a RemoteSession whose deliver() publishes to that node's channel, where
// the same code that delivers local stanzas takes over.
import { randomBytes } from 'node:crypto';
import type { Element } from 'ltx';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { StreamError, type StreamErrorCondition } from '../core/errors.js';
import { tryParseJid, type Jid } from '../core/jid.js';
import type { ClaimedSession, ClaimResult, HandoverRefusal, SessionClaims, SessionGiver, SessionSnapshot } from '../core/session-handover.js';
import { LocalSessionRegistry, type ClientSession, type SessionRegistry } from '../core/sessions.js';
import { isArchived, markArchived, whenCommitted } from '../core/stanza-marks.js';
import { parseStanza, StanzaReader } from '../xml/parse-stanza.js';
import type { ClusterBus, ClusterEvent, DirectMessage } from './bus.js';
import { parseRecord, recordOf, type SessionRecord } from './record.js';
import { keys } from './redis.js';

/** Binds a record: returns the record it replaced (another session of that full JID), if any. */
const BIND = `
local old = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
return old
`;

/** Updates a record only while it is still this session's (another may have replaced it). */
const UPDATE = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return 0 end
local r = cjson.decode(current)
if r.sid ~= ARGV[3] or r.node ~= ARGV[4] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`;

/** Removes a session's record if it is still its own, and the JID from its node's set. */
const UNBIND = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local r = cjson.decode(current)
  if r.sid == ARGV[2] and r.node == ARGV[3] then redis.call('HDEL', KEYS[1], ARGV[1]) end
end
redis.call('SREM', KEYS[2], ARGV[4])
return 1
`;

/** A session held by another node, as this node knows it. */
export class RemoteSession implements ClientSession {
  readonly id: string;
  readonly node: string;
  readonly jid: Jid;
  readonly remoteAddress: string;
  readonly secure: boolean;
  readonly transport: string;
  readonly since: Date;
  priority = 0;
  available = false;
  presence: Element | null = null;
  availableSeq = 0;
  rosterRequested = false;
  /** Mirrored so that the node speaking for a dead node can end it (RFC 6121 §4.6.3). */
  directedPresence: Set<string> | null = null;
  readonly flags = new Set<string>();
  resumptionId: string | null = null;
  version = -1;

  constructor(
    record: SessionRecord,
    jid: Jid,
    private readonly registry: ClusterSessionRegistry,
  ) {
    this.id = record.sid;
    this.node = record.node;
    this.jid = jid;
    this.remoteAddress = record.ip;
    this.secure = record.tls;
    this.transport = record.transport;
    this.since = new Date(record.since);
  }

  apply(record: SessionRecord): void {
    this.version = record.version;
    this.priority = record.priority;
    this.available = record.available;
    this.rosterRequested = record.rosterRequested;
    this.resumptionId = record.sm;
    this.directedPresence = record.directed.length > 0 ? new Set(record.directed) : null;
    this.flags.clear();
    for (const flag of record.flags) this.flags.add(flag);
    if (!record.available || record.presence === null) this.presence = null;
    else if (this.presence === null || this.presence.toString() !== record.presence) this.presence = parseStanza(record.presence);
  }

  deliver(stanza: Element): void {
    this.registry.transmit(this, 'deliver', stanza);
  }

  write(stanza: Element): void {
    this.registry.transmit(this, 'write', stanza);
  }

  close(error?: StreamError): void {
    this.registry.closeRemote(this, error);
  }
}

export interface ClusterRegistryOptions {
  node: string;
  redis: Redis;
  bus: ClusterBus;
  log: Logger;
  /**
   * A stanza for a session that is no longer there (it ended, or its node is gone): handled
   * as RFC 6121 §8.5.3.2 says for a resource that is no longer available.
   */
  orphan(stanza: Element): void;
  /** How long stanzas for an unreachable node are held before they are treated as orphans. */
  holdMs: number;
}

/** Stanzas held for one unreachable node, in order. */
interface Held {
  readonly stanzas: Array<{ header: DirectMessage; body: string; stanza: Element }>;
  /** When they are given up (Date.now() time). */
  readonly deadline: number;
  flushing: boolean;
}

/** How often held stanzas are tried again. */
const HELD_RETRY_MS = 250;

/** How long a resuming client waits for the node holding its session. */
const CLAIM_TIMEOUT_MS = 5_000;
/** How long a node forwards what still arrives for a session that moved to another node. */
const MOVED_FORWARD_MS = 60_000;

/** Stanzas held for one node at most; beyond, they are treated as orphans at once. */
const HELD_PER_NODE = 10_000;

export class ClusterSessionRegistry implements SessionRegistry, SessionClaims {
  readonly node: string;
  private readonly own = new LocalSessionRegistry();
  /** Other nodes' sessions: bare JID → resource → session. */
  private readonly remote = new Map<string, Map<string, RemoteSession>>();
  private readonly byNode = new Map<string, Set<RemoteSession>>();
  private remoteCount = 0;
  /** Initial presences in the order the events channel gave them (ClientSession.availableSeq). */
  private seq = 0;
  private readonly versions = new WeakMap<ClientSession, number>();
  /** Local initial presences waiting for their own event to come back from Redis. */
  private readonly ordering = new Map<string, () => void>();
  /** Per target node: stanzas waiting for their message to be committed, in order. */
  private readonly waiting = new Map<string, Promise<void>>();
  /** Per unreachable node: stanzas waiting for it to subscribe again (or be declared gone). */
  private readonly held = new Map<string, Held>();
  private readonly holdMs: number;
  /** Gives up local sessions that clients resume on other nodes (set by the c2s layer). */
  giver: SessionGiver | null = null;
  /** Claims this node made, waiting for the holding node's answer. */
  private readonly claims = new Map<string, (body: string | null) => void>();
  /** Sessions that moved from here, by full JID: what still arrives for them follows. */
  private readonly moved = new Map<string, { sid: string; node: string }>();
  private heldTimer: NodeJS.Timeout | null = null;
  /** Parses the stanzas other nodes send (one tokenizer for all of them). */
  private readonly reader = new StanzaReader();
  private readonly redis: Redis;
  private readonly bus: ClusterBus;
  private readonly log: Logger;
  private readonly orphan: (stanza: Element) => void;

  constructor(options: ClusterRegistryOptions) {
    this.node = options.node;
    this.redis = options.redis;
    this.bus = options.bus;
    this.log = options.log;
    this.orphan = options.orphan;
    this.holdMs = options.holdMs;
  }

  get size(): number {
    return this.own.size + this.remoteCount;
  }

  get localSize(): number {
    return this.own.size;
  }

  // ---- the SessionRegistry interface ------------------------------------------------------

  bind(session: ClientSession): ClientSession | undefined {
    let displaced = this.own.bind(session);
    if (!displaced) {
      const remote = this.remoteGet(session.jid);
      if (remote) {
        this.removeRemote(remote);
        displaced = remote;
      }
    }
    const record = this.recordFor(session);
    const text = JSON.stringify(record);
    void this.redis
      .eval(BIND, 2, keys.account(session.jid.bareString()), keys.nodeSessions(this.node), session.jid.resource, text, record.jid)
      .then((old) => {
        // RFC 6120 §7.7.2.2: the new session wins, on whichever node the old one is.
        const previous = typeof old === 'string' ? parseRecord(old) : null;
        if (!previous || (previous.node === this.node && previous.sid === session.id)) return;
        if (displaced && displaced.id === previous.sid && (displaced.node ?? this.node) === previous.node) return;
        if (previous.node === this.node) return; // replaced in `own` above
        void this.bus.send(previous.node, { op: 'close', sid: previous.sid, jid: previous.jid, condition: 'conflict', text: 'replaced by a new session with the same resource' });
      })
      .catch((err: unknown) => this.log.warn({ err }, 'registering a session in redis failed'));
    void this.bus.publish({ t: 'up', rec: record });
    return displaced;
  }

  unbind(session: ClientSession): boolean {
    if (!this.own.unbind(session)) return false;
    const jid = session.jid.toString();
    void this.redis
      .eval(UNBIND, 2, keys.account(session.jid.bareString()), keys.nodeSessions(this.node), session.jid.resource, session.id, this.node, jid)
      .catch((err: unknown) => this.log.warn({ err }, 'removing a session from redis failed'));
    void this.bus.publish({ t: 'down', node: this.node, jid, sid: session.id });
    return true;
  }

  get(fullJid: Jid): ClientSession | undefined {
    return this.own.get(fullJid) ?? this.remoteGet(fullJid);
  }

  ofAccount(bareJid: string): ClientSession[] {
    const mine = this.own.ofAccount(bareJid);
    const theirs = this.remote.get(bareJid);
    if (!theirs) return mine;
    for (const session of theirs.values()) mine.push(session);
    return mine;
  }

  *all(): IterableIterator<ClientSession> {
    yield* this.own.all();
    for (const resources of this.remote.values()) yield* resources.values();
  }

  local(): IterableIterator<ClientSession> {
    return this.own.all();
  }

  changed(session: ClientSession, initialPresence = false): Promise<void> | void {
    if (session.node !== null) return; // another node's session changes there
    if (this.own.get(session.jid) !== session) {
      if (initialPresence) session.availableSeq = ++this.seq;
      return;
    }
    const record = this.recordFor(session);
    void this.redis
      .eval(UPDATE, 1, keys.account(session.jid.bareString()), session.jid.resource, JSON.stringify(record), session.id, this.node)
      .catch((err: unknown) => this.log.warn({ err }, 'updating a session in redis failed'));
    if (!initialPresence) {
      void this.bus.publish({ t: 'up', rec: record });
      return;
    }
    // RFC 6121 §4.2: two contacts coming online at once exchange presence exactly once, the
    // later one doing it. "Later" must mean the same on every node: the order in which the
    // events channel hands the initial presences to everyone, this node's own included.
    return new Promise<void>((resolve) => {
      const settle = () => {
        if (!this.ordering.has(session.id)) return;
        this.ordering.delete(session.id);
        session.availableSeq = ++this.seq;
        resolve();
      };
      this.ordering.set(session.id, settle);
      void this.bus.publish({ t: 'up', rec: record, initial: true }).then((sent) => {
        if (!sent) settle();
      });
      // Redis vanished between the publish and its echo: order it here rather than hang.
      setTimeout(settle, 2_000).unref();
    });
  }

  // ---- from the events channel ------------------------------------------------------------

  event(event: ClusterEvent): void {
    switch (event.t) {
      case 'up':
        if (event.rec.node === this.node) {
          if (event.initial) this.ordering.get(event.rec.sid)?.();
          return;
        }
        this.applyRemote(event.rec, event.initial === true);
        return;
      case 'down': {
        if (event.node === this.node) return;
        const jid = tryParseJid(event.jid);
        const session = jid ? this.remoteGet(jid) : undefined;
        if (session && session.id === event.sid && session.node === event.node) this.removeRemote(session);
        return;
      }
      case 'dead':
        if (event.node === this.node) return;
        this.forgetNode(event.node);
        this.abandonHeld(event.node);
        return;
      default:
        return;
    }
  }

  private applyRemote(record: SessionRecord, initial: boolean): void {
    const jid = tryParseJid(record.jid);
    if (!jid || jid.resource === '') return;
    let session = this.remoteGet(jid);
    if (session && (session.id !== record.sid || session.node !== record.node)) {
      // The full JID moved to another session (a resource conflict won elsewhere).
      this.removeRemote(session);
      session = undefined;
    }
    if (session && record.version <= session.version) return;
    if (!session) {
      session = new RemoteSession(record, jid, this);
      this.addRemote(session);
    }
    const wasAvailable = session.available;
    session.apply(record);
    if (!session.available) session.availableSeq = 0;
    else if (initial) session.availableSeq = ++this.seq;
    else if (!wasAvailable) session.availableSeq = 0; // its initial presence was missed: earlier than any
  }

  /**
   * Replaces what is known of `node`'s sessions with what Redis holds. Nothing held there is
   * no proof the node has no sessions (Redis may have lost its data, and the node not have
   * registered again yet): then the mirror stays as it is. A session missing from the mirror
   * would send its messages to offline storage; one that ended only costs a stanza that its
   * node hands back.
   */
  async loadNode(node: string): Promise<void> {
    const jids = await this.redis.smembers(keys.nodeSessions(node));
    if (jids.length === 0 && this.byNode.has(node)) {
      this.log.debug({ node }, 'no sessions of the node in redis; keeping what is known of them');
      return;
    }
    const pipeline = this.redis.pipeline();
    const parsed: Jid[] = [];
    for (const text of jids) {
      const jid = tryParseJid(text);
      if (!jid || jid.resource === '') continue;
      parsed.push(jid);
      pipeline.hget(keys.account(jid.bareString()), jid.resource);
    }
    const results = parsed.length > 0 ? ((await pipeline.exec()) ?? []) : [];
    const records: SessionRecord[] = [];
    results.forEach(([err, value]) => {
      const record = !err && typeof value === 'string' ? parseRecord(value) : null;
      if (record && record.node === node) records.push(record);
    });
    this.forgetNode(node);
    for (const record of records) this.applyRemote(record, false);
    this.log.debug({ node, sessions: records.length }, 'read a node\'s sessions');
  }

  /**
   * Rebuilds the mirror of the live nodes: after (re)subscribing, events may have been
   * missed. Known nodes not among them are returned, not forgotten: after Redis lost its
   * data, a node is absent until its next heartbeat.
   */
  async reload(liveNodes: readonly string[]): Promise<string[]> {
    const live = new Set(liveNodes);
    for (const node of live) if (node !== this.node) await this.loadNode(node);
    return [...new Set([...this.byNode.keys(), ...this.held.keys()])].filter((node) => !live.has(node));
  }

  /** Registers every local session again (Redis lost them). */
  async registerAll(): Promise<void> {
    const pipeline = this.redis.pipeline();
    for (const session of this.own.all()) {
      const record = this.recordFor(session);
      pipeline.hset(keys.account(session.jid.bareString()), session.jid.resource, JSON.stringify(record));
      pipeline.sadd(keys.nodeSessions(this.node), record.jid);
    }
    await pipeline.exec();
  }

  /** The sessions this node knows of on `node`, forgotten (that node died or is unreachable). */
  forgetNode(node: string): RemoteSession[] {
    const sessions = this.byNode.get(node);
    if (!sessions) return [];
    const list = [...sessions];
    for (const session of list) this.removeRemote(session);
    return list;
  }

  /** Nodes with sessions known here. */
  knownNodes(): string[] {
    return [...this.byNode.keys()];
  }

  // ---- to the other nodes -----------------------------------------------------------------

  /** A stanza for a session on another node: sent once the message is committed (archive). */
  transmit(session: RemoteSession, op: 'deliver' | 'write', stanza: Element): void {
    const body = stanza.toString();
    const header: DirectMessage = { op, sid: session.id, jid: session.jid.toString() };
    if (isArchived(stanza)) header.archived = true;
    const node = session.node;
    const committed = whenCommitted(stanza);
    const before = this.waiting.get(node);
    if (!committed && !before) {
      this.send(node, header, body, stanza);
      return;
    }
    // Stanzas to one node keep their order: a later one waits behind one being committed.
    // Only the hand-over to the bus is ordered: its PUBLISHes keep the order, and waiting
    // for each one's reply would allow one stanza per Redis round trip. A commit that failed
    // (logged where it failed) does not hold the stanza back.
    const handOver = () => {
      void this.send(node, header, body, stanza);
    };
    const turn: Promise<void> = (before ?? Promise.resolve())
      .then(() => committed)
      .then(handOver, handOver)
      .finally(() => {
        if (this.waiting.get(node) === turn) this.waiting.delete(node);
      });
    this.waiting.set(node, turn);
  }

  private send(node: string, header: DirectMessage, body: string, stanza: Element): Promise<void> | void {
    if (this.held.has(node)) {
      this.hold(node, header, body, stanza);
      return;
    }
    return this.bus.send(node, header, body).then((receivers) => {
      if (receivers === 0) this.hold(node, header, body, stanza);
    });
  }

  /**
   * Nobody listens on the node's channel (PUBLISH returned 0): the node died, or it (or this
   * node) lost Redis for a moment and is subscribing again. Pub/sub does not redeliver, so
   * the stanza is kept here, behind the others held for that node and ahead of later ones,
   * and tried again until the node listens (then all go, in order), the node is declared
   * dead, or `holdMs` passed; then they are handled as for a resource that is no longer there
   * (offline storage, another resource, or an error: RFC 6121 §8.5.3.2). No acknowledged
   * message is at stake: a message is archived before it is sent to another node.
   */
  private hold(node: string, header: DirectMessage, body: string, stanza: Element): void {
    let held = this.held.get(node);
    if (!held) {
      held = { stanzas: [], deadline: Date.now() + this.holdMs, flushing: false };
      this.held.set(node, held);
      this.log.info({ node }, 'cluster node not listening; holding its stanzas');
      if (!this.heldTimer) {
        this.heldTimer = setInterval(() => this.retryHeld(), HELD_RETRY_MS);
        this.heldTimer.unref();
      }
    }
    if (held.stanzas.length >= HELD_PER_NODE) this.orphan(stanza);
    else held.stanzas.push({ header, body, stanza });
  }

  private retryHeld(): void {
    const now = Date.now();
    for (const [node, held] of this.held) {
      if (held.flushing) continue;
      if (now < held.deadline) {
        void this.flushHeld(node);
        continue;
      }
      const forgotten = this.forgetNode(node);
      this.log.warn({ node, sessions: forgotten.length, stanzas: held.stanzas.length }, 'cluster node unreachable; its sessions are treated as gone');
      this.abandonHeld(node);
    }
    if (this.held.size === 0 && this.heldTimer) {
      clearInterval(this.heldTimer);
      this.heldTimer = null;
    }
  }

  /** Sends what is held for `node`, in order, while it listens (after its sync, at once). */
  async flushHeld(node: string): Promise<void> {
    const held = this.held.get(node);
    if (!held || held.flushing) return;
    held.flushing = true;
    try {
      while (held.stanzas.length > 0) {
        // Everything held now, in order, in as few PUBLISHes as the bus makes of it.
        const count = held.stanzas.length;
        const sent = await Promise.all(held.stanzas.map(({ header, body }) => this.bus.send(node, header, body)));
        const through = sent.indexOf(0) < 0 ? count : sent.indexOf(0);
        held.stanzas.splice(0, through);
        this.log.debug({ node, sent: through, of: count }, 'held stanzas sent');
        if (through < count) return;
      }
      if (this.held.get(node) === held) this.held.delete(node);
    } finally {
      held.flushing = false;
    }
  }

  /** The node is gone: what was held for it is handled as for sessions that ended. */
  abandonHeld(node: string): void {
    const held = this.held.get(node);
    if (!held) return;
    this.held.delete(node);
    const stanzas = held.stanzas.splice(0);
    for (const { stanza } of stanzas) this.orphan(stanza);
  }

  /** Nodes with stanzas held for them. */
  heldNodes(): string[] {
    return [...this.held.keys()];
  }

  dispose(): void {
    if (this.heldTimer) clearInterval(this.heldTimer);
    this.heldTimer = null;
  }

  closeRemote(session: RemoteSession, error?: StreamError): void {
    const header: DirectMessage = { op: 'close', sid: session.id, jid: session.jid.toString() };
    if (error) {
      header.condition = error.condition;
      if (error.text) header.text = error.text;
    }
    void this.bus.send(session.node, header);
  }

  // ---- from this node's channel -----------------------------------------------------------

  direct(message: DirectMessage, body: string): void {
    if (message.op === 'claim') {
      void this.giveUp(message);
      return;
    }
    if (message.op === 'claimed') {
      this.claims.get(message.req)?.(body);
      return;
    }
    // Requests between nodes are src/cluster/requests.ts's.
    if (message.op === 'req' || message.op === 'res' || message.op === 'cancel' || message.op === 'service') return;
    const jid = tryParseJid(message.jid);
    const session = jid ? this.own.get(jid) : undefined;
    const mine = session && session.id === message.sid ? session : undefined;
    if (!mine) {
      const moved = this.moved.get(message.jid);
      if (moved && moved.sid === message.sid) {
        void this.bus.send(moved.node, message, body);
        return;
      }
    }
    if (message.op === 'close') {
      mine?.close(message.condition ? new StreamError(message.condition as StreamErrorCondition, message.text) : undefined);
      return;
    }
    const stanza = this.reader.read(body);
    if (!stanza) {
      this.log.error({ op: message.op }, 'unparsable stanza from another cluster node');
      return;
    }
    if (message.archived) markArchived(stanza);
    if (!mine) {
      this.log.debug({ jid: message.jid, sid: message.sid }, 'stanza for a session no longer here');
      this.orphan(stanza);
    } else if (message.op === 'deliver') {
      mine.deliver(stanza);
    } else {
      mine.write(stanza);
    }
  }

  // ---- stream management resumption on another node (src/core/session-handover.ts) -------

  /** A client resumes here a session another node holds: ask that node for it. */
  async claim(account: string, resumptionId: string, h: number): Promise<ClaimResult> {
    const notFound: ClaimResult = { ok: false, condition: 'item-not-found' };
    let target: RemoteSession | undefined;
    for (const session of this.remote.get(account)?.values() ?? []) if (session.resumptionId === resumptionId) target = session;
    if (!target) return notFound;
    const req = randomBytes(12).toString('base64url');
    const answer = new Promise<string | null>((resolve) => {
      const timer = setTimeout(() => settle(null), CLAIM_TIMEOUT_MS);
      const settle = (body: string | null) => {
        clearTimeout(timer);
        this.claims.delete(req);
        resolve(body);
      };
      this.claims.set(req, settle);
    });
    const receivers = await this.bus.send(target.node, { op: 'claim', req, from: this.node, sid: target.id, jid: target.jid.toString(), sm: resumptionId, h });
    if (receivers === 0) this.claims.get(req)?.(null);
    const body = await answer;
    const result = body === null ? null : parseClaimAnswer(body);
    if (!result) {
      this.log.warn({ node: target.node, account }, 'no answer to a stream management resumption from the node holding the session');
      return notFound;
    }
    if (!result.ok) return result;
    return { ...result, availableSeq: target.availableSeq };
  }

  adopt(session: ClientSession, claimed: ClaimedSession): void {
    this.versions.set(session, claimed.version);
    session.availableSeq = claimed.availableSeq;
    const displaced = this.bind(session); // the mirror's entry for it on its old node, if still there
    if (displaced && displaced.id !== session.id) displaced.close(new StreamError('conflict', 'replaced by a new session with the same resource'));
  }

  /** Another node claims a session of this one: give it up, or say why not. */
  private async giveUp(message: Extract<DirectMessage, { op: 'claim' }>): Promise<void> {
    const reply = (answer: ClaimAnswer) => void this.bus.send(message.from, { op: 'claimed', req: message.req }, JSON.stringify(answer));
    const jid = tryParseJid(message.jid);
    const session = jid ? this.own.get(jid) : undefined;
    if (!this.giver || !session || session.id !== message.sid) return reply({ ok: false, condition: 'item-not-found' });
    let refusal: HandoverRefusal | null;
    try {
      refusal = await this.giver.prepare(session, message.sm, message.h);
    } catch (err) {
      this.log.error({ err }, 'preparing a session for another node failed');
      refusal = { condition: 'item-not-found' };
    }
    if (refusal) return reply({ ok: false, ...refusal });
    // Sealed and moved in one turn: from here on, routing on this node sends to the new one.
    const snapshot = this.own.get(session.jid) === session ? this.giver.seal(session) : null;
    if (!snapshot) return reply({ ok: false, condition: 'item-not-found' });
    const version = this.versions.get(session) ?? 0;
    this.moveOut(session, message.from, snapshot, version);
    reply({ ok: true, snapshot, version });
  }

  private moveOut(session: ClientSession, node: string, snapshot: SessionSnapshot, version: number): void {
    this.own.unbind(session);
    const jid = session.jid.toString();
    void this.redis.srem(keys.nodeSessions(this.node), jid).catch(() => undefined);
    const record = { ...recordOf(session, node, version), sm: snapshot.sm.id };
    const remote = new RemoteSession(record, session.jid, this);
    remote.apply(record);
    remote.availableSeq = session.availableSeq;
    this.addRemote(remote);
    this.moved.set(jid, { sid: session.id, node });
    setTimeout(() => {
      if (this.moved.get(jid)?.sid === session.id) this.moved.delete(jid);
    }, MOVED_FORWARD_MS).unref();
    this.log.debug({ jid, node }, 'session moved to another node');
  }

  // ---- the mirror -------------------------------------------------------------------------

  private recordFor(session: ClientSession): SessionRecord {
    const version = (this.versions.get(session) ?? 0) + 1;
    this.versions.set(session, version);
    return recordOf(session, this.node, version);
  }

  private remoteGet(jid: Jid): RemoteSession | undefined {
    return this.remote.get(jid.bareString())?.get(jid.resource);
  }

  private addRemote(session: RemoteSession): void {
    const bare = session.jid.bareString();
    let resources = this.remote.get(bare);
    if (!resources) {
      resources = new Map();
      this.remote.set(bare, resources);
    }
    resources.set(session.jid.resource, session);
    let onNode = this.byNode.get(session.node);
    if (!onNode) {
      onNode = new Set();
      this.byNode.set(session.node, onNode);
    }
    onNode.add(session);
    this.remoteCount++;
  }

  private removeRemote(session: RemoteSession): void {
    const bare = session.jid.bareString();
    const resources = this.remote.get(bare);
    if (!resources || resources.get(session.jid.resource) !== session) return;
    resources.delete(session.jid.resource);
    if (resources.size === 0) this.remote.delete(bare);
    const onNode = this.byNode.get(session.node);
    onNode?.delete(session);
    if (onNode?.size === 0) this.byNode.delete(session.node);
    this.remoteCount--;
  }
}

/** The holding node's answer to a claim, as it travels. */
type ClaimAnswer = { ok: true; snapshot: SessionSnapshot; version: number } | ({ ok: false } & HandoverRefusal);

function parseClaimAnswer(body: string): ClaimAnswer | null {
  try {
    const answer = JSON.parse(body) as ClaimAnswer;
    if (answer.ok === true) return typeof answer.snapshot?.sm?.id === 'string' && typeof answer.version === 'number' ? answer : null;
    if (answer.condition === 'handled-count-too-high') return typeof answer.received === 'number' && typeof answer.sent === 'number' ? answer : null;
    return { ok: false, condition: 'item-not-found' };
  } catch {
    return null;
  }
}

/** Removes a dead node's sessions from Redis; returns their records. */
export const REAP_NODE = `
local jids = redis.call('SMEMBERS', KEYS[1])
local records = {}
for _, jid in ipairs(jids) do
  local slash = string.find(jid, '/', 1, true)
  if slash then
    local account = ARGV[2] .. string.sub(jid, 1, slash - 1)
    local resource = string.sub(jid, slash + 1)
    local current = redis.call('HGET', account, resource)
    if current then
      local r = cjson.decode(current)
      if r.node == ARGV[1] then
        redis.call('HDEL', account, resource)
        table.insert(records, current)
      end
    end
  end
end
redis.call('DEL', KEYS[1])
return records
`;
