// Roster management as a standard client sees it: RFC 6121 §2 (get, set, push, remove,
// errors) and roster versioning (RFC 6121 §2.6, XEP-0237), over real sockets with @xmpp/client.
import { expect } from 'chai';
import { plainAuth, RawConnection, streamHeader } from '../helpers/raw.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { acknowledgeRosterPushes as acknowledgePushes, collectStanzas, connect, delay, nextStanza, stopQuietly, withTimeout, xml, type Client, type Element } from '../helpers/xmpp-client.js';

const NS_ROSTER = 'jabber:iq:roster';
const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
// PLAIN inside TLS: SCRAM is covered by test/c2s, and its client side costs ~200 ms a login.
const PASSWORD = 'roster-secret';
/** How long "nothing else arrives" is watched for. */
const QUIET_MS = 200;

let ids = 0;
const nextId = (prefix: string) => `${prefix}-${++ids}`;

function errorOf(stanza: Element): { type: string | undefined; condition: string | undefined } {
  const error = stanza.getChild('error');
  return {
    type: error?.attrs.type,
    condition: error?.getChildElements().find((c) => c.attrs.xmlns === NS_STANZAS)?.name,
  };
}

/** Sends an iq and resolves with whatever answers it (result or error), to look at exactly. */
async function iq(client: Client, attrs: Record<string, string>, child: Element): Promise<Element> {
  const id = attrs.id ?? nextId('iq');
  const reply = nextStanza(client, (el) => el.is('iq') && el.attrs.id === id && (el.attrs.type === 'result' || el.attrs.type === 'error'));
  await client.send(xml('iq', { ...attrs, id }, child));
  return reply;
}

function rosterGet(client: Client, ver?: string): Promise<Element> {
  return iq(client, { type: 'get' }, xml('query', ver === undefined ? { xmlns: NS_ROSTER } : { xmlns: NS_ROSTER, ver }));
}

interface ItemSpec {
  jid: string;
  name?: string;
  subscription?: string;
  groups?: string[];
}

function itemElement(spec: ItemSpec): Element {
  const attrs: Record<string, string> = { jid: spec.jid };
  if (spec.name !== undefined) attrs.name = spec.name;
  if (spec.subscription !== undefined) attrs.subscription = spec.subscription;
  return xml('item', attrs, ...(spec.groups ?? []).map((g) => xml('group', {}, g)));
}

function rosterSet(client: Client, ...items: ItemSpec[]): Promise<Element> {
  return iq(client, { type: 'set' }, xml('query', { xmlns: NS_ROSTER }, ...items.map(itemElement)));
}

const isPush = (el: Element) => el.is('iq') && el.attrs.type === 'set' && el.getChild('query', NS_ROSTER) !== undefined;

function pushedItem(push: Element): Element {
  const items = push.getChild('query', NS_ROSTER)!.getChildElements();
  expect(items, 'a roster push carries exactly one item (RFC 6121 §2.1.6)').to.have.length(1);
  return items[0]!;
}

function nextPush(client: Client, jid?: string): Promise<Element> {
  return nextStanza(client, (el) => isPush(el) && (jid === undefined || pushedItem(el).attrs.jid === jid));
}

const groupsOf = (item: Element) => item.getChildren('group').map((g) => g.text());


/** RFC 6121 §2.1.6: a push comes from the account itself (no from, or its bare JID). */
function expectPushAddressing(push: Element, client: Client): void {
  expect(push.attrs.to).to.equal(client.jid!.toString());
  if (push.attrs.from !== undefined) expect(push.attrs.from).to.equal(client.jid!.bare().toString());
  expect(push.attrs.id, 'a push has an id to acknowledge').to.be.a('string').and.not.equal('');
}

