// An offline message survives a crash: a real `hearth start` process (bin/hearth.js, run
// `npm run build` first) is killed with SIGKILL right after accepting the message, started
// again on the same data, and the recipient still gets the message exactly as it was sent.
import { expect } from 'chai';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openIsolatedDatabase, type IsolatedDatabase } from '../helpers/database.js';
import { PASSWORD as RAW_PASSWORD, RawClient } from '../helpers/raw-client.js';
import { runHearth, startHearth, type StartedHearth } from '../helpers/hearth-process.js';
import type { TestServer } from '../helpers/server.js';
import { collectStanzas, connect, delay, stopQuietly, waitForStanza, xml, type Client, type Element } from '../helpers/xmpp-client.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const fixtures = path.join(root, 'test', 'fixtures', 'tls');
const HOST = '127.0.0.127';
const DOMAIN = 'durable.hearth.example';
const NS_DELAY = 'urn:xmpp:delay';

function hearth(args: string[], cwd: string, env: NodeJS.ProcessEnv, input = '') {
  return runHearth(args, { cwd, env, input });
}


describe('offline messages survive a crash (hearth start, SIGKILL, start again)', function () {
  this.timeout(60_000);
  let dir: string;
  let isolated: IsolatedDatabase | null = null;
  const running: StartedHearth[] = [];
  const clients: Client[] = [];

  beforeEach(function () {
    dir = mkdtempSync(path.join(tmpdir(), 'hearth-durable-'));
  });

  afterEach(async function () {
    await Promise.all(clients.splice(0).map(stopQuietly));
    for (const server of running.splice(0)) {
      if (server.process.exitCode === null && server.process.signalCode === null) {
        server.process.kill('SIGTERM');
        const stopped = await Promise.race([server.exited.then(() => true), delay(10_000).then(() => false)]);
        if (!stopped) server.process.kill('SIGKILL');
      }
    }
    rmSync(dir, { recursive: true, force: true });
    await isolated?.dispose();
    isolated = null;
  });

  /** PGlite in the data directory, or a PostgreSQL schema of this test's own. */
  async function databaseEnv(): Promise<NodeJS.ProcessEnv> {
    if (!process.env.DATABASE_URL) return { DATABASE_URL: '' };
    isolated = await openIsolatedDatabase('postgres', { migrate: false });
    return { DATABASE_URL: isolated.url! };
  }

  function writeConfig(c2sExtra = ''): void {
    const certs = path.join(dir, 'certs');
    mkdirSync(certs, { recursive: true });
    copyFileSync(path.join(fixtures, 'hearth.example.crt'), path.join(certs, `${DOMAIN}.crt`));
    copyFileSync(path.join(fixtures, 'hearth.example.key'), path.join(certs, `${DOMAIN}.key`));
    writeFileSync(
      path.join(dir, 'hearth.yaml'),
      `domains: [${DOMAIN}]\ndataDir: ./data\ntls:\n  certificates: ./certs\nc2s:\n  listen: ["${HOST}:0"]\n  directTls: []\n${c2sExtra}s2s:\n  listen: ["${HOST}:0"]\nadmin:\n  listen: ["${HOST}:0"]\nhttp:\n  listen: ["${HOST}:0"]\nlog:\n  level: info\n`,
    );
  }

  async function start(env: NodeJS.ProcessEnv): Promise<TestServer> {
    const server = await startHearth(dir, env);
    running.push(server);
    return { host: HOST, port: server.port, domain: DOMAIN, directTlsPort: 0 } as unknown as TestServer;
  }

  it('delivers a message accepted just before SIGKILL after the restart, exactly as sent', async function () {
    writeConfig();
    const env = await databaseEnv();
    // Server not running: the command opens the database itself.
    const added = hearth(['user', 'import'], dir, env, `alice@${DOMAIN} alice-password\nbob@${DOMAIN} bob-password\n`);
    expect(added.code, added.stderr).to.equal(0);
    expect(added.stdout).to.match(/created 2/);

    const first = await start(env);
    const alice = await connect(first, 'alice', 'alice-password', { resource: 'laptop', mechanism: 'PLAIN' });
    clients.push(alice);
    const aliceInbox = collectStanzas(alice);
    await alice.send(xml('presence'));
    const sentAfter = Date.now();
    await alice.send(
      xml('message', { to: `bob@${DOMAIN}`, type: 'chat', id: 'before-the-crash' },
        xml('body', {}, 'Did this survive? ✓'),
        xml('x', { xmlns: 'urn:example:extra' }, 'payload')),
    );
    // The server answers a ping after routing the message; then nothing comes back.
    await alice.iqCaller.request(xml('iq', { type: 'get', to: DOMAIN }, xml('ping', { xmlns: 'urn:xmpp:ping' })), 3_000);
    await delay(500);
    const sentBefore = Date.now();
    expect(aliceInbox.filter((el) => el.is('message')).map(String), 'no error for the sender').to.deep.equal([]);

    // Crash: no shutdown, no flush.
    const crashed = running[0]!;
    crashed.process.kill('SIGKILL');
    await crashed.exited;
    await stopQuietly(alice);

    const second = await start(env);
    const bob = await connect(second, 'bob', 'bob-password', { resource: 'phone', mechanism: 'PLAIN' });
    clients.push(bob);
    const bobInbox = collectStanzas(bob);
    await bob.send(xml('presence'));
    const message = await waitForStanza(bobInbox, (el) => el.is('message'), 'the message from before the crash', 5_000);
    await delay(300);
    expect(bobInbox.filter((el) => el.is('message')), 'delivered once').to.have.length(1);

    expect(message.attrs).to.include({ from: `alice@${DOMAIN}/laptop`, id: 'before-the-crash', type: 'chat' });
    expect(message.attrs.to).to.be.oneOf([`bob@${DOMAIN}`, `bob@${DOMAIN}/phone`]);
    expect(message.getChildText('body')).to.equal('Did this survive? ✓');
    expect(message.getChild('x', 'urn:example:extra')?.text()).to.equal('payload');
    const stamp = message.getChild('delay', NS_DELAY);
    expect(stamp, 'an XEP-0203 delay stamp').to.not.equal(undefined);
    expect(stamp!.attrs.from).to.equal(DOMAIN);
    const when = Date.parse(stamp!.attrs.stamp as string);
    expect(when).to.be.within(Math.floor(sentAfter / 1000) * 1000 - 1000, sentBefore + 1000);
  });

  it('loses nothing a stream management <a h/> acknowledged, even after SIGKILL right after it (XEP-0198)', async function () {
    // A raw client over plaintext on loopback: it controls exactly when it asks for the ack.
    writeConfig('  requireTls: false\n  allowPlaintextAuth: true\n');
    const env = await databaseEnv();
    const added = hearth(['user', 'import'], dir, env, `alice@${DOMAIN} ${RAW_PASSWORD}\nbob@${DOMAIN} bob-password\n`);
    expect(added.code, added.stderr).to.equal(0);

    const first = await start(env);
    const { client } = await RawClient.login(first, 'alice', { resource: 'phone' });
    const alice = client!;
    await alice.enable();
    // Three stanzas that make Hearth store something: an offline message for bob (and its
    // entry in alice's archive), a roster item, and a second message.
    alice.raw.send(`<message to='bob@${DOMAIN}' type='chat' id='acked-1'><body>first</body></message>`);
    alice.raw.send(`<iq type='set' id='roster-1'><query xmlns='jabber:iq:roster'><item jid='carol@elsewhere.example' name='Carol'/></query></iq>`);
    alice.raw.send(`<message to='bob@${DOMAIN}' type='chat' id='acked-2'><body>second</body></message>`);
    const ack = await alice.request(`<r xmlns='urn:xmpp:sm:3'/>`, /<a xmlns='urn:xmpp:sm:3' h='(\d+)'\/>/);
    // Killed the moment the acknowledgement is read: nothing gets flushed after it.
    running[0]!.process.kill('SIGKILL');
    await running[0]!.exited;
    alice.raw.destroy();
    expect(ack).to.contain("h='3'");

    const second = await start(env);
    const bob = await connect(second, 'bob', 'bob-password', { resource: 'phone', mechanism: 'PLAIN' });
    clients.push(bob);
    const bobInbox = collectStanzas(bob);
    await bob.send(xml('presence'));
    await waitForStanza(bobInbox, (el) => el.is('message') && el.attrs.id === 'acked-2', 'both acknowledged messages', 5_000);
    expect(bobInbox.filter((el) => el.is('message')).map((el) => el.attrs.id)).to.deep.equal(['acked-1', 'acked-2']);

    const again = await connect(second, 'alice', RAW_PASSWORD, { resource: 'laptop', mechanism: 'PLAIN' });
    clients.push(again);
    const roster = await again.iqCaller.request(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })), 3_000);
    expect(roster.getChild('query')!.getChildren('item').map((item: Element) => item.attrs.jid)).to.include('carol@elsewhere.example');
    const inbox = collectStanzas(again);
    const fin = await again.iqCaller.request(xml('iq', { type: 'set' }, xml('query', { xmlns: 'urn:xmpp:mam:2', queryid: 'q1' })), 5_000);
    expect(fin.getChild('fin', 'urn:xmpp:mam:2')).to.not.equal(undefined);
    const archived = inbox
      .map((el) => el.getChild('result', 'urn:xmpp:mam:2')?.getChild('forwarded', 'urn:xmpp:forward:0')?.getChild('message'))
      .filter((m): m is Element => m !== undefined)
      .map((m) => m.attrs.id);
    expect(archived).to.deep.equal(['acked-1', 'acked-2']);
  });
});
