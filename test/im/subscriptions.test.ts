// Presence subscriptions as two users of a standard client see them: RFC 6121 §3 (request,
// approval, cancellation, unsubscribe, pre-approval) with the roster pushes of Appendix A.
import { expect } from 'chai';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { acknowledgeRosterPushes as acknowledgePushes, collectStanzas, connect, delay, nextStanza, roundTrip, stopQuietly, xml, type Client, type Element } from '../helpers/xmpp-client.js';

/** A round trip through the server: everything sent before has been routed. */
const sync = (peer: { client: Client }) => roundTrip(peer.client);

const NS_ROSTER = 'jabber:iq:roster';
// PLAIN inside TLS: SCRAM is covered by test/c2s, and its client side costs ~200 ms a login.
const PASSWORD = 'subscription-secret';
const QUIET_MS = 200;

let ids = 0;

interface Peer {
  client: Client;
  /** Everything this session received since it logged in, in order. */
  inbox: Element[];
  bare: string;
  full: string;
}

const isPush = (el: Element) => el.is('iq') && el.attrs.type === 'set' && el.getChild('query', NS_ROSTER) !== undefined;
const itemOf = (push: Element) => push.getChild('query', NS_ROSTER)!.getChildElements()[0]!;
const pushFor = (jid: string) => (el: Element) => isPush(el) && itemOf(el).attrs.jid === jid;
const presence = (type: string | undefined, from: string) => (el: Element) => el.is('presence') && el.attrs.type === type && el.attrs.from === from;

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

/** Nothing matching arrives within the quiet period (or has arrived since `from`). */
async function expectNone(inbox: Element[], match: (el: Element) => boolean, what: string, from = 0): Promise<void> {
  await delay(QUIET_MS);
  const unexpected = inbox.slice(from).filter(match);
  expect(unexpected.map((el) => el.toString()), what).to.deep.equal([]);
}

async function request(client: Client, type: 'get' | 'set', child: Element): Promise<Element> {
  const id = `q-${++ids}`;
  const reply = nextStanza(client, (el) => el.is('iq') && el.attrs.id === id && (el.attrs.type === 'result' || el.attrs.type === 'error'));
  await client.send(xml('iq', { type, id }, child));
  return reply;
}

async function rosterItems(peer: Peer): Promise<Array<Record<string, string>>> {
  const result = await request(peer.client, 'get', xml('query', { xmlns: NS_ROSTER }));
  return result.getChild('query', NS_ROSTER)!.getChildElements().map((i) => ({ ...i.attrs }));
}


