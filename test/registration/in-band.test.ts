// XEP-0077 in-band registration by registration.mode, as a client sees it: the stream
// features, the form, the errors of §3.1, the per-address limit of open registration, and a
// logged-in user changing its own password (§3.3) and nobody else's.
import { expect } from 'chai';
import { connect, nextStreamError, stopQuietly, xml, type Client } from '../helpers/xmpp-client.js';
import { RawConnection, streamHeader } from '../helpers/raw.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { NS_REGISTER, PreAuthClient, registerOnce } from './helpers.js';

const HOST = '127.0.0.192';
const OTHER_HOST = '127.0.0.193';
const FEATURE = /<register xmlns=["']http:\/\/jabber\.org\/features\/iq-register["']\/>/;
const TOKEN_FEATURE = /<register xmlns=["']urn:xmpp:ibr-token:0["']\/>/;

/** Resolves when the login succeeds, rejects when it fails. */
async function login(ts: TestServer, user: string, password: string): Promise<Client> {
  return connect(ts, user, password);
}

async function loginFails(ts: TestServer, user: string, password: string): Promise<boolean> {
  try {
    const client = await connect(ts, user, password);
    await stopQuietly(client);
    return false;
  } catch {
    return true;
  }
}

describe('in-band registration (XEP-0077)', function () {
  this.timeout(30_000);

  describe('registration.mode closed (the default)', function () {
    let ts: TestServer;
    before(async function () {
      ts = await startTestServer({ host: HOST, domain: 'closed.hearth.example' });
    });
    after(async () => ts?.stop());

    it('offers no registration and refuses every request with service-unavailable', async function () {
      const { client, features } = await PreAuthClient.open(ts);
      try {
        expect(features).to.match(/<mechanisms /);
        expect(features).to.not.match(FEATURE);
        expect(features).to.not.match(TOKEN_FEATURE);
        expect((await client.iq('get', `<query xmlns='${NS_REGISTER}'/>`)).condition).to.equal('service-unavailable');
        expect((await client.register('mallory', 'long enough password')).condition).to.equal('service-unavailable');
        expect((await client.preauth('A'.repeat(24))).condition).to.equal('service-unavailable');
      } finally {
        client.close();
      }
      expect(await ts.server.stores.accounts.exists('mallory', ts.domain)).to.equal(false);
    });

    it('still lets a logged-in user change its password and cancel its account', async function () {
      await ts.addUser('settled', 'settled password');
      const settled = await login(ts, 'settled', 'settled password');
      try {
        await settled.iqCaller.request(xml('iq', { type: 'set' }, xml('query', { xmlns: NS_REGISTER }, xml('password', {}, 'settled new password'))));
      } finally {
        await stopQuietly(settled);
      }
      const again = await login(ts, 'settled', 'settled new password');
      const ended = nextStreamError(again);
      const reply = await again.iqCaller.request(xml('iq', { type: 'set' }, xml('query', { xmlns: NS_REGISTER }, xml('remove'))));
      expect(reply.attrs.type).to.equal('result');
      expect(await ended).to.equal('not-authorized');
      await stopQuietly(again);
      expect(await ts.server.stores.accounts.exists('settled', ts.domain)).to.equal(false);
    });
  });

  describe('registration.mode open', function () {
    let ts: TestServer;
    before(async function () {
      ts = await startTestServer({ host: HOST, domain: 'open.hearth.example', config: { registration: { mode: 'open', perIpPerHour: 1000, minPasswordLength: 10 } } });
    });
    after(async () => ts?.stop());

    it('announces registration only where SASL is offered: after TLS, not before', async function () {
      const raw = await RawConnection.open(ts.host, ts.port);
      try {
        raw.send(streamHeader(ts.domain));
        const beforeTls = await raw.waitFor(/<stream:features>[\s\S]*?<\/stream:features>/);
        expect(beforeTls).to.match(/<starttls /);
        expect(beforeTls).to.not.match(FEATURE);
        // A registration before TLS is not taken either.
        raw.send(`<iq type='set' id='early'><query xmlns='${NS_REGISTER}'><username>early</username><password>long enough password</password></query></iq>`);
        await raw.streamErrorAndClose();
      } finally {
        raw.destroy();
      }
      expect(await ts.server.stores.accounts.exists('early', ts.domain)).to.equal(false);
      const { client, features } = await PreAuthClient.open(ts);
      client.close();
      expect(features).to.match(FEATURE);
      expect(features).to.match(TOKEN_FEATURE);
    });

    it('hands out the fields, registers, and the account logs in at once', async function () {
      const { client } = await PreAuthClient.open(ts);
      try {
        const form = await client.iq('get', `<query xmlns='${NS_REGISTER}'/>`);
        expect(form.type).to.equal('result');
        const query = form.element.getChild('query', NS_REGISTER)!;
        expect(query.getChild('username')).to.not.equal(undefined);
        expect(query.getChild('password')).to.not.equal(undefined);
        expect(query.getChildText('instructions')).to.match(/at least 10 characters/);
        const fields = query.getChild('x', 'jabber:x:data')!.getChildren('field').map((f) => f.attrs.var);
        expect(fields).to.include.members(['FORM_TYPE', 'username', 'password', 'token']);
        expect((await client.register('alice', 'alice password')).type).to.equal('result');
        // §3.1.1: one account per connection.
        const second = await client.register('alice2', 'alice password');
        expect(second.condition).to.equal('not-acceptable');
      } finally {
        client.close();
      }
      const alice = await login(ts, 'alice', 'alice password');
      await stopQuietly(alice);
      expect(await ts.server.stores.accounts.exists('alice2', ts.domain)).to.equal(false);
    });

    it('takes the data form as well, with the username prepared (PRECIS)', async function () {
      const { client } = await PreAuthClient.open(ts);
      try {
        expect((await client.registerWithForm({ username: 'Bérénice', password: 'her long password' })).type).to.equal('result');
      } finally {
        client.close();
      }
      expect(await ts.server.stores.accounts.exists('bérénice', ts.domain)).to.equal(true);
      expect(await ts.server.stores.accounts.exists('Bérénice', ts.domain)).to.equal(false);
      await registerOnce(ts, 'Carol', 'carol long password');
      await stopQuietly(await login(ts, 'carol', 'carol long password'));
    });

    it('refuses taken, reserved and invalid names with conflict and not-acceptable', async function () {
      await ts.addUser('taken', 'some password');
      const cases: Array<[string, string]> = [
        ['taken', 'conflict'],
        ['TAKEN', 'conflict'],
        ['admin', 'conflict'],
        ['postmaster', 'conflict'],
        ['a b', 'not-acceptable'],
        ['x@y', 'not-acceptable'],
        ['', 'not-acceptable'],
        ['ﬀ'.repeat(600), 'not-acceptable'],
      ];
      for (const [username, condition] of cases) {
        const outcome = await registerOnce(ts, username, 'long enough password');
        expect(outcome.condition, JSON.stringify(username)).to.equal(condition);
      }
      // The error does not carry the password back (XEP-0077 §3.3).
      const outcome = await registerOnce(ts, 'admin', 'secret that stays secret');
      expect(outcome.element.toString()).to.not.contain('secret that stays secret');
      expect(await ts.server.stores.accounts.exists('admin', ts.domain)).to.equal(false);
    });

    it('refuses short and empty passwords with not-acceptable', async function () {
      expect((await registerOnce(ts, 'shorty', 'nine char')).condition).to.equal('not-acceptable');
      expect((await registerOnce(ts, 'shorty', '')).condition).to.equal('not-acceptable');
      // Ten characters, not ten bytes: five of them take two bytes each.
      expect((await registerOnce(ts, 'shorty', 'ééééé')).condition).to.equal('not-acceptable');
      expect((await registerOnce(ts, 'shorty', 'éééééééééé')).type).to.equal('result');
    });

    it('lets a logged-in user change its own password; then only the new one logs in', async function () {
      await ts.addUser('dave', 'dave first password');
      await ts.addUser('erin', 'erin first password');
      const dave = await login(ts, 'dave', 'dave first password');
      try {
        const own = await dave.iqCaller.request(xml('iq', { type: 'get', to: ts.domain }, xml('query', { xmlns: NS_REGISTER })));
        expect(own.getChild('query', NS_REGISTER)!.getChild('registered')).to.not.equal(undefined);
        expect(own.getChild('query', NS_REGISTER)!.getChildText('username')).to.equal('dave');

        // Someone else's password: not through dave's session.
        const foreign = await dave.iqCaller
          .request(xml('iq', { type: 'set', to: `erin@${ts.domain}` }, xml('query', { xmlns: NS_REGISTER }, xml('username', {}, 'erin'), xml('password', {}, 'taken over!!'))))
          .then(() => 'result', (err: { condition?: string }) => err.condition);
        expect(foreign).to.equal('service-unavailable');
        const named = await dave.iqCaller
          .request(xml('iq', { type: 'set', to: ts.domain }, xml('query', { xmlns: NS_REGISTER }, xml('username', {}, 'erin'), xml('password', {}, 'taken over!!'))))
          .then(() => 'result', (err: { condition?: string }) => err.condition);
        expect(named).to.equal('not-allowed');
        const tooShort = await dave.iqCaller
          .request(xml('iq', { type: 'set', to: ts.domain }, xml('query', { xmlns: NS_REGISTER }, xml('username', {}, 'dave'), xml('password', {}, 'short'))))
          .then(() => 'result', (err: { condition?: string }) => err.condition);
        expect(tooShort).to.equal('not-acceptable');

        await dave.iqCaller.request(xml('iq', { type: 'set', to: ts.domain }, xml('query', { xmlns: NS_REGISTER }, xml('username', {}, 'dave'), xml('password', {}, 'dave second password'))));
      } finally {
        await stopQuietly(dave);
      }
      expect(await loginFails(ts, 'dave', 'dave first password')).to.equal(true);
      await stopQuietly(await login(ts, 'dave', 'dave second password'));
      await stopQuietly(await login(ts, 'erin', 'erin first password'));
    });

    it('checks the current password when the change-password form gives it', async function () {
      await ts.addUser('frank', 'frank first password');
      const frank = await login(ts, 'frank', 'frank first password');
      const form = (old: string, next: string) =>
        xml('iq', { type: 'set', to: ts.domain }, xml('query', { xmlns: NS_REGISTER },
          xml('x', { xmlns: 'jabber:x:data', type: 'submit' },
            xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, 'jabber:iq:register:changepassword')),
            xml('field', { var: 'username' }, xml('value', {}, `frank@${ts.domain}`)),
            xml('field', { var: 'old_password' }, xml('value', {}, old)),
            xml('field', { var: 'password' }, xml('value', {}, next)))));
      try {
        const wrong = await frank.iqCaller.request(form('not the password', 'frank new password')).then(() => 'result', (err: { condition?: string }) => err.condition);
        expect(wrong).to.equal('not-authorized');
        await frank.iqCaller.request(form('frank first password', 'frank new password'));
      } finally {
        await stopQuietly(frank);
      }
      expect(await loginFails(ts, 'frank', 'frank first password')).to.equal(true);
      await stopQuietly(await login(ts, 'frank', 'frank new password'));
    });
  });

  describe('open registration, limited per address', function () {
    let ts: TestServer;
    before(async function () {
      ts = await startTestServer({ host: OTHER_HOST, domain: 'busy.hearth.example', config: { registration: { mode: 'open', perIpPerHour: 3 } } });
    });
    after(async () => ts?.stop());

    it('refuses the registration after perIpPerHour from one address; an invitation still works', async function () {
      // A refused attempt does not use up one of the address's registrations.
      expect((await registerOnce(ts, 'bulk0', 'short')).condition).to.equal('not-acceptable');
      for (let i = 1; i <= 3; i++) expect((await registerOnce(ts, `bulk${i}`, 'long enough password')).type, `registration ${i}`).to.equal('result');
      const fourth = await registerOnce(ts, 'bulk4', 'long enough password');
      expect(fourth.condition).to.equal('policy-violation');
      expect(fourth.element.getChild('error')!.attrs.type).to.equal('wait');
      expect(await ts.server.stores.accounts.exists('bulk4', ts.domain)).to.equal(false);
      // Invitations are the operator's choice: they do not count against the address.
      const invite = await ts.server.services.invites.create({});
      expect((await registerOnce(ts, 'bulk5', 'long enough password', invite.token)).type).to.equal('result');
    });
  });
});
