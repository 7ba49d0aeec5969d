// The command line of contract.md, run as an operator would: `hearth …` in a child process.
import { expect } from 'chai';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, nextStreamError, stopQuietly, type Client } from './helpers/xmpp-client.js';
import type { TestServer } from './helpers/server.js';
import { openIsolatedDatabase, type IsolatedDatabase } from './helpers/database.js';
import { runHearth, startHearth } from './helpers/hearth-process.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const fixtures = path.join(root, 'test', 'fixtures', 'tls');
const HOST = '127.0.0.107';
const DOMAIN = 'cli.hearth.example';

const hearth = runHearth;

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
      `domains: [${DOMAIN}]\ndataDir: ./data\ntls:\n  certificates: ./certs\nc2s:\n  listen: ["${HOST}:0"]\n  directTls: []\nlog:\n  level: info\n${extra}`,
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
