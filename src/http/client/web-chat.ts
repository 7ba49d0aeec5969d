// The web chat at /chat: converse.js (the pinned npm package, served from node_modules as
// published) and a small page that configures it for the domain: WebSocket first, BOSH as
// the fallback, full screen, the domain locked. No build step; http.webClient: false turns it off.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import express, { type Express, type Request, type Response } from 'express';
import { escapeXML as escapeHtml } from 'ltx';
import { BOSH_PATH } from './bosh.js';
import { WEBSOCKET_PATH } from './websocket.js';

export const CHAT_PATH = '/chat';

/** How long the page waits for an XMPP stream over WebSocket before it uses BOSH. */
const WEBSOCKET_PROBE_MS = 5_000;

/** converse.js's published files, and its version (part of asset URLs, so caches renew with it). */
function converseDist(): { dir: string; version: string } {
  const require = createRequire(import.meta.url);
  const main = require.resolve('converse.js/dist/converse.min.js');
  const dir = path.dirname(main);
  const manifest = JSON.parse(readFileSync(path.join(dir, '..', 'package.json'), 'utf8')) as { version: string };
  return { dir, version: manifest.version };
}

/**
 * What the page may do. converse.js styles elements inline and compiles its OMEMO library from
 * WebAssembly; it talks only to this origin (WebSocket and BOSH; 'self' covers ws:/wss: to the
 * same host). Images and media come from this origin only: a picture link in a message would
 * otherwise tell a third party who is reading it (such links stay links).
 */
export function chatContentSecurityPolicy(connectTo: readonly string[]): string {
  return [
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob:",
    "font-src 'self' data:",
    `connect-src 'self'${connectTo.map((url) => ` ${url}`).join('')}`,
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export interface WebChatOptions {
  domains: readonly string[];
  publicUrl: string | null;
}

export function mountWebChat(app: Express, options: WebChatOptions): void {
  const { dir, version } = converseDist();
  const served = new Set(options.domains);
  const base = options.publicUrl ? new URL(options.publicUrl.endsWith('/') ? options.publicUrl : `${options.publicUrl}/`) : null;
  const endpoints = base
    ? {
        websocket: Object.assign(new URL(WEBSOCKET_PATH.slice(1), base), { protocol: base.protocol === 'https:' ? 'wss:' : 'ws:' }).toString(),
        bosh: new URL(BOSH_PATH.slice(1), base).toString(),
      }
    : null;
  const policy = chatContentSecurityPolicy(endpoints ? [endpoints.websocket, new URL(endpoints.bosh).origin] : []);
  const assets = `${base ? base.pathname.replace(/\/$/, '') : ''}${CHAT_PATH}/dist/${version}/`;

  /** The domain a page is for: the one it was asked under, else the first one served. */
  const domainOf = (request: Request): string => {
    const hostname = (request.hostname ?? '').toLowerCase();
    return served.has(hostname) ? hostname : options.domains[0]!;
  };

  const pageHeaders = (response: Response) => {
    response.setHeader('Content-Security-Policy', policy);
    response.setHeader('Cache-Control', 'no-cache');
    response.setHeader('Referrer-Policy', 'no-referrer');
    response.setHeader('X-Frame-Options', 'DENY');
  };

  app.get(CHAT_PATH, (request, response) => {
    const domain = domainOf(request);
    pageHeaders(response);
    response.type('text/html; charset=utf-8').send(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(domain)} chat</title>
<link rel="stylesheet" href="${assets}converse.min.css">
<script src="${CHAT_PATH}/settings.js?domain=${encodeURIComponent(domain)}"></script>
<script type="module" src="${assets}converse.min.js"></script>
<style>converse-footer { display: none; }</style>
</head>
<body class="converse-fullscreen">
<noscript>This chat needs JavaScript. Any XMPP client works with ${escapeHtml(domain)} too.</noscript>
</body>
</html>
`);
  });

  // The settings live in their own script: the policy allows no inline scripts.
  app.get(`${CHAT_PATH}/settings.js`, (request, response) => {
    const asked = typeof request.query.domain === 'string' ? request.query.domain : '';
    const domain = served.has(asked) ? asked : domainOf(request);
    const settings = {
      assets_path: assets,
      view_mode: 'fullscreen',
      locked_domain: domain,
      auto_reconnect: true,
      discover_connection_methods: false,
      allow_registration: false,
      loglevel: 'warn',
    };
    // Without a public URL the endpoints are wherever the page was loaded from.
    const connection = endpoints
      ? `settings.websocket_url = ${JSON.stringify(endpoints.websocket)}; settings.bosh_service_url = ${JSON.stringify(endpoints.bosh)};`
      : `settings.websocket_url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + ${JSON.stringify(WEBSOCKET_PATH)};
  settings.bosh_service_url = location.protocol + '//' + location.host + ${JSON.stringify(BOSH_PATH)};`;
    pageHeaders(response);
    response.type('text/javascript; charset=utf-8').send(`// Hearth: converse.js for ${domain}. WebSocket first: when an XMPP stream cannot be opened
// over it (a proxy without WebSocket support), BOSH. converse.js itself switches between the
// two when an established connection drops.
(function () {
  var settings = ${JSON.stringify(settings)};
  ${connection}
  var started = false;
  function start(useWebSocket) {
    if (started) return;
    started = true;
    if (!useWebSocket) delete settings.websocket_url;
    if (window.converse) window.converse.initialize(settings);
    else window.addEventListener('converse-loaded', function () { window.converse.initialize(settings); });
  }
  var probe;
  try {
    probe = new WebSocket(settings.websocket_url, 'xmpp');
  } catch (e) {
    return start(false);
  }
  var timer = setTimeout(function () { probe.close(); start(false); }, ${WEBSOCKET_PROBE_MS});
  probe.onopen = function () {
    probe.send("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='" + settings.locked_domain + "' version='1.0'/>");
  };
  probe.onmessage = function (event) {
    if (String(event.data).indexOf('<open') !== 0) return;
    clearTimeout(timer);
    probe.send("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>");
    probe.close();
    start(true);
  };
  probe.onclose = function () { clearTimeout(timer); start(false); };
})();
`);
  });

  // The package's files never change for a version: cached for long, revalidated by version.
  app.use(`${CHAT_PATH}/dist/${version}`, express.static(dir, { maxAge: '7d', immutable: true, index: false, fallthrough: true, dotfiles: 'ignore' }));
}