describe('RFC 6121 §3 presence subscriptions with @xmpp/client', function () {
  let ts: TestServer;
  const clients: Client[] = [];
  let users = 0;

  before(async function () {
    ts = await startTestServer({ host: '127.0.0.123', domain: 'sub.hearth.example' });
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

  /**
   * Logs in like a typical client: requests the roster (an "interested resource"), then sends
   * initial presence (an "available resource"), RFC 6121 §2.2.
   */
  async function online(local: string, resource: string, options: { roster?: boolean; presence?: Element | null } = {}): Promise<Peer> {
    const client = await connect(ts, local, PASSWORD, { resource, mechanism: 'PLAIN' });
    clients.push(client);
    acknowledgePushes(client);
    const peer: Peer = { client, inbox: collectStanzas(client), bare: `${local}@${ts.domain}`, full: `${local}@${ts.domain}/${resource}` };
    if (options.roster ?? true) await rosterItems(peer);
    const initial = options.presence === undefined ? xml('presence') : options.presence;
    if (initial) await client.send(initial);
    await sync(peer);
    return peer;
  }

  /** user asks contact; contact approves; both sides are settled afterwards. */
  async function handshake(user: Peer, contact: Peer): Promise<void> {
    const asked = user.inbox.length;
    await user.client.send(xml('presence', { to: contact.bare, type: 'subscribe' }));
    await waitFor(contact.inbox, presence('subscribe', user.bare), `${contact.bare} receiving the request`);
    await contact.client.send(xml('presence', { to: user.bare, type: 'subscribed' }));
    await waitFor(since(user.inbox, asked), (el) => pushFor(contact.bare)(el) && ['to', 'both'].includes(itemOf(el).attrs.subscription!) && itemOf(el).attrs.ask === undefined, `${user.bare}'s push after approval`);
    await waitFor(contact.inbox, (el) => pushFor(user.bare)(el) && ['from', 'both'].includes(itemOf(el).attrs.subscription!), `${contact.bare}'s push after approving`);
    await delay(50);
  }

  it('runs the subscribe/subscribed handshake with pushes on both sides, then presence flows one way', async function () {
    const alice = await online(await account('alice'), 'a1');
    const bob = await online(await account('bob'), 'b1', { presence: xml('presence', {}, xml('show', {}, 'chat'), xml('status', {}, 'Bob is here')) });

    await alice.client.send(xml('presence', { to: bob.bare, type: 'subscribe' }, xml('status', {}, 'Hi, I am Alice')));
    // §3.1.2: the user's interested resources see the contact as none + ask=subscribe.
    const pending = await waitFor(alice.inbox, pushFor(bob.bare), 'alice\'s first push');
    expect(itemOf(pending).attrs).to.deep.equal({ jid: bob.bare, subscription: 'none', ask: 'subscribe' });
    // §3.1.3: bob's available resource gets the request, from alice's bare JID.
    const request = await waitFor(bob.inbox, presence('subscribe', alice.bare), 'the request at bob');
    expect(request.attrs).to.include({ type: 'subscribe', from: alice.bare, to: bob.bare });
    expect(request.getChildText('status')).to.equal('Hi, I am Alice');

    const bobMark = bob.inbox.length;
    await bob.client.send(xml('presence', { to: alice.bare, type: 'subscribed' }));
    // §3.1.5: bob's roster shows alice as "from".
    const approved = await waitFor(since(bob.inbox, bobMark), pushFor(alice.bare), 'bob\'s push');
    expect(itemOf(approved).attrs).to.deep.equal({ jid: alice.bare, subscription: 'from' });
    // §3.1.6: alice gets the approval and a push to "to"; §3.1.5: then bob's current presence.
    const subscribed = await waitFor(alice.inbox, presence('subscribed', bob.bare), 'the approval at alice');
    expect(subscribed.attrs).to.include({ type: 'subscribed', from: bob.bare, to: alice.bare });
    const pushes = () => alice.inbox.filter(pushFor(bob.bare));
    await waitFor(alice.inbox, (el) => pushFor(bob.bare)(el) && itemOf(el).attrs.subscription === 'to', 'alice\'s second push');
    expect(pushes().map((p) => ({ ...itemOf(p).attrs }))).to.deep.equal([
      { jid: bob.bare, subscription: 'none', ask: 'subscribe' },
      { jid: bob.bare, subscription: 'to' },
    ]);
    const current = await waitFor(alice.inbox, presence(undefined, bob.full), 'bob\'s current presence at alice');
    expect(current.getChildText('show')).to.equal('chat');
    expect(current.getChildText('status')).to.equal('Bob is here');

    expect(await rosterItems(alice)).to.deep.equal([{ jid: bob.bare, subscription: 'to' }]);
    expect(await rosterItems(bob)).to.deep.equal([{ jid: alice.bare, subscription: 'from' }]);

    // Presence flows from bob to alice...
    const aliceMark = alice.inbox.length;
    await bob.client.send(xml('presence', {}, xml('show', {}, 'away'), xml('status', {}, 'brb')));
    const update = await waitFor(since(alice.inbox, aliceMark), presence(undefined, bob.full), 'bob\'s update at alice');
    expect(update.attrs.to).to.be.oneOf([alice.bare, alice.full]);
    expect(update.getChildText('show')).to.equal('away');
    expect(update.getChildText('status')).to.equal('brb');
    // ...but not from alice to bob.
    const bobMark2 = bob.inbox.length;
    await alice.client.send(xml('presence', {}, xml('show', {}, 'dnd')));
    await expectNone(bob.inbox, (el) => el.is('presence') && el.attrs.from?.startsWith(alice.bare) === true, 'bob does not see alice', bobMark2);
  });

  it('delivers the approval to the user before the roster push that records it (§3.1.6)', async function () {
    const alice = await online(await account('alice'), 'a1');
    const bob = await online(await account('bob'), 'b1');
    await alice.client.send(xml('presence', { to: bob.bare, type: 'subscribe' }));
    await waitFor(bob.inbox, presence('subscribe', alice.bare), 'the request');
    const mark = alice.inbox.length;
    await bob.client.send(xml('presence', { to: alice.bare, type: 'subscribed' }));
    const subscribed = await waitFor(alice.inbox, presence('subscribed', bob.bare), 'the approval');
    const push = await waitFor(since(alice.inbox, mark), pushFor(bob.bare), 'the push to "to"');
    expect(alice.inbox.indexOf(subscribed), `order at alice:\n${alice.inbox.slice(mark).map(String).join('\n')}`).to.be.lessThan(alice.inbox.indexOf(push));
  });

  it('builds a mutual subscription: both sides end at "both" and see each other', async function () {
    const alice = await online(await account('alice'), 'a1');
    const bob = await online(await account('bob'), 'b1');
    await handshake(alice, bob);

    const aliceMark = alice.inbox.length;
    const bobMark = bob.inbox.length;
    await bob.client.send(xml('presence', { to: alice.bare, type: 'subscribe' }));
    // bob already has "from": his request shows as from + ask=subscribe (Appendix A.2.1).
    const bobPending = await waitFor(since(bob.inbox, bobMark), pushFor(alice.bare), 'bob\'s pending push');
    expect(itemOf(bobPending).attrs).to.deep.equal({ jid: alice.bare, subscription: 'from', ask: 'subscribe' });
    const request = await waitFor(since(alice.inbox, aliceMark), presence('subscribe', bob.bare), 'bob\'s request at alice');
    expect(request.attrs).to.include({ from: bob.bare, to: alice.bare });

    await alice.client.send(xml('presence', { to: bob.bare, type: 'subscribed' }));
    const alicePush = await waitFor(since(alice.inbox, aliceMark), pushFor(bob.bare), 'alice\'s push to both');
    expect(itemOf(alicePush).attrs).to.deep.equal({ jid: bob.bare, subscription: 'both' });
    await waitFor(since(bob.inbox, bobMark), presence('subscribed', alice.bare), 'the approval at bob');
    const bobPushes = () => bob.inbox.slice(bobMark).filter(pushFor(alice.bare));
    await waitFor(since(bob.inbox, bobMark), (el) => pushFor(alice.bare)(el) && itemOf(el).attrs.subscription === 'both', 'bob\'s push to both');
    expect(bobPushes().map((p) => ({ ...itemOf(p).attrs }))).to.deep.equal([
      { jid: alice.bare, subscription: 'from', ask: 'subscribe' },
      { jid: alice.bare, subscription: 'both' },
    ]);
    // §3.1.5: alice's current presence follows her approval.
    await waitFor(since(bob.inbox, bobMark), presence(undefined, alice.full), 'alice\'s current presence at bob');

    expect(await rosterItems(alice)).to.deep.equal([{ jid: bob.bare, subscription: 'both' }]);
    expect(await rosterItems(bob)).to.deep.equal([{ jid: alice.bare, subscription: 'both' }]);

    const a2 = alice.inbox.length;
    const b2 = bob.inbox.length;
    await alice.client.send(xml('presence', {}, xml('status', {}, 'from alice')));
    await bob.client.send(xml('presence', {}, xml('status', {}, 'from bob')));
    expect((await waitFor(since(bob.inbox, b2), presence(undefined, alice.full), 'alice at bob')).getChildText('status')).to.equal('from alice');
    expect((await waitFor(since(alice.inbox, a2), presence(undefined, bob.full), 'bob at alice')).getChildText('status')).to.equal('from bob');
  });

  it('denies a request with unsubscribed: the user\'s pending ask is cleared', async function () {
    const alice = await online(await account('alice'), 'a1');
    const bob = await online(await account('bob'), 'b1');
    await alice.client.send(xml('presence', { to: bob.bare, type: 'subscribe' }));
    await waitFor(bob.inbox, presence('subscribe', alice.bare), 'the request');
    await bob.client.send(xml('presence', { to: alice.bare, type: 'unsubscribed' }));
    const denial = await waitFor(alice.inbox, presence('unsubscribed', bob.bare), 'the denial');
    expect(denial.attrs).to.include({ from: bob.bare, to: alice.bare });
    await waitFor(alice.inbox, (el) => pushFor(bob.bare)(el) && itemOf(el).attrs.ask === undefined, 'alice\'s push without ask');
    expect(await rosterItems(alice)).to.deep.equal([{ jid: bob.bare, subscription: 'none' }]);
    // The request is gone: bob's next login does not see it again.
    await stopQuietly(bob.client);
    const bobAgain = await online(bob.bare.split('@')[0]!, 'b2');
    await expectNone(bobAgain.inbox, presence('subscribe', alice.bare), 'no redelivered request');
  });

  it('unsubscribe: the user stops seeing the contact, both rosters are pushed, the contact is told', async function () {
    const alice = await online(await account('alice'), 'a1');
    const bob = await online(await account('bob'), 'b1');
    await handshake(alice, bob);
    await handshake(bob, alice);
    const aliceMark = alice.inbox.length;
    const bobMark = bob.inbox.length;

    await alice.client.send(xml('presence', { to: bob.bare, type: 'unsubscribe' }));
    const alicePush = await waitFor(since(alice.inbox, aliceMark), pushFor(bob.bare), 'alice\'s push');
    expect(itemOf(alicePush).attrs).to.deep.equal({ jid: bob.bare, subscription: 'from' });
    const notice = await waitFor(since(bob.inbox, bobMark), presence('unsubscribe', alice.bare), 'the unsubscribe at bob');
    expect(notice.attrs).to.include({ from: alice.bare, to: bob.bare });
    const bobPush = await waitFor(since(bob.inbox, bobMark), pushFor(alice.bare), 'bob\'s push');
    expect(itemOf(bobPush).attrs).to.deep.equal({ jid: alice.bare, subscription: 'to' });
    expect(await rosterItems(alice)).to.deep.equal([{ jid: bob.bare, subscription: 'from' }]);
    expect(await rosterItems(bob)).to.deep.equal([{ jid: alice.bare, subscription: 'to' }]);

    // bob's presence no longer reaches alice; alice's still reaches bob.
    const a2 = alice.inbox.length;
    const b2 = bob.inbox.length;
    await bob.client.send(xml('presence', {}, xml('status', {}, 'unseen')));
    await alice.client.send(xml('presence', {}, xml('status', {}, 'still seen')));
    expect((await waitFor(since(bob.inbox, b2), presence(undefined, alice.full), 'alice at bob')).getChildText('status')).to.equal('still seen');
    await expectNone(alice.inbox, (el) => el.is('presence') && el.attrs.from === bob.full && el.attrs.type === undefined, 'alice no longer sees bob', a2);
  });

  it('unsubscribe: the user receives unavailable presence from the contact\'s resources (§3.3.3)', async function () {
    const alice = await online(await account('alice'), 'a1');
    const bob = await online(await account('bob'), 'b1');
    await handshake(alice, bob);
    const aliceMark = alice.inbox.length;
    await alice.client.send(xml('presence', { to: bob.bare, type: 'unsubscribe' }));
    const gone = await waitFor(since(alice.inbox, aliceMark), presence('unavailable', bob.full), 'unavailable from bob/b1 at alice');
    expect(gone.attrs.to).to.be.oneOf([alice.bare, alice.full]);
  });

  it('unsubscribed: the contact cancels the user\'s subscription; unavailable presence is delivered', async function () {
    const alice = await online(await account('alice'), 'a1');
    const bob = await online(await account('bob'), 'b1');
    await handshake(alice, bob);
    await handshake(bob, alice);
    const aliceMark = alice.inbox.length;
    const bobMark = bob.inbox.length;

    await bob.client.send(xml('presence', { to: alice.bare, type: 'unsubscribed' }));
    const bobPush = await waitFor(since(bob.inbox, bobMark), pushFor(alice.bare), 'bob\'s push');
    expect(itemOf(bobPush).attrs).to.deep.equal({ jid: alice.bare, subscription: 'to' });
    const cancel = await waitFor(since(alice.inbox, aliceMark), presence('unsubscribed', bob.bare), 'the cancellation at alice');
    expect(cancel.attrs).to.include({ from: bob.bare, to: alice.bare });
    const alicePush = await waitFor(since(alice.inbox, aliceMark), pushFor(bob.bare), 'alice\'s push');
    expect(itemOf(alicePush).attrs).to.deep.equal({ jid: bob.bare, subscription: 'from' });
    // §3.2.2: alice learns that bob is, for her, unavailable now.
    const gone = await waitFor(since(alice.inbox, aliceMark), presence('unavailable', bob.full), 'unavailable from bob/b1');
    expect(gone.attrs.to).to.be.oneOf([alice.bare, alice.full]);
    expect(await rosterItems(alice)).to.deep.equal([{ jid: bob.bare, subscription: 'from' }]);
    expect(await rosterItems(bob)).to.deep.equal([{ jid: alice.bare, subscription: 'to' }]);

    const a2 = alice.inbox.length;
    const b2 = bob.inbox.length;
    await bob.client.send(xml('presence', {}, xml('status', {}, 'unseen')));
    await alice.client.send(xml('presence', {}, xml('status', {}, 'still seen')));
    expect((await waitFor(since(bob.inbox, b2), presence(undefined, alice.full), 'alice at bob')).getChildText('status')).to.equal('still seen');
    await expectNone(alice.inbox, (el) => el.is('presence') && el.attrs.from === bob.full && el.attrs.type === undefined, 'alice no longer sees bob', a2);
  });

  it('stores a request for an offline user and delivers it at each initial presence until answered (§3.1.3)', async function () {
    const alice = await online(await account('alice'), 'a1');
    const bobLocal = await account('bob');
    await alice.client.send(xml('presence', { to: `${bobLocal}@${ts.domain}`, type: 'subscribe' }, xml('status', {}, 'While you were out')));
    await waitFor(alice.inbox, pushFor(`${bobLocal}@${ts.domain}`), 'alice\'s pending push');
    await delay(100);

    // Connected and interested, not yet available: no request (§2.2 implementation note).
    const bob = await online(bobLocal, 'b1', { presence: null });
    await expectNone(bob.inbox, (el) => el.is('presence'), 'nothing before initial presence');
    await bob.client.send(xml('presence'));
    const request = await waitFor(bob.inbox, presence('subscribe', alice.bare), 'the stored request');
    expect(request.attrs).to.include({ type: 'subscribe', from: alice.bare });
    expect(request.attrs.to).to.be.oneOf([bob.bare, bob.full]);
    expect(request.getChildText('status')).to.equal('While you were out');

    // Not answered: delivered again at the next login.
    await stopQuietly(bob.client);
    const again = await online(bobLocal, 'b2');
    await waitFor(again.inbox, presence('subscribe', alice.bare), 'the request, again');
    expect(again.inbox.filter(presence('subscribe', alice.bare)), 'once per initial presence').to.have.length(1);

    await again.client.send(xml('presence', { to: alice.bare, type: 'subscribed' }));
    await waitFor(alice.inbox, presence('subscribed', again.bare), 'the approval at alice');
    await waitFor(alice.inbox, (el) => pushFor(again.bare)(el) && itemOf(el).attrs.subscription === 'to', 'alice\'s push to "to"');
    expect(await rosterItems(again)).to.deep.equal([{ jid: alice.bare, subscription: 'from' }]);
  });

  it('answers a request to a nonexistent local account with unsubscribed from that account', async function () {
    const alice = await online(await account('alice'), 'a1');
    const nobody = `nobody-${users}@${ts.domain}`;
    await alice.client.send(xml('presence', { to: nobody, type: 'subscribe' }));
    const refusal = await waitFor(alice.inbox, presence('unsubscribed', nobody), 'the refusal');
    expect(refusal.attrs).to.include({ type: 'unsubscribed', from: nobody });
    expect(refusal.attrs.to).to.be.oneOf([alice.bare, alice.full]);
    await waitFor(alice.inbox, (el) => pushFor(nobody)(el) && itemOf(el).attrs.ask === undefined, 'the push clearing ask');
    expect(alice.inbox.filter(pushFor(nobody)).map((p) => ({ ...itemOf(p).attrs }))).to.deep.equal([
      { jid: nobody, subscription: 'none', ask: 'subscribe' },
      { jid: nobody, subscription: 'none' },
    ]);
  });

  it('pre-approval: a subscribed sent first approves the later request automatically (§3.4)', async function () {
    const alice = await online(await account('alice'), 'a1');
    const bob = await online(await account('bob'), 'b1', { presence: xml('presence', {}, xml('status', {}, 'pre-approving')) });

    await bob.client.send(xml('presence', { to: alice.bare, type: 'subscribed' }));
    // §3.4.1: recorded as a pre-approval, pushed with approved="true", not sent to alice.
    const preApproved = await waitFor(bob.inbox, pushFor(alice.bare), 'bob\'s pre-approval push');
    expect(itemOf(preApproved).attrs).to.deep.equal({ jid: alice.bare, subscription: 'none', approved: 'true' });
    await expectNone(alice.inbox, (el) => el.is('presence') && el.attrs.from?.startsWith(bob.bare) === true, 'alice hears nothing yet');

    const bobMark = bob.inbox.length;
    await alice.client.send(xml('presence', { to: bob.bare, type: 'subscribe' }));
    const subscribed = await waitFor(alice.inbox, presence('subscribed', bob.bare), 'the automatic approval');
    expect(subscribed.attrs).to.include({ from: bob.bare, to: alice.bare });
    await waitFor(alice.inbox, (el) => pushFor(bob.bare)(el) && itemOf(el).attrs.subscription === 'to', 'alice\'s push to "to"');
    const bobPush = await waitFor(since(bob.inbox, bobMark), pushFor(alice.bare), 'bob\'s push to "from"');
    expect(itemOf(bobPush).attrs).to.deep.equal({ jid: alice.bare, subscription: 'from' });
    await expectNone(bob.inbox, presence('subscribe', alice.bare), 'bob\'s client is not asked', bobMark);
    expect(await rosterItems(bob)).to.deep.equal([{ jid: alice.bare, subscription: 'from' }]);
    expect(await rosterItems(alice)).to.deep.equal([{ jid: bob.bare, subscription: 'to' }]);
  });

  it('answers a repeated subscribe itself when the user is already subscribed; the contact is not asked again', async function () {
    const alice = await online(await account('alice'), 'a1');
    const bob = await online(await account('bob'), 'b1');
    await handshake(alice, bob);
    const aliceMark = alice.inbox.length;
    const bobMark = bob.inbox.length;

    await alice.client.send(xml('presence', { to: bob.bare, type: 'subscribe' }));
    await expectNone(bob.inbox, (el) => el.is('presence') && el.attrs.type === 'subscribe', 'bob is not asked again', bobMark);
    expect(bob.inbox.slice(bobMark).filter(isPush), 'bob\'s roster is unchanged').to.have.length(0);
    expect(alice.inbox.slice(aliceMark).filter((el) => isPush(el) && itemOf(el).attrs.ask !== undefined), 'alice is not pending again').to.have.length(0);
    expect(alice.inbox.slice(aliceMark).filter((el) => el.attrs.type === 'error'), 'no error').to.have.length(0);
    expect(await rosterItems(alice)).to.deep.equal([{ jid: bob.bare, subscription: 'to' }]);
    expect(await rosterItems(bob)).to.deep.equal([{ jid: alice.bare, subscription: 'from' }]);
  });
});
