// XEP-0054 vCards per account (schema/0009).
import { sql, type Kysely } from 'kysely';
import type { Tables } from './tables.js';

export interface VcardStore {
  get(username: string, domain: string): Promise<string | null>;
  /** Stores (replaces) the account's vCard; false when the account does not exist. */
  put(username: string, domain: string, xml: string): Promise<boolean>;
}

export function createVcardStore(db: Kysely<Tables>): VcardStore {
  return {
    async get(username, domain) {
      const row = await db.selectFrom('vcards').select('xml').where('domain', '=', domain).where('username', '=', username).executeTakeFirst();
      return row?.xml ?? null;
    },

    async put(username, domain, xml) {
      // Only for an existing account: a set racing the account's deletion writes nothing.
      const row = await db
        .insertInto('vcards')
        .columns(['domain', 'username', 'xml'])
        .expression((eb) =>
          eb.selectFrom('accounts').select(['domain', 'username', sql<string>`${xml}::text`.as('xml')]).where('domain', '=', domain).where('username', '=', username),
        )
        .onConflict((oc) => oc.columns(['domain', 'username']).doUpdateSet((eb) => ({ xml: eb.ref('excluded.xml'), updated_at: sql<Date>`now()` })))
        .returning('username')
        .executeTakeFirst();
      return row !== undefined;
    },
  };
}
