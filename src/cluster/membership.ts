// Which nodes of the cluster live: each node refreshes its liveness (a score in one sorted
// set, on Redis's clock, so node clocks never matter) every third of the TTL; every node
// looks for expired ones twice a second, and the one that removes an expired node from the
// set speaks for it (its sessions end, its contacts learn it).
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { keys } from './redis.js';

/** Refreshes liveness; returns [was a member (1/0), the epoch]. Creates the epoch when missing. */
const HEARTBEAT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[3]
  redis.call('SET', KEYS[2], epoch)
end
local member = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
if member then return {1, epoch} end
return {0, epoch}
`;

/** Removes the members whose liveness ended; returns those this caller removed. */
const REAP = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
local mine = {}
for _, node in ipairs(expired) do
  if redis.call('ZREM', KEYS[1], node) == 1 then table.insert(mine, node) end
end
return mine
`;

/** Live members (liveness not yet ended), excluding none. */
const LIVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
`;

export interface MembershipEvents {
  /** Nodes whose liveness expired and which this node removed: it speaks for them now. */
  reaped(nodes: string[]): void;
  /**
   * This node was no longer a member: the others removed it (`reaped`: its sessions were
   * declared gone) or Redis lost its data (not reaped: nothing was declared). It is a member
   * again when this is called.
   */
  rejoined(reaped: boolean): void;
  /** No heartbeat succeeded for a whole TTL: the others will remove this node. */
  cutOff(): void;
}

export class Membership {
  private epoch: string | null = null;
  private lastBeat = 0;
  private beatTimer: NodeJS.Timeout | null = null;
  private reapTimer: NodeJS.Timeout | null = null;
  private cut = false;
  private stopped = false;

  constructor(
    private readonly redis: Redis,
    readonly node: string,
    private readonly ttlMs: number,
    private readonly events: MembershipEvents,
    private readonly log: Logger,
  ) {}

  /** True while the last heartbeat is younger than the TTL. */
  get alive(): boolean {
    return !this.cut && Date.now() - this.lastBeat < this.ttlMs;
  }

  /** Joins: the first heartbeat must succeed. */
  async join(): Promise<void> {
    await this.beat();
    this.beatTimer = setInterval(() => void this.beat().catch(() => this.checkCutOff()), Math.max(200, Math.floor(this.ttlMs / 3)));
    this.beatTimer.unref();
    this.reapTimer = setInterval(() => void this.reap(), 500);
    this.reapTimer.unref();
  }

  private async beat(): Promise<void> {
    const [member, epoch] = (await this.redis.eval(HEARTBEAT, 2, keys.members, keys.epoch, this.node, String(this.ttlMs), randomBytes(12).toString('hex'))) as [number, string];
    if (this.stopped) return;
    this.lastBeat = Date.now();
    const known = this.epoch;
    this.epoch = epoch;
    const wasCut = this.cut;
    this.cut = false;
    if (known === null) return;
    if (member === 0 || wasCut) {
      const reaped = epoch === known;
      this.log.warn({ node: this.node, reaped }, reaped ? 'this node was declared dead by the cluster; rejoining' : 'redis lost its data; registering again');
      this.events.rejoined(reaped || wasCut);
    }
  }

  private checkCutOff(): void {
    if (this.stopped || this.cut || Date.now() - this.lastBeat < this.ttlMs) return;
    this.cut = true;
    this.log.error({ node: this.node }, 'no contact with redis for the cluster TTL; closing client streams');
    this.events.cutOff();
  }

  private async reap(): Promise<void> {
    this.checkCutOff();
    if (this.cut || this.stopped) return;
    let removed: string[];
    try {
      removed = (await this.redis.eval(REAP, 1, keys.members)) as string[];
    } catch {
      return;
    }
    const others = removed.filter((n) => n !== this.node);
    if (others.length > 0) this.events.reaped(others);
  }

  /** The nodes alive now, this one included. */
  async live(): Promise<string[]> {
    return (await this.redis.eval(LIVE, 1, keys.members)) as string[];
  }

  /** Leaves at once (a clean stop): the others need not wait for the TTL. */
  async leave(): Promise<void> {
    this.stopped = true;
    if (this.beatTimer) clearInterval(this.beatTimer);
    if (this.reapTimer) clearInterval(this.reapTimer);
    await this.redis.zrem(keys.members, this.node).catch(() => undefined);
  }
}
