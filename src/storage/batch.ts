// Coalesces concurrent point lookups into one query: every key asked for during the same
// turn of the event loop is fetched together. Under a login storm this turns hundreds of
// primary-key queries into a handful, which matters most on PGlite's single connection.

export class BatchLoader<K, V> {
  private pending = new Map<string, { key: K; waiters: Array<{ resolve: (v: V) => void; reject: (e: unknown) => void }> }>();
  private scheduled = false;

  constructor(
    private readonly keyOf: (key: K) => string,
    /** Fetches many keys at once; returns a value per key string (missing = fallback). */
    private readonly fetch: (keys: K[]) => Promise<Map<string, V>>,
    private readonly fallback: V,
    private readonly maxBatch = 500,
  ) {}

  load(key: K): Promise<V> {
    const id = this.keyOf(key);
    return new Promise<V>((resolve, reject) => {
      let entry = this.pending.get(id);
      if (!entry) {
        entry = { key, waiters: [] };
        this.pending.set(id, entry);
      }
      entry.waiters.push({ resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = new Map();
    const entries = [...batch.entries()];
    for (let i = 0; i < entries.length; i += this.maxBatch) {
      const slice = entries.slice(i, i + this.maxBatch);
      this.fetch(slice.map(([, e]) => e.key)).then(
        (values) => {
          for (const [id, entry] of slice) {
            const value = values.has(id) ? values.get(id)! : this.fallback;
            for (const waiter of entry.waiters) waiter.resolve(value);
          }
        },
        (err: unknown) => {
          for (const [, entry] of slice) for (const waiter of entry.waiters) waiter.reject(err);
        },
      );
    }
  }
}
