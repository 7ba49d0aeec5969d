// Offline message storage (XEP-0160): messages for an account with no available resource,
// committed before the sender's stanza counts as handled, delivered in order later.
import { sql, type Kysely } from 'kysely';
import { BatchLoader, BatchWriter } from './batch.js';
import { accountKey, appendTo, groupByDomain } from './keys.js';
import type { Tables } from './tables.js';

export interface OfflineMessage {
  id: number;
  /** The message as serialised XML, exactly as it was routed. */
  stanza: string;
  storedAt: Date;
}

export interface OfflineStore {
  /**
   * Stores a message unless the account already holds `limit`; false then. Resolves only
   * once the row is committed.
   */
  push(username: string, domain: string, stanza: string, limit: number): Promise<boolean>;
  /** Oldest first. */
  list(username: string, domain: string, limit?: number): Promise<OfflineMessage[]>;
  /** Removes delivered messages; returns how many were removed. */
  remove(username: string, domain: string, ids: readonly number[]): Promise<number>;
  count(username: string, domain: string): Promise<number>;
  purge(username: string, domain: string): Promise<number>;
}

/**
 * `db` may be a Kysely or a Transaction. Inside a caller's transaction `push` joins it,
 * and the message is durable only once the caller commits.
 */
interface Push {
  username: string;
  domain: string;
  stanza: string;
  limit: number;
}

/**
 * Stores a batch of messages in one transaction: the accounts' rows are locked (in one order,
 * so batches never deadlock), each account's queue is counted, and what fits under each
 * push's limit is inserted in arrival order. One result per push: stored or refused (no such
 * account, or the queue is full).
 */
async function pushMany(db: Kysely<Tables>, pushes: readonly Push[]): Promise<boolean[]> {
  return inTransaction(db, async (trx) => {
    const keys = new Map<string, { domain: string; username: string }>();
    for (const p of pushes) keys.set(accountKey(p.domain, p.username), { domain: p.domain, username: p.username });
    const domains = [...keys.values()].map((k) => k.domain);
    const usernames = [...keys.values()].map((k) => k.username);
    // Locked in primary-key order, so concurrent batches never deadlock. NO KEY UPDATE:
    // conflicts with itself and with deleting the account, but not with the KEY SHARE locks
    // that foreign-key checks of other tables take on these rows.
    const { rows: existing } = await sql<{ domain: string; username: string }>`
      select a.domain, a.username from accounts a
      join unnest(${domains}::text[], ${usernames}::text[]) as k(domain, username)
        on a.domain = k.domain and a.username = k.username
      order by a.domain, a.username
      for no key update of a`.execute(trx);
    // A new statement, so a new snapshot (READ COMMITTED): the counts include every push
    // committed by whoever held the locks before us.
    const { rows: counts } = await sql<{ domain: string; username: string; count: number }>`
      select o.domain, o.username, count(*)::int as count from offline_messages o
      join unnest(${domains}::text[], ${usernames}::text[]) as k(domain, username)
        on o.domain = k.domain and o.username = k.username
      group by o.domain, o.username`.execute(trx);
    const queued = new Map<string, number>();
    for (const row of existing) queued.set(accountKey(row.domain, row.username), 0);
    for (const row of counts) queued.set(accountKey(row.domain, row.username), Number(row.count));
    const accepted: Push[] = [];
    const results = pushes.map((p) => {
      const key = accountKey(p.domain, p.username);
      const count = queued.get(key);
      if (count === undefined || count >= p.limit) return false;
      queued.set(key, count + 1);
      accepted.push(p);
      return true;
    });
    if (accepted.length > 0) {
      // In arrival order: ids (the delivery order) are assigned as the rows are produced.
      await sql`
        insert into offline_messages (domain, username, stanza)
        select v.domain, v.username, v.stanza
        from unnest(${accepted.map((p) => p.domain)}::text[], ${accepted.map((p) => p.username)}::text[], ${accepted.map((p) => p.stanza)}::text[])
          with ordinality as v(domain, username, stanza, n)
        order by v.n`.execute(trx);
    }
    return results;
  });
}

export function createOfflineStore(db: Kysely<Tables>): OfflineStore {
  // Messages for offline accounts are committed before the sender's stanza counts as handled
  // (and before stream management acknowledges it): group-committed, one batch at a time so
  // that each account's messages keep their order.
  const writer = new BatchWriter<Push, boolean>((pushes) => pushMany(db, pushes));
  const pendingLoader = new BatchLoader<{ username: string; domain: string }, OfflineMessage[]>(
    (k) => accountKey(k.domain, k.username),
    async (keys) => {
      const found = new Map<string, OfflineMessage[]>();
      for (const [domain, usernames] of groupByDomain(keys)) {
        const rows = await db
          .selectFrom('offline_messages')
          .select(['username', 'id', 'stanza', 'stored_at'])
          .where('domain', '=', domain)
          .where('username', 'in', usernames)
          .orderBy('username')
          .orderBy('id')
          .execute();
        for (const row of rows) {
          appendTo(found, accountKey(domain, row.username), { id: Number(row.id), stanza: row.stanza, storedAt: row.stored_at });
        }
      }
      return found;
    },
    // Shared by every caller with nothing pending: frozen so no caller can change it.
    Object.freeze([]) as unknown as OfflineMessage[],
  );
  return {
    push(username, domain, stanza, limit) {
      if (!Number.isSafeInteger(limit) || limit < 0) return Promise.reject(new RangeError(`invalid offline message limit: ${limit}`));
      if (limit === 0) return Promise.resolve(false);
      // Inside a caller's transaction the push joins it; otherwise it is group-committed.
      if (db.isTransaction) return pushMany(db, [{ username, domain, stanza, limit }]).then((r) => r[0]!);
      return writer.write({ username, domain, stanza, limit });
    },

    async list(username, domain, limit) {
      if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0)) {
        throw new RangeError(`invalid offline list limit: ${limit}`);
      }
      if (limit === 0) return [];
      // Asked at every initial presence: concurrent logins share one query.
      if (limit === undefined) return pendingLoader.load({ username, domain });
      let query = db
        .selectFrom('offline_messages')
        .select(['id', 'stanza', 'stored_at'])
        .where('domain', '=', domain)
        .where('username', '=', username)
        .orderBy('id');
      if (limit !== undefined) query = query.limit(limit);
      const rows = await query.execute();
      return rows.map((row) => ({ id: Number(row.id), stanza: row.stanza, storedAt: row.stored_at }));
    },

    async remove(username, domain, ids) {
      if (ids.length === 0) return 0;
      for (const id of ids) {
        if (!Number.isSafeInteger(id)) throw new TypeError(`invalid offline message id: ${id}`);
      }
      // One array parameter, however many ids.
      const result = await db
        .deleteFrom('offline_messages')
        .where('domain', '=', domain)
        .where('username', '=', username)
        .where((eb) => eb('id', '=', eb.fn.any(sql<number[]>`${[...ids]}::bigint[]`)))
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    async count(username, domain) {
      const row = await db
        .selectFrom('offline_messages')
        .select((eb) => eb.fn.countAll().as('count'))
        .where('domain', '=', domain)
        .where('username', '=', username)
        .executeTakeFirstOrThrow();
      return Number(row.count);
    },

    async purge(username, domain) {
      const result = await db
        .deleteFrom('offline_messages')
        .where('domain', '=', domain)
        .where('username', '=', username)
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}

function inTransaction<T>(db: Kysely<Tables>, fn: (trx: Kysely<Tables>) => Promise<T>): Promise<T> {
  return db.isTransaction ? fn(db) : db.transaction().execute(fn);
}
