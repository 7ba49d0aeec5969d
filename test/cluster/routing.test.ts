// Users on different nodes of one cluster: as if they were on one server.
import { expect } from 'chai';
import { connect, nextStanza, stopQuietly, xml, type Client } from '../helpers/xmpp-client.js';
import { clusterServicesMissing, startTestCluster, type TestCluster } from './helpers.js';

describe('cluster: routing between nodes', function () {
  this.timeout(30_000);
  let cluster: TestCluster;
  const clients: Client[] = [];

  before(async function () {
    const missing = await clusterServicesMissing();
    if (missing) {
      console.log(`    (skipped: ${missing})`);
      this.skip();
    }
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
});
