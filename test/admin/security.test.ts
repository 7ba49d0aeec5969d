// The admin API's edges: deny by default, ambiguous paths refused before routing, bodies
// bounded, no cookies, no redirects. Requests are written byte for byte on a socket where a
// client library would normalise the path first.
import { expect } from 'chai';
import net from 'node:net';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/core/log.js';
import { createAdminApp } from '../../src/http/admin/app.js';
import { ambiguityOf } from '../../src/http/admin/path-guard.js';
import { VERSION } from '../../src/server.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { delay } from '../helpers/xmpp-client.js';

const HOST = '127.0.0.131';

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** One HTTP/1.1 request exactly as written (request target included), on its own connection. */
function rawRequest(port: number, method: string, target: string, headers: Record<string, string> = {}, body = ''): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: HOST, port });
    let received = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const [head = '', ...rest] = received.split('\r\n\r\n');
      const [statusLine = '', ...headerLines] = head.split('\r\n');
      const parsed: Record<string, string> = {};
      for (const line of headerLines) {
        const colon = line.indexOf(':');
        parsed[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers: parsed, body: rest.join('\r\n\r\n') });
    });
    const lines = [`${method} ${target} HTTP/1.1`, `Host: ${HOST}`, 'Connection: close'];
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    if (body !== '') lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
    socket.write(lines.join('\r\n') + '\r\n\r\n' + body);
  });
}

