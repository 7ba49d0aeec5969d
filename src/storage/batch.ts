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

/**
 * Group commit for writes: items written while the previous batch runs (or during one turn
 * of the event loop) go together in the next `run`, which returns one result per item, in
 * order. Batches run one at a time, so items keep their order across batches.
 */
export class BatchWriter<T, R> {
  private pending: Array<{ item: T; resolve: (r: R) => void; reject: (e: unknown) => void }> = [];
  private scheduled = false;
  private running = false;

  constructor(
    private readonly run: (items: T[]) => Promise<R[]>,
    private readonly maxBatch = 500,
  ) {}

  write(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.running || this.pending.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.next();
    });
  }

  private async next(): Promise<void> {
    if (this.running || this.pending.length === 0) return;
    this.running = true;
    const batch = this.pending.splice(0, this.maxBatch);
    try {
      const results = await this.run(batch.map((w) => w.item));
      batch.forEach((w, i) => w.resolve(results[i]!));
    } catch (err) {
      for (const w of batch) w.reject(err);
    } finally {
      this.running = false;
      this.schedule();
    }
  }
}
