// Offline messages as users of a standard client see them: XEP-0160 (stored for a registered
// user with no available resource, delivered after the next initial presence with non-negative
// priority, then forgotten) with XEP-0203 delay stamps, and RFC 6121 §8.5.2.2.1.
import { expect } from 'chai';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { collectStanzas, connect, delay, roundTrip as sync, stopQuietly, waitForStanza, xml, type Client, type Element } from '../helpers/xmpp-client.js';

const NS_DELAY = 'urn:xmpp:delay';
const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
// PLAIN inside TLS: SCRAM is covered by test/c2s, and its client side costs ~200 ms a login.
const PASSWORD = 'offline-secret';
const QUIET_MS = 200;
/** XEP-0082 DateTime, UTC. */
const XEP_0082 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

interface Peer {
  client: Client;
  inbox: Element[];
  bare: string;
  full: string;
}


async function waitForCount(inbox: Element[], match: (el: Element) => boolean, count: number, what: string, ms = 3_000): Promise<Element[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = inbox.filter(match);
    if (found.length >= count) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${count} × ${what}; got:\n${inbox.map(String).join('\n')}`);
    await delay(10);
  }
}

const isMessage = (el: Element) => el.is('message');
const errorCondition = (el: Element) => el.getChild('error')?.getChildElements().find((c) => c.attrs.xmlns === NS_STANZAS)?.name;


/** The stamp of the XEP-0203 delay element, checked for form and time. */
function expectDelay(message: Element, domain: string, after: number, before: number): void {
  const delays = message.getChildren('delay', NS_DELAY);
  expect(delays, `one delay element in ${message.toString()}`).to.have.length(1);
  const stamp = delays[0]!;
  expect(stamp.attrs.from).to.equal(domain);
  expect(stamp.attrs.stamp).to.match(XEP_0082);
  const when = Date.parse(stamp.attrs.stamp as string);
  // Whole seconds are allowed; the stamp falls in the window the message was sent in.
  expect(when).to.be.within(Math.floor(after / 1000) * 1000 - 1000, before + 1000);
}

describe('XEP-0160 offline messages with @xmpp/client', function () {
  let ts: TestServer;
  const clients: Client[] = [];
  let users = 0;

  before(async function () {
    ts = await startTestServer({ host: '127.0.0.125', domain: 'offline.hearth.example' });
  });

  afterEach(async function () {
    await Promise.all(clients.splice(0).map(stopQuietly));
  });

  after(async function () {
    await ts?.stop();
  });

  async function account(name: string, server = ts): Promise<string> {
    const local = `${name}${++users}`;
    await server.addUser(local, PASSWORD);
    return local;
  }

  async function login(local: string, resource: string, server = ts): Promise<Peer> {
    const client = await connect(server, local, PASSWORD, { resource, mechanism: 'PLAIN' });
    clients.push(client);
    return { client, inbox: collectStanzas(client), bare: `${local}@${server.domain}`, full: `${local}@${server.domain}/${resource}` };
  }

  async function online(local: string, resource: string, initial: Element = xml('presence'), server = ts): Promise<Peer> {
    const peer = await login(local, resource, server);
    await peer.client.send(initial);
    await sync(peer.client);
    return peer;
  }

  it('keeps chat and normal messages for an offline user and delivers them after initial presence, in order, as sent, with a delay stamp', async function () {
    const alice = await online(await account('alice'), 'a1');
    const bobLocal = await account('bob');
    const bobBare = `${bobLocal}@${ts.domain}`;

    const sentAfter = Date.now();
    await alice.client.send(xml('message', { to: bobBare, type: 'chat', id: 'm1' }, xml('body', {}, 'one'), xml('thread', {}, 'thread-1')));
    // No type: a normal message, and it stays without a type.
    await alice.client.send(xml('message', { to: bobBare, id: 'm2' }, xml('subject', {}, 'Subject'), xml('body', {}, 'two — ünïcödé 🎉')));
    // To a resource that is not there: treated as sent to the bare JID (RFC 6121 §8.5.3.2.1).
    await alice.client.send(xml('message', { to: `${bobBare}/gone`, type: 'chat', id: 'm3' }, xml('body', {}, 'three'), xml('x', { xmlns: 'urn:example:extra' }, 'payload')));
    await sync(alice.client);
    await delay(QUIET_MS);
    const sentBefore = Date.now();
    expect(alice.inbox.filter(isMessage).map(String), 'nothing comes back to the sender').to.deep.equal([]);

    const bob = await login(bobLocal, 'b1');
    await sync(bob.client);
    await delay(QUIET_MS);
    expect(bob.inbox.filter(isMessage), 'nothing before initial presence').to.have.length(0);
    await bob.client.send(xml('presence'));
    const delivered = await waitForCount(bob.inbox, isMessage, 3, 'stored messages');
    await delay(QUIET_MS);
    expect(bob.inbox.filter(isMessage), 'each once').to.have.length(3);
    expect(delivered.map((m) => m.attrs.id)).to.deep.equal(['m1', 'm2', 'm3']);

    const [one, two, three] = delivered as [Element, Element, Element];
    for (const m of delivered) {
      expect(m.attrs.from).to.equal(alice.full);
      expect(m.attrs.to).to.be.oneOf([bob.bare, bob.full]);
      expectDelay(m, ts.domain, sentAfter, sentBefore);
    }
    expect(one.attrs.type).to.equal('chat');
    expect(one.getChildText('body')).to.equal('one');
    expect(one.getChildText('thread')).to.equal('thread-1');
    expect(two.attrs.type).to.equal(undefined);
    expect(two.getChildText('subject')).to.equal('Subject');
    expect(two.getChildText('body')).to.equal('two — ünïcödé 🎉');
    expect(three.attrs.type).to.equal('chat');
    expect(three.getChildText('body')).to.equal('three');
    expect(three.getChild('x', 'urn:example:extra')?.text()).to.equal('payload');
    // The delay stamp is the only addition, besides the archive's stanza-id (XEP-0313, XEP-0359).
    expect(one.getChildElements().map((c) => c.name)).to.deep.equal(['body', 'thread', 'stanza-id', 'delay']);
    expect(one.getChild('stanza-id', 'urn:xmpp:sid:0')?.attrs.by).to.equal(bob.bare);
  });

  it('does not keep headline, groupchat or chat-state-only messages', async function () {
    const alice = await online(await account('alice'), 'a1');
    const bobLocal = await account('bob');
    const bobBare = `${bobLocal}@${ts.domain}`;

    await alice.client.send(xml('message', { to: bobBare, type: 'headline', id: 'h1' }, xml('body', {}, 'news')));
    await alice.client.send(xml('message', { to: bobBare, type: 'groupchat', id: 'g1' }, xml('body', {}, 'room talk')));
    await alice.client.send(xml('message', { to: bobBare, type: 'chat', id: 'cs1' }, xml('composing', { xmlns: 'http://jabber.org/protocol/chatstates' })));
    await alice.client.send(xml('message', { to: bobBare, type: 'chat', id: 'marker' }, xml('active', { xmlns: 'http://jabber.org/protocol/chatstates' }), xml('body', {}, 'the one that counts')));
    // RFC 6121 §8.5.2.2.1: groupchat is refused, headline silently dropped.
    const refused = await waitForStanza(alice.inbox, (el) => el.is('message') && el.attrs.id === 'g1', 'the groupchat error');
    expect(refused.attrs).to.include({ type: 'error', from: bobBare, to: alice.full });
    expect(errorCondition(refused)).to.equal('service-unavailable');
    await delay(QUIET_MS);
    expect(alice.inbox.filter((el) => el.is('message') && el.attrs.id === 'h1'), 'no error for a headline').to.have.length(0);

    const bob = await online(bobLocal, 'b1');
    await waitForStanza(bob.inbox, (el) => el.is('message') && el.attrs.id === 'marker', 'the stored chat message');
    await delay(QUIET_MS);
    expect(bob.inbox.filter(isMessage).map((m) => m.attrs.id)).to.deep.equal(['marker']);
  });

  it('removes messages once delivered: the next login gets nothing', async function () {
    const alice = await online(await account('alice'), 'a1');
    const bobLocal = await account('bob');
    await alice.client.send(xml('message', { to: `${bobLocal}@${ts.domain}`, type: 'chat', id: 'once' }, xml('body', {}, 'only once')));
    await sync(alice.client);
    await delay(100);

    const first = await online(bobLocal, 'b1');
    await waitForStanza(first.inbox, (el) => el.is('message') && el.attrs.id === 'once', 'the message');
    await stopQuietly(first.client);
    await delay(100);

    const second = await online(bobLocal, 'b1');
    await delay(QUIET_MS);
    expect(second.inbox.filter(isMessage).map(String)).to.deep.equal([]);
  });

  it('does not deliver to a resource with negative priority; a non-negative one gets the messages', async function () {
    const alice = await online(await account('alice'), 'a1');
    const bobLocal = await account('bob');
    const bobBare = `${bobLocal}@${ts.domain}`;
    await alice.client.send(xml('message', { to: bobBare, type: 'chat', id: 'before' }, xml('body', {}, 'sent while offline')));
    await sync(alice.client);
    await delay(100);

    const shy = await online(bobLocal, 'shy', xml('presence', {}, xml('priority', {}, '-1')));
    // Also kept: a message while the only available resource has negative priority.
    await alice.client.send(xml('message', { to: bobBare, type: 'chat', id: 'during' }, xml('body', {}, 'sent to a shy account')));
    await sync(alice.client);
    await delay(QUIET_MS);
    expect(shy.inbox.filter(isMessage).map(String), 'nothing for priority -1').to.deep.equal([]);
    expect(alice.inbox.filter(isMessage).map(String), 'no error to the sender').to.deep.equal([]);

    const open = await online(bobLocal, 'open', xml('presence', {}, xml('priority', {}, '1')));
    const delivered = await waitForCount(open.inbox, isMessage, 2, 'stored messages');
    expect(delivered.map((m) => m.attrs.id)).to.deep.equal(['before', 'during']);
    await delay(QUIET_MS);
    expect(shy.inbox.filter(isMessage), 'still nothing for priority -1').to.have.length(0);
  });

  describe('limits.offlinePerAccount', function () {
    let small: TestServer;

    before(async function () {
      small = await startTestServer({ host: '127.0.0.126', domain: 'quota.hearth.example', config: { limits: { offlinePerAccount: 2 } } });
    });

    after(async function () {
      await small?.stop();
    });

    it('refuses the message beyond the limit with service-unavailable, keeps the others', async function () {
      const alice = await online(await account('alice', small), 'a1', xml('presence'), small);
      const bobLocal = await account('bob', small);
      const bobBare = `${bobLocal}@${small.domain}`;
      for (const n of [1, 2, 3]) {
        await alice.client.send(xml('message', { to: bobBare, type: 'chat', id: `q${n}` }, xml('body', {}, `message ${n}`)));
        await sync(alice.client);
      }
      const bounce = await waitForStanza(alice.inbox, (el) => el.is('message') && el.attrs.type === 'error', 'the bounce');
      expect(bounce.attrs).to.include({ type: 'error', id: 'q3', from: bobBare, to: alice.full });
      expect(errorCondition(bounce)).to.equal('service-unavailable');
      expect(bounce.getChild('error')!.attrs.type).to.equal('cancel');
      await delay(QUIET_MS);
      expect(alice.inbox.filter((el) => el.is('message') && el.attrs.type === 'error').map((e) => e.attrs.id)).to.deep.equal(['q3']);

      const bob = await online(bobLocal, 'b1', xml('presence'), small);
      const delivered = await waitForCount(bob.inbox, isMessage, 2, 'stored messages');
      await delay(QUIET_MS);
      expect(bob.inbox.filter(isMessage).map((m) => m.attrs.id)).to.deep.equal(['q1', 'q2']);
      expect(delivered.map((m) => m.getChildText('body'))).to.deep.equal(['message 1', 'message 2']);

      // Delivered messages no longer count against the limit.
      await stopQuietly(bob.client);
      await delay(100);
      const mark = alice.inbox.length;
      await alice.client.send(xml('message', { to: bobBare, type: 'chat', id: 'q4' }, xml('body', {}, 'message 4')));
      await sync(alice.client);
      await delay(QUIET_MS);
      expect(alice.inbox.slice(mark).filter((el) => el.attrs.type === 'error').map(String)).to.deep.equal([]);
    });
  });
});
