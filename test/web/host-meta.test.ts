// XEP-0156 §3 discovery documents, and who the HTTP layer believes a client is.
import http, { type IncomingMessage } from 'node:http';
import { expect } from 'chai';
import { parse as parseXml } from 'ltx';
import { ClientAddresses } from '../../src/http/client/client-address.js';
import { OriginPolicy } from '../../src/http/client/origins.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const XRD = 'http://docs.oasis-open.org/ns/xri/xrd-1.0';
const REL_WEBSOCKET = 'urn:xmpp:alt-connections:websocket';

describe('host-meta (XEP-0156)', function () {
  const servers: TestServer[] = [];
  after(async function () {
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('lists the WebSocket and BOSH endpoints in XRD and JSON, at the address asked', async function () {
    const ts = await startTestServer({ host: '127.0.0.139' });
    servers.push(ts);
    const xrdResponse = await fetch(`${ts.httpUrl}/.well-known/host-meta`);
    expect(xrdResponse.status).to.equal(200);
    expect(xrdResponse.headers.get('content-type')).to.match(/^application\/xrd\+xml/);
    expect(xrdResponse.headers.get('access-control-allow-origin')).to.equal('*');
    const xrd = parseXml(await xrdResponse.text());
    expect(xrd.name).to.equal('XRD');
    expect(xrd.attrs.xmlns).to.equal(XRD);
    const links = xrd.getChildren('Link');
    const websocket = links.find((l) => l.attrs.rel === REL_WEBSOCKET);
    expect(websocket?.attrs.href).to.equal(`${ts.httpUrl.replace(/^http/, 'ws')}/xmpp-websocket`);
    const bosh = links.find((l) => l.attrs.rel === 'urn:xmpp:alt-connections:xbosh');
    expect(bosh?.attrs.href).to.equal(`${ts.httpUrl}/http-bind`);

    const jsonResponse = await fetch(`${ts.httpUrl}/.well-known/host-meta.json`);
    expect(jsonResponse.headers.get('content-type')).to.match(/^application\/json/);
    const json = (await jsonResponse.json()) as { links: Array<{ rel: string; href: string }> };
    expect(json.links.find((l) => l.rel === REL_WEBSOCKET)?.href).to.equal(websocket?.attrs.href);
    expect(json.links.find((l) => l.rel === 'urn:xmpp:alt-connections:xbosh')?.href).to.equal(bosh?.attrs.href);
  });

  it('uses http.publicUrl behind a proxy, and refuses hosts it does not serve without it', async function () {
    const proxied = await startTestServer({ host: '127.0.0.139', config: { http: { publicUrl: 'https://chat.example.org/xmpp' } } });
    servers.push(proxied);
    const json = (await (await fetch(`${proxied.httpUrl}/.well-known/host-meta.json`)).json()) as { links: Array<{ rel: string; href: string }> };
    expect(json.links.find((l) => l.rel === REL_WEBSOCKET)?.href).to.equal('wss://chat.example.org/xmpp/xmpp-websocket');

    const plain = servers[0]!;
    const foreign = await getWithHost(`${plain.httpUrl}/.well-known/host-meta`, 'elsewhere.example');
    expect(foreign.status).to.equal(404);
    expect(foreign.body).to.match(/publicUrl/);
    const served = await getWithHost(`${plain.httpUrl}/.well-known/host-meta.json`, `${plain.domain}:5280`);
    const links = JSON.parse(served.body) as { links: Array<{ href: string }> };
    expect(links.links[0]?.href).to.equal(`ws://${plain.domain}:5280/xmpp-websocket`);
  });
});

/** fetch() may not set Host; a browser reaching Hearth by another name does. */
function getWithHost(url: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers: { host } }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

function request(peer: string, headers: Record<string, string> = {}): IncomingMessage {
  return { socket: { remoteAddress: peer }, headers } as unknown as IncomingMessage;
}

describe('client addresses and origins', function () {
  it('believes X-Forwarded-For only from a trusted proxy, taking the rightmost untrusted hop', function () {
    const addresses = new ClientAddresses(['10.0.0.0/8', '2001:db8::1']);
    expect(addresses.of(request('198.51.100.7', { 'x-forwarded-for': '203.0.113.1' }))).to.deep.equal({ address: '198.51.100.7', secure: false, tls: null });
    expect(addresses.of(request('127.0.0.1'))).to.deep.equal({ address: '127.0.0.1', secure: true, tls: null });
    expect(addresses.of(request('::ffff:127.0.0.5'))).to.deep.equal({ address: '127.0.0.5', secure: true, tls: null });
    // The client may prepend anything; the proxy appends what it saw.
    expect(addresses.of(request('10.1.2.3', { 'x-forwarded-for': '1.2.3.4, 203.0.113.9' }))).to.deep.equal({ address: '203.0.113.9', secure: true, tls: null });
    // Chained trusted proxies are skipped.
    expect(addresses.of(request('2001:db8::1', { 'x-forwarded-for': '203.0.113.9, 10.9.9.9' }))).to.deep.equal({ address: '203.0.113.9', secure: true, tls: null });
    // A trusted proxy that forwarded nothing is the client.
    expect(addresses.of(request('10.1.2.3'))).to.deep.equal({ address: '10.1.2.3', secure: true, tls: null });
  });

  it('allows served domains on any port, listed origins, loopback same-origin pages and no Origin', function () {
    const policy = new OriginPolicy(['hearth.example'], ['https://app.example.org']);
    const from = (origin: string | undefined, host = 'hearth.example:5280') =>
      policy.allows(request('127.0.0.1', { host, ...(origin !== undefined ? { origin } : {}) }));
    expect(from(undefined)).to.equal(true);
    expect(from('https://hearth.example')).to.equal(true);
    expect(from('http://hearth.example:8080')).to.equal(true);
    expect(from('https://app.example.org')).to.equal(true);
    expect(from('https://app.example.org:444')).to.equal(false);
    expect(from('https://evil.example')).to.equal(false);
    expect(from('null')).to.equal(false);
    expect(from('http://127.0.0.1:5280', '127.0.0.1:5280')).to.equal(true);
    // Same origin, but not a loopback listener: only served domains and listed origins.
    expect(from('http://203.0.113.5:5280', '203.0.113.5:5280')).to.equal(false);
    expect(from('http://127.0.0.1:5281', '127.0.0.1:5280')).to.equal(false);
  });
});
