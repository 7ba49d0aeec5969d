// Two Hearth servers with certificates from the test CA, each trusting that CA
// (s2s.trustedCa), so they authenticate each other with SASL EXTERNAL (XEP-0178):
// alice@a.hearth.example (127.0.0.151) and bob@b.hearth.example (127.0.0.152) become
// contacts and talk exactly as local users do (RFC 6121).
import { expect } from 'chai';
import { messageDelivered, presenceUpdateSeen, REMOTE_MS, subscribeMutually } from './helpers/flows.js';
import { authenticatedStreams, HearthServer } from './helpers/hearth.js';
import { delay, getRoster, isMessageFrom, isPresenceFrom, login, logout, xml, type User } from './helpers/xmpp.js';

const A = 'a.hearth.example';
const B = 'b.hearth.example';

describe('federation: Hearth ↔ Hearth, certificates from a trusted CA (SASL EXTERNAL)', function () {
  let a: HearthServer;
  let b: HearthServer;
  let alice: User | undefined;
  let bob: User | undefined;

  const loginAlice = () => login({ host: a.address, domain: A, username: 'alice', password: 'alice-secret' });
  const loginBob = () => login({ host: b.address, domain: B, username: 'bob', password: 'bob-secret' });

  before(async function () {
    this.timeout(180_000);
    // idleTimeoutS at its minimum (10 s), so that idle streams really close during the run.
    a = await HearthServer.create({ name: 'a', domains: [A], address: '127.0.0.151', certificates: 'ca', routes: { [B]: '127.0.0.152:5269' }, idleTimeoutS: 10 });
    b = await HearthServer.create({ name: 'b', domains: [B], address: '127.0.0.152', certificates: 'ca', routes: { [A]: '127.0.0.151:5269' }, idleTimeoutS: 10 });
    // One account created before start (opens the database), one while running (control socket).
    await a.addUser('alice', 'alice-secret');
    await Promise.all([a.start(), b.start()]);
    await b.addUser('bob', 'bob-secret');
  });

  after(async function () {
    this.timeout(30_000);
    await Promise.all([logout(alice), logout(bob)]);
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it('alice and bob subscribe to each other: roster pushes, subscription states and presence as each sees them', async () => {
    alice = await loginAlice();
    bob = await loginBob();
    await subscribeMutually(alice, bob);

    // What each client gets when it fetches its roster (RFC 6121 §2.1.3).
    const aliceRoster = await getRoster(alice);
    const bobRoster = await getRoster(bob);
    expect(aliceRoster.get(`bob@${B}`)).to.deep.equal({ subscription: 'both' });
    expect(bobRoster.get(`alice@${A}`)).to.deep.equal({ subscription: 'both' });
  });

  it('presence changes reach the contact on the other server, both ways', async () => {
    await presenceUpdateSeen(alice!, bob!);
    await presenceUpdateSeen(bob!, alice!);
  });

  it('messages cross both ways, to the bare and to the full JID', async () => {
    await messageDelivered(alice!, bob!, 'bare');
    await messageDelivered(bob!, alice!, 'bare');
    await messageDelivered(alice!, bob!, 'full');
    await messageDelivered(bob!, alice!, 'full');
  });

  it('iq crosses domains: XEP-0199 ping of the remote server and of a remote client, XEP-0030 disco#info of the remote domain', async () => {
    // Ping the remote server itself (XEP-0199 §4.2): an empty result from the domain.
    const pong = await alice!.xmpp.iqCaller.request(xml('iq', { type: 'get', to: B }, xml('ping', { xmlns: 'urn:xmpp:ping' })), REMOTE_MS);
    expect(pong.attrs.type).to.equal('result');
    expect(pong.attrs.from).to.equal(B);
    const pongBack = await bob!.xmpp.iqCaller.request(xml('iq', { type: 'get', to: A }, xml('ping', { xmlns: 'urn:xmpp:ping' })), REMOTE_MS);
    expect(pongBack.attrs.from).to.equal(A);

    // Ping bob's client (its library answers XEP-0199): request and result both cross.
    const clientPong = await alice!.xmpp.iqCaller.request(xml('iq', { type: 'get', to: bob!.fullJid }, xml('ping', { xmlns: 'urn:xmpp:ping' })), REMOTE_MS);
    expect(clientPong.attrs.type).to.equal('result');
    expect(clientPong.attrs.from).to.equal(bob!.fullJid);

    // disco#info of the remote domain (XEP-0030 §3.1): a server identity and its features.
    const info = await alice!.xmpp.iqCaller.request(xml('iq', { type: 'get', to: B }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' })), REMOTE_MS);
    expect(info.attrs.from).to.equal(B);
    const query = info.getChild('query', 'http://jabber.org/protocol/disco#info')!;
    const identities = query.getChildren('identity').map((i) => `${i.attrs.category}/${i.attrs.type}`);
    expect(identities).to.include('server/im');
    const features = query.getChildren('feature').map((f) => f.attrs.var);
    expect(features).to.include.members(['http://jabber.org/protocol/disco#info', 'urn:xmpp:ping']);
  });

  it('a message to an offline remote user is delivered, with a delay stamp, when they log in', async () => {
    await logout(bob);
    // alice sees bob go offline (RFC 6121 §4.5.2): his session is gone on b.
    await alice!.inbox.take(isPresenceFrom(`bob@${B}`, 'unavailable'), REMOTE_MS, 'bob going offline, as alice sees it');

    const body = `while you were away ${Date.now()}`;
    await alice!.xmpp.send(xml('message', { to: `bob@${B}`, type: 'chat', id: 'offline-1' }, xml('body', {}, body)));
    // A round trip over the same s2s stream: b has handled the message before the ping's result.
    await alice!.xmpp.iqCaller.request(xml('iq', { type: 'get', to: B }, xml('ping', { xmlns: 'urn:xmpp:ping' })), REMOTE_MS);
    // Nothing bounced to alice.
    expect(alice!.inbox.peek((el) => el.is('message') && el.attrs.type === 'error')).to.deep.equal([]);

    // RFC 6120 sign-in: XEP-0160 pushes the offline queue at the initial presence (a Bind 2
    // client would find the message in its archive instead).
    bob = await login({ host: b.address, domain: B, username: 'bob', password: 'bob-secret', sasl2: false });
    const got = await bob.inbox.take(isMessageFrom(`alice@${A}`, body), REMOTE_MS, 'the offline message');
    expect(got.attrs.from).to.equal(alice!.fullJid);
    // XEP-0160 §4 / XEP-0203: stored messages carry a delay stamp.
    const delayed = got.getChild('delay', 'urn:xmpp:delay');
    expect(delayed, `a urn:xmpp:delay element on ${got.toString()}`).to.not.equal(undefined);
    expect(Date.parse(delayed!.attrs.stamp)).to.be.within(Date.now() - 120_000, Date.now() + 5_000);
  });

  it('after a restart of a, alice logs in and sees bob available (presence probe across domains)', async function () {
    this.timeout(180_000);
    // bob is online (logged in by the previous test) with initial presence.
    await logout(alice);
    alice = undefined;
    await a.restart();
    bob!.inbox.clear();

    alice = await loginAlice();
    // RFC 6121 §4.3.1: alice's server probes bob's; §4.3.2: bob's server answers with
    // bob's current presence.
    const probed = await alice.inbox.take(isPresenceFrom(`bob@${B}`, undefined), REMOTE_MS, 'bob’s presence after the probe');
    expect(probed.attrs.from).to.equal(bob!.fullJid);
    // And bob sees alice come back (§4.2.2: initial presence is broadcast to subscribers).
    const back = await bob!.inbox.take(isPresenceFrom(`alice@${A}`, undefined), REMOTE_MS, 'alice’s initial presence after the restart');
    expect(back.attrs.from).to.equal(alice.fullJid);
    // The link works both ways again.
    await messageDelivered(alice, bob!, 'bare');
    await messageDelivered(bob!, alice, 'bare');
  });

  it('s2s streams idle for longer than idleTimeoutS are closed; the next message opens a new one', async function () {
    this.timeout(60_000);
    const outbound = () => authenticatedStreams(a).filter((s) => s.direction === 'out' && s.peer === B).length;
    await messageDelivered(alice!, bob!, 'bare');
    const before = outbound();
    // No traffic between a and b for more than twice idleTimeoutS (10 s): a server may check
    // idleness on a timer of that period, so the close comes between 10 and 20 s.
    await delay(23_000);
    await messageDelivered(alice!, bob!, 'bare');
    await messageDelivered(bob!, alice!, 'bare');
    expect(outbound(), 'a authenticated a new outbound stream to b after the idle one closed').to.equal(before + 1);
  });

  it('both servers report SASL EXTERNAL for every s2s stream, in and out (their logs)', () => {
    for (const [server, peer] of [[a, B], [b, A]] as const) {
      const streams = authenticatedStreams(server).filter((s) => s.peer === peer);
      for (const direction of ['in', 'out'] as const) {
        expect(streams.filter((s) => s.direction === direction).length, `${server.domain}: an ${direction}bound stream with ${peer} was authenticated`).to.be.at.least(1);
      }
      expect(streams.map((s) => s.method), `${server.domain}: methods used with ${peer}`).to.satisfy((m: string[]) => m.every((x) => /EXTERNAL/.test(x)));
    }
  });
});
