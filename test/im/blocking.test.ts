// XEP-0191 Blocking Command as users of a standard client see it: the list and its pushes,
// what a blocked address can no longer do (and what the user can no longer send it), the
// presence that goes out on block and unblock, whole domains, and a remote address blocked
// across two Hearths federating over s2s.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { parseJid } from '../../src/core/jid.js';
import { blockingEntries, listBlocks } from '../../src/modules/blocking.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { acknowledgeRosterPushes, collectStanzas, connect, delay, roundTrip as sync, stopQuietly, waitForStanza, xml, type Client, type Element } from '../helpers/xmpp-client.js';

const NS_BLOCKING = 'urn:xmpp:blocking';
const NS_BLOCKING_ERRORS = 'urn:xmpp:blocking:errors';
const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
const CA = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'tls', 'ca.crt');
const A = { host: '127.0.0.118', domain: 'blocking.hearth.example' };
/** Another domain served by A, for domain blocks (the test CA covers one level below hearth.example). */
const OTHER = 'other.hearth.example';
const B = { host: '127.0.0.119', domain: 'blocking-b.hearth.example' };
// PLAIN inside TLS: SCRAM is covered by test/c2s, and its client side costs ~200 ms a login.
const PASSWORD = 'blocking-secret';
const QUIET_MS = 250;

interface Peer {
  client: Client;
  inbox: Element[];
  bare: string;
  full: string;
}

const errorCondition = (el: Element) => el.getChild('error')?.getChildElements().find((c) => c.attrs.xmlns === NS_STANZAS)?.name;
const isBlockedError = (el: Element) => el.getChild('error')?.getChild('blocked', NS_BLOCKING_ERRORS) !== undefined;
const itemsOf = (el: Element | undefined) => (el?.getChildren('item') ?? []).map((item) => item.attrs.jid as string);
const presenceFrom = (from: string, type?: string) => (el: Element) => el.is('presence') && el.attrs.from === from && el.attrs.type === type;
const messageWith = (body: string) => (el: Element) => el.is('message') && el.getChildText('body') === body;
const pushOf = (name: 'block' | 'unblock') => (el: Element) => el.is('iq') && el.attrs.type === 'set' && el.getChild(name, NS_BLOCKING) !== undefined;

async function expectNone(inbox: Element[], match: (el: Element) => boolean, what: string, from = 0): Promise<void> {
  await delay(QUIET_MS);
  expect(inbox.slice(from).filter(match).map(String), what).to.deep.equal([]);
}

