// What an inbound server-to-server stream refuses before any authentication, over raw TCP:
// RFC 6120 §4.9.3 stream errors for bad headers, stanzas before authentication and
// garbage, and the per-address cap on unauthenticated connections.
import { expect } from 'chai';
import { RawConnection } from '../helpers/raw.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const HOST = '127.0.0.117';
const DOMAIN = 'in.hearth.example';

function serverHeader(to: string, extra = ''): string {
  return `<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='peer.example' to='${to}' version='1.0'${extra}>`;
}

describe('inbound s2s streams before authentication', function () {
  this.timeout(30_000);
  let ts: TestServer;
  let port: number;
  const open: RawConnection[] = [];

  before(async function () {
    ts = await startTestServer({ host: HOST, domain: DOMAIN, config: { limits: { unauthenticatedPerIp: 3 } } });
    port = ts.server.s2s.bound[0]!.port;
  });

  afterEach(function () {
    for (const c of open.splice(0)) c.destroy();
  });

  after(async function () {
    await ts?.stop();
  });

  async function connect(): Promise<RawConnection> {
    const c = await RawConnection.open(HOST, port);
    open.push(c);
    return c;
  }

  it('offers only STARTTLS (required) before TLS, with dialback and EXTERNAL held back', async function () {
    const c = await connect();
    c.send(serverHeader(DOMAIN));
    const features = await c.waitFor(/<stream:features>[\s\S]*<\/stream:features>/);
    expect(features).to.match(/<starttls xmlns=['"]urn:ietf:params:xml:ns:xmpp-tls['"]><required\/><\/starttls>/);
    expect(features).to.not.match(/dialback|mechanisms/);
    expect(c.text).to.match(/<stream:stream [^>]*xmlns=['"]jabber:server['"][^>]*from=['"]in\.hearth\.example['"]/);
  });

  it('ends a stream whose header names a domain it does not serve with host-unknown', async function () {
    const c = await connect();
    c.send(serverHeader('elsewhere.example'));
    expect(await c.streamErrorAndClose()).to.equal('host-unknown');
  });

  it('ends a client-namespace stream with invalid-namespace', async function () {
    const c = await connect();
    c.send(`<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='${DOMAIN}' version='1.0'>`);
    expect(await c.streamErrorAndClose()).to.equal('invalid-namespace');
  });

  it('refuses stanzas and dialback before TLS with not-authorized, delivering nothing', async function () {
    await ts.addUser('victim', 'victim-secret');
    for (const element of [
      `<message from='mallory@peer.example' to='victim@${DOMAIN}' type='chat'><body>spoof</body></message>`,
      `<db:result from='peer.example' to='${DOMAIN}'>0123456789abcdef</db:result>`,
    ]) {
      const c = await connect();
      c.send(serverHeader(DOMAIN));
      await c.waitFor(/<\/stream:features>/);
      c.send(element);
      expect(await c.streamErrorAndClose()).to.equal('not-authorized');
    }
    expect(await ts.server.stores.offline.count('victim', DOMAIN)).to.equal(0);
  });

  it('closes a stream that sends garbage with not-well-formed', async function () {
    const c = await connect();
    c.send(serverHeader(DOMAIN));
    await c.waitFor(/<\/stream:features>/);
    c.send('<<<this is not xml');
    expect(await c.streamErrorAndClose()).to.equal('not-well-formed');
  });

  it('caps unauthenticated connections per address (limits.unauthenticatedPerIp)', async function () {
    const first = [await connect(), await connect(), await connect()];
    for (const c of first) {
      c.send(serverHeader(DOMAIN));
      await c.waitFor(/<\/stream:features>/);
    }
    const fourth = await connect();
    expect(await fourth.streamErrorAndClose()).to.equal('policy-violation');
    expect(first.every((c) => !c.ended)).to.equal(true);
  });
});
