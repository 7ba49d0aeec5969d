// Which accounts have stored archive preferences (XEP-0441): the preferences read at every
// login come back from memory for the many accounts that never set any (no query, and no
// database memory spent on it). Exact on embedded PGlite (this process is the only writer);
// on PostgreSQL other writers' inserts arrive through the change feed, and while it is down
// the database answers.
import type { Kysely } from 'kysely';
import type { ArchiveStore } from './archive.js';
import { LoadedAccountSet } from './account-set.js';
import type { ChangeFeed } from './change-feed.js';
import type { Tables } from './tables.js';

export function withPrefsIndex(db: Kysely<Tables>, feed: ChangeFeed, archive: ArchiveStore): ArchiveStore {
  const withPrefs = new LoadedAccountSet(() => db.selectFrom('archive_prefs').select(['domain', 'username']).execute(), feed, 'archive_prefs');
  return {
    ...archive,
    async prefs(username, domain) {
      if ((await withPrefs.usable()) && !withPrefs.has(username, domain)) return null;
      return archive.prefs(username, domain);
    },
    async setPrefs(username, domain, prefs) {
      // Marked before the write: a concurrent reader may query for nothing, never miss them.
      if (await withPrefs.usable()) withPrefs.add(username, domain);
      return archive.setPrefs(username, domain, prefs);
    },
  };
}
