// A kysely Dialect over an in-process PGlite instance (kysely 0.28 ships none).
//
// PGlite is one PostgreSQL backend, i.e. a single connection. kysely assumes a
// driver hands out connections it may hold across several queries (a
// transaction is BEGIN ... COMMIT on one connection), so the driver owns a
// mutex: acquireConnection() waits until the previous holder has released the
// connection. Consequence: code running inside `db.transaction().execute(trx =>
// ...)` must use `trx`, never the outer `db` — on PGlite that would wait for
// the transaction it runs in, forever. (On PostgreSQL it would silently run on
// another connection, outside the transaction, so it is a bug there too.)
import type { PGlite, Results } from '@electric-sql/pglite';
import {
  AbortedTransactionError,
  CompiledQuery,
  IdentifierNode,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  RawNode,
  createQueryId,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';

export interface PGliteDialectConfig {
  /** A PGlite instance; created by the caller (so it controls dataDir etc.). */
  pglite: PGlite;
  /** Close the instance when kysely is destroyed (default true). */
  closeOnDestroy?: boolean;
}

export class PGliteDialect implements Dialect {
  readonly #config: PGliteDialectConfig;

  constructor(config: PGliteDialectConfig) {
    this.#config = config;
  }

  createAdapter(): DialectAdapter {
    return new PostgresAdapter();
  }

  createDriver(): Driver {
    return new PGliteDriver(this.#config.pglite, this.#config.closeOnDestroy ?? true);
  }

  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new PostgresIntrospector(db);
  }

  createQueryCompiler(): QueryCompiler {
    return new PostgresQueryCompiler();
  }
}

/** FIFO mutex: lock() resolves once every earlier holder has unlocked. */
class Mutex {
  #locked = false;
  readonly #waiters: Array<() => void> = [];

  lock(): Promise<void> {
    if (!this.#locked) {
      this.#locked = true;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  unlock(): void {
    const next = this.#waiters.shift();
    if (next) {
      next(); // ownership passes straight to the next waiter
    } else {
      this.#locked = false;
    }
  }
}

class PGliteDriver implements Driver {
  readonly #pglite: PGlite;
  readonly #closeOnDestroy: boolean;
  readonly #mutex = new Mutex();
  readonly #connection: PGliteConnection;
  #destroyed = false;

  constructor(pglite: PGlite, closeOnDestroy: boolean) {
    this.#pglite = pglite;
    this.#closeOnDestroy = closeOnDestroy;
    this.#connection = new PGliteConnection(pglite);
  }

  async init(): Promise<void> {
    await this.#pglite.waitReady;
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    if (this.#destroyed) throw new Error('PGlite driver has already been destroyed');
    await this.#mutex.lock();
    if (this.#destroyed) {
      this.#mutex.unlock();
      throw new Error('PGlite driver has already been destroyed');
    }
    return this.#connection;
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    let statement = 'begin';
    if (settings.isolationLevel || settings.accessMode) {
      statement = 'start transaction';
      if (settings.isolationLevel) statement += ` isolation level ${settings.isolationLevel}`;
      if (settings.accessMode) statement += ` ${settings.accessMode}`;
    }
    await connection.executeQuery(CompiledQuery.raw(statement));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    const { rows } = await connection.executeQuery<{ command?: string }>(CompiledQuery.raw('commit'));
    // COMMIT of a transaction that an earlier error aborted completes as ROLLBACK.
    if (rows[0]?.command === 'ROLLBACK') throw new AbortedTransactionError();
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  async savepoint(
    connection: DatabaseConnection,
    savepointName: string,
    compileQuery: QueryCompiler['compileQuery'],
  ): Promise<void> {
    await connection.executeQuery(compileQuery(savepointNode('savepoint', savepointName), createQueryId()));
  }

  async rollbackToSavepoint(
    connection: DatabaseConnection,
    savepointName: string,
    compileQuery: QueryCompiler['compileQuery'],
  ): Promise<void> {
    await connection.executeQuery(compileQuery(savepointNode('rollback to', savepointName), createQueryId()));
  }

  async releaseSavepoint(
    connection: DatabaseConnection,
    savepointName: string,
    compileQuery: QueryCompiler['compileQuery'],
  ): Promise<void> {
    await connection.executeQuery(compileQuery(savepointNode('release', savepointName), createQueryId()));
  }

  async releaseConnection(): Promise<void> {
    this.#mutex.unlock();
  }

  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    if (this.#closeOnDestroy && !this.#pglite.closed) await this.#pglite.close();
  }
}

// `<command> "<name>"`, the name going through the compiler's identifier
// escaping (kysely's own savepoint parser is not exported).
function savepointNode(command: string, savepointName: string): RawNode {
  return RawNode.createWithChildren([RawNode.createWithSql(`${command} `), IdentifierNode.create(savepointName)]);
}

const AFFECTING_COMMANDS = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE']);

class PGliteConnection implements DatabaseConnection {
  readonly #pglite: PGlite;

  constructor(pglite: PGlite) {
    this.#pglite = pglite;
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    let result: Results<R>;
    try {
      if (compiledQuery.parameters.length === 0) {
        // Like node-postgres, a query without parameters goes through the simple
        // query protocol, so a migration file with several statements runs the
        // same way on both backends. The last statement's result is returned.
        const results = (await this.#pglite.exec(compiledQuery.sql)) as Results<R>[];
        result = results[results.length - 1] ?? { rows: [], fields: [] };
      } else {
        result = await this.#pglite.query<R>(compiledQuery.sql, [...compiledQuery.parameters]);
      }
    } catch (error) {
      // PGlite attaches the statement's parameters to its errors, and errors get logged:
      // parameters carry message bodies and credentials, which never go to a log.
      if (error && typeof error === 'object') {
        delete (error as { params?: unknown }).params;
        delete (error as { queryOptions?: unknown }).queryOptions;
      }
      throw error;
    }
    const command = result.command?.toUpperCase();
    if (command === 'COMMIT' || command === 'ROLLBACK') {
      return { rows: [{ command } as R] };
    }
    return {
      numAffectedRows:
        command !== undefined && AFFECTING_COMMANDS.has(command)
          ? BigInt(result.rowCount ?? result.affectedRows ?? 0)
          : undefined,
      rows: result.rows ?? [],
    };
  }

  async *streamQuery<R>(compiledQuery: CompiledQuery, chunkSize = 100): AsyncIterableIterator<QueryResult<R>> {
    if (!Number.isInteger(chunkSize) || chunkSize <= 0) throw new Error('chunkSize must be a positive integer');
    // PGlite has no cursors over the wire API; fetch once, hand out in chunks.
    const { rows } = await this.executeQuery<R>(compiledQuery);
    for (let i = 0; i < rows.length; i += chunkSize) {
      yield { rows: rows.slice(i, i + chunkSize) };
    }
  }
}
