// One XEP-0045 (1.34) room: its occupants, affiliations, configuration, subject and
// discussion history, and what it does with each stanza addressed to it. A room lives in
// one process (its owner node in a cluster); everything it does with a stanza is
// synchronous, and what it must store is written behind, one write after another.
import { Element } from 'ltx';
import type { Logger } from 'pino';
import { StanzaError } from '../../core/errors.js';
import { tryParseJid, type Jid } from '../../core/jid.js';
import { NS_DATA, NS_SID } from '../../core/namespaces.js';
import { errorReply, fanOut, iqResult, readdress } from '../../core/stanza.js';
import type { ArchiveStore, MucAffiliationRecord, MucStore } from '../../storage/index.js';
import { formElement, parseBoolean, readSubmittedForm } from '../../xml/data-form.js';
import { NS_DISCO_INFO, NS_DISCO_ITEMS, discoInfoElement } from '../../core/disco-registry.js';
import { archiveType } from '../../modules/mam.js';
import { formatArchiveId, type ArchiveClock } from '../../modules/mam/clock.js';
import {
  applyRoomConfigForm,
  roomConfigForm,
  serializeRoomConfig,
  type Affiliation,
  type RoomConfig,
  type RoomConfigLimits,
  type Role,
} from './room-config.js';
import {
  delayElement,
  NS_MUC,
  NS_MUC_ADMIN,
  NS_MUC_OWNER,
  NS_MUC_REGISTER,
  NS_MUC_REQUEST,
  NS_MUC_ROOMINFO,
  NS_MUC_SELF_PING,
  NS_MUC_STABLE_ID,
  NS_MUC_USER,
  NS_OCCUPANT_ID,
  occupantIdElement,
  presencePayload,
  userX,
  type ItemDetails,
  type StatusCode,
} from './stanzas.js';

const NS_MAM = 'urn:xmpp:mam:2';
const NS_PING = 'urn:xmpp:ping';
const NS_REGISTER = 'jabber:iq:register';
const NS_VCARD = 'vcard-temp';

/** What a room needs from the service that hosts it. */
export interface RoomHost {
  readonly limits: RoomConfigLimits;
  readonly store: MucStore;
  readonly archive: ArchiveStore;
  readonly clock: ArchiveClock;
  readonly log: Logger;
  /** Routes a stanza the room sends (through the router: local sessions, s2s). */
  send(stanza: Element): void;
  /** Parses a stanza the room serialised itself (its history). */
  parse(xml: string): Element | null;
  /** Routes a stanza whose addresses are parsed already (one of many copies). */
  deliver(stanza: Element, from: Jid, to: Jid): void;
  /** Sends an occupant's request to another occupant's real JID (`to`) from its occupant JID (`from`); the answer goes back to the asker. */
  relayIq(stanza: Element, from: string, to: string): void;
  /** XEP-0421: a stable id for one real bare JID in one room, revealing nothing of it. */
  occupantId(room: string, realBare: string): string;
  /** XEP-0313 on the room's JID: answers a query (results to `from`), returning the <fin/>. */
  queryArchive(room: Room, from: Jid, payload: Element): Promise<Element>;
  /** The room is gone: destroyed, or temporary and empty. */
  removed(room: Room): void;
  /**
   * The server itself (a bare domain JID of this server: neither clients nor other servers
   * can send from one), acting for an operator: it has owner rights in every room.
   */
  isAuthority(jid: Jid): boolean;
}

interface AffiliationEntry {
  affiliation: Exclude<Affiliation, 'none'>;
  nick: string | null;
  reason: string;
}

/** One nickname in the room; a user may be in it from several resources under one nick. */
interface Occupant {
  nick: string;
  /** The real bare JID. */
  bare: string;
  role: Role;
  /** Each of the user's resources in the room, with its last presence. */
  sessions: Map<string, Element>;
  occupantId: string;
}

/** A message of the discussion history: kept as text (many rooms keep many), parsed when sent. */
interface HistoryEntry {
  xml: string;
  at: Date;
}

export interface RoomSubject {
  text: string;
  nick: string;
  /** XEP-0421: the occupant id of whoever set it ('' for the room or an operator). */
  occupantId: string;
  at: Date | null;
}

/** §7.2.15: what of the history a newcomer asked for. */
interface HistoryRequest {
  maxStanzas?: number;
  maxChars?: number;
  seconds?: number;
  since?: Date;
}

const AFFILIATION_RANK: Record<Affiliation, number> = { outcast: -1, none: 0, member: 1, admin: 2, owner: 3 };
const ROLE_RANK: Record<Role, number> = { none: 0, visitor: 1, participant: 2, moderator: 3 };

export class Room {
  readonly jid: string;
  private readonly occupants = new Map<string, Occupant>();
  /** Real full JID → its occupant. */
  private readonly bySession = new Map<string, Occupant>();
  /** Real full JID → the same, parsed (a message to everyone is not parsed again per copy). */
  private readonly sessionJids = new Map<string, Jid>();
  private readonly affiliations = new Map<string, AffiliationEntry>();
  private history: HistoryEntry[] = [];
  /** §10.1.1: a room being created takes nobody but its creator until it is configured. */
  private locked: boolean;
  /** Writes to the database, one after another. */
  private writes: Promise<unknown>;
  private gone = false;

  constructor(
    readonly domain: string,
    readonly name: string,
    private config: RoomConfig,
    private subject: RoomSubject,
    affiliations: readonly MucAffiliationRecord[],
    private readonly host: RoomHost,
    options: { locked: boolean; stored: Promise<unknown> },
  ) {
    this.jid = `${name}@${domain}`;
    for (const a of affiliations) this.affiliations.set(a.jid, { affiliation: a.affiliation, nick: a.nick, reason: a.reason });
    this.locked = options.locked;
    this.writes = options.stored;
  }

  get occupantCount(): number {
    return this.occupants.size;
  }

  get isPublic(): boolean {
    return this.config.public && !this.locked;
  }

  get title(): string {
    return this.config.name;
  }

  /** Discussion history from the archive (as stored), oldest first, when the room is loaded. */
  seedHistory(messages: HistoryEntry[]): void {
    this.history = messages.slice(-this.config.historyLength);
  }

  // ---- entry points (the service calls these with stanzas the router checked) ----

  handle(stanza: Element, from: Jid, nick: string): void {
    if (this.gone) return;
    try {
      if (stanza.name === 'presence') this.presence(stanza, from, nick);
      else if (stanza.name === 'message') this.message(stanza, from, nick);
      else this.iq(stanza, from, nick);
    } catch (err) {
      if (err instanceof StanzaError) this.bounce(stanza, err);
      else throw err;
    }
  }

  /** Status 332: the service stops; every occupant is told and the room empties. */
  shutdown(): void {
    for (const occupant of [...this.occupants.values()]) this.removeOccupant(occupant, [332], {});
  }

