// Multi-User Chat (XEP-0045): discovering the service, creating rooms (instant and reserved),
// entering them and every refusal of §7.2, the status codes and real JIDs of the presence a
// joiner gets, discussion history and its limits, the subject, and XEP-0421 occupant ids —
// as a MUC client over real sockets sees them.
import { expect } from 'chai';
import { componentReceives, startComponent, stopComponent, type Component } from '../helpers/component.js';
import { delay, xml, type Element } from '../helpers/xmpp-client.js';
import {
  MucFixture, mucSuite, NS, adminSet, bareOf, configForm, configure, createInstantRoom, createReservedRoom, createRoom, discoInfo, features, formValues,
  iqError, isGroupchatBody, isPresenceFrom, isSelfPresence, isSubjectMessage, join, joinFully, joinRefused, leave, mucItem, occupantId, PASSWORD, request, say, sendGroupchat,
  startMucServer, stanzaError, statusCodes, waitSince, type User,
} from './helpers.js';

const HOST = '127.0.0.103';

describe('MUC: discovering, creating and entering rooms (XEP-0045 §6, §7.2, §10.1)', function () {
  const f = mucSuite('j', HOST);

  describe('service discovery (§6.1, §6.2)', function () {
    it('lists the MUC service among the domain\'s items and describes it as conference/text with the muc feature', async function () {
      const u = await f.user();
      const items = (await request(u, 'get', f.ts.domain, xml('query', { xmlns: NS.DISCO_ITEMS }))).getChild('query', NS.DISCO_ITEMS)!;
      expect(items.getChildren('item').map((i) => i.attrs.jid)).to.include(f.service);

      const info = await discoInfo(u, f.service);
      const identities = info.getChildren('identity').map((i) => `${i.attrs.category}/${i.attrs.type}`);
      expect(identities).to.include('conference/text');
      expect(features(info)).to.include(NS.MUC);
    });

    it('lists public rooms in the service\'s items with their names, and not hidden ones (§6.3)', async function () {
      const [owner, u] = await f.users(2);
      const [open, hidden] = [f.room('public'), f.room('hidden')];
      await createReservedRoom(owner, open, 'crone', { 'muc#roomconfig_publicroom': true, 'muc#roomconfig_roomname': 'The Heath' });
      await createReservedRoom(owner, hidden, 'crone', { 'muc#roomconfig_publicroom': false });
      const items = (await request(u, 'get', f.service, xml('query', { xmlns: NS.DISCO_ITEMS }))).getChild('query', NS.DISCO_ITEMS)!.getChildren('item');
      const listed = items.find((i) => i.attrs.jid === open);
      expect(listed, items.join('\n')).to.exist;
      expect(listed!.attrs.name).to.equal('The Heath');
      expect(items.map((i) => i.attrs.jid)).to.not.include(hidden);
      expect(features(await discoInfo(u, open))).to.include('muc_public');
      expect(features(await discoInfo(u, hidden))).to.include('muc_hidden');
    });
  });

  describe('creating rooms (§10.1)', function () {
    it('creates a room with 201 and 110 for its owner, keeps it locked (item-not-found) until an instant configuration', async function () {
      const [owner, other] = await f.users(2);
      const room = f.room();
      const self = await createRoom(owner, room, 'crone');
      expect(self.attrs.from).to.equal(`${room}/crone`);
      expect(statusCodes(self)).to.include.members(['201', '110']);
      expect(mucItem(self)?.attrs).to.include({ affiliation: 'owner', role: 'moderator' });

      // §7.2.12 (enter-locked): before the configuration, nobody else gets in.
      const refused = await joinRefused(other, room, 'hag');
      expect(stanzaError(refused)).to.deep.equal({ type: 'cancel', condition: 'item-not-found' });

      // §10.1.2: the owner accepts the default configuration; the room opens.
      const done = await request(owner, 'set', room, xml('query', { xmlns: NS.OWNER }, xml('x', { xmlns: NS.DATA, type: 'submit' })));
      expect(done.attrs.type).to.equal('result');
      const { self: joined, since } = await join(other, room, 'hag');
      expect(statusCodes(joined)).to.not.include('201');
      // The owner is already there: its presence reaches the newcomer, and the newcomer's the owner.
      const ownerSeen = await waitSince(other, since, isPresenceFrom(`${room}/crone`), 'the owner\'s presence');
      expect(mucItem(ownerSeen)?.attrs).to.include({ affiliation: 'owner', role: 'moderator' });
      const newcomer = await waitSince(owner, 0, isPresenceFrom(`${room}/hag`), 'the newcomer\'s presence at the owner');
      expect(mucItem(newcomer)?.attrs).to.include({ affiliation: 'none', role: 'participant' });
      expect(statusCodes(newcomer), 'only the occupant itself gets 110').to.not.include('110');
    });

    it('creates a reserved room from the configuration form and shows the configuration back', async function () {
      const [owner, other] = await f.users(2);
      const room = f.room();
      await createRoom(owner, room, 'crone');
      const form = await configForm(owner, room);
      const offered = [...formValues(form).keys()];
      expect(offered).to.include.members([
        'muc#roomconfig_roomname', 'muc#roomconfig_roomdesc', 'muc#roomconfig_persistentroom', 'muc#roomconfig_publicroom',
        'muc#roomconfig_membersonly', 'muc#roomconfig_moderatedroom', 'muc#roomconfig_passwordprotectedroom', 'muc#roomconfig_roomsecret',
        'muc#roomconfig_maxusers', 'muc#roomconfig_whois', 'muc#roomconfig_changesubject', 'muc#roomconfig_allowinvites',
        'muc#roomconfig_enablelogging',
      ]);

      await configure(owner, room, {
        'muc#roomconfig_roomname': 'A Dark Cave',
        'muc#roomconfig_roomdesc': 'The place for all good witches',
        'muc#roomconfig_changesubject': true,
        'muc#roomconfig_persistentroom': false,
      });
      // §10.2: the form comes back with the current options as its values.
      const again = formValues(await configForm(owner, room));
      expect(again.get('muc#roomconfig_roomname')).to.deep.equal(['A Dark Cave']);
      expect(again.get('muc#roomconfig_roomdesc')).to.deep.equal(['The place for all good witches']);
      expect(again.get('muc#roomconfig_changesubject')?.[0]).to.be.oneOf(['1', 'true']);

      // §6.4: the room's identity carries its name; its features say what it is.
      const info = await discoInfo(other, room);
      const identity = info.getChildren('identity').find((i) => i.attrs.category === 'conference');
      expect(identity?.attrs).to.include({ type: 'text', name: 'A Dark Cave' });
      expect(features(info)).to.include.members([NS.MUC, 'muc_temporary', 'muc_open', 'muc_unmoderated', 'muc_unsecured', 'muc_semianonymous']);

      // The room is open now.
      await join(other, room, 'hag');
    });

    it('a join without the MUC <x/> (groupchat 1.0) creates the room unlocked at once (§10.1.1)', async function () {
      const [owner, other] = await f.users(2);
      const room = f.room();
      const since = owner.inbox.length;
      await owner.client.send(xml('presence', { to: `${room}/crone` }));
      const self = await waitSince(owner, since, isSelfPresence(room, 'crone'), 'the creator\'s presence');
      expect(mucItem(self)?.attrs.affiliation).to.equal('owner');
      // No configuration step: others get in straight away.
      await join(other, room, 'hag');
    });

    it('destroys a room whose creator leaves before configuring it (§10.1.3)', async function () {
      const [owner, other] = await f.users(2);
      const room = f.room();
      await createRoom(owner, room, 'crone');
      await leave(owner, room, 'crone');
      // The next one to enter creates a new room and owns it.
      const self = await createRoom(other, room, 'hag');
      expect(mucItem(self)?.attrs.affiliation).to.equal('owner');
    });

    it('an owner cancelling the initial configuration destroys the room (§10.1.3)', async function () {
      const [owner, other] = await f.users(2);
      const room = f.room();
      await createRoom(owner, room, 'crone');
      const since = owner.inbox.length;
      await request(owner, 'set', room, xml('query', { xmlns: NS.OWNER }, xml('x', { xmlns: NS.DATA, type: 'cancel' })));
      await waitSince(owner, since, isPresenceFrom(`${room}/crone`, 'unavailable'), 'the owner removed from the cancelled room');
      const self = await createRoom(other, room, 'hag');
      expect(mucItem(self)?.attrs.affiliation).to.equal('owner');
    });

    it('refuses a password-protected configuration with a blank password (not-acceptable)', async function () {
      const owner = await f.user();
      const room = f.room();
      await createRoom(owner, room, 'crone');
      const error = await iqError(configure(owner, room, { 'muc#roomconfig_passwordprotectedroom': true, 'muc#roomconfig_roomsecret': '' }));
      expect(error.condition).to.equal('not-acceptable');
    });

    it('refuses the configuration form to anyone but an owner (forbidden)', async function () {
      const [owner, other] = await f.users(2);
      const room = f.room();
      await createInstantRoom(owner, room, 'crone');
      await join(other, room, 'hag');
      const error = await iqError(request(other, 'get', room, xml('query', { xmlns: NS.OWNER })));
      expect(error.condition).to.equal('forbidden');
    });

    describe('with room creation restricted to admins (createRooms: admins)', function () {
      const g = new MucFixture('ja');

      before(async function () {
        this.timeout(60_000);
        g.ts = await startMucServer(HOST, { muc: { createRooms: 'admins' }, admins: ['jaboss@hearth.example'] });
        await g.ts.addUser('jaboss', PASSWORD);
      });

      afterEach(async function () {
        await g.stopClients();
      });

      after(async function () {
        await g.ts?.stop();
      });

      it('refuses a plain user with not-allowed and lets a server admin create', async function () {
        const plain = await g.user();
        const room = g.room();
        const refused = await joinRefused(plain, room, 'nobody');
        expect(stanzaError(refused).condition).to.equal('not-allowed');

        const boss = await g.login('jaboss');
        const self = await createRoom(boss, room, 'boss');
        expect(statusCodes(self)).to.include('201');
      });
    });

    describe('with room creation restricted to local users (createRooms: local)', function () {
      const g = new MucFixture('jl');
      const REMOTE = 'bots.elsewhere.example';
      let bot: Component | undefined;

      before(async function () {
        this.timeout(60_000);
        // A component stands for another server: its users' domain is not one of this server's.
        g.ts = await startMucServer(HOST, { muc: { createRooms: 'local' }, config: { components: { services: { [REMOTE]: { secret: 'jl-secret' } } } } });
        bot = await startComponent(g.ts, REMOTE, 'jl-secret');
      });

      afterEach(async function () {
        await g.stopClients();
      });

      after(async function () {
        if (bot) await stopComponent(bot);
        await g.ts?.stop();
      });

      it('refuses a user of another domain with not-allowed, lets it enter a room a local user made', async function () {
        const room = g.room();
        const refusal = componentReceives(bot!, (el) => el.is('presence') && el.attrs.type === 'error');
        await bot!.send(xml('presence', { from: `visitor@${REMOTE}/r`, to: `${room}/visitor` }, xml('x', { xmlns: NS.MUC })));
        expect(stanzaError(await refusal).condition).to.equal('not-allowed');

        const local = await g.user();
        expect(statusCodes(await createInstantRoom(local, room, 'host'))).to.include('201');
        const entered = componentReceives(bot!, (el) => el.is('presence') && el.attrs.from === `${room}/visitor` && el.attrs.type === undefined);
        await bot!.send(xml('presence', { from: `visitor@${REMOTE}/r`, to: `${room}/visitor` }, xml('x', { xmlns: NS.MUC })));
        expect(statusCodes(await entered)).to.include('110');
      });
    });
  });

  describe('refusals on entering (§7.2)', function () {
    it('password-protected: not-authorized without or with a wrong password, entry with the right one', async function () {
      const [owner, guest] = await f.users(2);
      const room = f.room();
      await createReservedRoom(owner, room, 'crone', { 'muc#roomconfig_passwordprotectedroom': true, 'muc#roomconfig_roomsecret': 'cauldronburn' });

      expect(stanzaError(await joinRefused(guest, room, 'hag'))).to.deep.equal({ type: 'auth', condition: 'not-authorized' });
      expect(stanzaError(await joinRefused(guest, room, 'hag', { password: 'toil and trouble' }))).to.deep.equal({ type: 'auth', condition: 'not-authorized' });
      await join(guest, room, 'hag', { password: 'cauldronburn' });
      expect(features(await discoInfo(guest, room))).to.include('muc_passwordprotected');
    });

    it('banned (outcast): forbidden', async function () {
      const [owner, banned] = await f.users(2);
      const room = f.room();
      await createInstantRoom(owner, room, 'crone');
      await adminSet(owner, room, { affiliation: 'outcast', jid: banned.bare });
      expect(stanzaError(await joinRefused(banned, room, 'cambridge'))).to.deep.equal({ type: 'auth', condition: 'forbidden' });
    });

    it('nickname in use by another user: conflict; another nickname is fine', async function () {
      const [owner, first, second] = await f.users(3);
      const room = f.room();
      await createInstantRoom(owner, room, 'crone');
      await join(first, room, 'hecate');
      expect(stanzaError(await joinRefused(second, room, 'hecate'))).to.deep.equal({ type: 'cancel', condition: 'conflict' });
      await join(second, room, 'hecate2');
    });

    it('lets a second resource of the same user in under the same nick, and both get the room\'s messages (§7.2.10)', async function () {
      const [owner, u] = await f.users(2);
      const room = f.room();
      await createInstantRoom(owner, room, 'crone');
      await join(u, room, 'hecate');
      const phone = await f.login(u.local, 'phone');
      await join(phone, room, 'hecate');
      const marks = [u.inbox.length, phone.inbox.length];
      await sendGroupchat(owner, room, 'to both devices');
      await waitSince(u, marks[0], isGroupchatBody(`${room}/crone`, 'to both devices'), 'the message at the first resource');
      await waitSince(phone, marks[1], isGroupchatBody(`${room}/crone`, 'to both devices'), 'the message at the second resource');
      // The second resource speaks as the occupant too.
      await sendGroupchat(phone, room, 'from the phone');
      await waitSince(owner, 0, isGroupchatBody(`${room}/hecate`, 'from the phone'), 'the phone’s message at the owner');
      await waitSince(u, marks[0], isGroupchatBody(`${room}/hecate`, 'from the phone'), 'the phone’s message at the first resource');
    });

    it('presence to the room without a nickname: jid-malformed (§7.2.1)', async function () {
      const [owner, guest] = await f.users(2);
      const room = f.room();
      await createInstantRoom(owner, room, 'crone');
      const since = guest.inbox.length;
      await guest.client.send(xml('presence', { to: room }, xml('x', { xmlns: NS.MUC })));
      const error = await waitSince(guest, since, (el) => el.is('presence') && el.attrs.type === 'error' && bareOf(el.attrs.from) === room, 'the refusal');
      expect(stanzaError(error).condition).to.equal('jid-malformed');
    });

    it('treats the room JID case-insensitively: another spelling enters the same room', async function () {
      const [owner, guest] = await f.users(2);
      const room = f.room();
      await createInstantRoom(owner, room, 'crone');
      const shouted = `${room.split('@')[0].toUpperCase()}@${f.service.toUpperCase()}`;
      const since = guest.inbox.length;
      await guest.client.send(xml('presence', { to: `${shouted}/hag` }, xml('x', { xmlns: NS.MUC })));
      const self = await waitSince(guest, since, (el) => el.is('presence') && bareOf(el.attrs.from).toLowerCase() === room && statusCodes(el).includes('110'), 'the own presence');
      expect(statusCodes(self), 'the existing room, not a new one').to.not.include('201');
      await waitSince(owner, 0, isPresenceFrom(`${room}/hag`), 'the guest at the owner');
    });

    it('members-only: registration-required for a non-member, entry once on the member list', async function () {
      const [owner, guest] = await f.users(2);
      const room = f.room();
      await createReservedRoom(owner, room, 'crone', { 'muc#roomconfig_membersonly': true });
      expect(stanzaError(await joinRefused(guest, room, 'hag'))).to.deep.equal({ type: 'auth', condition: 'registration-required' });

      await adminSet(owner, room, { affiliation: 'member', jid: guest.bare });
      const { self } = await join(guest, room, 'hag');
      expect(mucItem(self)?.attrs).to.include({ affiliation: 'member', role: 'participant' });
    });

    it('full (maxusers reached): service-unavailable (wait)', async function () {
      const [owner, second, third] = await f.users(3);
      const room = f.room();
      await createReservedRoom(owner, room, 'crone', { 'muc#roomconfig_maxusers': '2' });
      await join(second, room, 'hag');
      expect(stanzaError(await joinRefused(third, room, 'witch'))).to.deep.equal({ type: 'wait', condition: 'service-unavailable' });
      // Once someone leaves, there is room again.
      await leave(second, room, 'hag');
      await join(third, room, 'witch');
      // Full again, but §7.2.11: a room always lets an admin or owner in.
      const admin = await f.user();
      await adminSet(owner, room, { affiliation: 'admin', jid: admin.bare });
      await join(admin, room, 'hecate');
    });
  });

  describe('what a newcomer is told (§7.2.3–§7.2.6, §7.2.14)', function () {
    it('in a non-anonymous room (whois anyone): status 100 and everyone sees real JIDs', async function () {
      const [owner, guest] = await f.users(2);
      const room = f.room();
      await createReservedRoom(owner, room, 'crone', { 'muc#roomconfig_whois': 'anyone' });
      const { self, since } = await join(guest, room, 'hag');
      expect(statusCodes(self)).to.include.members(['110', '100']);
      const ownerSeen = await waitSince(guest, since, isPresenceFrom(`${room}/crone`), 'the owner\'s presence');
      expect(mucItem(ownerSeen)?.attrs.jid).to.equal(owner.full);
      const guestSeen = await waitSince(owner, 0, isPresenceFrom(`${room}/hag`), 'the guest\'s presence at the owner');
      expect(mucItem(guestSeen)?.attrs.jid).to.equal(guest.full);
      expect(features(await discoInfo(guest, room))).to.include('muc_nonanonymous');
    });

    it('in a semi-anonymous room (the default): no 100, real JIDs only to moderators', async function () {
      const [owner, guest, third] = await f.users(3);
      const room = f.room();
      await createInstantRoom(owner, room, 'crone');
      const { self, since } = await join(guest, room, 'hag');
      expect(statusCodes(self)).to.include('110').and.not.include('100');
      const ownerSeen = await waitSince(guest, since, isPresenceFrom(`${room}/crone`), 'the owner\'s presence');
      expect(mucItem(ownerSeen)?.attrs.jid, 'a participant does not see real JIDs').to.equal(undefined);

      // The moderator (owner) sees the guest's real JID; a participant does not see the third's.
      const guestSeen = await waitSince(owner, 0, isPresenceFrom(`${room}/hag`), 'the guest\'s presence at the owner');
      expect(mucItem(guestSeen)?.attrs.jid).to.equal(guest.full);
      const mark = guest.inbox.length;
      await join(third, room, 'witch');
      const thirdSeen = await waitSince(guest, mark, isPresenceFrom(`${room}/witch`), 'the third\'s presence at the guest');
      expect(mucItem(thirdSeen)?.attrs.jid).to.equal(undefined);
      const thirdAtOwner = await waitSince(owner, 0, isPresenceFrom(`${room}/witch`), 'the third\'s presence at the owner');
      expect(mucItem(thirdAtOwner)?.attrs.jid).to.equal(third.full);
    });

    it('in a logged room (enablelogging): status 170', async function () {
      const [owner, guest] = await f.users(2);
      const room = f.room();
      await createReservedRoom(owner, room, 'crone', { 'muc#roomconfig_enablelogging': true });
      const { self } = await join(guest, room, 'hag');
      expect(statusCodes(self)).to.include.members(['110', '170']);
    });

    it('sends the occupants, then the own presence, then the history, then the subject, in that order', async function () {
      const [owner, early, late] = await f.users(3);
      const room = f.room();
      await createReservedRoom(owner, room, 'crone', { 'muc#roomconfig_whois': 'moderators' });
      await join(early, room, 'hag');
      // §8.1: a moderator sets the subject with a message carrying only <subject/>.
      await owner.client.send(xml('message', { to: room, type: 'groupchat' }, xml('subject', {}, 'Fire burn')));
      await waitSince(owner, 0, (el) => isSubjectMessage(room)(el) && el.getChildText('subject') === 'Fire burn', 'the subject change');
      await say(owner, room, 'crone', 'first');
      await say(early, room, 'hag', 'second');
      await say(owner, room, 'crone', 'third');

      const { since } = await joinFully(late, room, 'witch');
      const got = late.inbox.slice(since);
      const at = (match: (el: Element) => boolean) => got.findIndex(match);
      const crone = at(isPresenceFrom(`${room}/crone`));
      const hag = at(isPresenceFrom(`${room}/hag`));
      const self = at(isSelfPresence(room, 'witch'));
      const history = got.filter((el) => el.is('message') && el.getChild('body') !== undefined && el.getChild('delay', NS.DELAY) !== undefined);
      const subject = got.findIndex((el) => isSubjectMessage(room)(el));
      expect(crone, got.join('\n')).to.be.greaterThan(-1);
      expect(hag).to.be.greaterThan(-1);
      expect(self, 'own presence after every occupant').to.be.greaterThan(Math.max(crone, hag));
      expect(history.map((m) => m.getChildText('body'))).to.deep.equal(['first', 'second', 'third']);
      expect(history.map((m) => m.attrs.from)).to.deep.equal([`${room}/crone`, `${room}/hag`, `${room}/crone`]);
      for (const m of history) {
        expect(got.indexOf(m), 'history after the own presence').to.be.greaterThan(self);
        expect(got.indexOf(m), 'history before the subject').to.be.lessThan(subject);
        expect(m.attrs.type).to.equal('groupchat');
        const stamp = m.getChild('delay', NS.DELAY)!;
        expect(stamp.attrs.from, 'delay from the room in a semi-anonymous room').to.equal(room);
        expect(Number.isNaN(Date.parse(stamp.attrs.stamp!))).to.equal(false);
        expect(occupantId(m), 'history carries occupant-id (XEP-0421 §4)').to.be.a('string');
      }
      expect(got[subject].getChildText('subject')).to.equal('Fire burn');
      expect(got[subject].attrs.from).to.equal(`${room}/crone`);
      // XEP-0421 §5: every message the room sends from an occupant carries its occupant-id.
      expect(occupantId(got[subject]), `occupant-id on the subject message:\n${got[subject]}`).to.equal(occupantId(got[crone]));
      // The subject is the last of what the join sends.
      expect(got.slice(subject + 1).filter((el) => el.is('message') && bareOf(el.attrs.from) === room)).to.deep.equal([]);
    });

    it('sends an empty <subject/> when no subject is set', async function () {
      const [owner, guest] = await f.users(2);
      const room = f.room();
      await createInstantRoom(owner, room, 'crone');
      const { subject } = await joinFully(guest, room, 'hag');
      expect(subject.getChildText('subject')).to.equal('');
      expect(subject.getChild('body')).to.equal(undefined);
    });
  });

  describe('managing discussion history (§7.2.15, §7.2.16)', function () {
    async function roomWithHistory(bodies: string[]): Promise<{ owner: User; room: string }> {
      const owner = await f.user();
      const room = f.room();
      await createInstantRoom(owner, room, 'crone');
      for (const body of bodies) await say(owner, room, 'crone', body);
      return { owner, room };
    }

    const historyBodies = (user: User, since: number, room: string) =>
      user.inbox.slice(since).filter((el) => el.is('message') && bareOf(el.attrs.from) === room && el.getChild('delay', NS.DELAY) && el.getChild('body')).map((m) => m.getChildText('body'));

    it('maxstanzas: only the last N messages', async function () {
      const { room } = await roomWithHistory(['h1', 'h2', 'h3', 'h4']);
      const guest = await f.user();
      const { since } = await joinFully(guest, room, 'hag', { history: { maxstanzas: '2' } });
      expect(historyBodies(guest, since, room)).to.deep.equal(['h3', 'h4']);
    });

    it('maxchars="0": no history at all, the subject still comes', async function () {
      const { room } = await roomWithHistory(['h1', 'h2']);
      const guest = await f.user();
      const { since } = await joinFully(guest, room, 'hag', { history: { maxchars: '0' } });
      expect(historyBodies(guest, since, room)).to.deep.equal([]);
    });

    it('no <history/>: everything the room keeps, oldest first', async function () {
      const { room } = await roomWithHistory(['h1', 'h2', 'h3']);
      const guest = await f.user();
      const { since } = await joinFully(guest, room, 'hag');
      expect(historyBodies(guest, since, room)).to.deep.equal(['h1', 'h2', 'h3']);
    });

    it('since and seconds: only the messages after the given time', async function () {
      const [owner, a, b, c] = await f.users(4);
      const room = f.room();
      await createInstantRoom(owner, room, 'crone');
      await say(owner, room, 'crone', 'old');
      // 'new' goes out just after a whole second that is more than a second after 'old': a
      // second-precision 'since' falls between them, and 'seconds=1' leaves 'old' out, whatever
      // the precision of the server's clock.
      const sentOld = Date.now();
      const boundaryMs = Math.ceil((sentOld + 1000) / 1000) * 1000;
      await delay(boundaryMs - Date.now() + 50);
      await say(owner, room, 'crone', 'new');

      const joinedC = await joinFully(c, room, 'c', { history: { seconds: '1' } });
      expect(historyBodies(c, joinedC.since, room), 'seconds=1').to.deep.equal(['new']);

      const boundary = new Date(boundaryMs).toISOString().replace('.000Z', 'Z');
      const joinedA = await joinFully(a, room, 'a', { history: { since: boundary } });
      expect(historyBodies(a, joinedA.since, room), `since=${boundary}`).to.deep.equal(['new']);

      const joinedB = await joinFully(b, room, 'b', { history: { since: '1970-01-01T00:00:00Z' } });
      expect(historyBodies(b, joinedB.since, room), 'since the epoch').to.deep.equal(['old', 'new']);
    });

    it('keeps private messages and messages without a body out of the history', async function () {
      const { owner, room } = await roomWithHistory(['public']);
      const other = await f.user();
      await join(other, room, 'hag');
      await owner.client.send(xml('message', { to: `${room}/hag`, type: 'chat' }, xml('body', {}, 'private')));
      await waitSince(other, 0, (el) => el.getChildText('body') === 'private', 'the private message');
      await owner.client.send(xml('message', { to: room, type: 'groupchat' }, xml('active', { xmlns: 'http://jabber.org/protocol/chatstates' })));
      await say(owner, room, 'crone', 'after');
      const guest = await f.user();
      const { since } = await joinFully(guest, room, 'late');
      expect(historyBodies(guest, since, room)).to.deep.equal(['public', 'after']);
      const delayed = guest.inbox.slice(since).filter((el) => el.is('message') && el.getChild('delay', NS.DELAY) && !el.getChild('subject'));
      expect(delayed.map((m) => m.getChildText('body'))).to.deep.equal(['public', 'after']);
    });

    it('muc#maxhistoryfetch in the configuration caps what a newcomer gets', async function () {
      const owner = await f.user();
      const room = f.room();
      await createReservedRoom(owner, room, 'crone', { 'muc#maxhistoryfetch': '2' });
      for (const body of ['h1', 'h2', 'h3', 'h4']) await say(owner, room, 'crone', body);
      const guest = await f.user();
      const { since } = await joinFully(guest, room, 'hag');
      expect(historyBodies(guest, since, room)).to.deep.equal(['h3', 'h4']);
    });
  });

  describe('occupant identifiers (XEP-0421)', function () {
    it('on every presence and message, stable for a user across rejoins and nick changes, different between users', async function () {
      const [owner, a, b] = await f.users(3);
      const room = f.room();
      await createInstantRoom(owner, room, 'crone');
      expect(features(await discoInfo(a, room))).to.include(NS.OCCUPANT_ID);

      const { self: selfA } = await join(a, room, 'alpha');
      const idA = occupantId(selfA);
      expect(idA, `occupant-id on the own presence:\n${selfA}`).to.be.a('string').and.not.equal('');
      const { self: selfB, since } = await join(b, room, 'beta');
      const idB = occupantId(selfB);
      expect(idB).to.be.a('string').and.not.equal(idA);

      // Others see the same id on the occupant's presence and messages.
      expect(occupantId(await waitSince(b, since, isPresenceFrom(`${room}/alpha`), 'alpha at beta'))).to.equal(idA);
      expect(occupantId(await waitSince(owner, 0, isPresenceFrom(`${room}/beta`), 'beta at the owner'))).to.equal(idB);
      const mark = b.inbox.length;
      await a.client.send(xml('message', { to: room, type: 'groupchat' }, xml('body', {}, 'by alpha')));
      const atB = await waitSince(b, mark, isGroupchatBody(`${room}/alpha`, 'by alpha'), 'alpha\'s message at beta');
      expect(occupantId(atB)).to.equal(idA);

      // A forged occupant-id from the client is replaced, not passed on (XEP-0421 §5).
      const mark2 = b.inbox.length;
      await a.client.send(xml('message', { to: room, type: 'groupchat' }, xml('body', {}, 'forged'), xml('occupant-id', { xmlns: NS.OCCUPANT_ID, id: 'forged-id' })));
      const forged = await waitSince(b, mark2, isGroupchatBody(`${room}/alpha`, 'forged'), 'the forged message');
      expect(forged.getChildren('occupant-id', NS.OCCUPANT_ID).map((o) => o.attrs.id)).to.deep.equal([idA]);

      // Leaving and coming back under another nick: the same id.
      await leave(a, room, 'alpha');
      const { self: again } = await join(a, room, 'alpha-again');
      expect(occupantId(again)).to.equal(idA);

      // The same user in another room: another id (XEP-0421 §5.1, SHOULD).
      const other = f.room();
      await createInstantRoom(owner, other, 'crone');
      const { self: elsewhere } = await join(a, other, 'alpha');
      expect(occupantId(elsewhere)).to.be.a('string').and.not.equal(idA);
    });
  });
});
