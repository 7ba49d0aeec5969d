import { expect } from 'chai';
import type { AccountStore } from '../../src/storage/accounts.js';
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
    const cached = withCredentialCache(fake.store);
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
    const cached = withCredentialCache(fake.store);
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
    const cached = withCredentialCache(fake.store, 2);
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
