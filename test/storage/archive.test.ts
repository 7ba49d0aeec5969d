// The message archive repository (XEP-0313): group-committed appends, pages by id in both
// directions, filters, counts, full-text search, retention, preferences, and deletion with
// the account — on PGlite, and on PostgreSQL when DATABASE_URL is set.
import { expect } from 'chai';
import { createAccountStore } from '../../src/storage/accounts.js';
import { createArchiveStore, type ArchiveEntry, type ArchivePageRequest, type ArchiveStore } from '../../src/storage/archive.js';
import { eachBackend } from '../helpers/database.js';

const DOMAIN = 'example.org';
const BASE = BigInt(Date.UTC(2024, 0, 1)) << 12n;

function entry(n: number, overrides: Partial<ArchiveEntry> = {}): ArchiveEntry {
  const withJid = overrides.with ?? (n % 2 === 0 ? 'bob@example.org' : 'carol@example.net');
  return {
    username: 'alice',
    domain: DOMAIN,
    id: BASE + BigInt(n) * 4096n,
    with: withJid,
    withResource: 'phone',
    outgoing: n % 3 === 0,
    type: 'chat',
    stanza: `<message id="m${n}" type="chat"><body>message ${n}</body></message>`,
    body: `message ${n}`,
    ...overrides,
  };
}

const ids = (page: { items: { id: bigint }[] }) => page.items.map((item) => Number((item.id - BASE) / 4096n));

