// The write path of the read-through caches in front of the stores (credential-cache.ts,
// fast-token-cache.ts, archive-bounds-cache.ts): what a cache holds of the rows a write
// changes is dropped before it starts (no reader gets the old rows from memory meanwhile)
// and again once it ends (a read that overlapped the write may have put them back), and a
// read fills the cache only when no write to its account began or ended while it ran.
import type { ChangeFeed } from './change-feed.js';

/**
 * The read path: `keep` gets the value only when no write to `account` began or ended while
 * the read ran and the feed is still live, so that nothing stale is remembered.
 */
export async function readForCache<V>(feed: ChangeFeed, writes: WriteStamps, account: string, read: () => Promise<V>, keep: (value: V) => void): Promise<V> {
  const began = writes.now();
  const value = await read();
  if (writes.unchangedSince(account, began) && feed.live) keep(value);
  return value;
}

export async function forgettingAround<T>(forget: () => void, write: () => Promise<T>): Promise<T> {
  forget();
  try {
    return await write();
  } finally {
    forget();
  }
}

/**
 * When each account was last written, on one counter: a read that began at `now()` may fill
 * the cache for its account when `unchangedSince` says no write to that account came after.
 * Per account, so that a busy server's writes to others do not keep a read from being kept.
 * At most `capacity` stamps are kept; an evicted stamp counts for every account.
 */
export class WriteStamps {
  private counter = 0;
  /** Every account counts as written at this stamp (a clear, an evicted stamp). */
  private floor = 0;
  private readonly stamps = new Map<string, number>();

  constructor(private readonly capacity = 100_000) {}

  now(): number {
    return this.counter;
  }

  written(key: string): void {
    const stamp = ++this.counter;
    this.stamps.delete(key);
    this.stamps.set(key, stamp);
    if (this.stamps.size > this.capacity) {
      const [oldest, oldestStamp] = this.stamps.entries().next().value!;
      this.stamps.delete(oldest);
      this.floor = oldestStamp;
    }
  }

  /** Everything may have changed (a cache cleared, a feed resynchronised). */
  writtenAll(): void {
    this.floor = ++this.counter;
    this.stamps.clear();
  }

  unchangedSince(key: string, since: number): boolean {
    return this.floor <= since && (this.stamps.get(key) ?? 0) <= since;
  }
}
