// Group chat (XEP-0045) across servers. Hearth's service is conference.<domain>, a domain of
// the server on the network with a generated self-signed certificate (the tls.certificates
// folder holds only the account domains' pairs), so peers authenticate it with Server
// Dialback (XEP-0220) and list it as insecure where they verify certificates.
//  - Hearth ↔ Prosody 0.12 (a .151; prosody.hearth.example .160 with a mod_muc component at
//    rooms.prosody.hearth.example, both self-signed; Prosody trusts no test CA: dialback in
//    every direction). A Prosody user in a Hearth room and Hearth users in a Prosody room:
//    presence with muc#user items and status codes, groupchat messages with reflection,
//    private messages, leaving (explicitly, and by ending the session); then Prosody dies
//    while its user is an occupant, and the Hearth room removes him (333) once delivering to
//    him fails.
//  - Hearth ↔ Hearth (a .151, b .152, SASL EXTERNAL between the account domains): a user of b
//    in a room of conference.a.hearth.example.
// Prosody finds conference.a.hearth.example through /etc/hosts (added idempotently before it
// starts); Hearth reaches rooms.prosody.hearth.example through s2s.routes.
import { expect } from 'chai';
import { ensureHostsEntry } from '../test/helpers/hosts.js';
import { REMOTE_MS } from './helpers/flows.js';
import { authenticatedStreams, HearthServer } from './helpers/hearth.js';
import {
  createInstantRoom,
  enterRoom,
  groupchatSeen,
  isOccupantPresence,
  mucUser,
  occupantCount,
  occupantJid,
  privateMessageSeen,
  type Seat,
} from './helpers/muc.js';
import { getPki } from './helpers/pki.js';
import { ProsodyServer, prosodyInstalled } from './helpers/prosody.js';
import { delay, login, logout, trustCertificate, xml, type Element, type User } from './helpers/xmpp.js';

const A = 'a.hearth.example';
const B = 'b.hearth.example';
const P = 'prosody.hearth.example';
const CONF_A = `conference.${A}`;
const ROOMS_P = `rooms.${P}`;
const A_ADDRESS = '127.0.0.151';
const B_ADDRESS = '127.0.0.152';
const P_ADDRESS = '127.0.0.160';
const MUC = { enabled: true, subdomain: 'conference', createRooms: 'anyone' } as const;

/** Streams were authenticated (at least one), every one of them by a method matching `method`. */
function allBy(methods: string[], method: RegExp, what: string): void {
  expect(methods.length, `${what}: authenticated streams`).to.be.at.least(1);
  expect(methods.every((m) => method.test(m)), `${what}: methods ${methods.join(', ')}`).to.equal(true);
}

/** A stanza's index in what the user received so far (order checks, §7.2.3). */
const received = (user: User, el: Element): number => user.inbox.all.indexOf(el);

/**
 * What `viewer` sees of `subject` entering: its available presence from its occupant JID,
 * with the item the room gives it; the real JID only for those allowed to see it (§7.2.3,
 * §7.2.4: a semi-anonymous room shows it to moderators), and never status 110 (§7.2.3).
 */
async function seesEntered(viewer: User, subject: Seat, expected: { affiliation: string; role: string; jid: string | undefined }): Promise<Element> {
  const presence = await viewer.inbox.take(isOccupantPresence(occupantJid(subject)), REMOTE_MS, `${viewer.jid}: presence of ${subject.nick} in ${subject.room}`);
  const info = mucUser(presence)!;
  expect(presence.attrs.to, 'to the viewer’s resource').to.equal(viewer.fullJid);
  expect({ affiliation: info.affiliation, role: info.role, jid: info.jid }, `${viewer.jid} sees ${subject.nick}: ${presence.toString()}`).to.deep.equal(expected);
  expect(info.statuses, `110 is only for one's own presence: ${presence.toString()}`).to.not.include(110);
  return presence;
}

