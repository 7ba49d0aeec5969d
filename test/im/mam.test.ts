// Message Archive Management as users of a standard client see it (@xmpp/client over real
// sockets): XEP-0313 queries with RSM paging (XEP-0059), XEP-0359 stanza-ids, full-text
// search (XEP-0431), preferences (XEP-0441), offline messages, retention, and an operator's
// count and purge through the admin API and the command line.
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, copyFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AdminApi, seg } from '../admin/helpers/api.js';
import { openIsolatedDatabase, type IsolatedDatabase } from '../helpers/database.js';
import { runHearth, startHearth } from '../helpers/hearth-process.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { acknowledgeRosterPushes, collectStanzas, connect, delay, roundTrip, stopQuietly, waitForStanza, xml, type Client, type Element } from '../helpers/xmpp-client.js';

const HOST = '127.0.0.128';
const RETENTION_HOST = '127.0.0.129';
const DOMAIN = 'mam.hearth.example';
const PASSWORD = 'mam-test-secret';
const NS_MAM = 'urn:xmpp:mam:2';
const NS_RSM = 'http://jabber.org/protocol/rsm';
const NS_SID = 'urn:xmpp:sid:0';
const NS_FORWARD = 'urn:xmpp:forward:0';
const NS_DELAY = 'urn:xmpp:delay';
const NS_DATA = 'jabber:x:data';
const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
/** The server's cap on a page (mam.maxPageSize in this test's config). */
const MAX_PAGE = 20;

interface Peer {
  client: Client;
  inbox: Element[];
  bare: string;
  full: string;
  local: string;
}

interface QueryAnswer {
  /** The archived messages, in the order they arrived. */
  messages: Element[];
  /** The result ids, in order. */
  ids: string[];
  fin: Element;
  set: Element;
}

type Fields = Record<string, string | string[]>;

function form(fields: Fields): Element {
  const children = Object.entries(fields).map(([name, value]) =>
    xml('field', { var: name }, ...(Array.isArray(value) ? value : [value]).map((v) => xml('value', {}, v))),
  );
  return xml('x', { xmlns: NS_DATA, type: 'submit' }, xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, NS_MAM)), ...children);
}

function rsm(set: { max?: number; after?: string; before?: string | true }): Element {
  const children: Element[] = [];
  if (set.max !== undefined) children.push(xml('max', {}, String(set.max)));
  if (set.after !== undefined) children.push(xml('after', {}, set.after));
  if (set.before === true) children.push(xml('before'));
  else if (set.before !== undefined) children.push(xml('before', {}, set.before));
  return xml('set', { xmlns: NS_RSM }, ...children);
}

let queries = 0;

/** Sends a query and collects its results and <fin/>; results must all come before the iq result. */
async function mam(peer: Peer, options: { fields?: Fields; set?: Parameters<typeof rsm>[0]; flip?: boolean; to?: string } = {}): Promise<QueryAnswer> {
  const queryid = `q${++queries}`;
  const children: Element[] = [];
  if (options.fields) children.push(form(options.fields));
  if (options.set) children.push(rsm(options.set));
  if (options.flip) children.push(xml('flip-page'));
  const attrs: Record<string, string> = { type: 'set' };
  if (options.to) attrs.to = options.to;
  const before = peer.inbox.length;
  const reply = await peer.client.iqCaller.request(xml('iq', attrs, xml('query', { xmlns: NS_MAM, queryid }, ...children)), 5_000);
  const arrived = peer.inbox.slice(before);
  const results = arrived.filter((el) => el.is('message') && el.getChild('result', NS_MAM)?.attrs.queryid === queryid);
  for (const message of results) {
    expect(message.attrs.from, 'results come from the archive').to.equal(peer.bare);
  }
  const fin = reply.getChild('fin', NS_MAM)!;
  expect(fin, reply.toString()).to.exist;
  return {
    messages: results.map((m) => m.getChild('result', NS_MAM)!.getChild('forwarded', NS_FORWARD)!.getChild('message')!),
    ids: results.map((m) => m.getChild('result', NS_MAM)!.attrs.id as string),
    fin,
    set: fin.getChild('set', NS_RSM)!,
  };
}

async function mamError(peer: Peer, query: Element, to?: string): Promise<string> {
  try {
    await peer.client.iqCaller.request(xml('iq', to ? { type: 'set', to } : { type: 'set' }, query), 5_000);
  } catch (err) {
    return (err as { condition: string }).condition;
  }
  throw new Error('expected an error');
}

