// The admin API of any node sees the whole cluster: sessions on every node (each naming its
// node), kicks of a session held by another node, stats per node and in total.
import { expect } from 'chai';
import { connect, delay, nextStreamError, stopQuietly, xml, type Client } from '../helpers/xmpp-client.js';
import { skipWithoutClusterServices, startTestCluster, type TestCluster } from './helpers.js';

describe('cluster: administration across nodes', function () {
  this.timeout(30_000);
  let cluster: TestCluster;
  let token: string;
  const clients: Client[] = [];

  before(async function () {
    await skipWithoutClusterServices(this);
    cluster = await startTestCluster(['127.0.0.196', '127.0.0.197']);
    const [a] = cluster.nodes;
    await a!.addUser('carol', 'carol-pw');
    await a!.addUser('dave', 'dave-pw');
    token = (await a!.server.services.tokens.create({ name: 'cluster-admin' })).token;
  });

  after(async () => {
    for (const c of clients) await stopQuietly(c);
    await cluster?.stop();
  });

  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${cluster.nodes[0]!.adminUrl}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...init.headers } });

  it('lists sessions of every node with their node, and counts them per node in the stats', async () => {
    const [a, b] = cluster.nodes;
    const carol = await connect(a!, 'carol', 'carol-pw', { resource: 'desk' });
    const dave = await connect(b!, 'dave', 'dave-pw', { resource: 'phone' });
    clients.push(carol, dave);
    await dave.send(xml('presence'));
    await delay(200);
    const list = (await (await api('/api/v1/sessions')).json()) as { sessions: Array<{ jid: string; node: string; available: boolean }> };
    const byJid = new Map(list.sessions.map((s) => [s.jid, s]));
    expect(byJid.get('carol@hearth.example/desk')?.node).to.equal(a!.server.cluster!.node);
    expect(byJid.get('dave@hearth.example/phone')?.node).to.equal(b!.server.cluster!.node);
    expect(byJid.get('dave@hearth.example/phone')?.available).to.equal(true);

    // Node B reports every third of the TTL (2 s in these tests).
    let stats: { sessions: { online: number }; nodes?: Array<{ node: string; sessions: number }> } = { sessions: { online: 0 } };
    const deadline = Date.now() + 3_000;
    while (Date.now() < deadline) {
      stats = (await (await api('/api/v1/stats')).json()) as typeof stats;
      if (stats.nodes?.find((n) => n.node === b!.server.cluster!.node)?.sessions === 1) break;
      await delay(100);
    }
    expect(stats.sessions.online).to.equal(2);
    expect(stats.nodes?.map((n) => [n.node, n.sessions]).sort()).to.deep.equal(
      [[a!.server.cluster!.node, 1], [b!.server.cluster!.node, 1]].sort(),
    );
  });

  it('kicks a session held by another node; without a token the kick is refused', async () => {
    const [, b] = cluster.nodes;
    const dave = await connect(b!, 'dave', 'dave-pw', { resource: 'tablet' });
    clients.push(dave);
    await delay(100);
    const refused = await fetch(`${cluster.nodes[0]!.adminUrl}/api/v1/accounts/dave@hearth.example/sessions`, { method: 'DELETE' });
    expect(refused.status).to.equal(401);
    const ended = nextStreamError(dave, 5_000);
    const response = await api('/api/v1/accounts/dave@hearth.example/sessions/tablet', { method: 'DELETE' });
    expect(response.status).to.equal(200);
    expect(((await response.json()) as { kicked: number }).kicked).to.equal(1);
    expect(await ended).to.equal('policy-violation');
  });
});
