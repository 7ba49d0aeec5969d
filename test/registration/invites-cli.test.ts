// `hearth invite create|list|revoke` run as an operator would (bin/hearth.js over dist/, built
// by `npm test`), with the server stopped (on the database) and running (control socket).
import { expect } from 'chai';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openIsolatedDatabase, type IsolatedDatabase } from '../helpers/database.js';
import { runHearth as hearth, startHearth } from '../helpers/hearth-process.js';
import { registerOnce } from './helpers.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const fixtures = path.join(root, 'test', 'fixtures', 'tls');
const HOST = '127.0.0.193';
const DOMAIN = 'cli-invite.hearth.example';
const PUBLIC_URL = 'https://join.hearth.example';

describe('hearth invite', function () {
  this.timeout(120_000);
  let dir: string;
  let isolated: IsolatedDatabase | null = null;

  before(async function () {
    dir = mkdtempSync(path.join(tmpdir(), 'hearth-invite-cli-'));
    const certs = path.join(dir, 'certs');
    mkdirSync(certs);
    copyFileSync(path.join(fixtures, 'hearth.example.crt'), path.join(certs, `${DOMAIN}.crt`));
    copyFileSync(path.join(fixtures, 'hearth.example.key'), path.join(certs, `${DOMAIN}.key`));
    writeFileSync(
      path.join(dir, 'hearth.yaml'),
      [
        `domains: [${DOMAIN}]`,
        'dataDir: ./data',
        'tls:\n  certificates: ./certs',
        `c2s:\n  listen: ["${HOST}:0"]\n  directTls: []`,
        `s2s:\n  listen: ["${HOST}:0"]`,
        `admin:\n  listen: ["${HOST}:0"]`,
        `http:\n  listen: ["${HOST}:0"]\n  publicUrl: ${PUBLIC_URL}`,
        'log:\n  level: info',
        'registration:\n  mode: invite',
        '',
      ].join('\n'),
    );
  });

  after(async function () {
    rmSync(dir, { recursive: true, force: true });
    await isolated?.dispose();
  });

  /** PGlite in the data directory, or, when DATABASE_URL is set, a PostgreSQL schema of its own. */
  async function databaseEnv(): Promise<NodeJS.ProcessEnv> {
    if (!process.env.DATABASE_URL) return { DATABASE_URL: '' };
    isolated ??= await openIsolatedDatabase('postgres', { migrate: false });
    return { DATABASE_URL: isolated.url! };
  }

  const tokenOf = (stdout: string) => /\/invite\/([A-Za-z0-9]+)\n$/.exec(stdout)?.[1] ?? '';

  it('mints, lists and revokes with the server stopped', async function () {
    const env = await databaseEnv();
    const minted = hearth(['invite', 'create', '--account', `ann@${DOMAIN}`, '--admin', '--ttl', '2d'], { cwd: dir, env });
    expect(minted.code, minted.stderr).to.equal(0);
    // The link alone on stdout: LINK=$(hearth invite create) works.
    expect(minted.stdout).to.match(new RegExp(`^${PUBLIC_URL}/invite/[A-Za-z0-9]{24}\\n$`));
    expect(minted.stderr).to.contain(`URI: xmpp:ann@${DOMAIN}?register;preauth=${tokenOf(minted.stdout)}`);
    expect(minted.stderr).to.match(/administrator/);

    const plain = hearth(['invite', 'create'], { cwd: dir, env });
    expect(plain.code, plain.stderr).to.equal(0);

    expect(hearth(['invite', 'create', '--ttl', 'forever'], { cwd: dir, env }).stderr).to.match(/^ttl: /);
    expect(hearth(['invite', 'create', '--account', `ann@${DOMAIN}`], { cwd: dir, env }).code, 'pinned twice').to.equal(1);
    expect(hearth(['invite', 'create', '--contact', `nobody@${DOMAIN}`], { cwd: dir, env }).stderr).to.match(/^contact: .*does not exist/);
    expect(hearth(['invite', 'create', '--password', 'x'], { cwd: dir, env }).code, 'an option that does not apply').to.equal(2);
    expect(hearth(['invite', 'frobnicate'], { cwd: dir, env }).code).to.equal(2);

    const listed = hearth(['invite', 'list'], { cwd: dir, env });
    expect(listed.code).to.equal(0);
    const lines = listed.stdout.trim().split('\n');
    expect(lines[0]).to.match(/^ID +FOR +CONTACT +ADMIN +EXPIRES$/);
    expect(lines.slice(1).map((line) => line.split(/ +/).slice(0, 4))).to.deep.equal([
      ['1', `ann@${DOMAIN}`, '-', 'yes'],
      ['2', `*@${DOMAIN}`, '-', 'no'],
    ]);
    expect(listed.stdout).to.not.contain(tokenOf(minted.stdout));

    expect(hearth(['invite', 'revoke', '2'], { cwd: dir, env }).stdout).to.equal('revoked invitation 2\n');
    const again = hearth(['invite', 'revoke', '2'], { cwd: dir, env });
    expect(again.code).to.equal(1);
    expect(again.stderr).to.match(/^id: there is no invitation 2/);
    expect(hearth(['invite', 'revoke', tokenOf(minted.stdout)], { cwd: dir, env }).stdout).to.equal('revoked invitation 1\n');
    expect(hearth(['invite', 'list'], { cwd: dir, env }).stdout).to.equal('');
  });

  it('goes through the running server, whose registration takes the invitation at once', async function () {
    const env = await databaseEnv();
    expect(hearth(['user', 'add', `host@${DOMAIN}`, '--password', 'host password'], { cwd: dir, env }).code).to.equal(0);
    const server = await startHearth(dir, env);
    try {
      const target = { host: HOST, port: server.port, domain: DOMAIN };
      const minted = hearth(['invite', 'create', '--contact', `host@${DOMAIN}`], { cwd: dir, env });
      expect(minted.code, minted.stderr).to.equal(0);
      expect((await registerOnce(target, 'visitor', 'long enough password', tokenOf(minted.stdout))).type).to.equal('result');
      expect((await registerOnce(target, 'visitor2', 'long enough password', tokenOf(minted.stdout))).condition).to.equal('item-not-found');
      const roster = hearth(['roster', 'list', `visitor@${DOMAIN}`], { cwd: dir, env });
      expect(roster.stdout).to.contain(`host@${DOMAIN}`);
      expect(roster.stdout).to.contain('both');

      const revoked = hearth(['invite', 'create'], { cwd: dir, env });
      expect(hearth(['invite', 'revoke', tokenOf(revoked.stdout)], { cwd: dir, env }).code).to.equal(0);
      expect((await registerOnce(target, 'visitor3', 'long enough password', tokenOf(revoked.stdout))).condition).to.equal('item-not-found');
    } finally {
      server.process.kill('SIGTERM');
      await server.exited;
    }
  });
});
