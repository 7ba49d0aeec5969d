// Federation between Hearth servers in one process, driven by @xmpp/client users on each side:
// SASL EXTERNAL between servers with certificates from the test CA, Server Dialback with a
// self-signed peer, and a bounce for an unreachable domain. (federation-tests/ runs the same
// against real processes and Prosody.)
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { parsePrometheusText, sampleValue } from '../helpers/prometheus.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { acknowledgeRosterPushes, connect, nextStanza, stopQuietly, xml, type Client } from '../helpers/xmpp-client.js';

const CA = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'tls', 'ca.crt');
const A = { host: '127.0.0.110', domain: 'a.hearth.example' };
/** A second domain served by A's process (a virtual host on the same listener). */
const A2 = 'a2.hearth.example';
const B = { host: '127.0.0.111', domain: 'b.hearth.example' };
const C = { host: '127.0.0.112', domain: 'c.hearth.example' };
const NOWHERE = { host: '127.0.0.113', domain: 'nowhere.hearth.example' };
/** Accepts TCP connections and never says a word. */
const SILENT = { host: '127.0.0.116', domain: 'silent.hearth.example' };
const PASSWORD = 'federated-secret';

const routes = {
  [A.domain]: `${A.host}:5269`,
  [A2]: `${A.host}:5269`,
  [B.domain]: `${B.host}:5269`,
  [C.domain]: `${C.host}:5269`,
  [NOWHERE.domain]: `${NOWHERE.host}:5269`,
  [SILENT.domain]: `${SILENT.host}:5269`,
};

/** Remote domains of the server's dialback-authenticated streams, per direction. */
function dialbackStreams(server: TestServer): { incoming: string[]; outgoing: string[] } {
  const streams = server.server.s2s.streams().filter((s) => s.method === 'dialback');
  return {
    incoming: streams.filter((s) => s.direction === 'in').map((s) => s.domain),
    outgoing: streams.filter((s) => s.direction === 'out').map((s) => s.domain),
  };
}

