// Presence as users of a standard client see it: RFC 6121 §4 (initial presence, probes answered
// by the server, updates, unavailable, directed presence) and §8.5.2 (negative priority).
import { expect } from 'chai';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { acknowledgeRosterPushes as acknowledgePushes, collectStanzas, connect, delay, roundTrip as sync, stopQuietly, xml, type Client, type Element } from '../helpers/xmpp-client.js';

// PLAIN inside TLS: SCRAM is covered by test/c2s, and its client side costs ~200 ms a login.
const PASSWORD = 'presence-secret';
const QUIET_MS = 200;

interface Peer {
  client: Client;
  inbox: Element[];
  bare: string;
  full: string;
}

const presenceFrom = (from: string, type?: string) => (el: Element) => el.is('presence') && el.attrs.from === from && el.attrs.type === type;

/** The stanzas received from index `from` on, looked at afresh on every poll. */
interface Since {
  list: Element[];
  from: number;
}

const since = (list: Element[], from: number): Since => ({ list, from });

/** The first stanza in the inbox (already there or still to come) that matches. */
async function waitFor(inbox: Element[] | Since, match: (el: Element) => boolean, what: string, ms = 2_000): Promise<Element> {
  const deadline = Date.now() + ms;
  for (;;) {
    const current = Array.isArray(inbox) ? inbox : inbox.list.slice(inbox.from);
    const found = current.find(match);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got:\n${current.map(String).join('\n')}`);
    await delay(10);
  }
}

async function expectNone(inbox: Element[], match: (el: Element) => boolean, what: string, from = 0): Promise<void> {
  await delay(QUIET_MS);
  expect(inbox.slice(from).filter(match).map(String), what).to.deep.equal([]);
}

/** show, status and priority as the receiver sees them. */
function content(el: Element): { show: string | null; status: string | null; priority: string | null } {
  return { show: el.getChildText('show'), status: el.getChildText('status'), priority: el.getChildText('priority') };
}


describe('RFC 6121 §4 presence with @xmpp/client', function () {
  let ts: TestServer;
  const clients: Client[] = [];
  let users = 0;

  before(async function () {
    // Without stream management resumption: a dropped connection ends the session at once
    // (test/c2s/stream-management.test.ts covers hibernation).
    ts = await startTestServer({ host: '127.0.0.124', domain: 'presence.hearth.example', config: { c2s: { smResumeTimeoutS: 0 } } });
  });

  afterEach(async function () {
    await Promise.all(clients.splice(0).map(stopQuietly));
  });

  after(async function () {
    await ts?.stop();
  });

  async function account(name: string): Promise<string> {
    const local = `${name}${++users}`;
    await ts.addUser(local, PASSWORD);
    return local;
  }

  async function login(local: string, resource: string): Promise<Peer> {
    const client = await connect(ts, local, PASSWORD, { resource, mechanism: 'PLAIN' });
    clients.push(client);
    acknowledgePushes(client);
    return { client, inbox: collectStanzas(client), bare: `${local}@${ts.domain}`, full: `${local}@${ts.domain}/${resource}` };
  }

  /** Logs in and sends initial presence; resolves once the server has routed it. */
  async function online(local: string, resource: string, initial: Element = xml('presence')): Promise<Peer> {
    const peer = await login(local, resource);
    await peer.client.send(initial);
    await sync(peer.client);
    await delay(50);
    return peer;
  }

  /**
   * A mutual ("both") subscription, written straight to the roster store before the users log
   * in: the handshake that builds it is the subject of subscriptions.test.ts, not of this file.
   */
  async function befriend(a: string, b: string): Promise<void> {
    const both = (local: string) => ({ jid: `${local}@${ts.domain}`, name: null, groups: [], subscription: 'both' as const, pendingOut: false, approved: false });
    await ts.server.stores.roster.put(a, ts.domain, both(b));
    await ts.server.stores.roster.put(b, ts.domain, both(a));
  }

  async function friends(): Promise<[string, string]> {
    const a = await account('alice');
    const b = await account('bob');
    await befriend(a, b);
    return [a, b];
  }

  it('initial presence reaches the contact as sent; the newcomer gets the contact\'s presence right after its own', async function () {
    const [a, b] = await friends();
    const bob = await online(b, 'b1', xml('presence', {}, xml('show', {}, 'chat'), xml('status', {}, 'Bob here'), xml('priority', {}, '1')));
    const alice = await login(a, 'a1');
    await sync(alice.client);
    await delay(100);
    expect(alice.inbox.filter((el) => el.is('presence')), 'no presence before initial presence').to.have.length(0);

    await alice.client.send(xml('presence', {}, xml('show', {}, 'away'), xml('status', {}, 'Lunch'), xml('priority', {}, '5')));
    // §4.2.2: to each contact with a subscription, from the full JID.
    const atBob = await waitFor(bob.inbox, presenceFrom(alice.full), 'alice\'s initial presence at bob');
    expect(atBob.attrs.to).to.be.oneOf([bob.bare, bob.full]);
    expect(content(atBob)).to.deep.equal({ show: 'away', status: 'Lunch', priority: '5' });
    // §4.2.3/§4.3.2: the server answers the probe for its local contact with bob's current presence.
    const atAlice = await waitFor(alice.inbox, presenceFrom(bob.full), 'bob\'s presence at alice');
    expect(atAlice.attrs.to).to.be.oneOf([alice.bare, alice.full]);
    expect(content(atAlice)).to.deep.equal({ show: 'chat', status: 'Bob here', priority: '1' });
    expect(alice.inbox.filter(presenceFrom(bob.full)), 'once').to.have.length(1);
  });

  it('an offline contact shows up as nothing (or unavailable) for the newcomer, and its later login is seen', async function () {
    const [a, b] = await friends();
    const alice = await online(a, 'a1');
    await expectNone(alice.inbox, (el) => el.is('presence') && el.attrs.type === undefined && el.attrs.from?.startsWith(`${b}@`) === true, 'bob is not available');
    const bob = await online(b, 'b1', xml('presence', {}, xml('status', {}, 'back')));
    const seen = await waitFor(alice.inbox, presenceFrom(bob.full), 'bob\'s initial presence at alice');
    expect(seen.getChildText('status')).to.equal('back');
    // And bob, the newcomer, gets alice's.
    await waitFor(bob.inbox, presenceFrom(alice.full), 'alice\'s presence at bob');
  });

  it('broadcasts initial presence and updates back to the resource that sent them (§4.2.2, §4.4.2)', async function () {
    const a = await account('alice');
    const alice = await login(a, 'a1');
    await alice.client.send(xml('presence', {}, xml('status', {}, 'first')));
    const own = await waitFor(alice.inbox, presenceFrom(alice.full), 'alice\'s own initial presence');
    expect(own.getChildText('status')).to.equal('first');
    const mark = alice.inbox.length;
    await alice.client.send(xml('presence', {}, xml('status', {}, 'second')));
    const update = await waitFor(since(alice.inbox, mark), presenceFrom(alice.full), 'alice\'s own update');
    expect(update.getChildText('status')).to.equal('second');
  });

  it('broadcasts presence updates to contacts', async function () {
    const [a, b] = await friends();
    const bob = await online(b, 'b1');
    const alice = await online(a, 'a1');
    await waitFor(bob.inbox, presenceFrom(alice.full), 'initial');
    const mark = bob.inbox.length;
    await alice.client.send(xml('presence', {}, xml('show', {}, 'xa'), xml('status', {}, 'On holiday'), xml('priority', {}, '-3')));
    const update = await waitFor(since(bob.inbox, mark), presenceFrom(alice.full), 'the update');
    expect(update.attrs.to).to.be.oneOf([bob.bare, bob.full]);
    expect(content(update)).to.deep.equal({ show: 'xa', status: 'On holiday', priority: '-3' });
    const mark2 = bob.inbox.length;
    await alice.client.send(xml('presence', {}, xml('status', {}, 'again')));
    expect((await waitFor(since(bob.inbox, mark2), presenceFrom(alice.full), 'the second update')).getChildText('status')).to.equal('again');
  });

  it('broadcasts explicit unavailable presence with its status', async function () {
    const [a, b] = await friends();
    const bob = await online(b, 'b1');
    const alice = await online(a, 'a1');
    await waitFor(bob.inbox, presenceFrom(alice.full), 'initial');
    await alice.client.send(xml('presence', { type: 'unavailable' }, xml('status', {}, 'Gone home')));
    const gone = await waitFor(bob.inbox, presenceFrom(alice.full, 'unavailable'), 'unavailable at bob');
    expect(gone.attrs.to).to.be.oneOf([bob.bare, bob.full]);
    expect(gone.getChildText('status')).to.equal('Gone home');
    // Unavailable now: a message to the bare JID is not delivered to that resource.
    const mark = alice.inbox.length;
    await bob.client.send(xml('message', { to: alice.bare, type: 'chat' }, xml('body', {}, 'still there?')));
    await expectNone(alice.inbox, (el) => el.is('message'), 'no chat to an unavailable resource', mark);
  });

  it('broadcasts unavailable presence when a client\'s connection dies without closing the stream (§4.5.2)', async function () {
    const [a, b] = await friends();
    const bob = await online(b, 'b1');
    const alice = await online(a, 'a1');
    await waitFor(bob.inbox, presenceFrom(alice.full), 'initial');
    // Pull the plug: the TCP connection goes, no </stream:stream>, no unavailable presence.
    (alice.client as unknown as { socket: { socket: { destroy(): void } } }).socket.socket.destroy();
    const gone = await waitFor(bob.inbox, presenceFrom(alice.full, 'unavailable'), 'unavailable at bob', 5_000);
    expect(gone.attrs.to).to.be.oneOf([bob.bare, bob.full]);
  });

  it('shows a user\'s resources to each other', async function () {
    const a = await account('alice');
    const first = await online(a, 'a1', xml('presence', {}, xml('show', {}, 'chat'), xml('status', {}, 'desk')));
    const second = await login(a, 'a2');
    await second.client.send(xml('presence', {}, xml('status', {}, 'phone')));
    // The newcomer sees the resource already there, and that one sees the newcomer.
    expect((await waitFor(second.inbox, presenceFrom(first.full), 'a1 at a2')).getChildText('status')).to.equal('desk');
    expect((await waitFor(first.inbox, presenceFrom(second.full), 'a2 at a1')).getChildText('status')).to.equal('phone');
    await second.client.send(xml('presence', { type: 'unavailable' }));
    await waitFor(first.inbox, presenceFrom(second.full, 'unavailable'), 'a2 going away at a1');
  });

  it('sends unavailable to the recipient of directed presence when the user logs out (§4.6)', async function () {
    const a = await account('alice');
    const c = await account('carol');
    const carol = await online(c, 'c1');
    const alice = await online(a, 'a1');
    await expectNone(carol.inbox, (el) => el.is('presence') && el.attrs.from === alice.full, 'carol is no contact: no broadcast');

    await alice.client.send(xml('presence', { to: carol.full }, xml('status', {}, 'psst')));
    const directed = await waitFor(carol.inbox, presenceFrom(alice.full), 'directed presence at carol');
    expect(directed.attrs.to).to.equal(carol.full);
    expect(directed.getChildText('status')).to.equal('psst');

    await stopQuietly(alice.client);
    const gone = await waitFor(carol.inbox, presenceFrom(alice.full, 'unavailable'), 'unavailable at carol');
    expect(gone.attrs.to).to.be.oneOf([carol.bare, carol.full]);
  });

  it('sends unavailable to the recipient of directed presence when the user broadcasts unavailable (§4.6)', async function () {
    const a = await account('alice');
    const c = await account('carol');
    const carol = await online(c, 'c1');
    const alice = await online(a, 'a1');
    await alice.client.send(xml('presence', { to: carol.bare }, xml('status', {}, 'to the bare JID')));
    await waitFor(carol.inbox, presenceFrom(alice.full), 'directed presence at carol');
    await alice.client.send(xml('presence', { type: 'unavailable' }));
    await waitFor(carol.inbox, presenceFrom(alice.full, 'unavailable'), 'unavailable at carol');
  });

  it('tells a peer without a subscription nothing: no probe answer, no broadcast', async function () {
    const [a, b] = await friends();
    const c = await account('carol');
    const alice = await online(a, 'a1', xml('presence', {}, xml('status', {}, 'secret')));
    const bob = await online(b, 'b1');
    await waitFor(bob.inbox, presenceFrom(alice.full), 'the contact does see alice');
    const carol = await online(c, 'c1');
    await carol.client.send(xml('presence', { to: alice.bare, type: 'probe' }));
    await alice.client.send(xml('presence', {}, xml('status', {}, 'still secret')));
    await alice.client.send(xml('presence', { type: 'unavailable' }));
    await expectNone(carol.inbox, (el) => el.attrs.from?.startsWith(alice.bare) === true, 'carol learns nothing about alice');
  });

  it('a resource with negative priority gets presence, but no chat messages to the bare JID (§4.7.2.3, §8.5.2.1.1)', async function () {
    const [a, b] = await friends();
    const bob = await online(b, 'b1');
    const shy = await online(a, 'shy', xml('presence', {}, xml('priority', {}, '-1')));
    // Its presence is broadcast like any other...
    const seen = await waitFor(bob.inbox, presenceFrom(shy.full), 'the shy resource at bob');
    expect(seen.getChildText('priority')).to.equal('-1');
    // ...and it receives presence...
    await waitFor(shy.inbox, presenceFrom(bob.full), 'bob at the shy resource');
    const mark = shy.inbox.length;
    await bob.client.send(xml('presence', {}, xml('status', {}, 'update')));
    await waitFor(since(shy.inbox, mark), presenceFrom(bob.full), 'bob\'s update at the shy resource');
    // ...but not a chat message to the bare JID, while a full-JID one does arrive.
    await bob.client.send(xml('message', { to: shy.bare, type: 'chat', id: 'to-bare' }, xml('body', {}, 'anyone?')));
    await bob.client.send(xml('message', { to: shy.full, type: 'chat', id: 'to-full' }, xml('body', {}, 'you, shy one')));
    const direct = await waitFor(shy.inbox, (el) => el.is('message') && el.attrs.id === 'to-full', 'the full-JID message');
    expect(direct.attrs.from).to.equal(bob.full);
    await expectNone(shy.inbox, (el) => el.is('message') && el.attrs.id === 'to-bare', 'no bare-JID chat at priority -1');

    // A resource with priority 0 does get bare-JID messages.
    const open = await online(a, 'open', xml('presence', {}, xml('priority', {}, '0')));
    const shyMark = shy.inbox.length;
    await bob.client.send(xml('message', { to: shy.bare, type: 'chat', id: 'to-bare-2' }, xml('body', {}, 'now?')));
    await waitFor(open.inbox, (el) => el.is('message') && el.attrs.id === 'to-bare-2', 'the bare-JID message at priority 0');
    await expectNone(shy.inbox, (el) => el.is('message') && el.attrs.id === 'to-bare-2', 'still not at priority -1', shyMark);
  });
});
