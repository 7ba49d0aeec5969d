// Which accounts have stored archive preferences (XEP-0441). On embedded PGlite this process
// is the only writer, so the index (read once, then kept up to date by the writes) is exact,
// and the preferences read at every login come back from memory for the many accounts that
// never set any: no query, and no database memory spent on it.
import type { Kysely } from 'kysely';
import type { ArchiveStore } from './archive.js';
import { AccountSet } from './pending-index.js';
import type { Tables } from './tables.js';

export function withPrefsIndex(db: Kysely<Tables>, archive: ArchiveStore): ArchiveStore {
  const withPrefs = new AccountSet();
  let loading: Promise<void> | null = null;
  const loaded = () =>
    (loading ??= (async () => {
      for (const row of await db.selectFrom('archive_prefs').select(['domain', 'username']).execute()) withPrefs.add(row.username, row.domain);
    })());
  return {
    ...archive,
    async prefs(username, domain) {
      await loaded();
      if (!withPrefs.has(username, domain)) return null;
      return archive.prefs(username, domain);
    },
    async setPrefs(username, domain, prefs) {
      await loaded();
      // Marked before the write: a concurrent reader may query for nothing, never miss them.
      withPrefs.add(username, domain);
      return archive.setPrefs(username, domain, prefs);
    },
  };
}
