// Group-chat rooms through the admin HTTP API, as an operator's script uses it: real HTTP
// requests against a started server (every answer checked against the OpenAPI document),
// and what they do checked the way XMPP users see it (@xmpp/client, XEP-0045 stanzas).
import { expect } from 'chai';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { collectStanzas, connect, delay, roundTrip, stopQuietly, xml, type Client, type Element } from '../helpers/xmpp-client.js';
import { AdminApi, seg } from './helpers/api.js';

// Shared with test/c2s/edge.test.ts, whose servers never run at the same time as this one.
const HOST = '127.0.0.102';
const DOMAIN = 'hearth.example';
const SERVICE = `conference.${DOMAIN}`;
const PASSWORD = 'rooms-test-secret';
const NS_MUC = 'http://jabber.org/protocol/muc';
const NS_MUC_USER = 'http://jabber.org/protocol/muc#user';
const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';
const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

interface User {
  local: string;
  bare: string;
  client: Client;
  inbox: Element[];
}

/** The <x xmlns=muc#user/> of a presence: its status codes, its item, a <destroy/>. */
function mucUser(presence: Element): { codes: string[]; item: Element | undefined; destroy: Element | undefined } {
  const x = presence.getChild('x', NS_MUC_USER);
  return {
    codes: (x?.getChildren('status') ?? []).map((s) => s.attrs.code as string).sort(),
    item: x?.getChild('item'),
    destroy: x?.getChild('destroy'),
  };
}

