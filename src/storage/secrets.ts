// Secrets shared by every node of a cluster (schema/0007): the first writer's value wins.
import type { Kysely } from 'kysely';
import { toBuffer } from './bytes.js';
import type { Tables } from './tables.js';

export interface SecretStore {
  /** The secret called `name`, stored as `seed` when there is none yet. */
  getOrCreate(name: string, seed: Buffer): Promise<Buffer>;
}

export function createSecretStore(db: Kysely<Tables>): SecretStore {
  return {
    async getOrCreate(name, seed) {
      await db.insertInto('server_secrets').values({ name, value: seed }).onConflict((oc) => oc.column('name').doNothing()).execute();
      const row = await db.selectFrom('server_secrets').select('value').where('name', '=', name).executeTakeFirstOrThrow();
      return toBuffer(row.value);
    },
  };
}