  /** An account was deleted (the service removed its affiliations from the database). */
  forget(jid: string): void {
    this.affiliations.delete(jid);
  }

  // ---- presence (§7.2 enter, §7.3 exit, §7.6 nickname change, §7.7 status) ----

  private presence(stanza: Element, from: Jid, nick: string): void {
    const type = stanza.attrs.type;
    const full = from.toString();
    const occupant = this.bySession.get(full);
    if (type === 'error') {
      // The occupant's client or server refused what the room sent: it is gone (status 333).
      if (occupant) this.removeSession(occupant, full, [333], {});
      return;
    }
    if (type === 'unavailable') {
      if (occupant) this.leave(occupant, full, stanza);
      return;
    }
    if (type !== undefined) return; // subscriptions and probes mean nothing to a room
    if (nick === '') throw new StanzaError('jid-malformed', 'a nickname is needed to enter a room', 'modify');
    if (!occupant) {
      this.enter(stanza, from, nick, false);
    } else if (occupant.nick === nick) {
      occupant.sessions.set(full, stanza);
      this.broadcastPresence(occupant, []);
    } else {
      this.changeNick(occupant, full, nick, stanza);
    }
  }

  /** The room was just created for `from` (the service checked it may create rooms). */
  enterAsCreator(stanza: Element, from: Jid, nick: string): void {
    this.enter(stanza, from, nick, true);
  }

  private enter(stanza: Element, from: Jid, nick: string, creating: boolean): void {
    const full = from.toString();
    const bare = from.bareString();
    const affiliation = this.affiliationOf(from);
    const muc = stanza.getChild('x', NS_MUC);
    if (!creating) {
      // §7.2.6–§7.2.11: the refusals.
      if (this.locked && affiliation !== 'owner') throw new StanzaError('item-not-found', 'the room is being created; it does not exist yet', 'cancel');
      if (affiliation === 'outcast') throw new StanzaError('forbidden', 'you are banned from this room', 'auth');
      const existing = this.occupants.get(nick);
      if (existing && existing.bare !== bare) throw new StanzaError('conflict', 'that nickname is in use', 'cancel');
      const reservedBy = this.nickOwner(nick);
      if (reservedBy !== null && reservedBy !== bare) throw new StanzaError('conflict', 'that nickname is reserved', 'cancel');
      if (this.config.membersOnly && AFFILIATION_RANK[affiliation] < AFFILIATION_RANK.member) {
        throw new StanzaError('registration-required', 'only members may enter this room', 'auth');
      }
      if (this.config.password !== '' && muc?.getChildText('password') !== this.config.password) {
        throw new StanzaError('not-authorized', 'a password is required to enter this room', 'auth');
      }
      const roomFull = !existing && this.occupants.size >= this.config.maxUsers && AFFILIATION_RANK[affiliation] < AFFILIATION_RANK.admin;
      if (roomFull) throw new StanzaError('service-unavailable', 'the room is full', 'wait');
      if (existing) {
        // Another resource of the same user under the same nick: it joins that occupant.
        existing.sessions.set(full, stanza);
        this.bySession.set(full, existing);
        this.sessionJids.set(full, from);
        this.sendOccupantList(full, existing);
        this.sendPresence(existing, full, this.selfStatuses(false), existing);
        this.sendHistory(full, muc);
        this.sendSubject(full);
        return;
      }
    }
    const occupant: Occupant = {
      nick,
      bare,
      role: this.defaultRole(affiliation),
      sessions: new Map([[full, stanza]]),
      occupantId: this.host.occupantId(this.jid, bare),
    };
    this.occupants.set(nick, occupant);
    this.bySession.set(full, occupant);
    this.sessionJids.set(full, from);
    // §7.2.3: the others' presence first, then the newcomer's to everyone (its own last).
    this.sendOccupantList(full, occupant);
    for (const other of this.occupants.values()) {
      if (other !== occupant) this.sendPresenceToAll(occupant, other, []);
    }
    const statuses = this.selfStatuses(creating);
    for (const session of occupant.sessions.keys()) this.sendPresence(occupant, session, statuses, occupant);
    if (creating) return; // §10.1: a new room has no history and no subject yet
    this.sendHistory(full, muc);
    this.sendSubject(full);
  }

  private selfStatuses(creating: boolean): StatusCode[] {
    const codes: StatusCode[] = [110];
    if (this.config.whois === 'anyone') codes.push(100);
    if (this.config.archive) codes.push(170);
    if (creating) codes.push(201);
    return codes;
  }

  private sendOccupantList(to: string, newcomer: Occupant): void {
    const viewer = newcomer;
    for (const other of this.occupants.values()) {
      if (other !== newcomer) this.sendPresence(other, to, [], viewer);
    }
  }

  private changeNick(occupant: Occupant, full: string, nick: string, stanza: Element): void {
    const existing = this.occupants.get(nick);
    if (existing) throw new StanzaError('conflict', 'that nickname is in use', 'cancel');
    const reservedBy = this.nickOwner(nick);
    if (reservedBy !== null && reservedBy !== occupant.bare) throw new StanzaError('conflict', 'that nickname is reserved', 'cancel');
    occupant.sessions.set(full, stanza);
    // §7.6: unavailable under the old nick with 303 and the new one, then available under it.
    for (const other of this.occupants.values()) {
      for (const session of other.sessions.keys()) {
        const self = other === occupant;
        this.sendPresence(occupant, session, self ? [303, 110] : [303], other, { type: 'unavailable', nick });
      }
    }
    this.occupants.delete(occupant.nick);
    occupant.nick = nick;
    this.occupants.set(nick, occupant);
    for (const other of this.occupants.values()) {
      for (const session of other.sessions.keys()) this.sendPresence(occupant, session, other === occupant ? [110] : [], other);
    }
  }

  private leave(occupant: Occupant, full: string, stanza: Element): void {
    if (occupant.sessions.size > 1) {
      // One resource of several leaves: only it learns (the others stay in the room).
      occupant.sessions.delete(full);
      this.bySession.delete(full);
      this.sessionJids.delete(full);
      this.sendPresence(occupant, full, [110], occupant, { type: 'unavailable', payload: stanza });
      return;
    }
    occupant.sessions.set(full, stanza);
    this.removeOccupant(occupant, [], { payload: stanza });
  }

  /** Takes one resource out (an error from it); the occupant goes when it was the last. */
  private removeSession(occupant: Occupant, full: string, statuses: StatusCode[], details: { reason?: string }): void {
    if (occupant.sessions.size > 1) {
      occupant.sessions.delete(full);
      this.bySession.delete(full);
      this.sessionJids.delete(full);
      return;
    }
    this.removeOccupant(occupant, statuses, details);
  }

