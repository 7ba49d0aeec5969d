// Names of deleted accounts (schema/0014). The database writes them itself, by a trigger on
// the deletion of an account; this store only reads them, and forgets the old ones.
import type { Kysely } from 'kysely';
import type { Tables } from './tables.js';

export interface TombstoneStore {
  /** When the account of this name was last deleted, if that was after `since`; else null. */
  deletedSince(username: string, domain: string, since: Date): Promise<Date | null>;
  /** Forgets names deleted before `before`; how many. */
  purgeBefore(before: Date): Promise<number>;
}

export function createTombstoneStore(db: Kysely<Tables>): TombstoneStore {
  return {
    async deletedSince(username, domain, since) {
      const row = await db
        .selectFrom('account_tombstones')
        .select('deleted_at')
        .where('domain', '=', domain)
        .where('username', '=', username)
        .where('deleted_at', '>', since)
        .executeTakeFirst();
      return row?.deleted_at ?? null;
    },

    async purgeBefore(before) {
      const result = await db.deleteFrom('account_tombstones').where('deleted_at', '<', before).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}