/** §7.2.3: the user's own presence in the room: 110, its item, from its occupant JID. */
function checkSelf(self: Element, seat: Seat, expected: { affiliation: string; role: string }): void {
  const info = mucUser(self)!;
  expect(self.attrs.from).to.equal(occupantJid(seat));
  expect(self.attrs.to).to.equal(seat.user.fullJid);
  expect(info.statuses, self.toString()).to.include(110);
  expect({ affiliation: info.affiliation, role: info.role }, self.toString()).to.deep.equal(expected);
}

/** §7.2.15: a room sends its subject (possibly empty) after the occupant list. */
function isSubjectFrom(room: string) {
  return (el: Element) => el.is('message') && el.attrs.type === 'groupchat' && (el.attrs.from ?? '').split('/')[0] === room && el.getChild('subject') !== undefined && !el.getChild('body');
}

describe('federation: group chat (XEP-0045) between Hearth and Prosody 0.12', function () {
  let a: HearthServer;
  let prosody: ProsodyServer;
  let alice: User | undefined; // owner of the Hearth room
  let amy: User | undefined; // another Hearth occupant
  let pat: User | undefined; // Prosody's user
  const HALL = `hall@${CONF_A}`;
  const LOUNGE = `lounge@${ROOMS_P}`;
  let hall: { alice: Seat; amy: Seat; pat: Seat };
  let lounge: { pat: Seat; alice: Seat };
  const loginPat = () => login({ host: P_ADDRESS, domain: P, username: 'pat', password: 'pat-secret' });

  before(async function () {
    this.timeout(180_000);
    if (!prosodyInstalled()) throw new Error('prosody is not installed (federation-tests/install-prosody.sh installs it from Debian’s packages)');
    // Prosody's resolver reads /etc/hosts when it starts: the group-chat domains go there first.
    ensureHostsEntry(CONF_A, A_ADDRESS);
    ensureHostsEntry(ROOMS_P, P_ADDRESS);
    const pki = await getPki();
    const cert = await pki.selfSigned(P);
    const roomsCert = await pki.selfSigned(ROOMS_P);
    prosody = new ProsodyServer({
      name: 'prosody-muc',
      domain: P,
      address: P_ADDRESS,
      certFile: cert.certFile,
      keyFile: cert.keyFile,
      muc: { domain: ROOMS_P, certFile: roomsCert.certFile, keyFile: roomsCert.keyFile },
    });
    trustCertificate(P, cert.certPem); // pat's client accepts it
    a = await HearthServer.create({
      name: 'a-muc-prosody',
      domains: [A],
      address: A_ADDRESS,
      certificates: 'ca',
      routes: { [P]: `${P_ADDRESS}:5269`, [ROOMS_P]: `${P_ADDRESS}:5269` },
      insecureDomains: [P, ROOMS_P],
      // Failing deliveries to a vanished Prosody surface within seconds.
      connectTimeoutMs: 3_000,
      muc: MUC,
    });
    await a.addUser('alice', 'alice-secret');
    await a.addUser('amy', 'amy-secret');
    await a.addUser('ann', 'ann-secret');
    await prosody.register('pat', 'pat-secret');
    await Promise.all([a.start(), prosody.start()]);
    alice = await login({ host: a.address, domain: A, username: 'alice', password: 'alice-secret' });
    amy = await login({ host: a.address, domain: A, username: 'amy', password: 'amy-secret' });
    pat = await loginPat();
  });

  after(async function () {
    this.timeout(30_000);
    await Promise.all([logout(alice), logout(amy), logout(pat)]);
    await Promise.all([a?.stop(), prosody?.stop()]);
  });

  it(`pat@prosody enters a room on ${CONF_A} over s2s: each side sees the other's presence with its muc#user item, 110 on one's own`, async () => {
    const created = await createInstantRoom(alice!, HALL, 'Alice', 10_000);
    const amyIn = await enterRoom(amy!, HALL, 'Amy', 10_000);
    checkSelf(amyIn.self, amyIn.seat, { affiliation: 'none', role: 'participant' });
    await seesEntered(alice!, amyIn.seat, { affiliation: 'none', role: 'participant', jid: amy!.fullJid });

    const patIn = await enterRoom(pat!, HALL, 'Pat');
    hall = { alice: created.seat, amy: amyIn.seat, pat: patIn.seat };
    checkSelf(patIn.self, hall.pat, { affiliation: 'none', role: 'participant' });
    // What pat receives: the occupants already there (§7.2.3; a semi-anonymous room shows real
    // JIDs to moderators only, and pat is a participant), before its own presence.
    const ofAlice = await seesEntered(pat!, hall.alice, { affiliation: 'owner', role: 'moderator', jid: undefined });
    const ofAmy = await seesEntered(pat!, hall.amy, { affiliation: 'none', role: 'participant', jid: undefined });
    expect(received(pat!, ofAlice), 'the occupant list comes before pat’s own presence').to.be.below(received(pat!, patIn.self));
    expect(received(pat!, ofAmy), 'the occupant list comes before pat’s own presence').to.be.below(received(pat!, patIn.self));
    await pat!.inbox.take(isSubjectFrom(HALL), REMOTE_MS, 'the room subject after entering (§7.2.15)');

    // What the Hearth occupants see of pat: alice moderates and sees pat's real JID.
    await seesEntered(alice!, hall.pat, { affiliation: 'none', role: 'participant', jid: pat!.fullJid });
    await seesEntered(amy!, hall.pat, { affiliation: 'none', role: 'participant', jid: undefined });
  });

  it('groupchat messages cross both ways, reflected to their sender (§7.4)', async () => {
    const everyone = [hall.alice, hall.amy, hall.pat];
    await groupchatSeen(hall.pat, everyone);
    await groupchatSeen(hall.alice, everyone);
    await groupchatSeen(hall.amy, everyone);
  });

  it('private messages through the Hearth room, each way, marked with muc#user (§7.5)', async () => {
    await privateMessageSeen(hall.pat, hall.alice);
    await privateMessageSeen(hall.alice, hall.pat);
    await privateMessageSeen(hall.amy, hall.pat);
    // Nobody else got a copy.
    expect(amy!.inbox.peek((el) => el.is('message') && el.attrs.type === 'chat'), 'amy saw no private message between alice and pat').to.deep.equal([]);
  });

  it('pat goes offline: Prosody tells the Hearth room (his directed presence ends), the others see him leave without 333; he comes back', async () => {
    await logout(pat);
    pat = undefined;
    for (const viewer of [alice!, amy!]) {
      const left = await viewer.inbox.take(isOccupantPresence(occupantJid(hall.pat), 'unavailable'), REMOTE_MS, `${viewer.jid}: pat going offline`);
      const info = mucUser(left)!;
      expect(info.role, left.toString()).to.equal('none');
      expect(info.statuses, `an ordinary exit, not a failure: ${left.toString()}`).to.not.include(333);
    }
    pat = await loginPat();
    const back = await enterRoom(pat, HALL, 'Pat');
    hall.pat = back.seat;
    checkSelf(back.self, hall.pat, { affiliation: 'none', role: 'participant' });
    await seesEntered(alice!, hall.pat, { affiliation: 'none', role: 'participant', jid: pat.fullJid });
    await seesEntered(amy!, hall.pat, { affiliation: 'none', role: 'participant', jid: undefined });
  });

  it(`alice@hearth enters a room on Prosody (${ROOMS_P}): presence with muc#user items, 110 on her own`, async () => {
    const created = await createInstantRoom(pat!, LOUNGE, 'Pat', 10_000);
    const aliceIn = await enterRoom(alice!, LOUNGE, 'Alice');
    lounge = { pat: created.seat, alice: aliceIn.seat };
    checkSelf(aliceIn.self, lounge.alice, { affiliation: 'none', role: 'participant' });
    const ofPat = await seesEntered(alice!, lounge.pat, { affiliation: 'owner', role: 'moderator', jid: undefined });
    expect(received(alice!, ofPat), 'the occupant list comes before alice’s own presence').to.be.below(received(alice!, aliceIn.self));
    await alice!.inbox.take(isSubjectFrom(LOUNGE), REMOTE_MS, 'the room subject after entering (§7.2.15)');
    // pat, the owner, moderates: Prosody shows him alice's real JID.
    await seesEntered(pat!, lounge.alice, { affiliation: 'none', role: 'participant', jid: alice!.fullJid });
  });

  it('in the Prosody room: groupchat messages both ways with reflection, private messages both ways', async () => {
    await groupchatSeen(lounge.alice, [lounge.alice, lounge.pat]);
    await groupchatSeen(lounge.pat, [lounge.alice, lounge.pat]);
    await privateMessageSeen(lounge.alice, lounge.pat);
    await privateMessageSeen(lounge.pat, lounge.alice);
  });

  it('alice leaves the Prosody room: both see her unavailable presence, hers with 110 (§7.14)', async () => {
    await alice!.xmpp.send(xml('presence', { to: occupantJid(lounge.alice), type: 'unavailable' }));
    const own = await alice!.inbox.take(isOccupantPresence(occupantJid(lounge.alice), 'unavailable', 110), REMOTE_MS, 'alice’s own exit');
    expect(mucUser(own)!.role).to.equal('none');
    const seen = await pat!.inbox.take(isOccupantPresence(occupantJid(lounge.alice), 'unavailable'), REMOTE_MS, 'pat sees alice leave');
    expect(mucUser(seen)!.role).to.equal('none');
    expect(mucUser(seen)!.statuses).to.not.include(110);
  });

  it('a Hearth user who goes offline leaves the Prosody room normally: Hearth ends her directed presence there (RFC 6121 §4.6.3, XEP-0045 §7.14)', async () => {
    const ann = await login({ host: a.address, domain: A, username: 'ann', password: 'ann-secret' });
    let loggedOut = false;
    try {
      const annIn = await enterRoom(ann, LOUNGE, 'Ann');
      await seesEntered(pat!, annIn.seat, { affiliation: 'none', role: 'participant', jid: ann.fullJid });
      await ann.inbox.take(isSubjectFrom(LOUNGE), REMOTE_MS, 'the room subject after entering (§7.2.15)');
      await logout(ann);
      loggedOut = true;
      const left = await pat!.inbox.take(isOccupantPresence(occupantJid(annIn.seat), 'unavailable'), REMOTE_MS, 'pat sees ann leave when her session ends');
      const info = mucUser(left)!;
      expect(info.role, left.toString()).to.equal('none');
      // What Prosody received from Hearth for ann, in order (its debug log shows opening tags).
      const traffic = prosody
        .logLines(/(Received|Sending)\[s2s(in|out)\]: <(message|presence)[^>]*ann@a\.hearth\.example/)
        .map((line) => line.replace(/^.*?(Received|Sending)/, '$1'))
        .join('\n    ');
      expect(info.statuses, `ann logged out: an ordinary exit, not a removal for an error (333); pat got ${left.toString()}\n  Prosody's s2s traffic for ann:\n    ${traffic}\n`).to.not.include(333);
    } finally {
      if (!loggedOut) await logout(ann);
    }
  });

  it('Hearth authenticated the group-chat domains with dialback, both ways (its log)', () => {
    const streams = authenticatedStreams(a);
    const methods = (match: (s: (typeof streams)[number]) => boolean) => streams.filter(match).map((s) => s.method);
    // Prosody's component sent to alice; Prosody's host sent to the Hearth room.
    allBy(methods((s) => s.direction === 'in' && s.peer === ROOMS_P), /dialback/i, `inbound from ${ROOMS_P}`);
    expect(methods((s) => s.direction === 'in' && s.peer === P), `inbound from ${P}`).to.not.be.empty;
    // The Hearth room sent to pat; alice sent to Prosody's room.
    allBy(methods((s) => s.direction === 'out' && s.local === CONF_A && s.peer === P), /dialback/i, `outbound ${CONF_A} → ${P}`);
    expect(methods((s) => s.direction === 'out' && s.peer === ROOMS_P), `outbound → ${ROOMS_P}`).to.not.be.empty;
  });

  it('Prosody dies while pat is in the Hearth room: the next delivery to pat fails, and the others see him leave with 333 (§15.6)', async function () {
    this.timeout(60_000);
    // Prosody vanishes without closing anything (SIGKILL): no unavailable presence from pat
    // ever reaches the room. (Stopped with SIGTERM, Prosody sends pat's unavailable presence
    // on its way down and the room sees an ordinary exit.)
    alice!.inbox.clear();
    amy!.inbox.clear();
    await prosody.kill();
    await delay(500);

    // The room's next stanza to pat: alice's message, which it also reflects to alice and amy.
    await groupchatSeen(hall.alice, [hall.alice, hall.amy]);
    const gone = isOccupantPresence(occupantJid(hall.pat), 'unavailable');
    const seenByAlice = await alice!.inbox.take(gone, 20_000, 'pat’s removal, as alice sees it');
    const seenByAmy = await amy!.inbox.take(gone, 20_000, 'pat’s removal, as amy sees it');
    for (const [viewer, presence] of [['alice', seenByAlice], ['amy', seenByAmy]] as const) {
      const info = mucUser(presence)!;
      expect(info.statuses, `${viewer}: ${presence.toString()}`).to.include(333);
      expect(info.statuses, `${viewer}: 110 is pat's alone`).to.not.include(110);
      expect(info.role, `${viewer}: ${presence.toString()}`).to.equal('none');
    }
    expect(mucUser(seenByAlice)!.jid, 'alice moderates: she sees whose connection failed').to.equal(pat!.fullJid);

    // The room goes on without him: no second removal, no error to the speakers.
    await groupchatSeen(hall.amy, [hall.alice, hall.amy]);
    expect(await occupantCount(alice!, HALL, 5_000), 'occupants left in the room').to.equal(2);
    await delay(500);
    for (const user of [alice!, amy!]) {
      expect(user.inbox.peek(gone), `${user.jid}: one removal only`).to.deep.equal([]);
      expect(user.inbox.peek((el) => el.attrs.type === 'error'), `${user.jid}: no errors`).to.deep.equal([]);
    }
  });
});

