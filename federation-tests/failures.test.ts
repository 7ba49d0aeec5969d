// Failure paths, as the users see them, and misbehaving peers:
//  - unreachable domains bounce with remote-server-not-found / remote-server-timeout within
//    a bounded time (RFC 6120 §8.3.3.16, §8.3.3.17), and a later stanza tries again;
//  - resolution without a route: /etc/hosts (A/AAAA on 5269) after SRV gives up;
//  - a raw TLS peer with a valid test-CA certificate for evil.hearth.example authenticates
//    with SASL EXTERNAL (XEP-0178) and then claims other domains (invalid-from), addresses
//    domains the server does not serve (host-unknown), or sends garbage: its stream ends
//    with a stream error, nothing it claimed is delivered, and other users never notice.
import net from 'node:net';
import { expect } from 'chai';
import { messageDelivered, REMOTE_MS } from './helpers/flows.js';
import { HearthServer } from './helpers/hearth.js';
import { getPki } from './helpers/pki.js';
import { RawS2s, streamErrorCondition } from './helpers/raw-s2s.js';
import { bare, delay, isMessageFrom, login, logout, stanzaErrorCondition, xml, type Element, type User } from './helpers/xmpp.js';

const A = 'a.hearth.example';
const B = 'b.hearth.example';
const EVIL = 'evil.hearth.example';
const CLOSED = 'closed.hearth.example';
const SILENT = 'silent.hearth.example';
const HOSTS = 'hosts.hearth.example';
const NOWHERE = 'nowhere.hearth.example'; // no route, not in /etc/hosts
const RAW_FROM = '127.0.0.170'; // the raw peers' local address

const isBounce = (id: string) => (el: Element) => el.is('message') && el.attrs.type === 'error' && el.attrs.id === id;