const bodies = (answer: QueryAnswer) => answer.messages.map((m) => m.getChildText('body'));
const stanzaIds = (message: Element) => message.getChildren('stanza-id', NS_SID);

describe('XEP-0313 message archives with @xmpp/client', function () {
  let ts: TestServer;
  const clients: Client[] = [];
  let users = 0;

  before(async function () {
    this.timeout(60_000);
    ts = await startTestServer({ host: HOST, domain: DOMAIN, config: { mam: { maxPageSize: MAX_PAGE, defaultPageSize: 10 } } });
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

  async function online(local: string, resource = 'r1', server = ts): Promise<Peer> {
    const client = await connect(server, local, PASSWORD, { resource, mechanism: 'PLAIN' });
    clients.push(client);
    acknowledgeRosterPushes(client);
    const inbox = collectStanzas(client);
    await client.send(xml('presence'));
    await roundTrip(client);
    return { client, inbox, local, bare: `${local}@${server.domain}`, full: `${local}@${server.domain}/${resource}` };
  }

  /** Two accounts online; `count` chat messages from the first to the second, delivered. */
  async function conversation(count: number, text = (n: number) => `message ${n}`): Promise<{ alice: Peer; bob: Peer }> {
    const alice = await online(await account('alice'));
    const bob = await online(await account('bob'));
    for (let n = 0; n < count; n++) {
      await alice.client.send(xml('message', { to: bob.bare, type: 'chat', id: `m${n}` }, xml('body', {}, text(n))));
    }
    await roundTrip(alice.client);
    if (count > 0) await waitForStanza(bob.inbox, (el) => el.is('message') && el.attrs.id === `m${count - 1}`, 'the last message');
    return { alice, bob };
  }

  it('advertises MAM, its extensions, full-text search and stanza ids on the account', async function () {
    const alice = await online(await account('alice'));
    const info = await alice.client.iqCaller.request(xml('iq', { type: 'get', to: alice.bare }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' })));
    const features = info.getChild('query')!.getChildren('feature').map((f) => f.attrs.var);
    expect(features).to.include.members([NS_MAM, `${NS_MAM}#extended`, 'urn:xmpp:fulltext:0', NS_SID]);

    // §4.1.5: the supported fields.
    const formReply = await alice.client.iqCaller.request(xml('iq', { type: 'get' }, xml('query', { xmlns: NS_MAM })));
    const fields = formReply.getChild('query', NS_MAM)!.getChild('x', NS_DATA)!.getChildren('field').map((f) => f.attrs.var);
    expect(fields).to.include.members(['FORM_TYPE', 'with', 'start', 'end', 'before-id', 'after-id', 'ids', 'include-groupchat', '{urn:xmpp:fulltext:0}fulltext']);
  });

  it('gives the recipient a stanza-id that names the archived copy, keeps origin-id, and archives in both archives', async function () {
    const alice = await online(await account('alice'));
    const bob = await online(await account('bob'));
    await alice.client.send(
      xml('message', { to: bob.bare, type: 'chat', id: 'hello' }, xml('body', {}, 'Hello Bob'), xml('origin-id', { xmlns: NS_SID, id: 'origin-1' })),
    );
    const received = await waitForStanza(bob.inbox, (el) => el.is('message') && el.attrs.id === 'hello', 'the message');
    const ids = stanzaIds(received);
    expect(ids, received.toString()).to.have.length(1);
    expect(ids[0]!.attrs.by).to.equal(bob.bare);
    expect(received.getChild('origin-id', NS_SID)?.attrs.id).to.equal('origin-1');

    const inBob = await mam(bob);
    expect(inBob.ids).to.deep.equal([ids[0]!.attrs.id]);
    const archived = inBob.messages[0]!;
    const forwarded = (await mam(bob)).messages[0]!;
    expect(forwarded.toString()).to.equal(archived.toString());
    expect(archived.attrs.from).to.equal(alice.full);
    expect(archived.attrs.xmlns).to.equal('jabber:client');
    expect(archived.getChildText('body')).to.equal('Hello Bob');

    const inAlice = await mam(alice);
    expect(bodies(inAlice)).to.deep.equal(['Hello Bob']);
    expect(inAlice.messages[0]!.attrs.to).to.equal(bob.bare);
    expect(inAlice.messages[0]!.getChild('origin-id', NS_SID)?.attrs.id, 'origin-id kept').to.equal('origin-1');
    expect(inAlice.fin.attrs.complete).to.equal('true');
  });

  it('strips a stanza-id claiming to be from the recipient\'s archive, archived or not', async function () {
    const alice = await online(await account('alice'));
    const bob = await online(await account('bob'));
    await alice.client.send(
      xml(
        'message',
        { to: bob.bare, type: 'chat', id: 'spoof' },
        xml('body', {}, 'trust me'),
        xml('stanza-id', { xmlns: NS_SID, by: bob.bare, id: 'forged' }),
        xml('stanza-id', { xmlns: NS_SID, by: bob.bare.toUpperCase(), id: 'forged-2' }),
        xml('stanza-id', { xmlns: NS_SID, by: 'room@conference.example', id: 'someone-elses' }),
      ),
    );
    // Not archived (<no-store/>), yet still stripped.
    await alice.client.send(
      xml('message', { to: bob.bare, type: 'chat', id: 'spoof-2' }, xml('body', {}, 'again'), xml('no-store', { xmlns: 'urn:xmpp:hints' }), xml('stanza-id', { xmlns: NS_SID, by: bob.bare, id: 'forged-3' })),
    );
    const first = await waitForStanza(bob.inbox, (el) => el.is('message') && el.attrs.id === 'spoof', 'the first message');
    const second = await waitForStanza(bob.inbox, (el) => el.is('message') && el.attrs.id === 'spoof-2', 'the second message');
    const ours = stanzaIds(first).filter((s) => s.attrs.by === bob.bare);
    expect(ours, first.toString()).to.have.length(1);
    expect(ours[0]!.attrs.id).to.not.match(/forged/);
    expect(stanzaIds(first).map((s) => s.attrs.id)).to.include('someone-elses').and.not.include('forged-2');
    expect(stanzaIds(second), second.toString()).to.have.length(0);
    expect(bodies(await mam(bob))).to.deep.equal(['trust me']);
  });

  it('pages forward and backward through more than one page, with count, index, complete and flipped pages', async function () {
    const { bob } = await conversation(25);
    const first = await mam(bob, { set: { max: 10 } });
    expect(bodies(first)).to.deep.equal(Array.from({ length: 10 }, (_, n) => `message ${n}`));
    expect(first.fin.attrs.complete).to.equal(undefined);
    expect(first.set.getChildText('first')).to.equal(first.ids[0]);
    expect(first.set.getChildText('first')).to.equal(first.ids[0]);
    expect(first.set.getChildText('last')).to.equal(first.ids[9]);

    const second = await mam(bob, { set: { max: 10, after: first.set.getChildText('last')! } });
    expect(bodies(second)).to.deep.equal(Array.from({ length: 10 }, (_, n) => `message ${n + 10}`));
    const third = await mam(bob, { set: { max: 10, after: second.set.getChildText('last')! } });
    expect(bodies(third)).to.deep.equal(Array.from({ length: 5 }, (_, n) => `message ${n + 20}`));
    expect(third.fin.attrs.complete).to.equal('true');

    // The last page, then backwards (§4.3: <before/>), each page in chronological order.
    const last = await mam(bob, { set: { max: 10, before: true } });
    expect(bodies(last)).to.deep.equal(Array.from({ length: 10 }, (_, n) => `message ${n + 15}`));
    expect(last.fin.attrs.complete).to.equal(undefined);
    const earlier = await mam(bob, { set: { max: 10, before: last.set.getChildText('first')! } });
    expect(bodies(earlier)).to.deep.equal(Array.from({ length: 10 }, (_, n) => `message ${n + 5}`));
    const earliest = await mam(bob, { set: { max: 10, before: earlier.set.getChildText('first')! } });
    expect(bodies(earliest)).to.deep.equal(Array.from({ length: 5 }, (_, n) => `message ${n}`));
    expect(earliest.fin.attrs.complete, 'the start of the archive').to.equal('true');

    // Flipped: the same page, newest first; first/last still name the page's ends.
    const flipped = await mam(bob, { set: { max: 10, before: true }, flip: true });
    expect(bodies(flipped)).to.deep.equal(bodies(last).reverse());
    expect(flipped.set.getChildText('first')).to.equal(last.set.getChildText('first'));

    // No <max/>: the server's default page (10 here); above the cap: capped, not refused.
    expect((await mam(bob)).ids).to.have.length(10);
    const capped = await mam(bob, { set: { max: 1000 } });
    expect(capped.ids).to.have.length(MAX_PAGE);
    expect(capped.fin.attrs.complete).to.equal(undefined);
    // max 0: the count alone.
    const countOnly = await mam(bob, { set: { max: 0 } });
    expect(countOnly.ids).to.deep.equal([]);
    expect(countOnly.set.getChildText('count')).to.equal('25');
    expect(countOnly.set.getChild('first'), 'no page, no first').to.equal(undefined);
    // A page that holds the whole result says how many there are, and where it starts.
    const whole = await mam(bob, { fields: { ids: [first.ids[3]!, first.ids[5]!] } });
    expect(whole.fin.attrs.complete).to.equal('true');
    expect(whole.set.getChildText('count')).to.equal('2');
    expect(whole.set.getChild('first')!.attrs.index).to.equal('0');
  });

  it('filters by contact, by date, by id and by ids; unknown ids are item-not-found', async function () {
    const { alice, bob } = await conversation(6);
    const carol = await online(await account('carol'));
    await carol.client.send(xml('message', { to: bob.bare, type: 'chat', id: 'c1' }, xml('body', {}, 'from carol')));
    await waitForStanza(bob.inbox, (el) => el.is('message') && el.attrs.id === 'c1', "carol's message");

    expect(bodies(await mam(bob, { fields: { with: carol.bare } }))).to.deep.equal(['from carol']);
    expect(bodies(await mam(bob, { fields: { with: carol.full } })), 'a full JID').to.deep.equal(['from carol']);
    expect(bodies(await mam(bob, { fields: { with: `${carol.bare}/elsewhere` } }))).to.deep.equal([]);
    expect(await mam(bob, { fields: { with: alice.bare } }).then((a) => a.ids.length)).to.equal(6);

    const all = await mam(bob);
    expect(all.ids).to.have.length(7);
    // By date: everything from now on is nothing; everything up to now is everything.
    const now = new Date(Date.now() + 1000).toISOString();
    expect((await mam(bob, { fields: { start: now } })).ids).to.deep.equal([]);
    expect((await mam(bob, { fields: { end: now } })).ids).to.deep.equal(all.ids);
    expect((await mam(bob, { fields: { start: new Date(Date.now() - 60_000).toISOString().replace('Z', '+00:00') } })).ids).to.deep.equal(all.ids);

    // By id (#extended): after-id and before-id exclude the named messages.
    const between = await mam(bob, { fields: { 'after-id': all.ids[1]!, 'before-id': all.ids[5]! } });
    expect(between.ids).to.deep.equal(all.ids.slice(2, 5));
    expect((await mam(bob, { fields: { ids: [all.ids[4]!, all.ids[0]!] } })).ids).to.deep.equal([all.ids[0], all.ids[4]]);

    const query = (children: Element[]) => xml('query', { xmlns: NS_MAM }, ...children);
    expect(await mamError(bob, query([form({ 'after-id': '12345' })]))).to.equal('item-not-found');
    expect(await mamError(bob, query([form({ ids: [all.ids[0]!, 'not-an-id'] })]))).to.equal('item-not-found');
    expect(await mamError(bob, query([rsm({ after: '99999' })]))).to.equal('item-not-found');
    // An id of someone else's archive is not in this one.
    const aliceIds = (await mam(alice)).ids;
    expect(await mamError(bob, query([rsm({ before: aliceIds[0]! })]))).to.equal('item-not-found');
  });

  it('answers bad forms with bad-request and unknown fields with feature-not-implemented', async function () {
    const { bob } = await conversation(0);
    const query = (children: Element[]) => xml('query', { xmlns: NS_MAM }, ...children);
    expect(await mamError(bob, query([form({ start: 'yesterday' })]))).to.equal('bad-request');
    expect(await mamError(bob, query([form({ with: 'not a jid@@' })]))).to.equal('bad-request');
    expect(await mamError(bob, query([form({ start: '2024-01-02T00:00:00Z', end: '2024-01-01T00:00:00Z' })]))).to.equal('bad-request');
    expect(await mamError(bob, query([xml('set', { xmlns: NS_RSM }, xml('max', {}, 'ten'))]))).to.equal('bad-request');
    const wrongType = xml('x', { xmlns: NS_DATA, type: 'submit' }, xml('field', { var: 'FORM_TYPE' }, xml('value', {}, 'urn:example')));
    expect(await mamError(bob, query([wrongType]))).to.equal('bad-request');
    expect(await mamError(bob, query([form({ 'urn:example:unknown': 'x' })]))).to.equal('feature-not-implemented');
  });

  it('refuses a query on another account\'s archive with forbidden', async function () {
    const { alice, bob } = await conversation(2);
    expect(await mamError(alice, xml('query', { xmlns: NS_MAM }), bob.bare)).to.equal('forbidden');
    expect(await mamError(alice, xml('prefs', { xmlns: NS_MAM, default: 'never' }), bob.bare)).to.equal('forbidden');
    await roundTrip(alice.client);
    expect(alice.inbox.filter((el) => el.getChild('result', NS_MAM)), 'nothing of bob\'s archive').to.deep.equal([]);
    // Addressed to one's own bare JID, the query is one's own.
    expect((await mam(bob, { to: bob.bare })).ids).to.have.length(2);
  });

  it('searches the text of archived messages (XEP-0431)', async function () {
    const lines = ['Where art thou, Romeo?', 'Deny thy father and refuse thy name', 'a rose by any other name', 'Romeo, Romeo'];
    const { bob } = await conversation(lines.length, (n) => lines[n]!);
    expect(bodies(await mam(bob, { fields: { '{urn:xmpp:fulltext:0}fulltext': 'romeo' } }))).to.deep.equal([lines[0], lines[3]]);
    expect(bodies(await mam(bob, { fields: { '{urn:xmpp:fulltext:0}fulltext': 'name' } }))).to.deep.equal([lines[1], lines[2]]);
    expect(bodies(await mam(bob, { fields: { '{urn:xmpp:fulltext:0}fulltext': '"other name"' } }))).to.deep.equal([lines[2]]);
    expect(bodies(await mam(bob, { fields: { '{urn:xmpp:fulltext:0}fulltext': 'juliet' } }))).to.deep.equal([]);
  });

  it('archives only what it should: no headlines, errors, body-less or no-store messages; groupchat on request', async function () {
    const alice = await online(await account('alice'));
    const bob = await online(await account('bob'));
    const send = (attrs: Record<string, string>, ...children: Element[]) => alice.client.send(xml('message', { to: bob.bare, ...attrs }, ...children));
    await send({ type: 'headline', id: 'h' }, xml('body', {}, 'headline'));
    await send({ type: 'chat', id: 'state' }, xml('active', { xmlns: 'http://jabber.org/protocol/chatstates' }));
    await send({ type: 'chat', id: 'nostore' }, xml('body', {}, 'secret'), xml('no-permanent-store', { xmlns: 'urn:xmpp:hints' }));
    await send({ type: 'chat', id: 'store' }, xml('x', { xmlns: 'urn:example' }), xml('store', { xmlns: 'urn:xmpp:hints' }));
    await send({ id: 'normal' }, xml('body', {}, 'a normal message'));
    await alice.client.send(xml('message', { to: bob.full, type: 'groupchat', id: 'gc' }, xml('body', {}, 'groupchat')));
    await waitForStanza(bob.inbox, (el) => el.is('message') && el.attrs.id === 'gc', 'the groupchat message');
    await roundTrip(alice.client);
    const plain = await mam(bob);
    expect(plain.messages.map((m) => m.attrs.id)).to.deep.equal(['store', 'normal']);
    const withGroupchat = await mam(bob, { fields: { 'include-groupchat': 'true' } });
    expect(withGroupchat.messages.map((m) => m.attrs.id)).to.deep.equal(['store', 'normal', 'gc']);
    // The sender keeps what it sent, but not the groupchat message (a room would reflect it).
    expect((await mam(alice, { fields: { 'include-groupchat': 'true' } })).messages.map((m) => m.attrs.id)).to.deep.equal(['store', 'normal']);
  });

  it('archives a message for an offline recipient, whose offline copy carries the stanza-id', async function () {
    const alice = await online(await account('alice'));
    const bobLocal = await account('bob');
    const bobBare = `${bobLocal}@${DOMAIN}`;
    await alice.client.send(xml('message', { to: bobBare, type: 'chat', id: 'later' }, xml('body', {}, 'while you were out')));
    await roundTrip(alice.client);
    // Archived before bob is back.
    expect((await ts.server.services.archive.count(bobBare)).count).to.equal(1);

    const bob = await online(bobLocal);
    const delivered = await waitForStanza(bob.inbox, (el) => el.is('message') && el.attrs.id === 'later', 'the offline message');
    expect(delivered.getChild('delay', NS_DELAY), 'delivered from offline storage').to.exist;
    const sid = stanzaIds(delivered);
    expect(sid).to.have.length(1);
    expect(sid[0]!.attrs.by).to.equal(bobBare);
    const archive = await mam(bob);
    expect(archive.ids, 'archived once').to.deep.equal([sid[0]!.attrs.id]);
    expect(bodies(archive)).to.deep.equal(['while you were out']);
  });

  it('tells the first and last messages (metadata)', async function () {
    const { bob } = await conversation(0);
    const empty = await bob.client.iqCaller.request(xml('iq', { type: 'get' }, xml('metadata', { xmlns: NS_MAM })));
    expect(empty.getChild('metadata', NS_MAM)!.children).to.deep.equal([]);
    const { bob: other } = await conversation(3);
    const all = await mam(other);
    const reply = await other.client.iqCaller.request(xml('iq', { type: 'get' }, xml('metadata', { xmlns: NS_MAM })));
    const metadata = reply.getChild('metadata', NS_MAM)!;
    expect(metadata.getChild('start')!.attrs.id).to.equal(all.ids[0]);
    expect(metadata.getChild('end')!.attrs.id).to.equal(all.ids[2]);
    expect(Date.parse(metadata.getChild('end')!.attrs.timestamp as string)).to.be.closeTo(Date.now(), 10_000);
  });

  it('follows the account\'s preferences (XEP-0441): never, always and roster', async function () {
    const alice = await online(await account('alice'));
    const bob = await online(await account('bob'));
    const carol = await online(await account('carol'));
    const prefs = async (peer: Peer, attrs: Record<string, string>, always: string[] = [], never: string[] = []) => {
      const el = xml('prefs', { xmlns: NS_MAM, ...attrs }, xml('always', {}, ...always.map((j) => xml('jid', {}, j))), xml('never', {}, ...never.map((j) => xml('jid', {}, j))));
      return (await peer.client.iqCaller.request(xml('iq', { type: 'set' }, el))).getChild('prefs', NS_MAM)!;
    };
    const get = async (peer: Peer) => (await peer.client.iqCaller.request(xml('iq', { type: 'get' }, xml('prefs', { xmlns: NS_MAM })))).getChild('prefs', NS_MAM)!;
    expect((await get(bob)).attrs.default, 'the default').to.equal('always');

    // never, except alice.
    const set = await prefs(bob, { default: 'never' }, [alice.bare]);
    expect(set.attrs.default).to.equal('never');
    const stored = await get(bob);
    expect(stored.attrs.default).to.equal('never');
    expect(stored.getChild('always')!.getChildren('jid').map((j) => j.getText())).to.deep.equal([alice.bare]);
    await alice.client.send(xml('message', { to: bob.bare, type: 'chat', id: 'a1' }, xml('body', {}, 'from alice')));
    await carol.client.send(xml('message', { to: bob.bare, type: 'chat', id: 'c1' }, xml('body', {}, 'from carol')));
    const fromCarol = await waitForStanza(bob.inbox, (el) => el.is('message') && el.attrs.id === 'c1', "carol's message");
    await waitForStanza(bob.inbox, (el) => el.is('message') && el.attrs.id === 'a1', "alice's message");
    expect(stanzaIds(fromCarol), 'not archived: no stanza-id').to.have.length(0);
    expect(bodies(await mam(bob))).to.deep.equal(['from alice']);
    // Outgoing too: bob's message to carol is not kept, to alice it is.
    await bob.client.send(xml('message', { to: carol.bare, type: 'chat' }, xml('body', {}, 'to carol')));
    await bob.client.send(xml('message', { to: alice.bare, type: 'chat' }, xml('body', {}, 'to alice')));
    await roundTrip(bob.client);
    expect(bodies(await mam(bob))).to.deep.equal(['from alice', 'to alice']);

    // roster: only contacts in the roster, and never wins over it.
    await prefs(bob, { default: 'roster' }, [], [`${alice.bare}/r1`]);
    await bob.client.iqCaller.request(xml('iq', { type: 'set' }, xml('query', { xmlns: 'jabber:iq:roster' }, xml('item', { jid: carol.bare }))));
    await carol.client.send(xml('message', { to: bob.bare, type: 'chat', id: 'c2' }, xml('body', {}, 'carol, in the roster')));
    await alice.client.send(xml('message', { to: bob.bare, type: 'chat', id: 'a2' }, xml('body', {}, 'alice, never')));
    await waitForStanza(bob.inbox, (el) => el.is('message') && el.attrs.id === 'a2', "alice's second message");
    await waitForStanza(bob.inbox, (el) => el.is('message') && el.attrs.id === 'c2', "carol's second message");
    expect(bodies(await mam(bob))).to.deep.equal(['from alice', 'to alice', 'carol, in the roster']);

    expect(await mamError(bob, xml('prefs', { xmlns: NS_MAM, default: 'sometimes' }))).to.equal('bad-request');
  });

  it('counts and purges an archive through the admin API, which requires a token', async function () {
    const { bob } = await conversation(3);
    const { token } = await ts.server.services.tokens.create({ name: `mam-${++users}` });
    const api = await AdminApi.open(ts.adminUrl, token);
    const url = `/api/v1/accounts/${seg(bob.bare)}/archive`;
    const unauthenticated = await fetch(`${ts.adminUrl}${url}`);
    expect(unauthenticated.status).to.equal(401);
    const unauthenticatedDelete = await fetch(`${ts.adminUrl}${url}`, { method: 'DELETE' });
    expect(unauthenticatedDelete.status).to.equal(401);
    expect((await api.get(url)).body).to.deep.equal({ count: 3 });
    expect((await api.delete(url)).body).to.deep.equal({ purged: 3 });
    expect((await api.get(url)).body).to.deep.equal({ count: 0 });
    expect((await mam(bob)).ids).to.deep.equal([]);
    expect((await api.get(`/api/v1/accounts/${seg(`nobody@${DOMAIN}`)}/archive`)).status).to.equal(404);
  });

  it('removes expired messages in the background (mam.retentionDays), rooms\' too, and the archive goes with the account', async function () {
    const server = await startTestServer({ host: RETENTION_HOST, domain: 'retention.hearth.example', config: { mam: { retentionDays: 1, retentionIntervalS: 1 } } });
    try {
      await server.addUser('dora', PASSWORD);
      const old = BigInt(Date.now() - 3 * 86_400_000) << 12n;
      const entry = (id: bigint, body: string) => ({
        username: 'dora', domain: server.domain, id, with: 'eve@example.net', withResource: '', outgoing: false, type: 'chat' as const,
        stanza: `<message type="chat" from="eve@example.net"><body>${body}</body></message>`, body,
      });
      expect(await server.server.stores.archive.append(entry(old, 'three days old'))).to.equal(true);
      expect(await server.server.stores.archive.append(entry(old + 1n, 'also old'))).to.equal(true);
      expect(await server.server.stores.archive.append(entry(BigInt(Date.now()) << 12n, 'fresh'))).to.equal(true);
      const deadline = Date.now() + 10_000;
      while ((await server.server.stores.archive.count('dora', server.domain)) > 1 && Date.now() < deadline) await delay(100);
      expect(await server.server.stores.archive.count('dora', server.domain)).to.equal(1);

      // Room archives (XEP-0045 rooms, XEP-0313 on the room's JID) expire the same way.
      const service = `conference.${server.domain}`;
      expect(await server.server.stores.muc.create(service, 'hall', '{"persistent":true}', [])).to.equal(true);
      const roomEntry = (id: bigint, body: string) => ({ ...entry(id, body), username: 'hall', domain: service, with: `hall@${service}`, withResource: 'eve', type: 'groupchat' as const });
      expect(await server.server.stores.roomArchive.append(roomEntry(old, 'old in the room'))).to.equal(true);
      expect(await server.server.stores.roomArchive.append(roomEntry(BigInt(Date.now()) << 12n, 'fresh in the room'))).to.equal(true);
      while ((await server.server.stores.roomArchive.count('hall', service)) > 1 && Date.now() < deadline + 10_000) await delay(100);
      expect(await server.server.stores.roomArchive.count('hall', service)).to.equal(1);

      await server.server.services.accounts.remove(`dora@${server.domain}`);
      expect(await server.server.stores.archive.count('dora', server.domain)).to.equal(0);
    } finally {
      await server.stop();
    }
  });
});

describe('hearth archive count|purge (command line)', function () {
  this.timeout(60_000);
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  const CLI_HOST = '127.0.0.128';
  const CLI_DOMAIN = 'mam-cli.hearth.example';
  let dir: string;
  let isolated: IsolatedDatabase | null = null;

  beforeEach(function () {
    dir = mkdtempSync(path.join(tmpdir(), 'hearth-mam-cli-'));
  });

  afterEach(async function () {
    rmSync(dir, { recursive: true, force: true });
    await isolated?.dispose();
    isolated = null;
  });

  it('counts and purges with and without the running server', async function () {
    const certs = path.join(dir, 'certs');
    mkdirSync(certs);
    copyFileSync(path.join(root, 'test', 'fixtures', 'tls', 'hearth.example.crt'), path.join(certs, `${CLI_DOMAIN}.crt`));
    copyFileSync(path.join(root, 'test', 'fixtures', 'tls', 'hearth.example.key'), path.join(certs, `${CLI_DOMAIN}.key`));
    writeFileSync(
      path.join(dir, 'hearth.yaml'),
      `domains: [${CLI_DOMAIN}]\ndataDir: ./data\ntls:\n  certificates: ./certs\nc2s:\n  listen: ["${CLI_HOST}:0"]\n  directTls: []\ns2s:\n  listen: ["${CLI_HOST}:0"]\nadmin:\n  listen: ["${CLI_HOST}:0"]\nlog:\n  level: info\n`,
    );
    let env: NodeJS.ProcessEnv = { DATABASE_URL: '' };
    if (process.env.DATABASE_URL) {
      isolated = await openIsolatedDatabase('postgres', { migrate: false });
      env = { DATABASE_URL: isolated.url! };
    }
    const hearth = (...args: string[]) => runHearth(args, { cwd: dir, env });
    const imported = runHearth(['user', 'import'], { cwd: dir, env, input: `alice@${CLI_DOMAIN} ${PASSWORD}\nbob@${CLI_DOMAIN} ${PASSWORD}\n` });
    expect(imported.code, imported.stderr).to.equal(0);

    const started = await startHearth(dir, env);
    const clients: Client[] = [];
    try {
      const server = { host: CLI_HOST, port: started.port, domain: CLI_DOMAIN } as TestServer;
      const alice = await connect(server, 'alice', PASSWORD, { resource: 'a', mechanism: 'PLAIN' });
      clients.push(alice);
      for (let n = 0; n < 4; n++) await alice.send(xml('message', { to: `bob@${CLI_DOMAIN}`, type: 'chat' }, xml('body', {}, `n${n}`)));
      await roundTrip(alice);
      // Through the control socket of the running server.
      const count = hearth('archive', 'count', `bob@${CLI_DOMAIN}`);
      expect(count.code, count.stderr).to.equal(0);
      expect(count.stdout).to.equal('4\n');
      const purge = hearth('archive', 'purge', `bob@${CLI_DOMAIN}`);
      expect(purge.stdout).to.equal(`purged 4 message(s) from the archive of bob@${CLI_DOMAIN}\n`);
      expect(hearth('archive', 'count', `bob@${CLI_DOMAIN}`).stdout).to.equal('0\n');
    } finally {
      await Promise.all(clients.map(stopQuietly));
      started.process.kill('SIGTERM');
      expect(await started.exited).to.equal(0);
    }
    // On the database, the server stopped: alice's own archive kept what she sent.
    expect(hearth('archive', 'count', `alice@${CLI_DOMAIN}`).stdout).to.equal('4\n');
    expect(hearth('archive', 'purge', `alice@${CLI_DOMAIN}`).stdout).to.match(/^purged 4 /);
    const missing = hearth('archive', 'count', `nobody@${CLI_DOMAIN}`);
    expect(missing.code).to.equal(1);
    expect(missing.stderr).to.match(/does not exist/);
    expect(hearth('archive', 'frobnicate', `bob@${CLI_DOMAIN}`).code).to.equal(2);
  });
});
