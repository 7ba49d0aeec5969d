// XEP-0115 capabilities Hearth verified (schema/0010): features by (hash, ver).
import type { Kysely } from 'kysely';
import type { Tables } from './tables.js';

export interface EntityCapsStore {
  get(hash: string, ver: string): Promise<string[] | null>;
  /** Records a verified pair; a pair already known is left as it is (it cannot differ). */
  put(hash: string, ver: string, features: readonly string[]): Promise<void>;
}

export function createEntityCapsStore(db: Kysely<Tables>): EntityCapsStore {
  return {
    async get(hash, ver) {
      const row = await db.selectFrom('entity_caps').select('features').where('hash', '=', hash).where('ver', '=', ver).executeTakeFirst();
      return row?.features ?? null;
    },

    async put(hash, ver, features) {
      await db.insertInto('entity_caps').values({ hash, ver, features: [...features] }).onConflict((oc) => oc.columns(['hash', 'ver']).doNothing()).execute();
    },
  };
}
