// BOSH in a cluster: the requests of one session reach different nodes (as behind a load
// balancer, or `--workers N` sharing a port); each is forwarded to the node holding the session.
import { expect } from 'chai';
import { BoshClient } from '../helpers/bosh-client.js';
import { connect, delay, nextStanza, stopQuietly, xml, type Client } from '../helpers/xmpp-client.js';
import { skipWithoutClusterServices, startTestCluster, type TestCluster } from './helpers.js';

const PASSWORD = 'bosh-cluster-pw';

describe('cluster: BOSH requests on any node', function () {
  this.timeout(30_000);
  let cluster: TestCluster;
  const clients: Client[] = [];

  before(async function () {
    await skipWithoutClusterServices(this);
    cluster = await startTestCluster(['127.0.0.179', '127.0.0.180']);
    await cluster.nodes[0]!.addUser('webby', PASSWORD);
    await cluster.nodes[0]!.addUser('desk', PASSWORD);
  });

  after(async () => {
    for (const c of clients) await stopQuietly(c);
    await cluster?.stop();
  });

  it('logs in, chats and terminates with requests alternating between two nodes', async () => {
    const [a, b] = cluster.nodes;
    const urls = [`${a!.httpUrl}/http-bind`, `${b!.httpUrl}/http-bind`];
    const bosh = new BoshClient(urls[0]!, a!.domain);
    let turn = 0;
    // Every request goes to the next node in turn.
    const post = bosh.post.bind(bosh);
    bosh.post = (body: string) => {
      bosh.url = urls[turn++ % 2]!;
      return post(body);
    };
    const jid = await bosh.login('webby', PASSWORD, 'web');
    expect(turn).to.be.greaterThan(3);
    expect(bosh.sid).to.match(/\.[A-Za-z0-9_-]{12}$/);

    const tcp = await connect(b!, 'desk', PASSWORD, { resource: 'pc' });
    clients.push(tcp);
    const atTcp = nextStanza(tcp, (el) => el.is('message') && el.getChildText('body') === 'via any node');
    const sent = bosh.send(`<message xmlns='jabber:client' to='desk@${a!.domain}/pc' type='chat'><body>via any node</body></message>`);
    expect((await atTcp).attrs.from).to.equal(jid);
    await sent;

    // A long poll held through the other node is answered when the message arrives.
    const poll = bosh.send();
    await delay(200);
    await tcp.send(xml('message', { to: jid, type: 'chat' }, xml('body', {}, 'back through a relay')));
    const response = await poll;
    expect(response.body?.getChild('message')?.getChildText('body')).to.equal('back through a relay');

    // A repeated rid through either node gets the cached response.
    const ping = bosh.request(`<iq xmlns='jabber:client' type='get' id='cp1'><ping xmlns='urn:xmpp:ping'/></iq>`);
    const first = await ping.send();
    const again = await bosh.post(ping.xml);
    expect(again.text).to.equal(first.text);

    const ended = await bosh.send('', { type: 'terminate' });
    expect(ended.body?.attrs.type).to.equal('terminate');
    const after = await bosh.send();
    expect(after.body?.attrs.condition).to.equal('item-not-found');
  });

  it('answers item-not-found for a sid that names no live node', async () => {
    const [a] = cluster.nodes;
    const bosh = new BoshClient(`${a!.httpUrl}/http-bind`, a!.domain);
    bosh.sid = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.nonexistent1';
    const response = await bosh.send();
    expect(response.body?.attrs.condition).to.equal('item-not-found');
  });
});
