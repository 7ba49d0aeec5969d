// XEP-0402 bookmarks and their XEP-0048 compatibility (private storage and PEP), with
// @xmpp/client devices of one account: a modern client and an old one see the same rooms.
import { expect } from 'chai';
import { advertiseCaps, capsPresence } from '../helpers/caps-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { collectStanzas, connect, delay, roundTrip, stopQuietly, waitForStanza, xml, type Client, type Element } from '../helpers/xmpp-client.js';

const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
const NS_EVENT = 'http://jabber.org/protocol/pubsub#event';
const NS_BOOKMARKS = 'urn:xmpp:bookmarks:1';
const NS_LEGACY = 'storage:bookmarks';
const NS_PRIVATE = 'jabber:iq:private';
const PASSWORD = 'bookmarks-secret';

describe('bookmarks (XEP-0402, with XEP-0048 compatibility)', function () {
  let ts: TestServer;
  const clients: Client[] = [];
  let users = 0;

  before(async function () {
    ts = await startTestServer({ host: '127.0.0.169' });
  });

  afterEach(async function () {
    await Promise.all(clients.splice(0).map(stopQuietly));
  });

  after(async function () {
    await ts?.stop();
  });

  async function account(): Promise<string> {
    const local = `bm${++users}`;
    await ts.addUser(local, PASSWORD);
    return local;
  }

  async function device(local: string, resource: string, interests: string[]): Promise<{ client: Client; inbox: Element[]; bare: string }> {
    const client = await connect(ts, local, PASSWORD, { resource });
    clients.push(client);
    const inbox = collectStanzas(client);
    await client.send(capsPresence(advertiseCaps(client, interests.map((ns) => `${ns}+notify`))));
    await roundTrip(client);
    return { client, inbox, bare: `${local}@${ts.domain}` };
  }

  const request = (client: Client, type: 'get' | 'set', child: Element, to?: string) => client.iqCaller.request(xml('iq', { type, to }, child), 5_000);
  const options = () => xml('publish-options', {}, xml('x', { xmlns: 'jabber:x:data', type: 'submit' },
    xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, 'http://jabber.org/protocol/pubsub#publish-options')),
    xml('field', { var: 'pubsub#persist_items' }, xml('value', {}, 'true')),
    xml('field', { var: 'pubsub#max_items' }, xml('value', {}, 'max')),
    xml('field', { var: 'pubsub#send_last_published_item' }, xml('value', {}, 'never')),
    xml('field', { var: 'pubsub#access_model' }, xml('value', {}, 'whitelist'))));

  async function modernBookmarks(client: Client): Promise<Map<string, Element>> {
    const reply = await request(client, 'get', xml('pubsub', { xmlns: NS_PUBSUB }, xml('items', { node: NS_BOOKMARKS })));
    return new Map(reply.getChild('pubsub')!.getChild('items')!.getChildren('item').map((i) => [i.attrs.id as string, i.getChild('conference', NS_BOOKMARKS)!]));
  }

  async function privateBookmarks(client: Client): Promise<Element> {
    const reply = await request(client, 'get', xml('query', { xmlns: NS_PRIVATE }, xml('storage', { xmlns: NS_LEGACY })));
    return reply.getChild('query', NS_PRIVATE)!.getChild('storage', NS_LEGACY)!;
  }

  it('advertises #compat and #compat-pep on the account', async function () {
    const { client, bare } = await device(await account(), 'r1', []);
    const info = (await request(client, 'get', xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' }), bare)).getChild('query')!;
    expect(info.getChildren('feature').map((f) => f.attrs.var)).to.include.members([`${NS_BOOKMARKS}#compat`, `${NS_BOOKMARKS}#compat-pep`]);
  });

  it('shows a XEP-0048 (private storage) list as XEP-0402 items and notifies the modern client of each room', async function () {
    const local = await account();
    const modern = await device(local, 'modern', [NS_BOOKMARKS]);
    const legacy = await device(local, 'legacy', []);
    await request(legacy.client, 'set', xml('query', { xmlns: NS_PRIVATE }, xml('storage', { xmlns: NS_LEGACY },
      xml('conference', { jid: 'council@conference.example', name: 'Council', autojoin: 'true' }, xml('nick', {}, 'Puck')),
      xml('conference', { jid: 'Orchard@Conference.Example', autojoin: 'false' }),
      xml('url', { name: 'Site', url: 'https://example.org/' }))));

    await waitForStanza(modern.inbox, (el) => el.getChild('event', NS_EVENT)?.getChild('items')?.getChild('item')?.attrs.id === 'council@conference.example', 'the council notification');
    const items = await modernBookmarks(modern.client);
    expect([...items.keys()].sort()).to.deep.equal(['council@conference.example', 'orchard@conference.example']);
    const council = items.get('council@conference.example')!;
    expect(council.attrs.name).to.equal('Council');
    expect(council.attrs.autojoin).to.equal('true');
    expect(council.getChildText('nick')).to.equal('Puck');
    // The legacy list reads back whole, URL included.
    const storage = await privateBookmarks(legacy.client);
    expect(storage.getChildren('conference').map((c) => c.attrs.jid).sort()).to.deep.equal(['council@conference.example', 'orchard@conference.example']);
    expect(storage.getChild('url')?.attrs.url).to.equal('https://example.org/');

    // Storing the list again unchanged but one room removed: one retraction, no republishing.
    const before = modern.inbox.length;
    await request(legacy.client, 'set', xml('query', { xmlns: NS_PRIVATE }, xml('storage', { xmlns: NS_LEGACY },
      xml('conference', { jid: 'council@conference.example', name: 'Council', autojoin: 'true' }, xml('nick', {}, 'Puck')))));
    await waitForStanza(modern.inbox, (el) => el.getChild('event', NS_EVENT)?.getChild('items')?.getChild('retract')?.attrs.id === 'orchard@conference.example', 'the retraction');
    await roundTrip(modern.client);
    await delay(100);
    const events = modern.inbox.slice(before).filter((el) => el.getChild('event', NS_EVENT));
    expect(events, events.map(String).join('\n')).to.have.length(1);
  });

  it('shows XEP-0402 items to XEP-0048 clients, in private storage and in PEP, and notifies a legacy PEP client', async function () {
    const local = await account();
    const modern = await device(local, 'modern', [NS_BOOKMARKS]);
    const legacyPep = await device(local, 'legacy-pep', [NS_LEGACY]);
    await request(modern.client, 'set', xml('pubsub', { xmlns: NS_PUBSUB },
      xml('publish', { node: NS_BOOKMARKS }, xml('item', { id: 'theplay@conference.example' },
        xml('conference', { xmlns: NS_BOOKMARKS, name: "The Play's the Thing", autojoin: 'true' }, xml('nick', {}, 'JC'),
          xml('extensions', {}, xml('state', { xmlns: 'urn:example:client-state' }, 'minimized'))))),
      options()));
    const legacyEvent = await waitForStanza(legacyPep.inbox, (el) => el.getChild('event', NS_EVENT)?.getChild('items')?.attrs.node === NS_LEGACY, 'the storage:bookmarks notification');
    const notified = legacyEvent.getChild('event', NS_EVENT)!.getChild('items')!.getChild('item')!.getChild('storage', NS_LEGACY)!;
    expect(notified.getChild('conference')?.attrs.jid).to.equal('theplay@conference.example');

    const viaPrivate = (await privateBookmarks(legacyPep.client)).getChild('conference')!;
    expect(viaPrivate.attrs).to.include({ jid: 'theplay@conference.example', name: "The Play's the Thing", autojoin: 'true' });
    expect(viaPrivate.getChildText('nick')).to.equal('JC');
    expect(viaPrivate.getChild('state', 'urn:example:client-state')?.getText()).to.equal('minimized');

    const viaPep = await request(legacyPep.client, 'get', xml('pubsub', { xmlns: NS_PUBSUB }, xml('items', { node: NS_LEGACY })));
    const item = viaPep.getChild('pubsub')!.getChild('items')!.getChild('item')!;
    expect(item.attrs.id).to.equal('current');
    expect(item.getChild('storage', NS_LEGACY)!.getChild('conference')?.attrs.jid).to.equal('theplay@conference.example');

    // The legacy PEP client publishes its whole list: the modern one sees the new room.
    await request(legacyPep.client, 'set', xml('pubsub', { xmlns: NS_PUBSUB }, xml('publish', { node: NS_LEGACY }, xml('item', { id: 'current' },
      xml('storage', { xmlns: NS_LEGACY },
        xml('conference', { jid: 'theplay@conference.example', name: "The Play's the Thing", autojoin: 'true' }, xml('nick', {}, 'JC'), xml('state', { xmlns: 'urn:example:client-state' }, 'minimized')),
        xml('conference', { jid: 'balcony@conference.example', name: 'Balcony' }))))));
    await waitForStanza(modern.inbox, (el) => el.getChild('event', NS_EVENT)?.getChild('items')?.getChild('item')?.attrs.id === 'balcony@conference.example', 'the new room at the modern client');
    expect([...(await modernBookmarks(modern.client)).keys()].sort()).to.deep.equal(['balcony@conference.example', 'theplay@conference.example']);
  });

  it('keeps bookmarks private: another account reads neither the node nor the legacy views', async function () {
    const [a, m] = [await account(), await account()];
    const alice = await device(a, 'r1', []);
    const mallory = await device(m, 'r1', []);
    await request(alice.client, 'set', xml('pubsub', { xmlns: NS_PUBSUB },
      xml('publish', { node: NS_BOOKMARKS }, xml('item', { id: 'secret@conference.example' }, xml('conference', { xmlns: NS_BOOKMARKS }))), options()));
    const condition = (p: Promise<unknown>) => p.then(() => null, (err: { condition?: string }) => err.condition);
    expect(await condition(request(mallory.client, 'get', xml('pubsub', { xmlns: NS_PUBSUB }, xml('items', { node: NS_BOOKMARKS })), alice.bare))).to.equal('not-allowed');
    expect(await condition(request(mallory.client, 'get', xml('pubsub', { xmlns: NS_PUBSUB }, xml('items', { node: NS_LEGACY })), alice.bare))).to.equal('item-not-found');
    expect(await condition(request(mallory.client, 'get', xml('query', { xmlns: NS_PRIVATE }, xml('storage', { xmlns: NS_LEGACY })), alice.bare))).to.equal('forbidden');
  });
});
