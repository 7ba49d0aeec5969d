// The admin HTTP API (express): JSON under /api/v1, /metrics, and the probes /health and
// /ready. Deny by default, by the order things are mounted:
//   1. the path guard, for every request;
//   2. the routes marked public (the probes), and nothing else;
//   3. token authentication: every route mounted after it needs a valid token;
//   4. /metrics (admin or metrics tokens);
//   5. the admin-scope check, the JSON body parser, then every other route;
//   6. 404 for whatever is left (after authentication: strangers learn no paths), errors.
// A route added to the table is an admin route unless it says otherwise.
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { AdminServices } from '../../services/index.js';
import { ServiceError } from '../../services/errors.js';
import { parseInput } from '../../services/validation.js';
import { auditLog, authenticate, requireScope, type AuthenticatedLocals } from './auth.js';
import { errorHandler, notFound } from './errors.js';
import { buildOpenApiDocument } from './openapi.js';
import { pathGuard } from './path-guard.js';
import { expressPath, type AdminRoute } from './route.js';
import { adminRoutes, type MetricsSource } from './routes.js';

/** Request bodies are small JSON objects; anything larger is refused with 413. */
export const BODY_LIMIT_BYTES = 64 * 1024;

export interface AdminAppOptions {
  services: AdminServices;
  metrics: MetricsSource;
  version: string;
  log: Logger;
}

export interface AdminApp {
  app: Express;
  routes: readonly AdminRoute[];
}

export function createAdminApp({ services, metrics, version, log }: AdminAppOptions): AdminApp {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  // "/accounts/" is not "/accounts", "/API" is not "/api": no second spelling of a path.
  app.enable('strict routing');
  app.enable('case sensitive routing');
  // node:querystring: flat strings (or arrays for repeats, which validation refuses).
  app.set('query parser', 'simple');
  app.set('trust proxy', false);

  let document: unknown;
  const routes = adminRoutes({ services, metrics, openApi: () => (document ??= buildOpenApiDocument(routes, version)) });
  const access = (route: AdminRoute) => route.access ?? 'admin';

  app.use((_req: Request, res: Response, next: NextFunction) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });
  app.use(pathGuard);
  for (const route of routes.filter((r) => access(r) === 'public')) mount(app, route);

  app.use(authenticate(services.tokens, log));
  app.use(auditLog(log));
  for (const route of routes.filter((r) => access(r) === 'metrics')) mount(app, route, requireScope('admin', 'metrics'));

  app.use(requireScope('admin'));
  app.use(express.json({ limit: BODY_LIMIT_BYTES, strict: true, inflate: false }));
  for (const route of routes.filter((r) => access(r) === 'admin')) mount(app, route);

  app.use(notFound);
  app.use(errorHandler(log));
  return { app, routes };
}

function mount(app: Express, route: AdminRoute, ...guards: express.RequestHandler[]): void {
  app[route.method](expressPath(route.path), ...guards, async (req: Request, res: Response, next: NextFunction) => {
    try {
      const params = route.params ? parseInput(route.params, { ...req.params }) : undefined;
      const rawQuery = { ...(req.query as Record<string, unknown>) };
      let query: unknown;
      if (route.query) query = parseInput(route.query, rawQuery);
      else if (Object.keys(rawQuery).length > 0) throw new ServiceError('invalid', `${Object.keys(rawQuery)[0]}: unknown query parameter`, Object.keys(rawQuery)[0]);
      let body: unknown;
      if (route.body) {
        if (req.body === undefined) throw new ServiceError('invalid', 'a JSON body is required (Content-Type: application/json)', 'body');
        body = parseInput(route.body, req.body, 'body');
      }
      const token = (res.locals as Partial<AuthenticatedLocals>).token ?? null;
      const reply = await route.handle({ params: params as never, query: query as never, body: body as never, token });
      if (reply.status === 204) res.status(204).end();
      else if (reply.contentType !== undefined) res.status(reply.status).type(reply.contentType).send(String(reply.body));
      else res.status(reply.status).json(reply.body);
    } catch (err) {
      next(err);
    }
  });
}
