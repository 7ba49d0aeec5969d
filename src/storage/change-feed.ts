// Which accounts' rows changed, told by the database itself (schema/0015_change_feed.sql and
// 0016_credential_feed.sql: triggers NOTIFY hearth_changes after each commit), so that the
// summaries a process keeps in memory (SCRAM credentials, FAST tokens, archive bounds, who has
// offline messages, requests or a blocklist) stay exact whoever writes: this process, another
// node, the command line elsewhere.
//
// Three feeds: embedded PGlite has one writer, this process, whose stores update their own
// memory, so it is always live and says nothing; a PostgreSQL server listens on a connection
// of its own, live while that connection is up; and a process that does not listen (the
// command line) is never live, so nothing there answers from memory.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { StorageLogger } from './database.js';

export type ChangeKind = 'fast_tokens' | 'archive' | 'offline' | 'subscription_requests' | 'blocklist' | 'archive_prefs' | 'credentials';

const KINDS: ReadonlySet<string> = new Set<ChangeKind>(['fast_tokens', 'archive', 'offline', 'subscription_requests', 'blocklist', 'archive_prefs', 'credentials']);

export type ChangeListener = (username: string, domain: string) => void;

export interface ChangeFeed {
  /** Every committed change reaches the listeners: a cache may answer from memory. */
  readonly live: boolean;
  /**
   * `listener` hears of each account whose rows of `kind` another writer changed (this
   * process's own writes went through its stores, which remembered them). Returns a function
   * that stops the listening.
   */
  onChange(kind: ChangeKind, listener: ChangeListener): () => void;
  /**
   * `listener` runs when changes may have been missed (the feed went down), when the feed is
   * live again, and when a table was truncated: whatever a cache holds may be stale, and reads
   * in flight must not fill it.
   */
  onResync(listener: () => void): void;
  close(): Promise<void>;
}

/** The process is the database's only writer (embedded PGlite): its memory is exact. */
export const SINGLE_WRITER: ChangeFeed = {
  live: true,
  onChange: () => () => {},
  onResync() {},
  async close() {},
};

/** Nothing tells this process of others' writes: it keeps no summaries. */
export const NOT_LISTENING: ChangeFeed = {
  live: false,
  onChange: () => () => {},
  onResync() {},
  async close() {},
};

/** Who listens to a feed, and telling them: the bookkeeping every feed shares. */
export class ChangeListeners {
  private readonly byKind = new Map<ChangeKind, ChangeListener[]>();
  private readonly resyncs: (() => void)[] = [];

  onChange(kind: ChangeKind, listener: ChangeListener): () => void {
    this.byKind.set(kind, [...(this.byKind.get(kind) ?? []), listener]);
    return () => this.byKind.set(kind, (this.byKind.get(kind) ?? []).filter((l) => l !== listener));
  }

  onResync(listener: () => void): void {
    this.resyncs.push(listener);
  }

  changed(kind: ChangeKind, username: string, domain: string): void {
    for (const listener of this.byKind.get(kind) ?? []) listener(username, domain);
  }

  resync(): void {
    for (const listener of this.resyncs) listener();
  }
}

export interface ListenOptions {
  log?: StorageLogger;
  /** Delays between attempts to listen again after the connection dropped (ms). */
  retryDelays?: readonly number[];
  /** How often the feed checks that notices still reach it (ms, default 30 s). */
  heartbeatMs?: number;
  /** How long a check waits for its own notice before the connection counts as lost (ms, default 10 s). */
  probeTimeoutMs?: number;
  /**
   * Whether a PostgreSQL backend (by pid) is one of this process's own pool connections. Their
   * writes went through this process's stores, which updated their memory as they wrote (as
   * on PGlite): those notices are not passed on, so a write does not also forget what it
   * just remembered.
   */
  ownBackend?: (pid: number) => boolean;
}

const DEFAULT_RETRY_DELAYS = [100, 500, 1000, 2000, 5000, 10_000];

/**
 * Listens for hearth_changes on a PostgreSQL connection of its own (LISTEN holds a session,
 * so it cannot share the pool's). Notices from other schemas (another Hearth on the same
 * database) are ignored. The feed is live only once a notice it sent itself came back, and
 * stays live while one does every heartbeat: a connection that silently stopped carrying
 * notices (a half-open TCP connection, a transaction-mode pooler) does not leave caches
 * believing nothing changes. Resolves once live, rejects when the first connection fails.
 */
