// Which web pages may open XMPP sessions from a browser (WebSocket and BOSH). A page of a
// served domain on any port may; so may the origins in http.allowedOrigins, and a page this
// very listener served on a loopback address (the web chat opened on the machine itself).
// A request without an Origin header does not come from a web page (native clients): allowed.
import type { IncomingMessage } from 'node:http';
import { isLoopback } from './client-address.js';

export class OriginPolicy {
  private readonly domains: ReadonlySet<string>;
  private readonly extra: ReadonlySet<string>;

  constructor(domains: Iterable<string>, allowedOrigins: readonly string[]) {
    this.domains = new Set([...domains].map((d) => d.toLowerCase()));
    this.extra = new Set(allowedOrigins.map((o) => new URL(o).origin));
  }

  /** The Origin header of a request, if any (a browser sends exactly one). */
  static originOf(request: IncomingMessage): string | undefined {
    const origin = request.headers.origin;
    return typeof origin === 'string' ? origin : undefined;
  }

  allows(request: IncomingMessage): boolean {
    const origin = OriginPolicy.originOf(request);
    if (origin === undefined) return true;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false; // "null" (sandboxed pages, file: URLs) and anything unparsable
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return false;
    if (this.domains.has(url.hostname)) return true;
    if (this.extra.has(url.origin)) return true;
    const host = hostnameOf(request.headers.host);
    return url.host === request.headers.host?.toLowerCase() && host !== null && (isLoopback(host) || host === 'localhost');
  }
}

/** "127.0.0.1:5280" → "127.0.0.1", "[::1]:5280" → "::1". */
function hostnameOf(hostHeader: string | undefined): string | null {
  if (!hostHeader) return null;
  try {
    const hostname = new URL(`http://${hostHeader}`).hostname;
    return hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  } catch {
    return null;
  }
}
