// Federation of a cluster: any node accepts inbound s2s, each node has its own outbound
// streams, and a dialback key one node issued is verified by another (the secret is shared
// through the database). The peer is a self-signed Hearth, so every stream uses dialback.
import { expect } from 'chai';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { acknowledgeRosterPushes, connect, stopQuietly, xml, type Client } from '../helpers/xmpp-client.js';
import { skipWithoutClusterServices, startTestCluster, type TestCluster } from './helpers.js';

const NODES = ['127.0.0.183', '127.0.0.184'];
const PEER = { host: '127.0.0.182', domain: 'remote.hearth.example' };
const CLUSTER_DOMAIN = 'hearth.example';
const PASSWORD = 'cluster-federation';

describe('cluster: federation with another server', function () {
  this.timeout(30_000);
  let cluster: TestCluster;
  let peer: TestServer;
  const clients: Client[] = [];

  before(async function () {
    await skipWithoutClusterServices(this);
    // The cluster's domain resolves to the second node only: the peer's dialback verification
    // of a key the first node issued, and its own stanzas, all go there.
    peer = await startTestServer({
      host: PEER.host,
      domain: PEER.domain,
      testCa: false,
      config: { s2s: { listen: [`${PEER.host}:5269`], routes: { [CLUSTER_DOMAIN]: `${NODES[1]}:5269` }, trustedCa: null, insecureDomains: [CLUSTER_DOMAIN], connectTimeoutMs: 3_000 } },
    });
    cluster = await startTestCluster(NODES, {}, (host) => ({
      s2s: { listen: [`${host}:5269`], routes: { [PEER.domain]: `${PEER.host}:5269` }, insecureDomains: [PEER.domain], connectTimeoutMs: 3_000 },
    }));
    await cluster.nodes[0]!.addUser('alice', PASSWORD);
    await cluster.nodes[0]!.addUser('bob', PASSWORD);
  });

  after(async () => {
    for (const client of clients) await stopQuietly(client);
    await cluster?.stop();
    await peer?.stop();
  });

  function streams(server: TestServer, direction: 'in' | 'out'): string[] {
    return server.server.s2s.streams().filter((s) => s.direction === direction && s.method === 'dialback').map((s) => s.domain);
  }

  it('a user of the node the peer never connects to reaches the peer; the answer comes in through the other node', async () => {
    const [n1, n2] = cluster.nodes as [TestServer, TestServer];
    const alice = acknowledgeRosterPushes(await connect(n1, 'alice', PASSWORD, { mechanism: 'PLAIN' }));
    clients.push(alice);
    const pong = await alice.iqCaller.request(xml('iq', { type: 'get', to: PEER.domain }, xml('ping', { xmlns: 'urn:xmpp:ping' })), 15_000);
    expect(pong.attrs.from).to.equal(PEER.domain);
    // n1 dialled out and its stream was accepted: the peer, which reaches the cluster's
    // domain only at n2, verified n1's dialback key there. Its answer came in through n2.
    expect(streams(n1, 'out')).to.deep.equal([PEER.domain]);
    expect(streams(n1, 'in')).to.deep.equal([]);
    expect(streams(n2, 'in')).to.deep.equal([PEER.domain]);
    expect(streams(peer, 'in')).to.include(CLUSTER_DOMAIN);
  });

  it('each node keeps its own outbound stream to the peer', async () => {
    const [, n2] = cluster.nodes as [TestServer, TestServer];
    const bob = acknowledgeRosterPushes(await connect(n2, 'bob', PASSWORD, { mechanism: 'PLAIN' }));
    clients.push(bob);
    const pong = await bob.iqCaller.request(xml('iq', { type: 'get', to: PEER.domain }, xml('ping', { xmlns: 'urn:xmpp:ping' })), 15_000);
    expect(pong.attrs.from).to.equal(PEER.domain);
    expect(streams(n2, 'out')).to.deep.equal([PEER.domain]);
    expect(streams(cluster.nodes[0]!, 'out')).to.deep.equal([PEER.domain]);
  });
});
