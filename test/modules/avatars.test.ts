// XEP-0398 avatar conversion (XEP-0084 ↔ XEP-0054/0153) and the XEP-0172 nickname node, with
// @xmpp/client users: one client uses PEP avatars, another vCards, and both see the same.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { advertiseCaps, capsPresence } from '../helpers/caps-client.js';
import { befriend as befriendParties } from '../helpers/roster.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { collectStanzas, connect, roundTrip, stopQuietly, waitForStanza, xml, type Client, type Element } from '../helpers/xmpp-client.js';

const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
const NS_EVENT = 'http://jabber.org/protocol/pubsub#event';
const NS_DATA = 'urn:xmpp:avatar:data';
const NS_METADATA = 'urn:xmpp:avatar:metadata';
const NS_UPDATE = 'vcard-temp:x:update';
const NS_NICK = 'http://jabber.org/protocol/nick';
const PASSWORD = 'avatar-secret';

describe('avatars (XEP-0398: XEP-0084 ↔ vCard, XEP-0153 hash in presence) and nicknames (XEP-0172)', function () {
  let ts: TestServer;
  const clients: Client[] = [];
  let users = 0;

  before(async function () {
    ts = await startTestServer({ host: '127.0.0.154' });
  });

  afterEach(async function () {
    await Promise.all(clients.splice(0).map(stopQuietly));
  });

  after(async function () {
    await ts?.stop();
  });

  async function account(): Promise<string> {
    const local = `av${++users}`;
    await ts.addUser(local, PASSWORD);
    return local;
  }

  const befriend = (a: string, b: string) => befriendParties({ server: ts, local: a }, { server: ts, local: b });

  async function login(local: string, interests: string[] | null, presence?: Element): Promise<{ client: Client; inbox: Element[]; bare: string }> {
    const client = await connect(ts, local, PASSWORD);
    clients.push(client);
    const inbox = collectStanzas(client);
    if (interests) {
      await client.send(capsPresence(advertiseCaps(client, interests.map((ns) => `${ns}+notify`)), ...(presence ? presence.children as Element[] : [])));
    } else if (presence) {
      await client.send(presence);
    }
    await roundTrip(client);
    return { client, inbox, bare: `${local}@${ts.domain}` };
  }

  const request = (client: Client, type: 'get' | 'set', child: Element, to?: string) => client.iqCaller.request(xml('iq', { type, to }, child), 5_000);
  const image = Buffer.from('\x89PNG\r\n\x1a\n' + 'pixels'.repeat(40), 'binary');
  const sha1 = (data: Buffer) => createHash('sha1').update(data).digest('hex');
  const photoHash = (presence: Element) => presence.getChild('x', NS_UPDATE)?.getChildText('photo');

  it('advertises the conversion and puts the vCard photo hash (or an empty one) in presence', async function () {
    const [a, b] = [await account(), await account()];
    await befriend(a, b);
    const bob = await login(b, null, xml('presence'));
    const alice = await login(a, null, xml('presence'));
    const info = (await request(alice.client, 'get', xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' }), alice.bare)).getChild('query')!;
    expect(info.getChildren('feature').map((f) => f.attrs.var)).to.include('urn:xmpp:pep-vcard-conversion:0');
    const first = await waitForStanza(bob.inbox, (el) => el.is('presence') && String(el.attrs.from).startsWith(alice.bare), 'alice\'s presence');
    expect(photoHash(first)).to.equal('');

    await request(alice.client, 'set', xml('vCard', { xmlns: 'vcard-temp' }, xml('PHOTO', {}, xml('TYPE', {}, 'image/png'), xml('BINVAL', {}, image.toString('base64')))));
    // A presence without <x/>, and one with an empty <x/> (both overwritten, §4).
    bob.inbox.length = 0;
    await alice.client.send(xml('presence', {}, xml('show', {}, 'away')));
    const second = await waitForStanza(bob.inbox, (el) => el.is('presence') && el.getChildText('show') === 'away', 'the away presence');
    expect(photoHash(second)).to.equal(sha1(image));
    await alice.client.send(xml('presence', {}, xml('show', {}, 'dnd'), xml('x', { xmlns: NS_UPDATE })));
    const third = await waitForStanza(bob.inbox, (el) => el.is('presence') && el.getChildText('show') === 'dnd', 'the dnd presence');
    expect(photoHash(third)).to.equal(sha1(image));
    // A client saying "no avatar" itself (<photo/>) is left alone.
    await alice.client.send(xml('presence', {}, xml('show', {}, 'xa'), xml('x', { xmlns: NS_UPDATE }, xml('photo'))));
    const fourth = await waitForStanza(bob.inbox, (el) => el.is('presence') && el.getChildText('show') === 'xa', 'the xa presence');
    expect(photoHash(fourth)).to.equal('');
  });

  it('publishes a vCard photo as a XEP-0084 avatar, and a XEP-0084 avatar becomes the vCard photo', async function () {
    const [a, b] = [await account(), await account()];
    await befriend(a, b);
    const bob = await login(b, [NS_METADATA]);
    const alice = await login(a, null, xml('presence'));

    // vCard → PEP: the contact is notified of the metadata, and reads the data.
    await request(alice.client, 'set', xml('vCard', { xmlns: 'vcard-temp' }, xml('FN', {}, 'Alice'), xml('PHOTO', {}, xml('TYPE', {}, 'image/png'), xml('BINVAL', {}, image.toString('base64')))));
    const notified = await waitForStanza(bob.inbox, (el) => el.getChild('event', NS_EVENT)?.getChild('items')?.attrs.node === NS_METADATA, 'the metadata notification');
    const info = notified.getChild('event', NS_EVENT)!.getChild('items')!.getChild('item')!.getChild('metadata', NS_METADATA)!.getChild('info')!;
    expect(info.attrs).to.include({ id: sha1(image), bytes: String(image.length), type: 'image/png' });
    const data = await request(bob.client, 'get', xml('pubsub', { xmlns: NS_PUBSUB }, xml('items', { node: NS_DATA }, xml('item', { id: sha1(image) }))), alice.bare);
    expect(Buffer.from(data.getChild('pubsub')!.getChild('items')!.getChild('item')!.getChildText('data')!, 'base64').equals(image)).to.equal(true);

    // PEP → vCard: a new avatar published the XEP-0084 way replaces the vCard photo.
    const other = Buffer.from('GIF89a' + 'other-image'.repeat(30), 'binary');
    await request(alice.client, 'set', xml('pubsub', { xmlns: NS_PUBSUB }, xml('publish', { node: NS_DATA }, xml('item', { id: sha1(other) }, xml('data', { xmlns: NS_DATA }, other.toString('base64'))))));
    await request(alice.client, 'set', xml('pubsub', { xmlns: NS_PUBSUB }, xml('publish', { node: NS_METADATA }, xml('item', { id: sha1(other) },
      xml('metadata', { xmlns: NS_METADATA }, xml('info', { id: sha1(other), bytes: String(other.length), type: 'image/gif' }))))));
    const vcard = (await request(bob.client, 'get', xml('vCard', { xmlns: 'vcard-temp' }), alice.bare)).getChild('vCard', 'vcard-temp')!;
    expect(vcard.getChildText('FN')).to.equal('Alice');
    expect(vcard.getChild('PHOTO')!.getChildText('TYPE')).to.equal('image/gif');
    expect(Buffer.from(vcard.getChild('PHOTO')!.getChildText('BINVAL')!, 'base64').equals(other)).to.equal(true);
    bob.inbox.length = 0;
    await alice.client.send(xml('presence', {}, xml('status', {}, 'new look')));
    const presence = await waitForStanza(bob.inbox, (el) => el.is('presence') && el.getChildText('status') === 'new look', 'the presence after the change');
    expect(photoHash(presence)).to.equal(sha1(other));

    // An avatar whose data does not match its id is not converted; disabling it removes the photo.
    await request(alice.client, 'set', xml('pubsub', { xmlns: NS_PUBSUB }, xml('publish', { node: NS_METADATA }, xml('item', { id: 'bogus' },
      xml('metadata', { xmlns: NS_METADATA }, xml('info', { id: sha1(Buffer.from('nothing')), bytes: '7', type: 'image/png' }))))));
    const unchanged = (await request(alice.client, 'get', xml('vCard', { xmlns: 'vcard-temp' }))).getChild('vCard', 'vcard-temp')!;
    expect(unchanged.getChild('PHOTO')!.getChildText('TYPE')).to.equal('image/gif');
    await request(alice.client, 'set', xml('pubsub', { xmlns: NS_PUBSUB }, xml('publish', { node: NS_METADATA }, xml('item', { id: 'none' }, xml('metadata', { xmlns: NS_METADATA })))));
    const removed = (await request(alice.client, 'get', xml('vCard', { xmlns: 'vcard-temp' }))).getChild('vCard', 'vcard-temp')!;
    expect(removed.getChild('PHOTO')).to.equal(undefined);
    expect(removed.getChildText('FN')).to.equal('Alice');
  });

  it('delivers a XEP-0172 nickname to contacts that want it', async function () {
    const [a, b] = [await account(), await account()];
    await befriend(a, b);
    const bob = await login(b, [NS_NICK]);
    const alice = await login(a, null, xml('presence'));
    await request(alice.client, 'set', xml('pubsub', { xmlns: NS_PUBSUB }, xml('publish', { node: NS_NICK }, xml('item', {}, xml('nick', { xmlns: NS_NICK }, 'Ally')))));
    const event = await waitForStanza(bob.inbox, (el) => el.getChild('event', NS_EVENT)?.getChild('items')?.attrs.node === NS_NICK, 'the nickname');
    expect(event.getChild('event', NS_EVENT)!.getChild('items')!.getChild('item')!.getChildText('nick')).to.equal('Ally');
  });
});
