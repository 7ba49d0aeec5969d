// XEP-0156 §3: HTTP discovery of the WebSocket and BOSH endpoints, as XRD (RFC 6415) and
// JSON. One pair of endpoints serves every domain (the stream's `to` picks the domain), so
// each domain's host-meta lists the same URLs.
import type { Request, Response } from 'express';
import { escapeXML } from 'ltx';
import { isLoopback } from './client-address.js';

export const REL_WEBSOCKET = 'urn:xmpp:alt-connections:websocket';
export const REL_BOSH = 'urn:xmpp:alt-connections:xbosh';

export interface Endpoints {
  websocket: string;
  bosh: string;
}

/**
 * Where clients reach this listener: http.publicUrl when set (behind a proxy), else the
 * address the request was made to, if that is a served domain or this machine.
 */
export function publicBase(request: Request, publicUrl: string | null, domains: ReadonlySet<string>): URL | null {
  if (publicUrl) return new URL(publicUrl.endsWith('/') ? publicUrl : `${publicUrl}/`);
  const host = request.headers.host;
  if (!host) return null;
  let base: URL;
  try {
    base = new URL(`${request.socket && 'encrypted' in request.socket ? 'https' : 'http'}://${host}/`);
  } catch {
    return null;
  }
  const hostname = base.hostname.startsWith('[') ? base.hostname.slice(1, -1) : base.hostname;
  if (!domains.has(hostname) && !isLoopback(hostname) && hostname !== 'localhost') return null;
  return base;
}

export function endpointsFor(base: URL, websocketPath: string, boshPath: string): Endpoints {
  const websocket = new URL(websocketPath.replace(/^\//, ''), base);
  websocket.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
  return { websocket: websocket.toString(), bosh: new URL(boshPath.replace(/^\//, ''), base).toString() };
}

const XRD_NS = 'http://docs.oasis-open.org/ns/xri/xrd-1.0';

export function hostMetaXrd(endpoints: Endpoints): string {
  return (
    `<?xml version='1.0' encoding='utf-8'?>\n<XRD xmlns='${XRD_NS}'>\n` +
    `  <Link rel='${REL_WEBSOCKET}' href='${escapeXML(endpoints.websocket)}'/>\n` +
    `  <Link rel='${REL_BOSH}' href='${escapeXML(endpoints.bosh)}'/>\n` +
    `</XRD>\n`
  );
}

export function hostMetaJson(endpoints: Endpoints): string {
  return JSON.stringify({
    links: [
      { rel: REL_WEBSOCKET, href: endpoints.websocket },
      { rel: REL_BOSH, href: endpoints.bosh },
    ],
  });
}

export function serveHostMeta(
  format: 'xrd' | 'json',
  publicUrl: string | null,
  domains: ReadonlySet<string>,
  paths: { websocket: string; bosh: string },
) {
  return (request: Request, response: Response): void => {
    // §3.2.2 / RFC 6415: readable by web clients on other origins.
    response.setHeader('Access-Control-Allow-Origin', '*');
    const base = publicBase(request, publicUrl, domains);
    if (!base) {
      response.status(404).type('text/plain').send('Unknown host: set http.publicUrl when Hearth is reached through another name.\n');
      return;
    }
    const endpoints = endpointsFor(base, paths.websocket, paths.bosh);
    response.setHeader('Cache-Control', 'public, max-age=3600');
    if (format === 'xrd') response.type('application/xrd+xml').send(hostMetaXrd(endpoints));
    else response.type('application/json').send(hostMetaJson(endpoints));
  };
}
