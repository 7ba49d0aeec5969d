// The stanzas a room builds (XEP-0045 §7, §9, §10): occupant presence with its muc#user item
// and status codes, and the small elements several handlers share.
import { Element } from 'ltx';
import { NS_DELAY, NS_MUC_USER } from '../../core/namespaces.js';
import type { Affiliation, Role } from './room-config.js';

export const NS_MUC = 'http://jabber.org/protocol/muc';
export const NS_MUC_ADMIN = 'http://jabber.org/protocol/muc#admin';
export const NS_MUC_OWNER = 'http://jabber.org/protocol/muc#owner';
export const NS_MUC_REQUEST = 'http://jabber.org/protocol/muc#request';
export const NS_MUC_REGISTER = 'http://jabber.org/protocol/muc#register';
export const NS_MUC_ROOMINFO = 'http://jabber.org/protocol/muc#roominfo';
export const NS_MUC_STABLE_ID = 'http://jabber.org/protocol/muc#stable_id';
export const NS_MUC_SELF_PING = 'http://jabber.org/protocol/muc#self-ping-optimization';
export const NS_OCCUPANT_ID = 'urn:xmpp:occupant-id:0'; // XEP-0421
export { NS_MUC_USER };

/**
 * XEP-0045 §15.6 status codes, by meaning. 100: real JIDs are visible to anyone; 110: this
 * presence is the recipient's own; 170/171: the room is (not) archived; 201: a new room;
 * 210: the service changed the nickname; 301: banned; 303: new nickname; 307: kicked; 321:
 * removed by an affiliation change; 322: the room became members-only; 332: the service is
 * shutting down; 333: removed for technical reasons; 104: a configuration change; 172/173:
 * the room became non-anonymous / semi-anonymous.
 */
export type StatusCode = 100 | 104 | 110 | 170 | 171 | 172 | 173 | 201 | 210 | 301 | 303 | 307 | 321 | 322 | 332 | 333;

export interface ItemDetails {
  affiliation: Affiliation;
  role: Role;
  /** The occupant's real JID, for recipients allowed to see it. */
  jid?: string;
  /** §7.6: the new nickname (303). */
  nick?: string;
  /** §8.2, §9.1: who did it and why. */
  actor?: string;
  reason?: string;
}

/** The <x xmlns='…muc#user'> of an occupant's presence. */
export function userX(item: ItemDetails, statuses: readonly StatusCode[], extra?: Element): Element {
  const x = new Element('x', { xmlns: NS_MUC_USER });
  const el = x.c('item', { affiliation: item.affiliation, role: item.role, jid: item.jid, nick: item.nick });
  if (item.actor !== undefined) el.c('actor', { nick: item.actor });
  if (item.reason) el.c('reason').t(item.reason);
  if (extra) x.cnode(extra);
  for (const code of statuses) x.c('status', { code: String(code) });
  return x;
}

export function occupantIdElement(id: string): Element {
  return new Element('occupant-id', { xmlns: NS_OCCUPANT_ID, id });
}

export function delayElement(from: string, at: Date): Element {
  return new Element('delay', { xmlns: NS_DELAY, from, stamp: at.toISOString() });
}

/**
 * What of a client's presence the room passes on: everything but the MUC elements (the room
 * writes its own) and occupant ids (XEP-0421 §4: the room's own only).
 */
export function presencePayload(presence: Element): Array<Element | string> {
  return presence.children.filter((child) => {
    if (typeof child === 'string') return false;
    const ns = child.attrs.xmlns;
    return !(ns === NS_MUC || ns === NS_MUC_USER || ns === NS_OCCUPANT_ID);
  });
}
