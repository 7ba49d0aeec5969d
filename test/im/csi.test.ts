// XEP-0352 Client State Indication as a phone's client sees it: while it says <inactive/>,
// presence (the newest per contact) and body-less messages wait; a message with a body, or
// anything urgent, arrives at once with what waited before it, in the original order;
// <active/>, the cap and a resumption write out the rest.
import { expect } from 'chai';
import { parsePrometheusText, sampleValue } from '../helpers/prometheus.js';
import { plainAuth, RawConnection, streamHeader } from '../helpers/raw.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import {
  acknowledgeRosterPushes, collectStanzas, connect, delay, nextStreamError, roundTrip, stopQuietly, withTimeout, xml,
  type Client, type Element,
} from '../helpers/xmpp-client.js';

const NS_CSI = 'urn:xmpp:csi:0';
const NS_CHAT_STATES = 'http://jabber.org/protocol/chatstates';
const PASSWORD = 'csi-secret';
const CAP = 5;
const QUIET_MS = 200;

interface Peer {
  client: Client;
  inbox: Element[];
  bare: string;
  full: string;
}

interface CsiCounts {
  held: number;
  flushed: number;
  dropped: number;
}

/** A short summary of what a client received, to compare sequences: "presence bob/b1 two". */
function summary(el: Element): string {
  if (el.is('presence')) return `presence ${el.attrs.from} ${el.attrs.type ?? el.getChildText('status') ?? ''}`.trim();
  if (el.is('message')) {
    const body = el.getChildText('body');
    if (body !== null) return `body ${body}`;
    const state = el.getChildElements().find((c) => c.attrs.xmlns === NS_CHAT_STATES);
    if (state) return `state ${state.name}${el.attrs.id ? ` ${el.attrs.id}` : ''}`;
    return `message ${el.attrs.id ?? ''}`.trim();
  }
  return `${el.name} ${el.attrs.type ?? ''}`.trim();
}

const inactive = () => xml('inactive', { xmlns: NS_CSI });
const active = () => xml('active', { xmlns: NS_CSI });
const chatState = (to: string, state: string, id?: string) => xml('message', { to, type: 'chat', ...(id ? { id } : {}) }, xml(state, { xmlns: NS_CHAT_STATES }));
const chat = (to: string, body: string) => xml('message', { to, type: 'chat' }, xml('body', {}, body), xml('active', { xmlns: NS_CHAT_STATES }));
const status = (text: string) => xml('presence', {}, xml('status', {}, text));

