// Roster administration (RFC 6121 §2 items, edited by an operator): list, add or replace,
// remove. Changes go through the RosterService, so the account's online resources get
// roster pushes (RFC 6121 §2.1.6). Only this account's roster changes; the contact is not
// sent any subscription stanza (an operator edits both rosters when both need it).
import { z } from 'zod';
import { tryParseJid } from '../core/jid.js';
import type { Subscription } from '../core/subscription.js';
import type { RosterItem } from '../storage/index.js';
import type { AccountService } from './accounts.js';
import { ServiceError } from './errors.js';
import type { RosterService } from './roster.js';
import { jidText, parseInput, xmlText } from './validation.js';

/** RFC 6121 §2.3.3 lets a server limit names; the roster module keeps the same limits. */
const MAX_NAME_BYTES = 1023;
const MAX_GROUPS = 100;

export const subscriptionState = z.enum(['none', 'to', 'from', 'both']);

export const rosterItemInput = z.strictObject({
  jid: jidText,
  name: xmlText(MAX_NAME_BYTES).optional(),
  groups: z
    .array(xmlText(MAX_NAME_BYTES).refine((g) => g !== '', 'a group name may not be empty'))
    .max(MAX_GROUPS)
    .refine((groups) => new Set(groups).size === groups.length, 'a group is named twice')
    .optional(),
  subscription: subscriptionState,
});

export const rosterRemoveInput = z.strictObject({ jid: jidText, contact: jidText });

/** A roster item as the admin API and the command line show it (contract.md). */
export interface RosterItemInfo {
  jid: string;
  name?: string;
  groups: string[];
  subscription: Subscription;
  /** RFC 6121 §2.1.2.2: the account asked for the contact's presence (Pending Out). */
  ask?: 'subscribe';
  /** RFC 6121 §3.4: the contact's subscription is pre-approved. */
  approved?: true;
}

export class RosterAdminService {
  constructor(
    private readonly rosters: RosterService,
    private readonly accounts: AccountService,
  ) {}

  async list(jidInput: unknown): Promise<{ version: number; items: RosterItemInfo[] }> {
    const account = await this.accounts.requireExisting(jidInput);
    const roster = await this.rosters.get(account);
    const items = [...roster.items.values()].map(describe);
    items.sort((a, b) => (a.jid < b.jid ? -1 : a.jid > b.jid ? 1 : 0));
    return { version: roster.version, items };
  }

  /** Adds the item, or replaces the one for the same contact. */
  async add(jidInput: unknown, itemInput: unknown): Promise<{ created: boolean; item: RosterItemInfo }> {
    const request = parseInput(rosterItemInput, itemInput);
    const account = await this.accounts.requireExisting(jidInput);
    const contactJid = tryParseJid(request.jid);
    if (!contactJid || contactJid.resource !== '') throw new ServiceError('invalid', `"${request.jid}" is not a bare JID`, 'jid');
    const contact = contactJid.toString();
    if (contact === account.bareString()) throw new ServiceError('invalid', 'an account cannot be its own contact', 'jid');

    return this.rosters.exclusive(account, async () => {
      const existing = await this.rosters.item(account, contact);
      if (!existing) {
        const roster = await this.rosters.get(account);
        if (roster.items.size >= this.rosters.maxItems) {
          throw new ServiceError('invalid', `a roster holds at most ${this.rosters.maxItems} items (limits.rosterItems)`, 'jid');
        }
      }
      const subscription = request.subscription;
      // RFC 6121 Appendix A: Pending Out only exists beside "none" and "from" (not yet
      // subscribed to the contact), pre-approval beside "none" and "to" (the contact not
      // yet subscribed to us). What the new state makes impossible is dropped.
      const item: RosterItem = {
        jid: contact,
        name: request.name ?? null,
        groups: request.groups ?? [],
        subscription,
        pendingOut: (existing?.pendingOut ?? false) && (subscription === 'none' || subscription === 'from'),
        approved: (existing?.approved ?? false) && (subscription === 'none' || subscription === 'to'),
      };
      await this.rosters.put(account, item);
      return { created: existing === null, item: describe(item) };
    });
  }

  async remove(input: unknown): Promise<{ jid: string; contact: string }> {
    const request = parseInput(rosterRemoveInput, input);
    const account = await this.accounts.requireExisting(request.jid);
    const contactJid = tryParseJid(request.contact);
    if (!contactJid || contactJid.resource !== '') throw new ServiceError('invalid', `"${request.contact}" is not a bare JID`, 'contact');
    const contact = contactJid.toString();
    const removed = await this.rosters.exclusive(account, () => this.rosters.remove(account, contact));
    if (removed === null) throw new ServiceError('not-found', `${contact} is not in the roster of ${account.toString()}`, 'contact');
    return { jid: account.toString(), contact };
  }
}

function describe(item: RosterItem): RosterItemInfo {
  const info: RosterItemInfo = { jid: item.jid, groups: [...item.groups], subscription: item.subscription };
  if (item.name !== null) info.name = item.name;
  if (item.pendingOut) info.ask = 'subscribe';
  if (item.approved) info.approved = true;
  return info;
}
