// PEP (XEP-0163) in a cluster: a publisher on one node and its contacts on another see the
// same nodes, items, configuration and notifications; caps verified on one node count on all.
import { expect } from 'chai';
import { advertiseCaps, capsPresence } from '../helpers/caps-client.js';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { befriend } from '../helpers/roster.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { collectStanzas, connect, delay, roundTrip, stopQuietly, waitForStanza, xml, type Client, type Element } from '../helpers/xmpp-client.js';
import { skipWithoutClusterServices, startTestCluster, type TestCluster } from './helpers.js';

const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
const NS_OWNER = 'http://jabber.org/protocol/pubsub#owner';
const NS_EVENT = 'http://jabber.org/protocol/pubsub#event';
const TUNE = 'http://jabber.org/protocol/tune';
const PASSWORD = 'cluster-pep-pw';
const CA = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'tls', 'ca.crt');
const NODES = ['127.0.0.170', '127.0.0.171'];
const CLUSTER_DOMAIN = 'hearth.example';
const PEER = { host: '127.0.0.172', domain: 'pep-peer.hearth.example' };

describe('cluster: PEP', function () {
  this.timeout(30_000);
  let cluster: TestCluster;
  let peer: TestServer;
  const clients: Client[] = [];

  before(async function () {
    await skipWithoutClusterServices(this);
    // The peer reaches the cluster's domain at the second node only.
    peer = await startTestServer({
      host: PEER.host,
      domain: PEER.domain,
      config: { s2s: { listen: [`${PEER.host}:5269`], routes: { [CLUSTER_DOMAIN]: `${NODES[1]}:5269` }, trustedCa: CA, connectTimeoutMs: 3_000 } },
    });
    await peer.addUser('carol', PASSWORD);
    cluster = await startTestCluster(NODES, {}, (host) => ({
      s2s: { listen: [`${host}:5269`], routes: { [PEER.domain]: `${PEER.host}:5269` }, trustedCa: CA, connectTimeoutMs: 3_000 },
    }));
    const first = cluster.nodes[0]!;
    for (const user of ['alice', 'bob', 'dora']) await first.addUser(user, PASSWORD);
    await befriend({ server: first, local: 'alice' }, { server: first, local: 'bob' });
  });

  after(async () => {
    for (const c of clients) await stopQuietly(c);
    await cluster?.stop();
    await peer?.stop();
  });

  async function online(node: TestServer, user: string, resource: string): Promise<{ client: Client; inbox: Element[] }> {
    const client = await connect(node, user, PASSWORD, { resource });
    clients.push(client);
    const inbox = collectStanzas(client);
    await client.send(capsPresence(advertiseCaps(client, [`${TUNE}+notify`])));
    await roundTrip(client);
    return { client, inbox };
  }

  const request = (client: Client, type: 'get' | 'set', child: Element, to?: string) => client.iqCaller.request(xml('iq', { type, to }, child), 5_000);
  const tune = (title: string) => xml('tune', { xmlns: TUNE }, xml('title', {}, title));
  const titleOf = (el: Element) => el.getChild('event', NS_EVENT)?.getChild('items')?.getChild('item')?.getChild('tune', TUNE)?.getChildText('title');

  it('notifies a contact on the other node, serves the same items there, and follows configuration changes', async () => {
    const [a, b] = cluster.nodes;
    const alice = await online(a!, 'alice', 'desk');
    const bob = await online(b!, 'bob', 'phone');
    const aliceBare = `alice@${a!.domain}`;
    await delay(200);

    await request(alice.client, 'set', xml('pubsub', { xmlns: NS_PUBSUB }, xml('publish', { node: TUNE }, xml('item', { id: 'current' }, tune('Across')))));
    const notified = await waitForStanza(bob.inbox, (el) => titleOf(el) === 'Across', 'the notification on the other node', 5_000);
    expect(notified.attrs.from).to.equal(aliceBare);

    const read = async () => (await request(bob.client, 'get', xml('pubsub', { xmlns: NS_PUBSUB }, xml('items', { node: TUNE })), aliceBare))
      .getChild('pubsub')!.getChild('items')!.getChildren('item').map((i) => i.getChild('tune', TUNE)!.getChildText('title'));
    expect(await read()).to.deep.equal(['Across']);

    // Published again on node a: node b serves the new item.
    await request(alice.client, 'set', xml('pubsub', { xmlns: NS_PUBSUB }, xml('publish', { node: TUNE }, xml('item', { id: 'current' }, tune('Again')))));
    await waitForStanza(bob.inbox, (el) => titleOf(el) === 'Again', 'the second notification', 5_000);
    expect(await read()).to.deep.equal(['Again']);

    // Whitelisted on node a: node b refuses bob from then on.
    await request(alice.client, 'set', xml('pubsub', { xmlns: NS_OWNER }, xml('configure', { node: TUNE },
      xml('x', { xmlns: 'jabber:x:data', type: 'submit' },
        xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, 'http://jabber.org/protocol/pubsub#node_config')),
        xml('field', { var: 'pubsub#access_model' }, xml('value', {}, 'whitelist'))))));
    await delay(300);
    const refused = await read().then(() => null, (err: { condition?: string }) => err.condition);
    expect(refused).to.equal('not-allowed');
  });

  it('sends the last item to a resource that comes online on another node than the publisher', async () => {
    const [a, b] = cluster.nodes;
    const alice = await online(a!, 'alice', 'desk2');
    await request(alice.client, 'set', xml('pubsub', { xmlns: NS_PUBSUB }, xml('publish', { node: 'urn:example:status' }, xml('item', { id: 'current' }, xml('status', { xmlns: 'urn:example:status' }, 'busy')))));
    const client = await connect(b!, 'bob', PASSWORD, { resource: 'tablet' });
    clients.push(client);
    const inbox = collectStanzas(client);
    await client.send(capsPresence(advertiseCaps(client, ['urn:example:status+notify'])));
    const last = await waitForStanza(inbox, (el) => el.getChild('event', NS_EVENT)?.getChild('items')?.attrs.node === 'urn:example:status', 'the last item', 5_000);
    expect(last.getChild('event', NS_EVENT)!.getChild('items')!.getChild('item')!.getChildText('status')).to.equal('busy');
  });

  it('notifies a contact on another server from any node, though its presence came in through another node', async () => {
    const [n1] = cluster.nodes as [TestServer, TestServer];
    await befriend({ server: n1, local: 'dora' }, { server: peer, local: 'carol' });
    // Carol's presence reaches the cluster at the second node (the peer's only route to it).
    const carol = await online(peer, 'carol', 'far');
    // Dora publishes on the first node, which learnt of carol's resource from the second.
    const dora = await connect(n1, 'dora', PASSWORD, { resource: 'desk' });
    clients.push(dora);
    await delay(500);
    await request(dora, 'set', xml('pubsub', { xmlns: NS_PUBSUB }, xml('publish', { node: TUNE }, xml('item', { id: 'current' }, tune('Far away')))));
    const event = await waitForStanza(carol.inbox, (el) => titleOf(el) === 'Far away', 'the notification at the other server', 10_000);
    expect(event.attrs.from).to.equal(`dora@${CLUSTER_DOMAIN}`);
    expect(n1.server.s2s.streams().some((s) => s.direction === 'out' && s.domain === PEER.domain)).to.equal(true);
    expect(n1.server.s2s.streams().some((s) => s.direction === 'in')).to.equal(false);
  });
});
