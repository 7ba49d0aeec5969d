// XEP-0313 §3.2 (message retention): archived messages older than mam.retentionDays are
// removed in the background, in bounded batches, so no statement runs long or locks much.
import type { Logger } from 'pino';
import type { ArchiveStore } from '../../storage/index.js';
import type { ExpireCursor } from '../../storage/archive.js';
import { firstIdAt } from './clock.js';

export interface RetentionOptions {
  days: number;
  intervalMs: number;
  /** Accounts per statement, and expired rows per account per statement. */
  accountsPerBatch?: number;
  rowsPerAccount?: number;
  /** Pause between two statements of a pass. */
  pauseMs?: number;
}

export class ArchiveRetention {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly store: ArchiveStore,
    private readonly options: RetentionOptions,
    private readonly log: Logger,
  ) {}

  /** The first pass soon after start, then one every interval; timers never hold the process. */
  start(firstDelayMs = 1_000): void {
    this.schedule(Math.min(firstDelayMs, this.options.intervalMs));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One whole pass over every account; resolves with the rows removed. */
  async pass(): Promise<number> {
    const cutoff = firstIdAt(Date.now() - this.options.days * 86_400_000);
    const accounts = this.options.accountsPerBatch ?? 100;
    const perAccount = this.options.rowsPerAccount ?? 1_000;
    let cursor: ExpireCursor | null = null;
    let removed = 0;
    // Bounded: each statement advances the cursor or empties a batch of an account's rows.
    do {
      if (this.stopped) break;
      const step = await this.store.expire(cutoff, cursor, accounts, perAccount);
      removed += step.deleted;
      cursor = step.next;
      if (cursor && this.options.pauseMs) await new Promise((r) => setTimeout(r, this.options.pauseMs).unref());
    } while (cursor);
    return removed;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.pass().then(
        (removed) => {
          if (removed > 0) this.log.info({ removed, retentionDays: this.options.days }, 'expired archived messages removed');
        },
        (err: unknown) => this.log.error({ err }, 'removing expired archived messages failed'),
      ).finally(() => {
        this.running = null;
        this.schedule(this.options.intervalMs);
      });
    }, delayMs);
    this.timer.unref();
  }
}
