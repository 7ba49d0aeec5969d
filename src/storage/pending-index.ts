// Which accounts have something waiting: offline messages or subscription requests. On
// embedded PGlite this process is the only writer, so the index (read once, then kept up to
// date by the writes) is exact, and the two queries every initial presence would make come
// back empty from memory for almost every account.
import type { Kysely } from 'kysely';
import { accountKey } from './keys.js';
import type { OfflineStore } from './offline.js';
import type { RosterStore } from './roster.js';
import type { Tables } from './tables.js';

export class AccountSet {
  private readonly accounts = new Set<string>();
  /** Bumped by every add: a read that overlapped one must not clear the mark. */
  generation = 0;
  add(username: string, domain: string): void {
    this.generation++;
    this.accounts.add(accountKey(domain, username));
  }
  /** Clears the mark after a read found nothing, unless something was added meanwhile. */
  clearIfUnchanged(username: string, domain: string, generation: number): void {
    if (generation === this.generation) this.accounts.delete(accountKey(domain, username));
  }
  /**
   * Reads the account's waiting items only when it is marked; a read that finds nothing
   * clears the mark (unless something was added meanwhile).
   */
  async readIfMarked<T>(username: string, domain: string, read: () => Promise<T[]>): Promise<T[]> {
    if (!this.has(username, domain)) return [];
    const generation = this.generation;
    const list = await read();
    if (list.length === 0) this.clearIfUnchanged(username, domain, generation);
    return list;
  }

  has(username: string, domain: string): boolean {
    return this.accounts.has(accountKey(domain, username));
  }
}

export function withPendingIndex(db: Kysely<Tables>, roster: RosterStore, offline: OfflineStore): { roster: RosterStore; offline: OfflineStore } {
  const withOffline = new AccountSet();
  const withRequests = new AccountSet();
  let loading: Promise<void> | null = null;
  const loaded = () =>
    (loading ??= (async () => {
      const [messages, requests] = await Promise.all([
        db.selectFrom('offline_messages').select(['domain', 'username']).distinct().execute(),
        db.selectFrom('subscription_requests').select(['domain', 'username']).distinct().execute(),
      ]);
      for (const row of messages) withOffline.add(row.username, row.domain);
      for (const row of requests) withRequests.add(row.username, row.domain);
    })());

  return {
    roster: {
      ...roster,
      async putRequest(username, domain, jid, stanza) {
        await loaded();
        // Marked before the write: a concurrent reader may query for nothing, never miss one.
        withRequests.add(username, domain);
        await roster.putRequest(username, domain, jid, stanza);
      },
      async hasRequest(username, domain, jid) {
        await loaded();
        return withRequests.has(username, domain) ? roster.hasRequest(username, domain, jid) : false;
      },
      async listRequests(username, domain) {
        await loaded();
        return withRequests.readIfMarked(username, domain, () => roster.listRequests(username, domain));
      },
    },
    offline: {
      ...offline,
      async push(username, domain, stanza, limit) {
        await loaded();
        withOffline.add(username, domain);
        return offline.push(username, domain, stanza, limit);
      },
      async list(username, domain, limit) {
        await loaded();
        return withOffline.readIfMarked(username, domain, () => offline.list(username, domain, limit));
      },
      async count(username, domain) {
        await loaded();
        return withOffline.has(username, domain) ? offline.count(username, domain) : 0;
      },
    },
  };
}
