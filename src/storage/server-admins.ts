// Server administrators granted in the database (schema/0014), beside the static `admins` of
// the configuration: an account created with an invitation minted with --admin.
import type { Kysely } from 'kysely';
import type { Tables } from './tables.js';

export interface ServerAdminStore {
  /** Grants; false when the account does not exist. Granting twice keeps the first grant. */
  grant(username: string, domain: string): Promise<boolean>;
  /** Every granted administrator's bare JID. */
  list(): Promise<string[]>;
  has(username: string, domain: string): Promise<boolean>;
}

export function createServerAdminStore(db: Kysely<Tables>): ServerAdminStore {
  return {
    async grant(username, domain) {
      try {
        await db
          .insertInto('server_admins')
          .values({ domain, username })
          .onConflict((oc) => oc.columns(['domain', 'username']).doNothing())
          .execute();
        return true;
      } catch (err) {
        // 23503: the account is gone (deleted meanwhile).
        if ((err as { code?: string }).code === '23503') return false;
        throw err;
      }
    },

    async list() {
      const rows = await db.selectFrom('server_admins').select(['domain', 'username']).orderBy('domain').orderBy('username').execute();
      return rows.map((row) => `${row.username}@${row.domain}`);
    },

    async has(username, domain) {
      const row = await db.selectFrom('server_admins').select('username').where('domain', '=', domain).where('username', '=', username).executeTakeFirst();
      return row !== undefined;
    },
  };
}
