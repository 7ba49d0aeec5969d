// In-band registrations per address counted in Redis, so that registration.perIpPerHour
// holds for the whole cluster, not per node. Counting and taking a slot is one script, so
// two nodes cannot both take the last one. When Redis does not answer, this node's own
// counts still apply.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { LocalRegistrationThrottle, REGISTRATION_WINDOW_MS, type RegistrationSlot, type RegistrationThrottle } from '../core/registration-throttle.js';
import { keys } from './redis.js';

/** Forgets entries older than the window; adds one (Redis clock) unless the window is full. */
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`;

export class RedisRegistrationThrottle implements RegistrationThrottle {
  private readonly local: LocalRegistrationThrottle;

  constructor(
    private readonly redis: Redis,
    private readonly perHour: number,
    private readonly node: string,
  ) {
    this.local = new LocalRegistrationThrottle(perHour);
  }

  async take(address: string): Promise<RegistrationSlot | null> {
    const key = keys.registrations(address);
    const member = `${this.node}:${randomBytes(8).toString('hex')}`;
    let taken: number;
    try {
      taken = (await this.redis.eval(TAKE, 1, key, String(REGISTRATION_WINDOW_MS), String(this.perHour), member)) as number;
    } catch {
      return this.local.takeNow(address);
    }
    if (taken !== 1) return null;
    // Counted here too, so that the fallback knows this node's share if Redis goes away.
    const own = this.local.takeNow(address);
    return {
      giveBack: async () => {
        await own?.giveBack();
        await this.redis.zrem(key, member).catch(() => undefined);
      },
    };
  }
}
