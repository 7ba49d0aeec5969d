// /chat: the page, its settings and converse.js's files, with the headers a browser needs.
// (Logging in through it in a real browser: browser-tests/.)
import { expect } from 'chai';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe('web chat (/chat)', function () {
  const servers: TestServer[] = [];
  after(async function () {
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('serves a page that loads converse.js and its settings, under a strict policy', async function () {
    const ts = await startTestServer({ host: '127.0.0.146' });
    servers.push(ts);
    const page = await fetch(`${ts.httpUrl}/chat`);
    expect(page.status).to.equal(200);
    expect(page.headers.get('content-type')).to.equal('text/html; charset=utf-8');
    expect(page.headers.get('cache-control')).to.equal('no-cache');
    expect(page.headers.get('x-content-type-options')).to.equal('nosniff');
    const policy = page.headers.get('content-security-policy') ?? '';
    expect(policy).to.contain("script-src 'self' 'wasm-unsafe-eval'");
    expect(policy).to.contain("frame-ancestors 'none'");
    expect(policy).to.not.match(/script-src[^;]*unsafe-inline/);
    const html = await page.text();
    const script = /<script type="module" src="([^"]+converse\.min\.js)"/.exec(html)?.[1];
    const settingsUrl = /<script src="([^"]+settings\.js[^"]*)"/.exec(html)?.[1];
    expect(script, 'converse.js script').to.be.a('string');
    expect(settingsUrl, 'settings script').to.be.a('string');

    const code = await fetch(`${ts.httpUrl}${script}`);
    expect(code.status).to.equal(200);
    expect(code.headers.get('content-type')).to.match(/^(application|text)\/javascript/);
    expect(code.headers.get('cache-control')).to.match(/immutable/);
    expect((await code.arrayBuffer()).byteLength).to.be.greaterThan(100_000);
    const css = await fetch(`${ts.httpUrl}${script!.replace('converse.min.js', 'converse.min.css')}`);
    expect(css.status).to.equal(200);
    expect(css.headers.get('content-type')).to.match(/^text\/css/);

    const settings = await fetch(`${ts.httpUrl}${settingsUrl!.replace(/&amp;/g, '&')}`);
    expect(settings.status).to.equal(200);
    expect(settings.headers.get('content-type')).to.match(/^text\/javascript/);
    const text = await settings.text();
    expect(text).to.contain(`"locked_domain":"${ts.domain}"`);
    expect(text).to.contain('"view_mode":"fullscreen"');
    expect(text).to.contain('/xmpp-websocket');
    expect(text).to.contain('/http-bind');
    // Files outside the package are not reachable through the asset path.
    const escape = await fetch(`${ts.httpUrl}${script!.replace('converse.min.js', '..%2F..%2Fpackage.json')}`);
    expect(escape.status).to.equal(404);
  });

  it('names absolute endpoints under http.publicUrl, and is off with http.webClient: false', async function () {
    const proxied = await startTestServer({ host: '127.0.0.146', config: { http: { publicUrl: 'https://chat.example.org/' } } });
    servers.push(proxied);
    const settings = await (await fetch(`${proxied.httpUrl}/chat/settings.js`)).text();
    expect(settings).to.contain('"wss://chat.example.org/xmpp-websocket"');
    expect(settings).to.contain('"https://chat.example.org/http-bind"');
    const policy = (await fetch(`${proxied.httpUrl}/chat`)).headers.get('content-security-policy');
    expect(policy).to.contain('connect-src \'self\' wss://chat.example.org/xmpp-websocket https://chat.example.org');

    const off = await startTestServer({ host: '127.0.0.146', config: { http: { webClient: false } } });
    servers.push(off);
    expect((await fetch(`${off.httpUrl}/chat`)).status).to.equal(404);
    // The rest of the listener still works.
    expect((await fetch(`${off.httpUrl}/.well-known/host-meta`)).status).to.equal(200);
  });
});
