// XEP-0012 last logouts in PostgreSQL (schema/0006): one per account, replaced, gone with the account.
import { expect } from 'chai';
import { createAccountStore } from '../../src/storage/accounts.js';
import { createLastActivityStore } from '../../src/storage/last-activity.js';
import { eachBackend } from '../helpers/database.js';

const DOMAIN = 'example.org';

eachBackend('LastActivityStore', (getDb) => {
  const store = () => createLastActivityStore(getDb().db);
  const accounts = () => createAccountStore(getDb().db);

  beforeEach(async () => {
    await accounts().create({ username: 'alice', domain: DOMAIN, credentials: [] });
    await accounts().create({ username: 'bob', domain: DOMAIN, credentials: [] });
  });

  it('keeps the latest logout per account, with its status text', async () => {
    expect(await store().get('alice', DOMAIN)).to.equal(null);
    const first = new Date('2026-01-02T03:04:05.678Z');
    expect(await store().record('alice', DOMAIN, { at: first, status: 'Heading Home ✈' })).to.equal(true);
    expect(await store().get('alice', DOMAIN)).to.deep.equal({ at: first, status: 'Heading Home ✈' });
    const second = new Date('2026-01-03T00:00:00.000Z');
    expect(await store().record('alice', DOMAIN, { at: second, status: null })).to.equal(true);
    expect(await store().get('alice', DOMAIN)).to.deep.equal({ at: second, status: null });
    expect(await store().get('bob', DOMAIN), 'per account').to.equal(null);
  });

  it('records nothing for an account that does not exist, and forgets a deleted account', async () => {
    expect(await store().record('nobody', DOMAIN, { at: new Date(), status: 'x' })).to.equal(false);
    expect(await store().get('nobody', DOMAIN)).to.equal(null);
    await store().record('bob', DOMAIN, { at: new Date(), status: 'bye' });
    expect(await accounts().delete('bob', DOMAIN)).to.equal(true);
    expect(await store().get('bob', DOMAIN)).to.equal(null);
    await accounts().create({ username: 'bob', domain: DOMAIN, credentials: [] });
    expect(await store().get('bob', DOMAIN), 'a new account of the same name starts afresh').to.equal(null);
  });
});
