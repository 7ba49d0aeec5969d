// The PostgreSQL change feed (schema/0015, src/storage/change-feed.ts): two processes' stores
// on one database, as two nodes of a cluster or a server and a command line. What one writes,
// the other's caches and account indexes see once the notice has arrived; a feed that lost
// its connection answers nothing from memory until it listens again; a notice from another
// schema (another Hearth on the same database) changes nothing.
import { expect } from 'chai';
import { sql } from 'kysely';
import net from 'node:net';
import pg from 'pg';
import { openDatabase, type Database } from '../../src/storage/database.js';
import { createStores, type Stores } from '../../src/storage/index.js';
import { listenForChanges, type ChangeFeed } from '../../src/storage/change-feed.js';
import { openIsolatedDatabase, type IsolatedDatabase } from '../helpers/database.js';

const DOMAIN = 'feed.example';
const client = Buffer.from('device-1');
const token = (slot: 'current' | 'new', text: string) => ({ slot, mechanism: 'HT-SHA-256-NONE', sealedToken: Buffer.from(text), expiresAt: new Date(Date.now() + 86_400_000) });

/** Polls `check` until it holds (notices arrive just after the commit), for at most 5 s. */
async function eventually(check: () => Promise<boolean> | boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within 5 s: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Waits until `read` is answered from memory (the notices of the writes before it have come). */
async function settled(database: Database, read: () => Promise<unknown>, what: string): Promise<void> {
  const queries = countQueries(database);
  try {
    await eventually(async () => {
      const before = queries();
      await read();
      return queries() === before;
    }, what);
  } finally {
    database.observeQueries(null);
  }
}

/** Counts the statements a Database runs. */
function countQueries(database: Database): () => number {
  let count = 0;
  database.observeQueries(() => count++);
  return () => count;
}

describe('PostgreSQL change feed', function () {
  this.timeout(30_000);
  let isolated: IsolatedDatabase | null = null;
  let other: Database | null = null;
  let here: Stores;
  let there: Stores;

  before(async function () {
    if (!process.env.DATABASE_URL) {
      // The feed is PostgreSQL's LISTEN/NOTIFY; embedded PGlite has one writer and no feed.
      this.skip();
    }
    isolated = await openIsolatedDatabase('postgres');
    other = await openDatabase({ url: isolated.url!, dataDir: null, poolSize: 2, listenForChanges: true });
    here = createStores(isolated.database);
    there = createStores(other);
    await here.accounts.create({ username: 'alice', domain: DOMAIN, credentials: [] });
  });

  after(async function () {
    await other?.close();
    await isolated?.dispose();
  });

  it('listens, under a name an operator can see', async function () {
    expect(isolated!.database.changes.live).to.equal(true);
    expect(other!.changes.live).to.equal(true);
    const { rows } = await sql<{ count: string }>`select count(*) as count from pg_stat_activity where application_name = ${`hearth change feed (${schemaOf(isolated!.url!)})`}`.execute(isolated!.database.db);
    expect(Number(rows[0].count)).to.equal(2);
  });

  it('a FAST token changed by one process is read again by the other', async function () {
    await here.fastTokens.put('alice', DOMAIN, client, token('current', 'first'));
    await eventually(async () => (await there.fastTokens.find('alice', DOMAIN, client))[0]?.sealedToken.toString() === 'first', 'the token is seen');
    await settled(other!, () => there.fastTokens.find('alice', DOMAIN, client), 'the token is read from memory');

    await here.fastTokens.remove('alice', DOMAIN, client, 'current');
    await eventually(async () => (await there.fastTokens.find('alice', DOMAIN, client)).length === 0, 'the revocation is seen');
  });

  it('a password changed, an account disabled or deleted by one process reaches the other’s sign-ins', async function () {
    const salt = (n: number) => ({ mechanism: 'SCRAM-SHA-256' as const, salt: Buffer.from([n]), iterations: 4096, storedKey: Buffer.alloc(32, n), serverKey: Buffer.alloc(32, n) });
    await here.accounts.create({ username: 'dave', domain: DOMAIN, credentials: [salt(1)] });
    expect((await there.accounts.getCredential('dave', DOMAIN, 'SCRAM-SHA-256'))!.salt[0]).to.equal(1);
    await settled(other!, () => there.accounts.getCredential('dave', DOMAIN, 'SCRAM-SHA-256'), 'the credential is read from memory');

    await here.accounts.setCredentials('dave', DOMAIN, [salt(2)]);
    await eventually(async () => (await there.accounts.getCredential('dave', DOMAIN, 'SCRAM-SHA-256'))!.salt[0] === 2, 'the new password is seen');
    await settled(other!, () => there.accounts.getCredential('dave', DOMAIN, 'SCRAM-SHA-256'), 'the credential is read from memory');
    await here.accounts.setDisabled('dave', DOMAIN, true);
    await eventually(async () => (await there.accounts.getCredential('dave', DOMAIN, 'SCRAM-SHA-256'))!.accountDisabled, 'the disabling is seen');
    await settled(other!, () => there.accounts.getCredential('dave', DOMAIN, 'SCRAM-SHA-256'), 'the credential is read from memory');
    await here.accounts.delete('dave', DOMAIN);
    await eventually(async () => (await there.accounts.getCredential('dave', DOMAIN, 'SCRAM-SHA-256')) === null, 'the deletion is seen');
  });

  it('archive bounds, offline messages and blocklists written by one process show in the other', async function () {
    expect(await there.archive.bounds('alice', DOMAIN)).to.equal(null);
    expect(await there.offline.list('alice', DOMAIN)).to.deep.equal([]);
    expect(await there.blocklist.list('alice', DOMAIN)).to.deep.equal([]);
    const queries = countQueries(other!);
    await there.archive.bounds('alice', DOMAIN);
    await there.offline.list('alice', DOMAIN);
    await there.blocklist.list('alice', DOMAIN);
    expect(queries(), 'empty things are known empty without a query').to.equal(0);

    await here.archive.append({ username: 'alice', domain: DOMAIN, id: 42n, with: 'bob@feed.example', withResource: '', outgoing: false, type: 'chat', stanza: '<message/>', body: null } as never);
    await here.archive.flush();
    await here.offline.push('alice', DOMAIN, '<message from="bob@feed.example"><body>hi</body></message>', 100);
    await here.blocklist.add('alice', DOMAIN, ['mallory@evil.example'], 100);
    await eventually(async () => (await there.archive.bounds('alice', DOMAIN))?.last === 42n, 'the archived message is seen');
    await eventually(async () => (await there.offline.list('alice', DOMAIN)).length === 1, 'the offline message is seen');
    await eventually(async () => (await there.blocklist.list('alice', DOMAIN)).includes('mallory@evil.example'), 'the block is seen');
    other!.observeQueries(null);

    await here.archive.purge('alice', DOMAIN);
    await eventually(async () => (await there.archive.bounds('alice', DOMAIN)) === null, 'the purge is seen');
  });

  it('a deleted account’s tokens are forgotten through the cascade, and a truncated table everywhere', async function () {
    await here.accounts.create({ username: 'carol', domain: DOMAIN, credentials: [] });
    await here.fastTokens.put('carol', DOMAIN, client, token('current', 'c'));
    await eventually(async () => (await there.fastTokens.find('carol', DOMAIN, client)).length === 1, 'the token is seen');
    await here.accounts.delete('carol', DOMAIN);
    await eventually(async () => (await there.fastTokens.find('carol', DOMAIN, client)).length === 0, 'the deletion is seen');

    await here.fastTokens.put('alice', DOMAIN, client, token('current', 'again'));
    await eventually(async () => (await there.fastTokens.find('alice', DOMAIN, client)).length === 1, 'the token is seen');
    await sql`truncate table fast_tokens`.execute(isolated!.database.db);
    await eventually(async () => (await there.fastTokens.find('alice', DOMAIN, client)).length === 0, 'the truncation is seen');
  });

  it('keeps what its own writes put in memory when their notices come back', async function () {
    await here.fastTokens.put('alice', DOMAIN, client, token('new', 'own'));
    await settled(isolated!.database, () => here.fastTokens.find('alice', DOMAIN, client), 'the token is read from memory');
    await here.fastTokens.promote('alice', DOMAIN, client);
    // The promotion's notice reaches this process's own feed too; the other process forgets.
    await eventually(async () => (await there.fastTokens.find('alice', DOMAIN, client)).every((t) => t.slot === 'current'), 'the promotion is seen there');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const queries = countQueries(isolated!.database);
    expect((await here.fastTokens.find('alice', DOMAIN, client)).map((t) => t.slot)).to.deep.equal(['current']);
    expect(queries(), 'the promotion was known here without reading it back').to.equal(0);
    isolated!.database.observeQueries(null);
  });

  it('ignores notices from another schema', async function () {
    await here.fastTokens.put('alice', DOMAIN, client, token('current', 'mine'));
    await eventually(async () => (await there.fastTokens.find('alice', DOMAIN, client)).length === 1, 'the token is seen');
    await settled(other!, () => there.fastTokens.find('alice', DOMAIN, client), 'the token is read from memory');
    const queries = countQueries(other!);
    await sql`select pg_notify('hearth_changes', json_build_array('some_other_schema', 'fast_tokens', ${DOMAIN}::text, 'alice')::text)`.execute(isolated!.database.db);
    await sql`select pg_notify('hearth_changes', 'not json')`.execute(isolated!.database.db);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await there.fastTokens.find('alice', DOMAIN, client);
    expect(queries(), 'still from memory').to.equal(0);
    other!.observeQueries(null);
  });

  it('answers from the database while the feed is down, and from memory once it listens again', async function () {
    const feed: ChangeFeed = await listenForChanges(isolated!.url!, { retryDelays: [300] });
    const lonely = { ...other!, db: other!.db, kind: other!.kind, changes: feed } as Database;
    const stores = createStores(lonely);
    try {
      await here.fastTokens.put('alice', DOMAIN, client, token('current', 'before'));
      await eventually(async () => (await stores.fastTokens.find('alice', DOMAIN, client))[0]?.sealedToken.toString() === 'before', 'the token is seen');

      // Cut the listening connection, as a PostgreSQL restart or a network failure would.
      const admin = new pg.Client({ connectionString: isolated!.url! });
      await admin.connect();
      try {
        // Three feeds listen on this schema; the newest is this test's own.
        const { rows } = await admin.query<{ ended: boolean }>(
          `select pg_terminate_backend(pid) as ended from pg_stat_activity where application_name = $1 order by backend_start desc limit 1`,
          [`hearth change feed (${schemaOf(isolated!.url!)})`],
        );
        expect(rows[0]?.ended).to.equal(true);
      } finally {
        await admin.end();
      }
      await eventually(() => !feed.live, 'the feed notices it is down');
      // A change made while nobody listens is not missed: reads go to the database.
      await here.fastTokens.put('alice', DOMAIN, client, token('current', 'during'));
      expect((await stores.fastTokens.find('alice', DOMAIN, client))[0].sealedToken.toString()).to.equal('during');

      await eventually(() => feed.live, 'the feed listens again');
      await here.fastTokens.put('alice', DOMAIN, client, token('current', 'after'));
      await eventually(async () => (await stores.fastTokens.find('alice', DOMAIN, client))[0]?.sealedToken.toString() === 'after', 'changes are heard again');
    } finally {
      await feed.close();
    }
    expect(feed.live).to.equal(false);
  });

  it('stops answering from memory when its connection silently stops carrying notices', async function () {
    // A proxy that can go quiet without closing anything, as a half-open TCP connection does.
    const database = new URL(isolated!.url!);
    let quiet = false;
    const sockets: net.Socket[] = [];
    const proxy = net.createServer((inbound) => {
      const outbound = net.connect(Number(database.port || 5432), database.hostname);
      sockets.push(inbound, outbound);
      inbound.on('data', (chunk) => quiet || outbound.write(chunk));
      outbound.on('data', (chunk) => quiet || inbound.write(chunk));
      inbound.on('error', () => outbound.destroy());
      outbound.on('error', () => inbound.destroy());
      inbound.on('close', () => outbound.destroy());
      outbound.on('close', () => inbound.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const proxied = new URL(isolated!.url!);
    proxied.host = `127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
    const feed = await listenForChanges(proxied.toString(), { heartbeatMs: 100, probeTimeoutMs: 300, retryDelays: [200] });
    try {
      expect(feed.live).to.equal(true);
      quiet = true;
      await eventually(() => !feed.live, 'the feed notices that its own notice did not come back');
      quiet = false;
      for (const socket of sockets.splice(0)) socket.destroy();
      await eventually(() => feed.live, 'the feed listens again once notices flow');
    } finally {
      await feed.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });
});

function schemaOf(url: string): string {
  const options = new URL(url).searchParams.get('options') ?? '';
  return /search_path=([^\s&]+)/.exec(options)?.[1] ?? 'public';
}
