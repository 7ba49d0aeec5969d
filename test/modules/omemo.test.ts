// OMEMO (XEP-0384) as clients deploy it, replayed with @xmpp/client: the legacy
// eu.siacs.conversations.axolotl device list and one bundle node per device (Conversations,
// Dino, Monal), and OMEMO 2 (one bundles node with max_items=max), each published with open
// access through publish-options; two accounts on one Hearth, and on two Hearths over s2s.
import { expect } from 'chai';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { advertiseCaps, capsPresence } from '../helpers/caps-client.js';
import { befriend } from '../helpers/roster.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { collectStanzas, connect, roundTrip, stopQuietly, waitForStanza, xml, type Client, type Element } from '../helpers/xmpp-client.js';

const CA = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'tls', 'ca.crt');
const A = { host: '127.0.0.145', domain: 'omemo-a.hearth.example' };
const B = { host: '127.0.0.100', domain: 'omemo-b.hearth.example' };
const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
const NS_EVENT = 'http://jabber.org/protocol/pubsub#event';
const NS_AXOLOTL = 'eu.siacs.conversations.axolotl';
const AXOLOTL_DEVICES = `${NS_AXOLOTL}.devicelist`;
const NS_OMEMO2 = 'urn:xmpp:omemo:2';
const OMEMO2_DEVICES = `${NS_OMEMO2}:devices`;
const OMEMO2_BUNDLES = `${NS_OMEMO2}:bundles`;
const PASSWORD = 'omemo-secret';

interface Peer {
  client: Client;
  inbox: Element[];
  bare: string;
}