export async function listenForChanges(url: string, options: ListenOptions = {}): Promise<ChangeFeed> {
  const listeners = new ChangeListeners();
  const retryDelays = options.retryDelays ?? DEFAULT_RETRY_DELAYS;
  let live = false;
  let closed = false;
  let client: pg.Client | null = null;
  let retryTimer: NodeJS.Timeout | null = null;
  let failures = 0;
  const heartbeatMs = options.heartbeatMs ?? 30_000;
  const probeTimeoutMs = options.probeTimeoutMs ?? 10_000;
  /** Checks in flight: each one's nonce, and what to run when its notice comes back. */
  const probes = new Map<string, () => void>();

  const resync = () => listeners.resync();

  const dispatch = (schema: string, payload: string | undefined, pid: number) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload ?? '');
    } catch {
      parsed = null;
    }
    if (!Array.isArray(parsed) || (parsed.length !== 3 && parsed.length !== 4) || !parsed.every((part) => typeof part === 'string')) {
      options.log?.warn({ payload }, 'ignored a malformed hearth_changes notice');
      return;
    }
    if (parsed[0] !== schema) return;
    if (parsed.length === 3) {
      // [schema, 'truncate', table]: a whole table emptied; forget everything.
      if (parsed[1] === 'truncate') resync();
      // [schema, 'probe', nonce]: a check this feed made (another feed's is not in `probes`).
      else if (parsed[1] === 'probe') probes.get(parsed[2])?.();
      return;
    }
    const [, kind, domain, username] = parsed as string[];
    if (!KINDS.has(kind) || options.ownBackend?.(pid)) return;
    listeners.changed(kind as ChangeKind, username, domain);
  };

  /** Sends a notice to itself and waits for it: proof that notices reach this connection. */
  const probe = async (which: pg.Client): Promise<void> => {
    const nonce = randomUUID();
    const heard = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        probes.delete(nonce);
        reject(new Error(`no notice came back within ${probeTimeoutMs} ms`));
      }, probeTimeoutMs);
      probes.set(nonce, () => {
        clearTimeout(timer);
        probes.delete(nonce);
        resolve();
      });
    });
    await Promise.all([which.query("select pg_notify('hearth_changes', json_build_array(current_schema(), 'probe', $1::text)::text)", [nonce]), heard]);
  };

  let probing = false;
  const heartbeat = setInterval(() => {
    const current = client;
    if (!current || !live || probing) return;
    probing = true;
    probe(current)
      .catch((error: unknown) => drop(current, error as Error))
      .finally(() => (probing = false));
  }, heartbeatMs);
  heartbeat.unref();

  const scheduleRetry = (error?: unknown) => {
    if (closed || retryTimer) return;
    const delay = retryDelays[Math.min(failures, retryDelays.length - 1)];
    failures++;
    options.log?.warn({ err: error, retryInMs: delay }, 'PostgreSQL change feed down: caches answer from the database until it is back');
    retryTimer = setTimeout(() => {
      retryTimer = null;
      connect().catch(scheduleRetry);
    }, delay);
    retryTimer.unref();
  };

  const drop = (which: pg.Client, error?: Error) => {
    if (client !== which) return;
    client = null;
    which.removeAllListeners('notification');
    which.end().catch(() => {});
    if (live) {
      live = false;
      resync();
    }
    scheduleRetry(error);
  };

  const connect = async (): Promise<void> => {
    const next = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000, query_timeout: probeTimeoutMs, keepAlive: true });
    client = next;
    next.on('error', (error) => drop(next, error));
    next.on('end', () => drop(next));
    try {
      await next.connect();
      // Named, so that an operator sees in pg_stat_activity what this idle connection is for.
      const { rows } = await next.query<{ schema: string }>("select current_schema() as schema, set_config('application_name', 'hearth change feed (' || current_schema() || ')', false)");
      const schema = rows[0]?.schema ?? 'public';
      next.on('notification', (message) => {
        if (message.channel === 'hearth_changes') dispatch(schema, message.payload, message.processId);
      });
      await next.query('listen hearth_changes');
      await probe(next);
    } catch (error) {
      if (client === next) {
        client = null;
        next.end().catch(() => {});
      }
      throw error;
    }
    // Dropped (a retry is scheduled) or closed meanwhile.
    if (client !== next) return;
    failures = 0;
    // Whatever was remembered before may have missed changes while nobody listened.
    resync();
    live = true;
  };

  try {
    await connect();
  } catch (error) {
    closed = true;
    clearInterval(heartbeat);
    if (retryTimer) clearTimeout(retryTimer);
    throw error;
  }

  return {
    get live() {
      return live;
    },
    onChange: (kind, listener) => listeners.onChange(kind, listener),
    onResync: (listener) => listeners.onResync(listener),
    async close() {
      closed = true;
      clearInterval(heartbeat);
      if (retryTimer) clearTimeout(retryTimer);
      const current = client;
      client = null;
      if (live) {
        live = false;
        resync();
      }
      if (current) {
        current.removeAllListeners('notification');
        await current.end().catch(() => {});
      }
    },
  };
}
