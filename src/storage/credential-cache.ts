// A read-through cache of SCRAM credentials in front of an AccountStore, for a database
// only this process can write (embedded PGlite allows one process per data directory), so
// the cache is exactly as fresh as the database. Every login needs a credential; on PGlite
// a query costs CPU on the server's own thread.
import type { ScramMechanismName } from '../sasl/credentials.js';
import type { AccountStore, StoredCredential } from './accounts.js';

export function withCredentialCache(store: AccountStore, maxEntries = 50_000): AccountStore {
  const cache = new Map<string, StoredCredential>();
  /** Bumped by every write; a read that overlapped a write does not fill the cache. */
  let writes = 0;
  const key = (username: string, domain: string, mechanism: ScramMechanismName) => `${mechanism}\u0000${domain}\u0000${username}`;
  const forget = (username: string, domain: string) => {
    writes++;
    cache.delete(key(username, domain, 'SCRAM-SHA-1'));
    cache.delete(key(username, domain, 'SCRAM-SHA-256'));
  };

  return {
    ...store,
    async getCredential(username, domain, mechanism) {
      const k = key(username, domain, mechanism);
      const hit = cache.get(k);
      if (hit) {
        // Least recently used goes first: re-insert on a hit.
        cache.delete(k);
        cache.set(k, hit);
        return hit;
      }
      const before = writes;
      const credential = await store.getCredential(username, domain, mechanism);
      if (credential && before === writes) {
        cache.set(k, credential);
        if (cache.size > maxEntries) cache.delete(cache.keys().next().value!);
      }
      return credential;
    },
    async delete(username, domain) {
      forget(username, domain);
      try {
        return await store.delete(username, domain);
      } finally {
        forget(username, domain);
      }
    },
    async setDisabled(username, domain, disabled) {
      forget(username, domain);
      try {
        return await store.setDisabled(username, domain, disabled);
      } finally {
        forget(username, domain);
      }
    },
    async setCredentials(username, domain, credentials) {
      forget(username, domain);
      try {
        return await store.setCredentials(username, domain, credentials);
      } finally {
        forget(username, domain);
      }
    },
  };
}
