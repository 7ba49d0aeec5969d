import { expect } from 'chai';
import { deriveAllCredentials } from '../../src/sasl/credentials.js';
import { createStores, type Database } from '../../src/storage/index.js';
import { openTestDatabase } from '../helpers/database.js';

describe('archive preferences index (embedded PGlite)', function () {
  let database: Database;
  before(async function () {
    database = await openTestDatabase();
  });
  after(async function () {
    await database?.close();
  });

  it('answers "no preferences" from memory and finds stored ones, also those stored before it started', async function () {
    expect(database.kind).to.equal('pglite');
    const first = createStores(database);
    const credentials = await deriveAllCredentials('pw', 4096);
    await first.accounts.createMany(['amy', 'ben', 'cy'].map((username) => ({ username, domain: 'x.example', credentials })));
    expect(await first.archive.prefs('amy', 'x.example')).to.equal(null);
    const never = { default: 'never' as const, always: ['ben@x.example'], never: [] };
    expect(await first.archive.setPrefs('amy', 'x.example', never)).to.equal(true);
    expect(await first.archive.prefs('amy', 'x.example')).to.deep.equal(never);
    expect(await first.archive.prefs('ben', 'x.example')).to.equal(null);
    // A second set of stores over the same database (a restart) reads the index anew.
    const roster = { default: 'roster' as const, always: [], never: ['amy@x.example'] };
    expect(await first.archive.setPrefs('cy', 'x.example', roster)).to.equal(true);
    const second = createStores(database);
    expect(await second.archive.prefs('amy', 'x.example')).to.deep.equal(never);
    expect(await second.archive.prefs('cy', 'x.example')).to.deep.equal(roster);
    expect(await second.archive.prefs('ben', 'x.example')).to.equal(null);
  });
});
