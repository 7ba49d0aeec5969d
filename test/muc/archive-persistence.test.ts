// Multi-User Chat rooms over time: the room archive (XEP-0313 on the room JID, RSM paging,
// XEP-0359 ids matching the live ones, refusal to non-members of a members-only room),
// temporary rooms going away, and persistent rooms surviving a server restart with their
// configuration, affiliations, subject and archive, occupants being told 332 on shutdown.
import { expect } from 'chai';
import { openIsolatedDatabase, type IsolatedDatabase } from '../helpers/database.js';
import { waitForStanza, xml, type Element } from '../helpers/xmpp-client.js';
import {
  MucFixture, mucSuite, NS, adminList, adminSet, bareOf, configForm, createReservedRoom, createRoom, discoInfo, features, formValues,
  iqError, isPresenceFrom, occupantId, isSubjectMessage, join, joinFully, joinRefused, leave, mucItem, request, say, startMucServer, stanzaError,
  statusCodes, waitSince, type User,
} from './helpers.js';

const HOST = '127.0.0.106';

interface ArchivePage {
  /** The archived messages (inside <forwarded/>), oldest first. */
  messages: Element[];
  /** The <result/> ids. */
  ids: string[];
  /** The <result/> wrappers as they came. */
  wrappers: Element[];
  fin: Element;
}

let queries = 0;

/** A XEP-0313 query to the room's archive, with RSM (XEP-0059) paging. */
async function roomArchive(user: User, room: string, set: { max?: number; after?: string; before?: string | true } = {}): Promise<ArchivePage> {
  const queryid = `rq${++queries}`;
  const rsm: Element[] = [];
  if (set.max !== undefined) rsm.push(xml('max', {}, String(set.max)));
  if (set.after !== undefined) rsm.push(xml('after', {}, set.after));
  if (set.before === true) rsm.push(xml('before'));
  else if (set.before !== undefined) rsm.push(xml('before', {}, set.before));
  const since = user.inbox.length;
  const reply = await request(user, 'set', room, xml('query', { xmlns: NS.MAM, queryid }, ...(rsm.length ? [xml('set', { xmlns: NS.RSM }, ...rsm)] : [])));
  const wrappers = user.inbox.slice(since).filter((el) => el.is('message') && el.getChild('result', NS.MAM)?.attrs.queryid === queryid);
  const fin = reply.getChild('fin', NS.MAM);
  expect(fin, `a <fin/>:\n${reply}`).to.exist;
  return {
    wrappers,
    messages: wrappers.map((w) => w.getChild('result', NS.MAM)!.getChild('forwarded', NS.FORWARD)!.getChild('message')!),
    ids: wrappers.map((w) => w.getChild('result', NS.MAM)!.attrs.id as string),
    fin: fin!,
  };
}

const bodies = (page: ArchivePage) => page.messages.map((m) => m.getChildText('body'));
const rsmSet = (page: ArchivePage) => page.fin.getChild('set', NS.RSM);