describe('federation: failure paths and misbehaving peers', function () {
  let a: HearthServer;
  let b: HearthServer;
  let alice: User | undefined;
  let bob: User | undefined;
  const extra: HearthServer[] = [];
  const users: User[] = [];
  const raws: RawS2s[] = [];
  let silent: net.Server | null = null;
  const silentSockets = new Set<net.Socket>();
  let silentAccepted = 0;

  before(async function () {
    this.timeout(180_000);
    a = await HearthServer.create({
      name: 'a-failures',
      domains: [A],
      address: '127.0.0.151',
      certificates: 'ca',
      routes: { [B]: '127.0.0.152:5269', [CLOSED]: '127.0.0.171:5269', [SILENT]: '127.0.0.172:5269' },
      connectTimeoutMs: 2_000,
      dnsTimeoutMs: 1_000,
    });
    b = await HearthServer.create({
      name: 'b-failures',
      domains: [B],
      address: '127.0.0.152',
      certificates: 'ca',
      routes: { [A]: '127.0.0.151:5269' },
    });
    await a.addUser('alice', 'alice-secret');
    await b.addUser('bob', 'bob-secret');
    await Promise.all([a.start(), b.start()]);
    alice = await login({ host: a.address, domain: A, username: 'alice', password: 'alice-secret' });
    bob = await login({ host: b.address, domain: B, username: 'bob', password: 'bob-secret' });
  });

  after(async function () {
    this.timeout(30_000);
    for (const raw of raws) raw.destroy();
    for (const s of silentSockets) s.destroy();
    silent?.close();
    await Promise.all([logout(alice), logout(bob), ...users.map((u) => logout(u))]);
    await Promise.all([a?.stop(), b?.stop(), ...extra.map((s) => s.stop())]);
  });

  async function startPeer(name: string, domain: string, address: string, user: string): Promise<User> {
    const server = await HearthServer.create({ name, domains: [domain], address, certificates: 'ca', routes: { [A]: '127.0.0.151:5269' } });
    extra.push(server);
    await server.addUser(user, `${user}-secret`);
    await server.start();
    const u = await login({ host: address, domain, username: user, password: `${user}-secret` });
    users.push(u);
    return u;
  }

  async function openRaw(): Promise<RawS2s> {
    const raw = await RawS2s.open({ host: b.address, localAddress: RAW_FROM });
    raws.push(raw);
    return raw;
  }

  /** A raw peer authenticated to b as evil.hearth.example with SASL EXTERNAL. */
  async function evilAuthenticated(): Promise<RawS2s> {
    const pki = await getPki();
    const evil = pki.issued(EVIL);
    const raw = await openRaw();
    const first = await raw.openStream(EVIL, B);
    expect(first, 'b offers STARTTLS').to.match(/<starttls[^>]*urn:ietf:params:xml:ns:xmpp-tls/);
    await raw.startTls({ servername: B, ca: pki.caPem, cert: evil.certPem, key: evil.keyPem });
    const secured = await raw.openStream(EVIL, B);
    expect(secured, 'b offers SASL EXTERNAL to a peer whose certificate is valid for its domain').to.match(/<mechanism>EXTERNAL<\/mechanism>/);
    expect(await raw.saslExternal('='), 'SASL EXTERNAL outcome').to.equal('success');
    await raw.openStream(EVIL, B); // RFC 6120 §6.4.6: restart after SASL success
    return raw;
  }

  /** b has handled everything sent to it before: a round trip for bob through b. */
  async function settle(): Promise<void> {
    await bob!.xmpp.iqCaller.request(xml('iq', { type: 'get', to: B }, xml('ping', { xmlns: 'urn:xmpp:ping' })), 5_000);
    await delay(300);
  }

  it('a route to a closed port: remote-server-not-found within seconds; a later message is delivered once a server listens there', async function () {
    this.timeout(180_000);
    const started = Date.now();
    await alice!.xmpp.send(xml('message', { to: `dave@${CLOSED}`, type: 'chat', id: 'closed-1' }, xml('body', {}, 'anyone?')));
    const bounce = await alice!.inbox.take(isBounce('closed-1'), 10_000, 'the bounce from the closed port');
    expect(Date.now() - started).to.be.below(5_000);
    expect(stanzaErrorCondition(bounce)).to.deep.equal({ condition: 'remote-server-not-found', type: 'cancel' });
    expect(bare(bounce.attrs.to)).to.equal(`alice@${A}`);

    const dave = await startPeer('closed', CLOSED, '127.0.0.171', 'dave');
    await alice!.xmpp.send(xml('message', { to: `dave@${CLOSED}`, type: 'chat', id: 'closed-2' }, xml('body', {}, 'now?')));
    const got = await dave.inbox.take(isMessageFrom(`alice@${A}`, 'now?'), REMOTE_MS, 'the retried message');
    expect(got.attrs.from).to.equal(alice!.fullJid);
    expect(alice!.inbox.peek(isBounce('closed-2'))).to.deep.equal([]);
  });

  it('a route to a listener that never answers: every queued stanza bounces with remote-server-timeout after connectTimeoutMs; later delivered', async function () {
    this.timeout(180_000);
    silent = net.createServer((socket) => {
      silentAccepted++;
      silentSockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => silentSockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      silent!.once('error', reject);
      silent!.listen(5269, '127.0.0.172', resolve);
    });
    const started = Date.now();
    for (const id of ['silent-1', 'silent-2', 'silent-3']) {
      await alice!.xmpp.send(xml('message', { to: `sam@${SILENT}`, type: 'chat', id }, xml('body', {}, id)));
    }
    for (const id of ['silent-1', 'silent-2', 'silent-3']) {
      const bounce = await alice!.inbox.take(isBounce(id), 15_000, `the bounce of ${id}`);
      expect(stanzaErrorCondition(bounce), id).to.deep.equal({ condition: 'remote-server-timeout', type: 'wait' });
    }
    const elapsed = Date.now() - started;
    expect(elapsed, 'not before connectTimeoutMs (2 s)').to.be.at.least(1_500);
    expect(elapsed, 'bounded').to.be.below(10_000);
    expect(silentAccepted, 'Hearth did connect to the silent listener').to.be.at.least(1);

    // The silent peer goes away; a real server starts there; the next message is delivered.
    for (const s of silentSockets) s.destroy();
    await new Promise<void>((resolve) => silent!.close(() => resolve()));
    silent = null;
    const sam = await startPeer('silent', SILENT, '127.0.0.172', 'sam');
    await alice!.xmpp.send(xml('message', { to: `sam@${SILENT}`, type: 'chat', id: 'silent-4' }, xml('body', {}, 'there you are')));
    await sam.inbox.take(isMessageFrom(`alice@${A}`, 'there you are'), REMOTE_MS, 'the message after the timeout');
  });

  it('a domain with no route and no address: remote-server-not-found after the DNS timeouts; an error stanza is never bounced', async function () {
    this.timeout(60_000);
    const started = Date.now();
    // RFC 6120 §8.3.1: an error stanza must not be answered with an error.
    await alice!.xmpp.send(xml('message', { to: `nobody@${NOWHERE}`, type: 'error', id: 'nowhere-error' }, xml('error', { type: 'cancel' }, xml('item-not-found', { xmlns: 'urn:ietf:params:xml:ns:xmpp-stanzas' }))));
    await alice!.xmpp.send(xml('message', { to: `nobody@${NOWHERE}`, type: 'chat', id: 'nowhere-1' }, xml('body', {}, 'hello?')));
    const bounce = await alice!.inbox.take(isBounce('nowhere-1'), 20_000, 'the bounce for a domain without address');
    expect(stanzaErrorCondition(bounce)?.condition).to.equal('remote-server-not-found');
    expect(Date.now() - started, 'bounded by the DNS timeouts (dnsTimeoutMs 1 s)').to.be.below(12_000);
    await delay(500);
    expect(alice!.inbox.peek(isBounce('nowhere-error')), 'no error in reply to an error').to.deep.equal([]);
  });

  it('a domain with no route is found through /etc/hosts (its A record) on port 5269', async function () {
    this.timeout(180_000);
    const hank = await startPeer('hosts', HOSTS, '127.0.0.154', 'hank');
    await messageDelivered(alice!, hank, 'bare');
    await messageDelivered(hank, alice!, 'bare');
  });

  it('a peer authenticated as evil.hearth.example may send as evil.hearth.example (control)', async () => {
    const raw = await evilAuthenticated();
    raw.send(`<message from='eve@${EVIL}' to='bob@${B}' type='chat' id='evil-ok'><body>legitimately from evil</body></message>`);
    const got = await bob!.inbox.take(isMessageFrom(`eve@${EVIL}`, 'legitimately from evil'), 10_000, 'the message from eve@evil');
    expect(got.attrs.from).to.equal(`eve@${EVIL}`);
    raw.destroy();
  });

  for (const spoofed of [`mallory@${B}`, `mallory@${A}`]) {
    it(`a peer authenticated as evil.hearth.example sending from ${spoofed}: stream error invalid-from, nothing delivered`, async () => {
      const raw = await evilAuthenticated();
      raw.send(`<message from='${spoofed}' to='bob@${B}' type='chat' id='spoof'><body>spoofed</body></message>`);
      const { condition } = await raw.streamErrorAndClose(10_000);
      expect(condition, raw.text.slice(-500)).to.equal('invalid-from');
      await settle();
      expect(bob!.inbox.peek((el) => el.getChildText('body') === 'spoofed'), 'bob received nothing').to.deep.equal([]);
    });
  }

  it('a stanza to a domain b does not serve: stream error host-unknown', async () => {
    const raw = await evilAuthenticated();
    raw.send(`<message from='eve@${EVIL}' to='someone@unserved.example' type='chat' id='unserved'><body>where?</body></message>`);
    const { condition } = await raw.streamErrorAndClose(10_000);
    expect(condition, raw.text.slice(-500)).to.equal('host-unknown');
  });

  it('a stream header to a domain b does not serve: stream error host-unknown (RFC 6120 §4.9.3.6)', async () => {
    const raw = await openRaw();
    raw.send(`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='${EVIL}' to='unserved.example' version='1.0'>`);
    const { condition } = await raw.streamErrorAndClose(10_000);
    expect(condition, raw.text.slice(-500)).to.equal('host-unknown');
  });

  it('a peer with a self-signed certificate is not offered SASL EXTERNAL, and is refused if it tries', async () => {
    const pki = await getPki();
    const self = await pki.selfSigned(EVIL);
    const raw = await openRaw();
    await raw.openStream(EVIL, B);
    await raw.startTls({ servername: B, ca: pki.caPem, cert: self.certPem, key: self.keyPem });
    const features = await raw.openStream(EVIL, B);
    expect(features, 'no EXTERNAL for an unverifiable certificate (XEP-0178 §3.3)').to.not.match(/<mechanism>EXTERNAL<\/mechanism>/);
    expect(features, 'dialback offered instead (XEP-0220 §2.1)').to.match(/<dialback[^>]*urn:xmpp:features:dialback/);
    const outcome = await raw.saslExternal('=').catch((err: Error) => `closed: ${err.message}`);
    expect(outcome).to.not.equal('success');
  });

  it('a peer with a valid certificate for evil.hearth.example claiming to be a.hearth.example gets no EXTERNAL for a', async () => {
    const pki = await getPki();
    const evil = pki.issued(EVIL);
    const raw = await openRaw();
    await raw.openStream(A, B);
    await raw.startTls({ servername: B, ca: pki.caPem, cert: evil.certPem, key: evil.keyPem });
    const features = await raw.openStream(A, B);
    // XEP-0178 §3.3: EXTERNAL only when the certificate is valid for the stream's 'from'.
    expect(features, 'no EXTERNAL for a certificate that is not a.hearth.example’s').to.not.match(/<mechanism>EXTERNAL<\/mechanism>/);
    const outcome = await raw.saslExternal('=').catch((err: Error) => `closed: ${err.message}`);
    expect(outcome).to.not.equal('success');
    raw.send(`<message from='alice@${A}' to='bob@${B}' type='chat'><body>as a, with evil's certificate</body></message>`);
    await delay(500);
    await settle();
    expect(bob!.inbox.peek((el) => el.getChildText('body') === "as a, with evil's certificate"), 'bob received nothing').to.deep.equal([]);
  });

  it('dialback claiming a.hearth.example with a forged key is not accepted, and nothing it sends is delivered', async () => {
    const pki = await getPki();
    const raw = await openRaw();
    await raw.openStream(A, B);
    await raw.startTls({ servername: B, ca: pki.caPem }); // no client certificate
    await raw.openStream(A, B);
    // XEP-0220 §2.1.1: the claimed domain and a key only a.hearth.example could compute.
    raw.send(`<db:result from='${A}' to='${B}'>${'f'.repeat(64)}</db:result>`);
    // b asks a (the authoritative server) and gets "invalid", or refuses outright.
    await raw
      .waitFor(/<db:result[^>]*type=['"](valid|invalid)['"]|<stream:error/, 15_000)
      .catch(() => undefined);
    expect(raw.text, 'b never says the forged key is valid').to.not.match(/<db:result[^>]*type=['"]valid['"]/);
    raw.send(`<message from='alice@${A}' to='bob@${B}' type='chat' id='forged'><body>forged</body></message>`);
    await delay(1_000);
    await settle();
    expect(bob!.inbox.peek((el) => el.getChildText('body') === 'forged'), 'bob received nothing').to.deep.equal([]);
  });

  it('a peer ending its stream with a stream error (system-shutdown) gets a closing tag, not a stream error back', async () => {
    const raw = await evilAuthenticated();
    const mark = raw.text.length;
    // What a server shutting down sends on the streams it initiated (RFC 6120 §4.9.3.17).
    raw.send(`<stream:error><system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>`);
    await raw.streamErrorAndClose(10_000).catch(() => undefined);
    const reply = raw.text.slice(mark);
    // RFC 6120 §4.4: the receiver of the closing tag closes its side with a closing tag. A
    // stream error is the end of the stream (§4.9.1.1), not something to answer with another.
    expect(reply, 'b answered the peer’s stream error with one of its own').to.not.match(/<stream:error/);
    expect(reply).to.match(/<\/stream:stream>/);
  });

  it('garbage from a peer closes its stream with a stream error; alice and bob keep chatting', async () => {
    // Before authentication.
    const raw = await openRaw();
    await raw.openStream(EVIL, B);
    raw.send('<<this is not XML>>&&');
    const before = await raw.streamErrorAndClose(10_000);
    expect(before.condition, raw.text.slice(-500)).to.be.a('string');
    expect(['not-well-formed', 'bad-format', 'invalid-xml']).to.include(before.condition);

    // After SASL EXTERNAL, on an authenticated stream.
    const authed = await evilAuthenticated();
    authed.send(`<message from='eve@${EVIL}' to='bob@${B}'><body>unterminated</bo></message>`);
    const after = await authed.streamErrorAndClose(10_000);
    expect(['not-well-formed', 'bad-format', 'invalid-xml']).to.include(after.condition);
    expect(streamErrorCondition(authed.text)).to.equal(after.condition);

    // Everyone else is unaffected.
    await messageDelivered(alice!, bob!, 'bare');
    await messageDelivered(bob!, alice!, 'bare');
  });
});
