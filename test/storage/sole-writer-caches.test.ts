// The caches the stores keep of FAST tokens and archive bounds: every write through them
// shows in the next read, a read that overlapped a write does not fill them, and what the
// database cascades away (a deleted account) is forgotten. Over embedded PGlite nobody else
// writes (SINGLE_WRITER); over PostgreSQL the change feed tells of other writers' changes,
// and while it is down nothing is answered from memory.
import { expect } from 'chai';
import { WriteStamps } from '../../src/storage/forgetting-around.js';
import { SINGLE_WRITER } from '../../src/storage/change-feed.js';
import { manualFeed } from '../helpers/change-feed.js';
import { withFastTokenCache } from '../../src/storage/fast-token-cache.js';
import { withArchiveBoundsCache } from '../../src/storage/archive-bounds-cache.js';
import type { FastTokenStore, StoredFastToken } from '../../src/storage/fast-tokens.js';
import type { ArchiveEntry, ArchiveStore } from '../../src/storage/archive.js';

function memoryTokenStore() {
  const rows = new Map<string, StoredFastToken[]>();
  const key = (u: string, d: string, c: Buffer) => `${d}/${u}/${c.toString('hex')}`;
  let finds = 0;
  let gate: Promise<void> | null = null;
  const store: FastTokenStore = {
    async find(username, domain, clientId) {
      finds++;
      const found = [...(rows.get(key(username, domain, clientId)) ?? [])];
      if (gate) await gate;
      return found;
    },
    async put(username, domain, clientId, token) {
      const k = key(username, domain, clientId);
      rows.set(k, [...(rows.get(k) ?? []).filter((t) => t.slot !== token.slot), token]);
      return true;
    },
    async promote(username, domain, clientId) {
      const k = key(username, domain, clientId);
      rows.set(k, (rows.get(k) ?? []).filter((t) => t.slot !== 'current').map((t) => ({ ...t, slot: 'current' as const })));
    },
    async remove(username, domain, clientId, slot) {
      const k = key(username, domain, clientId);
      rows.set(k, (rows.get(k) ?? []).filter((t) => t.slot !== slot));
    },
    async removeAccount(username, domain) {
      let n = 0;
      for (const [k, list] of rows) if (k.startsWith(`${domain}/${username}/`)) { n += list.length; rows.delete(k); }
      return n;
    },
    async removeExpired(now) {
      let n = 0;
      for (const [k, list] of rows) {
        const kept = list.filter((t) => t.expiresAt > now);
        n += list.length - kept.length;
        rows.set(k, kept);
      }
      return n;
    },
  };
  return { store, rows, finds: () => finds, hold: (p: Promise<void> | null) => (gate = p) };
}

const token = (slot: 'current' | 'new', text: string, expiresAt = new Date(Date.now() + 86_400_000)): StoredFastToken => ({ slot, mechanism: 'HT-SHA-256-NONE', sealedToken: Buffer.from(text), expiresAt });
const client = Buffer.from('c1');