describe('MUC: the room archive and temporary rooms (XEP-0313 §6, XEP-0045 §7.14)', function () {
  const f = mucSuite('a', HOST);

  it('pages through a logged room\'s groupchat messages, from the room JID, with the ids of the live messages', async function () {
    const [owner, reader] = await f.users(2);
    const room = f.room();
    await createReservedRoom(owner, room, 'crone', { 'muc#roomconfig_enablelogging': true });
    expect(features(await discoInfo(reader, room))).to.include(NS.MAM);
    await join(reader, room, 'reader');

    const live: string[] = [];
    for (const body of ['one', 'two', 'three', 'four', 'five']) {
      const reflected = await say(owner, room, 'crone', body);
      live.push(reflected.getChild('stanza-id', NS.SID)!.attrs.id!);
    }

    // Private messages and presence are not the room's discussion: not archived.
    await owner.client.send(xml('message', { to: `${room}/reader`, type: 'chat' }, xml('body', {}, 'private')));
    await waitSince(reader, 0, (el) => el.is('message') && el.getChildText('body') === 'private', 'the private message');

    const whole = await roomArchive(reader, room);
    expect(bodies(whole)).to.deep.equal(['one', 'two', 'three', 'four', 'five']);
    expect(whole.fin.attrs.complete).to.equal('true');

    const first = await roomArchive(reader, room, { max: 2 });
    expect(bodies(first)).to.deep.equal(['one', 'two']);
    for (const wrapper of first.wrappers) expect(wrapper.attrs.from, 'results come from the room').to.equal(room);
    for (const m of first.messages) {
      expect(m.attrs).to.include({ from: `${room}/crone`, type: 'groupchat' });
    }
    for (const w of first.wrappers) {
      const stamp = w.getChild('result', NS.MAM)!.getChild('forwarded', NS.FORWARD)!.getChild('delay', NS.DELAY);
      expect(stamp?.attrs.stamp, 'each result has its time').to.be.a('string');
    }
    expect(first.ids).to.deep.equal(live.slice(0, 2));
    // Semi-anonymous room, reader not a moderator: the archive tells no real JIDs either.
    for (const w of first.wrappers) expect(w.toString()).to.not.include(owner.bare);
    expect(first.fin.attrs.complete).to.not.equal('true');
    expect(rsmSet(first)?.getChildText('first')).to.equal(live[0]);
    expect(rsmSet(first)?.getChildText('last')).to.equal(live[1]);

    const second = await roomArchive(reader, room, { max: 2, after: rsmSet(first)!.getChildText('last')! });
    expect(bodies(second)).to.deep.equal(['three', 'four']);
    const third = await roomArchive(reader, room, { max: 2, after: rsmSet(second)!.getChildText('last')! });
    expect(bodies(third)).to.deep.equal(['five']);
    expect(third.fin.attrs.complete).to.equal('true');

    // The last page, counted from the end.
    const last = await roomArchive(reader, room, { max: 2, before: true });
    expect(bodies(last)).to.deep.equal(['four', 'five']);
  });

  it('refuses the archive of a members-only room to a non-member (forbidden) and serves a member not in the room', async function () {
    const [owner, member, outsider] = await f.users(3);
    const room = f.room();
    await createReservedRoom(owner, room, 'crone', { 'muc#roomconfig_enablelogging': true, 'muc#roomconfig_membersonly': true });
    await say(owner, room, 'crone', 'members only');
    await adminSet(owner, room, { affiliation: 'member', jid: member.bare });

    expect((await iqError(request(outsider, 'set', room, xml('query', { xmlns: NS.MAM, queryid: 'nope' })))).condition).to.equal('forbidden');
    expect(outsider.inbox.filter((el) => el.getChild('result', NS.MAM))).to.deep.equal([]);
    expect(bodies(await roomArchive(member, room))).to.deep.equal(['members only']);
  });

  it('destroys a temporary room when its last occupant leaves: joining again creates it anew', async function () {
    const [owner, next] = await f.users(2);
    const room = f.room();
    await createReservedRoom(owner, room, 'crone', { 'muc#roomconfig_persistentroom': false, 'muc#roomconfig_roomname': 'Fleeting' });
    await leave(owner, room, 'crone');
    const self = await createRoom(next, room, 'next');
    expect(mucItem(self)?.attrs.affiliation).to.equal('owner');
  });
});