  /** An occupant leaves (or is removed): unavailable to everyone, itself included. */
  private removeOccupant(
    occupant: Occupant,
    statuses: StatusCode[],
    details: { actor?: string; reason?: string; payload?: Element; role?: Role; affiliation?: Affiliation; destroy?: Element },
  ): void {
    for (const other of this.occupants.values()) {
      for (const session of other.sessions.keys()) {
        const codes: StatusCode[] = other === occupant ? [...statuses, 110] : statuses;
        this.sendPresence(occupant, session, codes, other, { type: 'unavailable', role: 'none', ...details });
      }
    }
    this.occupants.delete(occupant.nick);
    for (const session of occupant.sessions.keys()) {
      this.bySession.delete(session);
      this.sessionJids.delete(session);
    }
    this.maybeEnd();
  }

  /** A temporary room ends with its last occupant (§10.1.3 for a room never configured too). */
  private maybeEnd(): void {
    if (this.occupants.size > 0) return;
    if (!this.config.persistent || this.locked) this.end(true);
  }

  private end(deleteStored: boolean): void {
    if (this.gone) return;
    this.gone = true;
    if (deleteStored) this.write(() => this.host.store.delete(this.domain, this.name));
    this.host.removed(this);
  }

  /** The status change of an occupant (§7.7), to everyone. */
  private broadcastPresence(occupant: Occupant, statuses: StatusCode[], details: PresenceDetails = {}): void {
    for (const other of this.occupants.values()) {
      for (const session of other.sessions.keys()) this.sendPresence(occupant, session, other === occupant ? [...statuses, 110] : statuses, other, details);
    }
  }

  private sendPresenceToAll(subject: Occupant, viewer: Occupant, statuses: StatusCode[]): void {
    for (const session of viewer.sessions.keys()) this.sendPresence(subject, session, statuses, viewer);
  }

  /** `subject`'s presence to one resource of `viewer`: the real JID only where the room shows it (§7.2.3, §7.2.4). */
  private sendPresence(subject: Occupant, to: string, statuses: readonly StatusCode[], viewer: Occupant | null, details: PresenceDetails = {}): void {
    const attrs: Record<string, string> = { from: `${this.jid}/${subject.nick}`, to };
    if (details.type) attrs.type = details.type;
    const presence = new Element('presence', attrs);
    const source = details.payload ?? latestPresence(subject);
    if (source) for (const child of presencePayload(source)) presence.cnode(child as Element);
    const item: ItemDetails = {
      affiliation: details.affiliation ?? this.affiliationOfBare(subject.bare),
      role: details.role ?? subject.role,
      nick: details.nick,
      actor: details.actor,
      reason: details.reason,
    };
    if (this.seesRealJids(viewer)) item.jid = realJid(subject, to);
    presence.cnode(userX(item, statuses, details.destroy));
    presence.cnode(occupantIdElement(subject.occupantId));
    this.host.send(presence);
  }

  private seesRealJids(viewer: Occupant | null): boolean {
    if (this.config.whois === 'anyone') return true;
    return viewer !== null && viewer.role === 'moderator';
  }

  // ---- messages (§7.4 to all, §7.5 private, §7.8 invitations, §7.13 voice requests, §8.1 subject) ----

  private message(stanza: Element, from: Jid, nick: string): void {
    const type = stanza.attrs.type ?? 'normal';
    const full = from.toString();
    const occupant = this.bySession.get(full);
    if (type === 'error') {
      // An occupant's server could not deliver what the room sent: the occupant is gone.
      if (occupant && isGoneError(stanza)) this.removeSession(occupant, full, [333], {});
      return;
    }
    if (nick !== '') return this.privateMessage(stanza, occupant, nick, type);
    if (type === 'groupchat') return this.groupchat(stanza, occupant);
    const x = stanza.getChild('x', NS_MUC_USER);
    const invite = x?.getChildren('invite') ?? [];
    if (invite.length > 0) return this.invite(stanza, from, occupant, invite);
    const decline = x?.getChild('decline');
    if (decline) return this.decline(from, decline);
    const form = stanza.getChild('x', NS_DATA);
    if (form && formTypeOf(form) === NS_MUC_REQUEST) return this.voiceRequest(form, occupant);
    if (!occupant) throw new StanzaError('not-acceptable', 'you are not in this room', 'cancel');
    throw new StanzaError('bad-request', 'messages to the room are of type groupchat', 'modify');
  }

  private groupchat(stanza: Element, occupant: Occupant | undefined): void {
    // §7.4: only occupants speak; visitors in a moderated room do not.
    if (!occupant) throw new StanzaError('not-acceptable', 'you are not in this room', 'cancel');
    if (occupant.role === 'visitor' || occupant.role === 'none') throw new StanzaError('forbidden', 'you have no voice in this room', 'auth');
    const subject = stanza.getChild('subject');
    const body = stanza.getChild('body');
    if (subject && !body) {
      // §8.1: the subject, by moderators, or participants where the room lets them.
      if (occupant.role !== 'moderator' && !this.config.changeSubject) throw new StanzaError('forbidden', 'you may not change the subject', 'auth');
      this.subject = { text: subject.getText(), nick: occupant.nick, occupantId: occupant.occupantId, at: new Date() };
      const subjectNow = { ...this.subject };
      this.write(() => this.host.store.setSubject(this.domain, this.name, subjectNow));
    }
    const reflected = new Element('message', { from: `${this.jid}/${occupant.nick}`, type: 'groupchat' });
    if (stanza.attrs.id !== undefined) reflected.attrs.id = stanza.attrs.id;
    if (stanza.attrs['xml:lang'] !== undefined) reflected.attrs['xml:lang'] = stanza.attrs['xml:lang'];
    for (const child of stanza.children) {
      if (typeof child === 'string') continue;
      // XEP-0359 §6 / XEP-0421 §4: ids claiming to be the room's are forgeries.
      if (child.attrs.xmlns === NS_OCCUPANT_ID) continue;
      if (child.name === 'stanza-id' && child.attrs.xmlns === NS_SID && child.attrs.by === this.jid) continue;
      reflected.cnode(child);
    }
    reflected.cnode(occupantIdElement(occupant.occupantId));
    const id = this.host.clock.next();
    reflected.cnode(new Element('stanza-id', { xmlns: NS_SID, id: formatArchiveId(id), by: this.jid }));
    const keep = body !== undefined && this.config.historyLength > 0;
    const archive = this.config.archive && archiveType(reflected, false) !== null;
    const xml = keep || archive ? reflected.toString() : '';
    if (keep) {
      this.history.push({ xml, at: new Date() });
      const excess = this.history.length - this.config.historyLength;
      if (excess > 0) this.history.splice(0, excess);
    }
    if (archive) {
      void this.host.archive
        .append({ domain: this.domain, username: this.name, id, with: this.jid, withResource: occupant.nick, outgoing: false, type: 'groupchat', stanza: xml, body: body?.getText() ?? null })
        .catch((err: unknown) => this.host.log.error({ err, room: this.jid }, 'archiving a room message failed'));
    }
    this.toEveryone(reflected);
  }