describe('admin HTTP API: group-chat rooms', function () {
  let ts: TestServer;
  let api: AdminApi;
  const clients: Client[] = [];
  let serial = 0;

  before(async function () {
    this.timeout(60_000); // the first server of a process builds the database template
    ts = await startTestServer({ host: HOST, domain: DOMAIN });
    api = await AdminApi.open(ts.adminUrl, (await ts.server.services.tokens.create({ name: 'rooms-test' })).token);
  });

  afterEach(async function () {
    await Promise.all(clients.splice(0).map(stopQuietly));
  });

  after(async function () {
    await ts?.stop();
  });

  const room = (name: string) => `${name}${++serial}@${SERVICE}`;

  /** A fresh account, logged in with initial presence. */
  async function user(name: string): Promise<User> {
    const local = `${name}${++serial}`;
    const bare = await ts.addUser(local, PASSWORD);
    const client = await connect(ts, local, PASSWORD, { resource: 'r', mechanism: 'PLAIN' });
    clients.push(client);
    const inbox = collectStanzas(client);
    await client.send(xml('presence'));
    await roundTrip(client);
    return { local, bare, client, inbox };
  }

  /** The first stanza since `since` in the user's inbox that matches, already there or still to come. */
  async function waitUntil(who: User, since: number, match: (el: Element) => boolean, what = 'a stanza'): Promise<Element> {
    const deadline = Date.now() + 3_000;
    for (;;) {
      const found = who.inbox.slice(since).find(match);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got:\n${who.inbox.slice(since).join('\n')}`);
      await delay(10);
    }
  }

  /**
   * The room as GET /api/v1/rooms lists it, once it does (undefined if it never does within
   * 3 s), or once it no longer does (`gone`). The list comes from the database, which a room
   * writes to after it has answered, a few milliseconds later.
   */
  async function listed(jid: string, gone = false): Promise<Record<string, unknown> | undefined> {
    const deadline = Date.now() + 3_000;
    for (;;) {
      const response = await api.get('/api/v1/rooms');
      expect(response.status).to.equal(200);
      const found = (response.body.rooms as Array<Record<string, unknown>>).find((r) => r.jid === jid);
      if ((found !== undefined) !== gone || Date.now() > deadline) return found;
      await delay(10);
    }
  }

  /** Sends the XEP-0045 §7.2 entry presence; resolves with the self-presence (110) or the error. */
  async function join(who: User, roomJid: string, nick: string, extra: Element[] = []): Promise<Element> {
    const since = who.inbox.length;
    await who.client.send(xml('presence', { to: `${roomJid}/${nick}` }, xml('x', { xmlns: NS_MUC }, ...extra)));
    return waitUntil(
      who,
      since,
      (el) => el.is('presence') && el.attrs.from === `${roomJid}/${nick}` && (el.attrs.type === 'error' || mucUser(el).codes.includes('110')),
      `the answer to entering ${roomJid}`,
    );
  }

  describe('authentication', function () {
    it('refuses every room endpoint without a token, or with a bad one (401)', async function () {
      const operations = api.operations().filter(({ template }) => template.startsWith('/api/v1/rooms'));
      expect(operations.map(({ method, template }) => `${method} ${template}`).sort()).to.deep.equal([
        'delete /api/v1/rooms/{jid}',
        'get /api/v1/rooms',
        'get /api/v1/rooms/{jid}/affiliations',
        'post /api/v1/rooms',
        'put /api/v1/rooms/{jid}/affiliations/{memberJid}',
      ]);
      const existing = room('guarded');
      expect((await api.post('/api/v1/rooms', { jid: existing })).status).to.equal(201);
      for (const { method, template } of operations) {
        const path = template.replace('{jid}', seg(existing)).replace('{memberJid}', seg(`someone@${DOMAIN}`));
        for (const token of [null, 'hearth_' + 'B'.repeat(43)]) {
          const body = method === 'post' ? { jid: room('never') } : method === 'put' ? { affiliation: 'outcast' } : undefined;
          const refused = await api.request(method.toUpperCase(), path, { token, body });
          expect(refused.status, `${method} ${path}`).to.equal(401);
          expect(refused.body.error).to.equal('unauthorized');
        }
      }
      // Nothing happened: the room is there, with nobody banned.
      expect((await api.get(`/api/v1/rooms/${seg(existing)}/affiliations`)).body).to.deep.equal({ affiliations: [] });
    });
  });

  describe('creating and listing', function () {
    it('creates a room with its configuration and owners that a client can enter at once, and lists it with its occupants', async function () {
      const [alice, bob] = [await user('alice'), await user('bob')];
      const jid = room('lobby');
      const created = await api.post('/api/v1/rooms', {
        jid,
        settings: { name: 'The Lobby', description: 'Say hello', whois: 'anyone', maxUsers: 50, historyLength: 5, changeSubject: true },
        owners: [alice.bare],
      });
      expect(created.status, created.text).to.equal(201);
      expect(created.body).to.deep.equal({ jid, name: 'The Lobby', occupants: 0, persistent: true, public: true, membersOnly: false });

      // The room exists, configured and unlocked: bob enters it (no 201: he did not create it).
      const self = await join(bob, jid, 'bobby');
      expect(self.attrs.type, String(self)).to.equal(undefined);
      expect(mucUser(self).codes).to.include('110').and.not.include('201');
      expect(mucUser(self).codes, 'non-anonymous (whois anyone)').to.include('100');
      expect(mucUser(self).item?.attrs).to.include({ affiliation: 'none', role: 'participant' });
      const info = await bob.client.iqCaller.request(xml('iq', { type: 'get', to: jid }, xml('query', { xmlns: NS_DISCO_INFO })));
      const query = info.getChild('query', NS_DISCO_INFO)!;
      expect(query.getChild('identity')!.attrs.name).to.equal('The Lobby');
      const features = query.getChildren('feature').map((f) => f.attrs.var as string);
      expect(features).to.include.members(['muc_persistent', 'muc_public', 'muc_open', 'muc_nonanonymous', 'muc_unsecured']);

      // The owner named in the request is the room's owner.
      const owner = await join(alice, jid, 'alice');
      expect(mucUser(owner).item?.attrs).to.include({ affiliation: 'owner', role: 'moderator' });

      expect(await listed(jid)).to.deep.equal({ jid, name: 'The Lobby', occupants: 2, persistent: true, public: true, membersOnly: false });
      const ofService = await api.get(`/api/v1/rooms?domain=${SERVICE}`);
      expect(ofService.body.rooms.map((r: { jid: string }) => r.jid)).to.include(jid);
      expect((await api.get(`/api/v1/rooms/${seg(jid)}/affiliations`)).body).to.deep.equal({
        affiliations: [{ jid: alice.bare, affiliation: 'owner', nick: null }],
      });
    });

    it('creates members-only, hidden, password-protected rooms as asked', async function () {
      const bob = await user('bob');
      const jid = room('private');
      const created = await api.post('/api/v1/rooms', { jid, settings: { membersOnly: true, public: false, password: 'sesame' } });
      expect(created.body).to.deep.include({ membersOnly: true, public: false, persistent: true, name: '' });
      const refused = await join(bob, jid, 'bob');
      expect(refused.attrs.type).to.equal('error');
      expect(refused.getChild('error')!.getChild('registration-required', NS_STANZAS), String(refused)).to.exist;

      expect((await api.put(`/api/v1/rooms/${seg(jid)}/affiliations/${seg(bob.bare)}`, { affiliation: 'member' })).status).to.equal(204);
      const noPassword = await join(bob, jid, 'bob');
      expect(noPassword.getChild('error')!.getChild('not-authorized', NS_STANZAS), String(noPassword)).to.exist;
      const entered = await join(bob, jid, 'bob', [xml('password', {}, 'sesame')]);
      expect(mucUser(entered).item?.attrs).to.include({ affiliation: 'member' });
      expect(await listed(jid)).to.deep.equal({ jid, name: '', occupants: 1, persistent: true, public: false, membersOnly: true });
    });

    it('lists rooms users created too, live ones with their occupants', async function () {
      const carol = await user('carol');
      const jid = room('adhoc');
      const self = await join(carol, jid, 'carol');
      expect(mucUser(self).codes).to.include('201');
      await carol.client.iqCaller.request(
        xml('iq', { type: 'set', to: jid }, xml('query', { xmlns: 'http://jabber.org/protocol/muc#owner' }, xml('x', { xmlns: 'jabber:x:data', type: 'submit' }))),
      );
      expect(await listed(jid)).to.deep.include({ jid, occupants: 1, persistent: false });
    });

    it('answers 409 for a room that exists, 404 for a service that is not this server\'s, and 400 naming the field', async function () {
      const jid = room('taken');
      expect((await api.post('/api/v1/rooms', { jid })).status).to.equal(201);
      const again = await api.post('/api/v1/rooms', { jid, settings: { name: 'other' } });
      expect(again.status).to.equal(409);
      expect(again.body).to.include({ error: 'exists', field: 'jid' });

      const elsewhere = await api.post('/api/v1/rooms', { jid: 'room@conference.elsewhere.example' });
      expect(elsewhere.status).to.equal(404);
      expect(elsewhere.body).to.include({ error: 'not-found', field: 'jid' });
      const notService = await api.get('/api/v1/rooms?domain=elsewhere.example');
      expect(notService.status).to.equal(404);
      expect(notService.body.field).to.equal('domain');

      const invalid = async (body: unknown, field: string) => {
        const response = await api.post('/api/v1/rooms', body);
        expect(response.status, JSON.stringify(body)).to.equal(400);
        expect(response.body.error).to.equal('invalid');
        expect(response.body.field, JSON.stringify(response.body)).to.equal(field);
      };
      await invalid({}, 'jid');
      await invalid({ jid: SERVICE }, 'jid');
      await invalid({ jid: `${jid}/nick` }, 'jid');
      await invalid({ jid: room('x'), settings: { maxUsers: 0 } }, 'settings.maxUsers');
      await invalid({ jid: room('x'), settings: { maxUsers: 1_000_000 } }, 'settings.maxUsers');
      await invalid({ jid: room('x'), settings: { historyLength: 100_000 } }, 'settings.historyLength');
      await invalid({ jid: room('x'), settings: { whois: 'everyone' } }, 'settings.whois');
      await invalid({ jid: room('x'), settings: { public: 'yes' } }, 'settings.public');
      // A room an operator creates is persistent: a temporary one lives only while occupied.
      await invalid({ jid: room('x'), settings: { persistent: false } }, 'settings.persistent');
      await invalid({ jid: room('x'), settings: { name: 'x'.repeat(201) } }, 'settings.name');
      await invalid({ jid: room('x'), settings: { name: 'bell\u0007' } }, 'settings.name');
      await invalid({ jid: room('x'), settings: { colour: 'red' } }, 'settings.colour');
      await invalid({ jid: room('x'), owners: [`${DOMAIN}/resource`] }, 'owners');
      await invalid({ jid: room('x'), owners: 'alice' }, 'owners');
      await invalid({ jid: room('x'), extra: true }, 'extra');
      const badQuery = await api.get('/api/v1/rooms?limit=5');
      expect(badQuery.status).to.equal(400);
      expect(badQuery.body.field).to.equal('limit');
    });
  });

  describe('affiliations', function () {
    it('bans an occupant: it leaves with 301 and cannot come back until the ban is lifted', async function () {
      const [alice, bob] = [await user('alice'), await user('bob')];
      const jid = room('strict');
      expect((await api.post('/api/v1/rooms', { jid, owners: [alice.bare] })).status).to.equal(201);
      await join(alice, jid, 'alice');
      await join(bob, jid, 'bob');
      const aliceSince = alice.inbox.length;
      const bobSince = bob.inbox.length;

      const banned = await api.put(`/api/v1/rooms/${seg(jid)}/affiliations/${seg(bob.bare)}`, { affiliation: 'outcast' });
      expect(banned.status, banned.text).to.equal(204);
      expect(banned.text).to.equal('');
      const gone = await waitUntil(bob, bobSince, (el) => el.is('presence') && el.attrs.from === `${jid}/bob` && el.attrs.type === 'unavailable');
      expect(mucUser(gone).codes).to.deep.equal(['110', '301']);
      expect(mucUser(gone).item?.attrs).to.include({ affiliation: 'outcast', role: 'none' });
      const seen = await waitUntil(alice, aliceSince, (el) => el.is('presence') && el.attrs.from === `${jid}/bob` && el.attrs.type === 'unavailable');
      expect(mucUser(seen).codes, 'the others learn of the ban').to.deep.equal(['301']);

      const refused = await join(bob, jid, 'bob');
      expect(refused.getChild('error')!.getChild('forbidden', NS_STANZAS), String(refused)).to.exist;
      expect((await api.get(`/api/v1/rooms/${seg(jid)}/affiliations`)).body.affiliations).to.have.deep.members([
        { jid: alice.bare, affiliation: 'owner', nick: null },
        { jid: bob.bare, affiliation: 'outcast', nick: null },
      ]);

      expect((await api.put(`/api/v1/rooms/${seg(jid)}/affiliations/${seg(bob.bare)}`, { affiliation: 'none' })).status).to.equal(204);
      expect(mucUser(await join(bob, jid, 'bob')).codes).to.include('110');
      expect((await api.get(`/api/v1/rooms/${seg(jid)}/affiliations`)).body.affiliations).to.deep.equal([{ jid: alice.bare, affiliation: 'owner', nick: null }]);
    });

    it('makes an occupant an admin (a moderator at once) and bans whole domains', async function () {
      const bob = await user('bob');
      const jid = room('promote');
      expect((await api.post('/api/v1/rooms', { jid })).status).to.equal(201);
      await join(bob, jid, 'bob');
      const since = bob.inbox.length;
      expect((await api.put(`/api/v1/rooms/${seg(jid)}/affiliations/${seg(bob.bare)}`, { affiliation: 'admin' })).status).to.equal(204);
      const promoted = await waitUntil(bob, since, (el) => el.is('presence') && el.attrs.from === `${jid}/bob`);
      expect(mucUser(promoted).item?.attrs).to.include({ affiliation: 'admin', role: 'moderator' });
      expect((await api.put(`/api/v1/rooms/${seg(jid)}/affiliations/spam.example`, { affiliation: 'outcast' })).status).to.equal(204);
      expect((await api.get(`/api/v1/rooms/${seg(jid)}/affiliations`)).body.affiliations).to.have.deep.members([
        { jid: bob.bare, affiliation: 'admin', nick: null },
        { jid: 'spam.example', affiliation: 'outcast', nick: null },
      ]);
    });

    it('answers 404 for a room that does not exist and 400 naming the field', async function () {
      const missing = room('missing');
      const put = await api.put(`/api/v1/rooms/${seg(missing)}/affiliations/${seg(`bob@${DOMAIN}`)}`, { affiliation: 'member' });
      expect(put.status).to.equal(404);
      expect(put.body).to.include({ error: 'not-found', field: 'jid' });
      const list = await api.get(`/api/v1/rooms/${seg(missing)}/affiliations`);
      expect(list.status).to.equal(404);
      expect(list.body.field).to.equal('jid');
      expect((await api.get(`/api/v1/rooms/${seg('room@elsewhere.example')}/affiliations`)).status).to.equal(404);

      const jid = room('checked');
      expect((await api.post('/api/v1/rooms', { jid })).status).to.equal(201);
      const base = `/api/v1/rooms/${seg(jid)}/affiliations`;
      const badAffiliation = await api.put(`${base}/${seg(`bob@${DOMAIN}`)}`, { affiliation: 'king' });
      expect(badAffiliation.status).to.equal(400);
      expect(badAffiliation.body.field).to.equal('affiliation');
      const badMember = await api.put(`${base}/${seg(`bad jid@${DOMAIN}`)}`, { affiliation: 'member' });
      expect(badMember.status).to.equal(400);
      expect(badMember.body.field).to.equal('memberJid');
      const noBody = await api.request('PUT', `${base}/${seg(`bob@${DOMAIN}`)}`);
      expect(noBody.status).to.equal(400);
      expect(noBody.body.field).to.equal('body');
      const badRoom = await api.get(`/api/v1/rooms/${seg(SERVICE)}/affiliations`);
      expect(badRoom.status).to.equal(400);
      expect(badRoom.body.field).to.equal('jid');
    });
  });

  describe('destroying', function () {
    it('destroys a room: its occupants get the <destroy/> presence with the reason, and it is gone', async function () {
      const [alice, bob] = [await user('alice'), await user('bob')];
      const jid = room('doomed');
      expect((await api.post('/api/v1/rooms', { jid, owners: [alice.bare] })).status).to.equal(201);
      await join(alice, jid, 'alice');
      await join(bob, jid, 'bob');
      const since = bob.inbox.length;

      const destroyed = await api.delete(`/api/v1/rooms/${seg(jid)}?reason=${encodeURIComponent('Moving to #new')}`);
      expect(destroyed.status, destroyed.text).to.equal(204);
      const gone = await waitUntil(bob, since, (el) => el.is('presence') && el.attrs.from === `${jid}/bob` && el.attrs.type === 'unavailable');
      const { destroy, item } = mucUser(gone);
      expect(destroy, String(gone)).to.exist;
      expect(destroy!.getChildText('reason')).to.equal('Moving to #new');
      expect(item?.attrs).to.include({ affiliation: 'none', role: 'none' });
      await waitUntil(alice, 0, (el) => el.is('presence') && el.attrs.from === `${jid}/alice` && mucUser(el).destroy !== undefined);

      expect(await listed(jid, true)).to.equal(undefined);
      const again = await api.delete(`/api/v1/rooms/${seg(jid)}`);
      expect(again.status).to.equal(404);
      expect(again.body).to.include({ error: 'not-found', field: 'jid' });
      expect((await api.get(`/api/v1/rooms/${seg(jid)}/affiliations`)).status).to.equal(404);
      // The name is free again.
      expect((await api.post('/api/v1/rooms', { jid })).status).to.equal(201);
      expect((await api.delete(`/api/v1/rooms/${seg(jid)}`)).status, 'an empty room, without a reason').to.equal(204);
    });

    it('answers 404 for a room that does not exist and 400 for a bad query', async function () {
      const missing = await api.delete(`/api/v1/rooms/${seg(room('never'))}`);
      expect(missing.status).to.equal(404);
      expect((await api.delete(`/api/v1/rooms/${seg('room@elsewhere.example')}`)).status).to.equal(404);
      const unknownParameter = await api.delete(`/api/v1/rooms/${seg(room('never'))}?because=x`);
      expect(unknownParameter.status).to.equal(400);
      expect(unknownParameter.body.field).to.equal('because');
    });
  });

  // Last: every room operation the document names answered with success above.
  describe('coverage', function () {
    it('exercised every room operation with success', function () {
      const documented = api.operations().map(({ method, template }) => `${method} ${template}`).filter((op) => op.includes(' /api/v1/rooms'));
      expect(documented).to.have.length(5);
      expect(documented.filter((op) => !api.succeeded.has(op))).to.deep.equal([]);
    });
  });

});
