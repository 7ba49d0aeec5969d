// XEP-0049 private XML per account and namespace (schema/0008).
import { sql, type Kysely } from 'kysely';
import type { Tables } from './tables.js';

export type PrivatePutResult = 'stored' | 'no-account' | 'limit';

export interface PrivateStorageStore {
  /** The XML stored under `namespace`, or null. */
  get(username: string, domain: string, namespace: string): Promise<string | null>;
  /**
   * Stores (replaces) the XML under each namespace, all or nothing; 'limit' when the account
   * would hold more than `maxNamespaces` namespaces.
   */
  put(username: string, domain: string, entries: ReadonlyMap<string, string>, maxNamespaces: number): Promise<PrivatePutResult>;
}

export function createPrivateStorageStore(db: Kysely<Tables>): PrivateStorageStore {
  return {
    async get(username, domain, namespace) {
      const row = await db
        .selectFrom('private_storage')
        .select('xml')
        .where('domain', '=', domain)
        .where('username', '=', username)
        .where('namespace', '=', namespace)
        .executeTakeFirst();
      return row?.xml ?? null;
    },

    async put(username, domain, entries, maxNamespaces) {
      return db.transaction().execute(async (trx) => {
        // The account row, locked: concurrent puts of one account count one after the other,
        // and a put racing the account's deletion writes nothing.
        const account = await trx
          .selectFrom('accounts')
          .select('username')
          .where('domain', '=', domain)
          .where('username', '=', username)
          .forUpdate()
          .executeTakeFirst();
        if (!account) return 'no-account';
        const namespaces = [...entries.keys()];
        const { count } = await trx
          .selectFrom('private_storage')
          .select(sql<string>`count(*)`.as('count'))
          .where('domain', '=', domain)
          .where('username', '=', username)
          .where('namespace', 'not in', namespaces)
          .executeTakeFirstOrThrow();
        if (Number(count) + namespaces.length > maxNamespaces) return 'limit';
        await trx
          .insertInto('private_storage')
          .values(namespaces.map((namespace) => ({ domain, username, namespace, xml: entries.get(namespace)! })))
          .onConflict((oc) =>
            oc.columns(['domain', 'username', 'namespace']).doUpdateSet((eb) => ({
              xml: eb.ref('excluded.xml'),
              updated_at: sql<Date>`now()`,
            })),
          )
          .execute();
        return 'stored';
      });
    },
  };
}