describe('MUC: persistent rooms across a server restart (XEP-0045 §10.1, 332)', function () {
  let isolated: IsolatedDatabase | null = null;
  const f = new MucFixture('p');

  before(async function () {
    this.timeout(60_000);
    isolated = await openIsolatedDatabase(process.env.DATABASE_URL ? 'postgres' : 'pglite');
  });

  afterEach(async function () {
    await f.stopClients();
  });

  after(async function () {
    this.timeout(30_000);
    await f.ts?.stop().catch(() => undefined);
    await isolated?.dispose();
  });

  it('keeps configuration, affiliations, subject and archive; tells the occupants 332 when the server stops', async function () {
    this.timeout(60_000);
    f.ts = await startMucServer(HOST, { extra: { database: isolated!.database } });
    const [owner, member, admin, stranger] = await f.users(4);
    const room = f.room('kept');
    const temporary = f.room('temp');
    await createReservedRoom(owner, room, 'crone', {
      'muc#roomconfig_persistentroom': true,
      'muc#roomconfig_roomname': 'Kept Room',
      'muc#roomconfig_roomdesc': 'Survives restarts',
      'muc#roomconfig_membersonly': true,
      'muc#roomconfig_enablelogging': true,
    });
    await adminSet(owner, room, { affiliation: 'member', jid: member.bare });
    await adminSet(owner, room, { affiliation: 'admin', jid: admin.bare });
    await owner.client.send(xml('message', { to: room, type: 'groupchat' }, xml('subject', {}, 'Kept subject')));
    await waitSince(owner, 0, (el) => isSubjectMessage(room)(el) && el.getChildText('subject') === 'Kept subject', 'the subject change');
    const { self: memberBefore } = await join(member, room, 'member');
    await say(member, room, 'member', 'before the restart');
    await createReservedRoom(owner, temporary, 'crone', { 'muc#roomconfig_persistentroom': false });
    const destroyed = f.room('destroyed');
    await createReservedRoom(owner, destroyed, 'crone', { 'muc#roomconfig_persistentroom': true });
    await request(owner, 'set', destroyed, xml('query', { xmlns: NS.OWNER }, xml('destroy')));

    // Shutdown: every occupant is told it is out, with 332.
    await f.ts.stop();
    for (const [u, nick] of [[owner, 'crone'], [member, 'member']] as const) {
      const out = await waitForStanza(u.inbox, isPresenceFrom(`${room}/${nick}`, 'unavailable'), `${u.local}'s removal on shutdown`);
      expect(statusCodes(out)).to.include('332');
    }
    const tempOut = await waitForStanza(owner.inbox, isPresenceFrom(`${temporary}/crone`, 'unavailable'), 'the removal from the temporary room');
    expect(statusCodes(tempOut)).to.include('332');
    await f.stopClients();

    // Same database, new server.
    f.ts = await startMucServer(HOST, { extra: { database: isolated!.database } });
    const owner2 = await f.login(owner.local);
    const member2 = await f.login(member.local);
    const stranger2 = await f.login(stranger.local);

    const info = await discoInfo(stranger2, room);
    expect(info.getChildren('identity').find((i) => i.attrs.category === 'conference')?.attrs.name).to.equal('Kept Room');
    expect(features(info)).to.include.members(['muc_persistent', 'muc_membersonly']);

    const config = formValues(await configForm(owner2, room));
    expect(config.get('muc#roomconfig_roomname')).to.deep.equal(['Kept Room']);
    expect(config.get('muc#roomconfig_roomdesc')).to.deep.equal(['Survives restarts']);
    expect(config.get('muc#roomconfig_persistentroom')?.[0]).to.be.oneOf(['1', 'true']);
    expect(config.get('muc#roomconfig_membersonly')?.[0]).to.be.oneOf(['1', 'true']);

    expect((await adminList(owner2, room, { affiliation: 'member' })).map((i) => bareOf(i.attrs.jid))).to.deep.equal([member.bare]);
    expect((await adminList(owner2, room, { affiliation: 'admin' })).map((i) => bareOf(i.attrs.jid))).to.deep.equal([admin.bare]);
    expect((await adminList(owner2, room, { affiliation: 'owner' })).map((i) => bareOf(i.attrs.jid))).to.deep.equal([owner.bare]);

    // The member comes back: a room that exists (no 201), its affiliation, the subject.
    const { self, subject } = await joinFully(member2, room, 'member');
    expect(statusCodes(self)).to.not.include('201');
    expect(mucItem(self)?.attrs.affiliation).to.equal('member');
    // XEP-0421 §5.1: the occupant id is stable, restarts included.
    expect(occupantId(self)).to.equal(occupantId(memberBefore));
    expect(subject.getChildText('subject')).to.equal('Kept subject');
    expect(stanzaError(await joinRefused(stranger2, room, 'stranger')).condition).to.equal('registration-required');
    expect(bodies(await roomArchive(member2, room))).to.deep.equal(['before the restart']);

    // The temporary room did not survive: entering it creates a new room.
    const fresh = await createRoom(stranger2, temporary, 'first');
    expect(mucItem(fresh)?.attrs.affiliation).to.equal('owner');
    // Nor did the persistent room its owner destroyed.
    expect(mucItem(await createRoom(stranger2, destroyed, 'first'))?.attrs.affiliation).to.equal('owner');
  });
});
