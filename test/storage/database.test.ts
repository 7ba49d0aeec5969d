import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { expect } from 'chai';
import { pino } from 'pino';
import { createAccountStore } from '../../src/storage/accounts.js';
import { migrateToLatest, openDatabase } from '../../src/storage/database.js';
import { createStores } from '../../src/storage/index.js';
import type { ScramCredential } from '../../src/sasl/credentials.js';
import { openTestDatabase } from '../helpers/database.js';

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the promise to reject');
}

function memoryLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
      callback();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

describe('openDatabase', function () {
  this.timeout(60_000);

  it('opens an in-memory PGlite database, logs migrations to the given logger', async () => {
    const { log, lines } = memoryLogger();
    const database = await openDatabase({ url: null, dataDir: null, log });
    try {
      expect(database.kind).to.equal('pglite');
      await database.ping();
      const { applied } = await migrateToLatest(database);
      expect(applied).to.include('0001_accounts');
      expect(lines.map((line) => line.msg)).to.include('applied database migration');
      expect(lines.find((line) => line.msg === 'applied database migration')?.migration).to.equal('0001_accounts');
      expect(await createStores(database).accounts.count()).to.equal(0);
    } finally {
      await database.close();
    }
    await database.close(); // idempotent
    const error = await rejection(database.ping());
    expect(error.message).to.match(/destroyed/);
  });

  it('keeps PGlite data on disk in <dataDir>/db across close and reopen', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'hearth-pglite-'));
    const dataDir = path.join(root, 'nested', 'data'); // created on demand
    const credential: ScramCredential = {
      mechanism: 'SCRAM-SHA-256',
      salt: randomBytes(16),
      iterations: 4096,
      storedKey: randomBytes(32),
      serverKey: randomBytes(32),
    };
    try {
      const first = await openDatabase({ url: null, dataDir });
      try {
        expect((await migrateToLatest(first)).applied).to.include('0001_accounts');
        expect(
          await createAccountStore(first.db).create({ username: 'alice', domain: 'example.org', credentials: [credential] }),
        ).to.equal(true);
      } finally {
        await first.close();
      }
      expect(existsSync(path.join(dataDir, 'db', 'PG_VERSION'))).to.equal(true);

      const second = await openDatabase({ url: null, dataDir });
      try {
        expect(await migrateToLatest(second)).to.deep.equal({ applied: [] });
        const accounts = createAccountStore(second.db);
        expect(await accounts.exists('alice', 'example.org')).to.equal(true);
        expect(await accounts.getCredential('alice', 'example.org', 'SCRAM-SHA-256')).to.deep.equal({ ...credential, accountDisabled: false });
      } finally {
        await second.close();
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('fails clearly, without leaking the password, when PostgreSQL is unreachable', async () => {
    const error = await rejection(
      openDatabase({ url: 'postgres://hearth:s3cret-pw@127.0.0.1:1/hearth', dataDir: '/nonexistent' }),
    );
    expect(error.message).to.match(/^cannot connect to PostgreSQL at 127\.0\.0\.1:1\/hearth: /);
    expect(error.message).to.not.include('s3cret-pw');
  });

  if (process.env.DATABASE_URL) {
    it('opens PostgreSQL when a URL is given (and ignores dataDir)', async () => {
      const database = await openDatabase({ url: process.env.DATABASE_URL!, dataDir: '/nonexistent' });
      try {
        expect(database.kind).to.equal('postgres');
        await database.ping();
      } finally {
        await database.close();
      }
      await database.close();
    });
  }
});

describe('openTestDatabase', function () {
  this.timeout(60_000);

  it('gives independent, migrated in-memory databases', async () => {
    const one = await openTestDatabase();
    const two = await openTestDatabase();
    try {
      expect(one.kind).to.equal('pglite');
      expect(await migrateToLatest(one)).to.deep.equal({ applied: [] });
      await createStores(one).accounts.create({ username: 'alice', domain: 'example.org', credentials: [] });
      expect(await createStores(one).accounts.count()).to.equal(1);
      expect(await createStores(two).accounts.count()).to.equal(0);
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });
});
