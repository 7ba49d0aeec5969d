// Caches that assume their process sees every write (rosters, blocklists, archive
// preferences, PEP services, avatar hashes) say when they change an entry; in a cluster the other nodes drop
// theirs. Alone, nobody else holds a copy and this does nothing. 'caps' announces a newly
// verified XEP-0115 pair (key hash:ver): a node waiting for it reads it from the database.
// 'server-admins': an administrator was granted or lost with its account (key: the bare JID);
// the other nodes read that grant again.

export type CacheName = 'roster' | 'blocklist' | 'archive-prefs' | 'pep' | 'caps' | 'avatar-hash' | 'server-admins';

/**
 * State only one node sees but every node needs, kept in memory on each (never stored):
 * 'pep-remote-presence': a contact on another server sent a local account presence over the
 * s2s stream that one node holds (XEP-0163 notifications go out from any node).
 */
export type SharedTopic = 'pep-remote-presence';

export interface CacheCoherence {
  /** This process changed the entry `key` (a bare JID) of `cache` in the store. */
  changed(cache: CacheName, key: string): void;
  /** Runs `drop` when another process changed an entry. */
  onRemoteChange(cache: CacheName, drop: (key: string) => void): void;
  /** Tells the other processes what this one saw. */
  share(topic: SharedTopic, payload: string): void;
  /** Runs `handle` with what another process shared. */
  onShared(topic: SharedTopic, handle: (payload: string) => void): void;
}

/** One process: its caches are the only copies. */
export const SINGLE_PROCESS: CacheCoherence = {
  changed() {},
  onRemoteChange() {},
  share() {},
  onShared() {},
};
