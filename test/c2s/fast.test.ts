// XEP-0484 FAST: tokens issued after a password sign-in, used with the HT mechanisms,
// bound to the client and the mechanism, rotated, invalidated, revoked with the password and
// with the account, sealed at rest, and still valid after a restart. Also: a disabled account.
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { client, xml, type Element } from '@xmpp/client';
import { sql } from 'kysely';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { openIsolatedDatabase, type IsolatedDatabase } from '../helpers/database.js';
import { openSasl2Stream, sasl2Authenticate, type Sasl2Attempt } from '../helpers/sasl2.js';
import { connect, nextStreamError, stopQuietly, withTimeout } from '../helpers/xmpp-client.js';
import type { RawConnection } from '../helpers/raw.js';
import { plainAuth } from '../helpers/raw.js';

const HOST = '127.0.0.191';
const PASSWORD = 'fast and safe';

describe('FAST tokens (XEP-0484) and disabled accounts', function () {
  let ts: TestServer;
  let isolated: IsolatedDatabase;
  let dataDir: string;
  const opened: RawConnection[] = [];
  let serial = 0;

  async function start(): Promise<void> {
    ts = await startTestServer({ host: HOST, database: isolated.database, dataDir });
  }

  before(async function () {
    this.timeout(60_000);
    isolated = await openIsolatedDatabase(process.env.DATABASE_URL ? 'postgres' : 'pglite');
    dataDir = await mkdtemp(path.join(tmpdir(), 'hearth-fast-'));
    await start();
  });

  afterEach(() => {
    for (const raw of opened.splice(0)) raw.destroy();
  });

  after(async function () {
    this.timeout(30_000);
    await ts?.stop();
    await isolated?.dispose();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function user(): Promise<string> {
    const local = `fast${++serial}`;
    await ts.addUser(local, PASSWORD);
    return local;
  }

  async function attempt(options: Sasl2Attempt) {
    const { raw } = await openSasl2Stream(ts);
    opened.push(raw);
    return sasl2Authenticate(raw, options);
  }

  /** Signs in with the password and asks for a token for `mechanism`. */
  async function obtainToken(local: string, device: string, mechanism = 'HT-SHA-256-NONE'): Promise<{ token: string; expiry: string }> {
    const result = await attempt({ mechanism: 'SCRAM-SHA-256', username: local, secret: PASSWORD, userAgentId: device, inline: `<request-token xmlns='urn:xmpp:fast:0' mechanism='${mechanism}'/>` });
    expect(result.ok, result.element.toString()).to.equal(true);
    const token = result.element.getChild('token', 'urn:xmpp:fast:0');
    expect(token, 'a <token/> in <success/>').to.exist;
    return { token: token!.attrs.token as string, expiry: token!.attrs.expiry as string };
  }

  function fastAuth(local: string, device: string, token: string, mechanism = 'HT-SHA-256-NONE', extra: Partial<Sasl2Attempt> = {}) {
    return attempt({ mechanism, username: local, secret: token, userAgentId: device, inline: `<fast xmlns='urn:xmpp:fast:0'/>`, ...extra });
  }

  it('gives a token after a password sign-in and takes it instead of the password, for that client only', async function () {
    const local = await user();
    const device = randomUUID();
    const { token, expiry } = await obtainToken(local, device);
    const days = (Date.parse(expiry) - Date.now()) / 86_400_000;
    expect(days).to.be.within(29, 31);

    const used = await fastAuth(local, device, token);
    expect(used.ok, used.element.toString()).to.equal(true);
    expect(used.serverVerified, 'the server proves it holds the token').to.equal(true);
    expect(used.element.getChildText('authorization-identifier')).to.equal(`${local}@${ts.domain}`);
    expect(used.element.getChild('token', 'urn:xmpp:fast:0'), 'no rotation of a fresh token').to.not.exist;

    // Another client presenting the same token, a wrong token, another account: refused.
    expect((await fastAuth(local, randomUUID(), token)).ok).to.equal(false);
    expect((await fastAuth(local, device, token.slice(0, -2) + 'AA')).ok).to.equal(false);
    const other = await user();
    expect((await fastAuth(other, device, token)).ok).to.equal(false);
  });

  it('binds a token to the mechanism it was issued for, and the -EXPR/-ENDP ones to the channel', async function () {
    const local = await user();
    const device = randomUUID();
    const none = await obtainToken(local, device, 'HT-SHA-256-NONE');
    expect((await fastAuth(local, device, none.token, 'HT-SHA-256-ENDP', { cbType: 'tls-server-end-point' })).ok).to.equal(false);

    const exprDevice = randomUUID();
    const expr = await obtainToken(local, exprDevice, 'HT-SHA-256-EXPR');
    const good = await fastAuth(local, exprDevice, expr.token, 'HT-SHA-256-EXPR', { cbType: 'tls-exporter' });
    expect(good.ok, good.element.toString()).to.equal(true);
    expect(good.serverVerified).to.equal(true);
    const forged = await fastAuth(local, exprDevice, expr.token, 'HT-SHA-256-EXPR', { cbType: 'tls-exporter', cbData: Buffer.alloc(32, 1) });
    expect(forged.ok).to.equal(false);
  });

  it('keeps tokens sealed: the database holds neither the token nor the user-agent id', async function () {
    const local = await user();
    const device = randomUUID();
    const { token } = await obtainToken(local, device);
    const rows = await sql<{ client_id: Uint8Array; sealed_token: Uint8Array }>`select client_id, sealed_token from fast_tokens where username = ${local}`.execute(isolated.database.db);
    expect(rows.rows).to.have.length(1);
    const sealed = Buffer.from(rows.rows[0]!.sealed_token);
    expect(sealed.includes(Buffer.from(token))).to.equal(false);
    expect(sealed.includes(Buffer.from(token, 'base64url'))).to.equal(false);
    expect(Buffer.from(rows.rows[0]!.client_id).includes(Buffer.from(device))).to.equal(false);
  });

  it('invalidates a token on request, and every token with a password change', async function () {
    const local = await user();
    const device = randomUUID();
    const first = await obtainToken(local, device);
    const invalidated = await fastAuth(local, device, first.token, 'HT-SHA-256-NONE', { inline: `<fast xmlns='urn:xmpp:fast:0' invalidate='true'/>` });
    expect(invalidated.ok).to.equal(true);
    expect(invalidated.element.getChild('token', 'urn:xmpp:fast:0'), 'no new token unless asked').to.not.exist;
    expect((await fastAuth(local, device, first.token)).ok).to.equal(false);

    const second = await obtainToken(local, device);
    expect((await fastAuth(local, device, second.token)).ok).to.equal(true);
    await ts.server.accounts.setPassword(`${local}@${ts.domain}`, PASSWORD);
    const refused = await fastAuth(local, device, second.token);
    expect(refused.ok).to.equal(false);
  });

  it('rotates a token in the second half of its life, and the new one retires the old (§4.5)', async function () {
    const local = await user();
    const device = randomUUID();
    const old = await obtainToken(local, device);
    // Used once: it is the current token. Then make it old.
    expect((await fastAuth(local, device, old.token)).ok).to.equal(true);
    // Through the server's store (which embedded PGlite's cache sits in front of), not behind its back.
    const rows = await sql<{ client_id: Uint8Array; slot: 'current' | 'new'; mechanism: string; sealed_token: Uint8Array }>`select client_id, slot, mechanism, sealed_token from fast_tokens where username = ${local}`.execute(isolated.database.db);
    expect(rows.rows.map((r) => r.slot)).to.deep.equal(['current']);
    const row = rows.rows[0]!;
    await ts.server.stores.fastTokens.put(local, ts.domain, Buffer.from(row.client_id), { slot: 'current', mechanism: row.mechanism, sealedToken: Buffer.from(row.sealed_token), expiresAt: new Date(Date.now() + 86_400_000) });
    const rotating = await fastAuth(local, device, old.token);
    expect(rotating.ok).to.equal(true);
    const fresh = rotating.element.getChild('token', 'urn:xmpp:fast:0')!;
    expect(fresh, 'a successor').to.exist;
    // Until the successor is used, the old one still works (the client may have missed it),
    // and signing in with it again hands out the same successor.
    const again = await fastAuth(local, device, old.token);
    expect(again.ok).to.equal(true);
    expect(again.element.getChild('token', 'urn:xmpp:fast:0')?.attrs.token).to.equal(fresh.attrs.token);
    expect((await fastAuth(local, device, fresh.attrs.token as string)).ok).to.equal(true);
    expect((await fastAuth(local, device, old.token)).ok, 'retired by its successor').to.equal(false);
  });

  it('signs in with a token after a reconnect with @xmpp/client, and after a server restart', async function () {
    this.timeout(30_000);
    const local = await user();
    const sent: string[] = [];
    const xmpp = client({ service: `xmpp://${ts.host}:${ts.port}`, domain: ts.domain, username: local, password: PASSWORD, userAgent: xml('user-agent', { id: randomUUID() }) });
    xmpp.reconnect.stop();
    xmpp.on('error', () => undefined);
    xmpp.on('send', (element: Element) => {
      if (element.is('authenticate', 'urn:xmpp:sasl:2')) sent.push(element.attrs.mechanism as string);
    });
    try {
      await withTimeout(xmpp.start(), 5_000, 'first login');
      await xmpp.stop();
      await withTimeout(xmpp.start(), 5_000, 'second login');
      expect(xmpp.jid!.bare().toString()).to.equal(`${local}@${ts.domain}`);
      await xmpp.stop();
      expect(sent[0]).to.match(/^SCRAM-/);
      expect(sent[1]).to.equal('HT-SHA-256-NONE');

      // Tokens live in the database, sealed with the data directory's secret.
      await ts.stop();
      await start();
      // The restarted server listens on another ephemeral port.
      (xmpp as unknown as { options: { service: string } }).options.service = `xmpp://${ts.host}:${ts.port}`;
      await withTimeout(xmpp.start(), 5_000, 'login after the restart');
      expect(sent[2]).to.equal('HT-SHA-256-NONE');
    } finally {
      await stopQuietly(xmpp);
    }
  });

  it('disables an account: account-disabled at sign-in, sessions (hibernated too) closed, tokens revoked', async function () {
    this.timeout(30_000);
    const local = await user();
    const jid = `${local}@${ts.domain}`;
    const device = randomUUID();
    const { token } = await obtainToken(local, device);
    const online = await connect(ts, local, PASSWORD, { resource: 'desk' });
    const ended = nextStreamError(online);
    // A hibernated session: stream management with resumption, then the connection drops.
    const hibernating = await attempt({ mechanism: 'SCRAM-SHA-256', username: local, secret: PASSWORD, inline: `<bind xmlns='urn:xmpp:bind:0'><tag>h</tag><enable xmlns='urn:xmpp:sm:3' resume='true'/></bind>` });
    const previd = hibernating.element.getChild('bound', 'urn:xmpp:bind:0')!.getChild('enabled', 'urn:xmpp:sm:3')!.attrs.id as string;
    opened.pop()!.destroy();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(ts.server.sessions.ofAccount(jid)).to.have.length(2);

    const result = await ts.server.accounts.disable(jid);
    expect(result).to.deep.equal({ jid, sessionsClosed: 2, tokensRevoked: 1 });
    expect(await ended).to.equal('not-authorized');
    expect(ts.server.sessions.ofAccount(jid)).to.have.length(0);

    const scram = await attempt({ mechanism: 'SCRAM-SHA-256', username: local, secret: PASSWORD, inline: `<resume xmlns='urn:xmpp:sm:3' previd='${previd}' h='0'/>` });
    expect(scram.ok).to.equal(false);
    expect(scram.element.getChild('account-disabled', 'urn:ietf:params:xml:ns:xmpp-sasl')).to.exist;
    expect((await fastAuth(local, device, token)).ok).to.equal(false);
    // RFC 6120 SASL too; a wrong password still gets not-authorized (nothing told to a guesser).
    const { raw } = await openSasl2Stream(ts);
    opened.push(raw);
    raw.send(plainAuth(local, 'wrong password'));
    await raw.waitFor(/<failure xmlns=['"]urn:ietf:params:xml:ns:xmpp-sasl['"]><not-authorized/);
    raw.send(plainAuth(local, PASSWORD));
    await raw.waitFor(/<account-disabled\/>/);

    await ts.server.accounts.enable(jid);
    const back = await attempt({ mechanism: 'SCRAM-SHA-256', username: local, secret: PASSWORD });
    expect(back.ok).to.equal(true);
  });
});