describe('FAST token cache (embedded PGlite)', function () {
  it('answers a second read from memory and sees every write made through it', async function () {
    const mem = memoryTokenStore();
    const cached = withFastTokenCache(mem.store, SINGLE_WRITER);
    await cached.put('alice', 'd.example', client, token('new', 'A'));
    expect((await cached.find('alice', 'd.example', client)).map((t) => t.sealedToken.toString())).to.deep.equal(['A']);
    await cached.find('alice', 'd.example', client);
    expect(mem.finds()).to.equal(1);

    await cached.promote('alice', 'd.example', client);
    expect((await cached.find('alice', 'd.example', client)).map((t) => t.slot)).to.deep.equal(['current']);
    expect(mem.finds(), 'a promotion is known without reading it back').to.equal(1);

    await cached.put('alice', 'd.example', client, token('new', 'B'));
    expect((await cached.find('alice', 'd.example', client)).map((t) => t.sealedToken.toString()).sort()).to.deep.equal(['A', 'B']);
    await cached.remove('alice', 'd.example', client, 'current');
    expect((await cached.find('alice', 'd.example', client)).map((t) => t.sealedToken.toString())).to.deep.equal(['B']);
    expect(await cached.removeAccount('alice', 'd.example')).to.equal(1);
    expect(await cached.find('alice', 'd.example', client)).to.deep.equal([]);
  });

  it('keeps nothing for a client without tokens, and the tokens of at most 16 clients per account', async function () {
    const mem = memoryTokenStore();
    const cached = withFastTokenCache(mem.store, SINGLE_WRITER);
    // Sign-in attempts with made-up user-agent ids: every one is a read, none is kept.
    for (let i = 0; i < 50; i++) await cached.find('alice', 'd.example', Buffer.from(`made-up-${i}`));
    for (let i = 0; i < 50; i++) await cached.find('alice', 'd.example', Buffer.from(`made-up-${i}`));
    expect(mem.finds()).to.equal(100);

    const devices = Array.from({ length: 20 }, (_, i) => Buffer.from(`device-${i}`));
    for (const [i, device] of devices.entries()) await cached.put('alice', 'd.example', device, token('current', `T${i}`));
    for (const device of devices) await cached.find('alice', 'd.example', device);
    expect(mem.finds()).to.equal(120);
    for (const device of devices.slice(4)) await cached.find('alice', 'd.example', device);
    expect(mem.finds(), 'the 16 devices read last are in memory').to.equal(120);
    const first = await cached.find('alice', 'd.example', devices[0]!);
    expect(first.map((t) => t.sealedToken.toString())).to.deep.equal(['T0']);
    expect(mem.finds(), 'the first device was dropped for them').to.equal(121);
  });

  it('does not keep what a read returned when a write overlapped it', async function () {
    const mem = memoryTokenStore();
    const cached = withFastTokenCache(mem.store, SINGLE_WRITER);
    await cached.put('bob', 'd.example', client, token('current', 'old'));
    let release!: () => void;
    mem.hold(new Promise<void>((resolve) => (release = resolve)));
    const reading = cached.find('bob', 'd.example', client);
    await cached.removeAccount('bob', 'd.example');
    mem.hold(null);
    release();
    expect((await reading).length, 'the read began before the revocation').to.equal(1);
    expect(await cached.find('bob', 'd.example', client), 'but is not remembered').to.deep.equal([]);
  });

  it('keeps a read that overlapped only writes to other accounts', async function () {
    const mem = memoryTokenStore();
    const cached = withFastTokenCache(mem.store, SINGLE_WRITER);
    await cached.put('bob', 'd.example', client, token('current', 'kept'));
    let release!: () => void;
    mem.hold(new Promise<void>((resolve) => (release = resolve)));
    const reading = cached.find('bob', 'd.example', client);
    await cached.put('eve', 'd.example', client, token('current', 'other'));
    mem.hold(null);
    release();
    await reading;
    const finds = mem.finds();
    expect((await cached.find('bob', 'd.example', client))[0].sealedToken.toString()).to.equal('kept');
    expect(mem.finds(), 'remembered').to.equal(finds);
  });

  it('forgets a deleted account, and drops everything after expired tokens were removed', async function () {
    const mem = memoryTokenStore();
    const cached = withFastTokenCache(mem.store, SINGLE_WRITER);
    await cached.put('carol', 'd.example', client, token('current', 'C'));
    await cached.find('carol', 'd.example', client);
    mem.rows.clear(); // the database's cascade
    cached.forgetAccount('carol', 'd.example');
    expect(await cached.find('carol', 'd.example', client)).to.deep.equal([]);

    await cached.put('dave', 'd.example', client, token('current', 'D', new Date(Date.now() - 1000)));
    await cached.find('dave', 'd.example', client);
    expect(await cached.removeExpired(new Date())).to.equal(1);
    expect(await cached.find('dave', 'd.example', client)).to.deep.equal([]);
  });
});

function memoryArchive() {
  const ids = new Map<string, bigint[]>();
  let reads = 0;
  const k = (u: string, d: string) => `${d}/${u}`;
  const store = {
    async append(entry: ArchiveEntry) {
      ids.set(k(entry.username, entry.domain), [...(ids.get(k(entry.username, entry.domain)) ?? []), entry.id]);
      return true;
    },
    async bounds(username: string, domain: string) {
      reads++;
      const list = ids.get(k(username, domain)) ?? [];
      if (list.length === 0) return null;
      return { first: list.reduce((a, b) => (a < b ? a : b)), last: list.reduce((a, b) => (a > b ? a : b)) };
    },
    async purge(username: string, domain: string) {
      const n = ids.get(k(username, domain))?.length ?? 0;
      ids.delete(k(username, domain));
      return n;
    },
    async expire(beforeId: bigint) {
      let deleted = 0;
      for (const [key, list] of ids) {
        const kept = list.filter((id) => id >= beforeId);
        deleted += list.length - kept.length;
        ids.set(key, kept);
      }
      return { deleted, next: null };
    },
  } as unknown as ArchiveStore;
  return { store, ids, reads: () => reads };
}

const entry = (username: string, id: bigint) => ({ username, domain: 'd.example', id, with: 'x@d.example', withResource: '', outgoing: false, type: 'chat', stanza: '<message/>', body: null }) as unknown as ArchiveEntry;

