// Multi-User Chat (XEP-0045) moderation and administration: kicking, banning, voice in
// moderated rooms and voice requests, moderator grants, affiliation lists and the limits on
// who may change whom, members-only rooms, reserved nicknames, and destroying a room.
import { expect } from 'chai';
import { xml, type Element } from '../helpers/xmpp-client.js';
import {
  mucSuite, NS, adminList, adminSet, barrier, bareOf, configure, createInstantRoom, createReservedRoom, discoInfo, formType, formValues,
  iqError, isGroupchatBody, isMessageErrorFrom, isPresenceFrom, join, joinRefused, mucItem, mucUser, request, say, sendGroupchat,
  stanzaError, statusCodes, submitForm, waitSince, type User,
} from './helpers.js';

const HOST = '127.0.0.105';

describe('MUC: moderation and administration (XEP-0045 §8, §9, §10)', function () {
  const f = mucSuite('d', HOST);

  /** An open room with its owner (nick crone) and two participants (alpha, beta) in it. */
  async function populatedRoom(fields?: Parameters<typeof createReservedRoom>[3]): Promise<{ room: string; owner: User; a: User; b: User }> {
    const [owner, a, b] = await f.users(3);
    const room = f.room();
    if (fields) await createReservedRoom(owner, room, 'crone', fields);
    else await createInstantRoom(owner, room, 'crone');
    await join(a, room, 'alpha');
    await join(b, room, 'beta');
    await waitSince(owner, 0, isPresenceFrom(`${room}/beta`), 'beta at the owner');
    return { room, owner, a, b };
  }

  const items = (list: Element[]) => list.map((i) => ({ affiliation: i.attrs.affiliation, jid: bareOf(i.attrs.jid) }));

  describe('kicking (§8.2)', function () {
    it('a moderator kicks a participant: 307 to the kicked occupant and to everyone else', async function () {
      const { room, owner, a, b } = await populatedRoom();
      const marks = [owner.inbox.length, a.inbox.length, b.inbox.length];
      const result = await adminSet(owner, room, { nick: 'alpha', role: 'none', reason: 'Avaunt, you cullion!' });
      expect(result.attrs.type).to.equal('result');

      const kicked = await waitSince(a, marks[1], isPresenceFrom(`${room}/alpha`, 'unavailable'), 'the kick at the kicked');
      expect(statusCodes(kicked)).to.include('307');
      expect(mucItem(kicked)?.attrs.role).to.equal('none');
      expect(mucItem(kicked)?.getChildText('reason')).to.equal('Avaunt, you cullion!');
      for (const [u, mark] of [[owner, marks[0]], [b, marks[2]]] as const) {
        const seen = await waitSince(u, mark, isPresenceFrom(`${room}/alpha`, 'unavailable'), `the kick at ${u.local}`);
        expect(statusCodes(seen)).to.include('307');
      }

      // Out of the room: its messages are refused.
      const mark = a.inbox.length;
      await sendGroupchat(a, room, 'still here');
      expect(stanzaError(await waitSince(a, mark, isMessageErrorFrom(room), 'the refusal')).condition).to.equal('not-acceptable');
    });

    it('a participant may not kick: forbidden, and nobody leaves', async function () {
      const { room, owner, a } = await populatedRoom();
      const mark = owner.inbox.length;
      const error = await iqError(adminSet(a, room, { nick: 'beta', role: 'none' }));
      expect(error.condition).to.equal('forbidden');
      await barrier(owner, room);
      expect(owner.inbox.slice(mark).filter((el) => el.is('presence') && el.attrs.type === 'unavailable')).to.deep.equal([]);
    });
  });

  describe('banning (§9.1, §9.2)', function () {
    it('an owner bans a participant by bare JID: 301 for all, on the ban list, refused on return until unbanned', async function () {
      const { room, owner, a, b } = await populatedRoom();
      const marks = [owner.inbox.length, a.inbox.length, b.inbox.length];
      await adminSet(owner, room, { affiliation: 'outcast', jid: a.bare, reason: 'Treason' });

      const banned = await waitSince(a, marks[1], isPresenceFrom(`${room}/alpha`, 'unavailable'), 'the ban at the banned');
      expect(statusCodes(banned)).to.include('301');
      expect(mucItem(banned)?.attrs).to.include({ affiliation: 'outcast', role: 'none' });
      for (const [u, mark] of [[owner, marks[0]], [b, marks[2]]] as const) {
        const seen = await waitSince(u, mark, isPresenceFrom(`${room}/alpha`, 'unavailable'), `the ban at ${u.local}`);
        expect(statusCodes(seen)).to.include('301');
      }

      const list = await adminList(owner, room, { affiliation: 'outcast' });
      expect(items(list)).to.deep.include({ affiliation: 'outcast', jid: a.bare });

      expect(stanzaError(await joinRefused(a, room, 'alpha')).condition).to.equal('forbidden');
      await adminSet(owner, room, { affiliation: 'none', jid: a.bare });
      expect(items(await adminList(owner, room, { affiliation: 'outcast' }))).to.not.deep.include({ affiliation: 'outcast', jid: a.bare });
      await join(a, room, 'alpha');
    });

    it('an admin may not ban, demote or kick an owner (not-allowed), but bans a participant', async function () {
      const { room, owner, a, b } = await populatedRoom();
      await adminSet(owner, room, { affiliation: 'admin', jid: a.bare });
      const promoted = await waitSince(b, 0, (el) => isPresenceFrom(`${room}/alpha`)(el) && mucItem(el)?.attrs.affiliation === 'admin', 'alpha\'s promotion at beta');
      expect(mucItem(promoted)?.attrs.role).to.equal('moderator');

      expect((await iqError(adminSet(a, room, { affiliation: 'outcast', jid: owner.bare }))).condition, 'ban the owner').to.equal('not-allowed');
      expect((await iqError(adminSet(a, room, { affiliation: 'member', jid: owner.bare }))).condition, 'demote the owner').to.equal('not-allowed');
      expect((await iqError(adminSet(a, room, { nick: 'crone', role: 'none' }))).condition, 'kick the owner').to.equal('not-allowed');
      expect(items(await adminList(owner, room, { affiliation: 'owner' }))).to.deep.equal([{ affiliation: 'owner', jid: owner.bare }]);
      // The admin still bans a mere participant.
      await adminSet(a, room, { affiliation: 'outcast', jid: b.bare });
      await waitSince(b, 0, (el) => isPresenceFrom(`${room}/beta`, 'unavailable')(el) && statusCodes(el).includes('301'), 'beta banned by the admin');
    });

    it('only owners view or edit the owner and admin lists, only admins the ban list (forbidden)', async function () {
      const { room, owner, a, b } = await populatedRoom();
      await adminSet(owner, room, { affiliation: 'admin', jid: a.bare });
      await waitSince(b, 0, (el) => isPresenceFrom(`${room}/alpha`)(el) && mucItem(el)?.attrs.affiliation === 'admin', 'alpha\'s promotion at beta');
      const failures: string[] = [];
      const check = async (what: string, p: Promise<unknown>) => {
        const outcome = await p.then(() => 'a result', (err: { condition?: string }) => err.condition ?? String(err));
        if (outcome !== 'forbidden') failures.push(`${what}: ${outcome}`);
      };
      // §10.5 and §10.8: "If a non-owner attempts to view or modify the owner [admin] list … forbidden".
      await check('admin views the owner list', adminList(a, room, { affiliation: 'owner' }));
      await check('admin views the admin list', adminList(a, room, { affiliation: 'admin' }));
      await check('admin adds an owner', adminSet(a, room, { affiliation: 'owner', jid: b.bare }));
      await check('admin adds an admin', adminSet(a, room, { affiliation: 'admin', jid: b.bare }));
      // §9: admin use cases are denied to others with forbidden.
      await check('participant views the ban list', adminList(b, room, { affiliation: 'outcast' }));
      await check('participant bans', adminSet(b, room, { affiliation: 'outcast', jid: owner.bare }));
      expect(failures, failures.join('\n')).to.deep.equal([]);
    });

    it('a ban removes every resource the user has in the room', async function () {
      const { room, owner, a } = await populatedRoom();
      const second = await f.login(a.local, 'phone');
      await join(second, room, 'alpha');
      const marks = [a.inbox.length, second.inbox.length];
      await adminSet(owner, room, { affiliation: 'outcast', jid: a.bare });
      for (const [i, u] of [a, second].entries()) {
        const gone = await waitSince(u, marks[i], isPresenceFrom(`${room}/alpha`, 'unavailable'), `the ban at ${u.full}`);
        expect(statusCodes(gone)).to.include('301');
      }
      const mark = second.inbox.length;
      await sendGroupchat(second, room, 'still here?');
      expect(stanzaError(await waitSince(second, mark, isMessageErrorFrom(room), 'the refusal')).condition).to.equal('not-acceptable');
    });

    it('an owner may not ban himself (conflict)', async function () {
      const owner = await f.user();
      const room = f.room();
      await createInstantRoom(owner, room, 'crone');
      expect((await iqError(adminSet(owner, room, { affiliation: 'outcast', jid: owner.bare }))).condition).to.equal('conflict');
    });
  });

  describe('voice in moderated rooms (§8.3–§8.6)', function () {
    it('a visitor is refused with forbidden; granting voice lets it speak, revoking silences it again', async function () {
      const owner = await f.user();
      const room = f.room();
      await createReservedRoom(owner, room, 'crone', { 'muc#roomconfig_moderatedroom': true });
      expect((await discoInfo(owner, room)).getChildren('feature').map((x) => x.attrs.var)).to.include('muc_moderated');
      const v = await f.user();
      const { self } = await join(v, room, 'thirdwitch');
      expect(mucItem(self)?.attrs).to.include({ role: 'visitor', affiliation: 'none' });
      // §7.2.4 default roles: a member of a moderated room is a participant.
      const member = await f.user();
      await adminSet(owner, room, { affiliation: 'member', jid: member.bare });
      const { self: memberSelf } = await join(member, room, 'member');
      expect(mucItem(memberSelf)?.attrs).to.include({ role: 'participant', affiliation: 'member' });

      let mark = v.inbox.length;
      await sendGroupchat(v, room, 'may I?');
      expect(stanzaError(await waitSince(v, mark, isMessageErrorFrom(room), 'the refusal')).condition).to.equal('forbidden');
      await barrier(owner, room);
      expect(owner.inbox.filter((el) => el.getChildText('body') === 'may I?')).to.deep.equal([]);

      const marks = [owner.inbox.length, v.inbox.length];
      await adminSet(owner, room, { nick: 'thirdwitch', role: 'participant', reason: 'A worthy witch indeed!' });
      for (const [u, m] of [[owner, marks[0]], [v, marks[1]]] as const) {
        await waitSince(u, m, (el) => isPresenceFrom(`${room}/thirdwitch`)(el) && mucItem(el)?.attrs.role === 'participant', `voice at ${u.local}`);
      }
      const voiced = await adminList(owner, room, { role: 'participant' });
      expect(voiced.map((i) => i.attrs.nick)).to.include('thirdwitch');
      await say(v, room, 'thirdwitch', 'thrice the brinded cat');
      await waitSince(owner, marks[0], isGroupchatBody(`${room}/thirdwitch`, 'thrice the brinded cat'), 'the voiced message at the owner');

      const mark2 = owner.inbox.length;
      await adminSet(owner, room, { nick: 'thirdwitch', role: 'visitor' });
      await waitSince(owner, mark2, (el) => isPresenceFrom(`${room}/thirdwitch`)(el) && mucItem(el)?.attrs.role === 'visitor', 'voice revoked');
      mark = v.inbox.length;
      await sendGroupchat(v, room, 'again?');
      expect(stanzaError(await waitSince(v, mark, isMessageErrorFrom(room), 'the refusal')).condition).to.equal('forbidden');
    });

    it('a visitor\'s voice request reaches the moderators as a muc#request form; approving it grants voice', async function () {
      const owner = await f.user();
      const room = f.room();
      await createReservedRoom(owner, room, 'crone', { 'muc#roomconfig_moderatedroom': true });
      const v = await f.user();
      await join(v, room, 'thirdwitch');

      const mark = owner.inbox.length;
      await v.client.send(xml('message', { to: room }, submitForm(NS.REQUEST, { 'muc#role': 'participant' })));
      const forwarded = await waitSince(owner, mark, (el) => el.is('message') && el.getChild('x', NS.DATA) !== undefined && formType(el.getChild('x', NS.DATA)!) === NS.REQUEST, 'the voice request at the moderator');
      expect(forwarded.attrs.from).to.equal(room);
      const form = forwarded.getChild('x', NS.DATA)!;
      const fields = formValues(form);
      expect(fields.get('muc#role')).to.deep.equal(['participant']);
      expect(fields.get('muc#roomnick')).to.deep.equal(['thirdwitch']);
      expect(fields.has('muc#request_allow')).to.equal(true);

      // §8.6: the moderator submits the form with muc#request_allow true.
      const submitted: Record<string, string> = {};
      for (const [name, value] of fields) if (name !== 'FORM_TYPE') submitted[name] = value[0] ?? '';
      submitted['muc#request_allow'] = 'true';
      const markV = v.inbox.length;
      await owner.client.send(xml('message', { to: room }, submitForm(NS.REQUEST, submitted)));
      await waitSince(v, markV, (el) => isPresenceFrom(`${room}/thirdwitch`)(el) && mucItem(el)?.attrs.role === 'participant', 'voice after approval');
    });
    it('nobody takes voice from an admin or owner, and an admin does not take the moderator role from another admin (not-allowed)', async function () {
      const owner = await f.user();
      const room = f.room();
      await createReservedRoom(owner, room, 'crone', { 'muc#roomconfig_moderatedroom': true });
      const [adm1, adm2] = await f.users(2);
      await adminSet(owner, room, { affiliation: 'admin', jid: adm1.bare }, { affiliation: 'admin', jid: adm2.bare });
      await join(adm1, room, 'first');
      await join(adm2, room, 'second');
      expect((await iqError(adminSet(owner, room, { nick: 'first', role: 'visitor' }))).condition, 'owner silences an admin').to.equal('not-allowed');
      expect((await iqError(adminSet(adm1, room, { nick: 'crone', role: 'visitor' }))).condition, 'admin silences the owner').to.equal('not-allowed');
      expect((await iqError(adminSet(adm1, room, { nick: 'second', role: 'participant' }))).condition, 'admin demotes an admin').to.equal('not-allowed');
    });
  });

  describe('moderators (§9.6, §9.7)', function () {
    it('an owner grants the moderator role; the new moderator kicks a participant but may not kick the owner', async function () {
      const { room, owner, a, b } = await populatedRoom();
      await adminSet(owner, room, { nick: 'alpha', role: 'moderator' });
      const seen = await waitSince(b, 0, (el) => isPresenceFrom(`${room}/alpha`)(el) && mucItem(el)?.attrs.role === 'moderator', 'alpha as moderator at beta');
      expect(mucItem(seen)?.attrs.affiliation).to.equal('none');
      const moderators = await adminList(owner, room, { role: 'moderator' });
      expect(moderators.map((i) => i.attrs.nick)).to.include.members(['crone', 'alpha']);

      expect((await iqError(adminSet(a, room, { nick: 'crone', role: 'none' }))).condition).to.equal('not-allowed');
      await adminSet(a, room, { nick: 'beta', role: 'none' });
      await waitSince(b, 0, (el) => isPresenceFrom(`${room}/beta`, 'unavailable')(el) && statusCodes(el).includes('307'), 'beta kicked by the moderator');
    });
  });

  describe('affiliation lists (§9.3–§9.5, §10.3–§10.8)', function () {
    it('an owner edits the member, admin and owner lists; occupants see the changes in presence', async function () {
      const { room, owner, a, b } = await populatedRoom();
      const absent = await f.user();
      const mark = b.inbox.length;
      await adminSet(owner, room, { affiliation: 'member', jid: a.bare });
      const member = await waitSince(b, mark, (el) => isPresenceFrom(`${room}/alpha`)(el) && mucItem(el)?.attrs.affiliation === 'member', 'alpha as member at beta');
      expect(mucItem(member)?.attrs.role).to.equal('participant');

      await adminSet(owner, room, { affiliation: 'admin', jid: absent.bare });
      await adminSet(owner, room, { affiliation: 'owner', jid: b.bare });
      const ownerNow = await waitSince(a, 0, (el) => isPresenceFrom(`${room}/beta`)(el) && mucItem(el)?.attrs.affiliation === 'owner', 'beta as owner at alpha');
      expect(mucItem(ownerNow)?.attrs.role).to.equal('moderator');

      expect(items(await adminList(owner, room, { affiliation: 'member' }))).to.deep.equal([{ affiliation: 'member', jid: a.bare }]);
      expect(items(await adminList(owner, room, { affiliation: 'admin' }))).to.deep.equal([{ affiliation: 'admin', jid: absent.bare }]);
      expect(items(await adminList(owner, room, { affiliation: 'owner' })).map((i) => i.jid).sort()).to.deep.equal([owner.bare, b.bare].sort());

      // Several changes at once (a delta): the member goes, the admin becomes a member.
      await adminSet(owner, room, { affiliation: 'none', jid: a.bare }, { affiliation: 'member', jid: absent.bare });
      expect(items(await adminList(owner, room, { affiliation: 'member' }))).to.deep.equal([{ affiliation: 'member', jid: absent.bare }]);
      expect(await adminList(owner, room, { affiliation: 'admin' })).to.deep.equal([]);
      await waitSince(b, mark, (el) => isPresenceFrom(`${room}/alpha`)(el) && mucItem(el)?.attrs.affiliation === 'none', 'alpha back to none at beta');
    });

    it('grants membership by the nick of an occupant (§9.3)', async function () {
      const { room, owner, a, b } = await populatedRoom();
      const mark = b.inbox.length;
      await adminSet(owner, room, { affiliation: 'member', nick: 'alpha' });
      await waitSince(b, mark, (el) => isPresenceFrom(`${room}/alpha`)(el) && mucItem(el)?.attrs.affiliation === 'member', 'alpha as member at beta');
      expect(items(await adminList(owner, room, { affiliation: 'member' }))).to.deep.equal([{ affiliation: 'member', jid: a.bare }]);
    });

    it('the only owner may not give up ownership (conflict)', async function () {
      const owner = await f.user();
      const room = f.room();
      await createInstantRoom(owner, room, 'crone');
      expect((await iqError(adminSet(owner, room, { affiliation: 'admin', jid: owner.bare }))).condition).to.equal('conflict');
      expect(items(await adminList(owner, room, { affiliation: 'owner' }))).to.deep.equal([{ affiliation: 'owner', jid: owner.bare }]);
    });
  });

  describe('members-only rooms (§9.4, §9.5, §10.2)', function () {
    it('removes a member whose membership is revoked while in the room (321)', async function () {
      const owner = await f.user();
      const m = await f.user();
      const room = f.room();
      await createReservedRoom(owner, room, 'crone', { 'muc#roomconfig_membersonly': true });
      expect((await discoInfo(owner, room)).getChildren('feature').map((x) => x.attrs.var)).to.include('muc_membersonly');
      await adminSet(owner, room, { affiliation: 'member', jid: m.bare });
      await join(m, room, 'member');
      const marks = [owner.inbox.length, m.inbox.length];
      await adminSet(owner, room, { affiliation: 'none', jid: m.bare });
      const removed = await waitSince(m, marks[1], isPresenceFrom(`${room}/member`, 'unavailable'), 'the removal');
      expect(statusCodes(removed)).to.include('321');
      const atOwner = await waitSince(owner, marks[0], isPresenceFrom(`${room}/member`, 'unavailable'), 'the removal at the owner');
      expect(statusCodes(atOwner)).to.include('321');
      expect(stanzaError(await joinRefused(m, room, 'member')).condition).to.equal('registration-required');
    });

    it('turning an open room members-only removes the non-members present (322)', async function () {
      const { room, owner, a, b } = await populatedRoom();
      await adminSet(owner, room, { affiliation: 'member', jid: b.bare });
      const marks = [owner.inbox.length, a.inbox.length];
      await configure(owner, room, { 'muc#roomconfig_membersonly': true });
      const removed = await waitSince(a, marks[1], isPresenceFrom(`${room}/alpha`, 'unavailable'), 'the removal');
      expect(statusCodes(removed)).to.include('322');
      await waitSince(owner, marks[0], (el) => isPresenceFrom(`${room}/alpha`, 'unavailable')(el) && statusCodes(el).includes('322'), 'the removal at the owner');
      // The member stays.
      await say(b, room, 'beta', 'still in');
    });

    it('gives the member list to a member of a members-only room (§9.5, SHOULD)', async function () {
      const owner = await f.user();
      const [m1, m2] = await f.users(2);
      const room = f.room();
      await createReservedRoom(owner, room, 'crone', { 'muc#roomconfig_membersonly': true });
      await adminSet(owner, room, { affiliation: 'member', jid: m1.bare }, { affiliation: 'member', jid: m2.bare });
      await join(m1, room, 'first');
      expect((await adminList(m1, room, { affiliation: 'member' })).map((i) => bareOf(i.attrs.jid)).sort()).to.deep.equal([m1.bare, m2.bare].sort());
    });

    it('refuses an invitation from a mere member when only admins may invite (forbidden)', async function () {
      const owner = await f.user();
      const [m, guest] = await f.users(2);
      const room = f.room();
      await createReservedRoom(owner, room, 'crone', { 'muc#roomconfig_membersonly': true, 'muc#roomconfig_allowinvites': false });
      await adminSet(owner, room, { affiliation: 'member', jid: m.bare });
      await join(m, room, 'member');
      const mark = m.inbox.length;
      await m.client.send(xml('message', { to: room }, xml('x', { xmlns: NS.USER }, xml('invite', { to: guest.bare }))));
      expect(stanzaError(await waitSince(m, mark, isMessageErrorFrom(room), 'the refusal')).condition).to.equal('forbidden');
      await barrier(guest, room).catch(() => undefined);
      expect(guest.inbox.filter((el) => mucUser(el)?.getChild('invite'))).to.deep.equal([]);
    });
  });

  describe('reserved nicknames (§7.10, §7.12)', function () {
    it('registers a nickname with the room; the room returns it on x-roomuser-item and keeps it from others (conflict)', async function () {
      const owner = await f.user();
      const [reg, other] = await f.users(2);
      const room = f.room();
      await createInstantRoom(owner, room, 'crone');

      const formReply = await request(reg, 'get', room, xml('query', { xmlns: NS.REGISTER }));
      const regForm = formReply.getChild('query', NS.REGISTER)?.getChild('x', NS.DATA);
      expect(regForm, `a registration form:\n${formReply}`).to.exist;
      expect(formType(regForm!)).to.equal(NS.REGISTER_FORM);
      expect([...formValues(regForm!).keys()]).to.include('muc#register_roomnick');

      // Nothing reserved yet: an empty answer.
      expect((await discoInfo(reg, room, 'x-roomuser-item')).getChildren('identity')).to.deep.equal([]);
      const done = await request(reg, 'set', room, xml('query', { xmlns: NS.REGISTER }, submitForm(NS.REGISTER_FORM, { 'muc#register_roomnick': 'thirdwitch' })));
      expect(done.attrs.type).to.equal('result');

      const identity = (await discoInfo(reg, room, 'x-roomuser-item')).getChild('identity');
      expect(identity?.attrs).to.include({ category: 'conference', type: 'text', name: 'thirdwitch' });

      expect(stanzaError(await joinRefused(other, room, 'thirdwitch')).condition).to.equal('conflict');
      await join(reg, room, 'thirdwitch');
      // Another registration of the same nick is a conflict too.
      expect((await iqError(request(other, 'set', room, xml('query', { xmlns: NS.REGISTER }, submitForm(NS.REGISTER_FORM, { 'muc#register_roomnick': 'thirdwitch' })))))).to.include({ condition: 'conflict' });
    });
  });

  describe('configuration changes (§10.2.1)', function () {
    it('tells the occupants of privacy changes: 172 when real JIDs become public, 170 when logging starts', async function () {
      const { room, owner, a } = await populatedRoom();
      const isStatus = (code: string) => (el: Element) => el.is('message') && el.attrs.from === room && statusCodes(el).includes(code);
      let mark = a.inbox.length;
      await configure(owner, room, { 'muc#roomconfig_whois': 'anyone' });
      await waitSince(a, mark, isStatus('172'), 'status 172 at alpha');
      // Whatever the default, logging is off before it is turned on.
      await configure(owner, room, { 'muc#roomconfig_enablelogging': false });
      await barrier(a, room);
      mark = a.inbox.length;
      await configure(owner, room, { 'muc#roomconfig_enablelogging': true });
      await waitSince(a, mark, isStatus('170'), 'status 170 at alpha');
      mark = a.inbox.length;
      await configure(owner, room, { 'muc#roomconfig_enablelogging': false });
      await waitSince(a, mark, isStatus('171'), 'status 171 at alpha');
      mark = a.inbox.length;
      await configure(owner, room, { 'muc#roomconfig_whois': 'moderators' });
      await waitSince(a, mark, isStatus('173'), 'status 173 at alpha');
    });

    it('tells the occupants of other configuration changes with 104 (SHOULD)', async function () {
      const { room, owner, a } = await populatedRoom();
      const mark = a.inbox.length;
      await configure(owner, room, { 'muc#roomconfig_roomname': 'Renamed' });
      await waitSince(a, mark, (el) => el.is('message') && el.attrs.from === room && statusCodes(el).includes('104'), 'status 104 at alpha');
    });

    it('leaves the configuration as it was when the owner cancels a later configuration', async function () {
      const owner = await f.user();
      const room = f.room();
      await createReservedRoom(owner, room, 'crone', { 'muc#roomconfig_roomname': 'Before' });
      await request(owner, 'set', room, xml('query', { xmlns: NS.OWNER }, xml('x', { xmlns: NS.DATA, type: 'cancel' })));
      const identity = (await discoInfo(owner, room)).getChildren('identity').find((i) => i.attrs.category === 'conference');
      expect(identity?.attrs.name).to.equal('Before');
    });
  });

  describe('destroying a room (§10.9)', function () {
    it('refuses a non-owner (forbidden); the owner\'s destroy removes everyone with the alternate venue and reason', async function () {
      const { room, owner, a, b } = await populatedRoom();
      const alternate = f.room('alt');
      const destroy = (reason: string) => xml('query', { xmlns: NS.OWNER }, xml('destroy', { jid: alternate }, xml('reason', {}, reason)));

      expect((await iqError(request(a, 'set', room, destroy('mine now')))).condition).to.equal('forbidden');

      const marks = [owner.inbox.length, a.inbox.length, b.inbox.length];
      const result = await request(owner, 'set', room, destroy('Macbeth doth come.'));
      expect(result.attrs.type).to.equal('result');
      for (const [i, [u, nick]] of ([[owner, 'crone'], [a, 'alpha'], [b, 'beta']] as const).entries()) {
        const gone = await waitSince(u, marks[i], isPresenceFrom(`${room}/${nick}`, 'unavailable'), `the destruction at ${u.local}`);
        const d = mucUser(gone)?.getChild('destroy');
        expect(d?.attrs.jid, `destroy in the unavailable presence:\n${gone}`).to.equal(alternate);
        expect(d?.getChildText('reason')).to.equal('Macbeth doth come.');
      }
      // Gone: the room no longer answers as a room.
      expect((await iqError(discoInfo(a, room))).condition).to.equal('item-not-found');
    });
  });
});
