// Offline message storage (XEP-0160): messages for an account with no available resource,
// committed before the sender's stanza counts as handled, delivered in order later.
import { sql, type Kysely } from 'kysely';
import { BatchLoader } from './batch.js';
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
export function createOfflineStore(db: Kysely<Tables>): OfflineStore {
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
    async push(username, domain, stanza, limit) {
      if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`invalid offline message limit: ${limit}`);
      if (limit === 0) return false;
      // On the message path: BEGIN, lock, conditional insert, COMMIT. Resolves after COMMIT.
      return inTransaction(db, async (trx) => {
        // Serialise the pushes of one account, so the count below cannot be overtaken.
        // NO KEY UPDATE: conflicts with itself and with deleting the account, but not with
        // the KEY SHARE locks that foreign-key checks of other tables take on this row.
        const account = await trx
          .selectFrom('accounts')
          .select('username')
          .where('domain', '=', domain)
          .where('username', '=', username)
          .forNoKeyUpdate()
          .executeTakeFirst();
        if (!account) return false;
        // A new statement, so a new snapshot (READ COMMITTED): the count includes every
        // push committed by whoever held the lock before us.
        const inserted = await trx
          .insertInto('offline_messages')
          .columns(['domain', 'username', 'stanza'])
          .expression(
            trx
              .selectNoFrom((eb) => [eb.val(domain).as('domain'), eb.val(username).as('username'), eb.val(stanza).as('stanza')])
              .where((eb) =>
                eb(
                  eb
                    .selectFrom('offline_messages')
                    .select((inner) => inner.fn.countAll().as('count'))
                    .where('domain', '=', domain)
                    .where('username', '=', username),
                  '<',
                  limit,
                ),
              ),
          )
          .returning('id')
          .executeTakeFirst();
        return inserted !== undefined;
      });
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
