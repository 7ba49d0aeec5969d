// Ownership of keyed live state (a MUC room: key `muc:room@conference.example.org`) by exactly
// one live node of the cluster at a time, found through Redis (`hearth:owner:<key>` → node id)
// and taken over by another node when its owner dies.
//
// How a service with live state (group chat, a later issue) uses it:
// - A stanza for a room reaches any node. If `isMine(key)` (synchronous) that node handles it
//   at once; else it asks `owner(key)`: when no live node owns the room, the asker becomes its
//   owner; otherwise it forwards the stanza to the owner over the cluster (a new op on the
//   owner's node channel, `channels.node(owner)`, beside the session ops of bus.ts). A node
//   that receives a forwarded stanza for a key it does not hold asks `owner(key)` itself
//   first (its claim may have been dropped while Redis still names it).
// - Becoming owner (owner() returned this node while isMine was false) means loading the room
//   from PostgreSQL, the store of record: configuration, affiliations, subject, history (MAM).
//   Occupants are live state: the owner mirrors them in Redis (rebuildable), so the node that
//   takes over can send each occupant still online an unavailable self-presence with status
//   332 (XEP-0045: removed because the service shut down); clients rejoin, reaching it.
// - `onLost(key)`: stop answering for the room and discard its state. For up to one check
//   interval after a takeover the old owner may still answer, so room writes to PostgreSQL
//   must tolerate a second writer (idempotent, last writer wins).
// - When the owner dies, clients see: until its liveness TTL (cluster.ttlS) ends, stanzas for
//   its rooms get `recipient-unavailable` (wait) when the forward reaches nobody; then the
//   next stanza moves the room to a live node, occupants get status 332 and rejoin (XEP-0410
//   self-pings find out too: not-acceptable). A message the dead owner accepted but had not
//   archived is lost; an archived one is in MAM.
//
// Why this shape (refinements of the first sketch):
// - A node claims only while it is itself a live member: a node the cluster has declared
//   dead (or whose liveness lapsed) would otherwise claim rooms that any other node may take
//   from it at once. owner() throws OwnershipUnavailableError then.
// - Owner keys carry a long safety expiry (keyTtlMs, default 10 min) that the owner's periodic
//   check refreshes, so a dead owner's keys that nobody asks for again do not stay for ever.
//   Otherwise they are deleted by release() (compare-and-delete) and overwritten when the
//   owner dies (lazily, by the next owner() call): the keys are bounded by the state held now.
// - The periodic check re-claims a held key that vanished from Redis (Redis restarted without
//   its data) while this node is live, instead of dropping the state: Redis holds only what
//   can be rebuilt, and the owner is who rebuilds it. A key that another node holds is lost.
// - Each local claim carries a stamp, so a check that started before a key was lost and
//   claimed again does not drop the new claim.
// Wiring (src/cluster/cluster.ts; docs/cluster.md has the overview): membership cutOff →
// dropAll(); rejoined(reaped: true) → dropAll() (others may have taken over; keys still
// naming this node are claimed again on demand and reloaded); rejoined(false) (Redis lost
// its data) → check().
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { keys } from './redis.js';

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function live(node)
  local score = redis.call('ZSCORE', KEYS[1], node)
  return score ~= false and tonumber(score) > now
end
`;

/**
 * KEYS: members, owner key; ARGV: caller, key TTL (ms). Returns the live owner, claiming the
 * key for the caller when nobody live holds it and the caller is live; nil when neither.
 */
const OWN = `${NOW}
local current = redis.call('GET', KEYS[2])
if current and current ~= ARGV[1] and live(current) then return current end
if not live(ARGV[1]) then return false end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return ARGV[1]
`;

/** KEYS: members, owner key. The live owner, or nil: a look without claiming. */
const HOLDER = `${NOW}
local current = redis.call('GET', KEYS[2])
if current and live(current) then return current end
return false
`;

/** KEYS: owner key; ARGV: caller. Deletes the key only while the caller holds it. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/**
 * KEYS: members, owner keys…; ARGV: caller, key TTL (ms). Per owner key, 1 when the caller
 * still holds it (its expiry refreshed; a vanished key is claimed again if the caller is
 * live), else 0.
 */
const CHECK = `${NOW}
local me = live(ARGV[1])
local held = {}
for i = 2, #KEYS do
  local current = redis.call('GET', KEYS[i])
  if current == ARGV[1] then
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
    held[i - 1] = 1
  elseif not current and me then
    redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
    held[i - 1] = 1
  else
    held[i - 1] = 0
  end
