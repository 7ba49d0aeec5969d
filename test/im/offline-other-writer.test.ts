// A message another node of a cluster stored offline (the recipient had no available resource
// anywhere when it was routed) while the recipient's resource became available here: the
// database's change feed tells this server of the new row, and the resource gets it at once,
// not at its next login. PostgreSQL only: embedded PGlite has no other writer.
import { expect } from 'chai';
import { openDatabase, type Database } from '../../src/storage/database.js';
import { createStores, type Stores } from '../../src/storage/index.js';
import { openIsolatedDatabase, type IsolatedDatabase } from '../helpers/database.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { collectStanzas, connect, roundTrip, stopQuietly, waitForStanza, xml, type Client } from '../helpers/xmpp-client.js';

const PASSWORD = 'other-writer-secret';

describe('offline messages stored by another node', function () {
  this.timeout(30_000);
  let isolated: IsolatedDatabase | null = null;
  let ts: TestServer | null = null;
  let otherNode: Database | null = null;
  let otherStores: Stores;
  const clients: Client[] = [];

  before(async function () {
    if (!process.env.DATABASE_URL) {
      // Another writer needs a shared PostgreSQL; embedded PGlite belongs to one process.
      this.skip();
    }
    isolated = await openIsolatedDatabase('postgres');
    ts = await startTestServer({ host: '127.0.0.126', domain: 'feed.hearth.example', database: isolated.database });
    otherNode = await openDatabase({ url: isolated.url!, dataDir: null, poolSize: 2 });
    otherStores = createStores(otherNode);
  });

  after(async function () {
    await Promise.all(clients.splice(0).map(stopQuietly));
    await ts?.stop();
    await otherNode?.close();
    await isolated?.dispose();
  });

  it('reach a resource that is available here at once, and leave the queue', async function () {
    await ts!.addUser('alice', PASSWORD);
    const alice = await connect(ts!, 'alice', PASSWORD, { resource: 'phone', mechanism: 'PLAIN' });
    clients.push(alice);
    const inbox = collectStanzas(alice);
    await alice.send(xml('presence'));
    await roundTrip(alice);

    const stored = `<message xmlns="jabber:client" from="bob@elsewhere.example/laptop" to="alice@feed.hearth.example" type="chat" id="m1"><body>stored elsewhere</body><delay xmlns="urn:xmpp:delay" from="feed.hearth.example" stamp="${new Date().toISOString()}"/></message>`;
    expect(await otherStores.offline.push('alice', 'feed.hearth.example', stored, 100)).to.equal(true);

    const message = await waitForStanza(inbox, (el) => el.is('message') && el.getChildText('body') === 'stored elsewhere', 'the message stored by the other node', 5000);
    expect(message.attrs.to).to.equal('alice@feed.hearth.example/phone');
    const deadline = Date.now() + 5000;
    while ((await otherStores.offline.count('alice', 'feed.hearth.example')) > 0) {
      if (Date.now() > deadline) throw new Error('the delivered message is still queued');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
});
