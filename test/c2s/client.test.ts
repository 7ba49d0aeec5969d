// A standard client library logs in and chats: RFC 6120 streams, TLS, SASL, binding, and
// RFC 6121 §8 routing, as @xmpp/client sees them over real sockets.
import { expect } from 'chai';
import { startTestServer, type TestServer } from '../helpers/server.js';
import {
  collectStanzas,
  connect,
  delay,
  nextStanza,
  nextStreamError,
  stopQuietly,
  xml,
  type Client,
} from '../helpers/xmpp-client.js';

const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';
const NS_DISCO_ITEMS = 'http://jabber.org/protocol/disco#items';
const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

function errorCondition(stanza: { getChild(n: string): { getChildElements(): Array<{ name: string; attrs: Record<string, string> }> } | undefined }): string | undefined {
  return stanza.getChild('error')?.getChildElements().find((c) => c.attrs.xmlns === NS_STANZAS)?.name;
}

describe('c2s with @xmpp/client', function () {
  let ts: TestServer;
  const clients: Client[] = [];
  const track = (c: Client) => {
    clients.push(c);
    return c;
  };

  before(async function () {
    ts = await startTestServer({ host: '127.0.0.101' });
    await ts.addUser('alice', 'wonderland');
    await ts.addUser('bob', 'builder');
  });

  afterEach(async function () {
    await Promise.all(clients.splice(0).map(stopQuietly));
  });

  after(async function () {
    await ts?.stop();
  });

  it('logs in with SCRAM-SHA-1 after STARTTLS and binds the requested resource', async function () {
    const alice = track(await connect(ts, 'alice', 'wonderland', { resource: 'laptop' }));
    expect(alice.jid?.toString()).to.equal(`alice@${ts.domain}/laptop`);
  });

  it('logs in with PLAIN over direct TLS (XEP-0368)', async function () {
    const alice = track(await connect(ts, 'alice', 'wonderland', { transport: 'direct', mechanism: 'PLAIN' }));
    expect(alice.jid?.bare().toString()).to.equal(`alice@${ts.domain}`);
    // No resource requested: the server generated one.
    expect(alice.jid?.resource).to.match(/.+/);
  });

  it('refuses a wrong password and an unknown account with the same not-authorized', async function () {
    const wrong = connect(ts, 'alice', 'not-the-password');
    const unknown = connect(ts, 'nobody', 'whatever');
    const [a, b] = await Promise.allSettled([wrong, unknown]);
    expect(a.status).to.equal('rejected');
    expect(b.status).to.equal('rejected');
    expect((a as PromiseRejectedResult).reason.condition).to.equal('not-authorized');
    expect((b as PromiseRejectedResult).reason.condition).to.equal('not-authorized');
  });

  it('routes messages between two users, to the full and to the bare JID', async function () {
    const alice = track(await connect(ts, 'alice', 'wonderland', { resource: 'a1' }));
    const bob = track(await connect(ts, 'bob', 'builder', { resource: 'b1' }));
    await alice.send(xml('presence'));
    await bob.send(xml('presence'));
    await delay(50);

    const toFull = nextStanza(bob, (el) => el.is('message'));
    await alice.send(xml('message', { to: `bob@${ts.domain}/b1`, type: 'chat', id: 'm1' }, xml('body', {}, 'hello Bob')));
    const got = await toFull;
    expect(got.attrs.from).to.equal(`alice@${ts.domain}/a1`);
    expect(got.getChildText('body')).to.equal('hello Bob');

    const toBare = nextStanza(alice, (el) => el.is('message'));
    await bob.send(xml('message', { to: `alice@${ts.domain}`, type: 'chat' }, xml('body', {}, 'hi Alice, ünïcödé 🎉')));
    const reply = await toBare;
    expect(reply.attrs.from).to.equal(`bob@${ts.domain}/b1`);
    expect(reply.getChildText('body')).to.equal('hi Alice, ünïcödé 🎉');
  });

  it('stamps the sender address and refuses a forged from with invalid-from', async function () {
    const alice = track(await connect(ts, 'alice', 'wonderland', { resource: 'a1' }));
    const bob = track(await connect(ts, 'bob', 'builder', { resource: 'b1' }));
    const received = nextStanza(bob, (el) => el.is('message'));
    // A from of its own bare JID is allowed and replaced by the full JID.
    await alice.send(xml('message', { to: `bob@${ts.domain}/b1`, from: `alice@${ts.domain}` }, xml('body', {}, 'x')));
    expect((await received).attrs.from).to.equal(`alice@${ts.domain}/a1`);

    const streamError = nextStreamError(alice);
    const bobInbox = collectStanzas(bob);
    await alice.send(xml('message', { to: `bob@${ts.domain}/b1`, from: `bob@${ts.domain}/b1` }, xml('body', {}, 'forged')));
    expect(await streamError).to.equal('invalid-from');
    await delay(100);
    expect(bobInbox).to.have.length(0);
  });

  it('delivers a bare-JID message to the highest-priority resource only', async function () {
    const bob = track(await connect(ts, 'bob', 'builder', { resource: 'b1' }));
    const low = track(await connect(ts, 'alice', 'wonderland', { resource: 'low' }));
    const high = track(await connect(ts, 'alice', 'wonderland', { resource: 'high' }));
    await low.send(xml('presence', {}, xml('priority', {}, '1')));
    await high.send(xml('presence', {}, xml('priority', {}, '5')));
    await delay(50);
    const lowInbox = collectStanzas(low);
    const highGot = nextStanza(high, (el) => el.is('message'));
    await bob.send(xml('message', { to: `alice@${ts.domain}`, type: 'chat' }, xml('body', {}, 'to the best')));
    expect((await highGot).getChildText('body')).to.equal('to the best');
    await delay(100);
    expect(lowInbox.filter((el) => el.is('message'))).to.have.length(0);

    // Equal priorities: both get it (RFC 6121 §8.5.2.1.1).
    await low.send(xml('presence', {}, xml('priority', {}, '5')));
    await delay(50);
    const both = Promise.all([nextStanza(low, (el) => el.is('message')), nextStanza(high, (el) => el.is('message'))]);
    await bob.send(xml('message', { to: `alice@${ts.domain}`, type: 'normal' }, xml('body', {}, 'to both')));
    const [a, b] = await both;
    expect(a.getChildText('body')).to.equal('to both');
    expect(b.getChildText('body')).to.equal('to both');
  });

  it('lets a new session take over a resource; the old one gets a conflict stream error', async function () {
    const first = track(await connect(ts, 'alice', 'wonderland', { resource: 'phone' }));
    const conflict = nextStreamError(first);
    const second = track(await connect(ts, 'alice', 'wonderland', { resource: 'phone' }));
    expect(await conflict).to.equal('conflict');
    expect(second.jid?.toString()).to.equal(`alice@${ts.domain}/phone`);
    const pong = await second.iqCaller.request(xml('iq', { type: 'get', to: ts.domain }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    expect(pong.attrs.type).to.equal('result');
  });

  it('answers disco#info and disco#items for the server and for an account', async function () {
    const alice = track(await connect(ts, 'alice', 'wonderland'));
    const info = await alice.iqCaller.request(xml('iq', { type: 'get', to: ts.domain }, xml('query', { xmlns: NS_DISCO_INFO })));
    const query = info.getChild('query', NS_DISCO_INFO)!;
    const features = query.getChildren('feature').map((f) => f.attrs.var);
    expect(features).to.include.members([NS_DISCO_INFO, NS_DISCO_ITEMS, 'urn:xmpp:ping']);
    const identity = query.getChild('identity')!;
    expect(identity.attrs).to.include({ category: 'server', type: 'im' });

    const items = await alice.iqCaller.request(xml('iq', { type: 'get', to: ts.domain }, xml('query', { xmlns: NS_DISCO_ITEMS })));
    expect(items.getChild('query', NS_DISCO_ITEMS)).to.not.equal(undefined);

    const account = await alice.iqCaller.request(xml('iq', { type: 'get', to: `bob@${ts.domain}` }, xml('query', { xmlns: NS_DISCO_INFO })));
    expect(account.attrs.from).to.equal(`bob@${ts.domain}`);
    expect(account.getChild('query', NS_DISCO_INFO)!.getChild('identity')!.attrs).to.include({ category: 'account', type: 'registered' });
  });

  it('answers pings to the server and to the own account', async function () {
    const alice = track(await connect(ts, 'alice', 'wonderland'));
    const host = await alice.iqCaller.request(xml('iq', { type: 'get', to: ts.domain, id: 'p1' }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    expect(host.attrs).to.include({ type: 'result', id: 'p1', from: ts.domain });
    const self = await alice.iqCaller.request(xml('iq', { type: 'get' }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    expect(self.attrs.type).to.equal('result');
  });

  it('answers an unknown iq with service-unavailable, and iq to unknown accounts too', async function () {
    const alice = track(await connect(ts, 'alice', 'wonderland'));
    const unknownNs = alice.iqCaller.request(xml('iq', { type: 'get', to: ts.domain }, xml('query', { xmlns: 'urn:example:nothing' })));
    const err1 = await unknownNs.then(() => null, (e: { condition?: string }) => e);
    expect(err1?.condition).to.equal('service-unavailable');

    const noAccount = alice.iqCaller.request(xml('iq', { type: 'get', to: `nobody@${ts.domain}` }, xml('query', { xmlns: NS_DISCO_INFO })));
    const err2 = await noAccount.then(() => null, (e: { condition?: string }) => e);
    expect(err2?.condition).to.equal('service-unavailable');

    const offlineFull = alice.iqCaller.request(xml('iq', { type: 'get', to: `bob@${ts.domain}/gone` }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    const err3 = await offlineFull.then(() => null, (e: { condition?: string }) => e);
    expect(err3?.condition).to.equal('service-unavailable');
  });

  it('bounces a message to a nonexistent account, and one to an offline account without storage', async function () {
    const alice = track(await connect(ts, 'alice', 'wonderland'));
    const bounce = nextStanza(alice, (el) => el.is('message') && el.attrs.type === 'error');
    await alice.send(xml('message', { to: `nobody@${ts.domain}`, type: 'chat', id: 'x1' }, xml('body', {}, 'anyone?')));
    const error = await bounce;
    expect(error.attrs).to.include({ from: `nobody@${ts.domain}`, id: 'x1' });
    expect(errorCondition(error)).to.equal('service-unavailable');
  });

  it('answers an iq get without a child, or with two, with bad-request', async function () {
    const alice = track(await connect(ts, 'alice', 'wonderland'));
    const reply = nextStanza(alice, (el) => el.is('iq') && el.attrs.id === 'empty');
    await alice.send(xml('iq', { type: 'get', to: ts.domain, id: 'empty' }));
    const error = await reply;
    expect(error.attrs.type).to.equal('error');
    expect(errorCondition(error)).to.equal('bad-request');

    const reply2 = nextStanza(alice, (el) => el.is('iq') && el.attrs.id === 'two');
    await alice.send(xml('iq', { type: 'get', to: ts.domain, id: 'two' }, xml('ping', { xmlns: 'urn:xmpp:ping' }), xml('ping', { xmlns: 'urn:xmpp:ping' })));
    expect(errorCondition(await reply2)).to.equal('bad-request');
  });

  it('answers a malformed to address with jid-malformed from the server', async function () {
    const alice = track(await connect(ts, 'alice', 'wonderland'));
    const reply = nextStanza(alice, (el) => el.is('message') && el.attrs.id === 'bad-to');
    await alice.send(xml('message', { to: 'a@b@c/d', id: 'bad-to', type: 'chat' }, xml('body', {}, 'x')));
    const error = await reply;
    expect(errorCondition(error)).to.equal('jid-malformed');
    expect(error.attrs.from).to.equal(ts.domain);
  });

  it('never answers an error with an error', async function () {
    const alice = track(await connect(ts, 'alice', 'wonderland'));
    const inbox = collectStanzas(alice);
    await alice.send(xml('message', { to: `nobody@${ts.domain}`, type: 'error' }, xml('body', {}, 'x')));
    await alice.send(xml('iq', { to: ts.domain, type: 'error', id: 'e1' }));
    await alice.send(xml('iq', { to: ts.domain, type: 'result', id: 'r1' }));
    await delay(200);
    expect(inbox).to.have.length(0);
  });
});
