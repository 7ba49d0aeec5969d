// The oldest and newest ids of recently asked-for archives, remembered in front of an
// ArchiveStore, for a database only this process can write (embedded PGlite). A Bind 2
// sign-in reports them (XEP-0386 §3.2 with XEP-0313 §5 metadata) at every reconnect of a
// device; on PGlite a query costs CPU on the server's own thread. Every write of the archive
// goes through this store: an append moves the newest id, a purge or the retention drops
// what is remembered; a deleted account's rows go with it (forgetAccount).
import { LruMap } from '../core/lru-map.js';
import type { ArchiveStore } from './archive.js';
import { forgettingAround } from './forgetting-around.js';

type Bounds = { first: bigint; last: bigint } | null;

export interface CachedBoundsArchiveStore extends ArchiveStore {
  /** The account was deleted (its archive went with it, by the database's cascade). */
  forgetAccount(username: string, domain: string): void;
}

export function withArchiveBoundsCache(archive: ArchiveStore, maxAccounts = 100_000): CachedBoundsArchiveStore {
  /** Per account (domain NUL username); null: the archive is empty. */
  const cache = new LruMap<string, Bounds>(maxAccounts);
  /** Bumped by every write; a read that overlapped a write does not fill the cache. */
  let writes = 0;
  const key = (username: string, domain: string) => `${domain}\u0000${username}`;
  const forgetAccount = (username: string, domain: string) => {
    writes++;
    cache.delete(key(username, domain));
  };

  return {
    ...archive,
    async append(entry) {
      const stored = await archive.append(entry);
      writes++;
      if (stored) {
        const k = key(entry.username, entry.domain);
        if (cache.has(k)) {
          const known = cache.get(k)!;
          cache.set(k, known === null ? { first: entry.id, last: entry.id } : { first: known.first < entry.id ? known.first : entry.id, last: known.last > entry.id ? known.last : entry.id });
        }
      }
      return stored;
    },
    async bounds(username, domain) {
      const k = key(username, domain);
      if (cache.has(k)) return cache.get(k)!;
      const before = writes;
      const bounds = await archive.bounds(username, domain);
      if (before === writes) cache.set(k, bounds);
      return bounds;
    },
    purge: (username, domain) => forgettingAround(() => forgetAccount(username, domain), () => archive.purge(username, domain)),
    async expire(beforeId, cursor, accounts, perAccount) {
      writes++;
      const result = await archive.expire(beforeId, cursor, accounts, perAccount);
      // Oldest messages went from some archives: their first ids moved (or they emptied).
      if (result.deleted > 0) {
        writes++;
        cache.clear();
      }
      return result;
    },
    forgetAccount,
  };
}
