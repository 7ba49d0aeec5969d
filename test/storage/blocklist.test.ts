import { expect } from 'chai';
import { createAccountStore } from '../../src/storage/accounts.js';
import { createBlocklistStore, withBlocklistIndex, type BlocklistStore } from '../../src/storage/blocklist.js';
import { eachBackend } from '../helpers/database.js';

const DOMAIN = 'example.org';

eachBackend('BlocklistStore', (getDb) => {
  const variants: Array<[string, () => BlocklistStore]> = [
    ['plain', () => createBlocklistStore(getDb().db)],
    // What createStores uses on PGlite; the same behaviour is expected of it on either backend.
    ['with the account index', () => withBlocklistIndex(getDb().db, getDb().changes, createBlocklistStore(getDb().db))],
  ];

  beforeEach(async () => {
    const accounts = createAccountStore(getDb().db);
    await accounts.create({ username: 'alice', domain: DOMAIN, credentials: [] });
    await accounts.create({ username: 'bob', domain: DOMAIN, credentials: [] });
  });

  for (const [name, make] of variants) {
    describe(name, () => {
      let store: BlocklistStore;
      beforeEach(() => {
        store = make();
      });

      it('starts empty, adds, reports only what is new, and lists sorted', async () => {
        expect(await store.list('alice', DOMAIN)).to.deep.equal([]);
        expect(await store.add('alice', DOMAIN, ['romeo@montague.example', 'iago.example'], 10)).to.deep.equal(['iago.example', 'romeo@montague.example']);
        expect(await store.add('alice', DOMAIN, ['romeo@montague.example', 'nurse@capulet.example/balcony', 'nurse@capulet.example/balcony'], 10))
          .to.deep.equal(['nurse@capulet.example/balcony']);
        expect(await store.list('alice', DOMAIN)).to.deep.equal(['iago.example', 'nurse@capulet.example/balcony', 'romeo@montague.example']);
        // Per account.
        expect(await store.list('bob', DOMAIN)).to.deep.equal([]);
      });

      it('refuses an add that would pass the limit, and adds nothing of it', async () => {
        expect(await store.add('alice', DOMAIN, ['a.example', 'b.example'], 3)).to.have.length(2);
        expect(await store.add('alice', DOMAIN, ['c.example', 'd.example'], 3)).to.equal(null);
        expect(await store.list('alice', DOMAIN)).to.deep.equal(['a.example', 'b.example']);
        // Re-adding what is there does not count against the limit.
        expect(await store.add('alice', DOMAIN, ['a.example', 'c.example'], 3)).to.deep.equal(['c.example']);
      });

      it('removes named items and clears the rest', async () => {
        await store.add('alice', DOMAIN, ['a.example', 'b.example', 'c@d.example'], 10);
        expect(await store.remove('alice', DOMAIN, ['b.example', 'not-there.example'])).to.deep.equal(['b.example']);
        expect(await store.list('alice', DOMAIN)).to.deep.equal(['a.example', 'c@d.example']);
        expect(await store.clear('alice', DOMAIN)).to.deep.equal(['a.example', 'c@d.example']);
        expect(await store.list('alice', DOMAIN)).to.deep.equal([]);
        expect(await store.clear('alice', DOMAIN)).to.deep.equal([]);
      });

      it('answers whether any of some entries is on the list', async () => {
        await store.add('alice', DOMAIN, ['spam.example', 'romeo@montague.example'], 10);
        expect(await store.blocksAny('alice', DOMAIN, ['x@spam.example/r', 'x@spam.example', 'spam.example'])).to.equal(true);
        expect(await store.blocksAny('alice', DOMAIN, ['romeo@montague.example/phone', 'romeo@montague.example', 'montague.example'])).to.equal(true);
        expect(await store.blocksAny('alice', DOMAIN, ['juliet@capulet.example', 'capulet.example'])).to.equal(false);
        expect(await store.blocksAny('bob', DOMAIN, ['spam.example'])).to.equal(false);
        expect(await store.blocksAny('alice', DOMAIN, [])).to.equal(false);
      });

      it('goes with its account', async () => {
        await store.add('alice', DOMAIN, ['spam.example'], 10);
        await createAccountStore(getDb().db).delete('alice', DOMAIN);
        expect(await store.list('alice', DOMAIN)).to.deep.equal([]);
        expect(await store.blocksAny('alice', DOMAIN, ['spam.example'])).to.equal(false);
      });

      it('will not add for an account that does not exist', async () => {
        let failed = false;
        try {
          await store.add('ghost', DOMAIN, ['spam.example'], 10);
        } catch {
          failed = true;
        }
        expect(failed).to.equal(true);
      });
    });
  }
});
