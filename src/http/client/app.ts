// The client-facing express app: BOSH, XEP-0156 discovery, the web chat and invitation
// landing pages (WebSocket upgrades bypass it: listener.ts).
import express, { type Express } from 'express';
import type { Config } from '../../config.js';
import { BOSH_PATH, type BoshEndpoint } from './bosh.js';
import { serveHostMeta } from './host-meta.js';
import { mountInvitePage, type InviteLookup } from './invite-page.js';
import { mountWebChat } from './web-chat.js';
import { WEBSOCKET_PATH } from './websocket.js';

export interface ClientAppOptions {
  config: Config;
  domains: ReadonlySet<string>;
  bosh: BoshEndpoint;
  /** XEP-0401 invitations, for their landing pages at /invite/<token>. */
  invites: InviteLookup;
}

export function createClientApp(options: ClientAppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use((_request, response, next) => {
    response.setHeader('X-Content-Type-Options', 'nosniff');
    next();
  });
  options.bosh.mount(app);
  if (options.config.http.webClient) mountWebChat(app, { domains: options.config.domains, publicUrl: options.config.http.publicUrl });
  const paths = { websocket: WEBSOCKET_PATH, bosh: BOSH_PATH };
  app.get('/.well-known/host-meta', serveHostMeta('xrd', options.config.http.publicUrl, options.domains, paths));
  app.get('/.well-known/host-meta.json', serveHostMeta('json', options.config.http.publicUrl, options.domains, paths));
  mountInvitePage(app, options.invites);
  app.use((_request, response) => {
    response.status(404).type('text/plain').send('Not found.\n');
  });
  return app;
}
