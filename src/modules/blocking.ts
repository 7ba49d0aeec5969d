// XEP-0191: Blocking Command 1.3 — blocklist get, block, unblock, unblock all, with pushes.
//
// Lists are kept in memory for accounts with sessions (read at 'session-bound', forgotten when
// the last session ends), so the checks on the message path stay synchronous; an account
// without a session is asked of the database. In a cluster, the list of an account whose
// sessions are all on other nodes is read on first need and kept in a bounded set, since the
// router checks the recipient's list on the sender's node; other nodes' changes invalidate it. Blocked stanzas are stopped at three points:
// the router's inbound filter (to a local account: before delivery, archive and offline
// storage), its outbound filter (a local account sending), and the delivery filter, for the
// presence the presence module hands to local sessions directly.
import { Element } from 'ltx';
import { StanzaError } from '../core/errors.js';
import { HOOK_STOP, type HookResult } from '../core/hooks.js';
import { tryParseJid, type Jid } from '../core/jid.js';
import { KeyedQueue } from '../core/keyed-queue.js';
import { defineModule } from '../core/module.js';
import type { ClientSession } from '../core/sessions.js';
import { errorReply, readdress } from '../core/stanza.js';

export const NS_BLOCKING = 'urn:xmpp:blocking';
export const NS_BLOCKING_ERRORS = 'urn:xmpp:blocking:errors';

/** Lists of accounts with sessions only on other cluster nodes kept in memory at most. */
const DISTANT_LISTS = 10_000;

/**
 * Addresses one account may block (kept in memory while it is online). Not yet a config key:
 * `limits.blocklistItems` would be its name.
 */

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * XEP-0191 §6 (JID Matching, the XEP-0016 order): whether a list blocks `address`. Tried in
 * order: the full JID, the bare JID, domain/resource, then the domain, which also matches
 * every address at it and at its subdomains.
 */
export function listBlocks(list: ReadonlySet<string>, address: Jid): boolean {
  if (list.size === 0) return false;
  if (address.resource !== '' && list.has(address.toString())) return true; // user@domain/resource, domain/resource
  if (address.local !== '' && list.has(address.bareString())) return true;
  let domain = address.domain;
  if (list.has(domain)) return true;
  if (domain.startsWith('[') || IPV4.test(domain)) return false; // an IP literal has no parent domains
  for (let dot = domain.indexOf('.'); dot > 0 && dot < domain.length - 1; dot = domain.indexOf('.')) {
    domain = domain.slice(dot + 1);
    if (list.has(domain)) return true;
  }
  return false;
}

/** The list entries that would block `address` (listBlocks as a database lookup). */
export function blockingEntries(address: Jid): string[] {
  const entries: string[] = [];
  if (address.resource !== '') entries.push(address.toString());
  if (address.local !== '') entries.push(address.bareString());
  let domain = address.domain;
  entries.push(domain);
  if (domain.startsWith('[') || IPV4.test(domain)) return entries;
  for (let dot = domain.indexOf('.'); dot > 0 && dot < domain.length - 1; dot = domain.indexOf('.')) {
    domain = domain.slice(dot + 1);
    entries.push(domain);
  }
  return entries;
}

/**
 * Never blocked for an account: its own addresses and its own server (a user who blocks the
 * domain of their own server still talks to the server itself).
 */
function exempt(account: Jid, address: Jid): boolean {
  if (address.domain !== account.domain) return false;
  return address.local === '' ? address.resource === '' : address.local === account.local;
}

/** The <item/> addresses of a block or unblock request, normalised, in request order. */
function parseItems(payload: Element): string[] {
  const items: string[] = [];
  for (const child of payload.getChildElements()) {
    if (child.name !== 'item') continue;
    const raw = child.attrs.jid;
    if (raw === undefined) throw new StanzaError('bad-request', 'an item needs a jid');
    const jid = tryParseJid(raw);
    if (!jid) throw new StanzaError('jid-malformed', `"${raw}" is not a valid JID`);
    const normal = jid.toString();
    if (!items.includes(normal)) items.push(normal);
  }
  return items;
}

