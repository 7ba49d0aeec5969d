// Invitations through the admin HTTP API: mint, list (never a token), revoke by id or by token;
// only with an admin token (401 without one, 403 with a metrics one); 400/404/409 as JSON.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { AdminApi } from '../admin/helpers/api.js';
import { registerOnce } from './helpers.js';

const HOST = '127.0.0.193';
const DOMAIN = 'api-invite.hearth.example';
const PUBLIC_URL = 'https://chat.hearth.example';

describe('invitations in the admin API', function () {
  this.timeout(30_000);
  let ts: TestServer;
  let api: AdminApi;
  let metricsToken: string;

  before(async function () {
    ts = await startTestServer({ host: HOST, domain: DOMAIN, config: { registration: { mode: 'invite' }, http: { publicUrl: PUBLIC_URL } } });
    api = await AdminApi.open(ts.adminUrl, (await ts.server.services.tokens.create({ name: 'ops' })).token);
    metricsToken = (await ts.server.services.tokens.create({ name: 'scraper', scope: 'metrics' })).token;
    await ts.addUser('host', 'host password');
  });
  after(async () => ts?.stop());

  it('refuses callers without an admin token', async function () {
    for (const [method, path, body] of [
      ['GET', '/api/v1/invites', undefined],
      ['POST', '/api/v1/invites', {}],
      ['DELETE', '/api/v1/invites/1', undefined],
      ['POST', '/api/v1/invites/revoke', { token: 'x' }],
    ] as const) {
      const anonymous = await api.request(method, path, { token: null, body });
      expect(anonymous.status, `${method} ${path} without a token`).to.equal(401);
      const scraper = await api.request(method, path, { token: metricsToken, body });
      expect(scraper.status, `${method} ${path} with a metrics token`).to.equal(403);
    }
    expect((await api.get('/api/v1/invites')).body.invites).to.deep.equal([]);
  });

  it('mints an invitation whose token is shown once and works once', async function () {
    const minted = await api.post('/api/v1/invites', { contact: `host@${DOMAIN}`, ttl: '2d' });
    expect(minted.status).to.equal(201);
    const { token } = minted.body;
    expect(token).to.match(/^[A-Za-z0-9]{24}$/);
    expect(minted.body).to.deep.include({ domain: DOMAIN, account: null, contact: `host@${DOMAIN}`, admin: false });
    expect(minted.body.uri).to.equal(`xmpp:host@${DOMAIN}?roster;preauth=${token};ibr=y`);
    expect(minted.body.landingUrl).to.equal(`${PUBLIC_URL}/invite/${token}`);
    const lifetime = Date.parse(minted.body.expiresAt) - Date.now();
    expect(lifetime).to.be.within(2 * 86_400_000 - 60_000, 2 * 86_400_000);

    // Stored as its SHA-256 digest only.
    const { rows } = await sql<Record<string, unknown>>`select * from invites`.execute(ts.database.db);
    expect(rows).to.have.length(1);
    expect(Buffer.from(rows[0]!.token_sha256 as Uint8Array).equals(createHash('sha256').update(token).digest())).to.equal(true);
    const stored = JSON.stringify(rows, (_key, value: unknown) => (value instanceof Uint8Array ? Buffer.from(value).toString('latin1') : value));
    expect(stored).to.not.contain(token.slice(0, 12));

    const listed = await api.get('/api/v1/invites');
    expect(listed.text).to.not.contain(token);
    expect(listed.body.invites).to.have.length(1);
    expect(listed.body.invites[0]).to.deep.include({ id: minted.body.id, contact: `host@${DOMAIN}`, expired: false });

    expect((await registerOnce(ts, 'guest', 'long enough password', token)).type).to.equal('result');
    expect((await api.get('/api/v1/invites')).body.invites).to.deep.equal([]);
  });

  it('pins an account and grants admin rights on request, refusing names that are taken', async function () {
    const pinned = await api.post('/api/v1/invites', { account: `newbie@${DOMAIN}`, admin: true });
    expect(pinned.status).to.equal(201);
    expect(pinned.body).to.deep.include({ account: `newbie@${DOMAIN}`, admin: true });
    expect(pinned.body.uri).to.equal(`xmpp:newbie@${DOMAIN}?register;preauth=${pinned.body.token}`);
    const twice = await api.post('/api/v1/invites', { account: `newbie@${DOMAIN}` });
    expect(twice.status).to.equal(409);
    expect(twice.body).to.deep.include({ error: 'exists', field: 'account' });
    expect((await api.post('/api/v1/invites', { account: `host@${DOMAIN}` })).status, 'an existing account').to.equal(409);
  });

  it('answers bad input with 400 and an unknown contact with 404, naming the field', async function () {
    const cases: Array<[unknown, number, string]> = [
      [{ ttl: '7 days' }, 400, 'ttl'],
      [{ ttl: '400d' }, 400, 'ttl'],
      [{ admin: 'yes' }, 400, 'admin'],
      [{ account: 'not a jid' }, 400, 'account'],
      [{ account: 'someone@elsewhere.example' }, 400, 'account'],
      [{ domain: 'elsewhere.example' }, 400, 'domain'],
      [{ bogus: true }, 400, 'bogus'],
      [{ contact: `nobody@${DOMAIN}` }, 404, 'contact'],
    ];
    for (const [body, status, field] of cases) {
      const response = await api.post('/api/v1/invites', body);
      expect([response.status, response.body.field], JSON.stringify(body)).to.deep.equal([status, field]);
    }
  });

  it('revokes by id and by token; a revoked invitation registers nobody', async function () {
    const first = (await api.post('/api/v1/invites', {})).body;
    const second = (await api.post('/api/v1/invites', {})).body;
    const byId = await api.delete(`/api/v1/invites/${first.id}`);
    expect([byId.status, byId.body]).to.deep.equal([200, { id: first.id }]);
    expect((await api.delete(`/api/v1/invites/${first.id}`)).status).to.equal(404);
    expect((await api.delete('/api/v1/invites/abc')).status).to.equal(400);
    const byToken = await api.post('/api/v1/invites/revoke', { token: second.token });
    expect([byToken.status, byToken.body]).to.deep.equal([200, { id: second.id }]);
    expect((await api.post('/api/v1/invites/revoke', { token: second.token })).status).to.equal(404);
    for (const { token } of [first, second]) {
      expect((await registerOnce(ts, 'revokee', 'long enough password', token)).condition).to.equal('item-not-found');
    }
  });

  it('exercised every invitation operation with success', function () {
    const documented = api.operations().map(({ method, template }) => `${method} ${template}`).filter((op) => op.includes(' /api/v1/invites'));
    expect(documented).to.have.length(4);
    expect(documented.filter((op) => !api.succeeded.has(op))).to.deep.equal([]);
  });
});
