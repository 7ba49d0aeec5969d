import { copyFile, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { sql } from 'kysely';
import { migrateToLatest, openDatabase, type Database } from '../../src/storage/database.js';
import { DEFAULT_MIGRATION_FOLDER, SqlFileMigrationProvider } from '../../src/storage/migrations.js';
import { eachBackend, openIsolatedDatabase, testBackends } from '../helpers/database.js';

async function tablesIn(database: Database): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    select tablename as name from pg_tables where schemaname = current_schema() order by tablename`.execute(database.db);
  return rows.map((row) => row.name);
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the promise to reject');
}

describe('SqlFileMigrationProvider', () => {
  let folder: string;
  beforeEach(async () => {
    folder = await mkdtemp(path.join(tmpdir(), 'hearth-migrations-'));
  });
  afterEach(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('finds the repository schema/ folder from the module location', async () => {
    expect(DEFAULT_MIGRATION_FOLDER.replace(/[\\/]$/, '')).to.equal(path.resolve('schema'));
    const migrations = await new SqlFileMigrationProvider().getMigrations();
    expect(Object.keys(migrations)).to.include('0001_accounts');
    const files = (await readdir('schema')).filter((file) => file.endsWith('.sql'));
    expect(Object.keys(migrations)).to.have.length(files.length);
  });

  it('ignores non-SQL files and rejects badly named SQL files', async () => {
    await writeFile(path.join(folder, 'README.md'), 'notes');
    await writeFile(path.join(folder, '0001_ok.sql'), 'select 1;');
    expect(Object.keys(await new SqlFileMigrationProvider(folder).getMigrations())).to.deep.equal(['0001_ok']);
    await writeFile(path.join(folder, 'add-things.sql'), 'select 1;');
    const error = await rejection(new SqlFileMigrationProvider(folder).getMigrations());
    expect(error.message).to.match(/add-things\.sql .*NNNN_description\.sql/);
  });

  it('rejects two migrations with the same number', async () => {
    await writeFile(path.join(folder, '0001_a.sql'), 'select 1;');
    await writeFile(path.join(folder, '0001_b.sql'), 'select 1;');
    const error = await rejection(new SqlFileMigrationProvider(folder).getMigrations());
    expect(error.message).to.match(/0001_a\.sql and 0001_b\.sql share the number 0001/);
  });
});

eachBackend(
  'migrateToLatest',
  (getDb) => {
    it('applies the schema, then is a no-op when run again', async () => {
      const first = await migrateToLatest(getDb());
      expect(first.applied).to.include('0001_accounts');
      expect(await tablesIn(getDb())).to.include.members(['accounts', 'scram_credentials', 'kysely_migration']);
      expect(await migrateToLatest(getDb())).to.deep.equal({ applied: [] });
      expect(await migrateToLatest(getDb())).to.deep.equal({ applied: [] });
    });
  },
  { migrate: false, truncate: false },
);

for (const backend of testBackends()) {
  describe(`migrations [${backend}]`, function () {
    this.timeout(60_000);
    let folder: string;
    beforeEach(async () => {
      folder = await mkdtemp(path.join(tmpdir(), 'hearth-migrations-'));
      await copyFile(path.join(DEFAULT_MIGRATION_FOLDER, '0001_accounts.sql'), path.join(folder, '0001_accounts.sql'));
    });
    afterEach(async () => {
      await rm(folder, { recursive: true, force: true });
    });

    it('applies only the new migrations when one is added', async () => {
      const isolated = await openIsolatedDatabase(backend, { migrate: false });
      try {
        const database = isolated.database;
        expect(await migrateToLatest(database, { migrationFolder: folder })).to.deep.equal({ applied: ['0001_accounts'] });
        await writeFile(
          path.join(folder, '0002_notes.sql'),
          'create table notes (id integer primary key);\ninsert into notes values (1), (2);\n',
        );
        expect(await migrateToLatest(database, { migrationFolder: folder })).to.deep.equal({ applied: ['0002_notes'] });
        expect(await tablesIn(database)).to.include('notes');
        expect(await migrateToLatest(database, { migrationFolder: folder })).to.deep.equal({ applied: [] });
      } finally {
        await isolated.dispose();
      }
    });

    it('fails with a clear message and leaves the schema untouched', async () => {
      await writeFile(path.join(folder, '0002_broken.sql'), 'create table broken (id integer);\nselect no_such_function();\n');
      const isolated = await openIsolatedDatabase(backend, { migrate: false });
      try {
        const error = await rejection(migrateToLatest(isolated.database, { migrationFolder: folder }));
        expect(error.message).to.match(/^database migration failed at 0002_broken: .*no_such_function/);
        // One transaction for the whole run: 0001 is rolled back too.
        const tables = await tablesIn(isolated.database);
        expect(tables).to.not.include('accounts');
        expect(tables).to.not.include('broken');
        // Repaired, it applies cleanly.
        await writeFile(path.join(folder, '0002_broken.sql'), 'create table broken (id integer);\n');
        expect((await migrateToLatest(isolated.database, { migrationFolder: folder })).applied).to.deep.equal([
          '0001_accounts',
          '0002_broken',
        ]);
      } finally {
        await isolated.dispose();
      }
    });

    it('refuses to run when an applied migration has disappeared', async () => {
      const isolated = await openIsolatedDatabase(backend, { migrate: false });
      try {
        await writeFile(path.join(folder, '0002_extra.sql'), 'create table extra (id integer);\n');
        await migrateToLatest(isolated.database, { migrationFolder: folder });
        await rm(path.join(folder, '0002_extra.sql'));
        const error = await rejection(migrateToLatest(isolated.database, { migrationFolder: folder }));
        expect(error.message).to.match(/database migration failed: .*0002_extra/);
      } finally {
        await isolated.dispose();
      }
    });

    it('copes with several migrators starting at once', async () => {
      const isolated = await openIsolatedDatabase(backend, { migrate: false });
      const others: Database[] = [];
      try {
        // PostgreSQL: separate pools on the same schema, like separate processes.
        if (isolated.url) {
          for (let i = 0; i < 3; i++) others.push(await openDatabase({ url: isolated.url, dataDir: null, poolSize: 2 }));
        }
        const databases = [isolated.database, isolated.database, ...others];
        const results = await Promise.all(databases.map((database) => migrateToLatest(database)));
        const applied = results.flatMap((result) => result.applied);
        expect(applied.filter((name) => name === '0001_accounts')).to.have.length(1);
        expect(await tablesIn(isolated.database)).to.include('accounts');
      } finally {
        await Promise.all(others.map((database) => database.close()));
        await isolated.dispose();
      }
    });

    if (backend === 'postgres') {
      it('migrates a schema while another schema of the database is already migrated', async () => {
        const migrated = await openIsolatedDatabase(backend);
        const fresh = await openIsolatedDatabase(backend, { migrate: false });
        try {
          expect((await migrateToLatest(fresh.database)).applied).to.include('0001_accounts');
          expect(await tablesIn(fresh.database)).to.include.members(['accounts', 'kysely_migration']);
        } finally {
          await fresh.dispose();
          await migrated.dispose();
        }
      });
    }
  });
}
