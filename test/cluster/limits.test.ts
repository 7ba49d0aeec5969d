// Limits that protect accounts hold across a cluster: handshakes per address and failed
// logins are counted over every node, so two nodes do not give an address twice the tries.
import { expect } from 'chai';
import { plainAuth, RawConnection, streamHeader } from '../helpers/raw.js';
import type { TestServer } from '../helpers/server.js';
import { delay } from '../helpers/xmpp-client.js';
import { skipWithoutClusterServices, startTestCluster, type TestCluster } from './helpers.js';

describe('cluster: limits counted over every node', function () {
  this.timeout(30_000);
  let cluster: TestCluster;
  let a: TestServer;
  let b: TestServer;
  const connections: RawConnection[] = [];

  before(async function () {
    await skipWithoutClusterServices(this);
    cluster = await startTestCluster(['127.0.0.185', '127.0.0.186'], {
      config: { c2s: { requireTls: false, allowPlaintextAuth: true }, limits: { unauthenticatedPerIp: 2, authFailuresPerMinute: 2 } },
    });
    [a, b] = cluster.nodes as [TestServer, TestServer];
    await a.addUser('victim', 'right-password');
  });

  afterEach(() => {
    for (const connection of connections.splice(0)) connection.destroy();
  });

  after(async () => {
    await cluster?.stop();
  });

  /** A stream opened, whatever the server answers. */
  async function start(node: TestServer): Promise<RawConnection> {
    const connection = await RawConnection.open(node.host, node.port);
    connections.push(connection);
    connection.send(streamHeader(node.domain));
    return connection;
  }

  async function open(node: TestServer): Promise<RawConnection> {
    const connection = await start(node);
    await connection.waitFor(/<\/stream:features>/);
    return connection;
  }

  it('refuses a third unauthenticated connection from one address on the other node, and admits one once the first two are gone', async () => {
    const first = await open(a);
    const second = await open(a);
    // The other node's count arrives a moment after the stream opens: the refusal may come
    // before or after the stream features.
    const third = await start(b);
    expect(await third.streamErrorAndClose()).to.equal('policy-violation');
    expect(first.ended || second.ended).to.equal(false);

    first.destroy();
    second.destroy();
    // Node a's counts reach Redis a moment after the sockets close.
    let admitted: RawConnection | null = null;
    for (let attempt = 0; attempt < 20 && !admitted; attempt++) {
      await delay(100);
      // Until then node b refuses with a stream error before any features: that attempt
      // failed, the next one may not.
      const candidate = await open(b).catch(() => null);
      if (!candidate) continue;
      await delay(200);
      if (!candidate.ended) admitted = candidate;
    }
    expect(admitted, 'a connection admitted on node b').to.not.equal(null);
    expect(admitted!.text).to.not.contain('policy-violation');
  });

  it('slows down logins on one node after failures on the other (authFailuresPerMinute)', async () => {
    // Three failures on node a: past the limit of 2 a minute.
    for (let i = 0; i < 3; i++) {
      const connection = await open(a);
      connection.send(plainAuth('victim', `wrong-${i}`));
      await connection.waitFor(/<failure /, 10_000);
      connection.destroy();
    }
    // The next failure on node b is answered only after the throttle's wait (500 ms and up;
    // counted on node b alone it would be the first failure, answered at once).
    const connection = await open(b);
    const started = Date.now();
    connection.send(plainAuth('victim', 'wrong-again'));
    await connection.waitFor(/<failure /, 15_000);
    expect(Date.now() - started).to.be.at.least(450);
  });
});
