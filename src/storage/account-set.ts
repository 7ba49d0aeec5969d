// Sets of accounts that may have rows in some table (offline messages, subscription requests,
// a blocklist, archive preferences): a superset of the truth, so that the many accounts with
// none need no query at login. A write marks its account before it starts, so a concurrent
// reader may query for nothing but never misses a row; a read that finds nothing clears the
// mark, unless something was added meanwhile.
import { accountKey } from './keys.js';
import type { ChangeFeed, ChangeKind } from './change-feed.js';

export class AccountSet {
  private readonly accounts = new Set<string>();
  /** Bumped by every add: a read that overlapped one must not clear the mark. */
  generation = 0;
  add(username: string, domain: string): void {
    this.generation++;
    this.accounts.add(accountKey(domain, username));
  }
  /** Clears the mark after a read found nothing, unless something was added meanwhile. */
  clearIfUnchanged(username: string, domain: string, generation: number): void {
    if (generation === this.generation) this.accounts.delete(accountKey(domain, username));
  }
  /**
   * Reads the account's waiting items only when it is marked; a read that finds nothing
   * clears the mark (unless something was added meanwhile).
   */
  async readIfMarked<T>(username: string, domain: string, read: () => Promise<T[]>): Promise<T[]> {
    if (!this.has(username, domain)) return [];
    const generation = this.generation;
    const list = await read();
    if (list.length === 0) this.clearIfUnchanged(username, domain, generation);
    return list;
  }

  has(username: string, domain: string): boolean {
    return this.accounts.has(accountKey(domain, username));
  }

  protected clearAll(): void {
    this.generation++;
    this.accounts.clear();
  }
}

/**
 * An AccountSet read from the database at first use, then kept up to date by this process's
 * writes and by the change feed's notices of inserts (`kind`). While the feed is down it is
 * not used (callers ask the database), and when it is back it is read again.
 */
export class LoadedAccountSet extends AccountSet {
  private loading: Promise<void> | null = null;
  /** Bumped when the feed went down or came back: a load started before is stale. */
  private epoch = 0;

  constructor(
    private readonly load: () => Promise<readonly { username: string; domain: string }[]>,
    private readonly feed: ChangeFeed,
    kind: ChangeKind,
  ) {
    super();
    feed.onChange(kind, (username, domain) => this.add(username, domain));
    feed.onResync(() => {
      this.epoch++;
      this.loading = null;
      this.clearAll();
    });
  }

  /** True when the set may answer (loaded, and the feed is live); false: ask the database. */
  async usable(): Promise<boolean> {
    if (!this.feed.live) return false;
    const epoch = this.epoch;
    this.loading ??= this.load().then(
      (rows) => {
        if (epoch === this.epoch) for (const row of rows) this.add(row.username, row.domain);
      },
      (error: unknown) => {
        if (epoch === this.epoch) this.loading = null; // the next call tries again
        throw error;
      },
    );
    await this.loading;
    return this.feed.live && epoch === this.epoch;
  }
}
