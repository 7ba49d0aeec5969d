// Test databases.
//
// - openTestDatabase(): a migrated, in-memory PGlite Database for integration
//   tests. Each call is a fresh, independent database (built from a migrated
//   data-directory snapshot taken once per process, ~0.3 s instead of ~1 s).
//   Close it when done.
// - eachBackend(title, fn): runs a describe block on in-memory PGlite and, when
//   DATABASE_URL is set, again on PostgreSQL in a schema of its own (created
//   for the block, dropped afterwards; the pool's search_path points at it).
//   Tables are truncated before each test.
import { randomBytes } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'kysely';
import pg from 'pg';
import { migrateToLatest, openDatabase, wrapPGlite, type Database } from '../../src/storage/database.js';

export type Backend = 'pglite' | 'postgres';

/** The backends to test on: PGlite always, PostgreSQL when DATABASE_URL is set. */
export function testBackends(): Backend[] {
  return process.env.DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];
}

export interface IsolatedDatabase {
  readonly database: Database;
  readonly backend: Backend;
  /** PostgreSQL only: a URL whose connections use this database's schema. */
  readonly url: string | null;
  /** Closes the database (and drops the PostgreSQL schema). */
  dispose(): Promise<void>;
}

export interface IsolatedDatabaseOptions {
  /** Apply schema/*.sql (default true). */
  migrate?: boolean;
}

const templates = new Map<'blank' | 'migrated', Promise<Blob>>();

/**
 * A dump of a fresh (optionally migrated) PGlite data directory, made once per
 * process: starting PGlite from a dump is several times faster than initdb.
 */
function template(kind: 'blank' | 'migrated'): Promise<Blob> {
  let promise = templates.get(kind);
  if (!promise) {
    promise = (async () => {
      const pglite = kind === 'blank' ? await PGlite.create() : await PGlite.create({ loadDataDir: await template('blank') });
      const database = wrapPGlite(pglite);
      try {
        if (kind === 'migrated') await migrateToLatest(database);
        return (await pglite.dumpDataDir('none')) as Blob;
      } finally {
        await database.close();
      }
    })();
    promise.catch(() => templates.delete(kind));
    templates.set(kind, promise);
  }
  return promise;
}

async function openTemplateDatabase(kind: 'blank' | 'migrated'): Promise<Database> {
  return wrapPGlite(await PGlite.create({ loadDataDir: await template(kind) }));
}

/** A migrated, empty, in-memory PGlite database of its own. Close it when done. */
export function openTestDatabase(): Promise<Database> {
  return openTemplateDatabase('migrated');
}

/** A database nobody else uses: in-memory PGlite, or a fresh PostgreSQL schema. */
export async function openIsolatedDatabase(
  backend: Backend,
  options: IsolatedDatabaseOptions = {},
): Promise<IsolatedDatabase> {
  const migrate = options.migrate ?? true;
  if (backend === 'pglite') {
    const database = await openTemplateDatabase(migrate ? 'migrated' : 'blank');
    return { database, backend, url: null, dispose: () => database.close() };
  }
  const baseUrl = process.env.DATABASE_URL;
  if (!baseUrl) throw new Error('DATABASE_URL is not set');
  const schema = `hearth_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await withAdminClient(baseUrl, (client) => client.query(`create schema "${schema}"`));
  const url = withSearchPath(baseUrl, schema);
  let database: Database;
  try {
    database = await openDatabase({ url, dataDir: null, poolSize: 5, listenForChanges: true });
    if (migrate) await migrateToLatest(database);
  } catch (error) {
    await withAdminClient(baseUrl, (client) => client.query(`drop schema "${schema}" cascade`));
    throw error;
  }
  return {
    database,
    backend,
    url,
    async dispose() {
      await database.close();
      await withAdminClient(baseUrl, (client) => client.query(`drop schema if exists "${schema}" cascade`));
    },
  };
}

/** Empties every application table (not kysely's migration bookkeeping). */
export async function truncateAll(database: Database): Promise<void> {
  const { rows } = await sql<{ name: string }>`
    select tablename as name from pg_tables
    where schemaname = current_schema() and tablename not like 'kysely\\_%'`.execute(database.db);
  if (rows.length === 0) return;
  await sql`truncate table ${sql.join(rows.map((row) => sql.id(row.name)))} cascade`.execute(database.db);
}

export interface EachBackendOptions extends IsolatedDatabaseOptions {
  /** Truncate all tables before each test (default true). */
  truncate?: boolean;
}

/**
 * Runs `fn` inside one describe block per backend. `getDb()` returns the
 * block's database (valid from the first before/beforeEach hook on).
 */
export function eachBackend(
  title: string,
  fn: (getDb: () => Database, backend: Backend) => void,
  options: EachBackendOptions = {},
): void {
  for (const backend of testBackends()) {
    describe(`${title} [${backend}]`, function () {
      let isolated: IsolatedDatabase | null = null;
      before(async function () {
        this.timeout(60_000);
        isolated = await openIsolatedDatabase(backend, options);
      });
      after(async function () {
        this.timeout(60_000);
        await isolated?.dispose();
        isolated = null;
      });
      if (options.truncate ?? true) {
        beforeEach(async function () {
          if (isolated) await truncateAll(isolated.database);
        });
      }
      fn(() => {
        if (!isolated) throw new Error('test database is not open yet (use it from hooks or tests)');
        return isolated.database;
      }, backend);
    });
  }
}

function withSearchPath(url: string, schema: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('options', `-c search_path=${schema}`);
  return parsed.toString();
}

async function withAdminClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
