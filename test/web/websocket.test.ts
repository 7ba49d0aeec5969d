// RFC 7395 XMPP over WebSocket: the same session machine as TCP behind a different framing.
// @xmpp/client drives it like a browser client would; raw connections check the framing.
import { expect } from 'chai';
import { parse as parseXml } from 'ltx';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { openElement, RawWebSocket, NS_FRAMING } from '../helpers/raw-websocket.js';
import { plainAuth } from '../helpers/raw.js';
import { collectStanzas, connect, delay, nextStanza, stopQuietly, xml, type Client, type Element } from '../helpers/xmpp-client.js';

const PASSWORD = 'web-secret';

describe('WebSocket (RFC 7395)', function () {
  let ts: TestServer;
  let wsUrl: string;
  const clients: Client[] = [];
  const sockets: RawWebSocket[] = [];
  let users = 0;

  before(async function () {
    ts = await startTestServer({ host: '127.0.0.136' });
    wsUrl = `${ts.httpUrl.replace(/^http/, 'ws')}/xmpp-websocket`;
  });

  afterEach(async function () {
    await Promise.all(clients.splice(0).map(stopQuietly));
    for (const socket of sockets.splice(0)) socket.close();
  });

  after(async function () {
    await ts?.stop();
  });

  async function account(name: string): Promise<string> {
    const local = `${name}${++users}`;
    await ts.addUser(local, PASSWORD);
    return local;
  }

  async function open(options: Parameters<typeof RawWebSocket.open>[1] = {}, url = wsUrl): Promise<RawWebSocket> {
    const socket = await RawWebSocket.open(url, options);
    sockets.push(socket);
    return socket;
  }

  /** Opens a stream, authenticates with PLAIN (loopback counts as secure) and restarts. */
  async function authenticated(local: string): Promise<RawWebSocket> {
    const socket = await open();
    await socket.request(openElement(ts.domain), /<stream:features/);
    await socket.request(plainAuth(local, PASSWORD), /<success/);
    const features = await socket.request(openElement(ts.domain), /<stream:features/);
    expect(features).to.contain('urn:ietf:params:xml:ns:xmpp-bind');
    return socket;
  }

  it('@xmpp/client logs in with SCRAM-SHA-1 and chats with a TCP client both ways', async function () {
    const a = await account('alice');
    const b = await account('bob');
    const web = await connect(ts, a, PASSWORD, { transport: 'websocket', resource: 'browser' });
    clients.push(web);
    const tcp = await connect(ts, b, PASSWORD, { resource: 'desktop' });
    clients.push(tcp);
    expect(web.jid?.toString()).to.equal(`${a}@${ts.domain}/browser`);

    const atTcp = nextStanza(tcp, (el) => el.is('message') && el.getChildText('body') === 'from the browser');
    await web.send(xml('message', { to: `${b}@${ts.domain}/desktop`, type: 'chat' }, xml('body', {}, 'from the browser')));
    expect((await atTcp).attrs.from).to.equal(`${a}@${ts.domain}/browser`);

    const atWeb = nextStanza(web, (el) => el.is('message') && el.getChildText('body') === 'from the desktop');
    await tcp.send(xml('message', { to: `${a}@${ts.domain}/browser`, type: 'chat' }, xml('body', {}, 'from the desktop')));
    expect((await atWeb).attrs.from).to.equal(`${b}@${ts.domain}/desktop`);
  });

  it('presence: a contact sees the WebSocket user come online, and go offline when the socket closes', async function () {
    const a = await account('alice');
    const b = await account('bob');
    const both = (local: string) => ({ jid: `${local}@${ts.domain}`, name: null, groups: [], subscription: 'both' as const, pendingOut: false, approved: false });
    await ts.server.stores.roster.put(a, ts.domain, both(b));
    await ts.server.stores.roster.put(b, ts.domain, both(a));
    const tcp = await connect(ts, b, PASSWORD, { resource: 'desktop' });
    clients.push(tcp);
    await tcp.send(xml('presence'));
    const inbox = collectStanzas(tcp);

    // A raw WebSocket session (no stream management: a closed socket ends it at once).
    const socket = await authenticated(a);
    await socket.request(`<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>web</resource></bind></iq>`, /<jid>/);
    socket.send(`<presence xmlns='jabber:client'/>`);
    const full = `${a}@${ts.domain}/web`;
    await waitUntil(() => inbox.some((el: Element) => el.is('presence') && el.attrs.from === full && el.attrs.type === undefined), 'available presence at the contact');
    // The contact's presence reaches the browser too, qualified for a standalone message.
    const contact = parseXml(await socket.waitFor(new RegExp(`^<presence [^>]*from=["']${b}@${ts.domain}/desktop["']`)));
    expect(contact.attrs.xmlns).to.equal('jabber:client');

    socket.ws.terminate();
    await waitUntil(() => inbox.some((el: Element) => el.is('presence') && el.attrs.from === full && el.attrs.type === 'unavailable'), 'unavailable presence at the contact');
  });

  it('answers <open/> with <open/>, features that parse alone, and a stream restart after SASL', async function () {
    const local = await account('carol');
    const socket = await open();
    const from = socket.messages.length;
    socket.send(openElement(ts.domain));
    const opened = parseXml(await socket.waitFor(/^<open /, from));
    expect(opened.attrs.xmlns).to.equal(NS_FRAMING);
    expect(opened.attrs.from).to.equal(ts.domain);
    expect(opened.attrs.version).to.equal('1.0');
    expect(opened.attrs.id).to.match(/.{8,}/);
    // §3.3.3: each message is a complete document: the stream prefix is declared on it.
    const features = parseXml(await socket.waitFor(/<stream:features/, from));
    expect(features.attrs['xmlns:stream']).to.equal('http://etherx.jabber.org/streams');
    const mechanisms = features.getChild('mechanisms', 'urn:ietf:params:xml:ns:xmpp-sasl');
    expect(mechanisms?.getChildren('mechanism').map((m) => m.getText())).to.include('SCRAM-SHA-1');
    // No STARTTLS over WebSocket.
    expect(features.getChild('starttls')).to.equal(undefined);

    await socket.request(plainAuth(local, PASSWORD), /<success/);
    const restartFrom = socket.messages.length;
    socket.send(openElement(ts.domain));
    const reopened = parseXml(await socket.waitFor(/^<open /, restartFrom));
    expect(reopened.attrs.id).to.not.equal(opened.attrs.id);
    await socket.waitFor(/<bind xmlns=["']urn:ietf:params:xml:ns:xmpp-bind["']/, restartFrom);
    const bound = parseXml(await socket.request(`<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`, /<jid>/));
    expect(bound.attrs.xmlns).to.equal('jabber:client');
    expect(bound.getChild('bind')?.getChildText('jid')).to.match(new RegExp(`^${local}@${ts.domain}/`));
    // A stanza sent without xmlns (seen in the wild) is still a jabber:client stanza.
    const pong = parseXml(await socket.request(`<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>`, /id=["']p1["']/));
    expect(pong.attrs.type).to.equal('result');
  });

  it('answers the client\'s <close/> with <close/> and closes the connection', async function () {
    const socket = await open();
    await socket.request(openElement(ts.domain), /<stream:features/);
    await socket.request(`<close xmlns='${NS_FRAMING}'/>`, /^<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'\/>$/);
    await socket.waitClosed();
    expect(socket.closeCode).to.equal(1000);
  });

  describe('bad frames get a stream error, then <close/>, then the connection closes', function () {
    async function expectStreamError(send: (socket: RawWebSocket) => void, condition: string): Promise<void> {
      const socket = await open();
      await socket.request(openElement(ts.domain), /<stream:features/);
      const from = socket.messages.length;
      send(socket);
      const error = parseXml(await socket.waitFor(/<stream:error/, from));
      expect(error.attrs['xmlns:stream']).to.equal('http://etherx.jabber.org/streams');
      expect(error.getChildElements()[0]?.name).to.equal(condition);
      await socket.waitFor(/^<close /, from);
      await socket.waitClosed();
    }

    it('malformed XML: not-well-formed', async function () {
      await expectStreamError((s) => s.send(`<message xmlns='jabber:client'><body>x</message>`), 'not-well-formed');
    });

    it('two elements in one message: bad-format', async function () {
      await expectStreamError((s) => s.send(`<presence xmlns='jabber:client'/><presence xmlns='jabber:client'/>`), 'bad-format');
    });

    it('an unfinished element: bad-format', async function () {
      await expectStreamError((s) => s.send(`<presence xmlns='jabber:client'>`), 'bad-format');
    });

    it('a binary message: bad-format', async function () {
      await expectStreamError((s) => s.send(Buffer.from(`<presence xmlns='jabber:client'/>`), true), 'bad-format');
    });

    it('a stanza larger than the pre-authentication limit: policy-violation', async function () {
      const big = `<message xmlns='jabber:client'><body>${'x'.repeat(20_000)}</body></message>`;
      await expectStreamError((s) => s.send(big), 'policy-violation');
    });

    it('a stanza before the stream is opened: an error, after our <open/>', async function () {
      const socket = await open();
      socket.send(`<presence xmlns='jabber:client'/>`);
      await socket.waitFor(/^<open /);
      const error = parseXml(await socket.waitFor(/<stream:error/));
      expect(error.getChildElements()[0]?.name).to.equal('bad-format');
      await socket.waitClosed();
    });

    it('a wrong domain in <open/>: host-unknown', async function () {
      const socket = await open();
      socket.send(openElement('elsewhere.example'));
      const error = parseXml(await socket.waitFor(/<stream:error/));
      expect(error.getChildElements()[0]?.name).to.equal('host-unknown');
      await socket.waitClosed();
    });
  });

  describe('the handshake', function () {
    it('refuses a web page of another origin with 403', async function () {
      const refused = await open({ origin: 'https://evil.example' }).then(() => null, (err: { status?: number }) => err);
      expect(refused?.status).to.equal(403);
    });

    it('accepts pages of a served domain on any port, and clients that send no Origin', async function () {
      for (const origin of [`https://${ts.domain}`, `http://${ts.domain}:8080`, undefined]) {
        const socket = await open({ origin });
        await socket.request(openElement(ts.domain), /<stream:features/);
      }
    });

    it('accepts the page this loopback listener served (same origin)', async function () {
      const socket = await open({ origin: ts.httpUrl });
      await socket.request(openElement(ts.domain), /<stream:features/);
    });

    it('requires the xmpp subprotocol (400 without it)', async function () {
      const refused = await open({ protocols: ['chat'] }).then(() => null, (err: { status?: number }) => err);
      expect(refused?.status).to.equal(400);
    });

    it('serves WebSocket only at /xmpp-websocket (404 elsewhere)', async function () {
      const refused = await open({}, wsUrl.replace('/xmpp-websocket', '/ws')).then(() => null, (err: { status?: number }) => err);
      expect(refused?.status).to.equal(404);
    });
  });
});

describe('WebSocket with configuration', function () {
  const servers: TestServer[] = [];
  const sockets: RawWebSocket[] = [];

  afterEach(async function () {
    for (const socket of sockets.splice(0)) socket.close();
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });

  async function open(ts: TestServer, options: Parameters<typeof RawWebSocket.open>[1] = {}): Promise<RawWebSocket> {
    const socket = await RawWebSocket.open(`${ts.httpUrl.replace(/^http/, 'ws')}/xmpp-websocket`, options);
    sockets.push(socket);
    return socket;
  }

  it('http.allowedOrigins admits another origin', async function () {
    const ts = await startTestServer({ host: '127.0.0.137', config: { http: { allowedOrigins: ['https://app.example.org'] } } });
    servers.push(ts);
    const socket = await open(ts, { origin: 'https://app.example.org' });
    await socket.request(openElement(ts.domain), /<stream:features/);
    const refused = await open(ts, { origin: 'https://app.example.org:8443' }).then(() => null, (err: { status?: number }) => err);
    expect(refused?.status).to.equal(403);
  });

  it('drops a connection that does not answer WebSocket pings; one that answers stays', async function () {
    const ts = await startTestServer({ host: '127.0.0.137', config: { c2s: { pingIntervalS: 1, pingTimeoutS: 1 } } });
    servers.push(ts);
    await ts.addUser('pinged', PASSWORD);
    const login = async (autoPong: boolean) => {
      const socket = await open(ts, { autoPong });
      await socket.request(openElement(ts.domain), /<stream:features/);
      await socket.request(plainAuth('pinged', PASSWORD), /<success/);
      await socket.request(openElement(ts.domain), /<stream:features/);
      await socket.request(`<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`, /<jid>/);
      return socket;
    };
    const silent = await login(false);
    const answering = await login(true);
    await silent.waitClosed(6_000);
    expect(answering.ended).to.equal(false);
    // Liveness was checked by ping frames, not by XMPP pings over the stream.
    expect(answering.messages.some((m) => m.includes('urn:xmpp:ping'))).to.equal(false);
  });

  it('believes X-Forwarded-For only from http.trustedProxies (per-address limits)', async function () {
    const proxied = await startTestServer({ host: '127.0.0.137', config: { http: { trustedProxies: ['127.0.0.0/8'] }, limits: { unauthenticatedPerIp: 1 } } });
    servers.push(proxied);
    const forwarded = (address: string) => ({ headers: { 'X-Forwarded-For': address } });
    const first = await open(proxied, forwarded('203.0.113.7'));
    await first.request(openElement(proxied.domain), /<stream:features/);
    // Another client behind the proxy is another address.
    const other = await open(proxied, forwarded('203.0.113.8'));
    await other.request(openElement(proxied.domain), /<stream:features/);
    // The same client again is over the cap.
    const again = await open(proxied, forwarded('203.0.113.7'));
    const error = await again.waitFor(/<stream:error/);
    expect(error).to.contain('policy-violation');

    const direct = await startTestServer({ host: '127.0.0.138', config: { limits: { unauthenticatedPerIp: 1 } } });
    servers.push(direct);
    const one = await open(direct, forwarded('203.0.113.7'));
    await one.request(openElement(direct.domain), /<stream:features/);
    // Not a trusted proxy: the header is ignored, both are the same loopback address.
    const two = await open(direct, forwarded('203.0.113.8'));
    expect(await two.waitFor(/<stream:error/)).to.contain('policy-violation');
  });
});

async function waitUntil(condition: () => boolean, what: string, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}

describe('stream management across framings', function () {
  let ts: TestServer;

  before(async function () {
    ts = await startTestServer({ host: '127.0.0.167' });
    await ts.addUser('roamer', PASSWORD);
    await ts.addUser('sender', PASSWORD);
  });

  after(async function () {
    await ts?.stop();
  });

  it('resumes a WebSocket session whose socket died on a new WebSocket, with what it missed', async function () {
    const wsUrl = `${ts.httpUrl.replace(/^http/, 'ws')}/xmpp-websocket`;
    const login = async () => {
      const socket = await RawWebSocket.open(wsUrl);
      await socket.request(openElement(ts.domain), /<stream:features/);
      await socket.request(plainAuth('roamer', PASSWORD), /<success/);
      await socket.request(openElement(ts.domain), /<stream:features/);
      return socket;
    };
    const first = await login();
    await first.request(`<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>tab</resource></bind></iq>`, /<jid>/);
    const enabled = await first.request(`<enable xmlns='urn:xmpp:sm:3' resume='true'/>`, /<enabled /);
    const previd = /id=['"]([^'"]+)['"]/.exec(enabled)![1]!;
    first.ws.terminate();
    await first.waitClosed();

    // A message while the session is hibernated.
    const sender = await connect(ts, 'sender', PASSWORD);
    try {
      await sender.send(xml('message', { to: `roamer@${ts.domain}/tab`, type: 'chat' }, xml('body', {}, 'while you were away')));
      await delay(200);
    } finally {
      await stopQuietly(sender);
    }

    const second = await login();
    try {
      const from = second.messages.length;
      second.send(`<resume xmlns='urn:xmpp:sm:3' previd='${previd}' h='0'/>`);
      await second.waitFor(/^<resumed /, from);
      const missed = parseXml(await second.waitFor(/while you were away/, from));
      expect(missed.attrs.xmlns).to.equal('jabber:client');
      expect(missed.attrs.to).to.equal(`roamer@${ts.domain}/tab`);
    } finally {
      second.close();
    }
  });
});
