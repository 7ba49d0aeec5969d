// Message Carbons (XEP-0280) as the users of a standard client see them: three resources of one
// account, copies of what they send and receive, who may switch carbons on, the
// urn:xmpp:carbons:rules:0 eligibility rules, <private/> and <no-copy/>, and the same across two
// federated Hearths.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import type { Element as LtxElement } from 'ltx';
import { isCarbonCopied } from '../../src/core/stanza-marks.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { collectStanzas, connect, delay, roundTrip, stopQuietly, waitForStanza, xml, type Client, type Element } from '../helpers/xmpp-client.js';

const CA = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'tls', 'ca.crt');
const A = { host: '127.0.0.134', domain: 'carbons-a.hearth.example' };
const B = { host: '127.0.0.135', domain: 'carbons-b.hearth.example' };
const PASSWORD = 'carbons-secret';
const QUIET_MS = 150;

const NS_CARBONS = 'urn:xmpp:carbons:2';
const NS_RULES = 'urn:xmpp:carbons:rules:0';
const NS_FORWARD = 'urn:xmpp:forward:0';
const NS_HINTS = 'urn:xmpp:hints';
const NS_CHAT_STATES = 'http://jabber.org/protocol/chatstates';
const NS_MUC_USER = 'http://jabber.org/protocol/muc#user';
const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

interface Peer {
  client: Client;
  inbox: Element[];
  bare: string;
  full: string;
}

type Kind = 'sent' | 'received';

const isCarbon = (kind: Kind) => (el: Element) => el.is('message') && el.getChild(kind, NS_CARBONS) !== undefined;
const anyCarbon = (el: Element) => el.is('message') && (el.getChild('sent', NS_CARBONS) !== undefined || el.getChild('received', NS_CARBONS) !== undefined);
/** The forwarded original inside a carbon. */
const inner = (carbon: Element, kind: Kind) => carbon.getChild(kind, NS_CARBONS)?.getChild('forwarded', NS_FORWARD)?.getChild('message');
const carbonOf = (kind: Kind, id: string) => (el: Element) => isCarbon(kind)(el) && inner(el, kind)?.attrs.id === id;
const plainMessage = (id: string) => (el: Element) => el.is('message') && el.attrs.id === id;
const messages = (peer: Peer) => peer.inbox.filter((el) => el.is('message'));

