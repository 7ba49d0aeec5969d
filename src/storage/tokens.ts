// Admin API bearer tokens: only their SHA-256 digests are stored (schema/0003).
import type { Kysely } from 'kysely';
import type { Tables } from './tables.js';

export type TokenScope = 'admin' | 'metrics';

export interface TokenRecord {
  name: string;
  scope: TokenScope;
  createdAt: Date;
  lastUsedAt: Date | null;
}

export interface TokenStore {
  /** false when a token of that name exists already. */
  create(name: string, scope: TokenScope, digest: Buffer): Promise<boolean>;
  /** The token whose digest this is, or null. */
  findByDigest(digest: Buffer): Promise<{ name: string; scope: TokenScope } | null>;
  /** Ordered by name. */
  list(): Promise<TokenRecord[]>;
  /** false when there was no such token. */
  revoke(name: string): Promise<boolean>;
  touch(name: string, when: Date): Promise<void>;
}

export function createTokenStore(db: Kysely<Tables>): TokenStore {
  return {
    async create(name, scope, digest) {
      const inserted = await db
        .insertInto('admin_tokens')
        .values({ name, scope, token_sha256: digest })
        .onConflict((oc) => oc.column('name').doNothing())
        .returning('name')
        .executeTakeFirst();
      return inserted !== undefined;
    },

    async findByDigest(digest) {
      const row = await db.selectFrom('admin_tokens').select(['name', 'scope']).where('token_sha256', '=', digest).executeTakeFirst();
      return row ?? null;
    },

    async list() {
      const rows = await db.selectFrom('admin_tokens').select(['name', 'scope', 'created_at', 'last_used_at']).orderBy('name').execute();
      return rows.map((row) => ({ name: row.name, scope: row.scope, createdAt: row.created_at, lastUsedAt: row.last_used_at }));
    },

    async revoke(name) {
      const result = await db.deleteFrom('admin_tokens').where('name', '=', name).executeTakeFirst();
      return result.numDeletedRows > 0n;
    },

    async touch(name, when) {
      await db.updateTable('admin_tokens').set({ last_used_at: when }).where('name', '=', name).execute();
    },
  };
}
