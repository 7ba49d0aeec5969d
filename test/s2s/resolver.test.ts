// Peer resolution (RFC 6120 §3.2): static routes win, SRV ordering by RFC 2782, the hosts
// file as the system resolver would read it, and bounded lookups when no DNS server answers.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { orderSrv, parseHostsFile, PeerResolver } from '../../src/s2s/resolver.js';

function hostsFile(text: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'hearth-hosts-')), 'hosts');
  writeFileSync(file, text);
  return file;
}

// A DNS server that never answers (nothing listens on this loopback port for UDP).
const SILENT_DNS = ['127.0.0.199:5399'];

describe('s2s peer resolution', function () {
  it('parses a hosts file: comments, aliases, several addresses per name', function () {
    const map = parseHostsFile('127.0.0.1 localhost\n# 10.0.0.1 commented.example\n127.0.0.151 a.hearth.example  alias.example # tail\n::1 a.hearth.example\nnot-an-ip x.example\n');
    expect(map.get('a.hearth.example')).to.deep.equal(['127.0.0.151', '::1']);
    expect(map.get('alias.example')).to.deep.equal(['127.0.0.151']);
    expect(map.has('commented.example')).to.equal(false);
    expect(map.has('x.example')).to.equal(false);
  });

  it('orders SRV records by priority, then weighted within a priority (RFC 2782)', function () {
    const records = [
      { name: 'c', port: 1, priority: 20, weight: 0 },
      { name: 'a', port: 1, priority: 10, weight: 60 },
      { name: 'b', port: 1, priority: 10, weight: 40 },
    ];
    // random() = 0: the first record of the running sum wins (b, weight 40, sorts before a).
    expect(orderSrv(records, () => 0).map((r) => r.name)).to.deep.equal(['b', 'a', 'c']);
    // random() close to 1: the heavier one is picked first.
    expect(orderSrv(records, () => 0.99).map((r) => r.name)).to.deep.equal(['a', 'b', 'c']);
    // Over many draws the weights show: a (60) comes first about 60% of the time.
    let aFirst = 0;
    for (let i = 0; i < 2000; i++) if (orderSrv(records)[0]!.name === 'a') aFirst++;
    expect(aFirst).to.be.within(1000, 1400);
  });

  it('uses a static route before DNS, resolving its host through the hosts file', async function () {
    const resolver = new PeerResolver({
      routes: { 'peer.example': 'peerhost.example:5299', 'ip.example': '127.0.0.150:5270' },
      timeoutMs: 200,
      hostsFile: hostsFile('127.0.0.152 peerhost.example\n'),
      servers: SILENT_DNS,
    });
    expect(await resolver.resolve('peer.example')).to.deep.equal([{ host: '127.0.0.152', port: 5299, directTls: false, source: 'route' }]);
    expect(await resolver.resolve('ip.example')).to.deep.equal([{ host: '127.0.0.150', port: 5270, directTls: false, source: 'route' }]);
  });

  it('falls back to the domain address on 5269 within the DNS timeout when no server answers', async function () {
    const resolver = new PeerResolver({ routes: {}, timeoutMs: 300, hostsFile: hostsFile('127.0.0.153 listed.example\n'), servers: SILENT_DNS });
    const started = Date.now();
    expect(await resolver.resolve('listed.example')).to.deep.equal([{ host: '127.0.0.153', port: 5269, directTls: false, source: 'fallback' }]);
    expect(await resolver.resolve('unlisted.example')).to.deep.equal([]);
    // Two rounds of lookups (SRV pair, then A/AAAA), each bounded by the timeout.
    expect(Date.now() - started).to.be.below(3_000);
  });
});