  /** One copy to every resource of every occupant (children serialised once for all). */
  private toEveryone(stanza: Element): void {
    const from = tryParseJid(stanza.attrs.from!);
    if (!from) return;
    const copy = fanOut(stanza);
    for (const other of this.occupants.values()) {
      for (const session of other.sessions.keys()) this.host.deliver(copy({ to: session }), from, this.sessionJids.get(session)!);
    }
  }

  private privateMessage(stanza: Element, occupant: Occupant | undefined, nick: string, type: string): void {
    // §7.5: occupants only, never as groupchat, to an occupant that exists.
    if (!occupant) throw new StanzaError('not-acceptable', 'you are not in this room', 'cancel');
    if (type === 'groupchat') throw new StanzaError('bad-request', 'a private message is not of type groupchat', 'modify');
    const target = this.occupants.get(nick);
    if (!target) throw new StanzaError('item-not-found', 'nobody in the room has that nickname', 'cancel');
    const policy = this.config.allowPm;
    const allowed = policy === 'anyone' || (policy === 'participants' && ROLE_RANK[occupant.role] >= ROLE_RANK.participant)
      || (policy === 'moderators' && occupant.role === 'moderator');
    if (!allowed) throw new StanzaError('forbidden', 'private messages are not allowed here', 'auth');
    const message = new Element('message', { ...stanza.attrs, from: `${this.jid}/${occupant.nick}` });
    let marked = false;
    for (const child of stanza.children) {
      if (typeof child === 'string' || child.attrs.xmlns === NS_OCCUPANT_ID) continue;
      if (child.name === 'x' && child.attrs.xmlns === NS_MUC_USER) marked = true;
      message.cnode(child);
    }
    // §7.5: the recipient's client tells a private message from a direct one by this.
    if (!marked) message.c('x', { xmlns: NS_MUC_USER });
    message.cnode(occupantIdElement(occupant.occupantId));
    for (const session of target.sessions.keys()) this.host.send(readdress(message, { to: session }));
  }

  /** §7.8.2 mediated invitations. */
  private invite(stanza: Element, from: Jid, occupant: Occupant | undefined, invites: Element[]): void {
    if (!occupant) throw new StanzaError('not-acceptable', 'only occupants invite', 'cancel');
    const affiliation = this.affiliationOf(from);
    const privileged = AFFILIATION_RANK[affiliation] >= AFFILIATION_RANK.admin;
    if (this.config.membersOnly && !this.config.allowInvites && !privileged) throw new StanzaError('forbidden', 'only admins invite to this room', 'auth');
    const targets: Jid[] = [];
    for (const invite of invites) {
      const to = invite.attrs.to !== undefined ? tryParseJid(invite.attrs.to) : null;
      if (!to) throw new StanzaError('jid-malformed', 'an invitation needs a valid to address', 'modify');
      targets.push(to);
    }
    invites.forEach((invite, i) => {
      const to = targets[i]!;
      // §7.8.2: in a members-only room the invitee becomes a member.
      if (this.config.membersOnly && this.affiliationOf(to) === 'none') this.changeAffiliation(to.bareString(), 'member', '', occupant);
      const message = new Element('message', { from: this.jid, to: to.toString() });
      if (stanza.attrs.id !== undefined) message.attrs.id = stanza.attrs.id;
      const x = message.c('x', { xmlns: NS_MUC_USER });
      const forwarded = x.c('invite', { from: from.toString() });
      const reason = invite.getChildText('reason');
      if (reason) forwarded.c('reason').t(reason);
      if (this.config.password !== '') x.c('password').t(this.config.password);
      message.c('body').t(`${from.bareString()} invites you to the room ${this.jid}${reason ? `: ${reason}` : ''}`);
      this.host.send(message);
    });
  }

  private decline(from: Jid, decline: Element): void {
    const to = decline.attrs.to !== undefined ? tryParseJid(decline.attrs.to) : null;
    if (!to) throw new StanzaError('jid-malformed', 'a decline needs a valid to address', 'modify');
    const message = new Element('message', { from: this.jid, to: to.toString() });
    const forwarded = message.c('x', { xmlns: NS_MUC_USER }).c('decline', { from: from.bareString() });
    const reason = decline.getChildText('reason');
    if (reason) forwarded.c('reason').t(reason);
    this.host.send(message);
  }

  /** §7.13 a visitor asks for voice; §8.6 a moderator answers with the same form. */
  private voiceRequest(form: Element, occupant: Occupant | undefined): void {
    if (!occupant) throw new StanzaError('not-acceptable', 'you are not in this room', 'cancel');
    if (form.attrs.type === 'submit' && occupant.role === 'moderator' && form.getChildren('field').some((f) => f.attrs.var === 'muc#request_allow')) {
      const submitted = readSubmittedForm(form);
      if (parseBoolean(submitted.fields.get('muc#request_allow')?.[0]) !== true) return;
      const nick = submitted.fields.get('muc#roomnick')?.[0];
      const target = nick !== undefined ? this.occupants.get(nick) : undefined;
      if (target && target.role === 'visitor') this.setRole(target, 'participant', occupant.nick, '');
      return;
    }
    if (!this.config.voiceRequests) throw new StanzaError('forbidden', 'this room takes no voice requests', 'auth');
    if (occupant.role !== 'visitor') return;
    const request = formElement('form', NS_MUC_REQUEST, [
      { var: 'muc#role', type: 'list-single', label: 'Requested role', values: ['participant'], options: ['participant'] },
      { var: 'muc#jid', type: 'jid-single', label: 'User', values: [occupant.bare] },
      { var: 'muc#roomnick', type: 'text-single', label: 'Nickname', values: [occupant.nick] },
      { var: 'muc#request_allow', type: 'boolean', label: 'Grant voice?', values: ['false'] },
    ]);
    for (const moderator of this.occupants.values()) {
      if (moderator.role !== 'moderator') continue;
      for (const session of moderator.sessions.keys()) {
        const message = new Element('message', { from: this.jid, to: session });
        message.cnode(request);
        this.host.send(message);
      }
    }
  }

  // ---- history and subject on entering (§7.2.14–§7.2.16) ----

