// DNS SRV resolution against a test DNS server (RFC 6120 §3.2.1, RFC 2782) and direct TLS
// to a peer announced by `_xmpps-server._tcp` (XEP-0368).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { PeerResolver } from '../../src/s2s/resolver.js';
import { startDnsServer, type DnsZone, type TestDnsServer } from '../helpers/dns-server.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { connect, stopQuietly, xml, type Client } from '../helpers/xmpp-client.js';

const CA = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'tls', 'ca.crt');
const D = { host: '127.0.0.114', domain: 'd.hearth.example' };
const E = { host: '127.0.0.115', domain: 'e.hearth.example' };
const CLOSED_PORT = 1; // nothing listens on port 1 of a loopback address

describe('s2s resolution through DNS SRV records', function () {
  this.timeout(30_000);
  const zone: DnsZone = { a: {}, srv: {} };
  let dns: TestDnsServer;

  before(async function () {
    dns = await startDnsServer('127.0.0.114', zone);
  });

  after(async function () {
    await dns?.close();
  });

  it('orders _xmpps-server and _xmpp-server records together by priority, and honours "." (no service)', async function () {
    zone.srv!['_xmpps-server._tcp.srv.example'] = [{ priority: 10, weight: 0, port: 5223, target: 'tls.srv.example' }];
    zone.srv!['_xmpp-server._tcp.srv.example'] = [
      { priority: 5, weight: 0, port: 5269, target: 'one.srv.example' },
      { priority: 20, weight: 0, port: 5270, target: 'two.srv.example' },
    ];
    zone.a!['tls.srv.example'] = ['127.0.0.160'];
    zone.a!['one.srv.example'] = ['127.0.0.161'];
    zone.a!['two.srv.example'] = ['127.0.0.162', '127.0.0.163'];
    zone.srv!['_xmpp-server._tcp.none.example'] = [{ priority: 0, weight: 0, port: 0, target: '.' }];
    zone.a!['none.example'] = ['127.0.0.164'];
    const resolver = new PeerResolver({ routes: {}, timeoutMs: 1_000, servers: [dns.address], hostsFile: '/nonexistent' });
    expect(await resolver.resolve('srv.example')).to.deep.equal([
      { host: '127.0.0.161', port: 5269, directTls: false, source: 'srv' },
      { host: '127.0.0.160', port: 5223, directTls: true, source: 'srv-tls' },
      { host: '127.0.0.162', port: 5270, directTls: false, source: 'srv' },
      { host: '127.0.0.163', port: 5270, directTls: false, source: 'srv' },
    ]);
    // RFC 6120 §3.2.1: a lone "." target means the domain offers no server-to-server service.
    expect(await resolver.resolve('none.example')).to.deep.equal([]);
  });

  describe('between two servers', function () {
    let d: TestServer;
    let e: TestServer;
    let alice: Client | undefined;

    before(async function () {
      e = await startTestServer({
        host: E.host,
        domain: E.domain,
        dnsServers: [dns.address],
        config: { admin: { listen: [`${E.host}:0`] }, s2s: { listen: [`${E.host}:0`], directTls: [`${E.host}:0`], trustedCa: CA } },
      });
      d = await startTestServer({
        host: D.host,
        domain: D.domain,
        dnsServers: [dns.address],
        config: { admin: { listen: [`${D.host}:0`] }, s2s: { trustedCa: CA, dnsTimeoutMs: 1_000 } },
      });
      await d.addUser('alice', 'srv-secret');
      alice = await connect(d, 'alice', 'srv-secret', { mechanism: 'PLAIN' });
      // D's records, for E's stream back to D.
      zone.a![D.domain] = [D.host];
      zone.srv![`_xmpp-server._tcp.${D.domain}`] = [{ priority: 0, weight: 0, port: d.server.s2s.bound[0]!.port, target: D.domain }];
    });

    after(async function () {
      await stopQuietly(alice);
      await d?.stop();
      await e?.stop();
    });

    it('connects with direct TLS when _xmpps-server is preferred, after a dead STARTTLS candidate is skipped', async function () {
      const direct = e.server.s2s.bound.find((b) => b.kind === 's2s direct TLS')!;
      zone.a!['e-tls.hearth.example'] = [E.host];
      zone.a!['e-dead.hearth.example'] = [E.host];
      zone.srv![`_xmpp-server._tcp.${E.domain}`] = [{ priority: 0, weight: 0, port: CLOSED_PORT, target: 'e-dead.hearth.example' }];
      zone.srv![`_xmpps-server._tcp.${E.domain}`] = [{ priority: 1, weight: 0, port: direct.port, target: 'e-tls.hearth.example' }];
      const pong = await alice!.iqCaller.request(xml('iq', { type: 'get', to: E.domain }, xml('ping', { xmlns: 'urn:xmpp:ping' })), 10_000);
      expect(pong.attrs.from).to.equal(E.domain);
      expect(d.server.s2s.streams().filter((s) => s.direction === 'out').map((s) => `${s.domain} ${s.method} ${s.tls}`)).to.deep.equal([
        `${E.domain} SASL EXTERNAL true`,
      ]);
    });
  });
});
