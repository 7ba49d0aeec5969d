import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { sql } from 'kysely';
import { createAccountStore, escapeLike, type NewAccount } from '../../src/storage/accounts.js';
import type { ScramCredential, ScramMechanismName } from '../../src/sasl/credentials.js';
import { eachBackend } from '../helpers/database.js';

function credential(mechanism: ScramMechanismName, iterations = 4096): ScramCredential {
  return {
    mechanism,
    salt: randomBytes(16),
    iterations,
    storedKey: randomBytes(mechanism === 'SCRAM-SHA-1' ? 20 : 32),
    serverKey: randomBytes(mechanism === 'SCRAM-SHA-1' ? 20 : 32),
  };
}

/** What getCredential returns for an account that is not disabled. */
function asStored(c: ScramCredential): ScramCredential & { accountDisabled: boolean } {
  return { ...c, accountDisabled: false };
}

function account(username: string, domain = 'example.org'): NewAccount {
  return { username, domain, credentials: [credential('SCRAM-SHA-1'), credential('SCRAM-SHA-256')] };
}

describe('escapeLike', () => {
  it('escapes %, _ and backslash', () => {
    expect(escapeLike('a%b_c\\d')).to.equal('a\\%b\\_c\\\\d');
    expect(escapeLike('plain')).to.equal('plain');
  });
});

