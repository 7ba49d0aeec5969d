// Group chat (XEP-0045) as a user's client does it, and what each occupant must see, for
// rooms on any server (Hearth's conference.<domain>, Prosody's mod_muc). Only the protocol
// is assumed: occupant JIDs room@service/nick, the muc#user <x/> with its <item/> and
// status codes (§15.6), reflection of groupchat messages (§7.4), private messages (§7.5).
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { REMOTE_MS } from './flows.js';
import { xml, type Element, type User } from './xmpp.js';

export const NS_MUC = 'http://jabber.org/protocol/muc';
export const NS_MUC_USER = 'http://jabber.org/protocol/muc#user';
export const NS_MUC_OWNER = 'http://jabber.org/protocol/muc#owner';
const NS_DATA = 'jabber:x:data';
const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';

/** A user in a room under a nickname. */
export interface Seat {
  user: User;
  room: string;
  nick: string;
}

export const occupantJid = (seat: Pick<Seat, 'room' | 'nick'>): string => `${seat.room}/${seat.nick}`;

/** The muc#user <x/> of a presence or message, read: its item and status codes. */
export interface MucUser {
  affiliation?: string;
  role?: string;
  jid?: string;
  nick?: string;
  statuses: number[];
}

export function mucUser(el: Element): MucUser | null {
  const x = el.getChild('x', NS_MUC_USER);
  if (!x) return null;
  const item = x.getChild('item');
  const info: MucUser = { statuses: x.getChildren('status').map((s) => Number(s.attrs.code)) };
  for (const key of ['affiliation', 'role', 'jid', 'nick'] as const) {
    if (item?.attrs[key] !== undefined) info[key] = item.attrs[key] as string;
  }
  return info;
}

/** Presence from an occupant JID (available unless type is given), with a muc#user <x/>. */
export function isOccupantPresence(occupant: string, type?: 'unavailable', status?: number) {
  return (el: Element) => {
    if (!el.is('presence') || el.attrs.from !== occupant || (el.attrs.type ?? undefined) !== type) return false;
    const info = mucUser(el);
    return info !== null && (status === undefined || info.statuses.includes(status));
  };
}

export function isGroupchat(from: string, body: string) {
  return (el: Element) => el.is('message') && el.attrs.type === 'groupchat' && el.attrs.from === from && el.getChildText('body') === body;
}

/**
 * Enters the room (§7.2.1: presence to room/nick with the muc <x/>) and returns the
 * presence the room sends about the user itself: the one with status 110 (§7.2.3).
 */
export async function enterRoom(user: User, room: string, nick: string, ms = REMOTE_MS): Promise<{ seat: Seat; self: Element }> {
  const seat = { user, room, nick };
  await user.xmpp.send(xml('presence', { to: occupantJid(seat) }, xml('x', { xmlns: NS_MUC })));
  const self = await user.inbox.take(isOccupantPresence(occupantJid(seat), undefined, 110), ms, `${user.jid}: own presence (110) in ${room} as ${nick}`);
  return { seat, self };
}

/**
 * Creates a room (§10.1.1: 201 on the creator's own presence) and accepts the default
 * configuration as an instant room (§10.1.2: an empty submitted form), unlocking it.
 */
export async function createInstantRoom(user: User, room: string, nick: string, ms = REMOTE_MS): Promise<{ seat: Seat; self: Element }> {
  const entered = await enterRoom(user, room, nick, ms);
  const info = mucUser(entered.self)!;
  expect(info.statuses, `${room} was created by ${user.jid} (201): ${entered.self.toString()}`).to.include(201);
  expect(info.affiliation, 'the creator owns the room').to.equal('owner');
  expect(info.role, 'the creator moderates the room').to.equal('moderator');
  const result = await user.xmpp.iqCaller.request(
    xml('iq', { type: 'set', to: room }, xml('query', { xmlns: NS_MUC_OWNER }, xml('x', { xmlns: NS_DATA, type: 'submit' }))),
    ms,
  );
  expect(result.attrs.type, 'the instant room is accepted').to.equal('result');
  return entered;
}

/**
 * The sender says something in the room (§7.4); every seat receives it from the sender's
 * occupant JID, the sender's own copy (its reflection) included, with the sender's id.
 */
export async function groupchatSeen(sender: Seat, everyone: Seat[], ms = REMOTE_MS): Promise<string> {
  const body = `${sender.nick} to ${sender.room}: ${randomUUID()}`;
  const id = randomUUID();
  await sender.user.xmpp.send(xml('message', { to: sender.room, type: 'groupchat', id }, xml('body', {}, body)));
  for (const seat of everyone) {
    const got = await seat.user.inbox.take(isGroupchat(occupantJid(sender), body), ms, `${seat.user.jid}: groupchat from ${sender.nick} in ${sender.room}`);
    expect(got.attrs.to, `addressed to ${seat.user.jid}'s resource in the room`).to.equal(seat.user.fullJid);
    if (seat.user === sender.user) expect(got.attrs.id, 'the reflection keeps the sender’s id').to.equal(id);
  }
  return body;
}

/**
 * A private message (§7.5): type chat to the recipient's occupant JID; the recipient gets it
 * from the sender's occupant JID at its real JID, with a muc#user <x/> that tells it from
 * a direct message.
 */
export async function privateMessageSeen(sender: Seat, recipient: Seat, ms = REMOTE_MS): Promise<Element> {
  const body = `private from ${sender.nick} to ${recipient.nick}: ${randomUUID()}`;
  await sender.user.xmpp.send(xml('message', { to: occupantJid(recipient), type: 'chat', id: randomUUID() }, xml('body', {}, body)));
  const got = await recipient.user.inbox.take(
    (el) => el.is('message') && el.attrs.from === occupantJid(sender) && el.getChildText('body') === body,
    ms,
    `${recipient.user.jid}: private message from ${sender.nick} in ${sender.room}`,
  );
  expect(got.attrs.type, 'a private message stays of type chat').to.equal('chat');
  expect(got.attrs.to, 'delivered to the recipient’s real full JID').to.equal(recipient.user.fullJid);
  expect(got.getChild('x', NS_MUC_USER), `a muc#user <x/> on ${got.toString()}`).to.not.equal(undefined);
  return got;
}

/** The occupant count the room reports in its disco#info (§6.4, muc#roominfo_occupants). */
export async function occupantCount(user: User, room: string, ms = REMOTE_MS): Promise<number | null> {
  const info = await user.xmpp.iqCaller.request(xml('iq', { type: 'get', to: room }, xml('query', { xmlns: NS_DISCO_INFO })), ms);
  for (const form of info.getChild('query', NS_DISCO_INFO)?.getChildren('x', NS_DATA) ?? []) {
    for (const field of form.getChildren('field')) {
      if (field.attrs.var === 'muc#roominfo_occupants') return Number(field.getChildText('value'));
    }
  }
  return null;
}