describe('RFC 6121 §2 rosters with @xmpp/client', function () {
  let ts: TestServer;
  const clients: Client[] = [];
  let users = 0;

  async function login(local: string, resource: string): Promise<Client> {
    const c = acknowledgePushes(await connect(ts, local, PASSWORD, { resource, mechanism: 'PLAIN' }));
    clients.push(c);
    return c;
  }

  /** A fresh account per test, so that no roster state leaks between tests. */
  async function account(name: string): Promise<string> {
    const local = `${name}${++users}`;
    await ts.addUser(local, PASSWORD);
    return local;
  }

  const jidOf = (local: string) => `${local}@${ts.domain}`;

  before(async function () {
    ts = await startTestServer({ host: '127.0.0.120', domain: 'roster.hearth.example' });
  });

  afterEach(async function () {
    await Promise.all(clients.splice(0).map(stopQuietly));
  });

  after(async function () {
    await ts?.stop();
  });

  describe('get', function () {
    it('returns an empty roster that carries a version', async function () {
      const alice = await login(await account('alice'), 'desk');
      const result = await rosterGet(alice);
      expect(result.attrs.type).to.equal('result');
      expect(result.attrs.to).to.equal(alice.jid!.toString());
      // From the account itself: no from, or the bare JID (RFC 6120 §10.3.3).
      if (result.attrs.from !== undefined) expect(result.attrs.from).to.equal(alice.jid!.bare().toString());
      const query = result.getChild('query', NS_ROSTER)!;
      expect(query, 'the result carries the roster').to.not.equal(undefined);
      expect(Object.keys(query.attrs).sort()).to.deep.equal(['ver', 'xmlns']);
      expect(query.attrs.ver).to.be.a('string').and.not.equal('');
      expect(query.getChildElements()).to.have.length(0);
    });
  });

  describe('set and push', function () {
    it('adds an item with name and groups, and pushes it to every resource that requested the roster, not to the one that did not', async function () {
      const local = await account('alice');
      const contact = `contact@${ts.domain}`;
      const desk = await login(local, 'desk');
      const phone = await login(local, 'phone');
      const quiet = await login(local, 'quiet');
      const before = (await rosterGet(desk)).getChild('query', NS_ROSTER)!.attrs.ver;
      await rosterGet(phone);
      const quietInbox = collectStanzas(quiet);

      const deskPush = nextPush(desk, contact);
      const phonePush = nextPush(phone, contact);
      const result = await rosterSet(desk, { jid: contact, name: 'My Contact', groups: ['Friends', 'Work'] });
      expect(result.attrs.type).to.equal('result');
      expect(result.attrs.to).to.equal(desk.jid!.toString());
      expect(result.getChildElements(), 'a roster set result is empty (§2.3.2)').to.have.length(0);

      for (const [client, pending] of [[desk, deskPush], [phone, phonePush]] as const) {
        const push = await pending;
        expectPushAddressing(push, client);
        const query = push.getChild('query', NS_ROSTER)!;
        expect(query.attrs.ver).to.be.a('string').and.not.equal(before);
        const item = pushedItem(push);
        expect(item.attrs).to.deep.equal({ jid: contact, name: 'My Contact', subscription: 'none' });
        expect(groupsOf(item)).to.deep.equal(['Friends', 'Work']);
      }
      await delay(QUIET_MS);
      expect(quietInbox.filter(isPush), 'a resource that never asked for the roster gets no push').to.have.length(0);

      const roster = (await rosterGet(quiet)).getChild('query', NS_ROSTER)!;
      const items = roster.getChildElements();
      expect(items).to.have.length(1);
      expect(items[0]!.attrs).to.deep.equal({ jid: contact, name: 'My Contact', subscription: 'none' });
      expect(groupsOf(items[0]!)).to.deep.equal(['Friends', 'Work']);
    });

    it('updates the name and the groups of an item, each change pushed', async function () {
      const alice = await login(await account('alice'), 'desk');
      const contact = `bob@${ts.domain}`;
      await rosterGet(alice);
      let push = nextPush(alice, contact);
      await rosterSet(alice, { jid: contact, name: 'Bob', groups: ['Friends', 'Work'] });
      const v1 = (await push).getChild('query', NS_ROSTER)!.attrs.ver;

      push = nextPush(alice, contact);
      const result = await rosterSet(alice, { jid: contact, name: 'Robert', groups: ['Family'] });
      expect(result.attrs.type).to.equal('result');
      const updated = await push;
      expect(updated.getChild('query', NS_ROSTER)!.attrs.ver).to.not.equal(v1);
      expect(pushedItem(updated).attrs).to.deep.equal({ jid: contact, name: 'Robert', subscription: 'none' });
      expect(groupsOf(pushedItem(updated))).to.deep.equal(['Family']);

      // No name and no groups: both are gone.
      push = nextPush(alice, contact);
      await rosterSet(alice, { jid: contact });
      const cleared = pushedItem(await push);
      expect(cleared.attrs).to.deep.equal({ jid: contact, subscription: 'none' });
      expect(groupsOf(cleared)).to.deep.equal([]);

      const items = (await rosterGet(alice)).getChild('query', NS_ROSTER)!.getChildElements();
      expect(items.map((i) => i.attrs)).to.deep.equal([{ jid: contact, subscription: 'none' }]);
    });

    it('ignores a subscription attribute other than remove in a set (§2.1.2.5)', async function () {
      const alice = await login(await account('alice'), 'desk');
      const contact = `carol@${ts.domain}`;
      await rosterGet(alice);
      const push = nextPush(alice, contact);
      const result = await rosterSet(alice, { jid: contact, name: 'Carol', subscription: 'both' });
      expect(result.attrs.type).to.equal('result');
      expect(pushedItem(await push).attrs).to.deep.equal({ jid: contact, name: 'Carol', subscription: 'none' });
    });

    it('removes an item, pushing subscription="remove"', async function () {
      const local = await account('alice');
      const desk = await login(local, 'desk');
      const phone = await login(local, 'phone');
      const contact = `dave@${ts.domain}`;
      await rosterGet(desk);
      await rosterGet(phone);
      const added = nextPush(phone, contact);
      await rosterSet(desk, { jid: contact, name: 'Dave', groups: ['Friends'] });
      await added;

      const deskPush = nextPush(desk, contact);
      const phonePush = nextPush(phone, contact);
      const result = await rosterSet(desk, { jid: contact, subscription: 'remove' });
      expect(result.attrs.type).to.equal('result');
      expect(result.getChildElements()).to.have.length(0);
      for (const [client, pending] of [[desk, deskPush], [phone, phonePush]] as const) {
        const push = await pending;
        expectPushAddressing(push, client);
        expect(push.getChild('query', NS_ROSTER)!.attrs.ver).to.be.a('string');
        const item = pushedItem(push);
        expect(item.attrs).to.deep.equal({ jid: contact, subscription: 'remove' });
        expect(item.getChildElements()).to.have.length(0);
      }
      expect((await rosterGet(desk)).getChild('query', NS_ROSTER)!.getChildElements()).to.have.length(0);
    });
  });

  describe('errors', function () {
    it('refuses a set (and a get) of someone else\'s roster with forbidden (§2.1.3, §2.3.3)', async function () {
      const alice = await login(await account('alice'), 'desk');
      const bobLocal = await account('bob');
      const bob = await login(bobLocal, 'home');
      await rosterGet(bob);
      const bobInbox = collectStanzas(bob);

      const reply = await iq(alice, { type: 'set', to: jidOf(bobLocal), id: 'steal-1' }, xml('query', { xmlns: NS_ROSTER }, itemElement({ jid: `mallory@${ts.domain}`, name: 'M' })));
      expect(reply.attrs).to.include({ type: 'error', id: 'steal-1', from: jidOf(bobLocal), to: alice.jid!.toString() });
      expect(errorOf(reply)).to.deep.equal({ type: 'auth', condition: 'forbidden' });

      const peek = await iq(alice, { type: 'get', to: jidOf(bobLocal), id: 'peek-1' }, xml('query', { xmlns: NS_ROSTER }));
      expect(peek.attrs).to.include({ type: 'error', id: 'peek-1', from: jidOf(bobLocal) });
      expect(errorOf(peek)).to.deep.equal({ type: 'auth', condition: 'forbidden' });
      expect(peek.getChild('query', NS_ROSTER)?.getChildElements() ?? []).to.have.length(0);

      await delay(QUIET_MS);
      expect(bobInbox.filter(isPush), 'bob\'s roster did not change').to.have.length(0);
      expect((await rosterGet(bob)).getChild('query', NS_ROSTER)!.getChildElements()).to.have.length(0);
    });

    it('refuses a set with two items with bad-request (§2.3.3)', async function () {
      const alice = await login(await account('alice'), 'desk');
      await rosterGet(alice);
      const inbox = collectStanzas(alice);
      const reply = await rosterSet(alice, { jid: `one@${ts.domain}` }, { jid: `two@${ts.domain}` });
      expect(reply.attrs).to.include({ type: 'error', to: alice.jid!.toString() });
      expect(errorOf(reply)).to.deep.equal({ type: 'modify', condition: 'bad-request' });
      await delay(QUIET_MS);
      expect(inbox.filter(isPush)).to.have.length(0);
      expect((await rosterGet(alice)).getChild('query', NS_ROSTER)!.getChildElements()).to.have.length(0);
    });

    it('refuses a duplicate group with bad-request (§2.3.3)', async function () {
      const alice = await login(await account('alice'), 'desk');
      const reply = await rosterSet(alice, { jid: `dup@${ts.domain}`, groups: ['Friends', 'Friends'] });
      expect(reply.attrs.type).to.equal('error');
      expect(errorOf(reply)).to.deep.equal({ type: 'modify', condition: 'bad-request' });
      expect((await rosterGet(alice)).getChild('query', NS_ROSTER)!.getChildElements()).to.have.length(0);
    });

    it('refuses an empty group with not-acceptable (§2.3.3)', async function () {
      const alice = await login(await account('alice'), 'desk');
      const reply = await rosterSet(alice, { jid: `empty@${ts.domain}`, groups: ['Friends', ''] });
      expect(reply.attrs.type).to.equal('error');
      expect(errorOf(reply)).to.deep.equal({ type: 'modify', condition: 'not-acceptable' });
      expect((await rosterGet(alice)).getChild('query', NS_ROSTER)!.getChildElements()).to.have.length(0);
    });

    it('refuses removing an item that is not there with item-not-found (§2.5.3)', async function () {
      const alice = await login(await account('alice'), 'desk');
      await rosterGet(alice);
      const inbox = collectStanzas(alice);
      const reply = await rosterSet(alice, { jid: `ghost@${ts.domain}`, subscription: 'remove' });
      expect(reply.attrs).to.include({ type: 'error', to: alice.jid!.toString() });
      expect(errorOf(reply)).to.deep.equal({ type: 'cancel', condition: 'item-not-found' });
      await delay(QUIET_MS);
      expect(inbox.filter(isPush)).to.have.length(0);
    });
  });

  describe('limits.rosterItems', function () {
    let small: TestServer;

    before(async function () {
      small = await startTestServer({ host: '127.0.0.121', domain: 'small.hearth.example', config: { limits: { rosterItems: 3 } } });
      await small.addUser('alice', PASSWORD);
    });

    after(async function () {
      await small?.stop();
    });

    it('refuses a fourth item with not-allowed, while existing items can still change', async function () {
      const alice = acknowledgePushes(await connect(small, 'alice', PASSWORD, { resource: 'desk', mechanism: 'PLAIN' }));
      clients.push(alice);
      await rosterGet(alice);
      for (const n of [1, 2, 3]) {
        const reply = await rosterSet(alice, { jid: `friend${n}@${small.domain}` });
        expect(reply.attrs.type, `item ${n}`).to.equal('result');
      }
      const inbox = collectStanzas(alice);
      const refused = await rosterSet(alice, { jid: `friend4@${small.domain}`, name: 'One too many' });
      expect(refused.attrs.type).to.equal('error');
      expect(errorOf(refused)).to.deep.equal({ type: 'cancel', condition: 'not-allowed' });
      await delay(QUIET_MS);
      expect(inbox.filter(isPush)).to.have.length(0);

      // At the limit, updating an existing item is still fine.
      const update = await rosterSet(alice, { jid: `friend2@${small.domain}`, name: 'Renamed' });
      expect(update.attrs.type).to.equal('result');
      const items = (await rosterGet(alice)).getChild('query', NS_ROSTER)!.getChildElements();
      expect(items.map((i) => i.attrs.jid).sort()).to.deep.equal([1, 2, 3].map((n) => `friend${n}@${small.domain}`));
    });
  });

  describe('versioning (§2.6, XEP-0237)', function () {
    it('answers a get with the current version with an empty result', async function () {
      const alice = await login(await account('alice'), 'desk');
      await rosterSet(alice, { jid: `x@${ts.domain}`, name: 'X' });
      const full = (await rosterGet(alice)).getChild('query', NS_ROSTER)!;
      const current = full.attrs.ver!;
      expect(full.getChildElements()).to.have.length(1);

      const inbox = collectStanzas(alice);
      const result = await rosterGet(alice, current);
      expect(result.attrs).to.include({ type: 'result', to: alice.jid!.toString() });
      expect(result.getChildElements(), 'up to date: no query child (§2.6.3)').to.have.length(0);
      await delay(QUIET_MS);
      expect(inbox.filter(isPush), 'nothing changed, nothing pushed').to.have.length(0);
    });

    it('answers a get with an older version with an empty result, then pushes the changes since', async function () {
      const local = await account('alice');
      const desk = await login(local, 'desk');
      const a = `a@${ts.domain}`;
      const b = `b@${ts.domain}`;
      const c = `c@${ts.domain}`;
      const d = `d@${ts.domain}`;
      await rosterSet(desk, { jid: d, name: 'Unchanged' });
      await rosterSet(desk, { jid: a, name: 'A' });
      const old = (await rosterGet(desk)).getChild('query', NS_ROSTER)!.attrs.ver!;
      // Since `old`: b added, a renamed, c added then removed.
      await rosterSet(desk, { jid: b, name: 'B', groups: ['G'] });
      await rosterSet(desk, { jid: a, name: 'A2' });
      await rosterSet(desk, { jid: c, name: 'C' });
      await rosterSet(desk, { jid: c, subscription: 'remove' });
      const current = (await rosterGet(desk)).getChild('query', NS_ROSTER)!.attrs.ver!;
      expect(current).to.not.equal(old);

      // A new session with a cached roster at `old` logs in.
      const phone = await login(local, 'phone');
      const inbox = collectStanzas(phone);
      const result = await rosterGet(phone, old);
      expect(result.attrs).to.include({ type: 'result', to: phone.jid!.toString() });
      expect(result.getChildElements(), 'an older version: empty result, then pushes (§2.6.3)').to.have.length(0);

      const deadline = Date.now() + 3_000;
      while (inbox.filter(isPush).length < 3 && Date.now() < deadline) await delay(20);
      await delay(QUIET_MS);
      const pushes = inbox.filter(isPush);
      // The result came before any of the pushes.
      const resultAt = inbox.findIndex((el) => el.is('iq') && el.attrs.id === result.attrs.id);
      expect(resultAt).to.be.at.least(0);
      for (const push of pushes) expect(inbox.indexOf(push)).to.be.greaterThan(resultAt);
      const byJid = new Map(pushes.map((p) => [pushedItem(p).attrs.jid, pushedItem(p)]));
      expect([...byJid.keys()].sort(), 'one push per item changed since, and no other').to.deep.equal([a, b, c]);
      expect(pushes).to.have.length(3);
      expect(byJid.get(a)!.attrs).to.deep.equal({ jid: a, name: 'A2', subscription: 'none' });
      expect(byJid.get(b)!.attrs).to.deep.equal({ jid: b, name: 'B', subscription: 'none' });
      expect(groupsOf(byJid.get(b)!)).to.deep.equal(['G']);
      expect(byJid.get(c)!.attrs).to.deep.equal({ jid: c, subscription: 'remove' });
      for (const push of pushes) {
        expectPushAddressing(push, phone);
        expect(push.getChild('query', NS_ROSTER)!.attrs.ver).to.be.a('string').and.not.equal('');
      }
      // After the last push, the client's cache is at the current version.
      expect(pushes[pushes.length - 1]!.getChild('query', NS_ROSTER)!.attrs.ver).to.equal(current);
    });

    it('sends the catch-up pushes only to the resource that asked, not to others already up to date', async function () {
      const local = await account('alice');
      const desk = await login(local, 'desk');
      await rosterGet(desk);
      await rosterSet(desk, { jid: `e@${ts.domain}` });
      const old = (await rosterGet(desk)).getChild('query', NS_ROSTER)!.attrs.ver!;
      await rosterSet(desk, { jid: `f@${ts.domain}` });
      await delay(100);

      const phone = await login(local, 'phone');
      const deskInbox = collectStanzas(desk);
      const phoneInbox = collectStanzas(phone);
      await rosterGet(phone, old);
      await delay(QUIET_MS);
      expect(phoneInbox.filter(isPush).map((p) => pushedItem(p).attrs.jid)).to.deep.equal([`f@${ts.domain}`]);
      expect(deskInbox.filter(isPush), 'desk already saw that change').to.have.length(0);
    });

    for (const ver of ['not-a-version', '999999999', '-1', '1e3']) {
      it(`answers a get with an unknown version "${ver}" with the full roster`, async function () {
        const alice = await login(await account('alice'), 'desk');
        await rosterSet(alice, { jid: `g@${ts.domain}`, name: 'G' });
        await rosterSet(alice, { jid: `h@${ts.domain}`, name: 'H' });
        const current = (await rosterGet(alice)).getChild('query', NS_ROSTER)!.attrs.ver;
        const result = await rosterGet(alice, ver);
        expect(result.attrs.type).to.equal('result');
        const query = result.getChild('query', NS_ROSTER)!;
        expect(query, 'the full roster').to.not.equal(undefined);
        expect(query.attrs.ver).to.equal(current);
        expect(query.getChildElements().map((i) => i.attrs.jid).sort()).to.deep.equal([`g@${ts.domain}`, `h@${ts.domain}`]);
      });
    }

    it('answers a get with an empty version (client without a cache) with the full roster', async function () {
      const alice = await login(await account('alice'), 'desk');
      await rosterSet(alice, { jid: `i@${ts.domain}` });
      const result = await rosterGet(alice, '');
      const query = result.getChild('query', NS_ROSTER)!;
      expect(query.attrs.ver).to.be.a('string').and.not.equal('');
      expect(query.getChildElements().map((i) => i.attrs.jid)).to.deep.equal([`i@${ts.domain}`]);
    });
  });

  describe('stream features (raw socket, plaintext loopback server)', function () {
    let plain: TestServer;

    before(async function () {
      plain = await startTestServer({ host: '127.0.0.122', domain: 'plain.hearth.example', config: { c2s: { requireTls: false, allowPlaintextAuth: true } } });
      await plain.addUser('raw', PASSWORD);
    });

    after(async function () {
      await plain?.stop();
    });

    it('advertises roster versioning and subscription pre-approval after authentication', async function () {
      const raw = await RawConnection.open(plain.host, plain.port);
      try {
        raw.send(streamHeader(plain.domain));
        const before = await raw.waitFor(/<stream:features>.*?<\/stream:features>/);
        expect(before).to.match(/<mechanisms /);
        raw.send(plainAuth('raw', PASSWORD));
        await raw.waitFor(/<success /);
        raw.send(streamHeader(plain.domain));
        const features = await withTimeout(raw.waitFor(/<stream:features><bind[^]*?<\/stream:features>/), 3_000, 'post-auth features');
        expect(features).to.match(/<ver xmlns=(['"])urn:xmpp:features:rosterver\1\s*\/>/);
        expect(features).to.match(/<sub xmlns=(['"])urn:xmpp:features:pre-approval\1\s*\/>/);
      } finally {
        raw.destroy();
      }
    });
  });
});
