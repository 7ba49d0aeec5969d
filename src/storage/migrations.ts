// Migrations are plain numbered SQL files in schema/ (NNNN_description.sql),
// forward-only, never edited once landed. kysely's Migrator runs them in
// name order, in one transaction, under an advisory lock (so several
// processes may start at once), and records them in `kysely_migration`.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';

/** schema/ sits two levels above both src/storage/ and dist/storage/. */
export const DEFAULT_MIGRATION_FOLDER = fileURLToPath(new URL('../../schema/', import.meta.url));

const MIGRATION_FILE = /^(\d{4,})_[a-z0-9_]+\.sql$/;

export class SqlFileMigrationProvider implements MigrationProvider {
  readonly #folder: string;

  constructor(folder: string = DEFAULT_MIGRATION_FOLDER) {
    this.#folder = folder;
  }

  async getMigrations(): Promise<Record<string, Migration>> {
    let files: string[];
    try {
      files = await readdir(this.#folder);
    } catch (error) {
      throw new Error(`cannot read migration folder ${this.#folder}: ${(error as Error).message}`, { cause: error });
    }
    const migrations: Record<string, Migration> = {};
    const seenNumbers = new Map<string, string>();
    for (const file of files.filter((name) => name.endsWith('.sql')).sort()) {
      const match = MIGRATION_FILE.exec(file);
      if (!match) {
        throw new Error(`migration file name ${file} in ${this.#folder} does not match NNNN_description.sql`);
      }
      const number = match[1];
      const previous = seenNumbers.get(number);
      if (previous) throw new Error(`migrations ${previous} and ${file} share the number ${number}`);
      seenNumbers.set(number, file);
      const text = await readFile(path.join(this.#folder, file), 'utf8');
      migrations[file.slice(0, -'.sql'.length)] = {
        // A parameterless query runs through the simple query protocol on both
        // backends, so a file may hold several statements.
        up: async (db: Kysely<any>) => {
          await sql.raw(text).execute(db);
        },
      };
    }
    return migrations;
  }
}

export interface MigrateOptions {
  /** Folder holding NNNN_*.sql files; defaults to the repository's schema/. */
  migrationFolder?: string;
}

/**
 * Applies every pending migration. Returns the names applied by this call
 * (empty when the database was already up to date). Throws on failure; the
 * whole run is one transaction, so a failure leaves the schema unchanged.
 */
export async function runMigrations(db: Kysely<any>, options: MigrateOptions = {}): Promise<{ applied: string[] }> {
  // Pin the bookkeeping tables to the schema we are migrating: without an
  // explicit schema, kysely's "does kysely_migration exist?" check would also
  // match the table in any other schema of the same database.
  const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
  const schema = rows[0]?.schema;
  if (!schema) {
    throw new Error('database migration failed: no current schema (does the search_path name an existing schema?)');
  }
  const migrator = new Migrator({
    db,
    provider: new SqlFileMigrationProvider(options.migrationFolder),
    migrationTableSchema: schema,
  });
  const { error, results = [] } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results.find((result) => result.status === 'Error');
    const reason = error instanceof Error ? error.message : String(error);
    const where = failed ? ` at ${failed.migrationName}` : '';
    throw new Error(`database migration failed${where}: ${reason}`, { cause: error });
  }
  return { applied: results.filter((result) => result.status === 'Success').map((result) => result.migrationName) };
}
