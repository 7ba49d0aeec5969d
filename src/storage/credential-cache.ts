// A read-through cache of SCRAM credentials (with the account's disabled flag) in front of an
// AccountStore. Every SCRAM sign-in needs a credential: a query each time costs CPU on the
// server's own thread (PGlite) or a round trip (PostgreSQL). The cache is as fresh as the
// change feed (change-feed.ts; schema/0016 puts credentials and disabling in it): exact on
// PGlite, where this process is the only writer; on PostgreSQL another writer's password
// change or disabling arrives just after its commit, and while the feed is down every read
// goes to the database.
import { LruMap } from '../core/lru-map.js';
import type { ScramMechanismName } from '../sasl/credentials.js';
import type { AccountStore, StoredCredential } from './accounts.js';
import type { ChangeFeed } from './change-feed.js';
import { forgettingAround, readForCache, WriteStamps } from './forgetting-around.js';

export function withCredentialCache(store: AccountStore, feed: ChangeFeed, maxEntries = 50_000): AccountStore {
  const cache = new LruMap<string, StoredCredential>(maxEntries);
  /** A read that overlapped a write to its account does not fill the cache. */
  const writes = new WriteStamps(maxEntries);
  const key = (username: string, domain: string, mechanism: ScramMechanismName) => `${mechanism}\u0000${domain}\u0000${username}`;
  const forget = (username: string, domain: string) => {
    writes.written(`${domain}\u0000${username}`);
    cache.delete(key(username, domain, 'SCRAM-SHA-1'));
    cache.delete(key(username, domain, 'SCRAM-SHA-256'));
  };
  const writing = <T>(username: string, domain: string, write: () => Promise<T>) => forgettingAround(() => forget(username, domain), write);
  feed.onChange('credentials', forget);
  feed.onResync(() => {
    writes.writtenAll();
    cache.clear();
  });

  return {
    ...store,
    async getCredential(username, domain, mechanism) {
      if (!feed.live) return store.getCredential(username, domain, mechanism);
      const k = key(username, domain, mechanism);
      const hit = cache.get(k);
      if (hit) return hit;
      // Only credentials that exist are kept: names tried by guessers take no memory.
      return readForCache(feed, writes, `${domain}\u0000${username}`, () => store.getCredential(username, domain, mechanism), (credential) => {
        if (credential) cache.set(k, credential);
      });
    },
    delete: (username, domain) => writing(username, domain, () => store.delete(username, domain)),
    setDisabled: (username, domain, disabled) => writing(username, domain, () => store.setDisabled(username, domain, disabled)),
    setCredentials: (username, domain, credentials) => writing(username, domain, () => store.setCredentials(username, domain, credentials)),
  };
}