/** At least `count` stanzas that match, among those received from index `from` on (polled afresh). */
async function waitForCount(inbox: Element[], match: (el: Element) => boolean, count: number, what: string, ms = 3_000, from = 0): Promise<Element[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = inbox.slice(from).filter(match);
    if (found.length >= count) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${count} × ${what}; got:\n${inbox.slice(from).map(String).join('\n')}`);
    await delay(10);
  }
}

/** The first stanza that matches among those received from index `from` on, there or still to come. */
async function waitSince(inbox: Element[], from: number, match: (el: Element) => boolean, what: string, ms = 3_000): Promise<Element> {
  return (await waitForCount(inbox, match, 1, what, ms, from))[0]!;
}

let ids = 0;

/** Sends an iq and waits for its result or error. */
async function iq(peer: Peer, type: 'get' | 'set', child: Element, to?: string): Promise<Element> {
  const id = `blk${++ids}`;
  await peer.client.send(xml('iq', to ? { type, id, to } : { type, id }, child));
  return waitForStanza(peer.inbox, (el) => el.is('iq') && el.attrs.id === id && (el.attrs.type === 'result' || el.attrs.type === 'error'), `the reply to iq ${id}`);
}

const blocklistRequest = () => xml('blocklist', { xmlns: NS_BLOCKING });
const blockRequest = (...jids: string[]) => xml('block', { xmlns: NS_BLOCKING }, ...jids.map((jid) => xml('item', { jid })));
const unblockRequest = (...jids: string[]) => xml('unblock', { xmlns: NS_BLOCKING }, ...jids.map((jid) => xml('item', { jid })));

async function blocklist(peer: Peer): Promise<string[]> {
  const reply = await iq(peer, 'get', blocklistRequest());
  expect(reply.attrs.type, reply.toString()).to.equal('result');
  return itemsOf(reply.getChild('blocklist', NS_BLOCKING));
}

async function expectResult(peer: Peer, type: 'get' | 'set', child: Element): Promise<void> {
  const reply = await iq(peer, type, child);
  expect(reply.attrs.type, reply.toString()).to.equal('result');
}

describe('XEP-0191 blocking with @xmpp/client', function () {
  this.timeout(30_000);
  let a: TestServer;
  let b: TestServer;
  const clients: Client[] = [];
  let users = 0;

  before(async function () {
    this.timeout(120_000);
    const routes = { [A.domain]: `${A.host}:5269`, [B.domain]: `${B.host}:5269` };
    const s2s = (host: string) => ({ listen: [`${host}:5269`], routes, trustedCa: CA, connectTimeoutMs: 3_000 });
    a = await startTestServer({ host: A.host, domain: A.domain, extraDomains: [OTHER], config: { s2s: s2s(A.host) } });
    b = await startTestServer({ host: B.host, domain: B.domain, config: { s2s: s2s(B.host) } });
  });

  afterEach(async function () {
    await Promise.all(clients.splice(0).map(stopQuietly));
  });

  after(async function () {
    await a?.stop();
    await b?.stop();
  });

  async function account(name: string, server = a, domain = server.domain): Promise<string> {
    const local = `${name}${++users}`;
    await server.server.accounts.add(`${local}@${domain}`, PASSWORD);
    return local;
  }

  async function login(local: string, resource: string, server = a, domain = server.domain): Promise<Peer> {
    const client = await connect({ ...server, domain }, local, PASSWORD, { resource, mechanism: 'PLAIN' });
    clients.push(client);
    acknowledgeRosterPushes(client);
    // A well-behaved client acknowledges blocking pushes too.
    const callee = (client as unknown as { iqCallee: { set(ns: string, name: string, handler: () => boolean): void } }).iqCallee;
    callee.set(NS_BLOCKING, 'block', () => true);
    callee.set(NS_BLOCKING, 'unblock', () => true);
    return { client, inbox: collectStanzas(client), bare: `${local}@${domain}`, full: `${local}@${domain}/${resource}` };
  }

  /** Logs in and sends initial presence; resolves once the server has routed it. */
  async function online(local: string, resource: string, server = a, domain = server.domain, initial: Element = xml('presence')): Promise<Peer> {
    const peer = await login(local, resource, server, domain);
    await peer.client.send(initial);
    await sync(peer.client);
    await delay(50);
    return peer;
  }

  /**
   * A mutual ("both") subscription, written to the roster stores before the users log in:
   * the handshake that builds it is the subject of subscriptions.test.ts.
   */
  async function befriend(first: { local: string; server: TestServer }, second: { local: string; server: TestServer }): Promise<void> {
    const both = (jid: string) => ({ jid, name: null, groups: [], subscription: 'both' as const, pendingOut: false, approved: false });
    await first.server.server.stores.roster.put(first.local, first.server.domain, both(`${second.local}@${second.server.domain}`));
    await second.server.server.stores.roster.put(second.local, second.server.domain, both(`${first.local}@${first.server.domain}`));
  }

  it('advertises urn:xmpp:blocking in the server\'s disco#info', async function () {
    const alice = await login(await account('alice'), 'a1');
    const reply = await iq(alice, 'get', xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' }), A.domain);
    const features = reply.getChild('query')!.getChildren('feature').map((f) => f.attrs.var);
    expect(features).to.include(NS_BLOCKING);
  });

  it('gets, blocks, unblocks and unblocks all, pushing each change to every resource that fetched the list', async function () {
    const local = await account('alice');
    const a1 = await login(local, 'a1');
    const a2 = await login(local, 'a2');
    const a3 = await login(local, 'a3'); // never asks for the list
    expect(await blocklist(a1)).to.deep.equal([]);
    expect(await blocklist(a2)).to.deep.equal([]);

    // One request, several items, remote and local, bare, full and domain; JIDs normalised.
    await expectResult(a1, 'set', blockRequest('Romeo@Montague.Example', 'iago@venice.example/Dagger', 'spam.example', `mallory@${A.domain}`));
    const expected = ['romeo@montague.example', 'iago@venice.example/Dagger', 'spam.example', `mallory@${A.domain}`];
    for (const peer of [a1, a2]) {
      const push = await waitForStanza(peer.inbox, pushOf('block'), `the block push at ${peer.full}`);
      expect(push.attrs.to).to.equal(peer.full);
      expect(itemsOf(push.getChild('block', NS_BLOCKING))).to.deep.equal(expected);
    }
    expect((await blocklist(a2)).sort()).to.deep.equal([...expected].sort());
    // Stored, not remembered by one session: a new session reads the same list.
    const a4 = await login(local, 'a4');
    expect((await blocklist(a4)).sort()).to.deep.equal([...expected].sort());

    await expectResult(a2, 'set', unblockRequest('spam.example', 'never-blocked.example'));
    for (const peer of [a1, a2, a4]) {
      const push = await waitForStanza(peer.inbox, pushOf('unblock'), `the unblock push at ${peer.full}`);
      expect(itemsOf(push.getChild('unblock', NS_BLOCKING))).to.deep.equal(['spam.example', 'never-blocked.example']);
    }
    expect((await blocklist(a1)).sort()).to.deep.equal(['iago@venice.example/Dagger', `mallory@${A.domain}`, 'romeo@montague.example'].sort());

    // §3.5: an empty <unblock/> empties the list, and the push is an empty <unblock/> too.
    const before = a1.inbox.length;
    await expectResult(a1, 'set', unblockRequest());
    const all = await waitSince(a1.inbox, before, pushOf('unblock'), 'the unblock-all push');
    expect(all.getChild('unblock', NS_BLOCKING)!.getChildElements()).to.have.length(0);
    expect(await blocklist(a2)).to.deep.equal([]);

    await expectNone(a3.inbox, (el) => pushOf('block')(el) || pushOf('unblock')(el), 'no push to a resource that never asked for the list');
  });

  it('refuses malformed requests and changes nothing', async function () {
    const alice = await login(await account('alice'), 'a1');
    await expectResult(alice, 'set', blockRequest('kept.example'));
    // §3.3: a block without items is a bad request.
    let reply = await iq(alice, 'set', blockRequest());
    expect(reply.attrs.type).to.equal('error');
    expect(errorCondition(reply)).to.equal('bad-request');
    reply = await iq(alice, 'set', blockRequest('fine.example', '@no-local.example'));
    expect(errorCondition(reply)).to.equal('jid-malformed');
    reply = await iq(alice, 'set', xml('block', { xmlns: NS_BLOCKING }, xml('item')));
    expect(errorCondition(reply)).to.equal('bad-request');
    reply = await iq(alice, 'set', unblockRequest('kept.example', 'bad@@jid'));
    expect(errorCondition(reply)).to.equal('jid-malformed');
    reply = await iq(alice, 'get', xml('block', { xmlns: NS_BLOCKING }, xml('item', { jid: 'x.example' })));
    expect(errorCondition(reply)).to.equal('bad-request');
    reply = await iq(alice, 'set', xml('blocklist', { xmlns: NS_BLOCKING }));
    expect(errorCondition(reply)).to.equal('bad-request');
    expect(await blocklist(alice)).to.deep.equal(['kept.example']);
  });

  it('lets nobody else read or change an account\'s blocklist', async function () {
    const alice = await online(await account('alice'), 'a1');
    const mallory = await login(await account('mallory'), 'm1');
    expect(await blocklist(alice)).to.deep.equal([]);
    await expectResult(alice, 'set', blockRequest('secret.example'));
    await waitForStanza(alice.inbox, pushOf('block'), 'alice\'s own push');
    const mark = alice.inbox.length;

    for (const [type, child] of [
      ['get', blocklistRequest()],
      ['set', blockRequest(`${mallory.bare}`)],
      ['set', unblockRequest('secret.example')],
      ['set', unblockRequest()],
    ] as const) {
      const reply = await iq(mallory, type, child, alice.bare);
      expect(reply.attrs.type, `${type} ${child.name} at another account`).to.equal('error');
      expect(errorCondition(reply)).to.equal('service-unavailable');
      expect(reply.getChild('blocklist', NS_BLOCKING)?.getChildren('item') ?? [], 'nothing of the list leaks').to.have.length(0);
    }
    // The same from another server.
    const remote = await login(await account('eve', b), 'e1', b);
    const fromAfar = await iq(remote, 'get', blocklistRequest(), alice.bare);
    expect(fromAfar.attrs.type).to.equal('error');

    expect(await blocklist(alice)).to.deep.equal(['secret.example']);
    await expectNone(alice.inbox, (el) => pushOf('block')(el) || pushOf('unblock')(el), 'no push from someone else\'s request', mark);
    // Mallory can still talk to alice: nothing was blocked on alice's behalf.
    await mallory.client.send(xml('message', { to: alice.bare, type: 'chat' }, xml('body', {}, 'still here')));
    await waitForStanza(alice.inbox, messageWith('still here'), 'mallory\'s message');
  });

  it('stops everything from a blocked contact, refuses what the user sends it, and goes both ways with presence', async function () {
    const aliceLocal = await account('alice');
    const bobLocal = await account('bob');
    await befriend({ local: aliceLocal, server: a }, { local: bobLocal, server: a });
    const alice = await online(aliceLocal, 'a1');
    const bob = await online(bobLocal, 'b1');
    await waitForStanza(alice.inbox, presenceFrom(bob.full), 'bob\'s presence before the block');

    await expectResult(alice, 'set', blockRequest(bob.bare));
    const mark = { alice: alice.inbox.length, bob: bob.inbox.length };

    // Messages from bob: an error, as if alice were not there; she sees nothing.
    await bob.client.send(xml('message', { to: alice.bare, type: 'chat', id: 'm-bare' }, xml('body', {}, 'hello?')));
    await bob.client.send(xml('message', { to: alice.full, type: 'chat', id: 'm-full' }, xml('body', {}, 'hello, a1?')));
    for (const id of ['m-bare', 'm-full']) {
      const refused = await waitForStanza(bob.inbox, (el) => el.is('message') && el.attrs.id === id && el.attrs.type === 'error', `the error for ${id}`);
      expect(errorCondition(refused)).to.equal('service-unavailable');
      expect(isBlockedError(refused), 'the blocked contact is not told why').to.equal(false);
    }
    // iq get/set from bob: an error too, whether to the full or the bare JID.
    const ping = xml('ping', { xmlns: 'urn:xmpp:ping' });
    expect(errorCondition(await iq(bob, 'get', ping, alice.full))).to.equal('service-unavailable');
    expect(errorCondition(await iq(bob, 'get', xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' }), alice.bare))).to.equal('service-unavailable');
    // Presence from bob: dropped, without an error.
    await bob.client.send(xml('presence', {}, xml('status', {}, 'bob while blocked')));
    await bob.client.send(xml('presence', { to: alice.full }, xml('status', {}, 'directed at alice')));
    await bob.client.send(xml('presence', { to: alice.bare, type: 'probe' }));
    await sync(bob.client);

    // What alice sends bob: not-acceptable with <blocked/>, from bob's address; bob sees nothing.
    await alice.client.send(xml('message', { to: bob.bare, type: 'chat', id: 'to-bob' }, xml('body', {}, 'I blocked you')));
    const own = await waitForStanza(alice.inbox, (el) => el.is('message') && el.attrs.id === 'to-bob', 'the error for alice\'s message');
    expect(own.attrs).to.include({ type: 'error', from: bob.bare, to: alice.full });
    expect(errorCondition(own)).to.equal('not-acceptable');
    expect(isBlockedError(own)).to.equal(true);
    expect(own.getChildText('body'), 'the error carries the message').to.equal('I blocked you');
    const ownIq = await iq(alice, 'get', xml('ping', { xmlns: 'urn:xmpp:ping' }), bob.full);
    expect(errorCondition(ownIq)).to.equal('not-acceptable');
    expect(isBlockedError(ownIq)).to.equal(true);
    await alice.client.send(xml('presence', {}, xml('status', {}, 'alice while blocking')));
    await sync(alice.client);

    await expectNone(alice.inbox, (el) => el.attrs.from?.startsWith(bob.bare) === true && !(el.is('message') && el.attrs.id === 'to-bob') && !(el.is('iq') && el.attrs.type === 'error'),
      'nothing from bob reaches alice', mark.alice);
    await expectNone(bob.inbox, (el) => (el.is('message') || el.is('presence') || (el.is('iq') && el.attrs.type !== 'error' && el.attrs.type !== 'result')) && el.attrs.from?.startsWith(alice.bare) === true
      && !(el.is('message') && el.attrs.type === 'error') && el.attrs.type !== 'unavailable',
      'nothing from alice reaches bob but errors and the unavailable presence of the block', mark.bob);
  });

  it('drops subscription requests from a blocked address and keeps nothing of them', async function () {
    const aliceLocal = await account('alice');
    const alice = await online(aliceLocal, 'a1');
    const carol = await online(await account('carol'), 'c1');
    await expectResult(alice, 'set', blockRequest(carol.bare));
    await carol.client.send(xml('presence', { to: alice.bare, type: 'subscribe' }));
    await sync(carol.client);
    await expectNone(alice.inbox, (el) => el.is('presence') && el.attrs.type === 'subscribe', 'no subscription request');
    expect(carol.inbox.filter((el) => el.is('presence') && el.attrs.type === 'error'), 'no error for presence').to.have.length(0);
    // Not kept for redelivery at alice's next login either (RFC 6121 §3.1.3 would).
    await stopQuietly(alice.client);
    const again = await online(aliceLocal, 'a2');
    await expectNone(again.inbox, (el) => el.is('presence') && el.attrs.type === 'subscribe', 'no stored request');

    // The user's own subscription request to a blocked address is refused, and the roster is untouched.
    await again.client.send(xml('presence', { to: carol.bare, type: 'subscribe', id: 'sub1' }));
    const refused = await waitForStanza(again.inbox, (el) => el.is('presence') && el.attrs.id === 'sub1', 'the refusal');
    expect(refused.attrs.type).to.equal('error');
    expect(errorCondition(refused)).to.equal('not-acceptable');
    expect(isBlockedError(refused)).to.equal(true);
    const roster = await iq(again, 'get', xml('query', { xmlns: 'jabber:iq:roster' }));
    expect(itemsOf(roster.getChild('query', 'jabber:iq:roster'))).to.deep.equal([]);
    await expectNone(carol.inbox, (el) => el.is('presence') && el.attrs.type === 'subscribe', 'carol gets no request');
  });

  it('neither archives nor stores offline a message from a blocked address while the user is offline', async function () {
    const aliceLocal = await account('alice');
    const bob = await online(await account('bob'), 'b1');
    const alice = await login(aliceLocal, 'a1');
    await expectResult(alice, 'set', blockRequest(bob.bare));
    await stopQuietly(alice.client);
    await delay(100);

    await bob.client.send(xml('message', { to: `${aliceLocal}@${A.domain}`, type: 'chat', id: 'offline-1' }, xml('body', {}, 'for later')));
    const refused = await waitForStanza(bob.inbox, (el) => el.is('message') && el.attrs.id === 'offline-1', 'the error');
    expect(errorCondition(refused)).to.equal('service-unavailable');
    const archive = a.server.stores.archive;
    await archive.flush();
    expect(await a.server.stores.offline.count(aliceLocal, A.domain), 'offline messages').to.equal(0);
    expect(await archive.count(aliceLocal, A.domain), 'archived messages').to.equal(0);

    const back = await online(aliceLocal, 'a2');
    await expectNone(back.inbox, messageWith('for later'), 'no offline message');
    // Once unblocked, the same message is kept for her and archived: the checks above could fail.
    await expectResult(back, 'set', unblockRequest(bob.bare));
    await stopQuietly(back.client);
    await delay(100);
    await bob.client.send(xml('message', { to: `${aliceLocal}@${A.domain}`, type: 'chat', id: 'offline-2' }, xml('body', {}, 'kept')));
    await sync(bob.client);
    await archive.flush();
    expect(await a.server.stores.offline.count(aliceLocal, A.domain), 'offline messages after unblock').to.equal(1);
    expect(await archive.count(aliceLocal, A.domain), 'archived messages after unblock').to.equal(1);
    expect(bob.inbox.filter((el) => el.is('message') && el.attrs.id === 'offline-2'), 'no error after unblock').to.have.length(0);
  });

  it('sends unavailable presence on block, from every available resource, and current presence on unblock', async function () {
    const aliceLocal = await account('alice');
    const bobLocal = await account('bob');
    await befriend({ local: aliceLocal, server: a }, { local: bobLocal, server: a });
    const bob = await online(bobLocal, 'b1', a, a.domain, xml('presence', {}, xml('status', {}, 'bob is in')));
    const a1 = await online(aliceLocal, 'a1', a, a.domain, xml('presence', {}, xml('status', {}, 'one')));
    const a2 = await online(aliceLocal, 'a2', a, a.domain, xml('presence', {}, xml('show', {}, 'dnd')));
    await waitForStanza(bob.inbox, presenceFrom(a1.full), 'a1 at bob');
    await waitForStanza(bob.inbox, presenceFrom(a2.full), 'a2 at bob');

    let mark = bob.inbox.length;
    await expectResult(a1, 'set', blockRequest(bob.bare));
    const gone = await waitForCount(bob.inbox, (el) => el.is('presence') && el.attrs.type === 'unavailable', 2, 'unavailable from both resources', 3_000, mark);
    expect(gone.map((el) => el.attrs.from).sort()).to.deep.equal([a1.full, a2.full].sort());

    // While blocked, alice's changes do not reach bob.
    await a1.client.send(xml('presence', {}, xml('status', {}, 'changed while blocking')));
    await sync(a1.client);
    await expectNone(bob.inbox, (el) => el.is('presence') && el.attrs.type === undefined, 'no presence while blocked', mark);

    mark = bob.inbox.length;
    const aliceMark = a2.inbox.length;
    await expectResult(a2, 'set', unblockRequest(bob.bare));
    // §3.4: bob gets alice's current presence (the update made meanwhile included).
    const back1 = await waitSince(bob.inbox, mark, presenceFrom(a1.full), 'a1\'s presence after unblock');
    expect(back1.getChildText('status')).to.equal('changed while blocking');
    const back2 = await waitSince(bob.inbox, mark, presenceFrom(a2.full), 'a2\'s presence after unblock');
    expect(back2.getChildText('show')).to.equal('dnd');
    // And alice sees bob again.
    const seen = await waitSince(a2.inbox, aliceMark, presenceFrom(bob.full), 'bob\'s presence at alice after unblock');
    expect(seen.getChildText('status')).to.equal('bob is in');
    // Messages flow again both ways.
    await bob.client.send(xml('message', { to: a1.bare, type: 'chat' }, xml('body', {}, 'welcome back')));
    await waitForStanza(a1.inbox, messageWith('welcome back'), 'bob\'s message after unblock');
  });

  it('blocks a whole domain, and nobody else', async function () {
    const alice = await online(await account('alice'), 'a1');
    const bob = await online(await account('bob'), 'b1');
    const mallory = await online(await account('mallory', a, OTHER), 'm1', a, OTHER);
    await expectResult(alice, 'set', blockRequest(OTHER));

    await mallory.client.send(xml('message', { to: alice.bare, type: 'chat', id: 'from-other' }, xml('body', {}, 'from-other')));
    const refused = await waitForStanza(mallory.inbox, (el) => el.is('message') && el.attrs.id === 'from-other', 'the error for mallory\'s message');
    expect(errorCondition(refused)).to.equal('service-unavailable');
    await alice.client.send(xml('message', { to: mallory.full, type: 'chat', id: 'to-other' }, xml('body', {}, 'to other')));
    const own = await waitForStanza(alice.inbox, (el) => el.is('message') && el.attrs.id === 'to-other', 'the error for alice\'s message');
    expect(errorCondition(own)).to.equal('not-acceptable');
    expect(isBlockedError(own)).to.equal(true);
    // Alice's own domain and server are not concerned.
    await bob.client.send(xml('message', { to: alice.bare, type: 'chat' }, xml('body', {}, 'same domain')));
    await waitForStanza(alice.inbox, messageWith('same domain'), 'bob\'s message');
    await sync(alice.client);
    await expectNone(alice.inbox, messageWith('from-other'), 'nothing from the blocked domain');

    await expectResult(alice, 'set', unblockRequest(OTHER));
    await mallory.client.send(xml('message', { to: alice.bare, type: 'chat' }, xml('body', {}, 'unblocked domain')));
    await waitForStanza(alice.inbox, messageWith('unblocked domain'), 'mallory\'s message after unblock');
  });

  it('blocks a remote contact across domains (s2s) both ways, with presence on block and unblock', async function () {
    const aliceLocal = await account('alice');
    const romeoLocal = await account('romeo', b);
    await befriend({ local: aliceLocal, server: a }, { local: romeoLocal, server: b });
    const romeo = await online(romeoLocal, 'r1', b, b.domain, xml('presence', {}, xml('status', {}, 'romeo on b')));
    const alice = await online(aliceLocal, 'a1');
    await waitForStanza(romeo.inbox, presenceFrom(alice.full), 'alice\'s presence at romeo over s2s', 8_000);
    await waitForStanza(alice.inbox, presenceFrom(romeo.full), 'romeo\'s presence at alice over s2s', 8_000);

    let mark = romeo.inbox.length;
    await expectResult(alice, 'set', blockRequest(romeo.bare));
    await waitSince(romeo.inbox, mark, presenceFrom(alice.full, 'unavailable'), 'unavailable at romeo on block', 8_000);

    await romeo.client.send(xml('message', { to: alice.bare, type: 'chat', id: 'remote-1' }, xml('body', {}, 'from afar')));
    const refused = await waitForStanza(romeo.inbox, (el) => el.is('message') && el.attrs.id === 'remote-1', 'the error over s2s', 8_000);
    expect(refused.attrs).to.include({ type: 'error', from: alice.bare });
    expect(errorCondition(refused)).to.equal('service-unavailable');
    const remoteIq = await iq(romeo, 'get', xml('ping', { xmlns: 'urn:xmpp:ping' }), alice.full);
    expect(errorCondition(remoteIq)).to.equal('service-unavailable');
    await romeo.client.send(xml('presence', {}, xml('status', {}, 'romeo while blocked')));
    await sync(romeo.client);

    await alice.client.send(xml('message', { to: romeo.full, type: 'chat', id: 'to-romeo' }, xml('body', {}, 'no')));
    const own = await waitForStanza(alice.inbox, (el) => el.is('message') && el.attrs.id === 'to-romeo', 'the error for alice\'s message');
    expect(own.attrs.from).to.equal(romeo.full);
    expect(errorCondition(own)).to.equal('not-acceptable');
    expect(isBlockedError(own)).to.equal(true);
    await alice.client.send(xml('presence', {}, xml('status', {}, 'alice while blocking')));
    await sync(alice.client);
    await delay(300); // s2s is slower than local delivery
    await expectNone(alice.inbox, (el) => (el.is('message') && el.attrs.type !== 'error') || (el.is('presence') && el.attrs.from?.startsWith(romeo.bare) === true && el.getChildText('status') === 'romeo while blocked'),
      'nothing from romeo reaches alice');
    await expectNone(romeo.inbox, (el) => (el.is('message') && el.attrs.type !== 'error') || (el.is('presence') && el.attrs.type === undefined && el.attrs.from?.startsWith(alice.bare) === true),
      'nothing from alice reaches romeo', mark);

    // A message while alice is offline is not stored for her.
    await stopQuietly(alice.client);
    await delay(100);
    await romeo.client.send(xml('message', { to: alice.bare, type: 'chat', id: 'remote-offline' }, xml('body', {}, 'while you were out')));
    await waitForStanza(romeo.inbox, (el) => el.is('message') && el.attrs.id === 'remote-offline' && el.attrs.type === 'error', 'the error while alice is offline', 8_000);
    expect(await a.server.stores.offline.count(aliceLocal, A.domain)).to.equal(0);

    const again = await online(aliceLocal, 'a2');
    await expectNone(again.inbox, (el) => el.is('presence') && el.attrs.from?.startsWith(romeo.bare) === true, 'no presence from romeo after login either');
    mark = romeo.inbox.length;
    await expectResult(again, 'set', unblockRequest());
    // §3.4: romeo gets alice's current presence, and alice romeo's (probed on her behalf).
    await waitSince(romeo.inbox, mark, presenceFrom(again.full), 'alice\'s presence at romeo after unblock', 8_000);
    const seen = await waitForStanza(again.inbox, presenceFrom(romeo.full), 'romeo\'s presence at alice after unblock', 8_000);
    expect(seen.getChildText('status')).to.equal('romeo while blocked');
    await romeo.client.send(xml('message', { to: again.bare, type: 'chat' }, xml('body', {}, 'friends again')));
    await waitForStanza(again.inbox, messageWith('friends again'), 'romeo\'s message after unblock', 8_000);
  });

  it('blocks a remote domain', async function () {
    const alice = await online(await account('alice'), 'a1');
    const juliet = await online(await account('juliet', b), 'j1', b);
    await expectResult(alice, 'set', blockRequest(B.domain));
    await juliet.client.send(xml('message', { to: alice.bare, type: 'chat', id: 'dom-1' }, xml('body', {}, 'from the blocked domain')));
    const refused = await waitForStanza(juliet.inbox, (el) => el.is('message') && el.attrs.id === 'dom-1', 'the error over s2s', 8_000);
    expect(errorCondition(refused)).to.equal('service-unavailable');
    await alice.client.send(xml('message', { to: juliet.bare, type: 'chat', id: 'dom-2' }, xml('body', {}, 'to the blocked domain')));
    const own = await waitForStanza(alice.inbox, (el) => el.is('message') && el.attrs.id === 'dom-2', 'the error for alice\'s message');
    expect(isBlockedError(own)).to.equal(true);
    // The server of the blocked domain is blocked too.
    const ping = await iq(alice, 'get', xml('ping', { xmlns: 'urn:xmpp:ping' }), B.domain);
    expect(errorCondition(ping)).to.equal('not-acceptable');
    await expectNone(alice.inbox, messageWith('from the blocked domain'), 'nothing from the blocked domain');
    await expectNone(juliet.inbox, messageWith('to the blocked domain'), 'nothing reaches the blocked domain');
  });
});

describe('XEP-0191 §6 JID matching', function () {
  const blocked = (items: string[], address: string) => listBlocks(new Set(items), parseJid(address));

  it('matches a full JID only at that resource, a bare JID at every resource', function () {
    expect(blocked(['romeo@montague.example/orchard'], 'romeo@montague.example/orchard')).to.equal(true);
    expect(blocked(['romeo@montague.example/orchard'], 'romeo@montague.example/balcony')).to.equal(false);
    expect(blocked(['romeo@montague.example/orchard'], 'romeo@montague.example')).to.equal(false);
    expect(blocked(['romeo@montague.example'], 'romeo@montague.example/balcony')).to.equal(true);
    expect(blocked(['romeo@montague.example'], 'romeo@montague.example')).to.equal(true);
    expect(blocked(['romeo@montague.example'], 'benvolio@montague.example')).to.equal(false);
  });

  it('matches domain/resource only there, and a domain at every address of it and its subdomains', function () {
    expect(blocked(['montague.example/bot'], 'montague.example/bot')).to.equal(true);
    expect(blocked(['montague.example/bot'], 'romeo@montague.example/bot')).to.equal(false);
    for (const address of ['montague.example', 'montague.example/bot', 'romeo@montague.example', 'romeo@montague.example/x', 'chat.montague.example', 'a@b.chat.montague.example/c']) {
      expect(blocked(['montague.example'], address), address).to.equal(true);
    }
    for (const address of ['capulet.example', 'xmontague.example', 'montague.example.org']) {
      expect(blocked(['montague.example'], address), address).to.equal(false);
    }
    expect(blocked(['0.1'], '127.0.0.1'), 'an IP address has no parent domains').to.equal(false);
    expect(blocked([], 'romeo@montague.example')).to.equal(false);
  });

  it('lists, for a database lookup, exactly the entries that would match', function () {
    expect(blockingEntries(parseJid('romeo@chat.montague.example/orchard'))).to.deep.equal([
      'romeo@chat.montague.example/orchard', 'romeo@chat.montague.example', 'chat.montague.example', 'montague.example', 'example',
    ]);
    expect(blockingEntries(parseJid('montague.example/bot'))).to.deep.equal(['montague.example/bot', 'montague.example', 'example']);
    expect(blockingEntries(parseJid('127.0.0.1'))).to.deep.equal(['127.0.0.1']);
  });
});