function itemsElement(name: 'blocklist' | 'block' | 'unblock', jids: Iterable<string>): Element {
  const element = new Element(name, { xmlns: NS_BLOCKING });
  for (const jid of jids) element.c('item', { jid });
  return element;
}

let pushCounter = 0;

/** The session flag of a resource that asked for the blocklist (§3.2: it gets the pushes). */
const BLOCKLIST_FLAG = 'blocklist';

export const blockingModule = defineModule({
  name: 'blocking',
  implements: 'XEP-0191 Blocking Command 1.3',
  // §3.1: clients look for the feature on their server (Conversations asks the domain).
  hostFeatures: [NS_BLOCKING],
  setup(ctx) {
    const { sessions, router, stores, log } = ctx;
    const store = stores.blocklist;

    /** Non-empty lists of accounts with sessions, by bare JID. */
    const lists = new Map<string, Set<string>>();
    /** Accounts with sessions whose list is in memory (in `lists` unless empty). */
    const known = new Set<string>();
    /** Of `known`, the accounts without a session on this node, oldest first (evicted past DISTANT_LISTS). */
    const distant = new Set<string>();
    /** Lists being read: stanzas for those accounts' sessions wait (in order) until it is known. */
    const loading = new Map<string, Promise<void>>();
    const held = new Map<string, Array<[ClientSession, Element]>>();
    /** Reads and changes of one account's list, one at a time and in order. */
    const queue = new KeyedQueue();
    /** §3.2: resources that asked for the blocklist get the pushes. */
    const interested = { has: (session: ClientSession) => session.flags.has(BLOCKLIST_FLAG) };

    function remember(key: string, items: Set<string>): void {
      known.add(key);
      if (items.size > 0) lists.set(key, items);
      else lists.delete(key);
    }

    function forget(key: string): void {
      known.delete(key);
      lists.delete(key);
      distant.delete(key);
    }

    /** Keeps a list known while its account has sessions, but only elsewhere: bounded. */
    function keepDistant(key: string): void {
      distant.delete(key);
      distant.add(key);
      if (distant.size <= DISTANT_LISTS) return;
      const oldest = distant.values().next().value as string;
      forget(oldest);
    }

    function hasLocalSession(key: string): boolean {
      return sessions.ofAccount(key).some((session) => session.node === null);
    }

    /** Reads an online account's list into memory (once; later reads find it there). */
    function load(account: Jid): Promise<void> {
      const key = account.bareString();
      if (known.has(key)) return Promise.resolve();
      let pending = loading.get(key);
      if (pending) return pending;
      pending = queue
        .run(key, async () => {
          if (known.has(key)) return;
          const items = await store.list(account.local, account.domain);
          // The last session may have ended meanwhile: then nothing is kept.
          if (sessions.ofAccount(key).length === 0) return;
          remember(key, new Set(items));
          if (!hasLocalSession(key)) keepDistant(key);
        })
        .catch((err: unknown) => log.error({ err, account: key }, 'reading a blocklist failed'))
        .finally(() => {
          // In the same turn as the list became known: what waited goes out in order.
          loading.delete(key);
          release(key);
        });
      loading.set(key, pending);
      return pending;
    }

    /**
     * Whether `account` (a local account) blocks `address`: at once from memory, else from the
     * database (an account without sessions) or once its list is read.
     */
    function blocks(account: Jid, address: Jid): boolean | Promise<boolean> {
      if (exempt(account, address)) return false;
      const key = account.bareString();
      const list = lists.get(key);
      if (list) return listBlocks(list, address);
      if (known.has(key)) return false;
      const pending = loading.get(key);
      if (pending) return pending.then(() => blocks(account, address));
      // Online on another node: read the whole list once rather than a row per stanza.
      if (sessions.ofAccount(key).length > 0) {
        return load(account).then(() => (known.has(key) ? blocks(account, address) : blocksStored(account, address)));
      }
      return blocksStored(account, address);
    }

    function blocksStored(account: Jid, address: Jid): Promise<boolean> {
      return store.blocksAny(account.local, account.domain, blockingEntries(address));
    }

    /** Runs `refuse` and stops the event when `verdict` says blocked. */
    function stopIf(verdict: boolean | Promise<boolean>, refuse: () => void): HookResult | Promise<HookResult> {
      if (verdict === false) return;
      if (verdict === true) {
        refuse();
        return HOOK_STOP;
      }
      return verdict.then((blocked) => {
        if (!blocked) return;
        refuse();
        return HOOK_STOP;
      });
    }

    /**
     * §3.3: what a blocked entity sends the user never arrives. Presence (notifications,
     * subscription requests, probes) and iq results and errors vanish; messages and iq get/set
     * are answered with service-unavailable, as for a user who is not there.
     */
    function refuseInbound(stanza: Element): void {
      if (stanza.name === 'presence') return;
      router.bounce(stanza, new StanzaError('service-unavailable')); // never answers errors or results
    }

    /**
     * §3.3: what the user sends a blocked entity is refused with not-acceptable and
     * <blocked/>. Written past the delivery filters: the error comes from the blocked address.
     */
    function refuseOutbound(stanza: Element, session: ClientSession): void {
      const type = stanza.attrs.type;
      if (type === 'error' || (stanza.name === 'iq' && type === 'result')) return;
      const reply = errorReply(stanza, new StanzaError('not-acceptable', 'you have blocked this address', 'cancel'));
      reply.getChild('error')?.c('blocked', { xmlns: NS_BLOCKING_ERRORS });
      session.write(reply);
    }

    // ---- the router's filters -------------------------------------------------------------

    ctx.hooks.on('stanza-inbound', ({ stanza, from, to }) => stopIf(blocks(to, from), () => refuseInbound(stanza)), 100);

    ctx.hooks.on('stanza-outbound', ({ stanza, from, to, origin }) =>
      // Stanzas the server sends on the user's behalf (presence broadcasts, probe answers,
      // roster removal notices) are dropped without a word.
      stopIf(blocks(from, to), () => {
        if (origin.kind === 'c2s') refuseOutbound(stanza, origin.session);
      }), 100);

    // ---- the delivery filter (presence the presence module delivers itself) ---------------

    /** Whether a stanza for a local session is blocked by the recipient or by a local sender. */
    function blockedOnDelivery(session: ClientSession, stanza: Element): boolean {
      if (lists.size === 0) return false;
      const raw = stanza.attrs.from;
      if (raw === undefined) return false;
      const from = tryParseJid(raw);
      if (!from) return false;
      const account = session.jid;
      if (exempt(account, from)) return false;
      const own = lists.get(account.bareString());
      if (own && listBlocks(own, from)) return true;
      // Errors from a blocking user's address are the server's answers to the blocked entity
      // (service-unavailable): the blocked entity may see those.
      if (from.local === '' || stanza.attrs.type === 'error') return false;
      const theirs = lists.get(from.bareString());
      return theirs !== undefined && listBlocks(theirs, account);
    }

    function release(key: string): void {
      const waiting = held.get(key);
      if (!waiting) return;
      held.delete(key);
      for (const [session, stanza] of waiting) if (!blockedOnDelivery(session, stanza)) session.write(stanza);
    }

    // Before client state indication (XEP-0352): nothing blocked is ever held there.
    ctx.delivery.add((session, stanza) => {
      const key = session.jid.bareString();
      if (loading.has(key)) {
        // The session was just bound and its list is being read: wait for it, in order.
        const waiting = held.get(key);
        if (waiting) waiting.push([session, stanza]);
        else held.set(key, [[session, stanza]]);
        return true;
      }
      return blockedOnDelivery(session, stanza);
    }, 100);

    // ---- the list in memory while the account has sessions --------------------------------

    // First, so the read starts in the same turn as the bind.
    ctx.hooks.on('session-bound', ({ session }) => {
      distant.delete(session.jid.bareString()); // held for this node's session now
      void load(session.jid.bare);
    }, 100);

    // The user's presence goes out (to local contacts straight to their sessions) only once
    // the list is known.
    ctx.hooks.on('presence-broadcast', ({ session }) => loading.get(session.jid.bareString()), 100);

    // Last: the presence module's unavailable broadcast is still filtered with the list.
    ctx.hooks.on('session-closed', ({ session }) => {
      const key = session.jid.bareString();
      if (sessions.ofAccount(key).length === 0) forget(key);
      else if (known.has(key) && !hasLocalSession(key)) keepDistant(key);
    }, -100);

    // The rows went with the account (on delete cascade).
    ctx.hooks.on('account-deleted', ({ jid }) => forget(jid.bareString()));
    // Another cluster node changed the list: read it again when next needed.
    ctx.caches.onRemoteChange('blocklist', (key) => {
      if (!loading.has(key)) forget(key);
    });

    // ---- presence on block and unblock (§3.3, §3.4) ---------------------------------------

    /**
     * Addresses of roster contacts that `items` concern: a blocked full JID of a contact is
     * that resource, a bare JID or domain each contact it matches.
     */
    async function concerned(account: Jid, items: readonly string[], allowed: (subscription: string) => boolean): Promise<string[]> {
      const roster = await ctx.rosters.get(account);
      const targets = new Set<string>();
      const general = new Set<string>();
      for (const raw of items) {
        const item = tryParseJid(raw);
        if (!item) continue;
        if (item.local !== '' && item.resource !== '') {
          const contact = roster.items.get(item.bareString());
          if (contact && allowed(contact.subscription)) targets.add(raw);
        } else {
          general.add(raw);
        }
      }
      if (general.size > 0) {
        for (const contact of roster.items.values()) {
          if (!allowed(contact.subscription)) continue;
          const jid = tryParseJid(contact.jid);
          if (jid && listBlocks(general, jid)) targets.add(contact.jid);
        }
      }
      return [...targets];
    }

    const seesPresence = (subscription: string) => subscription === 'from' || subscription === 'both';
    const receivesPresence = (subscription: string) => subscription === 'to' || subscription === 'both';

    /**
     * §3.3: the newly blocked contacts that could see the user's presence get unavailable from
     * each available resource, as do those the user sent directed presence to. Sent while the
     * new items are not yet in memory, so the filters let it pass.
     */
    async function sendUnavailable(account: Jid, added: readonly string[]): Promise<void> {
      const available = sessions.ofAccount(account.bareString()).filter((s) => s.available);
      if (available.length === 0) return;
      const targets = await concerned(account, added, seesPresence);
      const addedSet = new Set(added);
      for (const session of available) {
        const from = session.jid.toString();
        const directed: string[] = [];
        for (const to of session.directedPresence ?? []) {
          const jid = tryParseJid(to);
          if (jid && listBlocks(addedSet, jid)) directed.push(to);
        }
        // RFC 6121 §4.6.3: directed presence ends with this unavailable; nothing more follows.
        for (const to of directed) session.directedPresence?.delete(to);
        if (directed.length > 0) void sessions.changed(session);
        for (const to of new Set([...targets, ...directed])) await router.send(new Element('presence', { type: 'unavailable', from, to }));
      }
    }

    /**
     * §3.4: unblocked contacts that may see the user's presence get the current presence of
     * each available resource; and the user's resources learn the presence of those they may
     * see again, with a probe on the account's behalf (RFC 6121 §4.3).
     */
    async function sendPresence(account: Jid, removed: readonly string[]): Promise<void> {
      const key = account.bareString();
      const available = sessions.ofAccount(key).filter((s) => s.available && s.presence);
      if (available.length === 0) return;
      const stillBlocked = (to: string) => {
        const jid = tryParseJid(to);
        const list = lists.get(key);
        return !jid || (list !== undefined && listBlocks(list, jid));
      };
      for (const to of await concerned(account, removed, seesPresence)) {
        if (stillBlocked(to)) continue;
        for (const session of available) await router.send(readdress(session.presence!, { from: session.jid.toString(), to }));
      }
      const probed = new Set<string>();
      for (const to of await concerned(account, removed, receivesPresence)) {
        const contact = tryParseJid(to)?.bareString();
        if (!contact || probed.has(contact) || stillBlocked(contact)) continue;
        probed.add(contact);
        await router.send(new Element('presence', { type: 'probe', from: key, to: contact }));
      }
    }

    // ---- the commands ------------------------------------------------------------------------

    /** §3.3, §3.4, §3.5: the same iq-set to every resource of the account that asked for the list. */
    function push(account: Jid, name: 'block' | 'unblock', items: readonly string[]): void {
      // After the result, as roster pushes follow theirs.
      setImmediate(() => {
        for (const session of sessions.ofAccount(account.bareString())) {
          if (!interested.has(session)) continue;
          const iq = new Element('iq', { type: 'set', id: `block${(++pushCounter).toString(36)}`, to: session.jid.toString() });
          iq.cnode(itemsElement(name, items));
          session.deliver(iq);
        }
      });
    }

    async function block(account: Jid, items: string[]): Promise<void> {
      // §3.3: a block without an item is a bad request.
      if (items.length === 0) throw new StanzaError('bad-request', 'block at least one item');
      const key = account.bareString();
      if (items.some((jid) => tryParseJid(jid)?.bareString() === key)) throw new StanzaError('not-acceptable', 'an account cannot block itself');
      await load(account);
      await queue.run(key, async () => {
        const added = await store.add(account.local, account.domain, items, ctx.config.limits.blocklistItems);
        if (added === null) throw new StanzaError('not-allowed', `a blocklist holds at most ${ctx.config.limits.blocklistItems} items`);
        if (added.length === 0) return;
        ctx.caches.changed('blocklist', key);
        try {
          await sendUnavailable(account, added);
        } catch (err) {
          log.error({ err, account: key }, 'sending unavailable presence to blocked contacts failed');
        }
        // Now the block takes effect.
        if (known.has(key)) {
          const list = lists.get(key) ?? new Set<string>();
          for (const jid of added) list.add(jid);
          remember(key, list);
        }
      });
      push(account, 'block', items);
    }

    /** `items` null: §3.5, unblock everyone. */
    async function unblock(account: Jid, items: string[] | null): Promise<void> {
      const key = account.bareString();
      await load(account);
      await queue.run(key, async () => {
        const removed = items === null
          ? await store.clear(account.local, account.domain)
          : await store.remove(account.local, account.domain, items);
        if (removed.length === 0) return;
        ctx.caches.changed('blocklist', key);
        const list = lists.get(key);
        if (list) {
          for (const jid of removed) list.delete(jid);
          remember(key, list);
        }
        try {
          await sendPresence(account, removed);
        } catch (err) {
          log.error({ err, account: key }, 'sending presence to unblocked contacts failed');
        }
      });
      push(account, 'unblock', items ?? []);
    }

    // §3.2: the list is the account's own business. An iq to another account's bare JID is
    // answered as though nothing served the namespace there: a different condition than a
    // blocked sender gets would tell whoever asks whether they are blocked.
    ctx.iq.register(`iq-get/bare/${NS_BLOCKING}`, async ({ self, from, payload, origin }) => {
      if (!self) throw new StanzaError('service-unavailable');
      if (payload.name !== 'blocklist') throw new StanzaError('bad-request', 'expected <blocklist/>');
      const account = from.bare;
      const key = account.bareString();
      await load(account);
      const items = await queue.run(key, async () => {
        if (known.has(key)) return [...(lists.get(key) ?? [])].sort();
        return store.list(account.local, account.domain);
      });
      if (origin.kind === 'c2s' && !origin.session.flags.has(BLOCKLIST_FLAG)) {
        origin.session.flags.add(BLOCKLIST_FLAG);
        void sessions.changed(origin.session);
      }
      return itemsElement('blocklist', items);
    });

    ctx.iq.register(`iq-set/bare/${NS_BLOCKING}`, async ({ self, from, payload }) => {
      if (!self) throw new StanzaError('service-unavailable');
      if (payload.name === 'block') {
        await block(from.bare, parseItems(payload));
      } else if (payload.name === 'unblock') {
        const items = parseItems(payload);
        await unblock(from.bare, items.length === 0 ? null : items);
      } else {
        throw new StanzaError('bad-request', 'expected <block/> or <unblock/>');
      }
      return null;
    });
  },
});