  private sendHistory(to: string, muc: Element | undefined): void {
    const request = parseHistoryRequest(muc?.getChild('history'));
    let entries = this.history;
    const limit = Math.min(request.maxStanzas ?? this.config.historyLength, this.config.historyLength);
    if (entries.length > limit) entries = entries.slice(entries.length - limit);
    const since = request.since?.getTime() ?? (request.seconds !== undefined ? Date.now() - request.seconds * 1000 : undefined);
    if (since !== undefined) entries = entries.filter((e) => e.at.getTime() >= since);
    if (request.maxChars !== undefined) {
      // §7.2.15: characters of the messages as the room keeps them (their XML).
      let chars = 0;
      let first = entries.length;
      while (first > 0 && chars + entries[first - 1]!.xml.length <= request.maxChars) chars += entries[--first]!.xml.length;
      entries = entries.slice(first);
    }
    for (const entry of entries) {
      const message = this.host.parse(entry.xml);
      if (!message) continue;
      message.attrs.to = to;
      message.cnode(delayElement(this.jid, entry.at));
      this.host.send(message);
    }
  }

  private sendSubject(to: string): void {
    const from = this.subject.nick !== '' ? `${this.jid}/${this.subject.nick}` : this.jid;
    const message = new Element('message', { from, to, type: 'groupchat' });
    message.c('subject').t(this.subject.text);
    if (this.subject.occupantId !== '') message.cnode(occupantIdElement(this.subject.occupantId));
    if (this.subject.at) message.cnode(delayElement(this.jid, this.subject.at));
    this.host.send(message);
  }

  // ---- iq (§6.3 info, §7.10 register, §9 admin, §10 owner; XEP-0410; XEP-0313) ----

  private iq(stanza: Element, from: Jid, nick: string): void {
    const type = stanza.attrs.type;
    const payload = stanza.children.find((c): c is Element => typeof c !== 'string');
    if (nick !== '') return this.iqToOccupant(stanza, from, nick, type, payload);
    if (type !== 'get' && type !== 'set') return;
    if (!payload) throw new StanzaError('bad-request');
    const ns = payload.attrs.xmlns;
    const answer = (work: Element | null | Promise<Element | null>) => {
      if (work instanceof Promise) {
        work.then((result) => this.host.send(iqResult(stanza, result)), (err: unknown) => this.bounce(stanza, asStanzaError(err, this.host.log)));
      } else {
        this.host.send(iqResult(stanza, work));
      }
    };
    if (type === 'get' && ns === NS_DISCO_INFO) return answer(this.discoInfo(from, payload.attrs.node));
    if (type === 'get' && ns === NS_DISCO_ITEMS) return answer(new Element('query', { xmlns: NS_DISCO_ITEMS }));
    if (type === 'get' && ns === NS_PING) return answer(null);
    if (ns === NS_MUC_ADMIN) return answer(type === 'get' ? this.adminGet(from, payload) : this.adminSet(from, payload));
    if (ns === NS_MUC_OWNER) return answer(type === 'get' ? this.ownerGet(from) : this.ownerSet(from, payload));
    if (ns === NS_REGISTER) return answer(type === 'get' ? this.registerGet(from) : this.registerSet(from, payload));
    if (ns === NS_MAM && type === 'set' && payload.name === 'query') return answer(this.archiveQuery(from, payload));
    throw new StanzaError('service-unavailable', undefined, 'cancel');
  }

  private iqToOccupant(stanza: Element, from: Jid, nick: string, type: string | undefined, payload: Element | undefined): void {
    // Answers to relayed requests are matched by the service (RoomHost.relayIq), never by the room.
    if (type !== 'get' && type !== 'set') return;
    const sender = this.bySession.get(from.toString());
    // XEP-0410 §3: whoever is not in the room learns so from not-acceptable; a ping to one's
    // own nickname is answered by the room itself.
    if (!sender) throw new StanzaError('not-acceptable', 'you are not in this room', 'cancel');
    if (payload?.attrs.xmlns === NS_PING && sender.nick === nick) {
      this.host.send(iqResult(stanza));
      return;
    }
    const target = this.occupants.get(nick);
    if (!target) throw new StanzaError('item-not-found', 'nobody in the room has that nickname', 'cancel');
    // vCard requests go to the occupant's bare JID, which its server answers (XEP-0054 §3.2).
    const to = payload?.attrs.xmlns === NS_VCARD ? target.bare : realJid(target, '');
    this.host.relayIq(stanza, `${this.jid}/${sender.nick}`, to);
  }


  private discoInfo(from: Jid, node: string | undefined): Element {
    if (node === 'x-roomuser-item') {
      // §7.12: the asker's reserved nickname, if any.
      const entry = this.affiliations.get(from.bareString());
      const query = new Element('query', { xmlns: NS_DISCO_INFO, node });
      if (entry?.nick) query.c('identity', { category: 'conference', type: 'text', name: entry.nick });
      return query;
    }
    if (node !== undefined) throw new StanzaError('item-not-found');
    const c = this.config;
    const features = [
      NS_MUC, NS_MUC_STABLE_ID, NS_MUC_SELF_PING, NS_MUC_REQUEST, NS_REGISTER, NS_DISCO_INFO, NS_DISCO_ITEMS, NS_SID, NS_OCCUPANT_ID, NS_PING,
      c.persistent ? 'muc_persistent' : 'muc_temporary',
      c.public ? 'muc_public' : 'muc_hidden',
      c.membersOnly ? 'muc_membersonly' : 'muc_open',
      c.moderated ? 'muc_moderated' : 'muc_unmoderated',
      c.whois === 'anyone' ? 'muc_nonanonymous' : 'muc_semianonymous',
      c.password !== '' ? 'muc_passwordprotected' : 'muc_unsecured',
    ];
    if (c.archive) features.push(NS_MAM);
    const info = formElement('result', NS_MUC_ROOMINFO, [
      { var: 'muc#roominfo_description', label: 'Description', values: [c.description] },
      { var: 'muc#roominfo_occupants', label: 'Number of occupants', values: [String(this.occupants.size)] },
      { var: 'muc#roominfo_subject', label: 'Subject', values: [this.subject.text] },
      { var: 'muc#roominfo_lang', label: 'Language', values: [c.language] },
      { var: 'muc#roomconfig_roomname', label: 'Name', values: [c.name] },
      { var: 'muc#roomconfig_changesubject', label: 'Participants may change the subject', values: [c.changeSubject ? '1' : '0'] },
      { var: 'muc#maxhistoryfetch', label: 'Messages of history', values: [String(c.historyLength)] },
    ]);
    return discoInfoElement(undefined, [{ category: 'conference', type: 'text', name: c.name || this.name }], features.sort(), [info]);
  }

  private archiveQuery(from: Jid, payload: Element): Promise<Element> {
    // A room archive is readable by whoever may read the room: in a members-only room its
    // members; else anyone but outcasts.
    const affiliation = this.affiliationOf(from);
    if (!this.config.archive) throw new StanzaError('service-unavailable', 'this room keeps no archive', 'cancel');
    if (affiliation === 'outcast') throw new StanzaError('forbidden', 'you are banned from this room', 'auth');
    if (this.config.membersOnly && AFFILIATION_RANK[affiliation] < AFFILIATION_RANK.member) throw new StanzaError('forbidden', 'only members may read this room’s archive', 'auth');
    return this.host.queryArchive(this, from, payload);
  }