describe('XEP-0280 message carbons with @xmpp/client', function () {
  this.timeout(30_000);
  let a: TestServer;
  let b: TestServer;
  const clients: Client[] = [];
  let users = 0;

  before(async function () {
    // Two servers with their databases: slow when the machine is busy.
    this.timeout(120_000);
    const routes = { [A.domain]: `${A.host}:5269`, [B.domain]: `${B.host}:5269` };
    a = await startTestServer({ host: A.host, domain: A.domain, config: { s2s: { listen: [`${A.host}:5269`], routes, trustedCa: CA } } });
    b = await startTestServer({ host: B.host, domain: B.domain, config: { s2s: { listen: [`${B.host}:5269`], routes, trustedCa: CA } } });
  });

  afterEach(async function () {
    await Promise.all(clients.splice(0).map(stopQuietly));
  });

  after(async function () {
    await a?.stop();
    await b?.stop();
  });

  async function account(name: string, server = a): Promise<string> {
    const local = `${name}${++users}`;
    await server.addUser(local, PASSWORD);
    return local;
  }

  /** Logs in and sends initial presence with the given priority (null: no presence at all). */
  async function online(local: string, resource: string, priority: number | null = 0, server = a): Promise<Peer> {
    const client = await connect(server, local, PASSWORD, { resource, mechanism: 'PLAIN' });
    clients.push(client);
    const peer = { client, inbox: collectStanzas(client), bare: `${local}@${server.domain}`, full: `${local}@${server.domain}/${resource}` };
    if (priority !== null) await client.send(xml('presence', {}, xml('priority', {}, String(priority))));
    await roundTrip(client);
    return peer;
  }

  function carbonsIq(peer: Peer, what: 'enable' | 'disable', to?: string): Promise<Element> {
    return peer.client.iqCaller.request(xml('iq', to ? { type: 'set', to } : { type: 'set' }, xml(what, { xmlns: NS_CARBONS })), 3_000);
  }

  async function refused(request: Promise<unknown>): Promise<string> {
    try {
      await request;
    } catch (err) {
      return (err as { condition?: string }).condition ?? String(err);
    }
    throw new Error('the request succeeded');
  }

  /** Everything sent so far has been routed and read by these clients (local traffic). */
  async function settle(...peers: Peer[]): Promise<void> {
    for (const peer of peers) await roundTrip(peer.client);
    await delay(QUIET_MS);
  }

  const chat = (to: string, id: string, body: string, ...extra: Element[]) => xml('message', { to, type: 'chat', id }, xml('body', {}, body), ...extra);

  it('advertises urn:xmpp:carbons:2 and urn:xmpp:carbons:rules:0 for the server', async function () {
    const alice = await online(await account('alice'), 'r1');
    const info = await alice.client.iqCaller.request(xml('iq', { type: 'get', to: A.domain }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' })), 3_000);
    const features = info.getChild('query')!.getChildren('feature').map((f) => f.attrs.var);
    expect(features).to.include.members([NS_CARBONS, NS_RULES]);
  });

  it('copies what one resource sends to the other carbons-enabled resources, not to the sender nor to resources without carbons', async function () {
    const aliceLocal = await account('alice');
    const [r1, r2, r3] = [await online(aliceLocal, 'r1'), await online(aliceLocal, 'r2'), await online(aliceLocal, 'r3')];
    const bob = await online(await account('bob'), 'b1');
    await carbonsIq(r1, 'enable');
    await carbonsIq(r2, 'enable');

    await r1.client.send(chat(bob.bare, 's1', 'hello bob', xml('thread', {}, 'th-1')));
    const original = await waitForStanza(bob.inbox, plainMessage('s1'), 'the message at bob');
    expect(original.getChildText('body')).to.equal('hello bob');
    const copy = await waitForStanza(r2.inbox, isCarbon('sent'), 'the sent carbon at r2');
    await settle(r1, r2, r3, bob);

    // §8: from the bare JID, to the resource, same type, the original wrapped in <forwarded/>.
    expect(copy.attrs).to.include({ from: r1.bare, to: r2.full, type: 'chat' });
    const forwarded = inner(copy, 'sent')!;
    expect(forwarded.attrs).to.include({ xmlns: 'jabber:client', from: r1.full, to: bob.bare, type: 'chat', id: 's1' });
    expect(forwarded.getChildText('body')).to.equal('hello bob');
    expect(forwarded.getChildText('thread')).to.equal('th-1');
    expect(messages(r2), 'one copy at r2').to.have.length(1);
    expect(messages(r1), 'nothing back to the sender').to.deep.equal([]);
    expect(messages(r3), 'nothing for a resource without carbons').to.deep.equal([]);
    expect(messages(bob).filter(anyCarbon), 'bob sees the message only').to.deep.equal([]);

    // §8: the copies go out whether or not the sending resource enabled carbons itself.
    await r3.client.send(chat(bob.bare, 's2', 'from the third'));
    await waitForStanza(r1.inbox, carbonOf('sent', 's2'), 'the sent carbon at r1');
    await waitForStanza(r2.inbox, carbonOf('sent', 's2'), 'the sent carbon at r2');
    await settle(r3, r1, r2);
    expect(messages(r3)).to.deep.equal([]);
  });

  it('copies what the account receives to the carbons-enabled resources that did not get it, and marks the message as copied', async function () {
    const aliceLocal = await account('alice');
    const r1 = await online(aliceLocal, 'r1', 5);
    const r2 = await online(aliceLocal, 'r2', 0);
    const r3 = await online(aliceLocal, 'r3', 0);
    const bob = await online(await account('bob'), 'b1');
    await carbonsIq(r1, 'enable');
    await carbonsIq(r2, 'enable');
    const delivered = new Map<string, LtxElement>();
    const stop = a.server.hooks.on('message-delivered', ({ stanza }) => {
      if (stanza.attrs.id) delivered.set(stanza.attrs.id, stanza);
    }, -1000);
    try {
      // RFC 6121 §8.5.2.1.1: to the bare JID, only the highest-priority resource (r1) gets it.
      await bob.client.send(chat(r1.bare, 'in-1', 'hello alice'));
      await waitForStanza(r1.inbox, plainMessage('in-1'), 'the message at r1');
      const copy = await waitForStanza(r2.inbox, isCarbon('received'), 'the received carbon at r2');
      await settle(bob, r1, r2, r3);
      expect(copy.attrs).to.include({ from: r1.bare, to: r2.full, type: 'chat' });
      const forwarded = inner(copy, 'received')!;
      expect(forwarded.attrs).to.include({ from: bob.full, to: r1.bare, id: 'in-1' });
      expect(forwarded.getChildText('body')).to.equal('hello alice');
      expect(messages(r1).filter(anyCarbon), 'the recipient gets no copy').to.deep.equal([]);
      expect(messages(r2)).to.have.length(1);
      expect(messages(r3), 'r3 did not enable carbons').to.deep.equal([]);
      expect(isCarbonCopied(delivered.get('in-1')!), 'copied: stream management need not deliver it again').to.equal(true);

      // With no other carbons-enabled resource, nothing is copied and nothing is marked.
      await carbonsIq(r2, 'disable');
      await bob.client.send(chat(r1.bare, 'in-2', 'second'));
      await waitForStanza(r1.inbox, plainMessage('in-2'), 'the second message at r1');
      await settle(bob, r2, r3);
      expect(messages(r2)).to.have.length(1);
      expect(isCarbonCopied(delivered.get('in-2')!)).to.equal(false);
    } finally {
      stop();
    }
  });

  it('gives a message to a full JID to that resource once and to the others as copies, messages to the own account included', async function () {
    const aliceLocal = await account('alice');
    const r1 = await online(aliceLocal, 'r1', 1);
    const r2 = await online(aliceLocal, 'r2', 0);
    const r3 = await online(aliceLocal, 'r3', 0);
    const bob = await online(await account('bob'), 'b1');
    for (const r of [r1, r2]) await carbonsIq(r, 'enable');

    // §7: the addressed resource gets the original only; the other enabled resource a copy.
    await bob.client.send(chat(r2.full, 'full-1', 'to r2'));
    await waitForStanza(r2.inbox, plainMessage('full-1'), 'the message at r2');
    const copy = await waitForStanza(r1.inbox, carbonOf('received', 'full-1'), 'the carbon at r1');
    expect(inner(copy, 'received')!.attrs.to).to.equal(r2.full);
    await settle(bob, r1, r2, r3);
    expect(messages(r2).map(String)).to.have.length(1);
    expect(messages(r3)).to.deep.equal([]);

    // From one resource to another of the same account: the addressee has the original, the
    // third resource one <sent/> copy, the sender nothing.
    await carbonsIq(r3, 'enable');
    await r1.client.send(chat(r2.full, 'self-1', 'note from r1 to r2'));
    await waitForStanza(r2.inbox, plainMessage('self-1'), 'the note at r2');
    const selfCopy = await waitForStanza(r3.inbox, carbonOf('sent', 'self-1'), 'the carbon at r3');
    expect(inner(selfCopy, 'sent')!.attrs).to.include({ from: r1.full, to: r2.full });
    await settle(r1, r2, r3);
    expect(messages(r2).filter((m) => m.attrs.id === 'self-1' || inner(m, 'sent')?.attrs.id === 'self-1' || inner(m, 'received')?.attrs.id === 'self-1')).to.have.length(1);
    expect(messages(r3).filter((m) => m.toString().includes('self-1'))).to.have.length(1);
    expect(messages(r1).filter((m) => m.toString().includes('self-1')), 'nothing back to the sender').to.deep.equal([]);

    // To the own bare JID: RFC 6121 picks r1 (the highest priority), the sender itself; the
    // others get one copy each.
    await r1.client.send(chat(r1.bare, 'self-2', 'note to myself'));
    await waitForStanza(r1.inbox, plainMessage('self-2'), 'the note back at r1');
    await waitForStanza(r2.inbox, carbonOf('sent', 'self-2'), 'the carbon at r2');
    await waitForStanza(r3.inbox, carbonOf('sent', 'self-2'), 'the carbon at r3');
    await settle(r1, r2, r3);
    for (const r of [r1, r2, r3]) expect(messages(r).filter((m) => m.toString().includes('self-2')), r.full).to.have.length(1);
  });

  it('switches carbons per resource, to the own account or the own server, and repeated requests are no errors', async function () {
    const aliceLocal = await account('alice');
    const r1 = await online(aliceLocal, 'r1');
    const r2 = await online(aliceLocal, 'r2');
    const r3 = await online(aliceLocal, 'r3');
    const bob = await online(await account('bob'), 'b1');
    await carbonsIq(r2, 'enable', r2.bare);
    await carbonsIq(r2, 'enable');
    await carbonsIq(r3, 'enable', A.domain);

    await bob.client.send(chat(r1.full, 'sw-1', 'one'));
    await waitForStanza(r2.inbox, carbonOf('received', 'sw-1'), 'the carbon at r2');
    await waitForStanza(r3.inbox, carbonOf('received', 'sw-1'), 'the carbon at r3');

    await carbonsIq(r2, 'disable', A.domain);
    await carbonsIq(r2, 'disable');
    await bob.client.send(chat(r1.full, 'sw-2', 'two'));
    await waitForStanza(r3.inbox, carbonOf('received', 'sw-2'), 'the carbon at r3');
    await settle(bob, r2);
    expect(messages(r2).filter(carbonOf('received', 'sw-2')), 'r2 disabled carbons').to.deep.equal([]);

    await carbonsIq(r2, 'enable');
    await bob.client.send(chat(r1.full, 'sw-3', 'three'));
    await waitForStanza(r2.inbox, carbonOf('received', 'sw-3'), 'the carbon at r2 again');
  });

  it('lets a resource switch only its own carbons: another account is never affected', async function () {
    const aliceLocal = await account('alice');
    const r1 = await online(aliceLocal, 'r1');
    const r2 = await online(aliceLocal, 'r2');
    const bobLocal = await account('bob');
    const b1 = await online(bobLocal, 'b1');
    const b2 = await online(bobLocal, 'b2');
    for (const p of [r1, b1, b2]) await carbonsIq(p, 'enable');

    // Addressed to bob's bare JID: the server answers for bob, and refuses.
    expect(await refused(carbonsIq(r2, 'enable', b1.bare))).to.equal('not-allowed');
    expect(await refused(carbonsIq(r1, 'disable', b1.bare))).to.equal('not-allowed');
    // Disabling on one of alice's resources leaves bob's alone.
    await carbonsIq(r1, 'disable');

    await b1.client.send(chat(r1.full, 'who-1', 'from bob'));
    await waitForStanza(r1.inbox, plainMessage('who-1'), 'the message at r1');
    await waitForStanza(b2.inbox, carbonOf('sent', 'who-1'), 'bob still gets his carbons');
    await r1.client.send(chat(b1.full, 'who-2', 'to bob'));
    await waitForStanza(b1.inbox, plainMessage('who-2'), 'the message at b1');
    await waitForStanza(b2.inbox, carbonOf('received', 'who-2'), 'bob still gets his carbons');
    await settle(b1, r1, r2);
    // r2's refused request did not enable anything for r2; r1 disabled its own.
    expect(messages(r2), 'r2 never enabled carbons').to.deep.equal([]);
    expect(messages(r1).filter(anyCarbon)).to.deep.equal([]);
  });

  it('respects <private/> and <no-copy/> on both sides, and removes <private/> before delivery', async function () {
    const aliceLocal = await account('alice');
    const r1 = await online(aliceLocal, 'r1');
    const r2 = await online(aliceLocal, 'r2');
    const bobLocal = await account('bob');
    const b1 = await online(bobLocal, 'b1', 1);
    const b2 = await online(bobLocal, 'b2', 0);
    for (const p of [r1, r2, b1, b2]) await carbonsIq(p, 'enable');

    const privateEl = () => xml('private', { xmlns: NS_CARBONS });
    const noCopy = () => xml('no-copy', { xmlns: NS_HINTS });
    await r1.client.send(chat(b1.bare, 'p-1', 'both', privateEl(), noCopy()));
    await r1.client.send(chat(b1.bare, 'p-2', 'private only', privateEl()));
    await r1.client.send(chat(b1.bare, 'p-3', 'hint only', noCopy()));
    for (const id of ['p-1', 'p-2', 'p-3']) await waitForStanza(b1.inbox, plainMessage(id), `${id} at b1`);
    await settle(r1, r2, b1, b2);
    expect(messages(r2), 'no sent copies').to.deep.equal([]);
    expect(messages(b2), 'no received copies').to.deep.equal([]);
    const [p1, p2, p3] = ['p-1', 'p-2', 'p-3'].map((id) => b1.inbox.find(plainMessage(id))!);
    // §9: the receiving server removes <private/>; the XEP-0334 hint stays.
    expect(p1!.getChild('private', NS_CARBONS)).to.equal(undefined);
    expect(p2!.getChild('private', NS_CARBONS)).to.equal(undefined);
    expect(p1!.getChild('no-copy', NS_HINTS)).to.not.equal(undefined);
    expect(p3!.getChild('no-copy', NS_HINTS)).to.not.equal(undefined);

    // The same conversation without the markers is copied on both sides.
    await r1.client.send(chat(b1.bare, 'p-4', 'copied'));
    await waitForStanza(r2.inbox, carbonOf('sent', 'p-4'), 'the sent carbon');
    await waitForStanza(b2.inbox, carbonOf('received', 'p-4'), 'the received carbon');
  });

  it('copies chat states, receipts and markers without a body, but not headlines, groupchat or other body-less messages', async function () {
    const aliceLocal = await account('alice');
    const r1 = await online(aliceLocal, 'r1');
    const r2 = await online(aliceLocal, 'r2');
    const bob = await online(await account('bob'), 'b1');
    for (const p of [r1, r2]) await carbonsIq(p, 'enable');

    await r1.client.send(xml('message', { to: bob.bare, type: 'chat', id: 'cs-1' }, xml('composing', { xmlns: NS_CHAT_STATES })));
    await r1.client.send(xml('message', { to: bob.full, id: 'rc-1' }, xml('received', { xmlns: 'urn:xmpp:receipts', id: 'x1' })));
    await r1.client.send(xml('message', { to: bob.full, id: 'mk-1' }, xml('displayed', { xmlns: 'urn:xmpp:chat-markers:0', id: 'x1' })));
    await r1.client.send(xml('message', { to: bob.full, id: 'data-1' }, xml('x', { xmlns: 'urn:example:data' })));
    await r1.client.send(xml('message', { to: bob.full, type: 'headline', id: 'hl-1' }, xml('body', {}, 'news')));
    await r1.client.send(xml('message', { to: bob.full, type: 'groupchat', id: 'gc-1' }, xml('body', {}, 'room talk')));
    await waitForStanza(bob.inbox, plainMessage('gc-1'), 'the last message at bob');
    await bob.client.send(xml('message', { to: r1.full, type: 'headline', id: 'hl-2' }, xml('body', {}, 'breaking')));
    await bob.client.send(xml('message', { to: r1.full, type: 'groupchat', id: 'gc-2' }, xml('body', {}, 'room talk')));
    await bob.client.send(xml('message', { to: r1.full, type: 'chat', id: 'cs-2' }, xml('paused', { xmlns: NS_CHAT_STATES })));
    await waitForStanza(r1.inbox, plainMessage('cs-2'), 'the last message at r1');
    await settle(bob, r1, r2);

    const copied = messages(r2).map((m) => inner(m, 'sent')?.attrs.id ?? inner(m, 'received')?.attrs.id);
    expect(copied).to.deep.equal(['cs-1', 'rc-1', 'mk-1', 'cs-2']);
    const state = inner(messages(r2)[0]!, 'sent')!;
    expect(state.getChild('composing', NS_CHAT_STATES)).to.not.equal(undefined);
    expect(messages(r2)[1]!.attrs.type, 'no type on the original, none on the wrapper').to.equal(undefined);
  });

  it('follows the group chat rules: invitations copied, private messages to an occupant copied, from an occupant not', async function () {
    const aliceLocal = await account('alice');
    const r1 = await online(aliceLocal, 'r1');
    const r2 = await online(aliceLocal, 'r2');
    // Another account stands in for a room and its occupant (no MUC service is needed to send these).
    const room = await online(await account('room'), 'nick');
    for (const p of [r1, r2]) await carbonsIq(p, 'enable');

    await room.client.send(xml('message', { to: r1.full, type: 'chat', id: 'pm-in' }, xml('body', {}, 'psst'), xml('x', { xmlns: NS_MUC_USER })));
    await room.client.send(xml('message', { to: r1.full, id: 'inv-mediated' },
      xml('x', { xmlns: NS_MUC_USER }, xml('invite', { from: 'someone@elsewhere.example' }, xml('reason', {}, 'join us')))));
    await room.client.send(xml('message', { to: r1.full, id: 'inv-direct' }, xml('x', { xmlns: 'jabber:x:conference', jid: room.bare })));
    await waitForStanza(r1.inbox, plainMessage('inv-direct'), 'the last message at r1');
    await r1.client.send(xml('message', { to: room.full, type: 'chat', id: 'pm-out' }, xml('body', {}, 'psst back'), xml('x', { xmlns: NS_MUC_USER })));
    await waitForStanza(room.inbox, plainMessage('pm-out'), 'the private message at the occupant');
    await settle(room, r1, r2);

    const copied = messages(r2).map((m) => `${m.getChild('sent', NS_CARBONS) ? 'sent' : 'received'} ${inner(m, 'sent')?.attrs.id ?? inner(m, 'received')?.attrs.id}`);
    expect(copied).to.deep.equal(['received inv-mediated', 'received inv-direct', 'sent pm-out']);
  });

  it('copies errors that answer copied messages, and no other errors', async function () {
    const aliceLocal = await account('alice');
    const r1 = await online(aliceLocal, 'r1');
    const r2 = await online(aliceLocal, 'r2');
    const bob = await online(await account('bob'), 'b1');
    for (const p of [r1, r2]) await carbonsIq(p, 'enable');
    const errorTo = (to: string, id: string) =>
      xml('message', { to, type: 'error', id }, xml('error', { type: 'cancel' }, xml('not-acceptable', { xmlns: NS_STANZAS })));

    await r1.client.send(chat(bob.full, 'e-out', 'can you read this?'));
    await waitForStanza(bob.inbox, plainMessage('e-out'), 'the message at bob');
    await bob.client.send(errorTo(r1.full, 'e-out'));
    await bob.client.send(errorTo(r1.full, 'e-unrelated'));
    await waitForStanza(r1.inbox, plainMessage('e-unrelated'), 'the unrelated error at r1');
    const copy = await waitForStanza(r2.inbox, carbonOf('received', 'e-out'), 'the copied error at r2');
    expect(copy.attrs.type).to.equal('error');
    expect(inner(copy, 'received')!.getChild('error')!.getChild('not-acceptable', NS_STANZAS)).to.not.equal(undefined);

    // The other direction: alice's client refuses a message bob sent her.
    await bob.client.send(chat(r1.full, 'e-in', 'unreadable'));
    await waitForStanza(r1.inbox, plainMessage('e-in'), 'the message at r1');
    await r1.client.send(errorTo(bob.full, 'e-in'));
    await waitForStanza(r2.inbox, carbonOf('sent', 'e-in'), 'the copied error r1 sent');
    await settle(r1, bob, r2);
    const ids = messages(r2).map((m) => `${m.getChild('sent', NS_CARBONS) ? 'sent' : 'received'} ${m.attrs.type} ${inner(m, 'sent')?.attrs.id ?? inner(m, 'received')?.attrs.id}`);
    expect(ids).to.deep.equal(['sent chat e-out', 'received error e-out', 'received chat e-in', 'sent error e-in']);
  });

  it('copies a message no resource took: sent copies while the contact is offline, received copies to negative-priority resources', async function () {
    const aliceLocal = await account('alice');
    const r1 = await online(aliceLocal, 'r1');
    const r2 = await online(aliceLocal, 'r2');
    for (const p of [r1, r2]) await carbonsIq(p, 'enable');
    const bobLocal = await account('bob');
    const bobBare = `${bobLocal}@${A.domain}`;

    await r1.client.send(chat(bobBare, 'off-1', 'while you were away'));
    await waitForStanza(r2.inbox, carbonOf('sent', 'off-1'), 'the sent carbon while bob is offline');

    // RFC 6121 §8.5.2.1.1: a negative-priority resource does not get messages for the bare JID,
    // so offline storage keeps it; §7 still copies it to that resource, which enabled carbons.
    const away = await online(bobLocal, 'away', -1);
    await carbonsIq(away, 'enable');
    await r1.client.send(chat(bobBare, 'off-2', 'still away?'));
    const copy = await waitForStanza(away.inbox, carbonOf('received', 'off-2'), 'the received carbon at the negative-priority resource');
    expect(copy.attrs).to.include({ from: bobBare, to: away.full });
    await settle(r1, away);
    expect(messages(away).filter(plainMessage('off-2')), 'the original went to storage').to.deep.equal([]);

    const back = await online(bobLocal, 'back', 0);
    await waitForStanza(back.inbox, plainMessage('off-1'), 'the first stored message');
    await waitForStanza(back.inbox, plainMessage('off-2'), 'the second stored message');
  });

  it('copies messages to and from a remote domain on both servers, and keeps <private/> messages off both', async function () {
    const aliceLocal = await account('alice');
    const r1 = await online(aliceLocal, 'r1');
    const r2 = await online(aliceLocal, 'r2');
    const bobLocal = await account('bob', b);
    const b1 = await online(bobLocal, 'b1', 1, b);
    const b2 = await online(bobLocal, 'b2', 0, b);
    for (const p of [r1, r2, b1, b2]) await carbonsIq(p, 'enable');

    await r1.client.send(chat(b1.bare, 'fed-1', 'hello over there'));
    const sent = await waitForStanza(r2.inbox, carbonOf('sent', 'fed-1'), 'the sent carbon on A', 8_000);
    expect(inner(sent, 'sent')!.attrs).to.include({ from: r1.full, to: b1.bare });
    await waitForStanza(b1.inbox, plainMessage('fed-1'), 'the message at b1', 8_000);
    const received = await waitForStanza(b2.inbox, carbonOf('received', 'fed-1'), 'the received carbon on B', 8_000);
    expect(received.attrs).to.include({ from: b1.bare, to: b2.full });
    expect(inner(received, 'received')!.attrs).to.include({ from: r1.full, to: b1.bare });

    // A remote sender to a full JID: the other resource on A gets a received copy.
    await b2.client.send(chat(r1.full, 'fed-2', 'hello back'));
    await waitForStanza(r1.inbox, plainMessage('fed-2'), 'the reply at r1', 8_000);
    const back = await waitForStanza(r2.inbox, carbonOf('received', 'fed-2'), 'the received carbon on A', 8_000);
    expect(inner(back, 'received')!.attrs).to.include({ from: b2.full, to: r1.full });
    await waitForStanza(b1.inbox, carbonOf('sent', 'fed-2'), 'the sent carbon on B', 8_000);

    // <private/> crosses the federation link, so bob's server copies nothing either.
    await r1.client.send(chat(b1.full, 'fed-3', 'just for b1', xml('private', { xmlns: NS_CARBONS })));
    const secret = await waitForStanza(b1.inbox, plainMessage('fed-3'), 'the private message at b1', 8_000);
    expect(secret.getChild('private', NS_CARBONS)).to.equal(undefined);
    await settle(r1, r2, b1, b2);
    expect(messages(r2).map((m) => inner(m, 'sent')?.attrs.id ?? inner(m, 'received')?.attrs.id)).to.deep.equal(['fed-1', 'fed-2']);
    expect(messages(b2).filter(anyCarbon).map((m) => inner(m, 'received')?.attrs.id)).to.deep.equal(['fed-1']);
  });
});
