// The small modules clients query, as a user of a standard client sees them: XEP-0092 software
// version, XEP-0202 entity time, XEP-0012 last activity, XEP-0157 contact addresses (XEP-0128).
import { expect } from 'chai';
import { release, type } from 'node:os';
import { VERSION } from '../../src/version.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { collectStanzas, connect, delay, roundTrip, stopQuietly, waitForStanza, xml, type Client, type Element } from '../helpers/xmpp-client.js';

const HOST = '127.0.0.143';
const PASSWORD = 'small-modules-secret';
const NS_VERSION = 'jabber:iq:version';
const NS_TIME = 'urn:xmpp:time';
const NS_LAST = 'jabber:iq:last';
const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';
const NS_DATA = 'jabber:x:data';
const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
/** XEP-0082 DateTime in UTC. */
const XEP_0082_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

/** The reply to an iq get, result or error (the iq caller would throw on an error). */
async function ask(client: Client, to: string | undefined, payload: Element): Promise<Element> {
  const id = `q${Math.random().toString(36).slice(2)}`;
  const reply = new Promise<Element>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no reply to ${payload.toString()}`)), 3_000);
    const listener = (el: Element) => {
      if (el.is('iq') && el.attrs.id === id && (el.attrs.type === 'result' || el.attrs.type === 'error')) {
        clearTimeout(timer);
        client.removeListener('stanza', listener);
        resolve(el);
      }
    };
    client.on('stanza', listener);
  });
  await client.send(xml('iq', to === undefined ? { type: 'get', id } : { type: 'get', id, to }, payload));
  return reply;
}

const errorCondition = (iq: Element) => iq.getChild('error')?.getChildElements().find((c) => c.attrs.xmlns === NS_STANZAS)?.name;

function lastOf(iq: Element): { seconds: number; text: string } {
  expect(iq.attrs.type, iq.toString()).to.equal('result');
  const query = iq.getChild('query', NS_LAST);
  expect(query, iq.toString()).to.not.equal(undefined);
  expect(query!.attrs.seconds, 'seconds is a non-negative integer').to.match(/^\d+$/);
  return { seconds: Number(query!.attrs.seconds), text: query!.getText() };
}

describe('small modules clients query (XEP-0092, XEP-0202, XEP-0012, XEP-0157) with @xmpp/client', function () {
  let ts: TestServer;
  /** A second server: showOs and contact addresses configured. */
  let configured: TestServer;
  let startedAt: number;
  const clients: Client[] = [];
  let users = 0;

  before(async function () {
    this.timeout(60_000); // two servers, on a machine that may be busy
    startedAt = Date.now();
    ts = await startTestServer({ host: HOST, domain: 'small.hearth.example' });
    configured = await startTestServer({
      host: HOST,
      domain: 'configured.hearth.example',
      config: {
        version: { showOs: true },
        contactAddresses: {
          abuse: ['mailto:abuse@configured.hearth.example', 'xmpp:abuse@configured.hearth.example'],
          admin: ['xmpp:admin@configured.hearth.example'],
          status: ['https://status.configured.hearth.example/'],
          support: ['https://configured.hearth.example/support', 'tel:+1-555-0100'],
        },
      },
    });
  });

  afterEach(async function () {
    await Promise.all(clients.splice(0).map(stopQuietly));
  });

  after(async function () {
    await ts?.stop();
    await configured?.stop();
  });

  async function account(name: string, server = ts): Promise<string> {
    const local = `${name}${++users}`;
    await server.addUser(local, PASSWORD);
    return local;
  }

  async function login(local: string, resource: string, server = ts): Promise<Client> {
    const client = await connect(server, local, PASSWORD, { resource, mechanism: 'PLAIN' });
    clients.push(client);
    return client;
  }

  async function online(local: string, resource: string, presence: Element = xml('presence')): Promise<Client> {
    const client = await login(local, resource);
    await client.send(presence);
    await roundTrip(client);
    return client;
  }

  /** The account's roster holds the contact with this subscription (set by the operator). */
  async function rosterItem(local: string, contact: string, subscription: 'none' | 'to' | 'from' | 'both'): Promise<void> {
    await ts.server.services.rosters.add(`${local}@${ts.domain}`, { jid: contact, subscription });
  }

  /** A subscriber sees the resource go offline (then asks when that was). */
  async function seesGoOffline(inbox: Element[], full: string): Promise<void> {
    await waitForStanza(inbox, (el) => el.is('presence') && el.attrs.type === 'unavailable' && el.attrs.from === full, `unavailable presence of ${full}`);
  }

  describe('service discovery', function () {
    it('advertises software version, entity time and last activity for the server, last activity for accounts', async function () {
      const alice = await login(await account('alice'), 'a1');
      const server = await ask(alice, ts.domain, xml('query', { xmlns: NS_DISCO_INFO }));
      const features = server.getChild('query', NS_DISCO_INFO)!.getChildren('feature').map((f) => f.attrs.var);
      expect(features).to.include.members([NS_VERSION, NS_TIME, NS_LAST]);

      const bob = await account('bob');
      const accountInfo = await ask(alice, `${bob}@${ts.domain}`, xml('query', { xmlns: NS_DISCO_INFO }));
      const accountFeatures = accountInfo.getChild('query', NS_DISCO_INFO)!.getChildren('feature').map((f) => f.attrs.var);
      expect(accountFeatures).to.include(NS_LAST);
      expect(accountFeatures).to.not.include(NS_VERSION);
    });
  });

  describe('XEP-0092 software version', function () {
    it('answers the name Hearth and its version, without the operating system by default', async function () {
      const alice = await login(await account('alice'), 'a1');
      const reply = await ask(alice, ts.domain, xml('query', { xmlns: NS_VERSION }));
      expect(reply.attrs).to.include({ type: 'result', from: ts.domain });
      const query = reply.getChild('query', NS_VERSION)!;
      expect(query.getChildText('name')).to.equal('Hearth');
      expect(query.getChildText('version')).to.equal(VERSION);
      expect(VERSION).to.match(/^\d+\.\d+\.\d+/);
      expect(query.getChild('os'), 'no <os/> unless version.showOs').to.equal(undefined);
    });

    it('adds the operating system when version.showOs is true', async function () {
      const local = await account('carol', configured);
      const carol = await login(local, 'c1', configured);
      const query = (await ask(carol, configured.domain, xml('query', { xmlns: NS_VERSION }))).getChild('query', NS_VERSION)!;
      expect(query.getChildText('name')).to.equal('Hearth');
      expect(query.getChildText('version')).to.equal(VERSION);
      expect(query.getChildText('os')).to.equal(`${type()} ${release()}`);
    });
  });

  describe('XEP-0202 entity time', function () {
    const tz = process.env.TZ;
    afterEach(function () {
      if (tz === undefined) delete process.env.TZ;
      else process.env.TZ = tz;
    });

    it('answers the UTC time (XEP-0082) and the time zone offset', async function () {
      const alice = await login(await account('alice'), 'a1');
      for (const [zone, offset] of [['UTC', '+00:00'], ['Asia/Kolkata', '+05:30'], ['Etc/GMT+5', '-05:00']] as const) {
        process.env.TZ = zone; // the server runs in this process
        const before = Date.now();
        const reply = await ask(alice, ts.domain, xml('time', { xmlns: NS_TIME }));
        const after = Date.now();
        expect(reply.attrs.type).to.equal('result');
        const time = reply.getChild('time', NS_TIME)!;
        expect(time.getChildText('tzo'), zone).to.equal(offset);
        const utc = time.getChildText('utc')!;
        expect(utc).to.match(XEP_0082_UTC);
        expect(Date.parse(utc)).to.be.within(before, after);
      }
    });
  });

  describe('XEP-0012 last activity', function () {
    it('tells the server\'s uptime', async function () {
      const alice = await login(await account('alice'), 'a1');
      const first = lastOf(await ask(alice, ts.domain, xml('query', { xmlns: NS_LAST })));
      expect(first.seconds).to.be.at.most(Math.ceil((Date.now() - startedAt) / 1000));
      expect(first.text).to.equal('');
      await delay(1_100);
      const second = lastOf(await ask(alice, ts.domain, xml('query', { xmlns: NS_LAST })));
      expect(second.seconds).to.be.at.least(first.seconds + 1);
    });

    it('answers 0 seconds for a contact with an available resource', async function () {
      const aliceLocal = await account('alice');
      const bobLocal = await account('bob');
      const bobBare = `${bobLocal}@${ts.domain}`;
      await rosterItem(bobLocal, `${aliceLocal}@${ts.domain}`, 'from');
      await online(bobLocal, 'b1', xml('presence', {}, xml('status', {}, 'Here')));
      const alice = await login(aliceLocal, 'a1');
      const last = lastOf(await ask(alice, bobBare, xml('query', { xmlns: NS_LAST })));
      expect(last).to.deep.equal({ seconds: 0, text: '' });
    });

    it('tells a subscriber how long ago an offline contact logged out, with the status of its unavailable presence', async function () {
      const aliceLocal = await account('alice');
      const bobLocal = await account('bob');
      const bobBare = `${bobLocal}@${ts.domain}`;
      await rosterItem(bobLocal, `${aliceLocal}@${ts.domain}`, 'both');
      const alice = await online(aliceLocal, 'a1');
      const inbox = collectStanzas(alice);

      // Before bob ever logged out, there is nothing to tell.
      const never = await ask(alice, bobBare, xml('query', { xmlns: NS_LAST }));
      expect(never.attrs.type).to.equal('error');
      expect(errorCondition(never)).to.equal('item-not-found');

      // Two resources: only when the last one goes is bob offline.
      const phone = await online(bobLocal, 'phone');
      const laptop = await online(bobLocal, 'laptop');
      await laptop.send(xml('presence', { type: 'unavailable' }, xml('status', {}, 'Heading Home')));
      await stopQuietly(laptop);
      await seesGoOffline(inbox, `${bobBare}/laptop`);
      expect(lastOf(await ask(alice, bobBare, xml('query', { xmlns: NS_LAST }))).seconds, 'the phone is still there').to.equal(0);

      await phone.send(xml('presence', { type: 'unavailable' }, xml('status', {}, 'Gone fishing')));
      await stopQuietly(phone);
      await seesGoOffline(inbox, `${bobBare}/phone`);
      const last = lastOf(await ask(alice, bobBare, xml('query', { xmlns: NS_LAST })));
      expect(last.text).to.equal('Gone fishing');
      expect(last.seconds).to.be.at.most(1);

      await delay(1_100);
      const later = lastOf(await ask(alice, bobBare, xml('query', { xmlns: NS_LAST })));
      expect(later.text).to.equal('Gone fishing');
      expect(later.seconds).to.be.at.least(1).and.at.most(3);

      // The account itself may ask too, also without a to address, while not available.
      const self = await login(bobLocal, 'again');
      expect(lastOf(await ask(self, bobBare, xml('query', { xmlns: NS_LAST }))).text).to.equal('Gone fishing');
      expect(lastOf(await ask(self, undefined, xml('query', { xmlns: NS_LAST }))).text).to.equal('Gone fishing');
    });

    it('records a logout without unavailable presence (a closed connection) with no status text', async function () {
      const aliceLocal = await account('alice');
      const bobLocal = await account('bob');
      const bobBare = `${bobLocal}@${ts.domain}`;
      await rosterItem(bobLocal, `${aliceLocal}@${ts.domain}`, 'from');
      const alice = await online(aliceLocal, 'a1');
      const inbox = collectStanzas(alice);

      const first = await online(bobLocal, 'b1');
      await first.send(xml('presence', { type: 'unavailable' }, xml('status', {}, 'Old status')));
      await seesGoOffline(inbox, `${bobBare}/b1`);
      expect(lastOf(await ask(alice, bobBare, xml('query', { xmlns: NS_LAST }))).text).to.equal('Old status');
      await stopQuietly(first);

      const second = await online(bobLocal, 'b2', xml('presence', {}, xml('status', {}, 'Online status')));
      expect(lastOf(await ask(alice, bobBare, xml('query', { xmlns: NS_LAST }))).seconds).to.equal(0);
      await stopQuietly(second); // closes the stream without unavailable presence
      await seesGoOffline(inbox, `${bobBare}/b2`);
      const last = lastOf(await ask(alice, bobBare, xml('query', { xmlns: NS_LAST })));
      expect(last.text, 'the server\'s unavailable presence carries no status').to.equal('');
    });

    it('refuses those not subscribed to the account\'s presence with forbidden', async function () {
      const bobLocal = await account('bob');
      const bobBare = `${bobLocal}@${ts.domain}`;
      const strangerLocal = await account('stranger');
      // bob sees dave's presence, but dave does not see bob's; erin's request is only pending.
      const daveLocal = await account('dave');
      const erinLocal = await account('erin');
      await rosterItem(bobLocal, `${daveLocal}@${ts.domain}`, 'to');
      await rosterItem(bobLocal, `${erinLocal}@${ts.domain}`, 'none');
      const bob = await online(bobLocal, 'b1');
      await bob.send(xml('presence', { type: 'unavailable' }, xml('status', {}, 'Secret plans')));
      await stopQuietly(bob);

      for (const local of [strangerLocal, daveLocal, erinLocal]) {
        const asker = await login(local, 'x');
        const reply = await ask(asker, bobBare, xml('query', { xmlns: NS_LAST }));
        expect(reply.attrs.type, `${local}: ${reply.toString()}`).to.equal('error');
        expect(reply.attrs.from).to.equal(bobBare);
        expect(errorCondition(reply)).to.equal('forbidden');
        expect(reply.getChild('error')!.attrs.type).to.equal('auth');
        expect(reply.toString(), 'nothing of the status leaks').to.not.include('Secret plans');
      }

      // Online or not makes no difference to who may ask.
      const again = await online(bobLocal, 'b2');
      const stranger = await login(strangerLocal, 'y');
      expect(errorCondition(await ask(stranger, bobBare, xml('query', { xmlns: NS_LAST })))).to.equal('forbidden');
      await stopQuietly(again);
    });

    it('leaves a query to a full JID to the client of that resource', async function () {
      const aliceLocal = await account('alice');
      const bobLocal = await account('bob');
      await rosterItem(bobLocal, `${aliceLocal}@${ts.domain}`, 'both');
      const bob = await online(bobLocal, 'idle');
      // XEP-0012 §4: a client may answer with its idle time.
      (bob as unknown as { iqCallee: { get(ns: string, name: string, handler: () => Element): void } }).iqCallee.get(
        NS_LAST, 'query', () => xml('query', { xmlns: NS_LAST, seconds: '123' }),
      );
      const alice = await login(aliceLocal, 'a1');
      const reply = await ask(alice, `${bobLocal}@${ts.domain}/idle`, xml('query', { xmlns: NS_LAST }));
      expect(reply.attrs.from).to.equal(`${bobLocal}@${ts.domain}/idle`);
      expect(lastOf(reply).seconds).to.equal(123);
    });
  });

  describe('XEP-0157 contact addresses', function () {
    it('lists the configured addresses in the server\'s disco#info as a serverinfo form', async function () {
      const local = await account('carol', configured);
      const carol = await login(local, 'c1', configured);
      const info = (await ask(carol, configured.domain, xml('query', { xmlns: NS_DISCO_INFO }))).getChild('query', NS_DISCO_INFO)!;
      const forms = info.getChildren('x', NS_DATA);
      expect(forms, info.toString()).to.have.length(1);
      const form = forms[0]!;
      expect(form.attrs.type).to.equal('result');
      const fields = Object.fromEntries(form.getChildren('field').map((f) => [f.attrs.var, f.getChildren('value').map((v) => v.getText())]));
      expect(form.getChildren('field').find((f) => f.attrs.var === 'FORM_TYPE')?.attrs.type).to.equal('hidden');
      expect(fields).to.deep.equal({
        FORM_TYPE: ['http://jabber.org/network/serverinfo'],
        'abuse-addresses': ['mailto:abuse@configured.hearth.example', 'xmpp:abuse@configured.hearth.example'],
        'admin-addresses': ['xmpp:admin@configured.hearth.example'],
        'status-addresses': ['https://status.configured.hearth.example/'],
        'support-addresses': ['https://configured.hearth.example/support', 'tel:+1-555-0100'],
      });
      // The identity and features are still there, and the form is the same on every request.
      expect(info.getChild('identity')?.attrs).to.include({ category: 'server', type: 'im' });
      const again = (await ask(carol, configured.domain, xml('query', { xmlns: NS_DISCO_INFO }))).getChild('query', NS_DISCO_INFO)!;
      expect(again.getChildren('x', NS_DATA).map(String)).to.deep.equal([form.toString()]);
    });

    it('adds no form when no address is configured', async function () {
      const alice = await login(await account('alice'), 'a1');
      const info = (await ask(alice, ts.domain, xml('query', { xmlns: NS_DISCO_INFO }))).getChild('query', NS_DISCO_INFO)!;
      expect(info.getChildren('x', NS_DATA)).to.have.length(0);
      expect(info.getChildren('feature').length).to.be.greaterThan(0);
    });
  });
});