describe('OMEMO device lists and bundles (XEP-0384) on PEP, locally and over s2s', function () {
  let a: TestServer;
  let b: TestServer;
  const clients: Client[] = [];
  let users = 0;

  before(async function () {
    const routes = { [A.domain]: `${A.host}:5269`, [B.domain]: `${B.host}:5269` };
    const s2s = (host: string) => ({ listen: [`${host}:5269`], routes, trustedCa: CA, connectTimeoutMs: 3_000 });
    a = await startTestServer({ host: A.host, domain: A.domain, config: { s2s: s2s(A.host) } });
    b = await startTestServer({ host: B.host, domain: B.domain, config: { s2s: s2s(B.host) } });
  });

  afterEach(async function () {
    await Promise.all(clients.splice(0).map(stopQuietly));
  });

  after(async function () {
    await a?.stop();
    await b?.stop();
  });

  async function account(server: TestServer): Promise<string> {
    const local = `omemo${++users}`;
    await server.addUser(local, PASSWORD);
    return local;
  }

  /** Online with the caps an OMEMO client has: +notify for both device lists. */
  async function online(server: TestServer, local: string, resource = 'phone'): Promise<Peer> {
    const client = await connect(server, local, PASSWORD, { resource });
    clients.push(client);
    const inbox = collectStanzas(client);
    await client.send(capsPresence(advertiseCaps(client, [`${AXOLOTL_DEVICES}+notify`, `${OMEMO2_DEVICES}+notify`])));
    await roundTrip(client);
    return { client, inbox, bare: `${local}@${server.domain}` };
  }

  const request = (client: Client, type: 'get' | 'set', child: Element, to?: string) => client.iqCaller.request(xml('iq', { type, to }, child), 8_000);
  const openOptions = (extra: Record<string, string> = {}) => xml('publish-options', {}, xml('x', { xmlns: 'jabber:x:data', type: 'submit' },
    xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, 'http://jabber.org/protocol/pubsub#publish-options')),
    xml('field', { var: 'pubsub#access_model' }, xml('value', {}, 'open')),
    ...Object.entries(extra).map(([name, value]) => xml('field', { var: name }, xml('value', {}, value)))));
  const publish = (client: Client, node: string, id: string, payload: Element, options: Element) =>
    request(client, 'set', xml('pubsub', { xmlns: NS_PUBSUB }, xml('publish', { node }, xml('item', { id }, payload)), options));
  const items = async (client: Client, owner: string, node: string, ids: string[] = []) =>
    (await request(client, 'get', xml('pubsub', { xmlns: NS_PUBSUB }, xml('items', { node }, ...ids.map((id) => xml('item', { id })))), owner))
      .getChild('pubsub')!.getChild('items')!.getChildren('item');
  const eventFrom = (owner: string, node: string) => (el: Element) => el.attrs.from === owner && el.getChild('event', NS_EVENT)?.getChild('items')?.attrs.node === node;

  const axolotlBundle = (deviceId: number) => xml('bundle', { xmlns: NS_AXOLOTL },
    xml('signedPreKeyPublic', { signedPreKeyId: '1' }, Buffer.from(`spk-${deviceId}`).toString('base64')),
    xml('signedPreKeySignature', {}, Buffer.from(`sig-${deviceId}`).toString('base64')),
    xml('identityKey', {}, Buffer.from(`ik-${deviceId}`).toString('base64')),
    xml('prekeys', {}, ...Array.from({ length: 20 }, (_, i) => xml('preKeyPublic', { preKeyId: String(i + 1) }, Buffer.from(`pk-${deviceId}-${i}`).toString('base64')))));
  const omemo2Bundle = (deviceId: number) => xml('bundle', { xmlns: NS_OMEMO2 },
    xml('spk', { id: '1' }, Buffer.from(`spk-${deviceId}`).toString('base64')),
    xml('spks', {}, Buffer.from(`sig-${deviceId}`).toString('base64')),
    xml('ik', {}, Buffer.from(`ik-${deviceId}`).toString('base64')),
    xml('prekeys', {}, ...Array.from({ length: 20 }, (_, i) => xml('pk', { id: String(i + 1) }, Buffer.from(`pk-${deviceId}-${i}`).toString('base64')))));

  /**
   * The sequence both OMEMO flavours follow: the owner publishes its device list and bundle
   * (open access), the contact is notified of the list (or gets it on login) and fetches the
   * bundle; a second device joins the list; a stranger may fetch the open nodes.
   */
  async function replay(ownerServer: TestServer, contactServer: TestServer): Promise<void> {
    const [o, c, s] = [await account(ownerServer), await account(contactServer), await account(contactServer)];
    await befriend({ local: o, server: ownerServer }, { local: c, server: contactServer });
    const owner = await online(ownerServer, o);
    const contact = await online(contactServer, c);
    const stranger = await online(contactServer, s);

    // Legacy OMEMO (Conversations, Dino, Monal): bundle node per device, then the list.
    await publish(owner.client, `${NS_AXOLOTL}.bundles:1001`, 'current', axolotlBundle(1001), openOptions());
    await publish(owner.client, AXOLOTL_DEVICES, 'current', xml('list', { xmlns: NS_AXOLOTL }, xml('device', { id: '1001' })), openOptions());
    const listEvent = await waitForStanza(contact.inbox, eventFrom(owner.bare, AXOLOTL_DEVICES), 'the legacy device list at the contact', 8_000);
    const devices = listEvent.getChild('event', NS_EVENT)!.getChild('items')!.getChild('item')!.getChild('list', NS_AXOLOTL)!.getChildren('device').map((d) => d.attrs.id);
    expect(devices).to.deep.equal(['1001']);
    const [bundle] = await items(contact.client, owner.bare, `${NS_AXOLOTL}.bundles:1001`);
    expect(bundle!.getChild('bundle', NS_AXOLOTL)!.getChild('prekeys')!.getChildren('preKeyPublic')).to.have.length(20);
    // Bundles are open: a stranger (no subscription) fetches them too, as OMEMO in group chats needs.
    expect(await items(stranger.client, owner.bare, `${NS_AXOLOTL}.bundles:1001`)).to.have.length(1);
    expect(await items(stranger.client, owner.bare, AXOLOTL_DEVICES)).to.have.length(1);
    // A second device: the list grows and the contact hears of it.
    contact.inbox.length = 0;
    await publish(owner.client, `${NS_AXOLOTL}.bundles:1002`, 'current', axolotlBundle(1002), openOptions());
    await publish(owner.client, AXOLOTL_DEVICES, 'current', xml('list', { xmlns: NS_AXOLOTL }, xml('device', { id: '1001' }), xml('device', { id: '1002' })), openOptions());
    const grown = await waitForStanza(contact.inbox, eventFrom(owner.bare, AXOLOTL_DEVICES), 'the grown device list', 8_000);
    expect(grown.getChild('event', NS_EVENT)!.getChild('items')!.getChild('item')!.getChild('list', NS_AXOLOTL)!.getChildren('device')).to.have.length(2);

    // OMEMO 2: one bundles node with max_items=max, an item per device.
    const bundleOptions = openOptions({ 'pubsub#max_items': 'max' });
    await publish(owner.client, OMEMO2_BUNDLES, '2001', omemo2Bundle(2001), bundleOptions);
    await publish(owner.client, OMEMO2_BUNDLES, '2002', omemo2Bundle(2002), bundleOptions);
    await publish(owner.client, OMEMO2_DEVICES, 'current', xml('devices', { xmlns: NS_OMEMO2 }, xml('device', { id: '2001', label: 'Phone' }), xml('device', { id: '2002' })), openOptions());
    const devicesEvent = await waitForStanza(contact.inbox, eventFrom(owner.bare, OMEMO2_DEVICES), 'the OMEMO 2 device list', 8_000);
    expect(devicesEvent.getChild('event', NS_EVENT)!.getChild('items')!.getChild('item')!.getChild('devices', NS_OMEMO2)!.getChildren('device').map((d) => d.attrs.id)).to.deep.equal(['2001', '2002']);
    const [second] = await items(contact.client, owner.bare, OMEMO2_BUNDLES, ['2002']);
    expect(second!.attrs.id).to.equal('2002');
    expect(second!.getChild('bundle', NS_OMEMO2)!.getChildText('ik')).to.equal(Buffer.from('ik-2002').toString('base64'));
    expect(await items(contact.client, owner.bare, OMEMO2_BUNDLES)).to.have.length(2);

    // A contact's new device logging in later gets both device lists (last items).
    const laptop = await online(contactServer, c, 'laptop');
    await waitForStanza(laptop.inbox, eventFrom(owner.bare, AXOLOTL_DEVICES), 'the legacy list on login', 8_000);
    await waitForStanza(laptop.inbox, eventFrom(owner.bare, OMEMO2_DEVICES), 'the OMEMO 2 list on login', 8_000);
    // The stranger was never notified (no presence subscription).
    expect(stranger.inbox.filter((el) => el.getChild('event', NS_EVENT))).to.have.length(0);
  }

  it('replays both OMEMO sequences between two accounts of one Hearth', async function () {
    await replay(a, a);
  });

  it('replays both OMEMO sequences between accounts of two Hearths over s2s', async function () {
    this.timeout(60_000);
    await replay(a, b);
  });

  it('answers a remote contact\'s items request under the access model', async function () {
    const [o, c, s] = [await account(a), await account(b), await account(b)];
    await befriend({ local: o, server: a }, { local: c, server: b });
    const owner = await online(a, o);
    const contact = await online(b, c);
    const stranger = await online(b, s);
    // Default access (presence): the remote contact reads, the remote stranger is refused.
    await request(owner.client, 'set', xml('pubsub', { xmlns: NS_PUBSUB }, xml('publish', { node: 'urn:example:mood' }, xml('item', { id: 'current' }, xml('mood', { xmlns: 'urn:example:mood' }, 'happy')))));
    expect(await items(contact.client, owner.bare, 'urn:example:mood')).to.have.length(1);
    const refused = await items(stranger.client, owner.bare, 'urn:example:mood').then(() => null, (err: { condition?: string }) => err.condition);
    expect(refused).to.equal('not-authorized');
  });
});
