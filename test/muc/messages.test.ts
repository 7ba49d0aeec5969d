// Multi-User Chat (XEP-0045) traffic inside a room: groupchat reflection with XEP-0359
// stanza-ids and XEP-0421 occupant ids, messages from outside, private messages, nickname
// changes, presence updates, leaving, the subject, XEP-0410 self-ping, mediated invitations
// and their declines, and XEP-0249 direct invitations.
import { expect } from 'chai';
import { xml } from '../helpers/xmpp-client.js';
import {
  mucSuite, NS, answerPings, bareOf, barrier, configure, createInstantRoom, createReservedRoom, iqError, isGroupchatBody, isMessageErrorFrom,
  isPresenceErrorFrom, isPresenceFrom, isSubjectMessage, join, joinFully, leave, mucItem, mucUser, occupantId, request, say, sendGroupchat,
  stanzaError, statusCodes, waitSince,
} from './helpers.js';

const HOST = '127.0.0.104';

describe('MUC: messages, nicknames and invitations (XEP-0045 §7)', function () {
  const f = mucSuite('m', HOST);

  describe('groupchat messages (§7.4)', function () {
    it('reflects a message to every occupant, the sender too, from the sender\'s occupant JID with stanza-id and occupant-id', async function () {
      const [owner, a, b] = await f.users(3);
      const room = f.room();
      await createInstantRoom(owner, room, 'crone');
      const { self: selfA } = await join(a, room, 'alpha');
      await join(b, room, 'beta');

      const marks = [owner, a, b].map((u) => u.inbox.length);
      await a.client.send(xml('message', { to: room, type: 'groupchat', id: 'm-1' }, xml('body', {}, 'Harpier cries')));
      const copies = await Promise.all([owner, a, b].map((u, i) => waitSince(u, marks[i], isGroupchatBody(`${room}/alpha`, 'Harpier cries'), `the message at ${u.local}`)));
      const ids = copies.map((m) => m.getChild('stanza-id', NS.SID));
      for (const [i, copy] of copies.entries()) {
        expect(copy.attrs.to).to.equal([owner, a, b][i].full);
        expect(ids[i]?.attrs.by, `stanza-id by the room:\n${copy}`).to.equal(room);
        expect(ids[i]?.attrs.id).to.be.a('string').and.not.equal('');
        expect(occupantId(copy)).to.equal(occupantId(selfA));
      }
      // A semi-anonymous room (the default): the participants learn nothing of alpha's real JID.
      expect(copies[2].toString(), 'no real JID in the copy a participant gets').to.not.include(a.bare);
      // One archived message, one id, whoever receives it.
      expect(new Set(ids.map((s) => s?.attrs.id)).size).to.equal(1);
      // The sender's id comes back so its client can match the reflection (XEP-0045 §7.4, stable ids since 1.31).
      expect(copies[1].attrs.id).to.equal('m-1');
    });

    it('passes extension payloads on, and replaces a stanza-id forged in the room\'s name (XEP-0359 §5)', async function () {
      const [owner, a] = await f.users(2);
      const room = f.room();
      await createInstantRoom(owner, room, 'crone');
      await join(a, room, 'alpha');
      const mark = owner.inbox.length;
      await a.client.send(xml('message', { to: room, type: 'groupchat' },
        xml('body', {}, 'with payload'),
        xml('thing', { xmlns: 'urn:example:payload', kind: 'test' }, 'kept'),
        xml('stanza-id', { xmlns: NS.SID, by: room, id: 'forged-by-client' })));
      const got = await waitSince(owner, mark, isGroupchatBody(`${room}/alpha`, 'with payload'), 'the message at the owner');
      expect(got.getChild('thing', 'urn:example:payload')?.getText()).to.equal('kept');
      const byRoom = got.getChildren('stanza-id', NS.SID).filter((el) => el.attrs.by === room);
      expect(byRoom.map((el) => el.attrs.id), got.toString()).to.have.length(1).and.not.include('forged-by-client');
    });

    it('refuses a groupchat message from someone not in the room with not-acceptable, and passes nothing on', async function () {
      const [owner, outsider] = await f.users(2);
      const room = f.room();
      await createInstantRoom(owner, room, 'crone');
      const mark = outsider.inbox.length;
      await sendGroupchat(outsider, room, 'let me in');
      const error = await waitSince(outsider, mark, isMessageErrorFrom(room), 'the error');
      expect(stanzaError(error).condition).to.equal('not-acceptable');
      await barrier(owner, room);
      expect(owner.inbox.filter((el) => el.is('message') && el.getChildText('body') === 'let me in')).to.deep.equal([]);
    });
  });

  describe('private messages (§7.5)', function () {
    it('delivers a chat message to the other occupant from the sender\'s occupant JID, with the muc#user marker', async function () {
      const [owner, a, b] = await f.users(3);
      const room = f.room();
      await createInstantRoom(owner, room, 'crone');
      const { self: selfA } = await join(a, room, 'alpha');
      await join(b, room, 'beta');
      const mark = b.inbox.length;
      await a.client.send(xml('message', { to: `${room}/beta`, type: 'chat' }, xml('body', {}, 'I\'ll give thee a wind')));
      const pm = await waitSince(b, mark, (el) => el.is('message') && el.getChildText('body') === 'I\'ll give thee a wind', 'the private message');
      expect(pm.attrs).to.include({ from: `${room}/alpha`, to: b.full, type: 'chat' });
      expect(mucUser(pm), `muc#user marker:\n${pm}`).to.exist;
      // XEP-0421 §5: every message sent by the room carries the sender's occupant-id.
      expect(occupantId(pm), `occupant-id on the private message:\n${pm}`).to.equal(occupantId(selfA));
      expect(pm.toString(), 'no real JID in a private message of a semi-anonymous room').to.not.include(a.bare);
      // Nobody else got it.
      await barrier(owner, room);
      expect(owner.inbox.filter((el) => el.getChildText('body') === 'I\'ll give thee a wind')).to.deep.equal([]);
    });

    it('answers a private message to a nick nobody uses with item-not-found', async function () {
      const [owner, a] = await f.users(2);
      const room = f.room();
      await createInstantRoom(owner, room, 'crone');
      await join(a, room, 'alpha');
      const mark = a.inbox.length;
      await a.client.send(xml('message', { to: `${room}/nobody`, type: 'chat' }, xml('body', {}, 'anyone?')));
      const error = await waitSince(a, mark, isMessageErrorFrom(room), 'the error');
      expect(stanzaError(error).condition).to.equal('item-not-found');
    });

    it('refuses a private message of type groupchat (bad-request) and one from a non-occupant (not-acceptable)', async function () {
      const [owner, a, outsider] = await f.users(3);
      const room = f.room();
      await createInstantRoom(owner, room, 'crone');
      await join(a, room, 'alpha');
      let mark = a.inbox.length;
      await a.client.send(xml('message', { to: `${room}/crone`, type: 'groupchat' }, xml('body', {}, 'wrong type')));
      expect(stanzaError(await waitSince(a, mark, isMessageErrorFrom(room), 'the bad-request')).condition).to.equal('bad-request');

      mark = outsider.inbox.length;
      await outsider.client.send(xml('message', { to: `${room}/crone`, type: 'chat' }, xml('body', {}, 'from outside')));
      expect(stanzaError(await waitSince(outsider, mark, isMessageErrorFrom(room), 'the not-acceptable')).condition).to.equal('not-acceptable');
      await barrier(owner, room);
      expect(owner.inbox.filter((el) => ['wrong type', 'from outside'].includes(el.getChildText('body') ?? ''))).to.deep.equal([]);
    });
  });

  describe('nicknames, presence and leaving (§7.6, §7.7, §7.14)', function () {
    it('changes a nickname: unavailable with 303 and the new nick, then available under the new nick, for everyone', async function () {
      const [owner, a] = await f.users(2);
      const room = f.room();
      await createInstantRoom(owner, room, 'crone');
      const { self: before } = await join(a, room, 'thirdwitch');
      const marks = [owner.inbox.length, a.inbox.length];
      await a.client.send(xml('presence', { to: `${room}/oldhag` }));

      // At the occupant itself: 303 and 110, then 110 under the new nick.
      const goneSelf = await waitSince(a, marks[1], isPresenceFrom(`${room}/thirdwitch`, 'unavailable'), 'the 303 at the occupant');
      expect(statusCodes(goneSelf)).to.include.members(['303', '110']);
      expect(mucItem(goneSelf)?.attrs.nick).to.equal('oldhag');
      const backSelf = await waitSince(a, marks[1], isPresenceFrom(`${room}/oldhag`), 'the new presence at the occupant');
      expect(statusCodes(backSelf)).to.include('110');
      expect(a.inbox.indexOf(backSelf)).to.be.greaterThan(a.inbox.indexOf(goneSelf));
      expect(occupantId(backSelf)).to.equal(occupantId(before));

      // At the others: the same, without 110.
      const gone = await waitSince(owner, marks[0], isPresenceFrom(`${room}/thirdwitch`, 'unavailable'), 'the 303 at the owner');
      expect(statusCodes(gone)).to.include('303').and.not.include('110');
      expect(mucItem(gone)?.attrs.nick).to.equal('oldhag');
      const back = await waitSince(owner, marks[0], isPresenceFrom(`${room}/oldhag`), 'the new presence at the owner');
      expect(owner.inbox.indexOf(back)).to.be.greaterThan(owner.inbox.indexOf(gone));
      expect(mucItem(back)?.attrs).to.include({ role: 'participant' });

      // Messages now come from the new nick.
      await say(a, room, 'oldhag', 'renamed');
    });

    it('refuses a nickname change to a nick in use with conflict, and nothing changes', async function () {
      const [owner, a] = await f.users(2);
      const room = f.room();
      await createInstantRoom(owner, room, 'crone');
      await join(a, room, 'alpha');
      const marks = [owner.inbox.length, a.inbox.length];
      await a.client.send(xml('presence', { to: `${room}/crone` }));
      const error = await waitSince(a, marks[1], isPresenceErrorFrom(room), 'the conflict');
      expect(stanzaError(error)).to.deep.equal({ type: 'cancel', condition: 'conflict' });
      await barrier(owner, room);
      expect(owner.inbox.slice(marks[0]).filter((el) => el.is('presence') && bareOf(el.attrs.from) === room)).to.deep.equal([]);
      await say(a, room, 'alpha', 'still alpha');
    });

    it('broadcasts a change of availability (show, status) to every occupant', async function () {
      const [owner, a] = await f.users(2);
      const room = f.room();
      await createInstantRoom(owner, room, 'crone');
      await join(a, room, 'alpha');
      const marks = [owner.inbox.length, a.inbox.length];
      await a.client.send(xml('presence', { to: `${room}/alpha` }, xml('show', {}, 'xa'), xml('status', {}, 'gone where the goblins go')));
      const atOwner = await waitSince(owner, marks[0], (el) => isPresenceFrom(`${room}/alpha`)(el) && el.getChildText('show') === 'xa', 'the update at the owner');
      expect(atOwner.getChildText('status')).to.equal('gone where the goblins go');
      expect(mucItem(atOwner)?.attrs).to.include({ role: 'participant', affiliation: 'none' });
      const atSelf = await waitSince(a, marks[1], (el) => isPresenceFrom(`${room}/alpha`)(el) && el.getChildText('show') === 'xa', 'the update at the occupant');
      expect(statusCodes(atSelf)).to.include('110');
    });

    it('leaving: the occupant gets its unavailable presence with 110, the others see it go with role none', async function () {
      const [owner, a] = await f.users(2);
      const room = f.room();
      await createInstantRoom(owner, room, 'crone');
      await join(a, room, 'alpha');
      const mark = owner.inbox.length;
      await a.client.send(xml('presence', { to: `${room}/alpha`, type: 'unavailable' }, xml('status', {}, 'farewell')));
      const self = await waitSince(a, 0, isPresenceFrom(`${room}/alpha`, 'unavailable'), 'the own unavailable');
      expect(statusCodes(self)).to.include('110');
      expect(mucItem(self)?.attrs.role).to.equal('none');
      const atOwner = await waitSince(owner, mark, isPresenceFrom(`${room}/alpha`, 'unavailable'), 'the departure at the owner');
      expect(mucItem(atOwner)?.attrs.role).to.equal('none');
      expect(atOwner.getChildText('status')).to.equal('farewell');

      // Gone: its messages are refused now.
      const mark2 = a.inbox.length;
      await sendGroupchat(a, room, 'still here?');
      expect(stanzaError(await waitSince(a, mark2, isMessageErrorFrom(room), 'the error')).condition).to.equal('not-acceptable');
    });

    it('a client that disconnects leaves its rooms', async function () {
      const [owner, a] = await f.users(2);
      const room = f.room();
      await createInstantRoom(owner, room, 'crone');
      await join(a, room, 'alpha');
      const mark = owner.inbox.length;
      await a.client.stop();
      await waitSince(owner, mark, isPresenceFrom(`${room}/alpha`, 'unavailable'), 'the departure after a disconnect');
    });

    it('a client going offline leaves its rooms: the others see its unavailable presence', async function () {
      const [owner, a] = await f.users(2);
      const room = f.room();
      await createInstantRoom(owner, room, 'crone');
      await join(a, room, 'alpha');
      const mark = owner.inbox.length;
      await a.client.send(xml('presence', { type: 'unavailable' }));
      await waitSince(owner, mark, isPresenceFrom(`${room}/alpha`, 'unavailable'), 'the departure after a broadcast unavailable');
    });
  });

  describe('the subject (§8.1)', function () {
    it('a moderator changes it for everyone; a participant is refused with forbidden unless changesubject is on', async function () {
      const [owner, a] = await f.users(2);
      const room = f.room();
      const ownerSelf = await createReservedRoom(owner, room, 'crone', { 'muc#roomconfig_changesubject': false });
      await joinFully(a, room, 'alpha');

      const marks = [owner.inbox.length, a.inbox.length];
      await owner.client.send(xml('message', { to: room, type: 'groupchat' }, xml('subject', {}, 'Fire Burn and Cauldron Bubble!')));
      for (const [i, u] of [owner, a].entries()) {
        const m = await waitSince(u, marks[i], (el) => isSubjectMessage(room)(el) && el.getChildText('subject') === 'Fire Burn and Cauldron Bubble!', `the subject at ${u.local}`);
        expect(m.attrs.from).to.equal(`${room}/crone`);
        expect(occupantId(m), `occupant-id on the subject change (XEP-0421 §5):\n${m}`).to.equal(occupantId(ownerSelf));
      }

      const mark = a.inbox.length;
      await a.client.send(xml('message', { to: room, type: 'groupchat' }, xml('subject', {}, 'Mine now')));
      expect(stanzaError(await waitSince(a, mark, isMessageErrorFrom(room), 'the refusal')).condition).to.equal('forbidden');
      await barrier(owner, room);
      expect(owner.inbox.filter((el) => el.getChildText('subject') === 'Mine now')).to.deep.equal([]);

      // The owner lets occupants change it.
      await configure(owner, room, { 'muc#roomconfig_changesubject': true });
      const mark2 = owner.inbox.length;
      await a.client.send(xml('message', { to: room, type: 'groupchat' }, xml('subject', {}, 'Mine now')));
      const changed = await waitSince(owner, mark2, (el) => isSubjectMessage(room)(el) && el.getChildText('subject') === 'Mine now', 'the participant\'s subject');
      expect(changed.attrs.from).to.equal(`${room}/alpha`);
      // A newcomer is told the current subject.
      const late = await f.user();
      const { subject } = await joinFully(late, room, 'late');
      expect(subject.getChildText('subject')).to.equal('Mine now');
    });
  });

  describe('self-ping (XEP-0410)', function () {
    it('answers a ping to one\'s own occupant JID while joined, not-acceptable otherwise', async function () {
      const [owner, a, outsider] = await f.users(3);
      const room = f.room();
      await createInstantRoom(owner, room, 'crone');
      answerPings(a);
      await join(a, room, 'alpha');
      const pong = await request(a, 'get', `${room}/alpha`, xml('ping', { xmlns: NS.PING }));
      expect(pong.attrs.type).to.equal('result');

      const notJoined = await iqError(request(outsider, 'get', `${room}/alpha`, xml('ping', { xmlns: NS.PING })));
      expect(notJoined.condition).to.equal('not-acceptable');

      await leave(a, room, 'alpha');
      const afterLeaving = await iqError(request(a, 'get', `${room}/alpha`, xml('ping', { xmlns: NS.PING })));
      expect(afterLeaving.condition).to.equal('not-acceptable');
    });
  });

  describe('invitations (§7.8, XEP-0249)', function () {
    it('passes a mediated invitation to the invitee from the room, with the inviter\'s real JID, and a decline back to the inviter', async function () {
      const [owner, guest] = await f.users(2);
      const room = f.room();
      await createInstantRoom(owner, room, 'crone');

      const mark = guest.inbox.length;
      await owner.client.send(xml('message', { to: room }, xml('x', { xmlns: NS.USER }, xml('invite', { to: guest.bare }, xml('reason', {}, 'Hey Hecate, this is the place for all good witches!')))));
      const invitation = await waitSince(guest, mark, (el) => el.is('message') && mucUser(el)?.getChild('invite') !== undefined, 'the invitation');
      expect(invitation.attrs.from).to.equal(room);
      const invite = mucUser(invitation)!.getChild('invite')!;
      expect(bareOf(invite.attrs.from)).to.equal(owner.bare);
      expect(invite.getChildText('reason')).to.equal('Hey Hecate, this is the place for all good witches!');

      const mark2 = owner.inbox.length;
      await guest.client.send(xml('message', { to: room }, xml('x', { xmlns: NS.USER }, xml('decline', { to: owner.bare }, xml('reason', {}, 'Sorry, I\'m too busy right now.')))));
      const declined = await waitSince(owner, mark2, (el) => el.is('message') && mucUser(el)?.getChild('decline') !== undefined, 'the decline');
      expect(declined.attrs.from).to.equal(room);
      const decline = mucUser(declined)!.getChild('decline')!;
      expect(bareOf(decline.attrs.from)).to.equal(guest.bare);
      expect(decline.getChildText('reason')).to.equal('Sorry, I\'m too busy right now.');
    });

    it('adds the password to an invitation into a password-protected room (§7.8.2, SHOULD)', async function () {
      const [owner, guest] = await f.users(2);
      const room = f.room();
      await createReservedRoom(owner, room, 'crone', { 'muc#roomconfig_passwordprotectedroom': true, 'muc#roomconfig_roomsecret': 'cauldronburn' });
      const mark = guest.inbox.length;
      await owner.client.send(xml('message', { to: room }, xml('x', { xmlns: NS.USER }, xml('invite', { to: guest.bare }))));
      const invitation = await waitSince(guest, mark, (el) => el.is('message') && mucUser(el)?.getChild('invite') !== undefined, 'the invitation');
      expect(mucUser(invitation)!.getChildText('password')).to.equal('cauldronburn');
    });

    it('passes a direct invitation (XEP-0249) from user to user', async function () {
      const [owner, guest] = await f.users(2);
      const room = f.room();
      await createInstantRoom(owner, room, 'crone');
      const mark = guest.inbox.length;
      await owner.client.send(xml('message', { to: guest.bare }, xml('x', { xmlns: NS.CONFERENCE, jid: room, reason: 'Join us' })));
      const got = await waitSince(guest, mark, (el) => el.is('message') && el.getChild('x', NS.CONFERENCE) !== undefined, 'the direct invitation');
      expect(got.attrs.from).to.equal(owner.full);
      expect(got.getChild('x', NS.CONFERENCE)!.attrs).to.include({ jid: room, reason: 'Join us' });
      // And the invitee can act on it.
      await join(guest, room, 'hecate');
    });
  });
});
