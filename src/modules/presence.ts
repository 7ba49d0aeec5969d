// RFC 6121 §3 (subscriptions, Appendix A state machine, §3.4 pre-approval) and §4 (presence:
// initial presence, probes, updates, unavailable, directed presence).
import { Element } from 'ltx';
import type { Jid } from '../core/jid.js';
import { HOOK_STOP, type HookResult } from '../core/hooks.js';
import { defineModule, type ModuleContext } from '../core/module.js';
import type { ClientSession } from '../core/sessions.js';
import { readdress } from '../core/stanza.js';
import { applySubscription, NO_SUBSCRIPTION, type SubscriptionState } from '../core/subscription.js';
import type { RosterItem } from '../storage/roster.js';
import { parseStanza } from '../xml/parse-stanza.js';

export const NS_PRE_APPROVAL = 'urn:xmpp:features:pre-approval';

/** The domain of a roster item's (normalised, bare) JID; a domain-only JID is its own. */
const domainOf = (bare: string) => bare.slice(bare.indexOf('@') + 1);
const sendsPresenceTo = (item: RosterItem) => item.subscription === 'from' || item.subscription === 'both';
const receivesPresenceFrom = (item: RosterItem) => item.subscription === 'to' || item.subscription === 'both';

export const presenceModule = defineModule({
  name: 'presence',
  implements: 'RFC 6121 §3–§4 presence subscriptions and presence, Appendix A',
  setup(ctx) {
    ctx.streamFeatures.addAuthenticated(new Element('sub', { xmlns: NS_PRE_APPROVAL }));
    const { rosters, sessions, router } = ctx;

    /** The user's state toward one contact: roster item plus a pending request (Appendix A.1). */
    async function stateOf(account: Jid, contact: string): Promise<{ item: RosterItem | null; state: SubscriptionState }> {
      const [item, pendingIn] = await Promise.all([
        rosters.item(account, contact),
        rosters.store.hasRequest(account.local, account.domain, contact),
      ]);
      const state = item
        ? { subscription: item.subscription, pendingOut: item.pendingOut, pendingIn, approved: item.approved }
        : { ...NO_SUBSCRIPTION, pendingIn };
      return { item, state };
    }

    /**
     * Persists a new state: the roster item and the pending request. Returns the roster push
     * to send, which the caller sends when the RFC's order allows (§3.1.6: after delivery).
     */
    async function persist(account: Jid, contact: string, item: RosterItem | null, before: SubscriptionState, after: SubscriptionState, request: Element | null): Promise<() => void> {
      let push = () => {};
      const visible = after.subscription !== 'none' || after.pendingOut || after.approved;
      if (item || visible) {
        const changed = !item || item.subscription !== after.subscription || item.pendingOut !== after.pendingOut || item.approved !== after.approved;
        if (changed) {
          const updated: RosterItem = {
            jid: contact,
            name: item?.name ?? null,
            groups: item?.groups ?? [],
            subscription: after.subscription,
            pendingOut: after.pendingOut,
            approved: after.approved,
          };
          const version = await rosters.write(account, updated);
          push = () => rosters.push(account, updated, version);
        }
      }
      if (after.pendingIn && !before.pendingIn && request) {
        await rosters.store.putRequest(account.local, account.domain, contact, request.toString());
      } else if (!after.pendingIn && before.pendingIn) {
        await rosters.store.removeRequest(account.local, account.domain, contact);
      }
      return push;
    }

    /** §3.1.5 / §4.2.2: the presence of every available resource, sent to one address. */
    async function sendCurrentPresence(account: Jid, to: string): Promise<void> {
      for (const s of sessions.ofAccount(account.bareString())) {
        if (s.available && s.presence) await router.send(readdress(s.presence, { from: s.jid.toString(), to }));
      }
    }

    /** §3.2.2, §3.3.3: unavailable from every available resource, sent to one address. */
    async function sendUnavailable(account: Jid, to: string): Promise<void> {
      for (const s of sessions.ofAccount(account.bareString())) {
        if (s.available) await router.send(new Element('presence', { type: 'unavailable', from: s.jid.toString(), to }));
      }
    }

    // ---- outbound subscription stanzas (the user → a contact), §3.1.2, §3.2.2, §3.3.2, §3.4 ----
    // The roster is changed under the account's queue; what is sent to others happens after
    // it is released (waiting on another account's queue while holding ours could deadlock
    // when both sides act at once), in order.
    ctx.hooks.on('presence-subscription-outbound', async ({ session, stanza, contact, type }): Promise<HookResult> => {
      const account = session.jid.bare;
      const contactJid = contact.toString();
      if (contactJid === account.bareString()) return HOOK_STOP; // no subscriptions to oneself
      const decided = await rosters.exclusive(account, async () => {
        const { item, state } = await stateOf(account, contactJid);
        const t = applySubscription(state, type, 'outbound');
        // The state is persisted, and the roster pushed (§3.1.2), before anything leaves.
        if (t.changed) (await persist(account, contactJid, item, state, t.state, null))();
        return { t, before: state };
      });
      if (!decided.t.forward) return HOOK_STOP;
      const outgoing = new Element('presence', { type, from: account.bareString(), to: contactJid });
      if (stanza.attrs.id !== undefined) outgoing.attrs.id = stanza.attrs.id;
      for (const child of stanza.getChildElements()) outgoing.cnode(child);
      const before = decided.before.subscription;
      if (type === 'unsubscribed' && (before === 'from' || before === 'both')) {
        // §3.2.2: the contact stops seeing the user: unavailable from every resource first.
        await sendUnavailable(account, contactJid);
      }
      await router.send(outgoing);
      if (type === 'subscribed') {
        // §3.1.5: once approved, the contact gets the user's current presence.
        await sendCurrentPresence(account, contactJid);
      }
      return HOOK_STOP;
    });

    // ---- inbound subscription stanzas (a contact → the user), §3.1.3, §3.1.6, §3.2.3, §3.3.3 ----
    ctx.hooks.on('presence-subscription-inbound', async ({ stanza, from, to, type }): Promise<HookResult> => {
      const account = to;
      const contactJid = from.bareString();
      if (contactJid === account.bareString()) return HOOK_STOP;
      const decided = await rosters.exclusive(account, async () => {
        const { item, state } = await stateOf(account, contactJid);
        const t = applySubscription(state, type, 'inbound');
        const delivered = readdress(stanza, { from: contactJid, to: account.bareString() });
        // Persisted first; the push waits until the stanza is delivered (§3.1.6, §3.2.3).
        const push = t.changed ? await persist(account, contactJid, item, state, t.state, delivered) : () => {};
        if (t.forward) {
          // To every available resource (RFC 6121 §3.1.3); a subscribe is also kept until
          // answered and redelivered at each initial presence.
          for (const s of sessions.ofAccount(account.bareString())) if (s.available) s.deliver(delivered);
        }
        push();
        return { t, before: state };
      });
      if (decided.t.autoReply) {
        await router.send(new Element('presence', { type: decided.t.autoReply, from: account.bareString(), to: contactJid }));
        await sendCurrentPresence(account, contactJid);
      }
      const before = decided.before.subscription;
      if (type === 'unsubscribe' && (before === 'from' || before === 'both')) {
        // §3.3.3: the contact no longer sees the user: unavailable from every resource.
        await sendUnavailable(account, contactJid);
      }
      return HOOK_STOP;
    });

    // ---- probes, §4.3.2 -----------------------------------------------------------------
    ctx.hooks.on('presence-probe', async ({ from, to }): Promise<HookResult> => {
      const item = await rosters.item(to, from.bareString());
      // An unauthorised probe learns nothing.
      if (!item || !sendsPresenceTo(item)) return HOOK_STOP;
      const available = sessions.ofAccount(to.bareString()).filter((s) => s.available && s.presence);
      if (available.length === 0) {
        router.send(new Element('presence', { type: 'unavailable', from: to.bareString(), to: from.toString() }));
      } else {
        for (const s of available) router.send(readdress(s.presence!, { from: s.jid.toString(), to: from.toString() }));
      }
      return HOOK_STOP;
    });

    /**
     * Presence from one of the user's resources to a contact's bare JID. Local contacts get it
     * straight from the session registry (no routing, no database); remote ones through the
     * router. On an initial presence, contact resources that came online later are skipped:
     * their own initial presence does the exchange (each pair exactly once).
     */
    function presenceToContact(stanza: Element, from: ClientSession, contact: string, initial: boolean): void {
      const copy = readdress(stanza, { from: from.jid.toString(), to: contact });
      if (!router.isLocalDomain(domainOf(contact))) {
        void router.send(copy);
        return;
      }
      for (const cs of sessions.ofAccount(contact)) {
        if (cs.available && (!initial || cs.availableSeq < from.availableSeq)) cs.deliver(copy);
      }
    }

    // ---- the user's own presence: initial, updates, unavailable, §4.2, §4.4, §4.5 --------
    ctx.hooks.on('presence-broadcast', async ({ session, stanza, initial }) => {
      const type = stanza.attrs.type;
      if (type !== undefined && type !== 'unavailable') return;
      const account = session.jid.bare;
      const roster = await rosters.get(account);
      // The resource may have gone unavailable while the roster loaded: a later broadcast
      // (or the session end) speaks for it then.
      if (type === undefined && !session.available) return;
      // To contacts who may see it (§4.2.2, §4.4.2, §4.5.2).
      for (const item of roster.items.values()) {
        if (sendsPresenceTo(item)) presenceToContact(stanza, session, item.jid, initial);
      }
      // To the account's available resources, the sender included (§4.2.2, §4.4.2); an
      // unavailable sender is no longer among them.
      const from = session.jid.toString();
      for (const own of sessions.ofAccount(account.bareString())) {
        const sees = own === session ? type === undefined : own.available && (!initial || own.availableSeq < session.availableSeq);
        if (sees) own.deliver(readdress(stanza, { from, to: own.jid.toString() }));
      }
      if (type === 'unavailable') {
        sendDirectedUnavailable(session);
        return;
      }
      if (!initial) return;
      await initialPresence(ctx, session, roster.items.values());
    });

    /** §4.6.3: those who got directed presence learn the resource is gone. */
    function sendDirectedUnavailable(session: ClientSession): void {
      const targets = session.directedPresence;
      session.directedPresence = null;
      if (!targets) return;
      for (const to of targets) router.send(new Element('presence', { type: 'unavailable', from: session.jid.toString(), to }));
    }

    // §4.6.2: remember directed presence to anyone who is not already a subscriber.
    ctx.hooks.on('presence-directed', async ({ session, stanza, to }) => {
      const target = to.toString();
      if (stanza.attrs.type === 'unavailable') {
        if (session.directedPresence?.delete(target)) void sessions.changed(session);
        return;
      }
      const item = await rosters.item(session.jid.bare, to.bareString());
      if (item && sendsPresenceTo(item)) return;
      if (session.directedPresence?.has(target)) return;
      (session.directedPresence ??= new Set()).add(target);
      // A cluster's other nodes learn it too: one of them may have to end it.
      void sessions.changed(session);
    });

    // §4.5.2: a session that ends without unavailable presence still goes unavailable.
    ctx.hooks.on('session-closed', async ({ session, wasAvailable }) => {
      const account = session.jid.bare;
      try {
        if (!wasAvailable) return;
        const unavailable = new Element('presence', { type: 'unavailable', from: session.jid.toString() });
        const roster = await rosters.get(account);
        for (const item of roster.items.values()) {
          if (sendsPresenceTo(item)) presenceToContact(unavailable, session, item.jid, false);
        }
        for (const other of sessions.ofAccount(account.bareString())) {
          if (other.available) other.deliver(readdress(unavailable, { to: other.jid.toString() }));
        }
        sendDirectedUnavailable(session);
      } finally {
        rosters.evict(account);
      }
    });
  },
});

