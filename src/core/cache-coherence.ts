// Caches that assume their process sees every write (rosters, blocklists, archive
// preferences, PEP services, avatar hashes) say when they change an entry; in a cluster the other nodes drop
// theirs. Alone, nobody else holds a copy and this does nothing. 'caps' announces a newly
// verified XEP-0115 pair (key hash:ver): a node waiting for it reads it from the database.

export type CacheName = 'roster' | 'blocklist' | 'archive-prefs' | 'pep' | 'caps' | 'avatar-hash';

export interface CacheCoherence {
  /** This process changed the entry `key` (a bare JID) of `cache` in the store. */
  changed(cache: CacheName, key: string): void;
  /** Runs `drop` when another process changed an entry. */
  onRemoteChange(cache: CacheName, drop: (key: string) => void): void;
}

/** One process: its caches are the only copies. */
export const SINGLE_PROCESS: CacheCoherence = {
  changed() {},
  onRemoteChange() {},
};