  // ---- §9 moderator and admin use cases ----

  private adminGet(from: Jid, payload: Element): Element {
    const requester = this.affiliationOf(from);
    const item = payload.getChild('item');
    if (!item) throw new StanzaError('bad-request', 'say which list', 'modify');
    const query = new Element('query', { xmlns: NS_MUC_ADMIN });
    const affiliation = item.attrs.affiliation;
    const role = item.attrs.role;
    if (affiliation !== undefined) {
      if (!isAffiliation(affiliation) || affiliation === 'none') throw new StanzaError('bad-request', 'unknown affiliation', 'modify');
      // §9.2, §9.5: admins see the ban and member lists (§7.11: members too see the member list
      // of a members-only room); §10.5, §10.8: owners the owner and admin lists.
      const needed = affiliation === 'owner' || affiliation === 'admin' ? 'owner' : affiliation === 'member' && this.config.membersOnly ? 'member' : 'admin';
      if (AFFILIATION_RANK[requester] < AFFILIATION_RANK[needed]) throw new StanzaError('forbidden', `only ${needed}s see the ${affiliation} list`, 'auth');
      for (const [jid, entry] of this.affiliations) {
        if (entry.affiliation === affiliation) query.c('item', { affiliation, jid, nick: entry.nick ?? undefined });
      }
      return query;
    }
    if (role === 'moderator' || role === 'participant' || role === 'visitor') {
      const asker = this.bySession.get(from.toString());
      if (!asker || asker.role !== 'moderator') throw new StanzaError('forbidden', 'only moderators see role lists', 'auth');
      for (const occupant of this.occupants.values()) {
        if (occupant.role === role) query.c('item', { role, nick: occupant.nick, affiliation: this.affiliationOfBare(occupant.bare), jid: occupant.bare });
      }
      return query;
    }
    throw new StanzaError('bad-request', 'say which list', 'modify');
  }

  private adminSet(from: Jid, payload: Element): null {
    const items = payload.getChildren('item');
    if (items.length === 0) throw new StanzaError('bad-request', 'no item', 'modify');
    const requesterAffiliation = this.affiliationOf(from);
    const requester = this.bySession.get(from.toString());
    // Every item is checked before any is applied: all or nothing.
    const changes: Array<() => void> = [];
    for (const item of items) {
      const reason = item.getChildText('reason') ?? '';
      if (item.attrs.role !== undefined) {
        const role = item.attrs.role;
        if (!isRole(role)) throw new StanzaError('bad-request', 'unknown role', 'modify');
        const target = item.attrs.nick !== undefined ? this.occupants.get(item.attrs.nick) : undefined;
        if (!target) throw new StanzaError('item-not-found', 'nobody in the room has that nickname', 'cancel');
        this.checkRoleChange(requester, requesterAffiliation, target, role);
        changes.push(() => this.setRole(target, role, requester?.nick, reason));
      } else if (item.attrs.affiliation !== undefined) {
        const affiliation = item.attrs.affiliation;
        if (!isAffiliation(affiliation)) throw new StanzaError('bad-request', 'unknown affiliation', 'modify');
        // §9.3: an occupant may be named by its nickname instead of its JID.
        const byNick = item.attrs.jid === undefined && item.attrs.nick !== undefined ? this.occupants.get(item.attrs.nick) : undefined;
        if (item.attrs.jid === undefined && item.attrs.nick !== undefined && !byNick) throw new StanzaError('item-not-found', 'nobody in the room has that nickname', 'cancel');
        const target = byNick ? tryParseJid(byNick.bare) : item.attrs.jid !== undefined ? tryParseJid(item.attrs.jid) : null;
        if (!target || target.resource !== '') throw new StanzaError('jid-malformed', 'an affiliation is for a bare JID or a domain', 'modify');
        const jid = target.toString();
        this.checkAffiliationChange(requesterAffiliation, jid, affiliation, from.bareString());
        changes.push(() => this.changeAffiliation(jid, affiliation, reason, requester));
      } else {
        throw new StanzaError('bad-request', 'an item names a role or an affiliation', 'modify');
      }
    }
    for (const change of changes) change();
    return null;
  }

  /** §8.2–§8.5, §9.6, §9.7: who may change whose role. */
  private checkRoleChange(requester: Occupant | undefined, requesterAffiliation: Affiliation, target: Occupant, role: Role): void {
    if (!requester || requester.role !== 'moderator') throw new StanzaError('forbidden', 'only moderators change roles', 'auth');
    const targetAffiliation = this.affiliationOfBare(target.bare);
    if (role === 'moderator' || target.role === 'moderator') {
      // Granting or revoking moderation is for admins and owners.
      if (AFFILIATION_RANK[requesterAffiliation] < AFFILIATION_RANK.admin) throw new StanzaError('not-allowed', 'only admins and owners change moderators', 'cancel');
    }
    if (role !== 'moderator' && AFFILIATION_RANK[targetAffiliation] >= AFFILIATION_RANK.admin) {
      // §8.2, §8.4: an admin or owner cannot be kicked or silenced.
      throw new StanzaError('not-allowed', 'admins and owners keep their role', 'cancel');
    }
  }

  /** §9.1–§9.5, §10.3–§10.8: who may change whose affiliation. */
  private checkAffiliationChange(requester: Affiliation, jid: string, affiliation: Affiliation, self: string): void {
    const current = this.affiliationOfBare(jid);
    if (AFFILIATION_RANK[requester] < AFFILIATION_RANK.admin) throw new StanzaError('forbidden', 'only admins and owners change affiliations', 'auth');
    if (requester !== 'owner') {
      // §10.3, §10.6: only owners grant ownership or administration; §9.1, §9.4: an admin
      // cannot ban or demote an owner or another admin.
      if (affiliation === 'owner' || affiliation === 'admin') throw new StanzaError('forbidden', 'only owners grant owner or admin status', 'auth');
      if (current === 'owner' || current === 'admin') throw new StanzaError('not-allowed', 'only owners change owners and admins', 'cancel');
    }
    if (current === 'owner' && affiliation !== 'owner') {
      // §10.4, §10.5: a room always keeps an owner.
      let owners = 0;
      for (const entry of this.affiliations.values()) if (entry.affiliation === 'owner') owners++;
      if (owners <= 1) throw new StanzaError('conflict', 'the room would have no owner left', 'cancel');
    }
    if (affiliation === 'outcast' && jid === self) throw new StanzaError('conflict', 'you cannot ban yourself', 'cancel');
  }

