// http.tlsListen: the client HTTP listener over TLS, each domain's certificate chosen by SNI;
// WebSocket (wss:) and host-meta over it.
import https from 'node:https';
import { expect } from 'chai';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { openElement, RawWebSocket } from '../helpers/raw-websocket.js';

function getTls(url: string, servername: string): Promise<{ status: number; body: string; subject: string }> {
  return new Promise((resolve, reject) => {
    const request = https.get(url, { servername, headers: { host: `${servername}:${new URL(url).port}` } }, (response) => {
      let body = '';
      const subject = (response.socket as import('node:tls').TLSSocket).getPeerCertificate().subjectaltname ?? '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body, subject }));
    });
    request.on('error', reject);
  });
}

describe('client HTTP over TLS (http.tlsListen)', function () {
  let ts: TestServer;
  let base: string;

  before(async function () {
    ts = await startTestServer({ host: '127.0.0.198', config: { http: { listen: [], tlsListen: ['127.0.0.198:0'] } } });
    const bound = ts.server.http.bound.find((b) => b.kind === 'https');
    base = `https://${bound!.host}:${bound!.port}`;
  });

  after(async function () {
    await ts?.stop();
  });

  it('serves host-meta with wss:// and https:// endpoints and the domain\'s certificate', async function () {
    const response = await getTls(`${base}/.well-known/host-meta.json`, ts.domain);
    expect(response.status).to.equal(200);
    expect(response.subject).to.contain(ts.domain);
    const links = (JSON.parse(response.body) as { links: Array<{ rel: string; href: string }> }).links;
    const port = new URL(base).port;
    expect(links.find((l) => l.rel.endsWith(':websocket'))?.href).to.equal(`wss://${ts.domain}:${port}/xmpp-websocket`);
    expect(links.find((l) => l.rel.endsWith(':xbosh'))?.href).to.equal(`https://${ts.domain}:${port}/http-bind`);
  });

  it('accepts XMPP over wss: and offers authentication', async function () {
    const socket = await RawWebSocket.open(`${base.replace(/^https/, 'wss')}/xmpp-websocket`, { servername: ts.domain });
    try {
      const features = await socket.request(openElement(ts.domain), /<stream:features/);
      expect(features).to.contain('<mechanism>SCRAM-SHA-1</mechanism>');
      expect(features).to.contain('<mechanism>PLAIN</mechanism>');
    } finally {
      socket.close();
    }
  });
});
