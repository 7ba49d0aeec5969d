// XEP-0401 invitations redeemed with XEP-0445 pre-authenticated registration, in
// registration.mode invite: a valid token registers once; used, expired and revoked ones are
// refused; --account pins the name; a roster invitation subscribes both sides; --admin makes
// an administrator (muc.createRooms: admins tells). And the landing page at /invite/<token>.
import { expect } from 'chai';
import { sql } from 'kysely';
import { renderSVG } from 'uqr';
import { acknowledgeRosterPushes, collectStanzas, connect, stopQuietly, waitForStanza, xml, type Client, type Element } from '../helpers/xmpp-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { NS_REGISTER, PreAuthClient, registerOnce } from './helpers.js';

const HOST = '127.0.0.192';
const DOMAIN = 'invite.hearth.example';
const NS_ROSTER = 'jabber:iq:roster';
const NS_MUC = 'http://jabber.org/protocol/muc';
const NS_MUC_USER = 'http://jabber.org/protocol/muc#user';

async function rosterOf(client: Client): Promise<Element[]> {
  const result = await client.iqCaller.request(xml('iq', { type: 'get' }, xml('query', { xmlns: NS_ROSTER })));
  return result.getChild('query', NS_ROSTER)!.getChildren('item');
}

/** XEP-0045 §10.1: entering a room that does not exist creates it, if the user may. */
async function createRoom(client: Client, inbox: Element[], room: string): Promise<'created' | string> {
  await client.send(xml('presence', { to: `${room}/nick` }, xml('x', { xmlns: NS_MUC })));
  const answer = await waitForStanza(inbox, (el) => el.is('presence') && el.attrs.from === `${room}/nick`, `the answer to entering ${room}`);
  if (answer.attrs.type === 'error') return answer.getChild('error')!.getChildElements()[0]!.name;
  const codes = (answer.getChild('x', NS_MUC_USER)?.getChildren('status') ?? []).map((s) => s.attrs.code);
  return codes.includes('201') ? 'created' : `entered (${codes.join(',')})`;
}

