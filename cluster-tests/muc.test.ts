// Group chat (XEP-0045) on a cluster of three real `hearth start` processes (m1–m3 on
// 127.0.0.173–175, the addresses of cluster.test.ts, which never runs at the same time):
// each room is owned by one live node (src/cluster/ownership.ts), occupants on every node
// take part, and when the owner is killed another node loads the persistent room from
// PostgreSQL; the occupants' self-pings (XEP-0410) tell them to join again.
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { stopQuietly, withTimeout, xml, type Element } from '../test/helpers/xmpp-client.js';
import {
  createDatabase,
  DOMAIN,
  dropDatabase,
  flushRedis,
  jid,
  login,
  newNode,
  PASSWORD,
  REDIS_URL,
  TTL_S,
  uniqueName,
  waitFor,
  type HearthNode,
  type Session,
} from './helpers.js';

const SERVICE = `conference.${DOMAIN}`;
const ROOM = `council@${SERVICE}`;
const NS_MUC = 'http://jabber.org/protocol/muc';
const NS_MUC_USER = 'http://jabber.org/protocol/muc#user';
const NS_MUC_OWNER = 'http://jabber.org/protocol/muc#owner';
const USERS = ['ann', 'ben', 'cyd', 'dot'];

function statuses(el: Element): string[] {
  return (el.getChild('x', NS_MUC_USER)?.getChildren('status') ?? []).map((s) => s.attrs.code as string);
}

function isSelfPresence(nick: string): (el: Element) => boolean {
  return (el) => el.is('presence') && el.attrs.from === `${ROOM}/${nick}` && el.attrs.type === undefined && statuses(el).includes('110');
}

function isGroupchat(body: string): (el: Element) => boolean {
  return (el) => el.is('message') && el.attrs.type === 'groupchat' && el.getChildText('body') === body;
}

/** The error condition of an iq answer (the request rejects with it), or 'result'. */
async function ping(session: Session, to: string): Promise<string> {
  try {
    await session.client.iqCaller.request(xml('iq', { type: 'get', to }, xml('ping', { xmlns: 'urn:xmpp:ping' })), 3_000);
    return 'result';
  } catch (err) {
    const condition = (err as { condition?: string }).condition;
    return condition ?? String(err);
  }
}

