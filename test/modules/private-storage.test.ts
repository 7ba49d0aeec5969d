// XEP-0049 Private XML Storage with @xmpp/client: store, retrieve, replace, who may, reserved
// namespaces, the per-account cap, and the data going with the account.
import { expect } from 'chai';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { connect, stopQuietly, xml, type Client, type Element } from '../helpers/xmpp-client.js';

const NS = 'jabber:iq:private';
const PASSWORD = 'private-secret';

describe('private XML storage (XEP-0049)', function () {
  let ts: TestServer;
  const clients: Client[] = [];
  let users = 0;

  before(async function () {
    ts = await startTestServer({ host: '127.0.0.165' });
  });

  afterEach(async function () {
    await Promise.all(clients.splice(0).map(stopQuietly));
  });

  after(async function () {
    await ts?.stop();
  });

  async function user(): Promise<{ local: string; client: Client }> {
    const local = `priv${++users}`;
    await ts.addUser(local, PASSWORD);
    const client = await connect(ts, local, PASSWORD);
    clients.push(client);
    return { local, client };
  }

  const get = (client: Client, child: Element, to?: string) => client.iqCaller.request(xml('iq', { type: 'get', to }, xml('query', { xmlns: NS }, child)));
  const set = (client: Client, children: Element[], to?: string) => client.iqCaller.request(xml('iq', { type: 'set', to }, xml('query', { xmlns: NS }, ...children)));
  const condition = (promise: Promise<unknown>) => promise.then(() => null, (err: { condition?: string }) => err.condition ?? String(err));

  it('stores and returns XML per namespace, replacing it whole; a fresh session sees it', async function () {
    const { local, client } = await user();
    const empty = await get(client, xml('prefs', { xmlns: 'exodus:prefs' }));
    const emptyChild = empty.getChild('query', NS)?.getChildElements();
    expect(emptyChild?.map((c) => `${c.name} ${c.attrs.xmlns} ${c.getChildElements().length}`)).to.deep.equal(['prefs exodus:prefs 0']);

    await set(client, [xml('prefs', { xmlns: 'exodus:prefs' }, xml('defaultnick', {}, 'Hamlet'))]);
    await set(client, [xml('storage', { xmlns: 'storage:bookmarks' }, xml('conference', { jid: 'room@conference.example.org', autojoin: 'true' }))]);
    await set(client, [xml('prefs', { xmlns: 'exodus:prefs' }, xml('defaultnick', {}, 'Prince')), xml('prefs', { xmlns: 'exodus:prefs' }, xml('theme', {}, 'dark'))]);

    const other = await connect(ts, local, PASSWORD, { resource: 'second' });
    clients.push(other);
    const prefs = (await get(other, xml('prefs', { xmlns: 'exodus:prefs' }))).getChild('query', NS)!.getChildElements();
    expect(prefs.map((p) => p.toString())).to.deep.equal([
      '<prefs xmlns="exodus:prefs"><defaultnick>Prince</defaultnick></prefs>',
      '<prefs xmlns="exodus:prefs"><theme>dark</theme></prefs>',
    ]);
    const bookmarks = (await get(other, xml('storage', { xmlns: 'storage:bookmarks' }))).getChild('query', NS)!.getChild('storage', 'storage:bookmarks');
    expect(bookmarks?.getChild('conference')?.attrs.jid).to.equal('room@conference.example.org');
  });

  it('refuses another account\'s storage with forbidden, both ways', async function () {
    const owner = await user();
    const stranger = await user();
    await set(owner.client, [xml('secret', { xmlns: 'example:secret' }, 'mine')]);
    expect(await condition(get(stranger.client, xml('secret', { xmlns: 'example:secret' }), `${owner.local}@${ts.domain}`))).to.equal('forbidden');
    expect(await condition(set(stranger.client, [xml('secret', { xmlns: 'example:secret' }, 'theirs')], `${owner.local}@${ts.domain}`))).to.equal('forbidden');
    const still = (await get(owner.client, xml('secret', { xmlns: 'example:secret' }))).getChild('query', NS)!.getChild('secret', 'example:secret');
    expect(still?.getText()).to.equal('mine');
  });

  it('refuses reserved namespaces, elements without one, and empty or plural requests', async function () {
    const { client } = await user();
    expect(await condition(set(client, [xml('vCard', { xmlns: 'vcard-temp' })]))).to.equal('not-acceptable');
    expect(await condition(set(client, [xml('query', { xmlns: 'jabber:iq:roster' })]))).to.equal('not-acceptable');
    expect(await condition(get(client, xml('x', { xmlns: 'http://jabber.org/protocol/muc' })))).to.equal('not-acceptable');
    expect(await condition(set(client, [xml('bare')]))).to.equal('not-acceptable');
    expect(await condition(set(client, []))).to.equal('not-acceptable');
    expect(await condition(client.iqCaller.request(xml('iq', { type: 'get' }, xml('query', { xmlns: NS }))))).to.equal('bad-request');
    expect(await condition(client.iqCaller.request(xml('iq', { type: 'get' }, xml('query', { xmlns: NS }, xml('a', { xmlns: 'x:a' }), xml('b', { xmlns: 'x:b' })))))).to.equal('bad-request');
  });

  it('caps the namespaces of one account, and the data goes with the account', async function () {
    const { local, client } = await user();
    const many = Array.from({ length: 100 }, (_, i) => xml('data', { xmlns: `example:ns${i}` }, String(i)));
    await set(client, many);
    expect(await condition(set(client, [xml('data', { xmlns: 'example:one-more' })]))).to.equal('resource-constraint');
    // Replacing an existing namespace is still fine.
    await set(client, [xml('data', { xmlns: 'example:ns7' }, 'seven')]);

    await stopQuietly(clients.pop()!);
    await ts.server.accounts.remove(`${local}@${ts.domain}`);
    await ts.addUser(local, PASSWORD);
    const again = await connect(ts, local, PASSWORD);
    clients.push(again);
    const gone = (await get(again, xml('data', { xmlns: 'example:ns7' }))).getChild('query', NS)!.getChild('data', 'example:ns7');
    expect(gone?.getText()).to.equal('');
  });
});