/**
 * §4.2: after the first available presence: probe the contacts the user may see (local ones
 * answered straight from the session registry), show the user's other resources, redeliver
 * pending subscription requests, then let other modules (offline messages) follow.
 */
async function initialPresence(ctx: ModuleContext, session: ClientSession, items: Iterable<RosterItem>): Promise<void> {
  const { sessions, router, rosters } = ctx;
  const account = session.jid.bare;
  const to = session.jid.toString();
  for (const item of items) {
    if (!receivesPresenceFrom(item)) continue;
    const contact = item.jid;
    if (router.isLocalDomain(domainOf(contact))) {
      // Contact resources that came online after this one send their presence themselves.
      for (const cs of sessions.ofAccount(contact)) {
        if (cs.available && cs.presence && cs.availableSeq < session.availableSeq) {
          session.deliver(readdress(cs.presence, { from: cs.jid.toString(), to }));
        }
      }
    } else {
      router.send(new Element('presence', { type: 'probe', from: account.bareString(), to: contact }));
    }
  }
  for (const other of sessions.ofAccount(account.bareString())) {
    if (other !== session && other.available && other.presence && other.availableSeq < session.availableSeq) {
      session.deliver(readdress(other.presence, { from: other.jid.toString(), to }));
    }
  }
  for (const request of await rosters.store.listRequests(account.local, account.domain)) {
    session.deliver(parseStoredPresence(request.stanza, request.jid, account.bareString()));
  }
  await ctx.hooks.emit('presence-initial', { session });
}

/** A stored subscription request, as it arrived (status, nickname and all), for redelivery. */
function parseStoredPresence(xml: string, from: string, to: string): Element {
  const stored = parseStanza(xml);
  if (stored && stored.name === 'presence' && stored.attrs.type === 'subscribe') return readdress(stored, { from, to });
  return new Element('presence', { type: 'subscribe', from, to });
}
