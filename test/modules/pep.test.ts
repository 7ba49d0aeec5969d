// XEP-0163 PEP on Hearth's PubSub core, and XEP-0115 caps verification, with @xmpp/client
// users that advertise +notify interests the way real clients do.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { advertiseCaps, capsPresence, capsVer, NS_CAPS } from '../helpers/caps-client.js';
import { befriend as befriendParties } from '../helpers/roster.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { collectStanzas, connect, delay, roundTrip, stopQuietly, waitForStanza, xml, type Client, type Element } from '../helpers/xmpp-client.js';

const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
const NS_OWNER = 'http://jabber.org/protocol/pubsub#owner';
const NS_EVENT = 'http://jabber.org/protocol/pubsub#event';
const NS_ERRORS = 'http://jabber.org/protocol/pubsub#errors';
const NS_DATA = 'jabber:x:data';
const TUNE = 'http://jabber.org/protocol/tune';
const GEOLOC = 'http://jabber.org/protocol/geoloc';
const PASSWORD = 'pep-secret';

interface Peer {
  local: string;
  bare: string;
  full: string;
  client: Client;
  inbox: Element[];
}

describe('PEP (XEP-0163) and entity capabilities (XEP-0115)', function () {
  let ts: TestServer;
  const clients: Client[] = [];
  let users = 0;

  before(async function () {
    ts = await startTestServer({ host: '127.0.0.168', config: { limits: { pepNodesPerAccount: 5, pepNodeBytes: 4096 } } });
  });

  afterEach(async function () {
    await Promise.all(clients.splice(0).map(stopQuietly));
  });

  after(async function () {
    await ts?.stop();
  });

  async function account(): Promise<string> {
    const local = `pep${++users}`;
    await ts.addUser(local, PASSWORD);
    return local;
  }

  /** Logs in; with `interests`, advertises caps with those +notify features and goes online. */
  async function login(local: string, interests: string[] | null, resource = 'r1', claimedVer?: string): Promise<Peer & { caps?: ReturnType<typeof advertiseCaps>; features: Element[] }> {
    const features: Element[] = [];
    const client = await connect(ts, local, PASSWORD, { resource, onElement: (el) => el.is('features', 'http://etherx.jabber.org/streams') && features.push(el) });
    clients.push(client);
    const inbox = collectStanzas(client);
    const peer = { local, bare: `${local}@${ts.domain}`, full: `${local}@${ts.domain}/${resource}`, client, inbox, features };
    if (interests === null) return peer;
    const caps = advertiseCaps(client, interests.map((ns) => `${ns}+notify`), claimedVer);
    await client.send(capsPresence(caps));
    await roundTrip(client);
    return { ...peer, caps };
  }

  const befriend = (a: string, b: string) => befriendParties({ server: ts, local: a }, { server: ts, local: b });

  const request = (client: Client, type: 'get' | 'set', child: Element, to?: string) => client.iqCaller.request(xml('iq', { type, to }, child), 5_000);
  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => null,
      (err: { condition?: string; element?: Element }) => ({
        condition: err.condition ?? String(err),
        app: (err.element?.name === 'error' ? err.element : err.element?.getChild('error'))?.getChildElements().find((c) => c.attrs.xmlns === NS_ERRORS)?.name,
      }),
    );

  function publish(client: Client, node: string, payload: Element, id?: string, options?: Record<string, string>): Promise<Element> {
    const children: Element[] = [xml('publish', { node }, xml('item', id ? { id } : {}, payload))];
    if (options) children.push(xml('publish-options', {}, form('submit', 'http://jabber.org/protocol/pubsub#publish-options', options)));
    return request(client, 'set', xml('pubsub', { xmlns: NS_PUBSUB }, ...children));
  }

  function form(type: string, formType: string, fields: Record<string, string>): Element {
    return xml('x', { xmlns: NS_DATA, type },
      xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, formType)),
      ...Object.entries(fields).map(([name, value]) => xml('field', { var: name }, xml('value', {}, value))));
  }

  async function items(client: Client, owner: string, node: string, attrs: Record<string, string> = {}, ids: string[] = []): Promise<Element[]> {
    const reply = await request(client, 'get', xml('pubsub', { xmlns: NS_PUBSUB }, xml('items', { node, ...attrs }, ...ids.map((id) => xml('item', { id })))), owner);
    return reply.getChild('pubsub', NS_PUBSUB)!.getChild('items')!.getChildren('item');
  }

  const tune = (title: string) => xml('tune', { xmlns: TUNE }, xml('title', {}, title));
  const isEvent = (from: string, node: string, pred: (items: Element) => boolean = () => true) => (el: Element) => {
    const eventItems = el.is('message') && el.attrs.from === from ? el.getChild('event', NS_EVENT)?.getChild('items') : undefined;
    return eventItems?.attrs.node === node && pred(eventItems);
  };
  const eventTitle = (el: Element) => el.getChild('event', NS_EVENT)!.getChild('items')!.getChild('item')!.getChild('tune', TUNE)!.getChildText('title');

  it('advertises pubsub/pep on the account and its own caps in the stream features, with a hash that verifies', async function () {
    const alice = await login(await account(), null);
    const info = (await request(alice.client, 'get', xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' }), alice.bare)).getChild('query')!;
    expect(info.getChildren('identity').some((i) => i.attrs.category === 'pubsub' && i.attrs.type === 'pep')).to.equal(true);
    const features = info.getChildren('feature').map((f) => f.attrs.var);
    expect(features).to.include.members([NS_PUBSUB, `${NS_PUBSUB}#publish-options`, `${NS_PUBSUB}#auto-create`, `${NS_PUBSUB}#filtered-notifications`]);

    // The features after authentication (the last ones) carry it.
    const c = alice.features.at(-1)?.getChild('c', NS_CAPS);
    expect(c, 'a <c/> in the stream features').to.not.equal(undefined);
    const serverInfo = (await request(alice.client, 'get', xml('query', { xmlns: 'http://jabber.org/protocol/disco#info', node: `${c!.attrs.node}#${c!.attrs.ver}` }), ts.domain)).getChild('query')!;
    // XEP-0115 §5.1, recomputed here (the server has no forms besides hidden FORM_TYPE ones).
    let s = '';
    for (const i of serverInfo.getChildren('identity').map((i) => `${i.attrs.category}/${i.attrs.type}/${i.attrs['xml:lang'] ?? ''}/${i.attrs.name ?? ''}`).sort()) s += `${i}<`;
    for (const f of serverInfo.getChildren('feature').map((f) => f.attrs.var as string).sort()) s += `${f}<`;
    for (const x of serverInfo.getChildren('x', NS_DATA)) {
      const fields = x.getChildren('field');
      s += `${fields.find((f) => f.attrs.var === 'FORM_TYPE')!.getChildText('value')}<`;
      for (const f of fields.filter((f) => f.attrs.var !== 'FORM_TYPE').sort((a, b) => (a.attrs.var < b.attrs.var ? -1 : 1))) {
        s += `${f.attrs.var}<`;
        for (const v of f.getChildren('value').map((v) => v.getText()).sort()) s += `${v}<`;
      }
    }
    expect(createHash('sha1').update(s).digest('base64')).to.equal(c!.attrs.ver);
  });

  it('notifies the owner\'s and contacts\' resources that want the node (+notify), and no one else', async function () {
    const [a, b, c, m] = [await account(), await account(), await account(), await account()];
    await befriend(a, b);
    await befriend(a, c);
    const bob = await login(b, [TUNE]);
    const carol = await login(c, [GEOLOC]); // a contact, but no interest in tunes
    const mallory = await login(m, [TUNE]); // interested, but no subscription
    const alice = await login(a, [TUNE]);
    const published = await publish(alice.client, TUNE, tune('Yesterday'));
    const id = published.getChild('pubsub')!.getChild('publish')!.getChild('item')!.attrs.id;
    expect(id).to.be.a('string').and.not.equal('');

    const atBob = await waitForStanza(bob.inbox, isEvent(alice.bare, TUNE), 'the notification at bob');
    expect(atBob.attrs.type).to.equal('headline');
    expect(atBob.attrs.to).to.equal(bob.full);
    expect(eventTitle(atBob)).to.equal('Yesterday');
    expect(atBob.getChild('event', NS_EVENT)!.getChild('items')!.getChild('item')!.attrs.id).to.equal(id);
    await waitForStanza(alice.inbox, isEvent(alice.bare, TUNE), 'the notification at the publisher');
    await roundTrip(carol.client);
    await roundTrip(mallory.client);
    await delay(100);
    expect(carol.inbox.filter(isEvent(alice.bare, TUNE))).to.have.length(0);
    expect(mallory.inbox.filter(isEvent(alice.bare, TUNE))).to.have.length(0);
  });

  it('sends the last item to a contact\'s resource that comes online with interest, with its publication time', async function () {
    const [a, b] = [await account(), await account()];
    await befriend(a, b);
    const alice = await login(a, null);
    await publish(alice.client, TUNE, tune('First'));
    await publish(alice.client, TUNE, tune('Second'));
    await alice.client.stop();
    const bob = await login(b, [TUNE]);
    const last = await waitForStanza(bob.inbox, isEvent(`${a}@${ts.domain}`, TUNE), 'the last item on login');
    expect(eventTitle(last)).to.equal('Second');
    expect(last.getChild('delay', 'urn:xmpp:delay')?.attrs.stamp).to.match(/^\d{4}-\d\d-\d\dT/);
    // The owner's own new resource gets it too.
    const again = await login(a, [TUNE], 'r2');
    await waitForStanza(again.inbox, isEvent(`${a}@${ts.domain}`, TUNE), 'the last item at the owner');
  });

  it('does not trust a caps hash that does not match the features (no notification), and asks once', async function () {
    const [a, b] = [await account(), await account()];
    await befriend(a, b);
    const wrong = capsVer(['urn:example:something-else']);
    const bob = await login(b, [TUNE], 'r1', wrong);
    const alice = await login(a, null);
    await publish(alice.client, TUNE, tune('Unheard'));
    await delay(300);
    expect(bob.inbox.filter(isEvent(alice.bare, TUNE))).to.have.length(0);
    expect(bob.caps!.queries).to.have.length(1);
    expect(bob.caps!.queries[0]).to.include(`#${wrong}`);
    // Presence again with the same wrong hash: not asked again.
    await bob.client.send(capsPresence(bob.caps!, xml('status', {}, 'still here')));
    await publish(alice.client, TUNE, tune('Still unheard'));
    await delay(200);
    expect(bob.caps!.queries).to.have.length(1);
    expect(bob.inbox.filter(isEvent(alice.bare, TUNE))).to.have.length(0);
  });

  it('enforces access models on items: presence (default), open, whitelist with affiliations', async function () {
    const [a, b, m] = [await account(), await account(), await account()];
    await befriend(a, b);
    const alice = await login(a, null);
    const bob = await login(b, null);
    const mallory = await login(m, null);
    await publish(alice.client, TUNE, tune('For friends'));
    expect(await items(bob.client, alice.bare, TUNE)).to.have.length(1);
    expect(await failure(items(mallory.client, alice.bare, TUNE))).to.deep.equal({ condition: 'not-authorized', app: 'presence-subscription-required' });

    await publish(alice.client, 'urn:example:open', xml('note', { xmlns: 'urn:example:open' }, 'hi'), 'n1', { 'pubsub#access_model': 'open' });
    expect(await items(mallory.client, alice.bare, 'urn:example:open')).to.have.length(1);

    await publish(alice.client, 'urn:example:secret', xml('note', { xmlns: 'urn:example:secret' }, 'psst'), 'n1', { 'pubsub#access_model': 'whitelist' });
    expect(await failure(items(bob.client, alice.bare, 'urn:example:secret'))).to.deep.equal({ condition: 'not-allowed', app: 'closed-node' });
    await request(alice.client, 'set', xml('pubsub', { xmlns: NS_OWNER }, xml('affiliations', { node: 'urn:example:secret' }, xml('affiliation', { jid: bob.bare, affiliation: 'member' }))));
    expect(await items(bob.client, alice.bare, 'urn:example:secret')).to.have.length(1);
    const affiliations = (await request(alice.client, 'get', xml('pubsub', { xmlns: NS_OWNER }, xml('affiliations', { node: 'urn:example:secret' })))).getChild('pubsub')!.getChild('affiliations')!.getChildren('affiliation');
    expect(affiliations.map((x) => `${x.attrs.jid}=${x.attrs.affiliation}`)).to.have.members([`${alice.bare}=owner`, `${bob.bare}=member`]);

    // Disco items: each asker sees what it may.
    const discoItems = async (client: Client) => (await request(client, 'get', xml('query', { xmlns: 'http://jabber.org/protocol/disco#items' }), alice.bare)).getChild('query')!.getChildren('item').map((i) => i.attrs.node).sort();
    expect(await discoItems(bob.client)).to.deep.equal([TUNE, 'urn:example:open', 'urn:example:secret'].sort());
    expect(await discoItems(mallory.client)).to.deep.equal(['urn:example:open']);
    // Nobody but the owner publishes, configures or deletes.
    const forged = request(bob.client, 'set', xml('pubsub', { xmlns: NS_PUBSUB }, xml('publish', { node: TUNE }, xml('item', {}, tune('Hijack')))), alice.bare);
    expect((await failure(forged))?.condition).to.equal('forbidden');
    expect((await failure(request(bob.client, 'set', xml('pubsub', { xmlns: NS_OWNER }, xml('delete', { node: TUNE })), alice.bare)))?.condition).to.equal('forbidden');
    expect(await items(alice.client, alice.bare, TUNE)).to.have.length(1);
  });

  it('enforces the roster access model by the owner\'s roster groups', async function () {
    const [a, b, c] = [await account(), await account(), await account()];
    await befriendParties({ server: ts, local: a }, { server: ts, local: b }, ['friends']);
    await befriendParties({ server: ts, local: c }, { server: ts, local: a }, ['work']);
    const alice = await login(a, null);
    const bob = await login(b, null);
    const carol = await login(c, null);
    await request(alice.client, 'set', xml('pubsub', { xmlns: NS_PUBSUB }, xml('create', { node: 'urn:example:diary' }),
      xml('configure', {}, form('submit', 'http://jabber.org/protocol/pubsub#node_config', { 'pubsub#access_model': 'roster', 'pubsub#roster_groups_allowed': 'friends' }))));
    await publish(alice.client, 'urn:example:diary', xml('entry', { xmlns: 'urn:example:diary' }, 'dear diary'));
    expect(await items(bob.client, alice.bare, 'urn:example:diary')).to.have.length(1);
    expect(await failure(items(carol.client, alice.bare, 'urn:example:diary'))).to.deep.equal({ condition: 'not-authorized', app: 'not-in-roster-group' });
    // The configuration form offers the owner's groups.
    const x = (await request(alice.client, 'get', xml('pubsub', { xmlns: NS_OWNER }, xml('configure', { node: 'urn:example:diary' })))).getChild('pubsub')!.getChild('configure')!.getChild('x', NS_DATA)!;
    const groups = x.getChildren('field').find((f) => f.attrs.var === 'pubsub#roster_groups_allowed')!;
    expect(groups.getChildren('option').map((o) => o.getChildText('value'))).to.include('friends');
    expect(groups.getChildren('value').map((v) => v.getText())).to.deep.equal(['friends']);
    // Creating it again is a conflict.
    expect((await failure(request(alice.client, 'set', xml('pubsub', { xmlns: NS_PUBSUB }, xml('create', { node: 'urn:example:diary' })))))?.condition).to.equal('conflict');
  });

  it('keeps max_items, answers by id and by count, and notifies retract and purge', async function () {
    const [a, b] = [await account(), await account()];
    await befriend(a, b);
    const bob = await login(b, [TUNE]);
    const alice = await login(a, null);
    for (const [i, title] of ['one', 'two', 'three'].entries()) await publish(alice.client, TUNE, tune(title), `t${i + 1}`, { 'pubsub#max_items': '2' });
    const kept = await items(bob.client, alice.bare, TUNE);
    expect(kept.map((i) => i.attrs.id)).to.deep.equal(['t2', 't3']);
    expect((await items(bob.client, alice.bare, TUNE, { max_items: '1' })).map((i) => i.attrs.id)).to.deep.equal(['t3']);
    expect((await items(bob.client, alice.bare, TUNE, {}, ['t2'])).map((i) => i.getChild('tune', TUNE)!.getChildText('title'))).to.deep.equal(['two']);

    await request(alice.client, 'set', xml('pubsub', { xmlns: NS_PUBSUB }, xml('retract', { node: TUNE, notify: 'true' }, xml('item', { id: 't3' }))));
    const retracted = await waitForStanza(bob.inbox, isEvent(alice.bare, TUNE, (i) => i.getChild('retract')?.attrs.id === 't3'), 'the retract notification');
    expect(retracted.attrs.to).to.equal(bob.full);
    expect((await items(bob.client, alice.bare, TUNE)).map((i) => i.attrs.id)).to.deep.equal(['t2']);
    expect((await failure(request(alice.client, 'set', xml('pubsub', { xmlns: NS_PUBSUB }, xml('retract', { node: TUNE }, xml('item', { id: 't3' }))))))?.condition).to.equal('item-not-found');

    await request(alice.client, 'set', xml('pubsub', { xmlns: NS_OWNER }, xml('purge', { node: TUNE })));
    await waitForStanza(bob.inbox, (el) => el.getChild('event', NS_EVENT)?.getChild('purge')?.attrs.node === TUNE, 'the purge notification');
    expect(await items(bob.client, alice.bare, TUNE)).to.have.length(0);

    await request(alice.client, 'set', xml('pubsub', { xmlns: NS_OWNER }, xml('delete', { node: TUNE })));
    await waitForStanza(bob.inbox, (el) => el.getChild('event', NS_EVENT)?.getChild('delete')?.attrs.node === TUNE, 'the delete notification');
    expect((await failure(items(bob.client, alice.bare, TUNE)))?.condition).to.equal('item-not-found');
  });

  it('refuses publish-options that conflict with the node (precondition-not-met) until the node is configured', async function () {
    const alice = await login(await account(), null);
    const node = 'urn:example:omemo-like';
    await publish(alice.client, node, xml('list', { xmlns: node }), 'current');
    const conflict = await failure(publish(alice.client, node, xml('list', { xmlns: node }), 'current', { 'pubsub#access_model': 'open' }));
    expect(conflict).to.deep.equal({ condition: 'conflict', app: 'precondition-not-met' });
    // What Conversations does next: configure the node, then publish again.
    const current = (await request(alice.client, 'get', xml('pubsub', { xmlns: NS_OWNER }, xml('configure', { node })))).getChild('pubsub')!.getChild('configure')!.getChild('x', NS_DATA)!;
    const access = current.getChildren('field').find((f) => f.attrs.var === 'pubsub#access_model')!;
    expect(access.getChildText('value')).to.equal('presence');
    await request(alice.client, 'set', xml('pubsub', { xmlns: NS_OWNER }, xml('configure', { node }, form('submit', 'http://jabber.org/protocol/pubsub#node_config', { 'pubsub#access_model': 'open' }))));
    await publish(alice.client, node, xml('list', { xmlns: node }), 'current', { 'pubsub#access_model': 'open' });
    // max_items "max" matches the service maximum.
    await publish(alice.client, 'urn:example:many', xml('b', { xmlns: 'urn:example:many' }), '1', { 'pubsub#max_items': 'max' });
    await publish(alice.client, 'urn:example:many', xml('b', { xmlns: 'urn:example:many' }), '2', { 'pubsub#max_items': 'max' });
    expect(await items(alice.client, alice.bare, 'urn:example:many')).to.have.length(2);
    // Options Hearth does not know cannot be met; bad values are refused.
    expect((await failure(publish(alice.client, node, xml('list', { xmlns: node }), 'current', { 'pubsub#frobnicate': '1' })))?.app).to.equal('precondition-not-met');
    expect((await failure(publish(alice.client, 'urn:example:new', xml('x', { xmlns: 'urn:example:new' }), 'a', { 'pubsub#max_items': 'lots' })))?.condition).to.equal('not-acceptable');
  });

  it('caps nodes per account and bytes per node, and rejects malformed publishes', async function () {
    const alice = await login(await account(), null);
    // pepNodesPerAccount is 5 on this server.
    for (let i = 0; i < 5; i++) await publish(alice.client, `urn:example:n${i}`, xml('v', { xmlns: 'urn:example:n' }), undefined, { 'pubsub#max_items': '10' });
    expect(await failure(publish(alice.client, 'urn:example:n5', xml('v', { xmlns: 'urn:example:n' })))).to.deep.equal({ condition: 'policy-violation', app: 'max-nodes-exceeded' });
    // pepNodeBytes is 4096.
    const big = xml('v', { xmlns: 'urn:example:n' }, 'x'.repeat(5000));
    expect(await failure(publish(alice.client, 'urn:example:n0', big))).to.deep.equal({ condition: 'not-acceptable', app: 'payload-too-big' });
    const noPayload = request(alice.client, 'set', xml('pubsub', { xmlns: NS_PUBSUB }, xml('publish', { node: 'urn:example:n0' }, xml('item'))));
    expect(await failure(noPayload)).to.deep.equal({ condition: 'bad-request', app: 'payload-required' });
    const noNode = request(alice.client, 'set', xml('pubsub', { xmlns: NS_PUBSUB }, xml('publish', {}, xml('item', {}, xml('v', { xmlns: 'urn:example:n' })))));
    expect((await failure(noNode))?.app).to.equal('nodeid-required');
    // Two items of 3000 bytes do not fit 4096: the older goes.
    await publish(alice.client, 'urn:example:n1', xml('v', { xmlns: 'urn:example:n' }, 'a'.repeat(3000)), 'a', { 'pubsub#max_items': '10' });
    await publish(alice.client, 'urn:example:n1', xml('v', { xmlns: 'urn:example:n' }, 'b'.repeat(3000)), 'b', { 'pubsub#max_items': '10' });
    expect((await items(alice.client, alice.bare, 'urn:example:n1')).map((i) => i.attrs.id)).to.deep.equal(['b']);
  });

  it('deletes an account\'s nodes and items with the account', async function () {
    const local = await account();
    const alice = await login(local, null);
    await publish(alice.client, TUNE, tune('Gone soon'));
    expect(await ts.server.stores.pubsub.loadService(alice.bare)).to.have.length(1);
    await alice.client.stop();
    await ts.server.accounts.remove(alice.bare);
    expect(await ts.server.stores.pubsub.loadService(alice.bare)).to.have.length(0);
  });
});
