import { expect } from 'chai';
import { sql } from 'kysely';
import { createAccountStore } from '../../src/storage/accounts.js';
import { createOfflineStore } from '../../src/storage/offline.js';
import { eachBackend } from '../helpers/database.js';

const DOMAIN = 'example.org';

const message = (n: number) => `<message to="alice@example.org" id="m${n}"><body>n°${n} ✉</body></message>`;

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

eachBackend('OfflineStore', (getDb, backend) => {
  const store = () => createOfflineStore(getDb().db);

  beforeEach(async () => {
    const accounts = createAccountStore(getDb().db);
    await accounts.create({ username: 'alice', domain: DOMAIN, credentials: [] });
    await accounts.create({ username: 'bob', domain: DOMAIN, credentials: [] });
  });

  it('stores up to the limit, then refuses', async () => {
    for (let i = 0; i < 3; i++) expect(await store().push('alice', DOMAIN, message(i), 3)).to.equal(true);
    expect(await store().push('alice', DOMAIN, message(3), 3)).to.equal(false);
    expect(await store().count('alice', DOMAIN)).to.equal(3);
    // The limit is per account.
    expect(await store().push('bob', DOMAIN, message(0), 3)).to.equal(true);
    // A higher limit lets more in; limit 0 stores nothing.
    expect(await store().push('alice', DOMAIN, message(3), 4)).to.equal(true);
    expect(await store().push('bob', DOMAIN, message(1), 0)).to.equal(false);
    expect(await store().count('bob', DOMAIN)).to.equal(1);
  });

  it('rejects an invalid limit', async () => {
    expect(await rejection(store().push('alice', DOMAIN, message(0), -1))).to.be.instanceOf(RangeError);
    expect(await rejection(store().push('alice', DOMAIN, message(0), 1.5))).to.be.instanceOf(RangeError);
    expect(await rejection(store().list('alice', DOMAIN, -1))).to.be.instanceOf(RangeError);
  });

  it('refuses a message for an account that does not exist', async () => {
    expect(await store().push('ghost', DOMAIN, message(0), 10)).to.equal(false);
    expect(await store().push('alice', 'example.net', message(0), 10)).to.equal(false);
    expect(await store().count('ghost', DOMAIN)).to.equal(0);
  });

  it('lists oldest first, with ids, stanzas and dates, optionally limited', async () => {
    const before = Date.now();
    for (let i = 0; i < 5; i++) await store().push('alice', DOMAIN, message(i), 100);
    await store().push('bob', DOMAIN, message(99), 100);
    const all = await store().list('alice', DOMAIN);
    expect(all.map((m) => m.stanza)).to.deep.equal([0, 1, 2, 3, 4].map(message));
    for (const m of all) {
      expect(m.id).to.be.a('number');
      expect(m.storedAt).to.be.instanceOf(Date);
      expect(Math.abs(m.storedAt.getTime() - before)).to.be.below(60_000);
    }
    expect([...all.map((m) => m.id)].sort((a, b) => a - b)).to.deep.equal(all.map((m) => m.id));
    expect((await store().list('alice', DOMAIN, 2)).map((m) => m.stanza)).to.deep.equal([message(0), message(1)]);
    expect(await store().list('alice', DOMAIN, 0)).to.deep.equal([]);
    expect(await store().list('ghost', DOMAIN)).to.deep.equal([]);
  });

  it("removes only the account's own messages, by id", async () => {
    for (let i = 0; i < 4; i++) await store().push('alice', DOMAIN, message(i), 100);
    await store().push('bob', DOMAIN, message(10), 100);
    const alice = await store().list('alice', DOMAIN);
    const [bobs] = await store().list('bob', DOMAIN);
    expect(await store().remove('alice', DOMAIN, [])).to.equal(0);
    // Bob's id and an unknown id are ignored.
    expect(await store().remove('alice', DOMAIN, [alice[0].id, alice[2].id, bobs.id, 987654321])).to.equal(2);
    expect((await store().list('alice', DOMAIN)).map((m) => m.stanza)).to.deep.equal([message(1), message(3)]);
    expect(await store().count('bob', DOMAIN)).to.equal(1);
    expect(await store().remove('alice', DOMAIN, [alice[0].id])).to.equal(0);
    expect(await rejection(store().remove('alice', DOMAIN, [1.5]))).to.be.instanceOf(TypeError);
  });

  it('removes many ids at once', async () => {
    for (let i = 0; i < 300; i++) await store().push('alice', DOMAIN, message(i), 1000);
    const ids = (await store().list('alice', DOMAIN)).map((m) => m.id);
    expect(await store().remove('alice', DOMAIN, ids.slice(0, 299))).to.equal(299);
    expect((await store().list('alice', DOMAIN)).map((m) => m.stanza)).to.deep.equal([message(299)]);
  });

  it('purges one account', async () => {
    for (let i = 0; i < 3; i++) await store().push('alice', DOMAIN, message(i), 100);
    await store().push('bob', DOMAIN, message(0), 100);
    expect(await store().purge('alice', DOMAIN)).to.equal(3);
    expect(await store().purge('alice', DOMAIN)).to.equal(0);
    expect(await store().count('alice', DOMAIN)).to.equal(0);
    expect(await store().count('bob', DOMAIN)).to.equal(1);
    // Room again after a purge.
    expect(await store().push('alice', DOMAIN, message(5), 1)).to.equal(true);
  });

  it('stores exactly the limit out of 50 concurrent pushes', async function () {
    this.timeout(60_000);
    const started = process.hrtime.bigint();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => store().push('alice', DOMAIN, message(i), 20)),
    );
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    console.log(`      50 concurrent pushes on ${backend}: ${ms.toFixed(0)} ms`);
    expect(results.filter(Boolean)).to.have.length(20);
    expect(await store().count('alice', DOMAIN)).to.equal(20);
    // Exactly the accepted messages are stored.
    const stored = new Set((await store().list('alice', DOMAIN)).map((m) => m.stanza));
    const accepted = new Set(results.flatMap((ok, i) => (ok ? [message(i)] : [])));
    expect(stored).to.deep.equal(accepted);
  });

  it('group-commits concurrent pushes of one store: per-account limits, arrival order, missing accounts refused', async () => {
    const offline = store();
    const pushes = Array.from({ length: 30 }, (_, i) => {
      const to = i % 3 === 0 ? 'bob' : i % 3 === 1 ? 'alice' : 'nobody';
      return offline.push(to, DOMAIN, message(i), 5);
    });
    const results = await Promise.all(pushes);
    // alice gets i = 1, 4, 7, 10, 13 (the first five), bob 0, 3, 6, 9, 12; nobody nothing.
    expect(results.flatMap((ok, i) => (ok ? [i] : []))).to.deep.equal([0, 1, 3, 4, 6, 7, 9, 10, 12, 13]);
    expect((await offline.list('alice', DOMAIN)).map((m) => m.stanza)).to.deep.equal([1, 4, 7, 10, 13].map(message));
    expect((await offline.list('bob', DOMAIN)).map((m) => m.stanza)).to.deep.equal([0, 3, 6, 9, 12].map(message));
  });

  it('goes with the account', async () => {
    for (let i = 0; i < 3; i++) await store().push('alice', DOMAIN, message(i), 100);
    await store().push('bob', DOMAIN, message(0), 100);
    expect(await createAccountStore(getDb().db).delete('alice', DOMAIN)).to.equal(true);
    expect(await store().count('alice', DOMAIN)).to.equal(0);
    const { rows } = await sql<{ username: string }>`select distinct username from offline_messages`.execute(getDb().db);
    expect(rows.map((row) => row.username)).to.deep.equal(['bob']);
  });
});
