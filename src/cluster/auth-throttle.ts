// Authentication failures counted in Redis, so that N nodes do not give a password guesser
// N times the tries (limits.authFailuresPerMinute holds cluster-wide). When Redis does not
// answer, this node's own counts still apply.
import type { Redis } from 'ioredis';
import { delayAfter, LocalAuthThrottle, WINDOW_MS, type AuthThrottle } from '../c2s/auth-throttle.js';
import { keys } from './redis.js';

/** Adds a failure (Redis clock) and trims the window; the set expires with its last entry. */
const RECORD = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now, ARGV[1] .. ':' .. now .. ':' .. math.random(1000000000))
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - tonumber(ARGV[2]))
  redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -tonumber(ARGV[3]) - 1)
  redis.call('PEXPIRE', KEYS[i], ARGV[2])
end
return 1
`;

/** The largest count of failures within the window over the keys. */
const COUNT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local most = 0
for i = 1, #KEYS do
  local n = redis.call('ZCOUNT', KEYS[i], now - tonumber(ARGV[1]), '+inf')
  if n > most then most = n end
end
return most
`;

export class RedisAuthThrottle implements AuthThrottle {
  private readonly local: LocalAuthThrottle;

  constructor(
    private readonly redis: Redis,
    private readonly perMinute: number,
    private readonly node: string,
  ) {
    this.local = new LocalAuthThrottle(perMinute);
  }

  async delayMs(address: string, account?: string): Promise<number> {
    const own = this.local.delayMs(address, account);
    try {
      const count = (await this.redis.eval(COUNT, account ? 2 : 1, ...keysOf(address, account), String(WINDOW_MS))) as number;
      return Math.max(own, delayAfter(count, this.perMinute));
    } catch {
      return own;
    }
  }

  async recordFailure(address: string, account?: string): Promise<void> {
    this.local.recordFailure(address, account);
    // Only the count within the window matters: keep each set bounded.
    const keep = String(this.perMinute + 32);
    await this.redis.eval(RECORD, account ? 2 : 1, ...keysOf(address, account), this.node, String(WINDOW_MS), keep).catch(() => undefined);
  }
}

function keysOf(address: string, account?: string): string[] {
  return account ? [keys.authFailures(`ip:${address}`), keys.authFailures(`acct:${account}`)] : [keys.authFailures(`ip:${address}`)];
}