describe('cluster: group chat over three hearth processes', function () {
  this.timeout(30_000);
  const database = uniqueName('hearth_cluster_muc');
  let nodes: HearthNode[] = [];
  let sessions: Session[] = [];
  let token = '';

  async function open(node: HearthNode, local: string): Promise<Session> {
    const session = await login(node, local, `on-${node.name}`);
    sessions.push(session);
    await session.client.send(xml('presence'));
    return session;
  }

  async function join(session: Session, nick: string): Promise<Element> {
    const from = session.inbox.length;
    await session.client.send(xml('presence', { to: `${ROOM}/${nick}` }, xml('x', { xmlns: NS_MUC })));
    return waitFor(session.inbox, isSelfPresence(nick), `${nick}'s own presence in ${ROOM}`, 5_000, from);
  }

  before(async function () {
    this.timeout(60_000);
    await flushRedis(REDIS_URL);
    const url = createDatabase(database);
    nodes = ['173', '174', '175'].map((last, i) => newNode({ name: `m${i + 1}`, address: `127.0.0.${last}`, databaseUrl: url, redisUrl: REDIS_URL }));
    nodes[0]!.hearth(['user', 'import'], USERS.map((u) => `${jid(u)} ${PASSWORD}`).join('\n') + '\n');
    token = nodes[0]!.hearth(['token', 'create', '--name', 'muc-tests']).stdout.trim();
    await Promise.all(nodes.map((n) => n.start()));
  });

  afterEach(async () => {
    await Promise.all(sessions.map((s) => stopQuietly(s.client)));
    sessions = [];
  });

  after(async function () {
    this.timeout(30_000);
    await Promise.all(nodes.map((n) => n.stop()));
    dropDatabase(database);
    await flushRedis(REDIS_URL);
  });

  it('has occupants on every node take part in one room, which lives on one node; when that node is killed, self-pings say rejoin and the room comes back from the database', async function () {
    this.timeout(60_000);
    const [m1, m2, m3] = nodes as [HearthNode, HearthNode, HearthNode];
    const ann = await open(m1, 'ann');
    const ben = await open(m2, 'ben');
    const cyd = await open(m3, 'cyd');

    // ann creates a persistent room on m1: m1 owns it.
    const created = await join(ann, 'Ann');
    expect(statuses(created)).to.include('201');
    await ann.client.iqCaller.request(
      xml('iq', { type: 'set', to: ROOM }, xml('query', { xmlns: NS_MUC_OWNER }, xml('x', { xmlns: 'jabber:x:data', type: 'submit' },
        xml('field', { var: 'FORM_TYPE' }, xml('value', {}, 'http://jabber.org/protocol/muc#roomconfig')),
        xml('field', { var: 'muc#roomconfig_roomname' }, xml('value', {}, 'The Council')),
        xml('field', { var: 'muc#roomconfig_persistentroom' }, xml('value', {}, '1'))))),
      5_000,
    );
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    try {
      expect(await redis.get(`hearth:owner:muc:${ROOM}`), 'the room owner in Redis').to.match(/^m1-/);
    } finally {
      redis.disconnect();
    }

    // ben (m2) and cyd (m3) join through their own nodes; everyone sees everyone.
    await join(ben, 'Ben');
    await join(cyd, 'Cyd');
    await waitFor(ann.inbox, (el) => el.is('presence') && el.attrs.from === `${ROOM}/Cyd`, 'Cyd seen by ann');
    await waitFor(ben.inbox, (el) => el.is('presence') && el.attrs.from === `${ROOM}/Cyd`, 'Cyd seen by ben');
    await waitFor(cyd.inbox, (el) => el.is('presence') && el.attrs.from === `${ROOM}/Ann`, 'Ann seen by cyd');

    // A message from m2 reaches the occupants on all three nodes, the sender too.
    await ben.client.send(xml('message', { to: ROOM, type: 'groupchat', id: 'b1' }, xml('body', {}, 'from m2')));
    for (const s of [ann, ben, cyd]) {
      const seen = await waitFor(s.inbox, isGroupchat('from m2'), `the groupchat message at ${s.full}`);
      expect(seen.attrs.from).to.equal(`${ROOM}/Ben`);
    }
    // A private message from m3 to the occupant on m1.
    await cyd.client.send(xml('message', { to: `${ROOM}/Ann`, type: 'chat' }, xml('body', {}, 'psst')));
    const pm = await waitFor(ann.inbox, (el) => el.is('message') && el.getChildText('body') === 'psst', 'the private message');
    expect(pm.attrs.from).to.equal(`${ROOM}/Cyd`);
    expect(await ping(ben, `${ROOM}/Ben`)).to.equal('result');

    // An operator on m3, which does not hold the room: the list counts m1's occupants, and an
    // affiliation change is made by the room on m1 (its occupants see it).
    const api = (path: string, init: RequestInit = {}) =>
      fetch(`${m3.adminUrl}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
    const listed = (await (await api('/api/v1/rooms')).json()) as { rooms: Array<{ jid: string; occupants: number; name: string }> };
    expect(listed.rooms.find((r) => r.jid === ROOM)).to.deep.include({ occupants: 3, name: 'The Council' });
    const mark = ann.inbox.length;
    const granted = await api(`/api/v1/rooms/${encodeURIComponent(ROOM)}/affiliations/${encodeURIComponent(jid('cyd'))}`, { method: 'PUT', body: JSON.stringify({ affiliation: 'admin' }) });
    expect(granted.status).to.equal(204);
    const promoted = await waitFor(ann.inbox, (el) => el.is('presence') && el.attrs.from === `${ROOM}/Cyd` && el.getChild('x', NS_MUC_USER)?.getChild('item')?.attrs.affiliation === 'admin', 'Cyd made admin, seen by ann', 5_000, mark);
    expect(promoted.getChild('x', NS_MUC_USER)?.getChild('item')?.attrs.role).to.equal('moderator');

    // The owner dies. Until its liveness ends the room cannot answer (recipient-unavailable,
    // wait); then a live node takes it over, without the occupants: a self-ping says so.
    await m1.kill();
    const deadline = Date.now() + (TTL_S + 10) * 1000;
    let answer = '';
    while (Date.now() < deadline) {
      answer = await ping(ben, `${ROOM}/Ben`);
      if (answer === 'not-acceptable') break;
      expect(['recipient-unavailable', 'result'], `self-ping answer ${answer}`).to.include(answer);
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(answer, 'the self-ping answer once another node holds the room').to.equal('not-acceptable');

    // They rejoin: the room kept its configuration; the two survivors chat again.
    const rejoined = await join(ben, 'Ben');
    expect(statuses(rejoined)).to.not.include('201');
    await join(cyd, 'Cyd');
    const info = await cyd.client.iqCaller.request(xml('iq', { type: 'get', to: ROOM }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' })), 5_000);
    expect(info.getChild('query')?.getChild('identity')?.attrs.name).to.equal('The Council');
    const since = ben.inbox.length;
    await cyd.client.send(xml('message', { to: ROOM, type: 'groupchat' }, xml('body', {}, 'after the takeover')));
    await waitFor(ben.inbox, isGroupchat('after the takeover'), 'the message after the takeover', 5_000, since);
    // The affiliation made through m3 was stored: Cyd is still an admin of the reloaded room.
    const admins = (await (await api(`/api/v1/rooms/${encodeURIComponent(ROOM)}/affiliations`)).json()) as { affiliations: Array<{ jid: string; affiliation: string }> };
    expect(admins.affiliations).to.deep.include({ jid: jid('cyd'), affiliation: 'admin', nick: null });
    await withTimeout(m1.start(), 30_000, 'm1 to restart');
  });
});