describe('XEP-0352 client state indication', function () {
  let ts: TestServer;
  const clients: Client[] = [];
  let users = 0;

  before(async function () {
    this.timeout(90_000);
    // Plain TCP allowed so that a raw socket can read the features; @xmpp/client still uses STARTTLS.
    ts = await startTestServer({
      host: '127.0.0.155',
      domain: 'csi.hearth.example',
      config: { c2s: { requireTls: false, allowPlaintextAuth: true }, limits: { csiHeldStanzas: CAP } },
    });
  });

  afterEach(async function () {
    await Promise.all(clients.splice(0).map(stopQuietly));
  });

  after(async function () {
    await ts?.stop();
  });

  async function counts(): Promise<CsiCounts> {
    const m = parsePrometheusText(await ts.server.metrics.render());
    return {
      held: sampleValue(m, 'hearth_csi_held_stanzas_total'),
      flushed: sampleValue(m, 'hearth_csi_flushed_stanzas_total'),
      dropped: sampleValue(m, 'hearth_csi_dropped_stanzas_total'),
    };
  }

  /** Waits until the server has held `n` more stanzas than at `base` (it routes asynchronously). */
  async function heldSince(base: CsiCounts, n: number): Promise<void> {
    const deadline = Date.now() + 3_000;
    for (;;) {
      const now = await counts();
      if (now.held - base.held >= n) return;
      if (Date.now() > deadline) throw new Error(`the server held ${now.held - base.held} of ${n} stanzas`);
      await delay(10);
    }
  }

  async function account(name: string): Promise<string> {
    const local = `${name}${++users}`;
    await ts.addUser(local, PASSWORD);
    return local;
  }

  /** Logs in and sends initial presence (status: the resource); resolves once it is routed. */
  async function online(local: string, resource: string): Promise<Peer> {
    const client = await connect(ts, local, PASSWORD, { resource, mechanism: 'PLAIN' });
    clients.push(client);
    acknowledgeRosterPushes(client);
    const peer = { client, inbox: collectStanzas(client), bare: `${local}@${ts.domain}`, full: `${local}@${ts.domain}/${resource}` };
    await client.send(status(resource));
    await roundTrip(client);
    await delay(50);
    return peer;
  }

  /** Mutual subscriptions, written to the roster store before anyone logs in. */
  async function befriend(a: string, ...others: string[]): Promise<void> {
    const both = (local: string) => ({ jid: `${local}@${ts.domain}`, name: null, groups: [], subscription: 'both' as const, pendingOut: false, approved: false });
    for (const b of others) {
      await ts.server.stores.roster.put(a, ts.domain, both(b));
      await ts.server.stores.roster.put(b, ts.domain, both(a));
    }
  }

  /** Says <inactive/> and waits until the server has read it. */
  async function goInactive(peer: Peer): Promise<void> {
    await peer.client.send(inactive());
    await roundTrip(peer.client);
  }

  /** What arrived from index `from` on, summarised, without the pongs of roundTrip. */
  const seen = (peer: Peer, from: number) => peer.inbox.slice(from).filter((el) => !el.is('iq')).map(summary);

  async function expectQuiet(peer: Peer, from: number, what: string): Promise<void> {
    await delay(QUIET_MS);
    expect(seen(peer, from), what).to.deep.equal([]);
  }

  it('advertises urn:xmpp:csi:0 after authentication, not before', async function () {
    await ts.addUser('rawcsi', PASSWORD);
    const raw = await RawConnection.open(ts.host, ts.port);
    try {
      raw.send(streamHeader(ts.domain));
      const before = await raw.waitFor(/<stream:features>.*?<\/stream:features>/);
      // Only named among what Bind 2 can enable inline (XEP-0386), not offered as a feature.
      expect(before).to.not.match(/<csi xmlns=(['"])urn:xmpp:csi:0/);
      expect(before).to.match(/<feature var=(['"])urn:xmpp:csi:0\1\/>/);
      raw.send(plainAuth('rawcsi', PASSWORD));
      await raw.waitFor(/<success /);
      raw.send(streamHeader(ts.domain));
      const features = await withTimeout(raw.waitFor(/<stream:features><bind[^]*?<\/stream:features>/), 3_000, 'post-auth features');
      expect(features).to.match(/<csi xmlns=(['"])urn:xmpp:csi:0\1\s*\/>/);
    } finally {
      raw.destroy();
    }
  });

  it('holds presence while inactive and gives only the newest per contact on <active/>, before the answer to the next request', async function () {
    const [a, b, c] = [await account('alice'), await account('bob'), await account('carol')];
    await befriend(a, b, c);
    const alice = await online(a, 'phone');
    const bob = await online(b, 'b1');
    const carol = await online(c, 'c1');
    await goInactive(alice);
    const mark = alice.inbox.length;
    const base = await counts();

    await bob.client.send(status('one'));
    await heldSince(base, 1);
    await carol.client.send(status('first'));
    await heldSince(base, 2);
    await bob.client.send(status('two'));
    await heldSince(base, 3);
    await bob.client.send(status('three'));
    await heldSince(base, 4);
    await expectQuiet(alice, mark, 'nothing reaches the inactive client');

    // XEP-0352 §6.1: <active/> is processed before the ping after it, so the held presence is
    // already there when the pong arrives. Bob's newest comes after carol's: it arrived later.
    await alice.client.send(active());
    await roundTrip(alice.client);
    expect(seen(alice, mark)).to.deep.equal([`presence ${carol.full} first`, `presence ${bob.full} three`]);

    // Active again: the next update arrives at once.
    await bob.client.send(status('four'));
    await roundTrip(bob.client);
    await delay(50);
    expect(seen(alice, mark).slice(2)).to.deep.equal([`presence ${bob.full} four`]);
  });

  it('holds chat states; a message with a body arrives at once, after what was held, in the order sent', async function () {
    const [a, b] = [await account('alice'), await account('bob')];
    await befriend(a, b);
    const alice = await online(a, 'phone');
    const bob = await online(b, 'b1');
    await goInactive(alice);
    const mark = alice.inbox.length;
    const base = await counts();

    await bob.client.send(chatState(alice.full, 'composing'));
    await heldSince(base, 1);
    await bob.client.send(status('typing away'));
    await heldSince(base, 2);
    await bob.client.send(chatState(alice.full, 'paused'));
    await heldSince(base, 3);
    await expectQuiet(alice, mark, 'chat states and presence wait');

    await bob.client.send(chat(alice.full, 'hello'));
    await roundTrip(bob.client);
    await delay(100);
    // Still inactive (no <active/> sent): the body came through, with everything before it.
    expect(seen(alice, mark)).to.deep.equal(['state composing', `presence ${bob.full} typing away`, 'state paused', 'body hello']);

    // And the client is still inactive afterwards.
    const after = alice.inbox.length;
    await bob.client.send(chatState(alice.full, 'gone'));
    await expectQuiet(alice, after, 'the next chat state waits again');
  });

  it('delivers urgent body-less stanzas at once: encrypted, receipt requests, calls, subscription requests, iq', async function () {
    const [a, b] = [await account('alice'), await account('bob')];
    await befriend(a, b);
    const alice = await online(a, 'phone');
    const bob = await online(b, 'b1');
    await goInactive(alice);
    let mark = alice.inbox.length;

    // A XEP-0184 receipt and a XEP-0333 marker wait ...
    const base = await counts();
    await bob.client.send(xml('message', { to: alice.full, id: 'rcpt' }, xml('received', { xmlns: 'urn:xmpp:receipts', id: 'x1' })));
    await bob.client.send(xml('message', { to: alice.full, id: 'mark', type: 'chat' }, xml('displayed', { xmlns: 'urn:xmpp:chat-markers:0', id: 'x1' })));
    await heldSince(base, 2);
    await expectQuiet(alice, mark, 'receipts and markers wait');

    // ... until an OMEMO message without a body comes: it arrives at once, after them.
    await bob.client.send(xml('message', { to: alice.full, id: 'omemo', type: 'chat' },
      xml('encrypted', { xmlns: 'eu.siacs.conversations.axolotl' }, xml('header', { sid: '1' }, xml('iv', {}, 'AAAA')))));
    await roundTrip(bob.client);
    await delay(100);
    expect(seen(alice, mark)).to.deep.equal(['message rcpt', 'message mark', 'message omemo']);

    const urgent: Array<[string, Element]> = [
      ['omemo2', xml('message', { to: alice.full, id: 'omemo2', type: 'chat' }, xml('encrypted', { xmlns: 'urn:xmpp:omemo:2' }, xml('header', { sid: '1' })))],
      ['request', xml('message', { to: alice.full, id: 'request', type: 'chat' }, xml('request', { xmlns: 'urn:xmpp:receipts' }))],
      ['call', xml('message', { to: alice.full, id: 'call', type: 'chat' }, xml('propose', { xmlns: 'urn:xmpp:jingle-message:0', id: 'c1' }, xml('description', { xmlns: 'urn:xmpp:jingle:apps:rtp:1', media: 'audio' })))],
    ];
    for (const [id, stanza] of urgent) {
      mark = alice.inbox.length;
      await bob.client.send(stanza);
      await roundTrip(bob.client);
      await delay(50);
      expect(seen(alice, mark), id).to.deep.equal([`message ${id}`]);
    }

    // An iq from another client reaches the inactive client at once (its library answers it).
    mark = alice.inbox.length;
    await bob.client.send(xml('iq', { type: 'get', to: alice.full, id: 'ping-alice' }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    await roundTrip(bob.client);
    await delay(50);
    expect(alice.inbox.slice(mark).filter((el) => el.is('iq') && el.attrs.id === 'ping-alice').map((el) => el.attrs.type)).to.deep.equal(['get']);

    // A subscription request from a stranger is for the user to answer now.
    const d = await account('dave');
    const dave = await online(d, 'd1');
    mark = alice.inbox.length;
    await dave.client.send(xml('presence', { to: alice.bare, type: 'subscribe' }));
    await roundTrip(dave.client);
    await delay(100);
    expect(seen(alice, mark)).to.deep.equal([`presence ${dave.bare} subscribe`]);
  });

  it('writes everything out when more than the cap would be held', async function () {
    const [a, b] = [await account('alice'), await account('bob')];
    const alice = await online(a, 'phone');
    const bob = await online(b, 'b1');
    await goInactive(alice);
    const mark = alice.inbox.length;
    const base = await counts();
    for (let i = 1; i <= CAP; i++) await bob.client.send(chatState(alice.full, i % 2 ? 'composing' : 'paused', `s${i}`));
    await heldSince(base, CAP);
    await expectQuiet(alice, mark, `${CAP} chat states are held`);

    // One more: everything arrives, in order, without <active/>.
    await bob.client.send(chatState(alice.full, 'composing', `s${CAP + 1}`));
    await roundTrip(bob.client);
    await delay(100);
    const expected = Array.from({ length: CAP }, (_, i) => `state ${(i + 1) % 2 ? 'composing' : 'paused'} s${i + 1}`);
    expect(seen(alice, mark)).to.deep.equal([...expected, `state composing s${CAP + 1}`]);

    // Still inactive: holding starts again.
    await bob.client.send(chatState(alice.full, 'paused', 'later'));
    await heldSince(base, CAP + 1);
    await expectQuiet(alice, mark + CAP + 1, 'held again after the flush');
  });

  it('counts held, flushed and dropped stanzas in /metrics', async function () {
    const [a, b] = [await account('alice'), await account('bob')];
    await befriend(a, b);
    const alice = await online(a, 'phone');
    const bob = await online(b, 'b1');
    await goInactive(alice);
    const base = await counts();

    await bob.client.send(status('x'));
    await heldSince(base, 1);
    await bob.client.send(status('y'));
    await heldSince(base, 2);
    await bob.client.send(chatState(alice.full, 'composing'));
    await heldSince(base, 3);
    // Two presence updates from bob held, one superseded: dropped.
    expect(await counts()).to.deep.equal({ held: base.held + 3, flushed: base.flushed, dropped: base.dropped + 1 });

    await alice.client.send(active());
    await roundTrip(alice.client);
    expect(await counts()).to.deep.equal({ held: base.held + 3, flushed: base.flushed + 2, dropped: base.dropped + 1 });

    // A session that ends with stanzas held drops them.
    await goInactive(alice);
    await bob.client.send(chatState(alice.full, 'paused'));
    await heldSince(base, 4);
    await stopQuietly(alice.client);
    const deadline = Date.now() + 3_000;
    while ((await counts()).dropped < base.dropped + 2) {
      if (Date.now() > deadline) throw new Error('the held chat state of the closed session was not counted as dropped');
      await delay(20);
    }
    expect(await counts()).to.deep.equal({ held: base.held + 4, flushed: base.flushed + 2, dropped: base.dropped + 2 });
  });

  it('concerns one session only: another resource of the same account gets everything at once', async function () {
    const [a, b] = [await account('alice'), await account('bob')];
    await befriend(a, b);
    const phone = await online(a, 'phone');
    const laptop = await online(a, 'laptop');
    const bob = await online(b, 'b1');
    await goInactive(phone);
    const phoneMark = phone.inbox.length;
    const laptopMark = laptop.inbox.length;
    const base = await counts();

    // To the bare JID: both resources (equal priority) get the chat state and the presence.
    await bob.client.send(chatState(phone.bare, 'composing'));
    await bob.client.send(status('around'));
    await heldSince(base, 2);
    await roundTrip(bob.client);
    await delay(50);
    expect(seen(laptop, laptopMark)).to.deep.equal(['state composing', `presence ${bob.full} around`]);
    await expectQuiet(phone, phoneMark, 'the phone waits');

    // The laptop saying <inactive/> and <active/> does not flush the phone.
    await laptop.client.send(inactive());
    await laptop.client.send(active());
    await roundTrip(laptop.client);
    await expectQuiet(phone, phoneMark, 'the phone still waits');

    await phone.client.send(active());
    await roundTrip(phone.client);
    expect(seen(phone, phoneMark)).to.deep.equal(['state composing', `presence ${bob.full} around`]);
  });

  it('on hibernation writes out what was held and holds only what may be lost; a resumed session is active', async function () {
    // Stream management emits these hooks when a socket dies and when a new stream resumes
    // the session; here they are emitted on a live stream, so what CSI writes is visible.
    const [a, b] = [await account('alice'), await account('bob')];
    await befriend(a, b);
    const alice = await online(a, 'phone');
    const bob = await online(b, 'b1');
    await goInactive(alice);
    let mark = alice.inbox.length;
    const base = await counts();
    await bob.client.send(chatState(alice.full, 'composing'));
    await bob.client.send(xml('message', { to: alice.full, id: 'rcpt' }, xml('received', { xmlns: 'urn:xmpp:receipts', id: 'x1' })));
    await heldSince(base, 2);
    await expectQuiet(alice, mark, 'held while inactive');

    const session = ts.server.sessions.ofAccount(alice.bare).find((s) => s.jid.resource === 'phone')!;
    await ts.server.hooks.emit('session-hibernated', { session });
    await delay(50);
    expect(seen(alice, mark), 'what was held goes to the resumption queue').to.deep.equal(['state composing', 'message rcpt']);

    // While hibernated: presence and chat states wait; a receipt, which expiry would hand
    // on, goes to the queue at once.
    mark = alice.inbox.length;
    await bob.client.send(status('later'));
    await bob.client.send(chatState(alice.full, 'paused'));
    await heldSince(base, 4);
    await bob.client.send(xml('message', { to: alice.full, id: 'rcpt2' }, xml('received', { xmlns: 'urn:xmpp:receipts', id: 'x2' })));
    await roundTrip(bob.client);
    await delay(100);
    expect(seen(alice, mark)).to.deep.equal([`presence ${bob.full} later`, 'state paused', 'message rcpt2']);

    mark = alice.inbox.length;
    await bob.client.send(chatState(alice.full, 'composing'));
    await heldSince(base, 5);
    await ts.server.hooks.emit('session-resumed', { session });
    await delay(50);
    expect(seen(alice, mark), 'flushed on resumption').to.deep.equal(['state composing']);
    // Active now: a chat state arrives at once.
    await bob.client.send(chatState(alice.full, 'gone'));
    await roundTrip(bob.client);
    await delay(50);
    expect(seen(alice, mark)).to.deep.equal(['state composing', 'state gone']);
  });

  it('ends the stream with unsupported-stanza-type for an element of the namespace that is not a state', async function () {
    const a = await account('alice');
    const alice = await online(a, 'phone');
    const error = nextStreamError(alice.client);
    await alice.client.send(xml('csi', { xmlns: NS_CSI }));
    expect(await error).to.equal('unsupported-stanza-type');
  });
});
