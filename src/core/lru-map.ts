// A bounded map that forgets what was not used for longest: the caches of things loaded on
// demand (FAST tokens, archive bounds, avatar hashes, verified caps, PEP services).
//
// Two generations instead of an exact recency order: a hit in the young generation is one
// Map lookup (an exact LRU moves the entry on every hit: a delete and an insert, which on a
// sign-in's path cost more than the lookup itself). When the young generation is full it
// becomes the old one and the previous old one is dropped; a hit in the old generation moves
// the entry back to the young one. So the map holds at most `capacity` entries and keeps at
// least the `capacity / 2` most recently used.

export class LruMap<K, V> {
  private young = new Map<K, V>();
  private old = new Map<K, V>();
  private readonly generation: number;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 2) throw new RangeError('an LruMap holds at least 2 entries');
    this.generation = Math.floor(capacity / 2);
  }

  /** The value, now among the most recently used; undefined when absent. */
  get(key: K): V | undefined {
    const value = this.young.get(key);
    if (value !== undefined) return value;
    const aging = this.old.get(key);
    if (aging !== undefined) {
      this.old.delete(key);
      this.remember(key, aging);
    }
    return aging;
  }

  has(key: K): boolean {
    return this.young.has(key) || this.old.has(key);
  }

  set(key: K, value: V): void {
    this.old.delete(key);
    this.remember(key, value);
  }

  delete(key: K): boolean {
    const wasYoung = this.young.delete(key);
    return this.old.delete(key) || wasYoung;
  }

  clear(): void {
    this.young.clear();
    this.old.clear();
  }

  /** Entries held now (at most the capacity). */
  get size(): number {
    return this.young.size + this.old.size;
  }

  private remember(key: K, value: V): void {
    if (!this.young.has(key) && this.young.size >= this.generation) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(key, value);
  }
}
