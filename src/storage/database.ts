// Opens the database: PostgreSQL (node-postgres pool) when a URL is given,
// otherwise PGlite, on disk under `${dataDir}/db` or in memory. Both speak
// the same PostgreSQL dialect, the schema is the same, and all SQL is built by
// kysely in the repositories.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql, type LogEvent } from 'kysely';
import pg from 'pg';
import { listenForChanges, NOT_LISTENING, SINGLE_WRITER, type ChangeFeed } from './change-feed.js';
import { runMigrations, type MigrateOptions } from './migrations.js';
import { PGliteDialect } from './pglite-dialect.js';
import type { Tables } from './tables.js';

/** The part of a pino logger the storage layer uses. */
export interface StorageLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface DatabaseOptions {
  /** postgres:// URL. When set, dataDir is ignored. */
  url: string | null;
  /** PGlite data lives in `${dataDir}/db`; null (and no url) => in-memory PGlite. */
  dataDir: string | null;
  log?: StorageLogger;
  /** pg pool size (default 10). */
  poolSize?: number;
  /**
   * PostgreSQL: listen for other writers' changes (change-feed.ts), so that the stores may keep
   * summaries in memory. A server does; a short-lived command need not.
   */
  listenForChanges?: boolean;
}

/** Told the duration of each query, and whether it failed (metrics). */
export type QueryObserver = (durationMs: number, failed: boolean) => void;

export interface Database {
  readonly db: Kysely<Tables>;
  readonly kind: 'postgres' | 'pglite';
  /** Tells the stores' caches of changes made by other writers (change-feed.ts). */
  readonly changes: ChangeFeed;
  close(): Promise<void>;
  ping(): Promise<void>;
  /** Sets (null: removes) the query observer. Kysely times every query for it. */
  observeQueries(observer: QueryObserver | null): void;
}

/** Opens (does not migrate) the database. For PostgreSQL, checks it can connect. */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if (options.url) return openPostgres(options.url, options);
  let pglite: PGlite;
  if (options.dataDir === null) {
    pglite = await PGlite.create();
  } else {
    const directory = path.join(options.dataDir, 'db');
    await mkdir(directory, { recursive: true });
    try {
      pglite = await PGlite.create(directory);
    } catch (error) {
      throw new Error(`cannot open PGlite database in ${directory}: ${(error as Error).message}`, { cause: error });
    }
  }
  options.log?.info({ dataDir: options.dataDir ?? ':memory:' }, 'opened PGlite database');
  return wrapPGlite(pglite, options.log);
}

/**
 * A Database over an existing PGlite instance (closed by `close()`). Lets tests
 * build instances from a dumped data directory; prefer openDatabase elsewhere.
 */
export function wrapPGlite(pglite: PGlite, log?: StorageLogger): Database {
  // One writer, nobody to tell: the change-feed triggers (schema/0015) stay quiet. PGlite
  // runs queries in the order they are made, so this comes before anything this process writes.
  pglite.exec("set hearth.change_feed = 'off'").catch((error: unknown) => log?.warn({ err: error }, 'could not switch off the change feed triggers'));
  return makeDatabase((onQuery) => new Kysely<Tables>({ dialect: new PGliteDialect({ pglite }), log: onQuery }), 'pglite', () => SINGLE_WRITER, log);
}

async function openPostgres(url: string, options: DatabaseOptions): Promise<Database> {
  const where = describeUrl(url);
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its connection emits 'error' on the pool; unhandled,
  // that would crash the process. The pool drops the client and reconnects.
  pool.on('error', (error) => {
    options.log?.warn({ err: error, database: where }, 'idle PostgreSQL connection failed');
  });
  // The pool's backends, whose writes this process's stores already remembered (change-feed.ts).
  const poolBackends = new Set<number>();
  const backendOf = (client: pg.PoolClient) => (client as unknown as { processID: number | null }).processID;
  pool.on('connect', (client) => {
    const pid = backendOf(client);
    if (pid !== null) poolBackends.add(pid);
  });
  pool.on('remove', (client) => {
    const pid = backendOf(client);
    if (pid !== null) poolBackends.delete(pid);
  });
  let changes: ChangeFeed = NOT_LISTENING;
  const database = makeDatabase((onQuery) => new Kysely<Tables>({ dialect: new PostgresDialect({ pool }), log: onQuery }), 'postgres', () => changes, options.log);
  try {
    await database.ping();
    if (options.listenForChanges) changes = await listenForChanges(url, { log: options.log, ownBackend: (pid) => poolBackends.has(pid) });
  } catch (error) {
    await database.close().catch(() => {});
    throw new Error(`cannot connect to PostgreSQL at ${where}: ${(error as Error).message}`, { cause: error });
  }
  options.log?.info({ database: where }, 'connected to PostgreSQL');
  return database;
}

/** The logger each Database was opened with, for migrateToLatest. */
const loggers = new WeakMap<Database, StorageLogger>();

function makeDatabase(
  create: (onQuery: (event: LogEvent) => void) => Kysely<Tables>,
  kind: Database['kind'],
  /** The feed, read when asked for (a PostgreSQL Database starts listening once it is open). */
  feed: () => ChangeFeed,
  log: StorageLogger | undefined,
): Database {
  let closing: Promise<void> | null = null;
  let observer: QueryObserver | null = null;
  const db = create((event) => observer?.(event.queryDurationMillis, event.level === 'error'));
  const database: Database = {
    db,
    kind,
    get changes() {
      return feed();
    },
    close() {
      closing ??= feed()
        .close()
        .then(() => db.destroy());
      return closing;
    },
    async ping() {
      await sql`select 1`.execute(db);
    },
    observeQueries(next) {
      observer = next;
    },
  };
  if (log) loggers.set(database, log);
  return database;
}

/** host:port/database of a URL, without credentials (for messages and logs). */
function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname || 'localhost'}${parsed.port ? `:${parsed.port}` : ''}${parsed.pathname}`;
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}

/**
 * Brings the schema up to date (schema/*.sql). Safe to call from several
 * processes at once and on an up-to-date database (returns `applied: []`).
 * Throws `database migration failed at <name>: <reason>` on failure.
 */
export async function migrateToLatest(
  database: Database,
  options: MigrateOptions & { log?: StorageLogger } = {},
): Promise<{ applied: string[] }> {
  const log = options.log ?? loggers.get(database);
  let result: { applied: string[] };
  try {
    result = await runMigrations(database.db, options);
  } catch (error) {
    log?.error({ err: error }, 'database migration failed');
    throw error;
  }
  for (const migration of result.applied) {
    log?.info({ migration, backend: database.kind }, 'applied database migration');
  }
  return result;
}