describe('archive bounds cache (embedded PGlite)', function () {
  it('remembers an archive’s bounds and moves them with each message archived', async function () {
    const mem = memoryArchive();
    const cached = withArchiveBoundsCache(mem.store, SINGLE_WRITER);
    expect(await cached.bounds('alice', 'd.example')).to.equal(null);
    await cached.append(entry('alice', 10n));
    expect(await cached.bounds('alice', 'd.example')).to.deep.equal({ first: 10n, last: 10n });
    await cached.append(entry('alice', 12n));
    expect(await cached.bounds('alice', 'd.example')).to.deep.equal({ first: 10n, last: 12n });
    expect(mem.reads(), 'one read, then appends keep it exact').to.equal(1);
  });

  it('reads again after a purge, the retention, and an account deletion', async function () {
    const mem = memoryArchive();
    const cached = withArchiveBoundsCache(mem.store, SINGLE_WRITER);
    await cached.append(entry('bob', 5n));
    await cached.append(entry('bob', 9n));
    expect(await cached.bounds('bob', 'd.example')).to.deep.equal({ first: 5n, last: 9n });
    await cached.expire(7n, null, 10, 10);
    expect(await cached.bounds('bob', 'd.example')).to.deep.equal({ first: 9n, last: 9n });
    await cached.purge('bob', 'd.example');
    expect(await cached.bounds('bob', 'd.example')).to.equal(null);
    await cached.append(entry('bob', 20n));
    mem.ids.clear(); // the database's cascade
    cached.forgetAccount('bob', 'd.example');
    expect(await cached.bounds('bob', 'd.example')).to.equal(null);
  });
});

describe('caches over a change feed (PostgreSQL)', function () {
  it('FAST tokens: another writer’s change is read again once its notice arrives', async function () {
    const mem = memoryTokenStore();
    const control = manualFeed();
    const cached = withFastTokenCache(mem.store, control.feed);
    await cached.put('erin', 'd.example', client, token('current', 'E1'));
    await cached.find('erin', 'd.example', client);
    expect(mem.finds()).to.equal(1);
    // Another node rotates the token: its row changes beneath the cache.
    await mem.store.put('erin', 'd.example', client, token('current', 'E2'));
    control.notify('fast_tokens', 'someone-else', 'd.example');
    expect((await cached.find('erin', 'd.example', client))[0].sealedToken.toString(), 'another account’s notice changes nothing').to.equal('E1');
    control.notify('fast_tokens', 'erin', 'd.example');
    expect((await cached.find('erin', 'd.example', client))[0].sealedToken.toString()).to.equal('E2');
    expect(mem.finds()).to.equal(2);
  });

  it('FAST tokens: nothing from memory while the feed is down, nothing kept from a read it overlapped', async function () {
    const mem = memoryTokenStore();
    const control = manualFeed();
    const cached = withFastTokenCache(mem.store, control.feed);
    await cached.put('frank', 'd.example', client, token('current', 'F'));
    await cached.find('frank', 'd.example', client);
    control.setLive(false);
    await cached.find('frank', 'd.example', client);
    await cached.find('frank', 'd.example', client);
    expect(mem.finds(), 'every read went to the database').to.equal(3);

    control.setLive(true);
    let release!: () => void;
    mem.hold(new Promise<void>((resolve) => (release = resolve)));
    const reading = cached.find('frank', 'd.example', client);
    control.setLive(false);
    control.setLive(true);
    mem.hold(null);
    release();
    await reading;
    await cached.find('frank', 'd.example', client);
    expect(mem.finds(), 'the read that overlapped the outage was not kept').to.equal(5);
    await cached.find('frank', 'd.example', client);
    expect(mem.finds()).to.equal(5);
  });

  it('archive bounds: another writer’s messages and the feed going down', async function () {
    const mem = memoryArchive();
    const control = manualFeed();
    const cached = withArchiveBoundsCache(mem.store, control.feed);
    await cached.append(entry('gina', 3n));
    expect(await cached.bounds('gina', 'd.example')).to.deep.equal({ first: 3n, last: 3n });
    await mem.store.append(entry('gina', 8n)); // another node archived a message
    control.notify('archive', 'gina', 'd.example');
    expect(await cached.bounds('gina', 'd.example')).to.deep.equal({ first: 3n, last: 8n });
    const reads = mem.reads();
    control.setLive(false);
    await cached.bounds('gina', 'd.example');
    expect(mem.reads()).to.equal(reads + 1);
    control.setLive(true);
    await cached.bounds('gina', 'd.example');
    await cached.bounds('gina', 'd.example');
    expect(mem.reads(), 'read once after the feed came back, then from memory').to.equal(reads + 2);
  });
});

describe('write stamps', function () {
  it('tell a read whether its account was written since it began, evicted stamps counting for all', function () {
    const stamps = new WriteStamps(2);
    const began = stamps.now();
    stamps.written('a');
    expect(stamps.unchangedSince('a', began)).to.equal(false);
    expect(stamps.unchangedSince('b', began)).to.equal(true);
    const later = stamps.now();
    expect(stamps.unchangedSince('a', later)).to.equal(true);
    stamps.written('b');
    stamps.written('c'); // 'a' is evicted: every read that began before its stamp is refused
    expect(stamps.unchangedSince('z', began)).to.equal(false);
    expect(stamps.unchangedSince('z', later)).to.equal(true);
    stamps.writtenAll();
    expect(stamps.unchangedSince('z', later)).to.equal(false);
    expect(stamps.unchangedSince('z', stamps.now())).to.equal(true);
  });
});
