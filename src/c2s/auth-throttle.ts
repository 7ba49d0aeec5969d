// Slows down password guessing: failed logins are counted per address and per account over
// a sliding minute; past `limits.authFailuresPerMinute` each attempt waits longer
// (doubling, capped), whichever of the two counts is worse.

export const WINDOW_MS = 60_000;
const MAX_DELAY_MS = 30_000;
/** Bound on remembered keys, so a flood of addresses cannot exhaust memory. */
const MAX_KEYS = 100_000;

/** Failed logins and what they cost the next attempt; in a cluster, counted cluster-wide. */
export interface AuthThrottle {
  /** How long the next attempt from this address (and for this account, when known) waits. */
  delayMs(address: string, account?: string): number | Promise<number>;
  recordFailure(address: string, account?: string): void | Promise<void>;
}

/** The wait after `count` failures within the window. */
export function delayAfter(count: number, perMinute: number): number {
  if (count <= perMinute) return 0;
  return Math.min(MAX_DELAY_MS, 500 * 2 ** (count - perMinute - 1));
}

/** One process's counts, in memory. */
export class LocalAuthThrottle implements AuthThrottle {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  private recent(key: string): number {
    const list = this.failures.get(key);
    if (!list) return 0;
    const cutoff = this.now() - WINDOW_MS;
    while (list.length > 0 && list[0]! <= cutoff) list.shift();
    if (list.length === 0) this.failures.delete(key);
    return list.length;
  }

  /** How long the next attempt from this address (and for this account, when known) waits. */
  delayMs(address: string, account?: string): number {
    const count = Math.max(this.recent(`ip:${address}`), account ? this.recent(`acct:${account}`) : 0);
    return delayAfter(count, this.perMinute);
  }

  recordFailure(address: string, account?: string): void {
    this.add(`ip:${address}`);
    if (account) this.add(`acct:${account}`);
  }

  private add(key: string): void {
    let list = this.failures.get(key);
    if (!list) {
      if (this.failures.size >= MAX_KEYS) this.sweep();
      list = [];
      this.failures.set(key, list);
    }
    list.push(this.now());
    // Only the count within the window matters; keep the list bounded.
    if (list.length > this.perMinute + 32) list.shift();
  }

  private sweep(): void {
    for (const key of [...this.failures.keys()]) this.recent(key);
    if (this.failures.size >= MAX_KEYS) {
      // Still full: forget the oldest half rather than grow without bound.
      let drop = this.failures.size / 2;
      for (const key of this.failures.keys()) {
        if (drop-- <= 0) break;
        this.failures.delete(key);
      }
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}