describe('federation between Hearth servers (s2s)', function () {
  this.timeout(30_000);
  let a: TestServer;
  let b: TestServer;
  let c: TestServer;
  const clients: Client[] = [];
  const silent = net.createServer((socket) => socket.on('error', () => undefined));

  before(async function () {
    await new Promise<void>((resolve) => silent.listen(5269, SILENT.host, resolve));
    const s2s = (peerInsecure: string[]) => ({ listen: [], routes, trustedCa: CA, insecureDomains: peerInsecure, connectTimeoutMs: 3_000 });
    const admin = (host: string) => ({ listen: [`${host}:0`] });
    a = await startTestServer({ host: A.host, domain: A.domain, extraDomains: [A2], config: { admin: admin(A.host), s2s: { ...s2s([C.domain]), listen: [`${A.host}:5269`] } } });
    b = await startTestServer({ host: B.host, domain: B.domain, config: { admin: admin(B.host), s2s: { ...s2s([]), listen: [`${B.host}:5269`] } } });
    // C has a self-signed certificate and does not trust the test CA: it and A list each other
    // as insecure, so each direction is authenticated by dialback.
    c = await startTestServer({
      host: C.host,
      domain: C.domain,
      testCa: false,
      config: { admin: admin(C.host), s2s: { ...s2s([A.domain]), trustedCa: null, listen: [`${C.host}:5269`] } },
    });
    for (const server of [a, b, c]) {
      await server.addUser('alice', PASSWORD);
      await server.addUser('bob', PASSWORD);
    }
    await a.server.accounts.add(`dave@${A2}`, PASSWORD);
  });

  after(async function () {
    for (const client of clients) await stopQuietly(client);
    for (const server of [a, b, c]) await server?.stop();
    silent.close();
  });

  async function login(server: TestServer, user: string): Promise<Client> {
    const client = acknowledgeRosterPushes(await connect(server, user, PASSWORD, { mechanism: 'PLAIN' }));
    clients.push(client);
    return client;
  }

  it('carries chat messages both ways between certificate-authenticated servers', async function () {
    const alice = await login(a, 'alice');
    const bob = await login(b, 'bob');
    await alice.send(xml('presence'));
    await bob.send(xml('presence'));

    const toBob = nextStanza(bob, (el) => el.is('message') && el.getChildText('body') === 'hello from a', 8_000);
    await alice.send(xml('message', { to: `bob@${B.domain}`, type: 'chat' }, xml('body', {}, 'hello from a')));
    const received = await toBob;
    expect(received.attrs.from).to.equal(alice.jid!.toString());

    const toAlice = nextStanza(alice, (el) => el.is('message') && el.getChildText('body') === 'hello from b', 8_000);
    await bob.send(xml('message', { to: alice.jid!.toString(), type: 'chat' }, xml('body', {}, 'hello from b')));
    expect((await toAlice).attrs.from).to.equal(bob.jid!.toString());

    const counts = a.server.s2s.streamCounts();
    expect(counts.outgoing[B.domain]).to.equal(1);
    expect(counts.incoming[B.domain]).to.equal(1);
    // Both certificates chain to the trusted test CA: XEP-0178 both ways.
    expect(a.server.s2s.streams().map((s) => `${s.direction} ${s.domain} ${s.method} ${s.tls}`).sort()).to.deep.equal([
      `in ${B.domain} SASL EXTERNAL true`,
      `out ${B.domain} SASL EXTERNAL true`,
    ]);
    // The same figures reach /metrics, and the messages were counted as s2s traffic.
    const metrics = parsePrometheusText(await a.server.metrics.render());
    expect(sampleValue(metrics, 'hearth_s2s_streams', { direction: 'outgoing', domain: B.domain })).to.equal(1);
    expect(sampleValue(metrics, 'hearth_stanzas_sent_total', { transport: 's2s', kind: 'message' })).to.be.at.least(1);
    expect(sampleValue(metrics, 'hearth_stanzas_received_total', { transport: 's2s', kind: 'message' })).to.be.at.least(1);
  });

  it('serves several local domains on one listener, each with its own streams', async function () {
    const bob = clients[1]!;
    const dave = acknowledgeRosterPushes(await connect({ ...a, domain: A2 }, 'dave', PASSWORD, { mechanism: 'PLAIN' }));
    clients.push(dave);
    await dave.send(xml('presence'));
    const toDave = nextStanza(dave, (el) => el.is('message') && el.getChildText('body') === 'to the second domain', 8_000);
    await bob.send(xml('message', { to: `dave@${A2}`, type: 'chat' }, xml('body', {}, 'to the second domain')));
    expect((await toDave).attrs.from).to.equal(bob.jid!.toString());
    const toBob = nextStanza(bob, (el) => el.is('message') && el.getChildText('body') === 'from the second domain', 8_000);
    await dave.send(xml('message', { to: bob.jid!.toString(), type: 'chat' }, xml('body', {}, 'from the second domain')));
    expect((await toBob).attrs.from).to.equal(dave.jid!.toString());
    expect(a.server.s2s.streamCounts().outgoing).to.deep.equal({ [B.domain]: 2 });
  });

  it('answers iq across domains: ping to the remote server and an error for an unknown remote user', async function () {
    const alice = clients[0]!;
    const pong = await alice.iqCaller.request(xml('iq', { type: 'get', to: B.domain }, xml('ping', { xmlns: 'urn:xmpp:ping' })), 8_000);
    expect(pong.attrs.from).to.equal(B.domain);
    const error = nextStanza(alice, (el) => el.is('message') && el.attrs.type === 'error', 8_000);
    await alice.send(xml('message', { to: `nobody@${B.domain}`, type: 'chat', id: 'm-nobody' }, xml('body', {}, 'anyone?')));
    const bounced = await error;
    expect(bounced.attrs.from).to.equal(`nobody@${B.domain}`);
    expect(bounced.getChild('error')!.getChild('service-unavailable')).to.not.equal(undefined);
  });

  it('subscribes across domains and shares presence', async function () {
    const alice = clients[0]!;
    const bob = clients[1]!;
    const request = nextStanza(bob, (el) => el.is('presence') && el.attrs.type === 'subscribe', 8_000);
    await alice.send(xml('presence', { to: `bob@${B.domain}`, type: 'subscribe' }));
    expect((await request).attrs.from).to.equal(`alice@${A.domain}`);

    const approved = nextStanza(alice, (el) => el.is('presence') && el.attrs.type === 'subscribed', 8_000);
    const bobsPresence = nextStanza(alice, (el) => el.is('presence') && el.attrs.type === undefined && el.attrs.from === bob.jid!.toString(), 8_000);
    await bob.send(xml('presence', { to: `alice@${A.domain}`, type: 'subscribed' }));
    expect((await approved).attrs.from).to.equal(`bob@${B.domain}`);
    // RFC 6121 §3.1.5: after approval the contact's server sends its current presence.
    await bobsPresence;

    const update = nextStanza(alice, (el) => el.is('presence') && el.getChildText('status') === 'at the federation', 8_000);
    await bob.send(xml('presence', {}, xml('status', {}, 'at the federation')));
    expect((await update).attrs.from).to.equal(bob.jid!.toString());
  });

  it('authenticates a self-signed peer with Server Dialback, both ways', async function () {
    // C's certificate is self-signed (test clients cannot log in there), so the exchange is an
    // iq: the request goes a→c and the result c→a, each stream authenticated by dialback.
    const alice = clients[0]!;
    const pong = await alice.iqCaller.request(xml('iq', { type: 'get', to: C.domain }, xml('ping', { xmlns: 'urn:xmpp:ping' })), 10_000);
    expect(pong.attrs.from).to.equal(C.domain);
    expect(a.server.s2s.streamCounts().outgoing).to.deep.equal({ [B.domain]: 2, [C.domain]: 1 });
    expect(c.server.s2s.streamCounts().outgoing[A.domain]).to.equal(1);
    expect(c.server.s2s.streamCounts().incoming[A.domain]).to.equal(1);
    expect(dialbackStreams(a)).to.deep.equal({ incoming: [C.domain], outgoing: [C.domain] });
    expect(dialbackStreams(c)).to.deep.equal({ incoming: [A.domain], outgoing: [A.domain] });
  });

  it('refuses a peer whose certificate cannot be verified and is not listed as insecure', async function () {
    // B does not list C as insecure: C's self-signed certificate fails, the message bounces.
    const bob = clients[1]!;
    const error = nextStanza(bob, (el) => el.is('message') && el.attrs.type === 'error', 10_000);
    await bob.send(xml('message', { to: `alice@${C.domain}`, type: 'chat', id: 'to-c' }, xml('body', {}, 'will not arrive')));
    const bounced = await error;
    expect(bounced.attrs.id).to.equal('to-c');
    expect(bounced.getChild('error')!.getChild('remote-server-not-found')).to.not.equal(undefined);
  });

  it('bounces stanzas for an unreachable domain with remote-server-not-found, and tries again later', async function () {
    const alice = clients[0]!;
    for (const id of ['first', 'second']) {
      const error = nextStanza(alice, (el) => el.is('message') && el.attrs.id === id, 10_000);
      await alice.send(xml('message', { to: `someone@${NOWHERE.domain}`, type: 'chat', id }, xml('body', {}, 'hello?')));
      const bounced = await error;
      expect(bounced.attrs.type).to.equal('error');
      expect(bounced.getChild('error')!.getChild('remote-server-not-found')).to.not.equal(undefined);
    }
  });

  it('bounces with remote-server-timeout when the peer accepts the connection and never answers', async function () {
    const alice = clients[0]!;
    const started = Date.now();
    const error = nextStanza(alice, (el) => el.is('message') && el.attrs.id === 'silent', 10_000);
    await alice.send(xml('message', { to: `someone@${SILENT.domain}`, type: 'chat', id: 'silent' }, xml('body', {}, 'anyone?')));
    const bounced = await error;
    expect(bounced.getChild('error')!.getChild('remote-server-timeout')).to.not.equal(undefined);
    // s2s.connectTimeoutMs is 3 s here.
    expect(Date.now() - started).to.be.within(2_500, 6_000);
  });
});
