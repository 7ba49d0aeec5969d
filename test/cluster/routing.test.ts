// Users on different nodes of one cluster: as if they were on one server.
import { expect } from 'chai';
import { collectStanzas, connect, delay, nextStanza, stopQuietly, xml, type Client, type Element } from '../helpers/xmpp-client.js';
import { skipWithoutClusterServices, startTestCluster, type TestCluster } from './helpers.js';

describe('cluster: routing between nodes', function () {
  this.timeout(30_000);
  let cluster: TestCluster;
  const clients: Client[] = [];

  before(async function () {
    await skipWithoutClusterServices(this);
    cluster = await startTestCluster(['127.0.0.190', '127.0.0.191']);
    const [a] = cluster.nodes;
    await a!.addUser('alice', 'alice-pw');
    await a!.addUser('bob', 'bob-pw');
  });

  after(async () => {
    for (const c of clients) await stopQuietly(c);
    await cluster?.stop();
  });

  it('delivers a message from a user on one node to a user on another, both ways', async () => {
    const [a, b] = cluster.nodes;
    const alice = await connect(a!, 'alice', 'alice-pw', { resource: 'phone' });
    const bob = await connect(b!, 'bob', 'bob-pw', { resource: 'laptop' });
    clients.push(alice, bob);
    await alice.send(xml('presence'));
    await bob.send(xml('presence'));
    await new Promise((r) => setTimeout(r, 200));
    const got = nextStanza(bob, (el) => el.is('message') && el.getChildText('body') === 'hi bob');
    await alice.send(xml('message', { to: 'bob@hearth.example', type: 'chat' }, xml('body', {}, 'hi bob')));
    const message = await got;
    expect(message.attrs.from).to.equal('alice@hearth.example/phone');
    const back = nextStanza(alice, (el) => el.is('message') && el.getChildText('body') === 'hi alice');
    await bob.send(xml('message', { to: 'alice@hearth.example/phone', type: 'chat' }, xml('body', {}, 'hi alice')));
    expect((await back).attrs.from).to.equal('bob@hearth.example/laptop');
  });

  it('holds a block made on one node against a sender on another, and lifts it on unblock', async () => {
    const [a, b] = cluster.nodes;
    const alice = await connect(a!, 'alice', 'alice-pw', { resource: 'desk' });
    const bob = await connect(b!, 'bob', 'bob-pw', { resource: 'tablet' });
    clients.push(alice, bob);
    const aliceInbox = collectStanzas(alice);
    const bobInbox = collectStanzas(bob);
    await bob.send(xml('presence'));
    let counter = 0;
    /** Sends alice→bob until `outcome` shows (node a learns of changes on node b over Redis). */
    async function sendUntil(outcome: (body: string) => Element | undefined, what: string): Promise<Element> {
      for (let attempt = 0; attempt < 30; attempt++) {
        const body = `probe ${++counter}`;
        await alice.send(xml('message', { to: 'bob@hearth.example/tablet', type: 'chat', id: body }, xml('body', {}, body)));
        await delay(100);
        const seen = outcome(body);
        if (seen) return seen;
      }
      throw new Error(`never saw ${what}`);
    }
    const delivered = (body: string) => bobInbox.find((el) => el.is('message') && el.getChildText('body') === body);
    const refused = (body: string) => aliceInbox.find((el) => el.is('message') && el.attrs.type === 'error' && el.attrs.id === body);
    // Node a reads bob's (empty) list once and keeps it.
    await sendUntil(delivered, 'a message delivered before the block');

    const blocked = nextStanza(bob, (el) => el.is('iq') && el.attrs.id === 'block-1');
    await bob.send(xml('iq', { type: 'set', id: 'block-1' }, xml('block', { xmlns: 'urn:xmpp:blocking' }, xml('item', { jid: 'alice@hearth.example' }))));
    expect((await blocked).attrs.type).to.equal('result');
    const error = await sendUntil(refused, 'the block refusing alice');
    expect(error.getChild('error')?.getChild('service-unavailable')).to.not.equal(undefined);
    const before = bobInbox.length;
    await delay(300);
    expect(bobInbox.slice(before).some((el) => el.is('message') && el.attrs.type !== 'error')).to.equal(false);

    const unblocked = nextStanza(bob, (el) => el.is('iq') && el.attrs.id === 'unblock-1');
    await bob.send(xml('iq', { type: 'set', id: 'unblock-1' }, xml('unblock', { xmlns: 'urn:xmpp:blocking' }, xml('item', { jid: 'alice@hearth.example' }))));
    expect((await unblocked).attrs.type).to.equal('result');
    await sendUntil(delivered, 'a message delivered after the unblock');
  });
});
