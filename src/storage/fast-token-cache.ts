// A read-through cache of FAST tokens (sealed, as stored) in front of a FastTokenStore. A
// device signs in with its token at every reconnect (each network change): a query each time
// costs CPU on the server's own thread (PGlite) or a round trip (PostgreSQL). The cache is
// as fresh as the change feed (change-feed.ts): exact on PGlite, where this process is the
// only writer; on PostgreSQL other writers' changes arrive just after their commit, and
// while the feed is down every read goes to the database.
import { LruMap } from '../core/lru-map.js';
import type { ChangeFeed } from './change-feed.js';
import type { FastTokenStore, StoredFastToken } from './fast-tokens.js';
import { forgettingAround, readForCache, WriteStamps } from './forgetting-around.js';

export interface CachedFastTokenStore extends FastTokenStore {
  /** The account was deleted (its tokens went with it, by the database's cascade). */
  forgetAccount(username: string, domain: string): void;
}

/** Devices of one account whose tokens are kept in memory. */
const MAX_CLIENTS_PER_ACCOUNT = 16;

export function withFastTokenCache(store: FastTokenStore, feed: ChangeFeed, maxAccounts = 100_000): CachedFastTokenStore {
  /** Per account (domain NUL username): each client's (hex id) tokens. */
  const cache = new LruMap<string, Map<string, StoredFastToken[]>>(maxAccounts);
  /** A read that overlapped a write to its account does not fill the cache. */
  const writes = new WriteStamps(maxAccounts);
  const accountKey = (username: string, domain: string) => `${domain}\u0000${username}`;
  const forgetAccount = (username: string, domain: string) => {
    const account = accountKey(username, domain);
    writes.written(account);
    cache.delete(account);
  };
  const writing = <T>(username: string, domain: string, write: () => Promise<T>) => forgettingAround(() => forgetAccount(username, domain), write);
  feed.onChange('fast_tokens', forgetAccount);
  feed.onResync(() => {
    writes.writtenAll();
    cache.clear();
  });

  return {
    async find(username, domain, clientId) {
      if (!feed.live) return store.find(username, domain, clientId);
      const account = accountKey(username, domain);
      const client = clientId.toString('hex');
      const hit = cache.get(account)?.get(client);
      if (hit) return hit;
      return readForCache(feed, writes, account, () => store.find(username, domain, clientId), (found) => {
        // Nothing is kept for a client without tokens: sign-in attempts with made-up user-agent
        // ids would otherwise fill the memory. A device has its tokens kept beside at most
        // MAX_CLIENTS_PER_ACCOUNT - 1 others of the account (the longest kept goes first).
        if (found.length === 0) return;
        let clients = cache.get(account);
        if (!clients) cache.set(account, (clients = new Map()));
        if (!clients.has(client) && clients.size >= MAX_CLIENTS_PER_ACCOUNT) clients.delete(clients.keys().next().value!);
        clients.set(client, found);
      });
    },
    put: (username, domain, clientId, token) => writing(username, domain, () => store.put(username, domain, clientId, token)),
    async promote(username, domain, clientId) {
      const client = clientId.toString('hex');
      const before = cache.get(accountKey(username, domain))?.get(client);
      await writing(username, domain, () => store.promote(username, domain, clientId));
      // What the promotion did, known without reading it back: the next sign-in needs no query.
      if (before && feed.live) {
        const after = before.filter((t) => t.slot !== 'current').map((t) => ({ ...t, slot: 'current' as const }));
        cache.set(accountKey(username, domain), new Map([[client, after]]));
      }
    },
    remove: (username, domain, clientId, slot) => writing(username, domain, () => store.remove(username, domain, clientId, slot)),
    removeAccount: (username, domain) => writing(username, domain, () => store.removeAccount(username, domain)),
    async removeExpired(now) {
      writes.writtenAll();
      const removed = await store.removeExpired(now);
      // Rare (hourly, and only tokens unused for their whole life): start afresh.
      if (removed > 0) {
        writes.writtenAll();
        cache.clear();
      }
      return removed;
    },
    forgetAccount,
  };
}
