// XEP-0114 external components: a small component written with @xmpp/component connects to
// Hearth, receives what users send to its domain, and answers; the refusals, the bounce while
// it is away, and its domain reached from another server over s2s.
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { xml as cxml } from '@xmpp/component';
import { expect } from 'chai';
import { handshakeDigest } from '../../src/components/stream.js';
import { validateConfig } from '../../src/config.js';
import { componentReceives, startComponent as connectComponent, stopComponent, type Component } from '../helpers/component.js';
import { RawConnection } from '../helpers/raw.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { acknowledgeRosterPushes, connect, delay, nextStanza, stopQuietly, xml, type Client, type Element } from '../helpers/xmpp-client.js';

const PASSWORD = 'component-user-secret';
const SECRET = 'the-component-secret';
const BOT = 'bot.hearth.example';
const CA = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'tls', 'ca.crt');

/** Connects the test component (BOT with SECRET, or as given). */
function startComponent(ts: TestServer, domain = BOT, password = SECRET): Promise<Component> {
  return connectComponent(ts, domain, password);
}

describe('external components (XEP-0114)', function () {
  let ts: TestServer;
  const clients: Client[] = [];
  const bots: Component[] = [];

  before(async function () {
    ts = await startTestServer({ host: '127.0.0.147', config: { components: { services: { [BOT]: { secret: SECRET } } } } });
    await ts.addUser('alice', PASSWORD);
  });

  afterEach(async function () {
    await Promise.all(clients.splice(0).map(stopQuietly));
    await Promise.all(bots.splice(0).map(stopComponent));
    await delay(50);
  });

  after(async function () {
    await ts?.stop();
  });

  async function alice(): Promise<Client> {
    const client = await connect(ts, 'alice', PASSWORD, { resource: 'phone' });
    clients.push(client);
    return client;
  }

  it('routes stanzas for its domain, JIDs at it and its subdomains to the component, and its answers back', async function () {
    const bot = await startComponent(ts);
    bots.push(bot);
    const user = await alice();
    for (const to of [BOT, `echo@${BOT}`, `room@rooms.${BOT}/nick`]) {
      const received = componentReceives(bot, (el) => el.is('message') && el.attrs.to === to);
      await user.send(xml('message', { to, type: 'chat' }, xml('body', {}, `to ${to}`)));
      const message = await received;
      expect(message.attrs.from).to.equal(`alice@${ts.domain}/phone`);
      expect(message.getChildText('body')).to.equal(`to ${to}`);
    }
    // The component answers from an address in its domain.
    const answer = nextStanza(user, (el) => el.is('message') && el.getChildText('body') === 'echo');
    await bot.send(cxml('message', { from: `echo@${BOT}`, to: `alice@${ts.domain}/phone`, type: 'chat' }, cxml('body', {}, 'echo')));
    expect((await answer).attrs.from).to.equal(`echo@${BOT}`);

    // An iq round trip: the component's result reaches the user.
    bot.on('stanza', (el: Element) => {
      if (el.is('iq') && el.attrs.type === 'get' && el.attrs.to === BOT) {
        void bot.send(cxml('iq', { type: 'result', id: el.attrs.id, from: BOT, to: el.attrs.from }, cxml('query', { xmlns: 'http://jabber.org/protocol/disco#info' }, cxml('identity', { category: 'automation', type: 'bot', name: 'Echo' }))));
      }
    });
    const result = await user.iqCaller.request(xml('iq', { type: 'get', to: BOT }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' })));
    expect(result.getChild('query')?.getChild('identity')?.attrs.name).to.equal('Echo');
    expect(ts.server.components.connectedDomains()).to.deep.equal([BOT]);
  });

  it('bounces messages and iqs with service-unavailable while the component is away', async function () {
    const user = await alice();
    const bounced = nextStanza(user, (el) => el.is('message') && el.attrs.type === 'error');
    await user.send(xml('message', { to: `echo@${BOT}`, type: 'chat', id: 'away1' }, xml('body', {}, 'anyone?')));
    const error = await bounced;
    expect(error.attrs.from).to.equal(`echo@${BOT}`);
    expect(error.getChild('error')?.getChild('service-unavailable')).to.not.equal(undefined);
    const iq = user.iqCaller.request(xml('iq', { type: 'get', to: BOT }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    const failure = await iq.then(() => null, (err: { condition?: string }) => err);
    expect(failure?.condition).to.equal('service-unavailable');
  });

  it('refuses a wrong secret, a second connection while the first lives, and an unknown domain', async function () {
    const wrong = await startComponent(ts, BOT, 'not-the-secret').then(() => null, (err: { condition?: string }) => err);
    expect(wrong?.condition).to.equal('not-authorized');

    const first = await startComponent(ts);
    bots.push(first);
    const second = await startComponent(ts).then(() => null, (err: { condition?: string }) => err);
    expect(second?.condition).to.equal('conflict');
    // The first is still the component.
    const user = await alice();
    const received = componentReceives(first, (el) => el.is('message'));
    await user.send(xml('message', { to: BOT }, xml('body', {}, 'still you?')));
    await received;

    // Once the first is gone, a new connection takes over.
    await stopComponent(bots.pop()!);
    await delay(200);
    const replacement = await startComponent(ts);
    bots.push(replacement);

    const unknown = await startComponent(ts, 'other.hearth.example').then(() => null, (err: { condition?: string }) => err);
    expect(unknown?.condition).to.equal('host-unknown');
  });

  it('ends a component stream that sends from outside its domain (invalid-from)', async function () {
    const raw = await RawConnection.open(ts.host, ts.componentPort);
    raw.send(`<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='${BOT}'>`);
    const header = await raw.waitFor(/<stream:stream [^>]*>/);
    const id = /id='([^']+)'/.exec(header)![1]!;
    raw.send(`<handshake>${handshakeDigest(id, SECRET)}</handshake>`);
    await raw.waitFor(/<handshake\/>/);
    raw.send(`<message from='alice@${ts.domain}' to='alice@${ts.domain}'><body>spoofed</body></message>`);
    await raw.waitFor(/<invalid-from /);
    await raw.closed;
  });
});

describe('component configuration', function () {
  it('takes the secret from exactly one of secret, secretFile and secretEnv', function () {
    const dir = mkdtempSync(path.join(tmpdir(), 'hearth-component-'));
    writeFileSync(path.join(dir, 'bot.secret'), 'from-a-file\n');
    const config = validateConfig(
      { components: { services: { 'a.example.org': { secretFile: 'bot.secret' }, 'b.example.org': { secretEnv: 'BOT_SECRET' } } } },
      dir,
      { BOT_SECRET: 'from-the-environment' },
    );
    expect(config.components.services['a.example.org']?.secret).to.equal('from-a-file');
    expect(config.components.services['b.example.org']?.secret).to.equal('from-the-environment');
    const problems = (raw: unknown, env: NodeJS.ProcessEnv = {}) => {
      try {
        validateConfig(raw, dir, env);
        return [];
      } catch (err) {
        return (err as { problems: string[] }).problems;
      }
    };
    expect(problems({ components: { services: { 'c.example.org': { secret: 'x', secretEnv: 'Y' } } } })[0]).to.match(/exactly one/);
    expect(problems({ components: { services: { 'c.example.org': {} } } })[0]).to.match(/exactly one/);
    expect(problems({ components: { services: { 'c.example.org': { secretEnv: 'MISSING' } } } })[0]).to.match(/MISSING is not set/);
    expect(problems({ components: { services: { 'c.example.org': { secretFile: 'nope' } } } })[0]).to.match(/cannot read/);
    expect(problems({ domains: ['c.example.org'], components: { services: { 'c.example.org': { secret: 'x' } } } })[0]).to.match(/one of domains/);
  });
});

describe('a component domain over s2s', function () {
  this.timeout(30_000);
  const A = { host: '127.0.0.148', domain: 'ca.hearth.example' };
  const B = { host: '127.0.0.149', domain: 'cb.hearth.example' };
  const GATEWAY = 'gateway.ca.hearth.example';
  const routes = { [A.domain]: `${A.host}:5269`, [GATEWAY]: `${A.host}:5269`, [B.domain]: `${B.host}:5269` };
  let a: TestServer;
  let b: TestServer;
  let bot: Component | null = null;
  let bob: Client | null = null;

  before(async function () {
    a = await startTestServer({
      host: A.host,
      domain: A.domain,
      config: { s2s: { listen: [`${A.host}:5269`], routes, trustedCa: CA, connectTimeoutMs: 3_000 }, components: { services: { [GATEWAY]: { secret: SECRET } } } },
    });
    // The gateway's certificate is generated (self-signed): B accepts it through dialback.
    b = await startTestServer({
      host: B.host,
      domain: B.domain,
      config: { s2s: { listen: [`${B.host}:5269`], routes, trustedCa: CA, insecureDomains: [GATEWAY], connectTimeoutMs: 3_000 } },
    });
    await b.addUser('bob', PASSWORD);
  });

  after(async function () {
    if (bob) await stopQuietly(bob);
    if (bot) await stopComponent(bot);
    await a?.stop();
    await b?.stop();
  });

  it('a remote user reaches the component, and its answer goes back from the component domain', async function () {
    bot = await startComponent(a, GATEWAY);
    bob = acknowledgeRosterPushes(await connect(b, 'bob', PASSWORD, { mechanism: 'PLAIN' }));
    const received = componentReceives(bot, (el) => el.is('message') && el.getChildText('body') === 'hello gateway', 10_000);
    await bob.send(xml('message', { to: `user@${GATEWAY}`, type: 'chat' }, xml('body', {}, 'hello gateway')));
    const message = await received;
    expect(message.attrs.from).to.equal(bob.jid!.toString());

    const answer = nextStanza(bob, (el) => el.is('message') && el.getChildText('body') === 'hello bob', 10_000);
    await bot.send(cxml('message', { from: `user@${GATEWAY}`, to: bob.jid!.toString(), type: 'chat' }, cxml('body', {}, 'hello bob')));
    expect((await answer).attrs.from).to.equal(`user@${GATEWAY}`);
    // A spoke for the component's own domain, proving it by dialback (its certificate is a
    // generated self-signed one); B reached the component domain at A.
    const streams = b.server.s2s.streams().filter((s) => s.domain === GATEWAY);
    expect(streams.filter((s) => s.direction === 'in').map((s) => s.method)).to.deep.equal(['dialback']);
    expect(streams.filter((s) => s.direction === 'out')).to.have.length(1);
  });
});
