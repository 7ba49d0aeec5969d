// Which accounts have something waiting: offline messages or subscription requests. The two
// queries every initial presence would make come back empty from memory for almost every
// account. Exact on embedded PGlite (this process is the only writer); on PostgreSQL other
// writers' inserts arrive through the change feed, and while it is down the database answers.
import type { Kysely } from 'kysely';
import { LoadedAccountSet } from './account-set.js';
import type { ChangeFeed } from './change-feed.js';
import type { OfflineStore } from './offline.js';
import type { RosterStore } from './roster.js';
import type { Tables } from './tables.js';

export function withPendingIndex(db: Kysely<Tables>, feed: ChangeFeed, roster: RosterStore, offline: OfflineStore): { roster: RosterStore; offline: OfflineStore } {
  const withOffline = new LoadedAccountSet(() => db.selectFrom('offline_messages').select(['domain', 'username']).distinct().execute(), feed, 'offline');
  const withRequests = new LoadedAccountSet(() => db.selectFrom('subscription_requests').select(['domain', 'username']).distinct().execute(), feed, 'subscription_requests');

  return {
    roster: {
      ...roster,
      async putRequest(username, domain, jid, stanza) {
        // Marked before the write: a concurrent reader may query for nothing, never miss one.
        if (await withRequests.usable()) withRequests.add(username, domain);
        await roster.putRequest(username, domain, jid, stanza);
      },
      async hasRequest(username, domain, jid) {
        if ((await withRequests.usable()) && !withRequests.has(username, domain)) return false;
        return roster.hasRequest(username, domain, jid);
      },
      async listRequests(username, domain) {
        if (!(await withRequests.usable())) return roster.listRequests(username, domain);
        return withRequests.readIfMarked(username, domain, () => roster.listRequests(username, domain));
      },
    },
    offline: {
      ...offline,
      async push(username, domain, stanza, limit) {
        if (await withOffline.usable()) withOffline.add(username, domain);
        return offline.push(username, domain, stanza, limit);
      },
      async list(username, domain, limit) {
        if (!(await withOffline.usable())) return offline.list(username, domain, limit);
        return withOffline.readIfMarked(username, domain, () => offline.list(username, domain, limit));
      },
      async count(username, domain) {
        if ((await withOffline.usable()) && !withOffline.has(username, domain)) return 0;
        return offline.count(username, domain);
      },
    },
  };
}
