// The OpenAPI document is honest: every route the express app serves is documented, every
// documented operation is served, and the document is the one generated from the routes.
// (test/admin/api.test.ts checks every response against it and that each operation was
// exercised.)
import { expect } from 'chai';
import { createLogger } from '../../src/core/log.js';
import { createAdminApp } from '../../src/http/admin/app.js';
import { buildOpenApiDocument } from '../../src/http/admin/openapi.js';
import { expressPath } from '../../src/http/admin/route.js';
import { VERSION } from '../../src/server.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { AdminApi, type OpenApiDocument } from './helpers/api.js';

const HOST = '127.0.0.132';

interface RouteLayer {
  route?: { path: string; methods: Record<string, boolean> };
}

describe('admin API OpenAPI document', function () {
  let ts: TestServer;
  let api: AdminApi;
  let document: OpenApiDocument;

  before(async function () {
    this.timeout(60_000);
    ts = await startTestServer({ host: HOST, domain: 'openapi.hearth.example' });
    api = await AdminApi.open(ts.adminUrl, (await ts.server.services.tokens.create({ name: 'docs' })).token);
    document = api.document;
  });

  after(async function () {
    await ts?.stop();
  });

  /** "get /api/v1/accounts/:jid" for every route layer of the app the server builds. */
  function servedRoutes(): string[] {
    const { app } = createAdminApp({ services: ts.server.services, metrics: ts.server.metrics, version: VERSION, log: createLogger('silent', { pretty: false }) });
    const stack = (app as unknown as { router: { stack: RouteLayer[] } }).router.stack;
    return stack.flatMap((layer) =>
      layer.route ? Object.keys(layer.route.methods).filter((m) => m !== '_all').map((method) => `${method} ${layer.route!.path}`) : [],
    );
  }

  function documentedRoutes(): string[] {
    return api.operations().map(({ method, template }) => `${method} ${expressPath(template)}`);
  }

  it('documents every route the app serves, and the app serves every documented one', function () {
    const served = servedRoutes();
    const documented = documentedRoutes();
    expect(served.filter((r) => !documented.includes(r)), 'served but undocumented').to.deep.equal([]);
    expect(documented.filter((r) => !served.includes(r)), 'documented but not served').to.deep.equal([]);
    expect(new Set(served).size, 'no route twice').to.equal(served.length);
  });

  it('names exactly the endpoints of the issue', function () {
    expect(documentedRoutes().sort()).to.deep.equal(
      [
        'get /health',
        'get /ready',
        'get /metrics',
        'get /api/v1/openapi.json',
        'get /api/v1/accounts',
        'post /api/v1/accounts',
        'get /api/v1/accounts/:jid',
        'delete /api/v1/accounts/:jid',
        'put /api/v1/accounts/:jid/password',
        'post /api/v1/accounts/:jid/disable',
        'post /api/v1/accounts/:jid/enable',
        'get /api/v1/sessions',
        'get /api/v1/accounts/:jid/sessions',
        'delete /api/v1/accounts/:jid/sessions',
        'delete /api/v1/accounts/:jid/sessions/:resource',
        'get /api/v1/accounts/:jid/roster',
        'post /api/v1/accounts/:jid/roster',
        'delete /api/v1/accounts/:jid/roster/:contact',
        'post /api/v1/messages',
        'post /api/v1/announcements',
        'get /api/v1/accounts/:jid/offline',
        'delete /api/v1/accounts/:jid/offline',
        'get /api/v1/accounts/:jid/archive',
        'delete /api/v1/accounts/:jid/archive',
        'get /api/v1/stats',
        'get /api/v1/rooms',
        'post /api/v1/rooms',
        'delete /api/v1/rooms/:jid',
        'get /api/v1/rooms/:jid/affiliations',
        'put /api/v1/rooms/:jid/affiliations/:memberJid',
        'get /api/v1/invites',
        'post /api/v1/invites',
        'delete /api/v1/invites/:id',
        'post /api/v1/invites/revoke',
      ].sort(),
    );
  });

  it('serves the document generated from the route definitions, as OpenAPI 3.1', function () {
    const { routes } = createAdminApp({ services: ts.server.services, metrics: ts.server.metrics, version: VERSION, log: createLogger('silent', { pretty: false }) });
    expect(document).to.deep.equal(JSON.parse(JSON.stringify(buildOpenApiDocument(routes, VERSION))));
    expect(document.openapi).to.equal('3.1.0');
  });

  it('describes each operation completely: unique ids, every path parameter, auth and errors', function () {
    const ids = new Set<string>();
    for (const { method, template, operation } of api.operations()) {
      const op = operation as typeof operation & { operationId: string; security: unknown[] };
      const where = `${method} ${template}`;
      expect(ids.has(op.operationId), `${where}: operationId ${op.operationId} is unique`).to.equal(false);
      ids.add(op.operationId);
      const pathParams = [...template.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      expect((op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name), where).to.deep.equal(pathParams);
      const statuses = Object.keys(op.responses);
      expect(statuses.some((s) => s.startsWith('2')), `${where}: a success response`).to.equal(true);
      if (op.security.length > 0) expect(statuses, where).to.include('401');
      expect(statuses.includes('403'), `${where}: 403 exactly where a metrics token is refused`).to.equal(op.security.length > 0 && template !== '/metrics');
      if (pathParams.length > 0 || op.requestBody) expect(statuses, where).to.include('400');
      if (template.includes('{jid}')) expect(statuses, where).to.include('404');
    }
    const publicOps = api.operations().filter(({ operation }) => (operation.security ?? []).length === 0).map(({ template }) => template);
    expect(publicOps).to.deep.equal(['/health', '/ready']);
  });
});
