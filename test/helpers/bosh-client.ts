// A BOSH client made of plain HTTP requests (XEP-0124/XEP-0206), for tests that check the
// exact bodies a connection manager sends.
import http from 'node:http';
import { parse as parseXml, type Element } from 'ltx';

export const NS_HTTPBIND = 'http://jabber.org/protocol/httpbind';
export const NS_XBOSH = 'urn:xmpp:xbosh';

export interface BoshResponse {
  status: number;
  text: string;
  headers: Headers;
  /** The parsed <body/>, when the response is XML. */
  body: Element | null;
}

export class BoshClient {
  sid = '';
  rid: number;
  constructor(
    public url: string,
    readonly domain: string,
    /** `freshConnections`: each request on a new TCP connection (to be spread over workers). */
    readonly options: { origin?: string; freshConnections?: boolean } = {},
  ) {
    this.rid = 1_000_000 + Math.floor(Math.random() * 1_000_000_000);
  }

  async post(xml: string): Promise<BoshResponse> {
    const headers: Record<string, string> = { 'Content-Type': 'text/xml; charset=utf-8' };
    if (this.options.origin) headers.Origin = this.options.origin;
    const response = this.options.freshConnections ? await postOnNewConnection(this.url, headers, xml) : await fetch(this.url, { method: 'POST', headers, body: xml });
    const text = await response.text();
    let body: Element | null = null;
    try {
      body = text.startsWith('<') ? parseXml(text) : null;
    } catch {
      body = null;
    }
    return { status: response.status, text, headers: response.headers, body };
  }

  /** §7.1 session creation (XEP-0206 §4). */
  async create(attrs: Record<string, string> = {}): Promise<BoshResponse> {
    const all: Record<string, string> = {
      content: 'text/xml; charset=utf-8',
      hold: '1',
      rid: String(this.rid++),
      to: this.domain,
      wait: '2',
      'xml:lang': 'en',
      ver: '1.6',
      'xmpp:version': '1.0',
      'xmlns:xmpp': NS_XBOSH,
      ...attrs,
    };
    const response = await this.post(`<body xmlns='${NS_HTTPBIND}'${attributes(all)}/>`);
    this.sid = response.body?.attrs.sid ?? '';
    return response;
  }

  /** A request in the session with the next rid, carrying `payload`. */
  request(payload = '', attrs: Record<string, string> = {}): { rid: number; xml: string; send: () => Promise<BoshResponse> } {
    const rid = this.rid++;
    const xml = `<body xmlns='${NS_HTTPBIND}' rid='${rid}' sid='${this.sid}'${attributes(attrs)}>${payload}</body>`;
    return { rid, xml, send: () => this.post(xml) };
  }

  send(payload = '', attrs: Record<string, string> = {}): Promise<BoshResponse> {
    return this.request(payload, attrs).send();
  }

  /** XEP-0206 §5 stream restart. */
  restart(): Promise<BoshResponse> {
    return this.send('', { to: this.domain, 'xml:lang': 'en', 'xmpp:restart': 'true', 'xmlns:xmpp': NS_XBOSH });
  }

  /** Creates a session, authenticates with PLAIN (a loopback server), restarts and binds. */
  async login(username: string, password: string, resource = 'bosh'): Promise<string> {
    const created = await this.create();
    if (!created.body?.getChild('features')) throw new Error(`no features in ${created.text}`);
    const auth = await this.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from(`\0${username}\0${password}`).toString('base64')}</auth>`);
    if (!auth.body?.getChild('success')) throw new Error(`no success in ${auth.text}`);
    const restarted = await this.restart();
    if (!restarted.body?.getChild('features')?.getChild('bind')) throw new Error(`no bind feature in ${restarted.text}`);
    const bound = await this.send(`<iq xmlns='jabber:client' type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${resource}</resource></bind></iq>`);
    const jid = bound.body?.getChild('iq')?.getChild('bind')?.getChildText('jid');
    if (!jid) throw new Error(`no jid in ${bound.text}`);
    return jid;
  }

  /** Long-polls until a response carries a child matching `match` (or `ms` passes). */
  async waitFor(match: (el: Element) => boolean, ms = 8_000): Promise<Element> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const response = await this.send();
      if (response.body?.attrs.type === 'terminate') throw new Error(`session terminated: ${response.text}`);
      const found = response.body?.getChildElements().find(match);
      if (found) return found;
    }
    throw new Error('timed out waiting for a payload');
  }
}

/** fetch() reuses connections; this opens one per request. */
function postOnNewConnection(url: string, headers: Record<string, string>, body: string): Promise<{ status: number; headers: Headers; text(): Promise<string> }> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: 'POST', agent: false, headers: { ...headers, 'Content-Length': String(Buffer.byteLength(body)) } }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => {
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(response.headers)) if (typeof value === 'string') responseHeaders.set(name, value);
        resolve({ status: response.statusCode ?? 0, headers: responseHeaders, text: async () => text });
      });
    });
    request.on('error', reject);
    request.end(body);
  });
}

function attributes(attrs: Record<string, string>): string {
  return Object.entries(attrs)
    .map(([k, v]) => ` ${k}='${v.replace(/&/g, '&amp;').replace(/'/g, '&apos;').replace(/</g, '&lt;')}'`)
    .join('');
}