eachBackend('AccountStore', (getDb, backend) => {
  const store = () => createAccountStore(getDb().db);

  describe('create / exists', () => {
    it('creates an account and reports it exists', async () => {
      expect(await store().exists('alice', 'example.org')).to.equal(false);
      expect(await store().create(account('alice'))).to.equal(true);
      expect(await store().exists('alice', 'example.org')).to.equal(true);
      expect(await store().exists('alice', 'example.net')).to.equal(false);
      expect(await store().exists('bob', 'example.org')).to.equal(false);
    });

    it('returns false for an existing account and keeps its credentials', async () => {
      const first = account('alice');
      expect(await store().create(first)).to.equal(true);
      expect(await store().create(account('alice'))).to.equal(false);
      const stored = await store().getCredential('alice', 'example.org', 'SCRAM-SHA-256');
      expect(stored?.storedKey.equals(first.credentials[1].storedKey)).to.equal(true);
    });

    it('creates an account without credentials', async () => {
      expect(await store().create({ username: 'nopass', domain: 'example.org', credentials: [] })).to.equal(true);
      expect(await store().getCredential('nopass', 'example.org', 'SCRAM-SHA-1')).to.equal(null);
    });

    it('rolls the account back when a credential is rejected', async () => {
      const bad = { username: 'carol', domain: 'example.org', credentials: [credential('SCRAM-SHA-1', 0)] };
      let failed = false;
      try {
        await store().create(bad);
      } catch {
        failed = true;
      }
      expect(failed, 'iterations = 0 violates the check constraint').to.equal(true);
      expect(await store().exists('carol', 'example.org')).to.equal(false);
    });

    it('rejects two credentials for the same mechanism', async () => {
      const bad = { username: 'dup', domain: 'example.org', credentials: [credential('SCRAM-SHA-1'), credential('SCRAM-SHA-1')] };
      let error: unknown;
      try {
        await store().create(bad);
      } catch (caught) {
        error = caught;
      }
      expect(error).to.be.instanceOf(TypeError);
      expect(await store().exists('dup', 'example.org')).to.equal(false);
    });

    it('records created_at as a Date', async () => {
      const before = Date.now();
      await store().create(account('alice'));
      const [record] = await store().list({ limit: 1 });
      expect(record.createdAt).to.be.instanceOf(Date);
      expect(Math.abs(record.createdAt.getTime() - before)).to.be.below(60_000);
    });
  });

  describe('createMany', () => {
    it('counts created and existing accounts', async () => {
      await store().create(account('user00001'));
      await store().create(account('user00002'));
      const accounts = [account('user00001'), account('user00002'), account('user00003'), account('user00003')];
      expect(await store().createMany(accounts)).to.deep.equal({ created: 1, existed: 3 });
      expect(await store().count()).to.equal(3);
      expect(await store().getCredential('user00003', 'example.org', 'SCRAM-SHA-1')).to.not.equal(null);
    });

    it('stores the credentials given with the first occurrence of a duplicated account', async () => {
      const first = account('twice');
      const second = account('twice');
      expect(await store().createMany([first, second])).to.deep.equal({ created: 1, existed: 1 });
      const stored = await store().getCredential('twice', 'example.org', 'SCRAM-SHA-1');
      expect(stored?.salt.equals(first.credentials[0].salt)).to.equal(true);
    });

    it('handles an empty list', async () => {
      expect(await store().createMany([])).to.deep.equal({ created: 0, existed: 0 });
    });

    it('creates 2,000 accounts in batches, then reports them all as existing', async function () {
      this.timeout(120_000);
      const accounts: NewAccount[] = [];
      for (let i = 0; i < 2000; i++) {
        accounts.push(account(`bulk${String(i).padStart(5, '0')}`, i % 2 === 0 ? 'example.org' : 'example.net'));
      }
      let started = process.hrtime.bigint();
      expect(await store().createMany(accounts)).to.deep.equal({ created: 2000, existed: 0 });
      const firstMs = Number(process.hrtime.bigint() - started) / 1e6;
      started = process.hrtime.bigint();
      expect(await store().createMany(accounts)).to.deep.equal({ created: 0, existed: 2000 });
      const secondMs = Number(process.hrtime.bigint() - started) / 1e6;
      console.log(
        `      createMany(2,000 accounts, 2 credentials each) on ${backend}: ` +
          `${firstMs.toFixed(0)} ms new, ${secondMs.toFixed(0)} ms all existing`,
      );
      expect(await store().count()).to.equal(2000);
      expect(await store().count('example.net')).to.equal(1000);
      const { rows } = await sql<{ n: string | number }>`select count(*) as n from scram_credentials`.execute(getDb().db);
      expect(Number(rows[0].n)).to.equal(4000);
      const last = accounts[1999];
      const stored = await store().getCredential(last.username, last.domain, 'SCRAM-SHA-256');
      expect(stored?.serverKey.equals(last.credentials[1].serverKey)).to.equal(true);
    });
  });

  describe('delete', () => {
    it('deletes the account and cascades to its credentials', async () => {
      await store().create(account('alice'));
      await store().create(account('bob'));
      expect(await store().delete('alice', 'example.org')).to.equal(true);
      expect(await store().exists('alice', 'example.org')).to.equal(false);
      expect(await store().getCredential('alice', 'example.org', 'SCRAM-SHA-1')).to.equal(null);
      const { rows } = await sql<{ username: string }>`select distinct username from scram_credentials`.execute(getDb().db);
      expect(rows.map((row) => row.username)).to.deep.equal(['bob']);
    });

    it('returns false for an unknown account', async () => {
      expect(await store().delete('ghost', 'example.org')).to.equal(false);
    });

    it('allows the account to be created again afterwards', async () => {
      await store().create(account('alice'));
      await store().delete('alice', 'example.org');
      expect(await store().create(account('alice'))).to.equal(true);
    });
  });

  describe('setCredentials', () => {
    it('replaces all credentials', async () => {
      await store().create(account('alice'));
      const replacement = credential('SCRAM-SHA-256', 10_000);
      expect(await store().setCredentials('alice', 'example.org', [replacement])).to.equal(true);
      expect(await store().getCredential('alice', 'example.org', 'SCRAM-SHA-1')).to.equal(null);
      expect(await store().getCredential('alice', 'example.org', 'SCRAM-SHA-256')).to.deep.equal(asStored(replacement));
    });

    it('can clear all credentials', async () => {
      await store().create(account('alice'));
      expect(await store().setCredentials('alice', 'example.org', [])).to.equal(true);
      expect(await store().getCredential('alice', 'example.org', 'SCRAM-SHA-256')).to.equal(null);
      expect(await store().exists('alice', 'example.org')).to.equal(true);
    });

    it('returns false (and stores nothing) for an unknown account', async () => {
      expect(await store().setCredentials('ghost', 'example.org', [credential('SCRAM-SHA-1')])).to.equal(false);
      expect(await store().getCredential('ghost', 'example.org', 'SCRAM-SHA-1')).to.equal(null);
    });

    it('keeps the old credentials when the replacement is rejected', async () => {
      const original = account('alice');
      await store().create(original);
      let failed = false;
      try {
        await store().setCredentials('alice', 'example.org', [credential('SCRAM-SHA-1', -1)]);
      } catch {
        failed = true;
      }
      expect(failed).to.equal(true);
      expect(await store().getCredential('alice', 'example.org', 'SCRAM-SHA-1')).to.deep.equal(asStored(original.credentials[0]));
    });

    it('joins a transaction it is given', async () => {
      await store().create(account('alice'));
      const replacement = credential('SCRAM-SHA-1', 5000);
      await getDb()
        .db.transaction()
        .execute(async (trx) => {
          const inTrx = createAccountStore(trx);
          expect(await inTrx.setCredentials('alice', 'example.org', [replacement])).to.equal(true);
          expect(await inTrx.create(account('bob'))).to.equal(true);
        });
      expect(await store().getCredential('alice', 'example.org', 'SCRAM-SHA-1')).to.deep.equal(asStored(replacement));
      expect(await store().exists('bob', 'example.org')).to.equal(true);
    });
  });

  describe('getCredential', () => {
    it('round-trips every byte of the Buffers', async () => {
      const all = Buffer.alloc(256);
      for (let i = 0; i < 256; i++) all[i] = i;
      const exact: ScramCredential = {
        mechanism: 'SCRAM-SHA-256',
        salt: all,
        iterations: 2 ** 31 - 1,
        storedKey: Buffer.from([0, 0, 0]),
        serverKey: Buffer.from('ff00ff', 'hex'),
      };
      await store().create({ username: 'bytes', domain: 'example.org', credentials: [exact] });
      const stored = await store().getCredential('bytes', 'example.org', 'SCRAM-SHA-256');
      expect(stored).to.not.equal(null);
      for (const key of ['salt', 'storedKey', 'serverKey'] as const) {
        expect(Buffer.isBuffer(stored![key]), `${key} is a Buffer`).to.equal(true);
        expect(stored![key].equals(exact[key]), `${key} bytes`).to.equal(true);
      }
      expect(stored).to.deep.equal({ ...exact, accountDisabled: false });
    });

    it('returns null for an unknown account, domain or mechanism', async () => {
      await store().create({ username: 'alice', domain: 'example.org', credentials: [credential('SCRAM-SHA-1')] });
      expect(await store().getCredential('bob', 'example.org', 'SCRAM-SHA-1')).to.equal(null);
      expect(await store().getCredential('alice', 'example.net', 'SCRAM-SHA-1')).to.equal(null);
      expect(await store().getCredential('alice', 'example.org', 'SCRAM-SHA-256')).to.equal(null);
    });

    it('serves many concurrent lookups', async () => {
      const created = account('alice');
      await store().create(created);
      const results = await Promise.all(
        Array.from({ length: 200 }, () => store().getCredential('alice', 'example.org', 'SCRAM-SHA-1')),
      );
      for (const result of results) expect(result).to.deep.equal(asStored(created.credentials[0]));
    });
  });

  describe('setDisabled', () => {
    it('marks the account so its credential says so, and clears the mark again', async () => {
      const created = account('alice');
      await store().create(created);
      expect(await store().setDisabled('alice', 'example.org', true)).to.equal(true);
      expect(await store().getCredential('alice', 'example.org', 'SCRAM-SHA-1')).to.deep.equal({ ...created.credentials[0], accountDisabled: true });
      expect((await store().get('alice', 'example.org'))?.disabledAt).to.be.instanceOf(Date);
      expect(await store().setDisabled('alice', 'example.org', false)).to.equal(true);
      expect(await store().getCredential('alice', 'example.org', 'SCRAM-SHA-1')).to.deep.equal(asStored(created.credentials[0]));
      expect(await store().setDisabled('ghost', 'example.org', true)).to.equal(false);
    });
  });

  describe('list', () => {
    beforeEach(async () => {
      const names: Array<[string, string]> = [
        ['b.example', 'zed'],
        ['a.example', 'carol'],
        ['a.example', 'alice'],
        ['b.example', 'alice'],
        ['a.example', 'bob'],
        ['a.example', 'dave'],
        ['a.example', 'a%b'],
        ['a.example', 'axb'],
        ['a.example', 'a_b'],
        ['a.example', 'a\\b'],
      ];
      await store().createMany(names.map(([domain, username]) => ({ domain, username, credentials: [] })));
    });

    const keys = (records: Array<{ domain: string; username: string }>) =>
      records.map((record) => `${record.username}@${record.domain}`);

    it('orders by (domain, username) and pages with `after`', async () => {
      const all = keys(await store().list({ limit: 100 }));
      expect(all).to.deep.equal([
        'a%b@a.example',
        'a\\b@a.example',
        'a_b@a.example',
        'alice@a.example',
        'axb@a.example',
        'bob@a.example',
        'carol@a.example',
        'dave@a.example',
        'alice@b.example',
        'zed@b.example',
      ]);
      const paged: string[] = [];
      let after: { domain: string; username: string } | undefined;
      for (;;) {
        const page = await store().list({ limit: 3, after });
        if (page.length === 0) break;
        expect(page.length).to.be.at.most(3);
        paged.push(...keys(page));
        after = page[page.length - 1];
      }
      expect(paged).to.deep.equal(all);
    });

    it('filters by domain, also when paging', async () => {
      expect(keys(await store().list({ domain: 'b.example', limit: 10 }))).to.deep.equal([
        'alice@b.example',
        'zed@b.example',
      ]);
      expect(
        keys(await store().list({ domain: 'a.example', limit: 2, after: { domain: 'a.example', username: 'bob' } })),
      ).to.deep.equal(['carol@a.example', 'dave@a.example']);
      expect(await store().list({ domain: 'c.example', limit: 10 })).to.deep.equal([]);
    });

    it('searches a case-insensitive substring of the username', async () => {
      expect(keys(await store().list({ search: 'LIC', limit: 10 }))).to.deep.equal([
        'alice@a.example',
        'alice@b.example',
      ]);
      expect(keys(await store().list({ search: 'o', domain: 'a.example', limit: 10 }))).to.deep.equal([
        'bob@a.example',
        'carol@a.example',
      ]);
    });

    it('treats %, _ and \\ in the search literally', async () => {
      expect(keys(await store().list({ search: '%', limit: 10 }))).to.deep.equal(['a%b@a.example']);
      expect(keys(await store().list({ search: 'a_b', limit: 10 }))).to.deep.equal(['a_b@a.example']);
      expect(keys(await store().list({ search: '\\', limit: 10 }))).to.deep.equal(['a\\b@a.example']);
    });

    it('honours limit 0 and rejects a bad limit', async () => {
      expect(await store().list({ limit: 0 })).to.deep.equal([]);
      let error: unknown;
      try {
        await store().list({ limit: -1 });
      } catch (caught) {
        error = caught;
      }
      expect(error).to.be.instanceOf(RangeError);
    });
  });

  describe('count', () => {
    it('counts all accounts or those of one domain', async () => {
      expect(await store().count()).to.equal(0);
      await store().create(account('alice', 'a.example'));
      await store().create(account('bob', 'a.example'));
      await store().create(account('alice', 'b.example'));
      expect(await store().count()).to.equal(3);
      expect(await store().count('a.example')).to.equal(2);
      expect(await store().count('c.example')).to.equal(0);
    });
  });
});
