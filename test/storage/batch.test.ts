import { expect } from 'chai';
import { BatchLoader } from '../../src/storage/batch.js';
import { deriveAllCredentials } from '../../src/sasl/credentials.js';
import { createStores } from '../../src/storage/index.js';
import { eachBackend } from '../helpers/database.js';

describe('BatchLoader', function () {
  it('coalesces lookups of one turn into one fetch, answers each key, and falls back for missing ones', async function () {
    const fetches: string[][] = [];
    const loader = new BatchLoader<string, string | null>(
      (k) => k,
      async (keys) => {
        fetches.push(keys);
        return new Map(keys.filter((k) => k !== 'missing').map((k) => [k, k.toUpperCase()]));
      },
      null,
    );
    const results = await Promise.all(['a', 'b', 'a', 'missing'].map((k) => loader.load(k)));
    expect(results).to.deep.equal(['A', 'B', 'A', null]);
    expect(fetches).to.deep.equal([['a', 'b', 'missing']]);
    expect(await loader.load('c')).to.equal('C');
    expect(fetches).to.have.length(2);
  });

  it('holds keys asked for while a fetch runs and sends them together in the next one', async function () {
    const fetches: string[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const loader = new BatchLoader<string, string>((k) => k, async (keys) => {
      fetches.push(keys);
      if (fetches.length === 1) await gate;
      return new Map(keys.map((k) => [k, k + '!']));
    }, '');
    const first = loader.load('a');
    await new Promise((r) => setImmediate(r));
    const later = ['b', 'c', 'd'].map((k) => loader.load(k));
    await new Promise((r) => setTimeout(r, 5));
    expect(fetches).to.deep.equal([['a']]);
    release();
    expect(await Promise.all([first, ...later])).to.deep.equal(['a!', 'b!', 'c!', 'd!']);
    expect(fetches).to.deep.equal([['a'], ['b', 'c', 'd']]);
  });

  it('rejects every waiter of a failed fetch, and recovers afterwards', async function () {
    let fail = true;
    const loader = new BatchLoader<string, number>((k) => k, async (keys) => {
      if (fail) throw new Error('database down');
      return new Map(keys.map((k) => [k, k.length]));
    }, 0);
    const settled = await Promise.allSettled([loader.load('x'), loader.load('yy')]);
    expect(settled.map((s) => s.status)).to.deep.equal(['rejected', 'rejected']);
    fail = false;
    expect(await loader.load('yy')).to.equal(2);
  });
});

eachBackend('batched credential lookups', (getDb) => {
  it('returns the right credential to each of many concurrent logins', async function () {
    const accounts = createStores(getDb()).accounts;
    const [a, b] = await Promise.all([deriveAllCredentials('pa', 4096), deriveAllCredentials('pb', 4096)]);
    await accounts.createMany([
      { username: 'a', domain: 'one.example', credentials: a },
      { username: 'b', domain: 'one.example', credentials: b },
      { username: 'a', domain: 'two.example', credentials: b },
    ]);
    const asks = [
      ['a', 'one.example', 'SCRAM-SHA-1'],
      ['b', 'one.example', 'SCRAM-SHA-256'],
      ['a', 'two.example', 'SCRAM-SHA-1'],
      ['nobody', 'one.example', 'SCRAM-SHA-1'],
    ] as const;
    const got = await Promise.all(asks.map(([u, d, m]) => accounts.getCredential(u, d, m)));
    expect(got[0]!.storedKey.equals(a.find((c) => c.mechanism === 'SCRAM-SHA-1')!.storedKey)).to.equal(true);
    expect(got[1]!.storedKey.equals(b.find((c) => c.mechanism === 'SCRAM-SHA-256')!.storedKey)).to.equal(true);
    expect(got[2]!.storedKey.equals(b.find((c) => c.mechanism === 'SCRAM-SHA-1')!.storedKey)).to.equal(true);
    expect(got[3]).to.equal(null);
  });
});
