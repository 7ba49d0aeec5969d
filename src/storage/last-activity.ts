// XEP-0012 last logout per account (schema/0006): when its last available session ended, and
// the status text of its last unavailable presence.
import { sql, type Kysely } from 'kysely';
import type { Tables } from './tables.js';

export interface LastLogout {
  at: Date;
  /** The <status/> of the last unavailable presence, or null when it had none. */
  status: string | null;
}

export interface LastActivityStore {
  /** Records a logout, replacing the previous one; false when the account does not exist. */
  record(username: string, domain: string, logout: LastLogout): Promise<boolean>;
  get(username: string, domain: string): Promise<LastLogout | null>;
}

export function createLastActivityStore(db: Kysely<Tables>): LastActivityStore {
  return {
    async record(username, domain, { at, status }) {
      // Insert only for an existing account: a logout that races the account's deletion
      // writes nothing instead of failing on the foreign key.
      const row = await db
        .insertInto('last_activity')
        .columns(['domain', 'username', 'logout_at', 'status'])
        .expression((eb) =>
          eb
            .selectFrom('accounts')
            .select([
              'domain',
              'username',
              sql<Date>`${at}::timestamptz`.as('logout_at'),
              sql<string | null>`${status}::text`.as('status'),
            ])
            .where('domain', '=', domain)
            .where('username', '=', username),
        )
        .onConflict((oc) =>
          oc.columns(['domain', 'username']).doUpdateSet((eb) => ({
            logout_at: eb.ref('excluded.logout_at'),
            status: eb.ref('excluded.status'),
          })),
        )
        .returning('username')
        .executeTakeFirst();
      return row !== undefined;
    },

    async get(username, domain) {
      const row = await db
        .selectFrom('last_activity')
        .select(['logout_at', 'status'])
        .where('domain', '=', domain)
        .where('username', '=', username)
        .executeTakeFirst();
      return row ? { at: row.logout_at, status: row.status } : null;
    },
  };
}
