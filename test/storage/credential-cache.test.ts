import { expect } from 'chai';
import type { AccountStore } from '../../src/storage/accounts.js';
import { SINGLE_WRITER } from '../../src/storage/change-feed.js';
import { manualFeed } from '../helpers/change-feed.js';
import { withCredentialCache } from '../../src/storage/credential-cache.js';
import type { ScramCredential } from '../../src/sasl/credentials.js';

function credential(tag: number): ScramCredential {
  return { mechanism: 'SCRAM-SHA-1', salt: Buffer.from([tag]), iterations: 4096, storedKey: Buffer.from([tag]), serverKey: Buffer.from([tag]) };
}

/** A store whose reads are counted and can be held open, to interleave a write. */
function fakeStore() {
  const data = new Map<string, ScramCredential>();
  let reads = 0;
  let hold: Promise<void> | null = null;
  const store = {
    async getCredential(username: string) {
      reads++;
      const value = data.get(username) ?? null;
      if (hold) await hold;
      return value;
    },
    async setCredentials(username: string, _domain: string, credentials: ScramCredential[]) {
      data.set(username, credentials[0]!);
      return true;
    },
    async delete(username: string) {
      return data.delete(username);
    },
  } as unknown as AccountStore;
  return {
    store,
    data,
    reads: () => reads,
    holdReads(p: Promise<void> | null) {
      hold = p;
    },
  };
}

describe('credential cache (embedded database)', function () {
  it('serves repeated lookups from memory and forgets on password change and deletion', async function () {
    const fake = fakeStore();
    fake.data.set('alice', credential(1));
    const cached = withCredentialCache(fake.store, SINGLE_WRITER);
    expect((await cached.getCredential('alice', 'd', 'SCRAM-SHA-1'))!.salt[0]).to.equal(1);
    await cached.getCredential('alice', 'd', 'SCRAM-SHA-1');
    expect(fake.reads()).to.equal(1);

    await cached.setCredentials('alice', 'd', [credential(2)]);
    expect((await cached.getCredential('alice', 'd', 'SCRAM-SHA-1'))!.salt[0]).to.equal(2);
    await cached.delete('alice', 'd');
    expect(await cached.getCredential('alice', 'd', 'SCRAM-SHA-1')).to.equal(null);
  });

  it('does not cache a read that overlapped a write', async function () {
    const fake = fakeStore();
    fake.data.set('bob', credential(1));
    const cached = withCredentialCache(fake.store, SINGLE_WRITER);
    let release!: () => void;
    fake.holdReads(new Promise((r) => (release = r)));
    const slowRead = cached.getCredential('bob', 'd', 'SCRAM-SHA-1'); // reads the old value, then waits
    await cached.setCredentials('bob', 'd', [credential(2)]);
    fake.holdReads(null);
    release();
    expect((await slowRead)!.salt[0]).to.equal(1);
    expect((await cached.getCredential('bob', 'd', 'SCRAM-SHA-1'))!.salt[0]).to.equal(2);
  });

  it('is bounded, dropping the least recently used', async function () {
    const fake = fakeStore();
    for (const name of ['a', 'b', 'c']) fake.data.set(name, credential(name.charCodeAt(0)));
    const cached = withCredentialCache(fake.store, SINGLE_WRITER, 2);
    await cached.getCredential('a', 'd', 'SCRAM-SHA-1');
    await cached.getCredential('b', 'd', 'SCRAM-SHA-1');
    await cached.getCredential('a', 'd', 'SCRAM-SHA-1'); // a is now the most recent
    await cached.getCredential('c', 'd', 'SCRAM-SHA-1'); // evicts b
    const before = fake.reads();
    await cached.getCredential('a', 'd', 'SCRAM-SHA-1');
    expect(fake.reads()).to.equal(before);
    await cached.getCredential('b', 'd', 'SCRAM-SHA-1');
    expect(fake.reads()).to.equal(before + 1);
  });
});

describe('credential cache over a change feed (PostgreSQL)', function () {
  it('reads a credential again once another writer’s notice for its account arrives', async function () {
    const fake = fakeStore();
    fake.data.set('erin', credential(1));
    const control = manualFeed();
    const cached = withCredentialCache(fake.store, control.feed);
    await cached.getCredential('erin', 'd', 'SCRAM-SHA-1');
    // Another node changes erin's password beneath the cache.
    fake.data.set('erin', credential(2));
    control.notify('credentials', 'someone-else', 'd');
    expect((await cached.getCredential('erin', 'd', 'SCRAM-SHA-1'))!.salt[0], 'another account’s notice changes nothing').to.equal(1);
    control.notify('credentials', 'erin', 'd');
    expect((await cached.getCredential('erin', 'd', 'SCRAM-SHA-1'))!.salt[0]).to.equal(2);
    expect(fake.reads()).to.equal(2);
  });

  it('answers nothing from memory while the feed is down, and keeps no read that overlapped an outage', async function () {
    const fake = fakeStore();
    fake.data.set('frank', credential(1));
    const control = manualFeed();
    const cached = withCredentialCache(fake.store, control.feed);
    await cached.getCredential('frank', 'd', 'SCRAM-SHA-1');
    control.setLive(false);
    await cached.getCredential('frank', 'd', 'SCRAM-SHA-1');
    await cached.getCredential('frank', 'd', 'SCRAM-SHA-1');
    expect(fake.reads(), 'every read went to the database').to.equal(3);

    control.setLive(true);
    let release!: () => void;
    fake.holdReads(new Promise<void>((resolve) => (release = resolve)));
    const reading = cached.getCredential('frank', 'd', 'SCRAM-SHA-1');
    control.setLive(false);
    control.setLive(true);
    fake.holdReads(null);
    release();
    await reading;
    await cached.getCredential('frank', 'd', 'SCRAM-SHA-1');
    expect(fake.reads(), 'the read that overlapped the outage was not kept').to.equal(5);
    await cached.getCredential('frank', 'd', 'SCRAM-SHA-1');
    expect(fake.reads()).to.equal(5);
  });
});
