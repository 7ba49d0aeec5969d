// The command line of contract.md, run as an operator would: `hearth …` in a child process.
import { expect } from 'chai';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  acknowledgeRosterPushes,
  collectStanzas,
  connect,
  delay,
  nextStanza,
  nextStreamError,
  stopQuietly,
  waitForStanza,
  xml,
  type Client,
  type Element,
} from './helpers/xmpp-client.js';
import type { TestServer } from './helpers/server.js';
import { openIsolatedDatabase, type IsolatedDatabase } from './helpers/database.js';
import { runHearth, startHearth } from './helpers/hearth-process.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const fixtures = path.join(root, 'test', 'fixtures', 'tls');
const HOST = '127.0.0.107';
const DOMAIN = 'cli.hearth.example';

const hearth = runHearth;

const NS_MUC_USER = 'http://jabber.org/protocol/muc#user';

/** Sends the XEP-0045 entry presence; the self-presence (status 110) or the error presence. */
async function enterRoom(client: Client, inbox: Element[], room: string, nick: string): Promise<Element> {
  const since = inbox.length;
  await client.send(xml('presence', { to: `${room}/${nick}` }, xml('x', { xmlns: 'http://jabber.org/protocol/muc' })));
  return waitForStanza(
    inbox,
    (el) => inbox.indexOf(el) >= since && el.is('presence') && el.attrs.from === `${room}/${nick}` && (el.attrs.type === 'error' || mucCodes(el).includes('110')),
    `the answer to entering ${room}`,
  );
}

const mucCodes = (presence: Element) => (presence.getChild('x', NS_MUC_USER)?.getChildren('status') ?? []).map((s) => s.attrs.code as string);
const mucItem = (presence: Element) => presence.getChild('x', NS_MUC_USER)?.getChild('item');

let isolated: IsolatedDatabase | null = null;

/**
 * The database backend follows the suite's: PGlite in the data directory, or, when
 * DATABASE_URL is set, a PostgreSQL schema of this test's own.
 */
async function databaseEnv(): Promise<NodeJS.ProcessEnv> {
  if (!process.env.DATABASE_URL) return { DATABASE_URL: '' };
  isolated = await openIsolatedDatabase('postgres', { migrate: false });
  return { DATABASE_URL: isolated.url! };
}