describe('admin HTTP API edges', function () {
  let ts: TestServer;
  let port: number;
  let token: string;

  before(async function () {
    this.timeout(60_000);
    ts = await startTestServer({ host: HOST, domain: 'edge.hearth.example' });
    port = ts.server.admin.bound[0]!.port;
    token = (await ts.server.services.tokens.create({ name: 'edge' })).token;
  });

  after(async function () {
    await ts?.stop();
  });

  const auth = () => ({ Authorization: `Bearer ${token}` });

  it('serves the plain paths the tricks below aim at', async function () {
    const stats = await rawRequest(port, 'GET', '/api/v1/stats', auth());
    expect(stats.status).to.equal(200);
    expect(stats.body).to.contain('"uptimeSeconds"');
  });

  describe('ambiguous request targets never reach a protected handler', function () {
    const tricks = [
      '/health/../api/v1/stats',
      '/health/%2e%2e/api/v1/stats',
      '/health/%2E%2E/api/v1/stats',
      '/health/..%2fapi/v1/stats',
      '/health%2f..%2fapi%2fv1%2fstats',
      '/health/..%5capi/v1/stats',
      '/health\\..\\api\\v1\\stats',
      '/ready/./../api/v1/stats',
      '/api/v1/accounts/%2e%2e/stats',
      '/api/v1/accounts/../stats',
      '/api/v1/./stats',
      '/api/v1//stats',
      '//api/v1/stats',
      '/api/v1/stats%00',
      '/api/v1/stats%2f',
      '/api/v1/%ff',
      'http://127.0.0.131/api/v1/stats',
      '*',
    ];

    for (const target of tricks) {
      it(`${target}: refused, with or without a token`, async function () {
        const anonymous = await rawRequest(port, 'GET', target);
        expect(anonymous.status, anonymous.body).to.be.oneOf([400, 401, 404]);
        expect(anonymous.body).to.not.contain('uptimeSeconds');
        const withToken = await rawRequest(port, 'GET', target, auth());
        expect(withToken.status, withToken.body).to.be.oneOf([400, 404]);
        expect(withToken.body).to.not.contain('uptimeSeconds');
        expect(withToken.headers['content-type'] ?? 'application/json').to.match(/^application\/json/);
      });
    }

    it('names the problem', function () {
      expect(ambiguityOf('/api/v1/accounts/%2e%2e/stats')).to.match(/encoded/);
      expect(ambiguityOf('/api/v1/../stats')).to.match(/dot segments/);
      expect(ambiguityOf('/api//v1')).to.match(/empty path segments/);
      expect(ambiguityOf('/api/%ff')).to.match(/percent-encoded/);
      expect(ambiguityOf('/api/v1/accounts/alice%40example.org?limit=5&after=a%2Fb')).to.equal(null);
    });
  });

  it('has one spelling per path: no trailing slash, no other case, and no redirects', async function () {
    for (const target of ['/api/v1/stats/', '/API/v1/stats', '/api/v1/Stats', '/health/']) {
      const response = await rawRequest(port, 'GET', target, auth());
      expect(response.status, target).to.equal(404);
      expect(response.headers.location, target).to.equal(undefined);
    }
  });

  it('sets no cookie, says nothing about its framework, and is not cached', async function () {
    for (const [target, headers] of [['/health', {}], ['/api/v1/stats', auth()], ['/api/v1/stats', {}], ['/nowhere', auth()]] as const) {
      const response = await rawRequest(port, 'GET', target, headers);
      expect(response.headers['set-cookie'], target).to.equal(undefined);
      expect(response.headers['x-powered-by'], target).to.equal(undefined);
      expect(response.headers['cache-control'], target).to.equal('no-store');
    }
  });

  it('refuses a body over 64 KiB with 413, malformed JSON and non-JSON bodies with 400', async function () {
    const json = { ...auth(), 'Content-Type': 'application/json' };
    const big = JSON.stringify({ jid: 'a@edge.hearth.example', password: 'x'.repeat(70 * 1024) });
    const tooLarge = await rawRequest(port, 'POST', '/api/v1/accounts', json, big);
    expect(tooLarge.status).to.equal(413);
    expect(JSON.parse(tooLarge.body)).to.include({ error: 'too-large' });

    const malformed = await rawRequest(port, 'POST', '/api/v1/accounts', json, '{"jid": ');
    expect(malformed.status).to.equal(400);
    expect(JSON.parse(malformed.body)).to.include({ error: 'invalid', field: 'body' });

    const text = await rawRequest(port, 'POST', '/api/v1/accounts', { ...auth(), 'Content-Type': 'text/plain' }, '{"jid":"a@edge.hearth.example","password":"p"}');
    expect(text.status).to.equal(400);
    expect(JSON.parse(text.body)).to.include({ error: 'invalid', field: 'body' });

    const gzipped = await rawRequest(port, 'POST', '/api/v1/accounts', { ...json, 'Content-Encoding': 'gzip' }, 'not really gzip');
    expect(gzipped.status).to.be.oneOf([400, 415]);
    expect((await rawRequest(port, 'GET', `/api/v1/accounts/${encodeURIComponent('a@edge.hearth.example')}`, auth())).status, 'nothing was created').to.equal(404);
  });

  it('does not read the body of an unauthenticated request', async function () {
    const big = JSON.stringify({ jid: 'a@edge.hearth.example', password: 'x'.repeat(70 * 1024) });
    const response = await rawRequest(port, 'POST', '/api/v1/accounts', { 'Content-Type': 'application/json' }, big);
    expect(response.status, 'authentication comes before the body parser').to.equal(401);
  });

  it('survives malformed HTTP', async function () {
    const garbage = await new Promise<string>((resolve) => {
      const socket = net.connect({ host: HOST, port });
      let received = '';
      socket.on('data', (chunk) => (received += chunk.toString('latin1')));
      socket.on('close', () => resolve(received));
      socket.on('error', () => resolve(received));
      socket.write('GARBAGE\r\n\r\n');
    });
    expect(garbage).to.match(/^HTTP\/1\.1 400/);
    expect((await rawRequest(port, 'GET', '/health')).status).to.equal(200);
  });

  it('logs every admin request with the token\'s name, never the token, a password or a message body', async function () {
    let logged = '';
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logged += chunk.toString('utf8');
        done();
      },
    });
    const logging = await startTestServer({ host: HOST, domain: 'logged.hearth.example', log: createLogger('info', { pretty: false, destination: sink }) });
    try {
      const secret = (await logging.server.services.tokens.create({ name: 'auditor' })).token;
      const post = (path: string, body: unknown) =>
        fetch(`${logging.adminUrl}${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      expect((await post('/api/v1/accounts', { jid: 'logged@logged.hearth.example', password: 'Pa55-never-logged' })).status).to.equal(201);
      expect((await post('/api/v1/messages', { to: 'logged@logged.hearth.example', body: 'body-never-logged' })).status).to.equal(200);
      expect((await fetch(`${logging.adminUrl}/api/v1/stats`, { headers: { authorization: 'Bearer hearth_' + 'Z'.repeat(43) } })).status).to.equal(401);
      await delay(100);
    } finally {
      await logging.stop();
    }
    const entries = logged.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    const requests = entries.filter((e) => e.msg === 'admin request');
    expect(requests.map((e) => [e.tokenName, e.method, e.path, e.status])).to.deep.equal([
      ['auditor', 'POST', '/api/v1/accounts', 201],
      ['auditor', 'POST', '/api/v1/messages', 200],
    ]);
    expect(entries.some((e) => e.msg === 'admin request with an unknown token'), 'refused tokens are logged too').to.equal(true);
    expect(logged).to.not.match(/hearth_[A-Za-z0-9_-]{43}/);
    expect(logged).to.not.contain('Pa55-never-logged');
    expect(logged).to.not.contain('body-never-logged');
  });

  describe('deny by default, by construction', function () {
    function build() {
      return createAdminApp({
        services: ts.server.services,
        metrics: ts.server.metrics,
        version: VERSION,
        log: createLogger('silent', { pretty: false }),
      });
    }

    it('has exactly two public endpoints, /health and /ready', function () {
      const { routes } = build();
      expect(routes.filter((r) => r.access === 'public').map((r) => `${r.method} ${r.path}`)).to.deep.equal(['get /health', 'get /ready']);
    });

    it('mounts every other route after token authentication, and every admin route after the admin-scope check', function () {
      const { app } = build();
      const stack = (app as unknown as { router: { stack: Array<{ name: string; route?: { path: string } }> } }).router.stack;
      const authAt = stack.findIndex((layer) => layer.name === 'requireToken');
      const adminAt = stack.findIndex((layer) => layer.name === 'requireAdminScope');
      expect(authAt, 'the authentication layer').to.be.greaterThan(0);
      expect(adminAt, 'the admin-scope layer').to.be.greaterThan(authAt);
      const routeLayers = stack.map((layer, index) => ({ path: layer.route?.path, index })).filter((l) => l.path !== undefined);
      expect(routeLayers.filter((l) => l.index < authAt).map((l) => l.path)).to.deep.equal(['/health', '/ready']);
      expect(routeLayers.filter((l) => l.index > authAt && l.index < adminAt).map((l) => l.path)).to.deep.equal(['/metrics']);
      expect(routeLayers.filter((l) => l.index > adminAt).length).to.be.greaterThan(15);
    });

    it('protects a route added to the app afterwards (it comes after authentication too)', async function () {
      const { app } = build();
      app.get('/added-later', (_req, res) => {
        res.json({ reached: true });
      });
      const server = app.listen(0, HOST);
      await new Promise((resolve) => server.once('listening', resolve));
      try {
        const laterPort = (server.address() as net.AddressInfo).port;
        const anonymous = await rawRequest(laterPort, 'GET', '/added-later');
        expect(anonymous.status).to.equal(401);
        expect(anonymous.body).to.not.contain('reached');
      } finally {
        server.close();
        server.closeAllConnections();
      }
    });
  });
});
