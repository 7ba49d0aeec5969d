// The admin HTTP API as an operator's script uses it: real HTTP requests against a started
// server, every answer checked against the OpenAPI document the server serves, and what the
// API does checked the way XMPP users see it (@xmpp/client over real sockets).
import { expect } from 'chai';
import { VERSION } from '../../src/server.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import {
  acknowledgeRosterPushes,
  collectStanzas,
  connect,
  delay,
  nextStanza,
  nextStreamError,
  roundTrip,
  stopQuietly,
  waitForStanza,
  xml,
  type Client,
  type Element,
} from '../helpers/xmpp-client.js';
import { AdminApi, seg } from './helpers/api.js';

const HOST = '127.0.0.130';
const DOMAIN = 'admin.hearth.example';
const OTHER_DOMAIN = 'other.hearth.example';
const PASSWORD = 'admin-test-secret';
const NS_ROSTER = 'jabber:iq:roster';
const NS_DELAY = 'urn:xmpp:delay';

describe('admin HTTP API', function () {
  let ts: TestServer;
  let api: AdminApi;
  let metricsToken: string;
  const clients: Client[] = [];
  let serial = 0;

  before(async function () {
    this.timeout(60_000); // the first server of a process builds the database template
    ts = await startTestServer({ host: HOST, domain: DOMAIN, extraDomains: [OTHER_DOMAIN] });
    const { token } = await ts.server.services.tokens.create({ name: 'api-test' });
    metricsToken = (await ts.server.services.tokens.create({ name: 'scraper', scope: 'metrics' })).token;
    api = await AdminApi.open(ts.adminUrl, token);
  });

  afterEach(async function () {
    await Promise.all(clients.splice(0).map(stopQuietly));
  });

  after(async function () {
    await ts?.stop();
  });

  /** A fresh account per test, created over HTTP. */
  async function account(name: string, domain = DOMAIN): Promise<{ local: string; jid: string }> {
    const local = `${name}${++serial}`;
    const jid = `${local}@${domain}`;
    const created = await api.post('/api/v1/accounts', { jid, password: PASSWORD });
    expect(created.status, created.text).to.equal(201);
    return { local, jid };
  }

  async function login(local: string, resource: string, options: { password?: string; domain?: string } = {}): Promise<Client> {
    const server = options.domain ? ({ ...ts, domain: options.domain } as TestServer) : ts;
    const client = await connect(server, local, options.password ?? PASSWORD, { resource, mechanism: 'PLAIN' });
    clients.push(client);
    return client;
  }

  /** Logged in with initial presence (RFC 6121 §4.2): messages to the bare JID reach it. */
  async function online(local: string, resource: string, domain?: string): Promise<{ client: Client; inbox: Element[] }> {
    const client = await login(local, resource, { domain });
    const inbox = collectStanzas(client);
    await client.send(xml('presence'));
    await roundTrip(client);
    return { client, inbox };
  }


  function expectInvalid(response: { status: number; body: { error: string; field?: string } }, field: string): void {
    expect(response.status, JSON.stringify(response.body)).to.equal(400);
    expect(response.body.error).to.equal('invalid');
    expect(response.body.field).to.equal(field);
  }

  describe('probes and authentication', function () {
    it('answers /health and /ready without a token', async function () {
      expect((await api.get('/health', { token: null })).body).to.deep.equal({ status: 'ok' });
      expect((await api.get('/ready', { token: null })).body).to.deep.equal({ status: 'ready' });
    });

    it('says 503 on /ready while the database does not answer', async function () {
      const broken = await startTestServer({ host: HOST, domain: DOMAIN });
      try {
        const probe = await AdminApi.open(broken.adminUrl, (await broken.server.services.tokens.create({ name: 'probe' })).token);
        await broken.database.close();
        const ready = await probe.get('/ready', { token: null });
        expect(ready.status).to.equal(503);
        expect(ready.body.error).to.equal('unavailable');
        expect((await probe.get('/health', { token: null })).status, 'still alive').to.equal(200);
      } finally {
        await broken.stop();
      }
    });

    it('refuses every other documented endpoint without a token, with a bad one, and with a malformed header', async function () {
      const protectedOperations = api.operations().filter(({ operation }) => (operation.security ?? []).length > 0);
      expect(protectedOperations.length).to.be.greaterThan(15);
      const forged = 'hearth_' + 'A'.repeat(43);
      for (const { method, template } of protectedOperations) {
        const path = template.replace(/\{[^}]+\}/g, seg(`someone@${DOMAIN}`));
        const attempts: Array<Record<string, string>> = [{}, { authorization: `Bearer ${forged}` }, { authorization: 'Basic dXNlcjpwYXNz' }, { authorization: 'Bearer' }];
        for (const headers of attempts) {
          const response = await api.request(method.toUpperCase(), path, { token: null, headers, body: method === 'get' || method === 'delete' ? undefined : {} });
          expect(response.status, `${method} ${path} with ${JSON.stringify(headers)}`).to.equal(401);
          expect(response.body.error).to.equal('unauthorized');
          expect(response.headers.get('www-authenticate')).to.match(/^Bearer realm="hearth"/);
        }
      }
    });

    it('lets a metrics-only token read /metrics and nothing else', async function () {
      const metrics = await api.get('/metrics', { token: metricsToken });
      expect(metrics.status).to.equal(200);
      expect(metrics.text).to.match(/^# HELP /m);
      for (const path of ['/api/v1/stats', '/api/v1/accounts', '/api/v1/openapi.json']) {
        const refused = await api.get(path, { token: metricsToken });
        expect(refused.status, path).to.equal(403);
        expect(refused.body.error).to.equal('forbidden');
      }
      expect((await api.get('/metrics')).status, 'an admin token reads /metrics too').to.equal(200);
    });

    it('answers unknown endpoints with a JSON 404 once authenticated, and 401 before', async function () {
      const unknown = await fetch(`${ts.adminUrl}/api/v1/nothing-here`, { headers: { authorization: `Bearer ${api.token}` } });
      expect(unknown.status).to.equal(404);
      expect(await unknown.json()).to.deep.equal({ error: 'not-found', message: 'no such endpoint: GET /api/v1/nothing-here' });
      expect((await fetch(`${ts.adminUrl}/api/v1/nothing-here`)).status).to.equal(401);
      const wrongMethod = await fetch(`${ts.adminUrl}/api/v1/stats`, { method: 'POST', headers: { authorization: `Bearer ${api.token}` } });
      expect(wrongMethod.status).to.equal(404);
    });
  });

  describe('accounts', function () {
    it('creates an account that logs in with a standard client at once, and shows it', async function () {
      const { local, jid } = await account('alice');
      const client = await login(local, 'laptop');
      expect(client.jid!.toString()).to.equal(`${jid}/laptop`);
      const shown = await api.get(`/api/v1/accounts/${seg(jid)}`);
      expect(shown.status).to.equal(200);
      expect(shown.body).to.include({ jid, sessions: 1, rosterItems: 0, offlineMessages: 0 });
      expect(Date.now() - Date.parse(shown.body.createdAt)).to.be.within(-5_000, 60_000);
    });

    it('normalises the address it is given', async function () {
      const created = await api.post('/api/v1/accounts', { jid: `MiXeD${++serial}@${DOMAIN.toUpperCase()}`, password: PASSWORD });
      expect(created.status).to.equal(201);
      expect(created.body.jid).to.equal(`mixed${serial}@${DOMAIN}`);
    });

    it('lists accounts a page at a time, by domain and by search', async function () {
      const prefix = `pager${++serial}x`;
      for (const n of ['a', 'b', 'c']) expect((await api.post('/api/v1/accounts', { jid: `${prefix}${n}@${DOMAIN}`, password: PASSWORD })).status).to.equal(201);
      expect((await api.post('/api/v1/accounts', { jid: `${prefix}d@${OTHER_DOMAIN}`, password: PASSWORD })).status).to.equal(201);

      const first = await api.get(`/api/v1/accounts?search=${prefix}&limit=2`);
      expect(first.body.accounts.map((a: { jid: string }) => a.jid)).to.deep.equal([`${prefix}a@${DOMAIN}`, `${prefix}b@${DOMAIN}`]);
      expect(first.body.next).to.equal(`${prefix}b@${DOMAIN}`);
      const second = await api.get(`/api/v1/accounts?search=${prefix}&limit=2&after=${seg(first.body.next)}`);
      expect(second.body.accounts.map((a: { jid: string }) => a.jid)).to.deep.equal([`${prefix}c@${DOMAIN}`, `${prefix}d@${OTHER_DOMAIN}`]);
      const third = await api.get(`/api/v1/accounts?search=${prefix}&limit=2&after=${seg(second.body.next)}`);
      expect(third.body).to.deep.equal({ accounts: [], next: null });

      const other = await api.get(`/api/v1/accounts?domain=${OTHER_DOMAIN}&search=${prefix.toUpperCase()}`);
      expect(other.body.accounts.map((a: { jid: string }) => a.jid)).to.deep.equal([`${prefix}d@${OTHER_DOMAIN}`]);
      expect(other.body.next).to.equal(null);
    });

    it('refuses a second account with the same address (409)', async function () {
      const { jid } = await account('dup');
      const again = await api.post('/api/v1/accounts', { jid, password: 'another' });
      expect(again.status).to.equal(409);
      expect(again.body).to.include({ error: 'exists', field: 'jid' });
    });

    it('names the invalid field (400)', async function () {
      const valid = { jid: `valid${++serial}@${DOMAIN}`, password: PASSWORD };
      expectInvalid(await api.post('/api/v1/accounts', { password: PASSWORD }), 'jid');
      expectInvalid(await api.post('/api/v1/accounts', { ...valid, jid: 42 }), 'jid');
      expectInvalid(await api.post('/api/v1/accounts', { ...valid, jid: `x@${DOMAIN}/resource` }), 'jid');
      expectInvalid(await api.post('/api/v1/accounts', { ...valid, jid: 'x@not-served.example' }), 'jid');
      expectInvalid(await api.post('/api/v1/accounts', { ...valid, jid: `a b@${DOMAIN}` }), 'jid');
      expectInvalid(await api.post('/api/v1/accounts', { jid: valid.jid }), 'password');
      expectInvalid(await api.post('/api/v1/accounts', { ...valid, password: '' }), 'password');
      expectInvalid(await api.post('/api/v1/accounts', { ...valid, password: 'x'.repeat(1025) }), 'password');
      expectInvalid(await api.post('/api/v1/accounts', { ...valid, password: 'bell\u0007' }), 'password');
      expectInvalid(await api.post('/api/v1/accounts', { ...valid, admin: true }), 'admin');
      expectInvalid(await api.post('/api/v1/accounts', ['not', 'an', 'object']), 'body');
      expectInvalid(await api.get('/api/v1/accounts?limit=0'), 'limit');
      expectInvalid(await api.get('/api/v1/accounts?limit=many'), 'limit');
      expectInvalid(await api.get('/api/v1/accounts?limit=1&limit=2'), 'limit');
      expectInvalid(await api.get('/api/v1/accounts?domain=not-served.example'), 'domain');
      expectInvalid(await api.get('/api/v1/accounts?after=@@@'), 'after');
      expectInvalid(await api.get('/api/v1/accounts?colour=blue'), 'colour');
      expectInvalid(await api.get(`/api/v1/accounts/${seg('@' + DOMAIN)}`), 'jid');
      expectInvalid(await api.put(`/api/v1/accounts/${seg(valid.jid)}/password`, {}), 'password');
      // Nothing half-done: none of these created the account.
      expect((await api.get(`/api/v1/accounts/${seg(valid.jid)}`)).status).to.equal(404);
    });

    it('answers 404 for accounts that do not exist', async function () {
      const ghost = seg(`ghost${++serial}@${DOMAIN}`);
      for (const [method, path, body] of [
        ['GET', `/api/v1/accounts/${ghost}`],
        ['DELETE', `/api/v1/accounts/${ghost}`],
        ['PUT', `/api/v1/accounts/${ghost}/password`, { password: 'x' }],
        ['POST', `/api/v1/accounts/${ghost}/disable`],
        ['POST', `/api/v1/accounts/${ghost}/enable`],
        ['GET', `/api/v1/accounts/${ghost}/sessions`],
        ['DELETE', `/api/v1/accounts/${ghost}/sessions`],
        ['DELETE', `/api/v1/accounts/${ghost}/sessions/phone`],
        ['GET', `/api/v1/accounts/${ghost}/roster`],
        ['POST', `/api/v1/accounts/${ghost}/roster`, { jid: `x@${DOMAIN}`, subscription: 'none' }],
        ['DELETE', `/api/v1/accounts/${ghost}/roster/${seg(`x@${DOMAIN}`)}`],
        ['GET', `/api/v1/accounts/${ghost}/offline`],
        ['DELETE', `/api/v1/accounts/${ghost}/offline`],
      ] as Array<[string, string, unknown?]>) {
        const response = await api.request(method, path, { body });
        expect(response.status, `${method} ${path}`).to.equal(404);
        expect(response.body).to.include({ error: 'not-found', field: 'jid' });
      }
    });

    it('changes a password: the new one logs in, the old one no longer does', async function () {
      const { local, jid } = await account('pw');
      const changed = await api.put(`/api/v1/accounts/${seg(jid)}/password`, { password: 'brand-new' });
      expect(changed.status).to.equal(200);
      expect(changed.body).to.deep.equal({ jid, tokensRevoked: 0 });
      const client = await login(local, 'r', { password: 'brand-new' });
      expect(client.jid!.bare().toString()).to.equal(jid);
      let refused = false;
      try {
        await login(local, 'r2');
      } catch {
        refused = true;
      }
      expect(refused, 'the old password is refused').to.equal(true);
    });

    it('disables an account: its session ends, it cannot log in, and it keeps its data; enabling lets it in again', async function () {
      const { local, jid } = await account('off');
      const client = await login(local, 'r');
      const ended = nextStreamError(client);
      const disabled = await api.post(`/api/v1/accounts/${seg(jid)}/disable`, {});
      expect(disabled.status).to.equal(200);
      expect(disabled.body).to.deep.equal({ jid, sessionsClosed: 1, tokensRevoked: 0 });
      expect(await ended).to.equal('not-authorized');
      const details = await api.get(`/api/v1/accounts/${seg(jid)}`);
      expect(details.body.disabledAt).to.be.a('string');
      let refusal = '';
      try {
        await login(local, 'r2');
      } catch (err) {
        refusal = String((err as { condition?: string }).condition ?? err);
      }
      expect(refusal).to.equal('account-disabled');
      // Disabling twice is no error; without a token, no one may.
      expect((await api.post(`/api/v1/accounts/${seg(jid)}/disable`, {})).status).to.equal(200);
      expect((await api.request('POST', `/api/v1/accounts/${seg(jid)}/enable`, { token: null })).status).to.equal(401);
      expect((await api.post(`/api/v1/accounts/${seg(jid)}/enable`, {})).body).to.deep.equal({ jid });
      expect((await api.get(`/api/v1/accounts/${seg(jid)}`)).body.disabledAt).to.equal(null);
      const back = await login(local, 'r3');
      expect(back.jid!.bare().toString()).to.equal(jid);
    });

    it('deletes an account with its roster and offline queue, ending its sessions with a stream error', async function () {
      const { local, jid } = await account('gone');
      const { jid: friend } = await account('friend');
      expect((await api.post(`/api/v1/accounts/${seg(jid)}/roster`, { jid: friend, subscription: 'both' })).status).to.equal(201);
      const client = await login(local, 'desk');
      const streamError = nextStreamError(client);
      // No available resource (no presence sent): a message to the bare JID is kept offline.
      expect((await api.post('/api/v1/messages', { to: jid, body: 'kept for later' })).status).to.equal(200);
      expect((await api.get(`/api/v1/accounts/${seg(jid)}`)).body).to.include({ rosterItems: 1, offlineMessages: 1, sessions: 1 });

      const deleted = await api.delete(`/api/v1/accounts/${seg(jid)}`);
      expect(deleted.body).to.deep.equal({ jid, sessionsClosed: 1 });
      expect(await streamError).to.equal('not-authorized');
      expect((await api.get(`/api/v1/accounts/${seg(jid)}`)).status).to.equal(404);

      // Created again, it starts empty: nothing of the old account survived.
      expect((await api.post('/api/v1/accounts', { jid, password: PASSWORD })).status).to.equal(201);
      expect((await api.get(`/api/v1/accounts/${seg(jid)}/roster`)).body).to.deep.equal({ version: 0, items: [] });
      expect((await api.get(`/api/v1/accounts/${seg(jid)}/offline`)).body).to.deep.equal({ count: 0, messages: [] });
    });
  });

  describe('sessions', function () {
    it('lists sessions globally and per account with resource, address, time, TLS and priority', async function () {
      const { local, jid } = await account('sess');
      const laptop = await login(local, 'laptop');
      await laptop.send(xml('presence', {}, xml('priority', {}, '7')));
      await roundTrip(laptop);
      await login(local, 'phone');

      const mine = await api.get(`/api/v1/accounts/${seg(jid)}/sessions`);
      expect(mine.body.sessions.map((s: { resource: string }) => s.resource)).to.deep.equal(['laptop', 'phone']);
      const [first, second] = mine.body.sessions;
      expect(first).to.include({ jid: `${jid}/laptop`, account: jid, tls: true, priority: 7, available: true });
      expect(first.ip).to.match(/^(::ffff:)?127\./);
      expect(second).to.include({ resource: 'phone', priority: 0, available: false });
      expect(Date.now() - Date.parse(first.since)).to.be.within(-1_000, 30_000);

      const all = await api.get('/api/v1/sessions');
      const jids = all.body.sessions.map((s: { jid: string }) => s.jid);
      expect(jids).to.include.members([`${jid}/laptop`, `${jid}/phone`]);
      expect(jids, 'ordered').to.deep.equal([...jids].sort());

      const paged = await api.get(`/api/v1/sessions?domain=${DOMAIN}&limit=1&after=${seg(`${jid}/laptop`)}`);
      expect(paged.body.sessions.map((s: { jid: string }) => s.jid)).to.deep.equal([`${jid}/phone`]);
      expect((await api.get(`/api/v1/sessions?domain=${OTHER_DOMAIN}`)).body).to.deep.equal({ sessions: [], next: null });
      expectInvalid(await api.get('/api/v1/sessions?domain=elsewhere.example'), 'domain');
      expectInvalid(await api.get('/api/v1/sessions?limit=-1'), 'limit');
    });

    it('kicks one resource with a stream error its client sees, then all of them', async function () {
      const { local, jid } = await account('kick');
      const laptop = await login(local, 'laptop');
      const phone = await login(local, 'phone');
      const tablet = await login(local, 'tablet');
      const laptopError = nextStreamError(laptop);

      const one = await api.delete(`/api/v1/accounts/${seg(jid)}/sessions/laptop`);
      expect(one.body).to.deep.equal({ kicked: 1 });
      expect(await laptopError).to.equal('policy-violation');
      await roundTrip(phone); // the others are still connected

      const missing = await api.delete(`/api/v1/accounts/${seg(jid)}/sessions/laptop`);
      expect(missing.status).to.equal(404);
      expect(missing.body.field).to.equal('resource');

      const errors = [nextStreamError(phone), nextStreamError(tablet)];
      expect((await api.delete(`/api/v1/accounts/${seg(jid)}/sessions`)).body).to.deep.equal({ kicked: 2 });
      expect(await Promise.all(errors)).to.deep.equal(['policy-violation', 'policy-violation']);
      expect((await api.delete(`/api/v1/accounts/${seg(jid)}/sessions`)).body).to.deep.equal({ kicked: 0 });
    });
  });

  describe('rosters', function () {
    it('adds, replaces and removes items, pushed to the online resource that asked for the roster', async function () {
      const { local, jid } = await account('owner');
      const contact = `contact${serial}@elsewhere.example`;
      const client = acknowledgeRosterPushes(await login(local, 'desk'));
      await client.iqCaller.request(xml('iq', { type: 'get' }, xml('query', { xmlns: NS_ROSTER })));

      let push = nextStanza(client, (el) => el.is('iq') && el.attrs.type === 'set');
      const added = await api.post(`/api/v1/accounts/${seg(jid)}/roster`, { jid: contact, name: 'Pat', groups: ['Work', 'Friends'], subscription: 'to' });
      expect(added.status).to.equal(201);
      expect(added.body).to.deep.equal({ created: true, item: { jid: contact, name: 'Pat', groups: ['Work', 'Friends'], subscription: 'to' } });
      let item = (await push).getChild('query', NS_ROSTER)!.getChild('item')!;
      expect(item.attrs).to.include({ jid: contact, name: 'Pat', subscription: 'to' });
      expect(item.getChildren('group').map((g) => g.text())).to.deep.equal(['Work', 'Friends']);

      push = nextStanza(client, (el) => el.is('iq') && el.attrs.type === 'set');
      const replaced = await api.post(`/api/v1/accounts/${seg(jid)}/roster`, { jid: contact, subscription: 'both' });
      expect(replaced.status).to.equal(200);
      expect(replaced.body).to.deep.equal({ created: false, item: { jid: contact, groups: [], subscription: 'both' } });
      expect((await push).getChild('query', NS_ROSTER)!.getChild('item')!.attrs.subscription).to.equal('both');

      const listed = await api.get(`/api/v1/accounts/${seg(jid)}/roster`);
      expect(listed.body.items).to.deep.equal([{ jid: contact, groups: [], subscription: 'both' }]);
      expect(listed.body.version).to.be.greaterThan(1);

      // The client sees the same roster.
      const result = await client.iqCaller.request(xml('iq', { type: 'get' }, xml('query', { xmlns: NS_ROSTER })));
      expect(result.getChild('query', NS_ROSTER)!.getChildren('item').map((i: Element) => i.attrs.jid)).to.deep.equal([contact]);

      push = nextStanza(client, (el) => el.is('iq') && el.attrs.type === 'set');
      const removed = await api.delete(`/api/v1/accounts/${seg(jid)}/roster/${seg(contact)}`);
      expect(removed.body).to.deep.equal({ jid, contact });
      item = (await push).getChild('query', NS_ROSTER)!.getChild('item')!;
      expect(item.attrs).to.include({ jid: contact, subscription: 'remove' });
      expect((await api.get(`/api/v1/accounts/${seg(jid)}/roster`)).body.items).to.deep.equal([]);

      const again = await api.delete(`/api/v1/accounts/${seg(jid)}/roster/${seg(contact)}`);
      expect(again.status).to.equal(404);
      expect(again.body.field).to.equal('contact');
    });

    it('names the invalid field of a roster item (400) and changes nothing', async function () {
      const { jid } = await account('strict');
      const path = `/api/v1/accounts/${seg(jid)}/roster`;
      const valid = { jid: `pal@${DOMAIN}`, subscription: 'none' };
      expectInvalid(await api.post(path, { subscription: 'none' }), 'jid');
      expectInvalid(await api.post(path, { ...valid, jid: `pal@${DOMAIN}/phone` }), 'jid');
      expectInvalid(await api.post(path, { ...valid, jid }), 'jid');
      expectInvalid(await api.post(path, { ...valid, jid: 'not a jid' }), 'jid');
      expectInvalid(await api.post(path, { jid: valid.jid }), 'subscription');
      expectInvalid(await api.post(path, { ...valid, subscription: 'remove' }), 'subscription');
      expectInvalid(await api.post(path, { ...valid, name: 'x'.repeat(1024) }), 'name');
      expectInvalid(await api.post(path, { ...valid, name: 'nul\u0000' }), 'name');
      expectInvalid(await api.post(path, { ...valid, groups: 'Friends' }), 'groups');
      expectInvalid(await api.post(path, { ...valid, groups: [''] }), 'groups.0');
      expectInvalid(await api.post(path, { ...valid, groups: ['A', 'A'] }), 'groups');
      expectInvalid(await api.post(path, { ...valid, ask: 'subscribe' }), 'ask');
      expectInvalid(await api.delete(`${path}/${seg('not a jid')}`), 'contact');
      expect((await api.get(path)).body.items).to.deep.equal([]);
    });
  });

  describe('messages and announcements', function () {
    it('delivers a message to an online client, from the server or from an account', async function () {
      const { local, jid } = await account('reader');
      const { jid: sender } = await account('sender');
      const { inbox } = await online(local, 'desk');

      const sent = await api.post('/api/v1/messages', { to: jid, body: 'Maintenance at noon', subject: 'Notice' });
      expect(sent.body).to.include({ from: DOMAIN, to: jid });
      const fromServer = await waitForStanza(inbox, (el) => el.is('message') && el.attrs.id === sent.body.id, 'the message');
      expect(fromServer.attrs).to.include({ from: DOMAIN, type: 'chat' });
      expect(fromServer.getChildText('body')).to.equal('Maintenance at noon');
      expect(fromServer.getChildText('subject')).to.equal('Notice');

      const asUser = await api.post('/api/v1/messages', { from: sender, to: `${jid}/desk`, type: 'normal', body: 'hello from a user' });
      const fromUser = await waitForStanza(inbox, (el) => el.is('message') && el.attrs.id === asUser.body.id, 'the message from a user');
      expect(fromUser.attrs.from).to.equal(sender);
      expect(fromUser.getChildText('body')).to.equal('hello from a user');
    });

    it('keeps a message for an offline account, shows it in the offline queue, and delivers it at the next login', async function () {
      const { local, jid } = await account('away');
      const sent = await api.post('/api/v1/messages', { to: jid, body: 'while you were away' });
      expect(sent.status).to.equal(200);

      const queue = await api.get(`/api/v1/accounts/${seg(jid)}/offline`);
      expect(queue.body.count).to.equal(1);
      expect(queue.body.messages[0]).to.include({ from: DOMAIN, type: 'chat', body: 'while you were away' });
      expect(queue.body.messages[0].stanza).to.contain(sent.body.id);

      const { inbox } = await online(local, 'phone');
      const delivered = await waitForStanza(inbox, (el) => el.is('message') && el.attrs.id === sent.body.id, 'the offline message');
      expect(delivered.getChildText('body')).to.equal('while you were away');
      expect(delivered.getChild('delay', NS_DELAY), 'delivered late, with a delay stamp').to.not.equal(undefined);
      await delay(100);
      expect((await api.get(`/api/v1/accounts/${seg(jid)}/offline`)).body).to.deep.equal({ count: 0, messages: [] });
    });

    it('counts and purges the message archive (XEP-0313)', async function () {
      const { jid } = await account('archived');
      for (const body of ['one', 'two']) expect((await api.post('/api/v1/messages', { to: jid, body })).status).to.equal(200);
      expect((await api.get(`/api/v1/accounts/${seg(jid)}/archive`)).body).to.deep.equal({ count: 2 });
      expect((await api.delete(`/api/v1/accounts/${seg(jid)}/archive`)).body).to.deep.equal({ purged: 2 });
      expect((await api.get(`/api/v1/accounts/${seg(jid)}/archive`)).body).to.deep.equal({ count: 0 });
    });

    it('pages and purges the offline queue', async function () {
      const { jid } = await account('queue');
      for (const body of ['one', 'two', 'three']) expect((await api.post('/api/v1/messages', { to: jid, body })).status).to.equal(200);
      const page = await api.get(`/api/v1/accounts/${seg(jid)}/offline?limit=2`);
      expect(page.body.count).to.equal(3);
      expect(page.body.messages.map((m: { body: string }) => m.body)).to.deep.equal(['one', 'two']);
      expectInvalid(await api.get(`/api/v1/accounts/${seg(jid)}/offline?limit=0`), 'limit');
      expect((await api.delete(`/api/v1/accounts/${seg(jid)}/offline`)).body).to.deep.equal({ purged: 3 });
      expect((await api.get(`/api/v1/accounts/${seg(jid)}/offline`)).body).to.deep.equal({ count: 0, messages: [] });
    });

    it('names the invalid field of a message (400), and 404 for local accounts that do not exist', async function () {
      const { jid } = await account('target');
      const valid = { to: jid, body: 'hi' };
      expectInvalid(await api.post('/api/v1/messages', { body: 'hi' }), 'to');
      expectInvalid(await api.post('/api/v1/messages', { ...valid, to: 'a@b@c' }), 'to');
      expectInvalid(await api.post('/api/v1/messages', { ...valid, to: DOMAIN }), 'to');
      expectInvalid(await api.post('/api/v1/messages', { to: jid }), 'body');
      expectInvalid(await api.post('/api/v1/messages', { ...valid, body: '' }), 'body');
      expectInvalid(await api.post('/api/v1/messages', { ...valid, body: 'escape \u001b[31m' }), 'body');
      expectInvalid(await api.post('/api/v1/messages', { ...valid, body: 'x'.repeat(8_193) }), 'body');
      expectInvalid(await api.post('/api/v1/messages', { ...valid, type: 'groupchat' }), 'type');
      expectInvalid(await api.post('/api/v1/messages', { ...valid, subject: 7 }), 'subject');
      expectInvalid(await api.post('/api/v1/messages', { ...valid, from: 'someone@elsewhere.example' }), 'from');
      expectInvalid(await api.post('/api/v1/messages', { ...valid, html: '<b>hi</b>' }), 'html');
      const unknownTo = await api.post('/api/v1/messages', { to: `nobody${++serial}@${DOMAIN}`, body: 'hi' });
      expect(unknownTo.status).to.equal(404);
      expect(unknownTo.body.field).to.equal('to');
      const unknownFrom = await api.post('/api/v1/messages', { ...valid, from: `nobody${++serial}@${DOMAIN}` });
      expect(unknownFrom.status).to.equal(404);
      expect(unknownFrom.body.field).to.equal('from');
      expect((await api.get(`/api/v1/accounts/${seg(jid)}/offline`)).body.count, 'nothing was sent').to.equal(0);
    });

    it('announces to every online session of a domain, and only that domain', async function () {
      const { local: a } = await account('ann');
      const { local: b } = await account('ann');
      const { local: other } = await account('ann', OTHER_DOMAIN);
      const first = await online(a, 'one');
      const second = collectStanzas(await login(b, 'two')); // bound, no presence: still a session
      const elsewhere = await online(other, 'x', OTHER_DOMAIN);

      const announced = await api.post('/api/v1/announcements', { domain: DOMAIN, subject: 'Heads up', body: 'Restart in 5 minutes' });
      expect(announced.body.delivered).to.be.at.least(2);
      for (const inbox of [first.inbox, second]) {
        const message = await waitForStanza(inbox, (el) => el.is('message') && el.attrs.type === 'headline', 'the announcement');
        expect(message.attrs.from).to.equal(DOMAIN);
        expect(message.getChildText('body')).to.equal('Restart in 5 minutes');
        expect(message.getChildText('subject')).to.equal('Heads up');
      }
      await roundTrip(elsewhere.client);
      expect(elsewhere.inbox.filter((el) => el.is('message'))).to.deep.equal([]);

      expectInvalid(await api.post('/api/v1/announcements', { domain: 'elsewhere.example', body: 'x' }), 'domain');
      expectInvalid(await api.post('/api/v1/announcements', { domain: DOMAIN }), 'body');
    });
  });

  describe('figures', function () {
    it('reports accounts, sessions, federation, routed stanzas, uptime and version, and they move with traffic', async function () {
      const before = (await api.get('/api/v1/stats')).body;
      expect(before.version).to.equal(VERSION);
      expect(before.s2s).to.deep.equal({ incoming: {}, outgoing: {} });
      expect(before.accounts.registered).to.equal(before.accounts.byDomain[DOMAIN] + before.accounts.byDomain[OTHER_DOMAIN]);

      const { local, jid } = await account('stat');
      const { client } = await online(local, 'r');
      await api.post('/api/v1/messages', { to: jid, body: 'counted' });
      await roundTrip(client);

      const after = (await api.get('/api/v1/stats')).body;
      expect(after.accounts.registered).to.equal(before.accounts.registered + 1);
      expect(after.sessions.online).to.equal(before.sessions.online + 1);
      expect(after.sessions.byDomain[DOMAIN]).to.equal(before.sessions.byDomain[DOMAIN] + 1);
      expect(after.stanzas.routed.message).to.be.greaterThan(before.stanzas.routed.message);
      expect(after.stanzas.routed.presence).to.be.greaterThan(before.stanzas.routed.presence);
      expect(after.stanzas.routed.total).to.equal(after.stanzas.routed.message + after.stanzas.routed.presence + after.stanzas.routed.iq);
      expect(after.uptimeSeconds).to.be.at.least(before.uptimeSeconds);
    });
  });

  // Last (mocha runs nested suites in order): every endpoint the document names answered
  // with success somewhere above (the rooms' in test/admin/rooms.test.ts, the invitations' in
  // test/registration/invites-admin.test.ts).
  describe('coverage', function () {
    it('exercised every documented operation with success', function () {
      const documented = api.operations().map(({ method, template }) => `${method} ${template}`).filter((op) => !op.includes(' /api/v1/rooms') && !op.includes(' /api/v1/invites'));
      expect(documented.filter((op) => !api.succeeded.has(op))).to.deep.equal([]);
    });
  });
});
