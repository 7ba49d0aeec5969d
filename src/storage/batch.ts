// Coalesces concurrent point lookups into one query. At most `maxInFlight` queries of a loader
// run at once; keys asked for meanwhile wait and go together in the next one. Idle, a lookup
// runs at the next turn of the event loop; under a login storm the batches grow by themselves
// and hundreds of primary-key queries become a handful (what matters most on PGlite's single
// connection, where every query costs CPU on the server's own thread).

interface Waiter<V> {
  resolve: (v: V) => void;
  reject: (e: unknown) => void;
}

export class BatchLoader<K, V> {
  private pending = new Map<string, { key: K; waiters: Waiter<V>[] }>();
  private scheduled = false;
  private inFlight = 0;

  constructor(
    private readonly keyOf: (key: K) => string,
    /** Fetches many keys at once; returns a value per key string (missing = fallback). */
    private readonly fetch: (keys: K[]) => Promise<Map<string, V>>,
    private readonly fallback: V,
    private readonly maxBatch = 500,
    private readonly maxInFlight = 1,
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
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.maxInFlight || this.pending.size === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.inFlight < this.maxInFlight && this.pending.size > 0) {
      const slice: Array<[string, { key: K; waiters: Waiter<V>[] }]> = [];
      for (const entry of this.pending) {
        slice.push(entry);
        this.pending.delete(entry[0]);
        if (slice.length >= this.maxBatch) break;
      }
      this.inFlight++;
      this.fetch(slice.map(([, e]) => e.key))
        .then(
          (values) => {
            for (const [id, entry] of slice) {
              const value = values.has(id) ? values.get(id)! : this.fallback;
              for (const waiter of entry.waiters) waiter.resolve(value);
            }
          },
          (err: unknown) => {
            for (const [, entry] of slice) for (const waiter of entry.waiters) waiter.reject(err);
          },
        )
        .finally(() => {
          this.inFlight--;
          this.schedule();
        });
    }
  }
}
