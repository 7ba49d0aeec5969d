// XEP-0114 components in a cluster: a component connected to one node serves users of every
// node; it is connected once in the whole cluster.
import { xml as cxml } from '@xmpp/component';
import { componentReceives, startComponent as connectComponent, stopComponent, type Component } from '../helpers/component.js';
import { expect } from 'chai';
import type { TestServer } from '../helpers/server.js';
import { connect, delay, nextStanza, stopQuietly, xml, type Client, type Element } from '../helpers/xmpp-client.js';
import { skipWithoutClusterServices, startTestCluster, type TestCluster } from './helpers.js';

const SECRET = 'cluster-component-secret';
const BOT = 'bot.hearth.example';
const PASSWORD = 'cluster-component-pw';

const startComponent = (node: TestServer) => connectComponent(node, BOT, SECRET);
const receives = (bot: Component, match: (el: Element) => boolean) => componentReceives(bot, match, 5_000);

describe('cluster: external components', function () {
  this.timeout(30_000);
  let cluster: TestCluster;
  const clients: Client[] = [];
  const bots: Component[] = [];

  before(async function () {
    await skipWithoutClusterServices(this);
    cluster = await startTestCluster(['127.0.0.181', '127.0.0.189'], { config: { components: { services: { [BOT]: { secret: SECRET } } } } });
    await cluster.nodes[0]!.addUser('carla', PASSWORD);
  });

  after(async () => {
    for (const c of clients) await stopQuietly(c);
    for (const b of bots) await stopComponent(b);
    await cluster?.stop();
  });

  it('serves users of the other node, refuses a second connection anywhere, and moves when it reconnects elsewhere', async () => {
    const [a, b] = cluster.nodes;
    const bot = await startComponent(a!);
    bots.push(bot);
    const user = await connect(b!, 'carla', PASSWORD, { resource: 'far' });
    clients.push(user);

    const got = receives(bot, (el) => el.is('message') && el.getChildText('body') === 'from node b');
    await user.send(xml('message', { to: `echo@${BOT}`, type: 'chat' }, xml('body', {}, 'from node b')));
    expect((await got).attrs.from).to.equal(`carla@${a!.domain}/far`);
    const answer = nextStanza(user, (el) => el.is('message') && el.getChildText('body') === 'to node b');
    await bot.send(cxml('message', { from: `echo@${BOT}`, to: `carla@${a!.domain}/far`, type: 'chat' }, cxml('body', {}, 'to node b')));
    expect((await answer).attrs.from).to.equal(`echo@${BOT}`);

    // Connected once in the whole cluster.
    const second = await startComponent(b!).then(() => null, (err: { condition?: string }) => err);
    expect(second?.condition).to.equal('conflict');

    // Gone: the user on the other node gets service-unavailable.
    await stopComponent(bots.pop()!);
    await delay(300);
    const bounced = nextStanza(user, (el) => el.is('message') && el.attrs.type === 'error');
    await user.send(xml('message', { to: `echo@${BOT}`, type: 'chat' }, xml('body', {}, 'anyone?')));
    expect((await bounced).getChild('error')?.getChild('service-unavailable')).to.not.equal(undefined);

    // Back, on node b this time: a user on node a reaches it.
    const moved = await startComponent(b!);
    bots.push(moved);
    const near = await connect(a!, 'carla', PASSWORD, { resource: 'near' });
    clients.push(near);
    const again = receives(moved, (el) => el.is('message') && el.getChildText('body') === 'from node a');
    await near.send(xml('message', { to: BOT, type: 'chat' }, xml('body', {}, 'from node a')));
    expect((await again).attrs.from).to.equal(`carla@${a!.domain}/near`);
  });
});
