// Runs async work one at a time per key, in the order it was asked for: what happens to one
// account (its roster, its offline queue) keeps the order the stanzas arrived in, while
// different accounts proceed in parallel.

export class KeyedQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** Keys with work queued or running. */
  get size(): number {
    return this.tails.size;
  }

  /** Work for this key is queued or running. */
  busy(key: string): boolean {
    return this.tails.has(key);
  }

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, settled);
    void settled.then(() => {
      if (this.tails.get(key) === settled) this.tails.delete(key);
    });
    return next;
  }
}