eachBackend('ArchiveStore', (getDb) => {
  let store: ArchiveStore;
  const page = (request: Partial<ArchivePageRequest>) =>
    store.page('alice', DOMAIN, { filter: { includeGroupchat: false }, backward: false, max: 10, countLimit: 1000, ...request });

  beforeEach(async () => {
    store = createArchiveStore(getDb().db, { maxBatch: 7 });
    const accounts = createAccountStore(getDb().db);
    await accounts.create({ username: 'alice', domain: DOMAIN, credentials: [] });
    await accounts.create({ username: 'bob', domain: DOMAIN, credentials: [] });
  });

  it('group-commits concurrent appends, each resolving once stored; unknown accounts are left out', async () => {
    const results = await Promise.all([
      ...Array.from({ length: 30 }, (_, n) => store.append(entry(n))),
      store.append(entry(100, { username: 'nobody' })),
    ]);
    expect(results.slice(0, 30).every(Boolean)).to.equal(true);
    expect(results[30]).to.equal(false);
    expect(await store.count('alice', DOMAIN)).to.equal(30);
    // The same id twice is not stored twice.
    expect(await store.append(entry(0))).to.equal(false);
    await store.flush();
  });

  it('tells its backlog, and when it has shrunk (backpressure)', async () => {
    const appended = Array.from({ length: 30 }, (_, n) => store.append(entry(n)));
    expect(store.backlog(), 'nothing sent before the next turn of the event loop').to.equal(30);
    let relieved = false;
    const below = store.below(10).then(() => (relieved = true));
    expect(relieved).to.equal(false);
    await below;
    expect(store.backlog()).to.be.at.most(10);
    await Promise.all(appended);
    expect(store.backlog()).to.equal(0);
    await store.below(0);
    expect(await store.count('alice', DOMAIN)).to.equal(30);
  });

  it('pages forward and backward by id, with complete, count and index', async () => {
    await Promise.all(Array.from({ length: 25 }, (_, n) => store.append(entry(n))));
    const first = await page({ max: 10 });
    expect(ids(first)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(first).to.include({ complete: false, count: 25, index: 0 });
    const second = await page({ max: 10, after: first.items[9]!.id });
    expect(ids(second)).to.deep.equal([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    expect(second.index).to.equal(10);
    const third = await page({ max: 10, after: second.items[9]!.id });
    expect(ids(third)).to.deep.equal([20, 21, 22, 23, 24]);
    expect(third.complete).to.equal(true);

    const last = await page({ max: 10, backward: true });
    expect(ids(last), 'chronological within the last page').to.deep.equal([15, 16, 17, 18, 19, 20, 21, 22, 23, 24]);
    expect(last).to.include({ complete: false, index: 15 });
    const before = await page({ max: 10, before: last.items[0]!.id });
    expect(ids(before)).to.deep.equal([5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    const start = await page({ max: 10, before: before.items[0]!.id });
    expect(ids(start)).to.deep.equal([0, 1, 2, 3, 4]);
    expect(start.complete, 'the first page, paging backwards').to.equal(true);

    const countOnly = await page({ max: 0 });
    expect(countOnly).to.deep.include({ items: [], count: 25, complete: false });
    const capped = await page({ max: 10, countLimit: 20 });
    expect(capped.count, 'more than countLimit: not counted').to.equal(undefined);
    expect((await page({ max: 10, countLimit: 0 })).count, 'not asked').to.equal(undefined);
    const whole = await page({ max: 30, countLimit: 0 });
    expect(whole, 'a page holding everything counts for free').to.include({ complete: true, count: 25, index: 0 });
    expect((await page({ max: 30, countLimit: 0, after: first.items[0]!.id })).count, 'anchored: not known').to.equal(undefined);
  });

  it('filters by contact (bare or full), id range, ids, groupchat and full text', async () => {
    await Promise.all([
      ...Array.from({ length: 10 }, (_, n) => store.append(entry(n))),
      store.append(entry(10, { with: 'room@muc.example.org', withResource: 'nick', type: 'groupchat', body: 'groupchat hello' })),
      store.append(entry(11, { withResource: 'laptop', body: 'Where art thou, Romeo?', with: 'bob@example.org' })),
    ]);
    expect(ids(await page({ filter: { includeGroupchat: false, with: { jid: 'bob@example.org' } } }))).to.deep.equal([0, 2, 4, 6, 8, 11]);
    expect(ids(await page({ filter: { includeGroupchat: false, with: { jid: 'bob@example.org', resource: 'laptop' } } }))).to.deep.equal([11]);
    expect(ids(await page({ filter: { includeGroupchat: false, minId: BASE + 3n * 4096n, maxId: BASE + 5n * 4096n } }))).to.deep.equal([3, 4, 5]);
    expect(ids(await page({ filter: { includeGroupchat: false, ids: [BASE + 7n * 4096n, BASE + 1n * 4096n] } }))).to.deep.equal([1, 7]);
    expect(ids(await page({ max: 20, filter: { includeGroupchat: true } }))).to.have.length(12);
    expect(ids(await page({ max: 20, filter: { includeGroupchat: false } }))).to.not.include(10);
    expect(ids(await page({ filter: { includeGroupchat: false, fulltext: 'romeo' } }))).to.deep.equal([11]);
    expect(ids(await page({ filter: { includeGroupchat: false, fulltext: '"art thou"' } }))).to.deep.equal([11]);
    expect(ids(await page({ filter: { includeGroupchat: false, fulltext: 'juliet' } }))).to.deep.equal([]);
  });

  it('knows which ids exist, and the first and last', async () => {
    expect(await store.bounds('alice', DOMAIN)).to.equal(null);
    await Promise.all([store.append(entry(3)), store.append(entry(1)), store.append(entry(2))]);
    expect(await store.bounds('alice', DOMAIN)).to.deep.equal({ first: BASE + 4096n, last: BASE + 3n * 4096n });
    const found = await store.existing('alice', DOMAIN, [BASE + 4096n, BASE + 5n * 4096n]);
    expect([...found]).to.deep.equal([BASE + 4096n]);
    expect((await store.existing('bob', DOMAIN, [BASE + 4096n])).size, 'per archive').to.equal(0);
  });

  it('expires old rows in bounded batches, account by account', async () => {
    await Promise.all(Array.from({ length: 12 }, (_, n) => store.append(entry(n))));
    await Promise.all(Array.from({ length: 5 }, (_, n) => store.append(entry(n, { username: 'bob' }))));
    const cutoff = BASE + 8n * 4096n;
    let cursor = null;
    let deleted = 0;
    let statements = 0;
    do {
      const step: Awaited<ReturnType<ArchiveStore['expire']>> = await store.expire(cutoff, cursor, 1, 3);
      deleted += step.deleted;
      expect(step.deleted).to.be.at.most(3);
      cursor = step.next;
      statements++;
    } while (cursor && statements < 50);
    expect(deleted).to.equal(8 + 5);
    expect(ids(await page({ max: 20 }))).to.deep.equal([8, 9, 10, 11]);
    expect(await store.count('bob', DOMAIN)).to.equal(0);
  });

  it('keeps preferences per account, and drops the archive with the account', async () => {
    expect(await store.prefs('alice', DOMAIN)).to.equal(null);
    expect(await store.setPrefs('alice', DOMAIN, { default: 'roster', always: ['bob@example.org'], never: ['eve@example.net/x'] })).to.equal(true);
    expect(await store.prefs('alice', DOMAIN)).to.deep.equal({ default: 'roster', always: ['bob@example.org'], never: ['eve@example.net/x'] });
    expect(await store.setPrefs('alice', DOMAIN, { default: 'never', always: [], never: [] })).to.equal(true);
    expect(await store.prefs('alice', DOMAIN)).to.deep.equal({ default: 'never', always: [], never: [] });
    expect(await store.setPrefs('nobody', DOMAIN, { default: 'never', always: [], never: [] })).to.equal(false);

    await store.append(entry(1));
    expect(await store.purge('bob', DOMAIN)).to.equal(0);
    await createAccountStore(getDb().db).delete('alice', DOMAIN);
    expect(await store.count('alice', DOMAIN)).to.equal(0);
    expect(await store.prefs('alice', DOMAIN)).to.equal(null);
  });

  it('purges one archive', async () => {
    await Promise.all([store.append(entry(1)), store.append(entry(2)), store.append(entry(3, { username: 'bob' }))]);
    expect(await store.purge('alice', DOMAIN)).to.equal(2);
    expect(await store.count('alice', DOMAIN)).to.equal(0);
    expect(await store.count('bob', DOMAIN)).to.equal(1);
  });
});