  private setRole(target: Occupant, role: Role, actor: string | undefined, reason: string): void {
    if (role === 'none') {
      // §8.2 kick: 307 to everyone.
      this.removeOccupant(target, [307], { actor, reason });
      return;
    }
    target.role = role;
    this.broadcastPresence(target, [], { actor, reason });
  }

  private changeAffiliation(jid: string, affiliation: Affiliation, reason: string, actor: Occupant | undefined): void {
    const previous = this.affiliations.get(jid);
    if (affiliation === 'none') this.affiliations.delete(jid);
    else this.affiliations.set(jid, { affiliation, nick: affiliation === 'outcast' ? null : previous?.nick ?? null, reason });
    const entry = this.affiliations.get(jid);
    this.write(() => this.host.store.setAffiliation(this.domain, this.name, jid, entry ?? null));
    for (const occupant of [...this.occupants.values()]) {
      if (occupant.bare !== jid && domainOf(occupant.bare) !== jid) continue;
      const now = this.affiliationOfBare(occupant.bare);
      if (now === 'outcast') {
        this.removeOccupant(occupant, [301], { actor: actor?.nick, reason, affiliation: 'outcast' });
      } else if (this.config.membersOnly && now === 'none') {
        this.removeOccupant(occupant, [321], { actor: actor?.nick, reason, affiliation: 'none' });
      } else {
        occupant.role = this.defaultRole(now, occupant.role);
        this.broadcastPresence(occupant, [], { actor: actor?.nick, reason });
      }
    }
  }

  // ---- §10 owner use cases ----

  private ownerGet(from: Jid): Element {
    if (this.affiliationOf(from) !== 'owner') throw new StanzaError('forbidden', 'only owners configure the room', 'auth');
    const query = new Element('query', { xmlns: NS_MUC_OWNER });
    query.cnode(roomConfigForm(this.config, this.jidsWith('owner'), this.jidsWith('admin'), this.host.limits));
    return query;
  }

  private ownerSet(from: Jid, payload: Element): null {
    if (this.affiliationOf(from) !== 'owner') throw new StanzaError('forbidden', 'only owners configure or destroy the room', 'auth');
    const destroy = payload.getChild('destroy');
    if (destroy) {
      const alternate = destroy.attrs.jid !== undefined ? tryParseJid(destroy.attrs.jid) : undefined;
      if (alternate === null) throw new StanzaError('jid-malformed', 'the alternate venue is not a valid JID', 'modify');
      this.destroy(destroy.getChildText('reason') ?? '', alternate?.toString());
      return null;
    }
    const x = payload.getChild('x', NS_DATA);
    if (!x) throw new StanzaError('bad-request', 'a configuration form or a destroy request', 'modify');
    if (x.attrs.type === 'cancel') {
      // §10.1.3: cancelling the configuration of a new room destroys it.
      if (this.locked) this.destroy('', undefined);
      return null;
    }
    const submitted = applyRoomConfigForm(x, this.config, this.host.limits);
    // An empty owner list leaves the owners as they are: a room keeps an owner (§10.4), and a
    // client that sends the field without values did not mean to remove them all.
    const owners = submitted.owners?.length ? submitted.owners.map((j) => normaliseBare(j)) : undefined;
    const admins = submitted.admins?.map((j) => normaliseBare(j));
    this.applyConfig(submitted.config, owners, admins);
    return null;
  }

  private applyConfig(next: RoomConfig, owners: string[] | undefined, admins: string[] | undefined): void {
    const before = this.config;
    const wasLocked = this.locked;
    this.config = next;
    this.locked = false;
    this.write(() => this.host.store.setConfig(this.domain, this.name, serializeRoomConfig(next)));
    if (owners) this.replaceList('owner', owners);
    if (admins) this.replaceList('admin', admins);
    if (!wasLocked) {
      // §10.2.1: occupants learn of the change (104, and what it means for their privacy).
      const codes: StatusCode[] = [104];
      if (before.whois !== next.whois) codes.push(next.whois === 'anyone' ? 172 : 173);
      if (before.archive !== next.archive) codes.push(next.archive ? 170 : 171);
      const notice = new Element('message', { from: this.jid, type: 'groupchat' });
      const x = notice.c('x', { xmlns: NS_MUC_USER });
      for (const code of codes) x.c('status', { code: String(code) });
      this.toEveryone(notice);
    }
    if (next.membersOnly && !before.membersOnly) {
      // Status 322: non-members leave a room that became members-only.
      for (const occupant of [...this.occupants.values()]) {
        if (AFFILIATION_RANK[this.affiliationOfBare(occupant.bare)] < AFFILIATION_RANK.member) this.removeOccupant(occupant, [322], {});
      }
    }
    if (next.moderated !== before.moderated) {
      for (const occupant of this.occupants.values()) {
        const role = this.defaultRole(this.affiliationOfBare(occupant.bare), occupant.role === 'moderator' ? 'moderator' : undefined);
        if (role !== occupant.role) {
          occupant.role = role;
          this.broadcastPresence(occupant, []);
        }
      }
    }
    this.maybeEnd();
  }

  /** The owners (admins) become exactly `jids`; whoever else had that affiliation loses it. */
  private replaceList(affiliation: 'owner' | 'admin', jids: string[]): void {
    const wanted = new Set(jids);
    for (const [jid, entry] of [...this.affiliations]) {
      if (entry.affiliation === affiliation && !wanted.has(jid)) this.changeAffiliation(jid, 'none', '', undefined);
    }
    for (const jid of wanted) {
      if (this.affiliations.get(jid)?.affiliation !== affiliation) this.changeAffiliation(jid, affiliation, '', undefined);
    }
  }

  private destroy(reason: string, alternate: string | undefined): void {
    // §10.9: every occupant is told, with the alternate venue if there is one.
    const destroy = new Element('destroy', alternate !== undefined ? { jid: alternate } : {});
    if (reason) destroy.c('reason').t(reason);
    for (const occupant of [...this.occupants.values()]) {
      this.removeOccupant(occupant, [], { destroy, affiliation: 'none', role: 'none' });
    }
    this.end(true);
  }

  // ---- §7.10 registration ----

  private registerGet(from: Jid): Element {
    const affiliation = this.affiliationOf(from);
    if (affiliation === 'outcast') throw new StanzaError('forbidden', 'you are banned from this room', 'auth');
    const query = new Element('query', { xmlns: NS_REGISTER });
    const entry = this.affiliations.get(from.bareString());
    if (entry?.nick) {
      query.c('registered');
      query.c('username').t(entry.nick);
      return query;
    }
    query.c('instructions').t('Reserve a nickname in this room; you become a member.');
    query.cnode(formElement('form', NS_MUC_REGISTER, [{ var: 'muc#register_roomnick', type: 'text-single', label: 'Nickname', values: [] }]));
    return query;
  }

