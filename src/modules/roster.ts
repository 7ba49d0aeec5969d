// RFC 6121 §2: roster management, with roster versioning (§2.6, XEP-0237 1.3).
import { Element } from 'ltx';
import { StanzaError } from '../core/errors.js';
import { tryParseJid, type Jid } from '../core/jid.js';
import { defineModule } from '../core/module.js';
import { NS_ROSTER, rosterItemElement } from '../services/roster.js';
import type { RosterItem } from '../storage/roster.js';

export const NS_ROSTER_VERSIONING = 'urn:xmpp:features:rosterver';

/** Bytes of a roster item name or group name we keep (RFC 6121 §2.3.3 allows a limit). */
const MAX_NAME_BYTES = 1023;
/** Groups per item. */
const MAX_GROUPS = 100;

/** Stanzas to the contact when an item is removed (RFC 6121 §2.5.2). */
function removalNotices(account: Jid, contact: string, item: RosterItem, pendingIn: boolean): Element[] {
  const from = account.bareString();
  const notices: Element[] = [];
  if (item.subscription === 'to' || item.subscription === 'both' || item.pendingOut) {
    notices.push(new Element('presence', { type: 'unsubscribe', from, to: contact }));
  }
  if (item.subscription === 'from' || item.subscription === 'both' || pendingIn) {
    notices.push(new Element('presence', { type: 'unsubscribed', from, to: contact }));
  }
  return notices;
}

function parseItem(query: Element): { jid: Jid; remove: boolean; name: string | null; groups: string[] } {
  const items = query.getChildElements();
  // §2.3.3: exactly one <item/>.
  if (items.length !== 1 || items[0]!.name !== 'item') throw new StanzaError('bad-request', 'a roster set carries exactly one item');
  const item = items[0]!;
  const jid = item.attrs.jid !== undefined ? tryParseJid(item.attrs.jid) : null;
  if (!jid) throw new StanzaError('bad-request', 'the item needs a valid jid');
  const name = item.attrs.name ?? null;
  if (name !== null && Buffer.byteLength(name) > MAX_NAME_BYTES) throw new StanzaError('not-acceptable', 'the name is too long');
  const groups: string[] = [];
  for (const child of item.getChildElements()) {
    if (child.name !== 'group') continue;
    const group = child.getText();
    // §2.3.3: an empty group name is not acceptable, a duplicate one a bad request.
    if (group === '') throw new StanzaError('not-acceptable', 'a group name may not be empty');
    if (Buffer.byteLength(group) > MAX_NAME_BYTES) throw new StanzaError('not-acceptable', 'a group name is too long');
    if (groups.includes(group)) throw new StanzaError('bad-request', `duplicate group "${group}"`);
    groups.push(group);
  }
  if (groups.length > MAX_GROUPS) throw new StanzaError('not-acceptable', 'too many groups');
  // §2.1.2.5: only subscription="remove" means anything in a set; other values are ignored.
  return { jid: jid.bare, remove: item.attrs.subscription === 'remove', name, groups };
}


export const rosterModule = defineModule({
  name: 'roster',
  implements: 'RFC 6121 §2 roster management, XEP-0237 Roster Versioning 1.3',
  setup(ctx) {
    ctx.streamFeatures.addAuthenticated(new Element('ver', { xmlns: NS_ROSTER_VERSIONING }));

    ctx.iq.register(`iq-get/bare/${NS_ROSTER}`, async ({ self, from, payload, origin }) => {
      // §2.1.3: a roster is its owner's business only.
      if (!self) throw new StanzaError('forbidden');
      const requester = origin.kind === 'c2s' ? origin.session : null;
      if (requester && !requester.rosterRequested) {
        requester.rosterRequested = true;
        void ctx.sessions.changed(requester);
      }
      const account = from.bare;
      const roster = await ctx.rosters.get(account);
      const current = String(roster.version);
      const known = payload.attrs.ver;
      if (known !== undefined && known !== '') {
        // §2.6.3: up to date → an empty result; a known older version → empty result + pushes.
        if (known === current) return null;
        const since = /^\d{1,15}$/.test(known) ? Number(known) : NaN;
        if (Number.isSafeInteger(since)) {
          const delta = await ctx.rosters.store.changesSince(account.local, account.domain, since);
          if (delta && requester) {
            // §2.6.3: the pushes follow the (empty) result, to the requesting resource only,
            // in order, each with the version it brought the roster to.
            setImmediate(() => {
              for (const change of delta.changes) {
                ctx.rosters.pushTo(requester, change.item ?? { jid: change.jid, remove: true }, change.version);
              }
            });
            return null;
          }
        }
      }
      const query = new Element('query', { xmlns: NS_ROSTER, ver: current });
      for (const item of roster.items.values()) query.cnode(rosterItemElement(item));
      return query;
    });

    ctx.iq.register(`iq-set/bare/${NS_ROSTER}`, async ({ self, from, payload }) => {
      // §2.3.3: only the account itself changes its roster.
      if (!self) throw new StanzaError('forbidden');
      const account = from.bare;
      const request = parseItem(payload);
      const contact = request.jid.toString();
      if (contact === account.bareString()) throw new StanzaError('not-allowed', 'an account cannot be its own contact');

      await ctx.rosters.exclusive(account, async () => {
        const existing = await ctx.rosters.item(account, contact);
        if (request.remove) {
          // §2.5.3: removing what is not there.
          if (!existing) throw new StanzaError('item-not-found');
          const pendingIn = await ctx.rosters.store.hasRequest(account.local, account.domain, contact);
          // §2.5.2: the subscriptions end with the item, and the contact is told.
          if (existing.subscription === 'from' || existing.subscription === 'both') {
            for (const s of ctx.sessions.ofAccount(account.bareString())) {
              if (s.available) ctx.router.send(new Element('presence', { type: 'unavailable', from: s.jid.toString(), to: contact }));
            }
          }
          if (pendingIn) await ctx.rosters.store.removeRequest(account.local, account.domain, contact);
          await ctx.rosters.remove(account, contact);
          for (const notice of removalNotices(account, contact, existing, pendingIn)) ctx.router.send(notice);
          return;
        }
        if (!existing) {
          const roster = await ctx.rosters.get(account);
          if (roster.items.size >= ctx.rosters.maxItems) throw new StanzaError('not-allowed', `a roster holds at most ${ctx.rosters.maxItems} items`);
        }
        // §2.3.2: name and groups change; the subscription state is the server's.
        await ctx.rosters.put(account, {
          jid: contact,
          name: request.name,
          groups: request.groups,
          subscription: existing?.subscription ?? 'none',
          pendingOut: existing?.pendingOut ?? false,
          approved: existing?.approved ?? false,
        });
      });
      return null;
    });
  },
});