describe('federation: group chat (XEP-0045) between two Hearth servers', function () {
  let a: HearthServer;
  let b: HearthServer;
  let alice: User | undefined;
  let bob: User | undefined;
  const HALL = `hall@${CONF_A}`;
  let hall: { alice: Seat; bob: Seat };

  before(async function () {
    this.timeout(180_000);
    // b reaches conference.a.hearth.example at a's address; its certificate is self-signed,
    // so b lists it as insecure and authenticates it with dialback. a and b themselves use
    // the test CA's certificates (SASL EXTERNAL).
    a = await HearthServer.create({ name: 'a-muc', domains: [A], address: A_ADDRESS, certificates: 'ca', routes: { [B]: `${B_ADDRESS}:5269` }, muc: MUC });
    b = await HearthServer.create({
      name: 'b-muc',
      domains: [B],
      address: B_ADDRESS,
      certificates: 'ca',
      routes: { [A]: `${A_ADDRESS}:5269`, [CONF_A]: `${A_ADDRESS}:5269` },
      insecureDomains: [CONF_A],
      muc: MUC,
    });
    await a.addUser('alice', 'alice-secret');
    await b.addUser('bob', 'bob-secret');
    await Promise.all([a.start(), b.start()]);
    alice = await login({ host: a.address, domain: A, username: 'alice', password: 'alice-secret' });
    bob = await login({ host: b.address, domain: B, username: 'bob', password: 'bob-secret' });
  });

  after(async function () {
    this.timeout(30_000);
    await Promise.all([logout(alice), logout(bob)]);
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it(`bob@b enters a room on ${CONF_A}: presence both ways with muc#user items`, async () => {
    const created = await createInstantRoom(alice!, HALL, 'Alice', 10_000);
    const bobIn = await enterRoom(bob!, HALL, 'Bob');
    hall = { alice: created.seat, bob: bobIn.seat };
    checkSelf(bobIn.self, hall.bob, { affiliation: 'none', role: 'participant' });
    const ofAlice = await seesEntered(bob!, hall.alice, { affiliation: 'owner', role: 'moderator', jid: undefined });
    expect(received(bob!, ofAlice)).to.be.below(received(bob!, bobIn.self));
    await bob!.inbox.take(isSubjectFrom(HALL), REMOTE_MS, 'the room subject after entering (§7.2.15)');
    await seesEntered(alice!, hall.bob, { affiliation: 'none', role: 'participant', jid: bob!.fullJid });
  });

  it('groupchat and private messages both ways', async () => {
    await groupchatSeen(hall.bob, [hall.alice, hall.bob]);
    await groupchatSeen(hall.alice, [hall.alice, hall.bob]);
    await privateMessageSeen(hall.bob, hall.alice);
    await privateMessageSeen(hall.alice, hall.bob);
  });

  it('bob leaves: alice sees his unavailable presence, bob his own with 110 (§7.14)', async () => {
    await bob!.xmpp.send(xml('presence', { to: occupantJid(hall.bob), type: 'unavailable' }));
    const own = await bob!.inbox.take(isOccupantPresence(occupantJid(hall.bob), 'unavailable', 110), REMOTE_MS, 'bob’s own exit');
    expect(mucUser(own)!.role).to.equal('none');
    const seen = await alice!.inbox.take(isOccupantPresence(occupantJid(hall.bob), 'unavailable'), REMOTE_MS, 'alice sees bob leave');
    expect(mucUser(seen)!.statuses).to.not.include(110);
    expect(await occupantCount(alice!, HALL, 5_000)).to.equal(1);
  });

  it('bob enters again and goes offline: b ends his directed presence, alice sees him leave normally (RFC 6121 §4.6.3, XEP-0045 §7.14)', async () => {
    const again = await enterRoom(bob!, HALL, 'Bob');
    hall.bob = again.seat;
    await seesEntered(alice!, hall.bob, { affiliation: 'none', role: 'participant', jid: bob!.fullJid });
    await bob!.inbox.take(isSubjectFrom(HALL), REMOTE_MS, 'the room subject after entering (§7.2.15)');
    await logout(bob);
    bob = undefined;
    const left = await alice!.inbox.take(isOccupantPresence(occupantJid(hall.bob), 'unavailable'), REMOTE_MS, 'alice sees bob leave when his session ends');
    expect(mucUser(left)!.role, left.toString()).to.equal('none');
    expect(mucUser(left)!.statuses, `bob logged out: an ordinary exit, not a removal for an error (333): ${left.toString()}`).to.not.include(333);
    expect(await occupantCount(alice!, HALL, 5_000)).to.equal(1);
  });

  it(`${CONF_A} authenticates to b with dialback (self-signed); b's stream to it is authenticated too (their logs)`, () => {
    // The room's stanzas to bob: a's outbound stream from conference.a, which b verifies by
    // dialback (a self-signed certificate, listed as insecure).
    allBy(authenticatedStreams(a).filter((s) => s.direction === 'out' && s.local === CONF_A && s.peer === B).map((s) => s.method), /dialback/i, `a: outbound ${CONF_A} → ${B}`);
    allBy(authenticatedStreams(b).filter((s) => s.direction === 'in' && s.peer === CONF_A).map((s) => s.method), /dialback/i, `b: inbound from ${CONF_A}`);
    // bob's stanzas to the room: b's outbound stream to conference.a (b proves itself with its
    // CA certificate or dialback, whichever a offers).
    expect(authenticatedStreams(b).filter((s) => s.direction === 'out' && s.peer === CONF_A), `b: outbound → ${CONF_A}`).to.not.be.empty;
  });
});
