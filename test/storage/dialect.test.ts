// Behaviour the repositories rely on, checked on both backends — above all that
// the PGlite driver serialises its single connection so transactions are not
// interleaved with other queries.
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { isAbortedTransactionError, sql } from 'kysely';
import { createAccountStore } from '../../src/storage/accounts.js';
import { eachBackend } from '../helpers/database.js';

const newAccount = (username: string) => ({ username, domain: 'example.org', credentials: [] });

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

eachBackend('dialect', (getDb, backend) => {
  const store = () => createAccountStore(getDb().db);

  it('does not let 50 parallel creates leak into a concurrent transaction', async () => {
    const db = getDb().db;
    let insideTransaction!: () => void;
    const transactionStarted = new Promise<void>((resolve) => (insideTransaction = resolve));
    // repeatable read: on PostgreSQL, other connections' commits stay invisible;
    // on PGlite, writes interleaved into this session would still show up.
    const transaction = db.transaction().setIsolationLevel('repeatable read').execute(async (trx) => {
      await createAccountStore(trx).create(newAccount('in-trx'));
      insideTransaction();
      const before = await createAccountStore(trx).count();
      await sleep(50); // the parallel creates are all queued or running now
      const after = await createAccountStore(trx).count();
      expect(after, 'no other writes became visible mid-transaction').to.equal(before);
      throw new Error('roll back');
    });
    await transactionStarted;
    const creates = Array.from({ length: 50 }, (_, i) => store().create(newAccount(`user${i}`)));
    const [outcome, ...created] = await Promise.allSettled([transaction, ...creates]);
    expect(outcome.status).to.equal('rejected');
    expect((outcome as PromiseRejectedResult).reason.message).to.equal('roll back');
    expect(created.every((result) => result.status === 'fulfilled' && result.value === true)).to.equal(true);
    // The rollback undid only the transaction's own insert.
    expect(await store().count()).to.equal(50);
    expect(await store().exists('in-trx', 'example.org')).to.equal(false);
  });

  it('commits a transaction that runs alongside parallel creates', async () => {
    const db = getDb().db;
    const creates = Array.from({ length: 50 }, (_, i) => store().create(newAccount(`user${i}`)));
    const transaction = db.transaction().execute(async (trx) => {
      const accounts = createAccountStore(trx);
      await accounts.create(newAccount('in-trx-1'));
      await sleep(5);
      await accounts.create(newAccount('in-trx-2'));
    });
    await Promise.all([transaction, ...creates]);
    expect(await store().count()).to.equal(52);
  });

  it('releases the connection after a failing query', async () => {
    const error = await rejection(sql`select * from no_such_table where id = ${1}`.execute(getDb().db));
    expect((error as { code?: string }).code).to.equal('42P01');
    await getDb().ping();
    expect(await store().count()).to.equal(0);
  });

  it('keeps the statement parameters out of errors (they get logged)', async () => {
    const error = await rejection(sql`insert into no_such_table values (${'secret-message-body'})`.execute(getDb().db));
    expect((error as { code?: string }).code).to.equal('42P01');
    expect(JSON.stringify({ ...(error as object) })).to.not.include('secret-message-body');
  });

  it('reports unique violations with the PostgreSQL error code', async () => {
    await store().create(newAccount('alice'));
    const error = await rejection(
      getDb().db.insertInto('accounts').values({ domain: 'example.org', username: 'alice' }).execute(),
    );
    expect((error as { code?: string }).code).to.equal('23505');
  });

  it('reports affected row counts for insert, update and delete', async () => {
    const db = getDb().db;
    const inserted = await db
      .insertInto('accounts')
      .values([
        { domain: 'example.org', username: 'a' },
        { domain: 'example.org', username: 'b' },
        { domain: 'example.net', username: 'c' },
      ])
      .executeTakeFirstOrThrow();
    expect(inserted.numInsertedOrUpdatedRows).to.equal(3n);
    const updated = await db
      .updateTable('accounts')
      .set({ domain: 'example.com' })
      .where('domain', '=', 'example.org')
      .executeTakeFirstOrThrow();
    expect(updated.numUpdatedRows).to.equal(2n);
    const deleted = await db.deleteFrom('accounts').where('domain', '=', 'nowhere').executeTakeFirstOrThrow();
    expect(deleted.numDeletedRows).to.equal(0n);
  });

  it('runs several statements in one parameterless query', async () => {
    await sql
      .raw(`insert into accounts (domain, username) values ('example.org', 'x'); insert into accounts (domain, username) values ('example.org', 'y')`)
      .execute(getDb().db);
    expect(await store().count()).to.equal(2);
  });

  it('rolls back to a savepoint', async () => {
    const trx = await getDb().db.startTransaction().execute();
    try {
      await trx.insertInto('accounts').values({ domain: 'example.org', username: 'kept' }).execute();
      const afterKept = await trx.savepoint('after kept').execute();
      await afterKept.insertInto('accounts').values({ domain: 'example.org', username: 'dropped' }).execute();
      const back = await afterKept.rollbackToSavepoint('after kept').execute();
      await back.commit().execute();
    } catch (error) {
      await trx.rollback().execute();
      throw error;
    }
    const names = (await store().list({ limit: 10 })).map((record) => record.username);
    expect(names).to.deep.equal(['kept']);
  });

  it('refuses to commit a transaction an error has aborted', async () => {
    const error = await rejection(
      getDb()
        .db.transaction()
        .execute(async (trx) => {
          await trx.insertInto('accounts').values({ domain: 'example.org', username: 'ghost' }).execute();
          await sql`select * from no_such_table where id = ${1}`.execute(trx).catch(() => undefined);
        }),
    );
    expect(isAbortedTransactionError(error)).to.equal(true);
    expect(await store().exists('ghost', 'example.org')).to.equal(false);
    await getDb().ping();
  });

  it('returns timestamps as Date and bytea as bytes', async () => {
    const { rows } = await sql<{ at: unknown; bytes: unknown }>`
      select now() as at, ${Buffer.from([0, 255])}::bytea as bytes`.execute(getDb().db);
    expect(rows[0].at).to.be.instanceOf(Date);
    expect(rows[0].bytes).to.be.instanceOf(Uint8Array);
    expect(Array.from(rows[0].bytes as Uint8Array)).to.deep.equal([0, 255]);
  });

  if (backend === 'pglite') {
    it('streams query results in chunks', async () => {
      await store().createMany(Array.from({ length: 7 }, (_, i) => newAccount(`s${i}`)));
      const seen: string[] = [];
      for await (const row of getDb().db.selectFrom('accounts').select('username').orderBy('username').stream(3)) {
        seen.push(row.username);
      }
      expect(seen).to.deep.equal(['s0', 's1', 's2', 's3', 's4', 's5', 's6']);
    });
  }
});
