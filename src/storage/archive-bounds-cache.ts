// The oldest and newest ids of recently asked-for archives, remembered in front of an
// ArchiveStore. A Bind 2 sign-in reports them (XEP-0386 §3.2 with XEP-0313 §5 metadata) at
// every reconnect of a device: a query each time costs CPU on the server's own thread
// (PGlite) or a round trip (PostgreSQL). This process's writes go through this store: an
// append moves the newest id, a purge or the retention drops what is remembered; a deleted
// account's rows go with it (forgetAccount). Other writers' changes arrive through the
// change feed (change-feed.ts); while it is down every read goes to the database.
import { LruMap } from '../core/lru-map.js';
import type { ChangeFeed } from './change-feed.js';
import type { ArchiveStore } from './archive.js';
import { forgettingAround, readForCache, WriteStamps } from './forgetting-around.js';

type Bounds = { first: bigint; last: bigint } | null;

export interface CachedBoundsArchiveStore extends ArchiveStore {
  /** The account was deleted (its archive went with it, by the database's cascade). */
  forgetAccount(username: string, domain: string): void;
}

export function withArchiveBoundsCache(archive: ArchiveStore, feed: ChangeFeed, maxAccounts = 100_000): CachedBoundsArchiveStore {
  /** Per account (domain NUL username); null: the archive is empty. */
  const cache = new LruMap<string, Bounds>(maxAccounts);
  /** A read that overlapped a write to its account does not fill the cache. */
  const writes = new WriteStamps(maxAccounts);
  const key = (username: string, domain: string) => `${domain}\u0000${username}`;
  const forgetAccount = (username: string, domain: string) => {
    const k = key(username, domain);
    writes.written(k);
    cache.delete(k);
  };
  feed.onChange('archive', forgetAccount);
  feed.onResync(() => {
    writes.writtenAll();
    cache.clear();
  });

  return {
    ...archive,
    async append(entry) {
      const stored = await archive.append(entry);
      const k = key(entry.username, entry.domain);
      writes.written(k);
      if (stored) {
        if (cache.has(k)) {
          const known = cache.get(k)!;
          cache.set(k, known === null ? { first: entry.id, last: entry.id } : { first: known.first < entry.id ? known.first : entry.id, last: known.last > entry.id ? known.last : entry.id });
        }
      }
      return stored;
    },
    async bounds(username, domain) {
      if (!feed.live) return archive.bounds(username, domain);
      const k = key(username, domain);
      if (cache.has(k)) return cache.get(k)!;
      return readForCache(feed, writes, k, () => archive.bounds(username, domain), (bounds) => cache.set(k, bounds));
    },
    purge: (username, domain) => forgettingAround(() => forgetAccount(username, domain), () => archive.purge(username, domain)),
    async expire(beforeId, cursor, accounts, perAccount) {
      writes.writtenAll();
      const result = await archive.expire(beforeId, cursor, accounts, perAccount);
      // Oldest messages went from some archives: their first ids moved (or they emptied).
      if (result.deleted > 0) {
        writes.writtenAll();
        cache.clear();
      }
      return result;
    },
    forgetAccount,
  };
}
