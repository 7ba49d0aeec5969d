// XEP-0124/XEP-0206 BOSH with plain HTTP requests: the same session machine as TCP behind
// long polling, request ids and terminal binding conditions.
import { expect } from 'chai';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { BoshClient, NS_HTTPBIND, NS_XBOSH } from '../helpers/bosh-client.js';
import { ScramClient } from '../helpers/scram-client.js';
import { collectStanzas, connect, delay, nextStanza, stopQuietly, xml, type Client, type Element } from '../helpers/xmpp-client.js';

const PASSWORD = 'bosh-secret';

describe('BOSH (XEP-0124, XEP-0206)', function () {
  let ts: TestServer;
  let url: string;
  const clients: Client[] = [];
  let users = 0;

  before(async function () {
    ts = await startTestServer({ host: '127.0.0.144', config: { http: { boshInactivityS: 2 } } });
    url = `${ts.httpUrl}/http-bind`;
  });

  afterEach(async function () {
    await Promise.all(clients.splice(0).map(stopQuietly));
  });

  after(async function () {
    await ts?.stop();
  });

  async function account(name: string): Promise<string> {
    const local = `${name}${++users}`;
    await ts.addUser(local, PASSWORD);
    return local;
  }

  async function tcpClient(local: string, resource: string): Promise<Client> {
    const client = await connect(ts, local, PASSWORD, { resource });
    clients.push(client);
    return client;
  }

  async function friends(a: string, b: string): Promise<void> {
    const both = (local: string) => ({ jid: `${local}@${ts.domain}`, name: null, groups: [], subscription: 'both' as const, pendingOut: false, approved: false });
    await ts.server.stores.roster.put(a, ts.domain, both(b));
    await ts.server.stores.roster.put(b, ts.domain, both(a));
  }

  it('creates a session with the §7.1 attributes, the stream id as authid, and the features', async function () {
    const bosh = new BoshClient(url, ts.domain);
    const created = await bosh.create({ wait: '600', hold: '3', ack: '1' });
    expect(created.status).to.equal(200);
    expect(created.headers.get('content-type')).to.match(/^text\/xml; charset=utf-8/);
    const body = created.body!;
    expect(body.attrs.xmlns).to.equal(NS_HTTPBIND);
    expect(body.attrs.sid).to.match(/^[A-Za-z0-9_-]{24,}$/);
    // The server grants no more than asked and no more than its own maximum.
    expect(Number(body.attrs.wait)).to.be.within(1, 60);
    expect(body.attrs.hold).to.equal('1');
    expect(body.attrs.requests).to.equal('2');
    expect(Number(body.attrs.inactivity)).to.be.greaterThan(0);
    expect(Number(body.attrs.polling)).to.be.greaterThan(0);
    expect(body.attrs.ver).to.match(/^1\.\d+$/);
    expect(body.attrs.from).to.equal(ts.domain);
    expect(body.attrs.authid).to.match(/.{8,}/);
    expect(body.attrs['xmpp:version']).to.equal('1.0');
    expect(body.attrs['xmlns:xmpp']).to.equal(NS_XBOSH);
    // §9.1: acknowledgements asked for: the creation response acknowledges its rid.
    expect(body.attrs.ack).to.equal(String(bosh.rid - 1));
    const mechanisms = body.getChild('features')?.getChild('mechanisms', 'urn:ietf:params:xml:ns:xmpp-sasl');
    expect(mechanisms?.getChildren('mechanism').map((m) => m.getText())).to.include('SCRAM-SHA-1');
    await bosh.send('', { type: 'terminate' });
  });

  it('logs in, restarts, binds, and chats with a TCP client both ways (long polling)', async function () {
    const a = await account('alice');
    const b = await account('bob');
    const bosh = new BoshClient(url, ts.domain);
    const jid = await bosh.login(a, PASSWORD, 'web');
    expect(jid).to.equal(`${a}@${ts.domain}/web`);
    const tcp = await tcpClient(b, 'desktop');

    const atTcp = nextStanza(tcp, (el) => el.is('message') && el.getChildText('body') === 'over BOSH');
    const sent = await bosh.send(`<message xmlns='jabber:client' to='${b}@${ts.domain}/desktop' type='chat'><body>over BOSH</body></message>`);
    expect(sent.status).to.equal(200);
    expect((await atTcp).attrs.from).to.equal(jid);

    // A held request is answered as soon as something arrives.
    const poll = bosh.send();
    await delay(200);
    const before = Date.now();
    await tcp.send(xml('message', { to: jid, type: 'chat' }, xml('body', {}, 'to the browser')));
    const response = await poll;
    expect(Date.now() - before).to.be.below(2_000);
    const message = response.body?.getChild('message');
    expect(message?.attrs.xmlns).to.equal('jabber:client');
    expect(message?.getChildText('body')).to.equal('to the browser');
    await bosh.send('', { type: 'terminate' });
  });

  it('logs in with SCRAM-SHA-256: challenge, response, and the server signature in <success/>', async function () {
    const local = await account('scram');
    const bosh = new BoshClient(url, ts.domain);
    await bosh.create();
    const scram = new ScramClient('sha256', local, PASSWORD);
    const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
    const challenge = await bosh.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>${b64(scram.first())}</auth>`);
    const serverFirst = Buffer.from(challenge.body!.getChildText('challenge')!, 'base64').toString('utf8');
    const final = await scram.final(serverFirst);
    const success = await bosh.send(`<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>${b64(final)}</response>`);
    const serverFinal = Buffer.from(success.body!.getChildText('success')!, 'base64').toString('utf8');
    expect(scram.verifyServerFinal(serverFinal)).to.equal(true);
    const restarted = await bosh.restart();
    expect(restarted.body?.getChild('features')?.getChild('bind')).to.not.equal(undefined);
    await bosh.send('', { type: 'terminate' });
  });

  it('answers an idle held request empty after wait, and the older of two held requests at once', async function () {
    const a = await account('carol');
    const bosh = new BoshClient(url, ts.domain);
    await bosh.login(a, PASSWORD);
    const started = Date.now();
    const idle = await bosh.send();
    // The session was created with wait='2' (the client's ask, below the server's maximum).
    expect(Date.now() - started).to.be.within(1_800, 3_500);
    expect(idle.body?.getChildElements()).to.have.length(0);

    const first = bosh.send();
    await delay(300);
    const secondSentAt = Date.now();
    const second = bosh.send();
    const firstResponse = await first;
    // hold='1': the second request releases the first at once.
    expect(Date.now() - secondSentAt).to.be.below(1_000);
    expect(firstResponse.status).to.equal(200);
    await bosh.send('', { type: 'terminate' });
    await second;
  });

  it('resends the cached response to a repeated rid (§14.3); a rid out of the window ends the session', async function () {
    const a = await account('dave');
    const bosh = new BoshClient(url, ts.domain);
    await bosh.login(a, PASSWORD);
    const ping = bosh.request(`<iq xmlns='jabber:client' type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>`);
    const original = await ping.send();
    expect(original.body?.getChild('iq')?.attrs.type).to.equal('result');
    const repeated = await bosh.post(ping.xml);
    expect(repeated.text).to.equal(original.text);

    bosh.rid += 5;
    const outside = await bosh.send();
    expect(outside.body?.attrs.type).to.equal('terminate');
    expect(outside.body?.attrs.condition).to.equal('item-not-found');
    // The session is gone.
    const after = await bosh.send();
    expect(after.body?.attrs.condition).to.equal('item-not-found');
  });

  it('processes requests in rid order when they arrive out of order (§14.2)', async function () {
    const a = await account('erin');
    const b = await account('frank');
    const tcp = await tcpClient(b, 'desktop');
    const inbox = collectStanzas(tcp);
    const bosh = new BoshClient(url, ts.domain);
    await bosh.login(a, PASSWORD);
    const message = (n: number) => `<message xmlns='jabber:client' to='${b}@${ts.domain}/desktop' type='chat'><body>${n}</body></message>`;
    const first = bosh.request(message(1));
    const second = bosh.request(message(2));
    const later = second.send();
    await delay(150);
    const earlier = first.send();
    await Promise.all([earlier, later]);
    await waitUntil(() => inbox.filter((el: Element) => el.is('message')).length === 2, 'both messages');
    expect(inbox.filter((el: Element) => el.is('message')).map((el: Element) => el.getChildText('body'))).to.deep.equal(['1', '2']);
    await bosh.send('', { type: 'terminate' });
  });

  it('terminate: payloads are delivered first, the contact sees unavailable, the sid is forgotten', async function () {
    const a = await account('gina');
    const b = await account('hugo');
    await friends(a, b);
    const tcp = await tcpClient(b, 'desktop');
    await tcp.send(xml('presence'));
    const inbox = collectStanzas(tcp);
    const bosh = new BoshClient(url, ts.domain);
    const jid = await bosh.login(a, PASSWORD, 'web');
    await bosh.send(`<presence xmlns='jabber:client'/>`);
    await waitUntil(() => inbox.some((el: Element) => el.is('presence') && el.attrs.from === jid && el.attrs.type === undefined), 'available presence');
    const ended = await bosh.send(`<presence xmlns='jabber:client' type='unavailable'><status>bye</status></presence>`, { type: 'terminate' });
    expect(ended.body?.attrs.type).to.equal('terminate');
    expect(ended.body?.attrs.condition).to.equal(undefined);
    const gone = await waitUntil(() => inbox.find((el: Element) => el.is('presence') && el.attrs.from === jid && el.attrs.type === 'unavailable'), 'unavailable presence');
    expect(gone.getChildText('status')).to.equal('bye');
    const after = await bosh.send();
    expect(after.body?.attrs.condition).to.equal('item-not-found');
  });

  it('an expired session (no request for `inactivity`) ends like a lost connection', async function () {
    const a = await account('ivan');
    const b = await account('judy');
    await friends(a, b);
    const tcp = await tcpClient(b, 'desktop');
    await tcp.send(xml('presence'));
    const inbox = collectStanzas(tcp);
    const bosh = new BoshClient(url, ts.domain);
    const jid = await bosh.login(a, PASSWORD, 'web');
    await bosh.send(`<presence xmlns='jabber:client'/>`);
    await waitUntil(() => inbox.some((el: Element) => el.is('presence') && el.attrs.from === jid), 'available presence');
    // boshInactivityS is 2 here: stop asking.
    await waitUntil(() => inbox.some((el: Element) => el.is('presence') && el.attrs.from === jid && el.attrs.type === 'unavailable'), 'unavailable presence', 6_000);
    const late = await bosh.send();
    expect(late.body?.attrs.type).to.equal('terminate');
    expect(late.body?.attrs.condition).to.equal('item-not-found');
  });

  it('stream errors end the session as remote-stream-error with the <stream:error/> inside', async function () {
    const bosh = new BoshClient(url, ts.domain);
    await bosh.create();
    const response = await bosh.send(`<message xmlns='jabber:client' to='someone@${ts.domain}'><body>too early</body></message>`);
    expect(response.body?.attrs.type).to.equal('terminate');
    expect(response.body?.attrs.condition).to.equal('remote-stream-error');
    const error = response.body?.getChild('error');
    expect(error?.getChildElements()[0]?.name).to.equal('not-authorized');
  });

  it('refuses an unknown domain with host-unknown, and bad requests with bad-request', async function () {
    const wrongDomain = await new BoshClient(url, 'elsewhere.example').create();
    expect(wrongDomain.body?.attrs.type).to.equal('terminate');
    expect(wrongDomain.body?.attrs.condition).to.equal('host-unknown');

    const bosh = new BoshClient(url, ts.domain);
    const notXml = await bosh.post('hello');
    expect(notXml.status).to.equal(400);
    expect(notXml.body?.attrs.condition).to.equal('bad-request');
    const wrongRoot = await bosh.post(`<iq xmlns='jabber:client'/>`);
    expect(wrongRoot.status).to.equal(400);
    const noRid = await bosh.post(`<body xmlns='${NS_HTTPBIND}' to='${ts.domain}'/>`);
    expect(noRid.body?.attrs.condition).to.equal('bad-request');
    const unknown = await bosh.post(`<body xmlns='${NS_HTTPBIND}' rid='5' sid='nope'/>`);
    expect(unknown.status).to.equal(200);
    expect(unknown.body?.attrs.condition).to.equal('item-not-found');
    const huge = await bosh.post(`<body xmlns='${NS_HTTPBIND}' rid='5' sid='nope'>${'x'.repeat(300_000)}</body>`);
    expect(huge.status).to.equal(413);
  });

  it('CORS: allowed origins get their origin back, others are refused', async function () {
    const preflight = await fetch(url, { method: 'OPTIONS', headers: { Origin: `https://${ts.domain}`, 'Access-Control-Request-Method': 'POST' } });
    expect(preflight.status).to.equal(204);
    expect(preflight.headers.get('access-control-allow-origin')).to.equal(`https://${ts.domain}`);
    expect(preflight.headers.get('access-control-allow-methods')).to.contain('POST');
    const refusedPreflight = await fetch(url, { method: 'OPTIONS', headers: { Origin: 'https://evil.example' } });
    expect(refusedPreflight.status).to.equal(403);

    const allowed = new BoshClient(url, ts.domain, { origin: `https://${ts.domain}:8443` });
    const created = await allowed.create();
    expect(created.headers.get('access-control-allow-origin')).to.equal(`https://${ts.domain}:8443`);
    await allowed.send('', { type: 'terminate' });
    const refused = await new BoshClient(url, ts.domain, { origin: 'https://evil.example' }).create();
    expect(refused.status).to.equal(403);
  });
});

async function waitUntil<T>(condition: () => T | undefined | false, what: string, ms = 3_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}