describe('invitations (XEP-0401, XEP-0445) in registration.mode invite', function () {
  this.timeout(30_000);
  let ts: TestServer;

  before(async function () {
    ts = await startTestServer({
      host: HOST,
      domain: DOMAIN,
      config: { registration: { mode: 'invite' }, muc: { createRooms: 'admins' } },
    });
  });
  after(async () => ts?.stop());

  const mint = (input: Record<string, unknown> = {}) => ts.server.services.invites.create(input);

  it('asks for a token, and refuses a registration without one', async function () {
    const { client, features } = await PreAuthClient.open(ts);
    try {
      expect(features).to.match(/<register xmlns=["']urn:xmpp:ibr-token:0["']\/>/);
      const form = await client.iq('get', `<query xmlns='${NS_REGISTER}'/>`);
      const query = form.element.getChild('query', NS_REGISTER)!;
      expect(query.getChildText('instructions')).to.match(/needs an invitation/);
      // §8 of XEP-0077: a form with a required field the legacy fields lack comes alone.
      expect(query.getChild('username')).to.equal(undefined);
      const token = query.getChild('x', 'jabber:x:data')!.getChildren('field').find((f) => f.attrs.var === 'token')!;
      expect(token.getChild('required')).to.not.equal(undefined);
      const refused = await client.register('uninvited', 'long enough password');
      expect(refused.condition).to.equal('not-allowed');
    } finally {
      client.close();
    }
    expect(await ts.server.stores.accounts.exists('uninvited', DOMAIN)).to.equal(false);
  });

  it('registers with a valid token, once: the second use is refused', async function () {
    const invite = await mint();
    expect(invite.uri).to.equal(`xmpp:${DOMAIN}?register;preauth=${invite.token}`);
    const { client } = await PreAuthClient.open(ts);
    try {
      expect((await client.preauth(invite.token)).type).to.equal('result');
      // With the token accepted, the form has the legacy fields and no token field.
      const query = (await client.iq('get', `<query xmlns='${NS_REGISTER}'/>`)).element.getChild('query', NS_REGISTER)!;
      expect(query.getChild('username')).to.not.equal(undefined);
      expect(query.getChild('x', 'jabber:x:data')!.getChildren('field').map((f) => f.attrs.var)).to.not.include('token');
      expect((await client.register('invited', 'long enough password')).type).to.equal('result');
    } finally {
      client.close();
    }
    await stopQuietly(await connect(ts, 'invited', 'long enough password'));

    const again = await registerOnce(ts, 'invited-twice', 'long enough password', invite.token);
    expect(again.condition).to.equal('item-not-found');
    expect(again.text).to.equal('The provided token is invalid or expired');
    expect(await ts.server.stores.accounts.exists('invited-twice', DOMAIN)).to.equal(false);
    expect((await ts.server.services.invites.list()).invites.map((i) => i.id)).to.not.include(invite.id);
  });

  it('takes the token in the registration form too', async function () {
    const invite = await mint();
    const { client } = await PreAuthClient.open(ts);
    try {
      expect((await client.registerWithForm({ username: 'formed', password: 'long enough password', token: invite.token })).type).to.equal('result');
    } finally {
      client.close();
    }
    expect(await ts.server.stores.accounts.exists('formed', DOMAIN)).to.equal(true);
    const bogus = await PreAuthClient.open(ts);
    try {
      expect((await bogus.client.registerWithForm({ username: 'bogus', password: 'long enough password', token: 'x'.repeat(24) })).condition).to.equal('item-not-found');
    } finally {
      bogus.client.close();
    }
  });

  it('refuses expired and revoked tokens; a taken name leaves the invitation usable', async function () {
    const expired = await mint();
    await sql`update invites set expires_at = now() - interval '1 second' where id = ${expired.id}`.execute(ts.database.db);
    expect((await registerOnce(ts, 'late', 'long enough password', expired.token)).condition).to.equal('item-not-found');

    const revoked = await mint();
    await ts.server.services.invites.revoke({ id: revoked.id });
    expect((await registerOnce(ts, 'revoked', 'long enough password', revoked.token)).condition).to.equal('item-not-found');

    const byToken = await mint();
    expect(await ts.server.services.invites.revoke({ token: byToken.token })).to.deep.equal({ id: byToken.id });
    expect((await registerOnce(ts, 'revoked2', 'long enough password', byToken.token)).condition).to.equal('item-not-found');

    const kept = await mint();
    await ts.addUser('occupied', 'some password');
    expect((await registerOnce(ts, 'occupied', 'long enough password', kept.token)).condition).to.equal('conflict');
    expect((await registerOnce(ts, 'unoccupied', 'long enough password', kept.token)).type).to.equal('result');
    for (const name of ['late', 'revoked', 'revoked2']) expect(await ts.server.stores.accounts.exists(name, DOMAIN), name).to.equal(false);
  });

  it('with --account, creates only that username, which nobody else may take meanwhile', async function () {
    const invite = await mint({ account: `juliet@${DOMAIN}` });
    expect(invite.uri).to.equal(`xmpp:juliet@${DOMAIN}?register;preauth=${invite.token}`);
    // Another invitation cannot take the reserved name (XEP-0401 §6.2).
    const other = await mint();
    expect((await registerOnce(ts, 'juliet', 'long enough password', other.token)).condition).to.equal('conflict');
    // The pinned invitation creates nothing else.
    const wrong = await registerOnce(ts, 'romeo-not-juliet', 'long enough password', invite.token);
    expect(wrong.condition).to.equal('not-allowed');
    expect(wrong.text).to.match(/for the username juliet/);
    // The form is filled in with the name.
    const { client } = await PreAuthClient.open(ts);
    try {
      await client.preauth(invite.token);
      const query = (await client.iq('get', `<query xmlns='${NS_REGISTER}'/>`)).element.getChild('query', NS_REGISTER)!;
      expect(query.getChildText('username')).to.equal('juliet');
      expect((await client.register('juliet', 'long enough password')).type).to.equal('result');
    } finally {
      client.close();
    }
    expect(await ts.server.stores.accounts.exists('romeo-not-juliet', DOMAIN)).to.equal(false);
    await stopQuietly(await connect(ts, 'juliet', 'long enough password'));
    // A reserved name may be pinned by the operator on purpose.
    const support = await mint({ account: `support@${DOMAIN}` });
    expect((await registerOnce(ts, 'support', 'long enough password', support.token)).type).to.equal('result');
  });

  it('with --contact, subscribes the inviter and the new user to each other, with a roster push', async function () {
    await ts.addUser('romeo', 'romeo password');
    const invite = await mint({ contact: `romeo@${DOMAIN}` });
    expect(invite.uri).to.equal(`xmpp:romeo@${DOMAIN}?roster;preauth=${invite.token};ibr=y`);
    let romeo: Client | undefined;
    let newcomer: Client | undefined;
    try {
      romeo = acknowledgeRosterPushes(await connect(ts, 'romeo', 'romeo password'));
      const romeoInbox = collectStanzas(romeo);
      expect(await rosterOf(romeo)).to.have.length(0);
      await romeo.send(xml('presence'));

      expect((await registerOnce(ts, 'rosaline', 'long enough password', invite.token)).type).to.equal('result');
      // XEP-0401 §4.6: the inviter hears of the new contact by a roster push.
      const push = await waitForStanza(romeoInbox, (el) => el.is('iq') && el.attrs.type === 'set' && !!el.getChild('query', NS_ROSTER), 'the roster push');
      expect(push.getChild('query', NS_ROSTER)!.getChild('item')!.attrs).to.include({ jid: `rosaline@${DOMAIN}`, subscription: 'both' });

      newcomer = await connect(ts, 'rosaline', 'long enough password');
      const items = await rosterOf(newcomer);
      expect(items.map((i) => [i.attrs.jid, i.attrs.subscription])).to.deep.equal([[`romeo@${DOMAIN}`, 'both']]);
      // Subscribed both ways, so presence flows both ways.
      const newcomerInbox = collectStanzas(newcomer);
      await newcomer.send(xml('presence'));
      await waitForStanza(romeoInbox, (el) => el.is('presence') && (el.attrs.from ?? '').startsWith(`rosaline@${DOMAIN}/`) && el.attrs.type === undefined, 'rosaline\'s presence at romeo');
      await waitForStanza(newcomerInbox, (el) => el.is('presence') && (el.attrs.from ?? '').startsWith(`romeo@${DOMAIN}/`) && el.attrs.type === undefined, 'romeo\'s presence at rosaline');
    } finally {
      await stopQuietly(romeo);
      await stopQuietly(newcomer);
    }
  });

  it('with --admin, makes the new account an administrator (and nobody else)', async function () {
    const invite = await mint({ admin: true });
    const plain = await mint();
    expect((await registerOnce(ts, 'boss', 'long enough password', invite.token)).type).to.equal('result');
    expect((await registerOnce(ts, 'worker', 'long enough password', plain.token)).type).to.equal('result');
    let boss: Client | undefined;
    let worker: Client | undefined;
    try {
      boss = await connect(ts, 'boss', 'long enough password');
      worker = await connect(ts, 'worker', 'long enough password');
      const bossInbox = collectStanzas(boss);
      const workerInbox = collectStanzas(worker);
      // muc.createRooms: admins, with no admin in the configuration file.
      expect(await createRoom(worker, workerInbox, `not-yours@conference.${DOMAIN}`)).to.equal('not-allowed');
      expect(await createRoom(boss, bossInbox, `hq@conference.${DOMAIN}`)).to.equal('created');
    } finally {
      await stopQuietly(boss);
      await stopQuietly(worker);
    }
  });

  describe('the landing page', function () {
    const page = (token: string) => fetch(`${ts.httpUrl}/invite/${token}`);

    it('shows how to join, with the xmpp: URI as a link and a QR code, to whoever has the link', async function () {
      await ts.addUser('nurse', 'nurse password');
      const invite = await mint({ contact: `nurse@${DOMAIN}` });
      const response = await page(invite.token);
      expect(response.status).to.equal(200);
      expect(response.headers.get('content-type')).to.match(/^text\/html/);
      expect(response.headers.get('referrer-policy')).to.equal('no-referrer');
      expect(response.headers.get('cache-control')).to.equal('no-store');
      expect(response.headers.get('content-security-policy')).to.match(/default-src 'none'/);
      const html = await response.text();
      expect(html).to.contain(`href="${invite.uri}"`);
      expect(html).to.contain(`nurse@${DOMAIN} invites you to chat`);
      for (const client of ['Conversations', 'Monal', 'Gajim', 'Dino']) expect(html).to.contain(client);
      // The QR code is the URI's, inline SVG.
      expect(html).to.contain(renderSVG(invite.uri, { ecc: 'M', border: 2, pixelSize: 8 }));
      expect(html).to.not.match(/<script/);
    });

    it('answers 404 for an unknown, malformed, expired or used token', async function () {
      expect((await page('A'.repeat(24))).status).to.equal(404);
      expect((await page('not-a-token')).status).to.equal(404);
      expect((await page('')).status).to.equal(404);
      const expired = await mint();
      await sql`update invites set expires_at = now() - interval '1 second' where id = ${expired.id}`.execute(ts.database.db);
      expect((await page(expired.token)).status).to.equal(404);
      const used = await mint();
      expect((await registerOnce(ts, 'pageuser', 'long enough password', used.token)).type).to.equal('result');
      const gone = await page(used.token);
      expect(gone.status).to.equal(404);
      expect(await gone.text()).to.not.contain(DOMAIN);
    });
  });
});

describe('invitations in registration.mode closed', function () {
  this.timeout(30_000);
  let ts: TestServer;
  before(async function () {
    ts = await startTestServer({ host: HOST, domain: 'shut.hearth.example' });
  });
  after(async () => ts?.stop());

  it('are not minted: nothing could redeem them', async function () {
    const refused = await ts.server.services.invites.create({}).then(() => null, (err: Error) => err.message);
    expect(refused).to.match(/registration\.mode is closed/);
    expect((await ts.server.services.invites.list()).invites).to.deep.equal([]);
  });
});
