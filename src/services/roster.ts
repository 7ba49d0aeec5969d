// Rosters as the rest of the server sees them: cached in memory while the account has
// sessions (the hot path of presence reads them on every broadcast), written through to the
// store, changes serialised per account, and every change pushed to the resources that asked
// for the roster (RFC 6121 §2.1.6).
import { Element } from 'ltx';
import type { Jid } from '../core/jid.js';
import { KeyedQueue } from '../core/keyed-queue.js';
import { SINGLE_PROCESS, type CacheCoherence } from '../core/cache-coherence.js';
import type { ClientSession, SessionRegistry } from '../core/sessions.js';
import type { RosterItem, RosterStore } from '../storage/roster.js';

export const NS_ROSTER = 'jabber:iq:roster';

export interface CachedRoster {
  version: number;
  items: Map<string, RosterItem>;
}

let pushCounter = 0;

export class RosterService {
  private readonly cache = new Map<string, CachedRoster>();
  private readonly loading = new Map<string, Promise<CachedRoster>>();
  /** Per-account queue: read-modify-write of one roster never interleaves. */
  private readonly queue = new KeyedQueue();

  /** Accounts without sessions whose roster is kept anyway, least recently used first. */
  private readonly retained = new Map<string, number>();
  /** Roster items held for accounts without sessions (the retention budget counts these). */
  private retainedItems = 0;

  constructor(
    readonly store: RosterStore,
    private readonly sessions: SessionRegistry,
    readonly maxItems: number,
    /**
     * How many roster items of offline accounts to keep in memory. Only safe when this process
     * is the database's one writer (embedded PGlite): then the cache is exactly the database,
     * and a reconnecting client (mobile clients reconnect all the time) costs no roster query.
     */
    private readonly retainOfflineItems = 0,
    /** Tells other cluster nodes to drop their copy of a roster this process changed. */
    private readonly caches: CacheCoherence = SINGLE_PROCESS,
  ) {
    caches.onRemoteChange('roster', (key) => {
      this.release(key);
      this.cache.delete(key);
    });
  }

  /** The roster, from memory when the account is online, else from the store. */
  async get(account: Jid): Promise<CachedRoster> {
    const key = account.bareString();
    const cached = this.cache.get(key);
    if (cached) {
      if (this.retained.has(key)) {
        // Back online: out of the retention budget; still offline: most recently used now.
        this.release(key);
        if (this.sessions.ofAccount(key).length === 0) this.retain(key, cached);
      }
      return cached;
    }
    let pending = this.loading.get(key);
    if (!pending) {
      pending = this.store.get(account.local, account.domain).then((roster) => {
        const loaded: CachedRoster = { version: roster.version, items: new Map(roster.items.map((i) => [i.jid, i])) };
        // Keep it only while someone is online to need it again.
        if (this.sessions.ofAccount(key).length > 0) this.cache.set(key, loaded);
        else this.retain(key, loaded);
        return loaded;
      });
      this.loading.set(key, pending);
      const clear = () => this.loading.delete(key);
      pending.then(clear, clear);
    }
    return pending;
  }

  async item(account: Jid, contact: string): Promise<RosterItem | null> {
    const cached = this.cache.get(account.bareString());
    if (cached) return cached.items.get(contact) ?? null;
    return this.store.getItem(account.local, account.domain, contact);
  }

  /** Runs `work` with the account's roster changes serialised. */
  exclusive<T>(account: Jid, work: () => Promise<T>): Promise<T> {
    return this.queue.run(account.bareString(), work);
  }

  /** Writes an item (call inside `exclusive`), updates the cache, pushes it. */
  async put(account: Jid, item: RosterItem): Promise<number> {
    const version = await this.write(account, item);
    this.push(account, item, version);
    return version;
  }

  /**
   * Writes an item without pushing it, for callers that must deliver something first
   * (RFC 6121 §3.1.6: the subscription approval goes out before the roster push).
   */
  async write(account: Jid, item: RosterItem): Promise<number> {
    const version = await this.store.put(account.local, account.domain, item);
    this.caches.changed('roster', account.bareString());
    const cached = this.cache.get(account.bareString());
    if (cached) {
      cached.items.set(item.jid, item);
      cached.version = version;
    }
    return version;
  }

  /** Removes an item (call inside `exclusive`); null when there was none. */
  async remove(account: Jid, contact: string): Promise<number | null> {
    const version = await this.store.remove(account.local, account.domain, contact);
    if (version === null) return null;
    this.caches.changed('roster', account.bareString());
    const cached = this.cache.get(account.bareString());
    if (cached) {
      cached.items.delete(contact);
      cached.version = version;
    }
    this.push(account, { jid: contact, remove: true }, version);
    return version;
  }

  /** Forgets the cached roster (the account's last session ended). */
  evict(account: Jid): void {
    const key = account.bareString();
    if (this.sessions.ofAccount(key).length > 0) return;
    const cached = this.cache.get(key);
    if (cached) this.retain(key, cached);
  }

  /** Forgets everything about an account (it was deleted). */
  forget(account: Jid): void {
    const key = account.bareString();
    this.release(key);
    this.cache.delete(key);
  }

  private release(key: string): void {
    const counted = this.retained.get(key);
    if (counted === undefined) return;
    this.retained.delete(key);
    this.retainedItems -= counted;
  }

  private retain(key: string, roster: CachedRoster): void {
    this.release(key);
    // Each roster counts one more than its items, so empty rosters are bounded too.
    const cost = roster.items.size + 1;
    if (cost > this.retainOfflineItems) {
      this.cache.delete(key);
      return;
    }
    this.cache.set(key, roster);
    // Counted by the size it had now (a roster may change while retained; close enough).
    this.retained.set(key, cost);
    this.retainedItems += cost;
    while (this.retainedItems > this.retainOfflineItems) {
      const oldest = this.retained.keys().next().value!;
      this.release(oldest);
      if (this.sessions.ofAccount(oldest).length === 0) this.cache.delete(oldest);
    }
  }

  /** RFC 6121 §2.1.6: a roster push to every interested resource of the account. */
  push(account: Jid, item: RosterItem | { jid: string; remove: true }, version: number): void {
    for (const session of this.sessions.ofAccount(account.bareString())) {
      if (session.rosterRequested) this.pushTo(session, item, version);
    }
  }

  /** One roster push to one resource. */
  pushTo(session: ClientSession, item: RosterItem | { jid: string; remove: true }, version: number): void {
    const iq = new Element('iq', { type: 'set', id: `push${(++pushCounter).toString(36)}`, to: session.jid.toString() });
    iq.c('query', { xmlns: NS_ROSTER, ver: String(version) }).cnode(rosterItemElement(item));
    session.deliver(iq);
  }
}

/** An <item/> as RFC 6121 §2.1.2 shows it (ask only for Pending Out; approved per §3.4). */
export function rosterItemElement(item: RosterItem | { jid: string; remove: true }): Element {
  if ('remove' in item) return new Element('item', { jid: item.jid, subscription: 'remove' });
  const el = new Element('item', { jid: item.jid, subscription: item.subscription });
  if (item.name !== null) el.attrs.name = item.name;
  if (item.pendingOut) el.attrs.ask = 'subscribe';
  if (item.approved) el.attrs.approved = 'true';
  for (const group of item.groups) el.c('group').t(group);
  return el;
}
