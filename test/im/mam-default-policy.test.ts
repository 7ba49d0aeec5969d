// mam.defaultPolicy: what an account archives until it sets its own XEP-0441 preferences.
import { expect } from 'chai';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { collectStanzas, connect, delay, roundTrip, stopQuietly, waitForStanza, xml, type Client } from '../helpers/xmpp-client.js';

const NS_MAM = 'urn:xmpp:mam:2';

describe('mam.defaultPolicy', function () {
  let ts: TestServer;
  const clients: Client[] = [];

  before(async function () {
    ts = await startTestServer({ host: '127.0.0.158', domain: 'mam-policy.hearth.example', config: { mam: { defaultPolicy: 'never' } } });
    await ts.addUser('alice', 'policy-secret');
    await ts.addUser('bob', 'policy-secret');
  });

  after(async function () {
    await Promise.all(clients.splice(0).map(stopQuietly));
    await ts?.stop();
  });

  async function login(user: string): Promise<Client> {
    const client = await connect(ts, user, 'policy-secret', { mechanism: 'PLAIN' });
    clients.push(client);
    await client.send(xml('presence'));
    return client;
  }

  it('archives nothing for an account without preferences when the policy is never, and says so', async function () {
    const alice = await login('alice');
    const bob = await login('bob');
    const inbox = collectStanzas(bob);
    await alice.send(xml('message', { to: `bob@${ts.domain}`, type: 'chat', id: 'unarchived' }, xml('body', {}, 'not kept')));
    const got = await waitForStanza(inbox, (el) => el.is('message') && el.attrs.id === 'unarchived', 'the message');
    // No archive entry, so no XEP-0359 stanza-id either.
    expect(got.getChild('stanza-id', 'urn:xmpp:sid:0')).to.equal(undefined);
    await roundTrip(alice);
    await delay(200);
    expect(await ts.server.stores.archive.count('alice', ts.domain)).to.equal(0);
    expect(await ts.server.stores.archive.count('bob', ts.domain)).to.equal(0);
    const prefs = await bob.iqCaller.request(xml('iq', { type: 'get' }, xml('prefs', { xmlns: NS_MAM })), 3_000);
    expect(prefs.getChild('prefs', NS_MAM)?.attrs.default).to.equal('never');
  });

  it('archives again once the account chooses always', async function () {
    const [alice, bob] = clients as [Client, Client];
    await bob.iqCaller.request(xml('iq', { type: 'set' }, xml('prefs', { xmlns: NS_MAM, default: 'always' })), 3_000);
    const inbox = collectStanzas(bob);
    await alice.send(xml('message', { to: `bob@${ts.domain}`, type: 'chat', id: 'archived' }, xml('body', {}, 'kept')));
    const got = await waitForStanza(inbox, (el) => el.is('message') && el.attrs.id === 'archived', 'the message');
    expect(got.getChild('stanza-id', 'urn:xmpp:sid:0')?.attrs.by).to.equal(`bob@${ts.domain}`);
    await roundTrip(alice);
    // Archive writes are group-committed: wait for the commit rather than racing it.
    const deadline = Date.now() + 3_000;
    while ((await ts.server.stores.archive.count('bob', ts.domain)) < 1 && Date.now() < deadline) await delay(10);
    expect(await ts.server.stores.archive.count('bob', ts.domain)).to.equal(1);
    expect(await ts.server.stores.archive.count('alice', ts.domain)).to.equal(0);
  });
});
