// limits.unauthenticatedPerIp across a cluster: each node keeps its count of unauthenticated
// streams per address in a hash of its own, and a new stream's node adds up the others'. A
// dead node's hash goes with its sessions (Cluster.speakFor); after Redis lost its data each
// node writes its counts again.
import type { Redis } from 'ioredis';
import type { SharedAddressCounts } from '../core/streams-by-address.js';
import { keys } from './redis.js';

/** The counts of every member but the caller for one field. */
const ELSEWHERE = `
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local total = 0
for _, node in ipairs(members) do
  if node ~= ARGV[1] then
    local count = redis.call('HGET', ARGV[2] .. node, ARGV[3])
    if count then total = total + tonumber(count) end
  end
end
return total
`;

export class RedisAddressCounts implements SharedAddressCounts {
  /** This node's counts, as written (rewritten whole after Redis lost its data). */
  private readonly own = new Map<string, number>();
  private readonly key: string;

  constructor(
    private readonly redis: Redis,
    private readonly node: string,
  ) {
    this.key = keys.handshakes(node);
  }

  set(kind: string, address: string, count: number): void {
    const field = `${kind}|${address}`;
    if (count > 0) this.own.set(field, count);
    else this.own.delete(field);
    if (this.redis.status !== 'ready') return;
    const write = count > 0 ? this.redis.hset(this.key, field, count) : this.redis.hdel(this.key, field);
    void write.catch(() => undefined);
  }

  async elsewhere(kind: string, address: string): Promise<number> {
    if (this.redis.status !== 'ready') return 0;
    return Number(await this.redis.eval(ELSEWHERE, 1, keys.members, this.node, keys.handshakesPrefix, `${kind}|${address}`));
  }

  /** Writes every count again (Redis lost them, or this node was cut off). */
  async rewrite(): Promise<void> {
    const pipeline = this.redis.pipeline().del(this.key);
    if (this.own.size > 0) pipeline.hset(this.key, Object.fromEntries(this.own));
    await pipeline.exec();
  }

  /** A clean stop: this node's streams are gone. */
  async clear(): Promise<void> {
    this.own.clear();
    await this.redis.del(this.key);
  }
}
