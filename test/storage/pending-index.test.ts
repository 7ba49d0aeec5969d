import { expect } from 'chai';
import { deriveAllCredentials } from '../../src/sasl/credentials.js';
import { createStores, type Database } from '../../src/storage/index.js';
import { openTestDatabase } from '../helpers/database.js';

describe('pending index (embedded PGlite)', function () {
  let database: Database;
  before(async function () {
    database = await openTestDatabase();
  });
  after(async function () {
    await database?.close();
  });

  it('answers "nothing waiting" from memory, and never hides a message or request', async function () {
    const stores = createStores(database);
    expect(database.kind).to.equal('pglite');
    const credentials = await deriveAllCredentials('pw', 4096);
    await stores.accounts.createMany(['amy', 'ben'].map((username) => ({ username, domain: 'p.example', credentials })));
    expect(await stores.offline.list('amy', 'p.example')).to.deep.equal([]);
    expect(await stores.roster.listRequests('amy', 'p.example')).to.deep.equal([]);

    expect(await stores.offline.push('amy', 'p.example', '<message><body>1</body></message>', 10)).to.equal(true);
    await stores.roster.putRequest('amy', 'p.example', 'ben@p.example', '<presence type="subscribe"/>');
    const messages = await stores.offline.list('amy', 'p.example');
    expect(messages.map((m) => m.stanza)).to.deep.equal(['<message><body>1</body></message>']);
    expect(await stores.roster.hasRequest('amy', 'p.example', 'ben@p.example')).to.equal(true);
    expect((await stores.roster.listRequests('amy', 'p.example')).map((r) => r.jid)).to.deep.equal(['ben@p.example']);
    expect(await stores.offline.list('ben', 'p.example')).to.deep.equal([]);

    await stores.offline.remove('amy', 'p.example', messages.map((m) => m.id));
    expect(await stores.offline.list('amy', 'p.example')).to.deep.equal([]);
    // A push that overlaps a read finding nothing is still found afterwards.
    const reading = stores.offline.list('amy', 'p.example');
    const pushing = stores.offline.push('amy', 'p.example', '<message><body>2</body></message>', 10);
    await Promise.all([reading, pushing]);
    expect((await stores.offline.list('amy', 'p.example')).map((m) => m.stanza)).to.deep.equal(['<message><body>2</body></message>']);
  });

  it('sees what was stored before the process started', async function () {
    const first = createStores(database);
    await first.offline.push('ben', 'p.example', '<message><body>old</body></message>', 10);
    const restarted = createStores(database); // a fresh index, as after a restart
    expect((await restarted.offline.list('ben', 'p.example')).map((m) => m.stanza)).to.deep.equal(['<message><body>old</body></message>']);
  });
});