  private registerSet(from: Jid, payload: Element): null {
    const bare = from.bareString();
    const affiliation = this.affiliationOf(from);
    if (affiliation === 'outcast') throw new StanzaError('forbidden', 'you are banned from this room', 'auth');
    if (payload.getChild('remove')) {
      const entry = this.affiliations.get(bare);
      if (!entry) throw new StanzaError('item-not-found', 'you are not registered here', 'cancel');
      if (entry.affiliation === 'member') this.changeAffiliation(bare, 'none', '', undefined);
      else this.setReservedNick(bare, entry, null);
      return null;
    }
    if (this.config.membersOnly && AFFILIATION_RANK[affiliation] < AFFILIATION_RANK.member) {
      throw new StanzaError('registration-required', 'only members register in this room', 'auth');
    }
    const x = payload.getChild('x', NS_DATA);
    if (!x) throw new StanzaError('bad-request', 'a muc#register form', 'modify');
    const form = readSubmittedForm(x);
    const requested = form.fields.get('muc#register_roomnick')?.[0]?.trim() ?? '';
    const nickJid = requested !== '' ? tryParseJid(`${this.jid}/${requested}`) : null;
    if (!nickJid) throw new StanzaError('not-acceptable', 'muc#register_roomnick must be a valid nickname', 'modify');
    const nick = nickJid.resource;
    const owner = this.nickOwner(nick);
    const inUse = this.occupants.get(nick);
    if ((owner !== null && owner !== bare) || (inUse && inUse.bare !== bare)) throw new StanzaError('conflict', 'that nickname is taken', 'cancel');
    const entry = this.affiliations.get(bare);
    if (entry) this.setReservedNick(bare, entry, nick);
    else {
      this.changeAffiliation(bare, 'member', '', undefined);
      this.setReservedNick(bare, this.affiliations.get(bare)!, nick);
    }
    return null;
  }

  private setReservedNick(jid: string, entry: AffiliationEntry, nick: string | null): void {
    entry.nick = nick;
    const record = { ...entry };
    this.write(() => this.host.store.setAffiliation(this.domain, this.name, jid, record));
  }

  // ---- helpers ----

  private affiliationOf(jid: Jid): Affiliation {
    if (jid.local === '' && this.host.isAuthority(jid)) return 'owner';
    return this.affiliationOfBare(jid.bareString());
  }

  /** A JID's own affiliation, else its domain's (a whole server may be banned, §9.1). */
  private affiliationOfBare(bare: string): Affiliation {
    const own = this.affiliations.get(bare)?.affiliation;
    if (own !== undefined) return own;
    return this.affiliations.get(domainOf(bare))?.affiliation ?? 'none';
  }

  /** §5.1: the role an affiliation enters with (or keeps, when it stays allowed). */
  private defaultRole(affiliation: Affiliation, current?: Role): Role {
    if (affiliation === 'owner' || affiliation === 'admin') return 'moderator';
    if (current === 'moderator') return 'moderator';
    if (this.config.moderated && affiliation === 'none') return current === 'participant' ? 'participant' : 'visitor';
    return 'participant';
  }

  private nickOwner(nick: string): string | null {
    for (const [jid, entry] of this.affiliations) if (entry.nick === nick) return jid;
    return null;
  }

  private jidsWith(affiliation: Affiliation): string[] {
    return [...this.affiliations].filter(([, e]) => e.affiliation === affiliation).map(([jid]) => jid);
  }

  private write(operation: () => Promise<unknown>): void {
    this.writes = this.writes.then(operation).catch((err: unknown) => this.host.log.error({ err, room: this.jid }, 'storing a room change failed'));
  }

  /** Resolves once what the room has stored so far is written (tests, shutdown). */
  settled(): Promise<unknown> {
    return this.writes;
  }

  private bounce(stanza: Element, error: StanzaError): void {
    const type = stanza.attrs.type;
    if (type === 'error' || type === 'result') return;
    this.host.send(errorReply(stanza, error));
  }
}

interface PresenceDetails {
  type?: 'unavailable';
  nick?: string;
  actor?: string;
  reason?: string;
  payload?: Element;
  role?: Role;
  affiliation?: Affiliation;
  destroy?: Element;
}

function latestPresence(occupant: Occupant): Element | undefined {
  let last: Element | undefined;
  for (const presence of occupant.sessions.values()) last = presence;
  return last;
}

/** The real JID shown for an occupant: the recipient's own resource to itself, else its first resource. */
function realJid(occupant: Occupant, to: string): string {
  if (occupant.sessions.has(to)) return to;
  for (const key of occupant.sessions.keys()) return key;
  return occupant.bare;
}

function domainOf(bare: string): string {
  const at = bare.indexOf('@');
  return at < 0 ? bare : bare.slice(at + 1);
}

function normaliseBare(text: string): string {
  const jid = tryParseJid(text);
  if (!jid || jid.resource !== '') throw new StanzaError('jid-malformed', `${text} is not a bare JID`, 'modify');
  return jid.toString();
}

function isAffiliation(value: string): value is Affiliation {
  return value === 'owner' || value === 'admin' || value === 'member' || value === 'outcast' || value === 'none';
}

function isRole(value: string): value is Role {
  return value === 'moderator' || value === 'participant' || value === 'visitor' || value === 'none';
}

function formTypeOf(form: Element): string | null {
  for (const field of form.getChildren('field')) {
    if (field.attrs.var === 'FORM_TYPE') return field.getChildText('value')?.trim() ?? null;
  }
  return null;
}

/** Errors that mean the occupant's resource is no longer there (RFC 6120 §8.3.3). */
function isGoneError(stanza: Element): boolean {
  const error = stanza.getChild('error');
  if (!error) return false;
  return error.children.some((c) => typeof c !== 'string' && (c.name === 'service-unavailable' || c.name === 'recipient-unavailable'
    || c.name === 'item-not-found' || c.name === 'remote-server-not-found' || c.name === 'remote-server-timeout' || c.name === 'gone'));
}

function parseHistoryRequest(history: Element | undefined): HistoryRequest {
  const request: HistoryRequest = {};
  if (!history) return request;
  const count = (name: string): number | undefined => {
    const value = history.attrs[name];
    if (value === undefined || !/^\d{1,9}$/.test(value)) return undefined;
    return Number(value);
  };
  request.maxStanzas = count('maxstanzas');
  request.maxChars = count('maxchars');
  request.seconds = count('seconds');
  const since = history.attrs.since !== undefined ? new Date(history.attrs.since) : null;
  if (since && !Number.isNaN(since.getTime())) request.since = since;
  return request;
}

function asStanzaError(err: unknown, log: Logger): StanzaError {
  if (err instanceof StanzaError) return err;
  log.error({ err }, 'a room request failed');
  return new StanzaError('internal-server-error');
}
