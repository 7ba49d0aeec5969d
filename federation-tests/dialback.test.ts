// Hearth ↔ a Hearth with a self-signed certificate (c.hearth.example has no certificate
// folder, so it generates its own on first start). Each lists the other in
// s2s.insecureDomains: certificates are not verified, and Server Dialback (XEP-0220)
// authenticates the domains, in both directions. A server that does not list c as insecure
// must not federate with it: insecureDomains is per domain, not a global switch.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { messageDelivered, presenceUpdateSeen, REMOTE_MS, subscribeMutually } from './helpers/flows.js';
import { authenticatedStreams, HearthServer } from './helpers/hearth.js';
import { delay, getRoster, isMessageFrom, login, logout, stanzaErrorCondition, trustCertificate, xml, type User } from './helpers/xmpp.js';

const A = 'a.hearth.example';
const B = 'b.hearth.example';
const C = 'c.hearth.example';

describe('federation: Hearth ↔ self-signed Hearth (Server Dialback)', function () {
  let a: HearthServer;
  let b: HearthServer;
  let c: HearthServer;
  let alice: User | undefined;
  let bob: User | undefined;
  let carol: User | undefined;

  const loginCarol = () => login({ host: c.address, domain: C, username: 'carol', password: 'carol-secret' });

  before(async function () {
    this.timeout(180_000);
    a = await HearthServer.create({
      name: 'a-dialback',
      domains: [A],
      address: '127.0.0.151',
      certificates: 'ca',
      routes: { [C]: '127.0.0.153:5269' },
      insecureDomains: [C],
    });
    // c has no certificate folder and does not trust the test CA: it cannot verify a's (or
    // b's) certificate, so it must list them as insecure.
    c = await HearthServer.create({
      name: 'c',
      domains: [C],
      address: '127.0.0.153',
      certificates: 'self-signed',
      trustTestCa: false,
      routes: { [A]: '127.0.0.151:5269', [B]: '127.0.0.152:5269' },
      insecureDomains: [A, B],
    });
    // b trusts the test CA but does NOT list c as insecure.
    b = await HearthServer.create({
      name: 'b-strict',
      domains: [B],
      address: '127.0.0.152',
      certificates: 'ca',
      routes: { [C]: '127.0.0.153:5269' },
      connectTimeoutMs: 5_000,
    });
    await a.addUser('alice', 'alice-secret');
    await b.addUser('bob', 'bob-secret');
    await c.addUser('carol', 'carol-secret');
    await Promise.all([a.start(), b.start(), c.start()]);
    // Carol's client accepts c's self-signed certificate (as a user would, once confirmed).
    trustCertificate(C, readFileSync(path.join(c.dataDir, 'certs', `${C}.crt`), 'utf8'));
  });

  after(async function () {
    this.timeout(30_000);
    await Promise.all([logout(alice), logout(bob), logout(carol)]);
    await Promise.all([a?.stop(), b?.stop(), c?.stop()]);
  });

  it('alice (CA certificate) and carol (self-signed) subscribe to each other', async () => {
    alice = await login({ host: a.address, domain: A, username: 'alice', password: 'alice-secret' });
    carol = await loginCarol();
    await subscribeMutually(alice, carol);
    expect((await getRoster(alice)).get(`carol@${C}`)).to.deep.equal({ subscription: 'both' });
    expect((await getRoster(carol)).get(`alice@${A}`)).to.deep.equal({ subscription: 'both' });
  });

  it('presence and messages cross both ways', async () => {
    await presenceUpdateSeen(alice!, carol!);
    await presenceUpdateSeen(carol!, alice!);
    await messageDelivered(alice!, carol!, 'bare');
    await messageDelivered(carol!, alice!, 'bare');
    await messageDelivered(alice!, carol!, 'full');
    await messageDelivered(carol!, alice!, 'full');
  });

  it('iq crosses both ways (XEP-0199 ping of the remote server)', async () => {
    const pong = await alice!.xmpp.iqCaller.request(xml('iq', { type: 'get', to: C }, xml('ping', { xmlns: 'urn:xmpp:ping' })), REMOTE_MS);
    expect(pong.attrs.from).to.equal(C);
    const pongBack = await carol!.xmpp.iqCaller.request(xml('iq', { type: 'get', to: A }, xml('ping', { xmlns: 'urn:xmpp:ping' })), REMOTE_MS);
    expect(pongBack.attrs.from).to.equal(A);
  });

  it('c restarts with the same self-signed certificate and secret; dialback works again both ways', async function () {
    this.timeout(180_000);
    await logout(carol);
    carol = undefined;
    await c.restart();
    // The certificate was generated once and reused (the client trusts the first one only).
    carol = await loginCarol();
    await messageDelivered(carol, alice!, 'bare');
    await messageDelivered(alice!, carol, 'bare');
  });

  it('a and c report Server Dialback for every s2s stream between them, in and out (their logs)', () => {
    for (const [server, peer] of [[a, C], [c, A]] as const) {
      const streams = authenticatedStreams(server).filter((s) => s.peer === peer);
      for (const direction of ['in', 'out'] as const) {
        expect(streams.filter((s) => s.direction === direction).length, `${server.domain}: an ${direction}bound stream with ${peer} was authenticated`).to.be.at.least(1);
      }
      expect(streams.map((s) => s.method), `${server.domain}: methods used with ${peer}`).to.satisfy((m: string[]) => m.every((x) => /dialback/i.test(x)));
    }
  });

  it('a server that does not list c in insecureDomains refuses it both ways: bounces, nothing delivered', async function () {
    this.timeout(60_000);
    bob = await login({ host: b.address, domain: B, username: 'bob', password: 'bob-secret' });

    // b → c: c's certificate does not verify and c is not insecure for b.
    const started = Date.now();
    await bob.xmpp.send(xml('message', { to: `carol@${C}`, type: 'chat', id: 'to-c' }, xml('body', {}, 'should not arrive at c')));
    const bounce = await bob.inbox.take((el) => el.is('message') && el.attrs.type === 'error' && el.attrs.id === 'to-c', 20_000, 'a bounce of bob’s message to c');
    const error = stanzaErrorCondition(bounce);
    expect(error, bounce.toString()).to.not.equal(null);
    expect(['remote-server-not-found', 'remote-server-timeout', 'not-authorized', 'forbidden', 'policy-violation']).to.include(error!.condition);
    expect(Date.now() - started, 'bounced within connectTimeoutMs and a margin').to.be.below(12_000);

    // c → b: c may connect (it lists b as insecure) and offer dialback, but b must not
    // accept c's domain, since verifying it needs a certificate b cannot verify.
    await carol!.xmpp.send(xml('message', { to: `bob@${B}`, type: 'chat', id: 'to-b' }, xml('body', {}, 'should not arrive at b')));
    const carolBounce = await carol!.inbox
      .take((el) => el.is('message') && el.attrs.type === 'error' && el.attrs.id === 'to-b', 25_000, 'a bounce of carol’s message to b')
      .catch((err: Error) => err);
    await delay(500);
    expect(bob.inbox.peek(isMessageFrom(`carol@${C}`)), 'bob received nothing from c').to.deep.equal([]);
    expect(carolBounce, 'carol is told her message was not delivered').to.not.be.instanceOf(Error);
    expect(authenticatedStreams(b).filter((s) => s.peer === C), 'b never authenticated a stream with c').to.deep.equal([]);
  });
});
