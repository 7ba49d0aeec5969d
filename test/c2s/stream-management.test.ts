// XEP-0198 Stream Management as a phone sees it: enable, acknowledgements, a killed
// connection that hibernates the session, resumption with the unacknowledged stanzas resent
// exactly once, failed resumptions, and expiry handing the queue to offline storage.
// Raw sockets for the protocol itself; @xmpp/client for the other users.
import { expect } from 'chai';
import { plainAuth, RawConnection, streamHeader } from '../helpers/raw.js';
import { PASSWORD, RawClient, waitAfter } from '../helpers/raw-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { collectStanzas, connect, delay, roundTrip, stopQuietly, waitForStanza, xml, type Client, type Element } from '../helpers/xmpp-client.js';

const NS_SM = 'urn:xmpp:sm:3';

describe('XEP-0198 stream management', function () {
  let ts: TestServer;
  before(async function () {
    ts = await startTestServer({
      host: '127.0.0.156',
      domain: 'sm.hearth.example',
      config: { c2s: { requireTls: false, allowPlaintextAuth: true, smMaxUnacked: 20 }, limits: { hibernatedPerAccount: 2 } },
    });
  });
  after(async function () {
    await ts?.stop();
  });
  const { account, raw, peer, friends, track, online } = workspace(() => ts);

  async function send(from: Client, to: string, id: string, ...extra: Element[]): Promise<void> {
    await from.send(xml('message', { to, type: 'chat', id }, xml('body', {}, `text of ${id}`), ...extra));
  }

  /** XEP-0441: the account archives nothing, so what it misses must go to offline storage. */
  async function archiveNothing(client: RawClient): Promise<void> {
    const reply = await client.request(`<iq type='set' id='prefs'><prefs xmlns='urn:xmpp:mam:2' default='never'/></iq>`, /<iq [^>]*id=["']prefs["'][^>]*>/);
    expect(reply).to.match(/type=["']result["']/);
  }

  describe('enabling and acknowledging', function () {
    it('enables with resumption: an unguessable id, resume=true and the configured max', async function () {
      const alice = await raw(await account('alice'));
      const { id, element } = await alice.enable(true);
      expect(element).to.match(/resume=['"]true['"]/);
      expect(element).to.match(/max=['"]300['"]/);
      // 128 random bits, base64url.
      expect(id).to.match(/^[A-Za-z0-9_-]{22}$/);
      const again = await alice.enable(true);
      expect(again.element).to.match(/<failed xmlns='urn:xmpp:sm:3'><unexpected-request /);
    });

    it('enables without resumption when not asked for, and gives no id', async function () {
      const alice = await raw(await account('alice'));
      const { id, element } = await alice.enable(false);
      expect(element).to.match(/^<enabled xmlns=['"]urn:xmpp:sm:3['"]\/>$/);
      expect(id).to.equal(null);
    });

    it('refuses <enable/> before a resource is bound', async function () {
      const user = await account('alice');
      const connection = await RawConnection.open(ts.host, ts.port);
      track(connection);
      connection.send(streamHeader(ts.domain));
      await connection.waitFor(/<\/stream:features>/);
      connection.send(plainAuth(user, PASSWORD));
      await connection.waitFor(/<success/);
      connection.send(streamHeader(ts.domain).replace("<?xml version='1.0'?>", ''));
      await connection.waitFor(/<\/stream:features>[\s\S]*<\/stream:features>/);
      const before = connection.text.length;
      connection.send(`<enable xmlns='${NS_SM}' resume='true'/>`);
      expect(await waitAfter(connection, before, /<failed [\s\S]*?<\/failed>/)).to.contain('<unexpected-request ');
    });

    it('counts the client\'s stanzas in h and answers <r/> with it', async function () {
      const alice = await raw(await account('alice'));
      await alice.enable();
      expect(await alice.serverH()).to.equal(0);
      for (let i = 0; i < 3; i++) alice.raw.send(`<iq type='get' id='p${i}' to='${ts.domain}'><ping xmlns='urn:xmpp:ping'/></iq>`);
      expect(await alice.serverH()).to.equal(3);
    });

    it('counts the answer to a legacy session request like any stanza it sends', async function () {
      const alice = await raw(await account('alice'));
      await alice.enable();
      await alice.request(`<iq type='set' id='legacy'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>`, /id=["']legacy["']/);
      // Acknowledging that one answer is exactly right: no handled-count-too-high.
      alice.raw.send(`<a xmlns='${NS_SM}' h='1'/>`);
      expect(await alice.serverH()).to.equal(1);
      expect(alice.raw.ended).to.equal(false);
    });

    it('asks for acknowledgements in batches, not one per stanza, and forgets what is acknowledged', async function () {
      const [a, b] = await friends();
      const alice = await raw(a);
      await alice.enable();
      const bob = await peer(b);
      const start = alice.raw.text.length;
      for (let i = 0; i < 12; i++) await send(bob.client, alice.jid, `m${i}`);
      await waitAfter(alice.raw, start, /id="m11"/);
      await delay(100);
      const requests = (alice.raw.text.slice(start).match(/<r xmlns='urn:xmpp:sm:3'\/>/g) ?? []).length;
      // One request outstanding at a time: the client has not answered, so exactly one.
      expect(requests).to.equal(1);
      // Acknowledging everything empties the queue: more than smMaxUnacked (20) can follow.
      alice.raw.send(`<a xmlns='${NS_SM}' h='${alice.stanzaCount(start)}'/>`);
      const next = alice.raw.text.length;
      for (let i = 12; i < 24; i++) await send(bob.client, alice.jid, `m${i}`);
      await waitAfter(alice.raw, next, /id="m23"/);
      expect(alice.raw.ended).to.equal(false);
    });

    it('ends the stream with undefined-condition when h acknowledges more than was sent', async function () {
      const alice = await raw(await account('alice'));
      await alice.enable();
      alice.raw.send(`<a xmlns='${NS_SM}' h='5'/>`);
      expect(await alice.raw.streamErrorAndClose()).to.equal('undefined-condition');
      expect(alice.raw.text).to.match(/<handled-count-too-high xmlns=['"]urn:xmpp:sm:3['"] h=['"]5['"] send-count=['"]0['"]\/>/);
    });

    it('ends the stream with policy-violation when the client leaves more than smMaxUnacked unacknowledged, and the queue goes to offline storage', async function () {
      const [a, b] = await friends();
      const alice = await raw(a);
      await archiveNothing(alice);
      await alice.enable();
      const bob = await peer(b);
      for (let i = 0; i < 25; i++) await send(bob.client, alice.jid, `q${i}`);
      expect(await alice.raw.streamErrorAndClose()).to.equal('policy-violation');
      await roundTrip(bob.client);
      // Unacknowledged and not in the archive: rerouted to the account, which is offline now.
      await waitUntil(async () => (await ts.server.stores.offline.count(a, ts.domain)) === 25, 'all 25 in offline storage');
    });
  });

  describe('resumption', function () {
    it('resumes after a killed connection: the same session, unacknowledged messages resent exactly once, no presence flap', async function () {
      const { a, alice, id, bob } = await online();
      const start = alice.raw.text.length;
      await send(bob.client, alice.jid, 'r1');
      await send(bob.client, alice.jid, 'r2');
      await waitAfter(alice.raw, start, /id="r2"/);
      // The phone acknowledges what it had before r1 (everything up to bob's presence).
      const handledBefore = alice.stanzaCount() - 2;
      alice.raw.destroy();
      await delay(200);
      // Hibernated: bob's messages keep coming in, and bob sees alice as online throughout.
      await send(bob.client, alice.jid, 'r3');
      await roundTrip(bob.client);

      const resumed = await RawClient.login(ts, a, { resume: { previd: id!, h: handledBefore } });
      track(resumed.raw);
      expect(resumed.reply).to.match(new RegExp(`^<resumed xmlns='${NS_SM}' previd='${id}' h='1'/>$`));
      await waitAfter(resumed.raw, 0, /id="r3"/);
      await delay(100);
      const ids = [...resumed.raw.text.matchAll(/<message [^>]*id="([^"]+)"/g)].map((m) => m[1]);
      expect(ids).to.deep.equal(['r1', 'r2', 'r3']);
      // The same session: still bound under the same full JID, still available.
      const after = resumed.raw.text.length;
      await send(bob.client, alice.jid, 'r4');
      await waitAfter(resumed.raw, after, /id="r4"/);
      expect(bob.inbox.filter((el) => el.is('presence') && el.attrs.from === alice.jid && el.attrs.type === 'unavailable')).to.deep.equal([]);
    });

    it('keeps what client state indication held across hibernation: resent once on resumption, and the resumed session is active', async function () {
      const { a, alice, id, bob } = await online();
      // The phone goes inactive: bob's status change is held (XEP-0352), not sent.
      await alice.request(`<inactive xmlns='urn:xmpp:csi:0'/><iq type='get' id='csi-ping' to='${ts.domain}'><ping xmlns='urn:xmpp:ping'/></iq>`, /id=["']csi-ping["']/);
      const held = alice.raw.text.length;
      await bob.client.send(xml('presence', {}, xml('status', {}, 'held while inactive')));
      await roundTrip(bob.client);
      await delay(100);
      expect(alice.raw.text.slice(held)).not.to.contain('held while inactive');
      const handled = alice.stanzaCount();
      alice.raw.destroy();
      await delay(200);
      const resumed = await RawClient.login(ts, a, { resume: { previd: id!, h: handled } });
      track(resumed.raw);
      expect(resumed.reply).to.match(/^<resumed /);
      await waitAfter(resumed.raw, 0, /held while inactive/);
      // Active again: a chat state (which an inactive session would hold) arrives at once.
      await bob.client.send(xml('message', { to: alice.jid, type: 'chat', id: 'typing' }, xml('composing', { xmlns: 'http://jabber.org/protocol/chatstates' })));
      await waitAfter(resumed.raw, 0, /id="typing"/);
      expect((resumed.raw.text.match(/held while inactive/g) ?? []).length).to.equal(1);
    });

    it('closes a connection that is still open with conflict when its session is resumed elsewhere', async function () {
      const a = await account('alice');
      const first = await raw(a);
      const { id } = await first.enable();
      const h = await first.serverH();
      const second = await RawClient.login(ts, a, { resume: { previd: id!, h } });
      track(second.raw);
      expect(second.reply).to.match(/^<resumed /);
      expect(await first.raw.streamErrorAndClose()).to.equal('conflict');
      // The resumed stream carries on: the same counters (the client sent no stanza yet).
      expect(await new RawClient(second.raw, first.jid).serverH()).to.equal(0);
    });

    it('refuses a resumption that acknowledges more than was sent, and the session waits on', async function () {
      const a = await account('alice');
      const alice = await raw(a);
      const { id } = await alice.enable();
      alice.raw.destroy();
      await delay(100);
      const greedy = await RawClient.login(ts, a, { resume: { previd: id!, h: 7 } });
      track(greedy.raw);
      expect(greedy.reply).to.match(/<undefined-condition /);
      expect(greedy.reply).to.match(/<handled-count-too-high xmlns='urn:xmpp:sm:3' h='7' send-count='0'\/>/);
      const honest = await RawClient.login(ts, a, { resume: { previd: id!, h: 0 } });
      track(honest.raw);
      expect(honest.reply).to.match(/^<resumed /);
    });

    it('answers an unknown id with <failed> item-not-found', async function () {
      const a = await account('alice');
      const result = await RawClient.login(ts, a, { resume: { previd: 'AAAAAAAAAAAAAAAAAAAAAA', h: 0 } });
      track(result.raw);
      expect(result.reply).to.match(/^<failed xmlns='urn:xmpp:sm:3'><item-not-found /);
      // The stream stays usable: the client binds a new session instead.
      result.raw.send(`<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`);
      await result.raw.waitFor(/<jid>/);
    });

    it('refuses another account\'s session id, and the session stays untouched', async function () {
      const [a, b] = await friends();
      const alice = await raw(a);
      const { id } = await alice.enable();
      const bob = await peer(b);
      const stolen = await RawClient.login(ts, b, { resume: { previd: id!, h: 0 } });
      track(stolen.raw);
      expect(stolen.reply).to.match(/^<failed xmlns='urn:xmpp:sm:3'><item-not-found /);
      expect(stolen.reply).not.to.match(/ h=/);
      // alice's connection is still open and still gets her messages.
      const before = alice.raw.text.length;
      await send(bob.client, alice.jid, 'still-mine');
      await waitAfter(alice.raw, before, /id="still-mine"/);
      expect(alice.raw.ended).to.equal(false);
    });

    it('keeps at most limits.hibernatedPerAccount hibernated sessions per account: the oldest ends', async function () {
      const a = await account('alice');
      const ids: string[] = [];
      for (const resource of ['one', 'two', 'three']) {
        const client = await raw(a, resource);
        ids.push((await client.enable()).id!);
        client.raw.destroy();
        await delay(100);
      }
      const oldest = await RawClient.login(ts, a, { resume: { previd: ids[0]!, h: 0 } });
      track(oldest.raw);
      expect(oldest.reply).to.match(/^<failed /);
      const newest = await RawClient.login(ts, a, { resume: { previd: ids[2]!, h: 0 } });
      track(newest.raw);
      expect(newest.reply).to.match(/^<resumed /);
    });

    it('replaces a hibernated session cleanly when the same resource binds again', async function () {
      const [a, b] = await friends();
      const alice = await raw(a, 'phone');
      const { id } = await alice.enable();
      const bob = await peer(b);
      const start = alice.raw.text.length;
      await send(bob.client, alice.jid, 'x1');
      await send(bob.client, alice.jid, 'x2', xml('no-store', { xmlns: 'urn:xmpp:hints' }));
      await waitAfter(alice.raw, start, /id="x2"/);
      alice.raw.destroy();
      await delay(200);
      // A new login binds the same resource instead of resuming: the old session ends, and of
      // its unacknowledged messages the one not in the archive goes to the new session, once;
      // the archived one waits in the archive (no second delivery).
      const fresh = await raw(a, 'phone');
      fresh.raw.send('<presence/>');
      await waitAfter(fresh.raw, 0, /id="x2"/);
      await roundTrip(bob.client);
      await delay(100);
      expect(fresh.messageIds()).to.deep.equal(['x2']);
      const stale = await RawClient.login(ts, a, { resume: { previd: id!, h: 0 } });
      track(stale.raw);
      expect(stale.reply).to.match(/^<failed /);
    });
  });
});

describe('XEP-0198 expiry and dead connections', function () {
  let ts: TestServer;
  before(async function () {
    ts = await startTestServer({
      host: '127.0.0.157',
      domain: 'sm-expiry.hearth.example',
      config: { c2s: { requireTls: false, allowPlaintextAuth: true, smResumeTimeoutS: 1, pingIntervalS: 1, pingTimeoutS: 1 } },
    });
  });
  after(async function () {
    await ts?.stop();
  });
  const { raw, peer: bobOnline, friends, track } = workspace(() => ts);

  it('on expiry moves unacknowledged messages to offline storage, drops headlines, and only then sends unavailable', async function () {
    const [a, b] = await friends();
    const alice = await raw(a);
    const prefs = await alice.request(`<iq type='set' id='prefs'><prefs xmlns='urn:xmpp:mam:2' default='never'/></iq>`, /<iq [^>]*id=["']prefs["'][^>]*>/);
    expect(prefs).to.match(/type=["']result["']/);
    const { id } = await alice.enable();
    alice.raw.send('<presence/>');
    const bob = await bobOnline(b);
    await waitForStanza(bob.inbox, (el) => el.is('presence') && el.attrs.from === alice.jid && el.attrs.type === undefined, 'alice online');
    const start = alice.raw.text.length;
    for (const [type, mid] of [['chat', 'e1'], ['normal', 'e2'], ['headline', 'e3']] as const) {
      await bob.client.send(xml('message', { to: alice.jid, type, id: mid }, xml('body', {}, mid)));
    }
    await waitAfter(alice.raw, start, /id="e3"/);
    alice.raw.destroy();
    // Hibernated: no unavailable yet, and /metrics counts it.
    await delay(300);
    expect(bob.inbox.some((el) => el.is('presence') && el.attrs.type === 'unavailable')).to.equal(false);
    expect(await ts.server.metrics.render()).to.match(/^hearth_sm_hibernated_sessions 1$/m);
    const gone = await waitForStanza(bob.inbox, (el) => el.is('presence') && el.attrs.from === alice.jid && el.attrs.type === 'unavailable', 'unavailable after expiry', 5_000);
    expect(gone).to.not.equal(undefined);
    // By the time contacts see the resource go, its messages are stored.
    const stored = await ts.server.stores.offline.list(a, ts.domain);
    expect(stored.map((m) => /id="([^"]+)"/.exec(m.stanza)?.[1])).to.deep.equal(['e1', 'e2']);
    expect(await ts.server.metrics.render()).to.match(/^hearth_sm_hibernated_sessions 0$/m);
    // A late resumption learns how much the server had received (h) and fails.
    const late = await RawClient.login(ts, a, { resume: { previd: id!, h: 0 } });
    track(late.raw);
    expect(late.reply).to.match(/^<failed xmlns='urn:xmpp:sm:3' h='1'><item-not-found /);
  });

  it('probes a silent connection with <r/> and drops it when no answer comes; the session hibernates, then expires', async function () {
    const [a, b] = await friends();
    const alice = await raw(a);
    await alice.enable();
    alice.raw.send('<presence/>');
    const bob = await bobOnline(b);
    await waitForStanza(bob.inbox, (el) => el.is('presence') && el.attrs.from === alice.jid && el.attrs.type === undefined, 'alice online');
    // The phone vanished without closing TCP: it reads nothing and says nothing.
    await alice.raw.waitFor(/<r xmlns='urn:xmpp:sm:3'\/>/, 4_000);
    await withTimeoutOf(alice.raw.closed, 5_000, 'the server dropping the silent connection');
    await waitForStanza(bob.inbox, (el) => el.is('presence') && el.attrs.from === alice.jid && el.attrs.type === 'unavailable', 'unavailable after expiry', 5_000);
  });

  it('keeps a connection that answers the probe', async function () {
    const [a] = await friends();
    const alice = await raw(a);
    await alice.enable();
    for (let i = 0; i < 2; i++) {
      const before = alice.raw.text.length;
      await waitAfter(alice.raw, before, /<r xmlns='urn:xmpp:sm:3'\/>/, 4_000);
      alice.raw.send(`<a xmlns='urn:xmpp:sm:3' h='0'/>`);
    }
    expect(alice.raw.ended).to.equal(false);
  });

  it('probes a silent connection without stream management with a ping', async function () {
    const [a] = await friends();
    const alice = await raw(a);
    await alice.raw.waitFor(/<iq type='get' id='ping-[^']+' from='sm-expiry.hearth.example' to='[^']+'><ping xmlns='urn:xmpp:ping'\/><\/iq>/, 4_000);
    await withTimeoutOf(alice.raw.closed, 5_000, 'the server dropping the silent connection');
  });
});

/**
 * Accounts and connections of one describe block, against the server `server()` gives;
 * every connection is closed after each test.
 */
function workspace(server: () => TestServer) {
  let users = 0;
  const clients: Client[] = [];
  const raws: RawConnection[] = [];
  afterEach(async function () {
    for (const connection of raws.splice(0)) connection.destroy();
    await Promise.all(clients.splice(0).map(stopQuietly));
  });
  const account = async (name: string): Promise<string> => {
    const local = `${name}${++users}`;
    await server().addUser(local, PASSWORD);
    return local;
  };
  const api = {
    account,
    /** Closed after the test. */
    track: (connection: RawConnection) => void raws.push(connection),
    async raw(user: string, resource = 'phone'): Promise<RawClient> {
      const { client, raw: connection } = await RawClient.login(server(), user, { resource });
      raws.push(connection);
      return client!;
    },
    /** An @xmpp/client user, online, collecting what it receives. */
    async peer(user: string): Promise<{ client: Client; inbox: Element[] }> {
      const client = await connect(server(), user, PASSWORD, { resource: 'desk', mechanism: 'PLAIN' });
      clients.push(client);
      const inbox = collectStanzas(client);
      await client.send(xml('presence'));
      await roundTrip(client);
      return { client, inbox };
    },
    /**
     * Friends alice (a raw client with stream management and resumption, available) and bob
     * (an @xmpp/client user who has seen alice come online).
     */
    async online(): Promise<{ a: string; b: string; alice: RawClient; id: string; bob: { client: Client; inbox: Element[] } }> {
      const [a, b] = await api.friends();
      const alice = await api.raw(a);
      const { id } = await alice.enable();
      alice.raw.send('<presence/>');
      const bob = await api.peer(b);
      await waitForStanza(bob.inbox, (el) => el.is('presence') && el.attrs.from === alice.jid && el.attrs.type === undefined, 'alice online at bob');
      return { a, b, alice, id: id!, bob };
    },
    /** alice and bob with a mutual subscription, set up through the server's own service. */
    async friends(): Promise<[string, string]> {
      const ts = server();
      const a = await account('alice');
      const b = await account('bob');
      await ts.server.services.rosters.add(`${a}@${ts.domain}`, { jid: `${b}@${ts.domain}`, subscription: 'both' });
      await ts.server.services.rosters.add(`${b}@${ts.domain}`, { jid: `${a}@${ts.domain}`, subscription: 'both' });
      return [a, b];
    },
  };
  return api;
}

async function withTimeoutOf(promise: Promise<void>, ms: number, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function waitUntil(check: () => Promise<boolean>, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(20);
  }
}