describe('hearth command line', function () {
  this.timeout(60_000);
  let dir: string;

  beforeEach(function () {
    dir = mkdtempSync(path.join(tmpdir(), 'hearth-cli-'));
  });

  afterEach(async function () {
    rmSync(dir, { recursive: true, force: true });
    await isolated?.dispose();
    isolated = null;
  });

  function writeConfig(extra = ''): void {
    const certs = path.join(dir, 'certs');
    mkdirSync(certs, { recursive: true });
    copyFileSync(path.join(fixtures, 'hearth.example.crt'), path.join(certs, `${DOMAIN}.crt`));
    copyFileSync(path.join(fixtures, 'hearth.example.key'), path.join(certs, `${DOMAIN}.key`));
    writeFileSync(
      path.join(dir, 'hearth.yaml'),
      `domains: [${DOMAIN}]\ndataDir: ./data\ntls:\n  certificates: ./certs\nc2s:\n  listen: ["${HOST}:0"]\n  directTls: []\ns2s:\n  listen: ["${HOST}:0"]\nadmin:\n  listen: ["${HOST}:0"]\nhttp:\n  listen: ["${HOST}:0"]\nlog:\n  level: info\n${extra}`,
    );
  }

  it('check accepts a valid config and names every bad key, one line each', function () {
    writeConfig();
    const ok = hearth(['check'], { cwd: dir });
    expect(ok.code).to.equal(0);
    writeFileSync(path.join(dir, 'bad.yaml'), `domains: [${DOMAIN}]\nc2s:\n  listne: ["x"]\nlimits:\n  stanzaBytes: -5\nbogus: 1\n`);
    const bad = hearth(['check', '--config', 'bad.yaml'], { cwd: dir });
    expect(bad.code).to.equal(1);
    const lines = bad.stderr.trim().split('\n');
    expect(lines).to.have.length(3);
    expect(bad.stderr).to.match(/^c2s\.listne: unknown key$/m);
    expect(bad.stderr).to.match(/^bogus: unknown key$/m);
    expect(bad.stderr).to.match(/^limits\.stanzaBytes: /m);
    // A file the configuration names must be readable, not only well-formed.
    writeFileSync(path.join(dir, 'missing-ca.yaml'), `domains: [${DOMAIN}]\ns2s:\n  trustedCa: ./no-such-ca.pem\n`);
    const missing = hearth(['check', '--config', 'missing-ca.yaml'], { cwd: dir });
    expect(missing.code).to.equal(1);
    expect(missing.stderr).to.match(/^s2s\.trustedCa: cannot read .*no-such-ca\.pem/m);
  });

  it('exits 2 on a usage error', function () {
    expect(hearth(['frobnicate'], { cwd: dir }).code).to.equal(2);
    expect(hearth(['user', 'add'], { cwd: dir }).code).to.equal(2);
    expect(hearth([], { cwd: dir }).code).to.equal(2);
  });

  it('manages accounts with and without a running server, which ends streams on SIGTERM', async function () {
    writeConfig();
    const env = await databaseEnv();
    // Server not running: the command opens the database itself (password on stdin).
    const added = hearth(['user', 'add', `alice@${DOMAIN}`], { cwd: dir, input: 'first-password\n', env });
    expect(added.stderr).to.equal('');
    expect(added.code).to.equal(0);
    expect(hearth(['user', 'add', `alice@${DOMAIN}`, '--password', 'x'], { cwd: dir, env }).code).to.equal(1);
    expect(hearth(['user', 'add', `alice@elsewhere.example`, '--password', 'x'], { cwd: dir, env }).stderr).to.match(/^jid: .*elsewhere\.example/);

    const server = await startHearth(dir, env);
    let alice: Client | undefined;
    let bob: Client | undefined;
    try {
      const target = { host: HOST, port: server.port, domain: DOMAIN, directTlsPort: 0 } as unknown as TestServer;
      alice = await connect(target, 'alice', 'first-password');

      // Server running: through the control socket; the account can log in at once.
      const viaSocket = hearth(['user', 'add', `bob@${DOMAIN}`, '--password', 'bobs-password'], { cwd: dir, env });
      expect(viaSocket.code, viaSocket.stderr).to.equal(0);
      bob = await connect(target, 'bob', 'bobs-password');
      const list = hearth(['user', 'list'], { cwd: dir, env });
      expect(list.stdout.trim().split('\n')).to.deep.equal([`alice@${DOMAIN}`, `bob@${DOMAIN}`]);

      const imported = hearth(['user', 'import'], { cwd: dir, env, input: `carol@${DOMAIN} c1\nnot-a-jid\nalice@${DOMAIN} again\n` });
      expect(imported.stdout).to.match(/created 1, existed 1, invalid 1/);
      expect(imported.code).to.equal(1);

      const passwd = hearth(['user', 'passwd', `bob@${DOMAIN}`, '--password', 'new-password'], { cwd: dir, env });
      expect(passwd.code).to.equal(0);
      expect(statSync(path.join(dir, 'data', 'hearth.sock')).mode & 0o777).to.equal(0o600);

      const shutdown = [nextStreamError(alice, 10_000), nextStreamError(bob, 10_000)];
      server.process.kill('SIGTERM');
      expect(await Promise.all(shutdown)).to.deep.equal(['system-shutdown', 'system-shutdown']);
      expect(await server.exited).to.equal(0);
    } finally {
      await stopQuietly(alice);
      await stopQuietly(bob);
      server.process.kill('SIGKILL');
    }
    expect(existsSync(path.join(dir, 'data', 'hearth.sock'))).to.equal(false);

    // Stopped again: the new password works from the database directly.
    const deleted = hearth(['user', 'del', `bob@${DOMAIN}`], { cwd: dir, env });
    expect(deleted.code).to.equal(0);
    expect(hearth(['user', 'list'], { cwd: dir, env }).stdout.trim().split('\n')).to.deep.equal([`alice@${DOMAIN}`, `carol@${DOMAIN}`]);
  });

  it('manages admin API tokens with and without a running server; a token opens the API at once', async function () {
    this.timeout(180_000); // a dozen processes, each opening the database
    writeConfig();
    const env = await databaseEnv();
    // A new connection per request: spawnSync blocks this process for seconds, long enough
    // for the server to close a kept-alive connection that fetch would then reuse.
    const api = (base: string, path: string, token: string) =>
      new Promise<{ status: number }>((resolve, reject) => {
        http.get(base + path, { agent: false, headers: { authorization: `Bearer ${token}` } }, (response) => {
          response.resume();
          resolve({ status: response.statusCode! });
        }).on('error', reject);
      });

    // Stopped: on the database directly. The token alone on stdout.
    const created = hearth(['token', 'create', '--name', 'ops'], { cwd: dir, env });
    expect(created.code, created.stderr).to.equal(0);
    expect(created.stdout).to.match(/^hearth_[A-Za-z0-9_-]{43}\n$/);
    const ops = created.stdout.trim();
    const scraper = hearth(['token', 'create', '--name', 'scraper', '--scope', 'metrics'], { cwd: dir, env }).stdout.trim();
    const duplicate = hearth(['token', 'create', '--name', 'ops'], { cwd: dir, env });
    expect(duplicate.code).to.equal(1);
    expect(duplicate.stdout).to.equal('');
    expect(duplicate.stderr).to.match(/^name: .*exists/);
    expect(hearth(['token', 'create'], { cwd: dir, env }).code, 'no --name').to.equal(2);
    expect(hearth(['token', 'list', '--name', 'ops'], { cwd: dir, env }).code, 'an option that does not apply').to.equal(2);
    const listed = hearth(['token', 'list'], { cwd: dir, env }).stdout.trim().split('\n');
    expect(listed[0]).to.match(/^NAME +SCOPE +CREATED +LAST USED$/);
    expect(listed.slice(1).map((line) => line.split(/ +/).filter((_, i) => i !== 2))).to.deep.equal([
      ['ops', 'admin', 'never'],
      ['scraper', 'metrics', 'never'],
    ]);

    const server = await startHearth(dir, env);
    try {
      const base = server.adminUrl!;
      expect((await api(base, '/api/v1/stats', ops)).status).to.equal(200);
      expect((await api(base, '/metrics', scraper)).status).to.equal(200);
      expect((await api(base, '/api/v1/stats', scraper)).status).to.equal(403);

      // Running: through the control socket, usable at once, revocable at once.
      const live = hearth(['token', 'create', '--name', 'live'], { cwd: dir, env });
      expect(live.code, live.stderr).to.equal(0);
      expect((await api(base, '/api/v1/stats', live.stdout.trim())).status).to.equal(200);
      const whileRunning = hearth(['token', 'list'], { cwd: dir, env }).stdout;
      expect(whileRunning).to.match(/^live +admin +\S+ +\d{4}-/m);
      expect(whileRunning).to.match(/^ops +admin +\S+ +\d{4}-/m);
      expect(hearth(['token', 'revoke', 'live'], { cwd: dir, env }).stdout).to.equal('revoked live\n');
      expect((await api(base, '/api/v1/stats', live.stdout.trim())).status).to.equal(401);
    } finally {
      server.process.kill('SIGTERM');
      expect(await server.exited).to.equal(0);
    }
    const revoked = hearth(['token', 'revoke', 'scraper'], { cwd: dir, env });
    expect(revoked.stdout).to.equal('revoked scraper\n');
    expect(hearth(['token', 'revoke', 'scraper'], { cwd: dir, env }).stderr).to.match(/^name: there is no token named scraper/);
  });

  it('lists and kicks sessions, edits rosters, sends messages and shows figures through the running server', async function () {
    this.timeout(240_000); // some twenty processes, each opening the database or the control socket
    writeConfig();
    const env = await databaseEnv();
    const run = (...args: string[]) => hearth(args, { cwd: dir, env });

    // Stopped: live commands say so; the rest work on the database.
    for (const args of [['session', 'list'], ['session', 'kick', `alice@${DOMAIN}`], ['send', '--to', `alice@${DOMAIN}`, '--body', 'hi'], ['stats']]) {
      const result = run(...args);
      expect(result.code, args.join(' ')).to.equal(1);
      expect(result.stderr, args.join(' ')).to.match(/the server is not running/);
    }
    expect(run('user', 'add', `alice@${DOMAIN}`, '--password', 'alice-pw').code).to.equal(0);
    expect(run('user', 'add', `bob@${DOMAIN}`, '--password', 'bob-pw').code).to.equal(0);
    const added = run('roster', 'add', `alice@${DOMAIN}`, `bob@${DOMAIN}`, '--name', 'Bob', '--group', 'Friends', '--group', 'Work', '--subscription', 'both');
    expect(added.code, added.stderr).to.equal(0);
    expect(added.stdout).to.equal(`added bob@${DOMAIN} (both) in the roster of alice@${DOMAIN}\n`);
    const invalid = run('roster', 'add', `alice@${DOMAIN}`, `dave@${DOMAIN}`, '--subscription', 'maybe');
    expect(invalid.code).to.equal(1);
    expect(invalid.stderr).to.match(/^subscription: /);
    const roster = run('roster', 'list', `alice@${DOMAIN}`).stdout.trim().split('\n').map((line) => line.split(/ {2,}/));
    expect(roster).to.deep.equal([
      ['CONTACT', 'SUBSCRIPTION', 'NAME', 'GROUPS'],
      [`bob@${DOMAIN}`, 'both', 'Bob', 'Friends, Work'],
    ]);

    const server = await startHearth(dir, env);
    let alice: Client | undefined;
    try {
      const target = { host: HOST, port: server.port, domain: DOMAIN, directTlsPort: 0 } as unknown as TestServer;
      alice = acknowledgeRosterPushes(await connect(target, 'alice', 'alice-pw', { resource: 'laptop', mechanism: 'PLAIN' }));
      const inbox: Element[] = collectStanzas(alice);
      await alice.send(xml('presence'));
      await alice.iqCaller.request(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })));

      const sessions = run('session', 'list');
      expect(sessions.code, sessions.stderr).to.equal(0);
      expect(sessions.stdout).to.match(new RegExp(`^alice@${DOMAIN.replace(/\./g, '\\.')}/laptop +\\S+ +\\d{4}-\\S+ +tls +0 +available$`, 'm'));
      expect(run('session', 'list', `alice@${DOMAIN}`).stdout).to.contain(`alice@${DOMAIN}/laptop`);
      expect(run('session', 'list', `bob@${DOMAIN}`).stdout, 'bob is offline').to.equal('');

      // Roster changes through the server reach the online resource as pushes.
      const push = nextStanza(alice, (el) => el.is('iq') && el.attrs.type === 'set');
      expect(run('roster', 'add', `alice@${DOMAIN}`, 'carol@elsewhere.example', '--subscription', 'to').code).to.equal(0);
      expect((await push).getChild('query', 'jabber:iq:roster')!.getChild('item')!.attrs).to.include({ jid: 'carol@elsewhere.example', subscription: 'to' });
      const removal = nextStanza(alice, (el) => el.is('iq') && el.attrs.type === 'set');
      expect(run('roster', 'del', `alice@${DOMAIN}`, 'carol@elsewhere.example').stdout).to.equal(`removed carol@elsewhere.example from the roster of alice@${DOMAIN}\n`);
      expect((await removal).getChild('query', 'jabber:iq:roster')!.getChild('item')!.attrs.subscription).to.equal('remove');

      const sent = run('send', '--to', `alice@${DOMAIN}`, '--body', 'hello from the command line', '--subject', 'CLI');
      expect(sent.code, sent.stderr).to.equal(0);
      expect(sent.stdout).to.match(new RegExp(`^sent admin-\\S+ from ${DOMAIN} to alice@${DOMAIN}\\n$`));
      for (let i = 0; i < 200 && !inbox.some((el) => el.is('message')); i++) await delay(10);
      const message = inbox.find((el) => el.is('message'))!;
      expect(message.getChildText('body')).to.equal('hello from the command line');
      expect(message.getChildText('subject')).to.equal('CLI');
      expect(run('send', '--from', `alice@${DOMAIN}`, '--to', `bob@${DOMAIN}`, '--body', 'for later').code, 'to an offline account').to.equal(0);
      expect(run('send', '--to', `nobody@${DOMAIN}`, '--body', 'x').stderr).to.match(/^to: nobody@.* does not exist/);
      expect(run('send', '--to', `alice@${DOMAIN}`).code, 'no --body').to.equal(2);

      const stats = run('stats');
      expect(stats.code, stats.stderr).to.equal(0);
      expect(stats.stdout).to.match(/^sessions +1 \(/m);
      expect(stats.stdout).to.match(/^accounts +2 \(/m);
      const json = JSON.parse(run('stats', '--json').stdout) as { sessions: { online: number }; stanzas: { routed: { message: number } } };
      expect(json.sessions.online).to.equal(1);
      expect(json.stanzas.routed.message).to.be.at.least(2);

      const kicked = nextStreamError(alice);
      expect(run('session', 'kick', `alice@${DOMAIN}`, 'laptop').stdout).to.equal(`ended 1 session of alice@${DOMAIN}/laptop\n`);
      expect(await kicked).to.equal('policy-violation');
      expect(run('session', 'kick', `alice@${DOMAIN}`, 'laptop').code, 'already gone').to.equal(1);
    } finally {
      await stopQuietly(alice);
      server.process.kill('SIGTERM');
      expect(await server.exited).to.equal(0);
    }
    // Stopped again: what the server stored is there.
    expect(run('roster', 'list', `alice@${DOMAIN}`).stdout).to.not.contain('carol@');
    expect(run('session', 'kick', `alice@${DOMAIN}`).stderr).to.match(/the server is not running/);
  });

  it('manages group-chat rooms on the database while stopped, and through the running server\'s rooms', async function () {
    this.timeout(240_000); // some thirty processes, each opening the database or the control socket
    writeConfig();
    const env = await databaseEnv();
    const run = (...args: string[]) => hearth(args, { cwd: dir, env });
    const SERVICE = `conference.${DOMAIN}`;
    const lobby = `lobby@${SERVICE}`;
    const vault = `vault@${SERVICE}`;
    const table = (stdout: string) => stdout.trim().split('\n').map((line) => line.split(/ {2,}/));

    // Usage errors: exit 2.
    expect(run('room').code).to.equal(2);
    expect(run('room', 'frobnicate').code).to.equal(2);
    expect(run('room', 'create').code, 'no ROOM').to.equal(2);
    expect(run('room', 'affiliation', lobby, `bob@${DOMAIN}`).code, 'no affiliation').to.equal(2);
    expect(run('room', 'list', '--name', 'x').code, 'an option that does not apply').to.equal(2);
    expect(run('room', 'destroy', lobby, '--owner', `bob@${DOMAIN}`).code, 'an option that does not apply').to.equal(2);

    // Stopped: on the database.
    const empty = run('room', 'list');
    expect(empty.code, empty.stderr).to.equal(0);
    expect(empty.stdout).to.equal('');
    expect(run('user', 'add', `alice@${DOMAIN}`, '--password', 'alice-pw').code).to.equal(0);
    expect(run('user', 'add', `bob@${DOMAIN}`, '--password', 'bob-pw').code).to.equal(0);
    const created = run('room', 'create', lobby, '--name', 'The Lobby', '--description', 'Say hello', '--owner', `alice@${DOMAIN}`);
    expect(created.code, created.stderr).to.equal(0);
    expect(created.stdout).to.equal(`created ${lobby}\n`);
    const duplicate = run('room', 'create', lobby);
    expect(duplicate.code).to.equal(1);
    expect(duplicate.stderr).to.match(/^room: .*exists/);
    expect(run('room', 'create', vault, '--members-only', '--hidden', '--password', 'sesame', '--owner', `alice@${DOMAIN}`, '--owner', `bob@${DOMAIN}`).code).to.equal(0);
    expect(run('room', 'create', `scratch@${SERVICE}`, '--temporary').code, 'no temporary rooms from operators').to.equal(2);
    expect(run('room', 'create', `scratch@${SERVICE}`, '--hidden').code).to.equal(0);
    expect(table(run('room', 'list').stdout)).to.deep.equal([
      ['ROOM', 'OCCUPANTS', 'PERSISTENT', 'PUBLIC', 'MEMBERS-ONLY', 'NAME'],
      [lobby, '-', 'yes', 'yes', 'no', 'The Lobby'],
      [`scratch@${SERVICE}`, '-', 'yes', 'no', 'no', '-'],
      [vault, '-', 'yes', 'no', 'yes', '-'],
    ]);
    expect(run('room', 'destroy', `scratch@${SERVICE}`).stdout).to.equal(`destroyed scratch@${SERVICE}\n`);
    expect(run('room', 'destroy', `scratch@${SERVICE}`).stderr).to.match(/^room: no room scratch@/);
    const banned = run('room', 'affiliation', lobby, `bob@${DOMAIN}`, 'outcast');
    expect(banned.code, banned.stderr).to.equal(0);
    expect(banned.stdout).to.equal(`${lobby}: bob@${DOMAIN} is outcast now\n`);

    const server = await startHearth(dir, env);
    let alice: Client | undefined;
    let bob: Client | undefined;
    try {
      const target = { host: HOST, port: server.port, domain: DOMAIN, directTlsPort: 0 } as unknown as TestServer;
      alice = await connect(target, 'alice', 'alice-pw', { resource: 'laptop', mechanism: 'PLAIN' });
      bob = await connect(target, 'bob', 'bob-pw', { resource: 'phone', mechanism: 'PLAIN' });
      const aliceInbox = collectStanzas(alice);
      const bobInbox = collectStanzas(bob);

      // What was stored while stopped holds: alice owns the lobby, bob is banned from it.
      const aliceIn = await enterRoom(alice, aliceInbox, lobby, 'alice');
      expect(mucItem(aliceIn)?.attrs).to.include({ affiliation: 'owner', role: 'moderator' });
      const refused = await enterRoom(bob, bobInbox, lobby, 'bob');
      expect(refused.attrs.type).to.equal('error');
      expect(refused.getChild('error')!.getChild('forbidden', 'urn:ietf:params:xml:ns:xmpp-stanzas'), String(refused)).to.exist;

      // Running: through the control socket; the rooms act and their occupants are told.
      const list = run('room', 'list');
      expect(list.code, list.stderr).to.equal(0);
      expect(table(list.stdout)).to.deep.equal([
        ['ROOM', 'OCCUPANTS', 'PERSISTENT', 'PUBLIC', 'MEMBERS-ONLY', 'NAME'],
        [lobby, '1', 'yes', 'yes', 'no', 'The Lobby'],
        [vault, '0', 'yes', 'no', 'yes', '-'],
      ]);
      expect(run('room', 'list', '--domain', SERVICE).stdout).to.contain(lobby);
      const unbanned = run('room', 'affiliation', lobby, `bob@${DOMAIN}`, 'none');
      expect(unbanned.code, unbanned.stderr).to.equal(0);
      expect(unbanned.stdout).to.equal(`${lobby}: bob@${DOMAIN} has no affiliation now\n`);
      expect(mucCodes(await enterRoom(bob, bobInbox, lobby, 'bob'))).to.include('110');
      let since = bobInbox.length;
      expect(run('room', 'affiliation', lobby, `bob@${DOMAIN}`, 'outcast').code).to.equal(0);
      const kicked = await waitForStanza(bobInbox, (el) => bobInbox.indexOf(el) >= since && el.is('presence') && el.attrs.from === `${lobby}/bob` && el.attrs.type === 'unavailable', 'the ban');
      expect(mucCodes(kicked)).to.include('301');

      const live = run('room', 'create', `live@${SERVICE}`, '--name', 'Live');
      expect(live.code, live.stderr).to.equal(0);
      const bobLive = await enterRoom(bob, bobInbox, `live@${SERVICE}`, 'bob');
      expect(mucCodes(bobLive), 'entered an existing room (not created it)').to.include('110').and.not.include('201');
      expect(run('room', 'create', `live@${SERVICE}`).stderr).to.match(/^room: .*exists/);
      // Bad input: exit 1, naming the argument.
      expect(run('room', 'create', SERVICE).stderr, 'no room name').to.match(/^room: .*not a room address/);
      expect(run('room', 'create', `lobby@conference.elsewhere.example`).stderr).to.match(/^room: .*not a group-chat service/);
      expect(run('room', 'create', `x@${SERVICE}`, '--owner', `${DOMAIN}/res`).stderr).to.match(/^jid: /);
      expect(run('room', 'create', `x@${SERVICE}`, '--name', 'bell\u0007').stderr).to.match(/^settings\.name: /);
      expect(run('room', 'affiliation', lobby, `bob@${DOMAIN}`, 'king').stderr).to.match(/^affiliation: /);
      expect(run('room', 'affiliation', `nowhere@${SERVICE}`, `bob@${DOMAIN}`, 'member').stderr).to.match(/^room: no room nowhere@/);
      expect(run('room', 'list', '--domain', 'elsewhere.example').stderr).to.match(/^domain: /);

      since = aliceInbox.length;
      const destroyed = run('room', 'destroy', lobby, '--reason', 'Closing time');
      expect(destroyed.code, destroyed.stderr).to.equal(0);
      expect(destroyed.stdout).to.equal(`destroyed ${lobby}\n`);
      const gone = await waitForStanza(aliceInbox, (el) => aliceInbox.indexOf(el) >= since && el.is('presence') && el.attrs.from === `${lobby}/alice` && el.attrs.type === 'unavailable', 'the <destroy/>');
      expect(gone.getChild('x', NS_MUC_USER)!.getChild('destroy')!.getChildText('reason')).to.equal('Closing time');
      expect(run('room', 'destroy', lobby).stderr).to.match(/^room: no room lobby@/);
    } finally {
      await stopQuietly(alice);
      await stopQuietly(bob);
      server.process.kill('SIGTERM');
      expect(await server.exited).to.equal(0);
    }
    // Stopped again: what the server did is in the database.
    expect(table(run('room', 'list').stdout)).to.deep.equal([
      ['ROOM', 'OCCUPANTS', 'PERSISTENT', 'PUBLIC', 'MEMBERS-ONLY', 'NAME'],
      [`live@${SERVICE}`, '-', 'yes', 'yes', 'no', 'Live'],
      [vault, '-', 'yes', 'no', 'yes', '-'],
    ]);
  });

  it('refuses to start twice on one data directory', async function () {
    writeConfig();
    const env = await databaseEnv();
    const first = await startHearth(dir, env);
    try {
      const second = hearth(['start'], { cwd: dir, env });
      expect(second.code).to.equal(1);
      expect(second.stderr).to.match(/in use|already running/);
    } finally {
      first.process.kill('SIGTERM');
      await first.exited;
    }
  });
});
