// A read-through cache of SCRAM credentials in front of an AccountStore, for a database
// only this process can write (embedded PGlite allows one process per data directory), so
// the cache is exactly as fresh as the database. Every login needs a credential; on PGlite
// a query costs CPU on the server's own thread.
import type { ScramMechanismName } from '../sasl/credentials.js';
import type { AccountStore, StoredCredential } from './accounts.js';
import { forgettingAround, WriteStamps } from './forgetting-around.js';

export function withCredentialCache(store: AccountStore, maxEntries = 50_000): AccountStore {
  const cache = new Map<string, StoredCredential>();
  /** A read that overlapped a write to its account does not fill the cache. */
  const writes = new WriteStamps(maxEntries);
  const key = (username: string, domain: string, mechanism: ScramMechanismName) => `${mechanism}\u0000${domain}\u0000${username}`;
  const forget = (username: string, domain: string) => {
    writes.written(`${domain}\u0000${username}`);
    cache.delete(key(username, domain, 'SCRAM-SHA-1'));
    cache.delete(key(username, domain, 'SCRAM-SHA-256'));
  };
  const writing = <T>(username: string, domain: string, write: () => Promise<T>) => forgettingAround(() => forget(username, domain), write);

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
      const began = writes.now();
      const credential = await store.getCredential(username, domain, mechanism);
      if (credential && writes.unchangedSince(`${domain}\u0000${username}`, began)) {
        cache.set(k, credential);
        if (cache.size > maxEntries) cache.delete(cache.keys().next().value!);
      }
      return credential;
    },
    delete: (username, domain) => writing(username, domain, () => store.delete(username, domain)),
    setDisabled: (username, domain, disabled) => writing(username, domain, () => store.setDisabled(username, domain, disabled)),
    setCredentials: (username, domain, credentials) => writing(username, domain, () => store.setCredentials(username, domain, credentials)),
  };
}