end
return held
`;

/** Keys per CHECK call: one script must not hold Redis for long. */
const CHECK_BATCH = 200;

/** This node cannot take a key now: it is not a live member of the cluster. */
export class OwnershipUnavailableError extends Error {
  constructor(readonly key: string, readonly node: string) {
    super(`cannot own ${key}: node ${node} is not a live cluster member`);
    this.name = 'OwnershipUnavailableError';
  }
}

export interface Ownership {
  /** This node's id. */
  readonly node: string;
  /**
   * The node owning `key`; this node claims it when no live node does. Rejects with
   * OwnershipUnavailableError when nobody live owns it and this node is not live either,
   * and with Redis's error when Redis cannot be reached.
   */
  owner(key: string): Promise<string>;
  /** The live node owning `key`, or null; nobody claims it (for those who only forward to it). */
  holder(key: string): Promise<string | null>;
  /** Whether this node holds `key` (it won it and has not lost, released or dropped it). */
  isMine(key: string): boolean;
  /** Gives `key` up, if this node holds it in Redis (compare-and-delete); no handler runs. */
  release(key: string): Promise<void>;
  /** Called for each key this node held and no longer does; returns an unsubscribe function. */
  onLost(handler: (key: string) => void): () => void;
  /** Verifies the held keys against Redis now; returns (and reports) those lost. */
  check(): Promise<string[]>;
  /** Forgets every held key (this node is cut off: it owns nothing) and reports them lost. */
  dropAll(): void;
  /** The keys this node holds. */
  held(): string[];
  /** Stops the periodic check and releases the held keys (best effort): a clean stop. */
  close(): Promise<void>;
}

export interface RedisOwnershipOptions {
  /** How often held keys are verified against Redis (ms); 0: only by check(). Default 1000. */
  checkIntervalMs?: number;
  /** Safety expiry of owner keys (ms), refreshed by each check. Default 10 minutes. */
  keyTtlMs?: number;
  log?: Logger;
}

/** Ownership through Redis, for a node of a cluster. */
export class RedisOwnership implements Ownership {
  /** Held key → stamp of the claim. */
  private readonly mine = new Map<string, number>();
  private readonly handlers = new Set<(key: string) => void>();
  private readonly keyTtlMs: number;
  private readonly log: Logger | undefined;
  private stamp = 0;
  private timer: NodeJS.Timeout | null = null;
  private checking: Promise<string[]> | null = null;

  constructor(
    private readonly redis: Redis,
    readonly node: string,
    options: RedisOwnershipOptions = {},
  ) {
    const interval = options.checkIntervalMs ?? 1_000;
    this.keyTtlMs = options.keyTtlMs ?? 600_000;
    this.log = options.log;
    if (interval > 0 && this.keyTtlMs < interval * 10) throw new RangeError('keyTtlMs must be at least ten check intervals');
    if (interval > 0) {
      this.timer = setInterval(() => void this.check().catch((err: unknown) => this.log?.debug({ err }, 'ownership check failed')), interval);
      this.timer.unref();
    }
  }

  async owner(key: string): Promise<string> {
    const owner = (await this.redis.eval(OWN, 2, keys.members, keys.owner(key), this.node, String(this.keyTtlMs))) as string | null;
    if (owner === null) throw new OwnershipUnavailableError(key, this.node);
    if (owner === this.node) {
      if (!this.mine.has(key)) this.mine.set(key, ++this.stamp);
    } else if (this.mine.delete(key)) {
      this.lost([key]);
    }
    return owner;
  }

  async holder(key: string): Promise<string | null> {
    return (await this.redis.eval(HOLDER, 2, keys.members, keys.owner(key))) as string | null;
  }

  isMine(key: string): boolean {
    return this.mine.has(key);
  }

  async release(key: string): Promise<void> {
    this.mine.delete(key);
    await this.redis.eval(RELEASE, 1, keys.owner(key), this.node);
  }

  onLost(handler: (key: string) => void): () => void {
    const own = (key: string) => handler(key);
    this.handlers.add(own);
    return () => this.handlers.delete(own);
  }

  check(): Promise<string[]> {
    // One check at a time: the timer may fire while a slow one is still running.
    this.checking ??= this.runCheck().finally(() => (this.checking = null));
    return this.checking;
  }

  private async runCheck(): Promise<string[]> {
    const claims = [...this.mine];
    const lost: string[] = [];
    for (let i = 0; i < claims.length; i += CHECK_BATCH) {
      const batch = claims.slice(i, i + CHECK_BATCH);
      const held = (await this.redis.eval(CHECK, batch.length + 1, keys.members, ...batch.map(([key]) => keys.owner(key)), this.node, String(this.keyTtlMs))) as number[];
      batch.forEach(([key, stamp], j) => {
        // Released, or lost and claimed again, while the check ran: not this check's business.
        if (held[j] === 1 || this.mine.get(key) !== stamp) return;
        this.mine.delete(key);
        lost.push(key);
      });
    }
    if (lost.length > 0) {
      this.log?.warn({ node: this.node, keys: lost.length }, 'another node took over state this node owned');
      this.lost(lost);
    }
    return lost;
  }

  dropAll(): void {
    const lost = [...this.mine.keys()];
    this.mine.clear();
    this.lost(lost);
  }

  held(): string[] {
    return [...this.mine.keys()];
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const held = this.held();
    await Promise.all(held.map((key) => this.release(key).catch(() => undefined)));
  }

  private lost(lost: string[]): void {
    for (const key of lost) {
      for (const handler of [...this.handlers]) {
        try {
          handler(key);
        } catch (err) {
          this.log?.error({ err, key }, 'ownership lost handler failed');
        }
      }
    }
  }
}

/** A server without cluster.redis: its one process owns everything, and never loses it. */
export class LocalOwnership implements Ownership {
  constructor(readonly node: string) {}

  owner(_key: string): Promise<string> {
    return Promise.resolve(this.node);
  }

  holder(_key: string): Promise<string | null> {
    return Promise.resolve(this.node);
  }

  isMine(_key: string): boolean {
    return true;
  }

  release(_key: string): Promise<void> {
    return Promise.resolve();
  }

  onLost(_handler: (key: string) => void): () => void {
    return () => undefined;
  }

  check(): Promise<string[]> {
    return Promise.resolve([]);
  }

  dropAll(): void {}

  held(): string[] {
    return [];
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
