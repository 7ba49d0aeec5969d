// XEP-0484 FAST tokens (schema/0013): per account and client, a 'current' and a 'new' slot,
// each holding a sealed token (the FAST service seals and opens them; this store never sees
// a token in the clear).
import type { Kysely } from 'kysely';
import { BatchLoader } from './batch.js';
import { toBuffer } from './bytes.js';
import type { Tables } from './tables.js';

export type FastTokenSlot = 'current' | 'new';

export interface StoredFastToken {
  slot: FastTokenSlot;
  mechanism: string;
  sealedToken: Buffer;
  expiresAt: Date;
}

export interface FastTokenStore {
  /** The client's tokens (both slots), expired ones included; concurrent lookups share a query. */
  find(username: string, domain: string, clientId: Buffer): Promise<StoredFastToken[]>;
  /** Writes a slot (replacing what it held); false when the account does not exist. */
  put(username: string, domain: string, clientId: Buffer, token: StoredFastToken): Promise<boolean>;
  /** The 'new' token was used: it becomes 'current', and the previous current one is gone. */
  promote(username: string, domain: string, clientId: Buffer): Promise<void>;
  /** Removes one slot of a client. */
  remove(username: string, domain: string, clientId: Buffer, slot: FastTokenSlot): Promise<void>;
  /** Removes every token of an account (password change, disabling); returns how many. */
  removeAccount(username: string, domain: string): Promise<number>;
  /** Removes tokens that expired before `now`; returns how many. */
  removeExpired(now: Date): Promise<number>;
}

interface Key {
  username: string;
  domain: string;
  clientId: Buffer;
}

const keyOf = (key: Key) => `${key.domain}\u0000${key.username}\u0000${key.clientId.toString('hex')}`;

export function createFastTokenStore(db: Kysely<Tables>): FastTokenStore {
  // A reconnect storm (a server restart) asks for thousands at once: few queries serve them.
  const loader = new BatchLoader<Key, StoredFastToken[]>(
    keyOf,
    async (keys) => {
      const found = new Map<string, StoredFastToken[]>();
      const byDomain = new Map<string, Key[]>();
      for (const key of keys) {
        const group = byDomain.get(key.domain);
        if (group) group.push(key);
        else byDomain.set(key.domain, [key]);
      }
      for (const [domain, group] of byDomain) {
        const rows = await db
          .selectFrom('fast_tokens')
          .select(['username', 'client_id', 'slot', 'mechanism', 'sealed_token', 'expires_at'])
          .where('domain', '=', domain)
          .where('username', 'in', [...new Set(group.map((k) => k.username))])
          .where('client_id', 'in', group.map((k) => k.clientId))
          .execute();
        for (const row of rows) {
          const id = keyOf({ domain, username: row.username, clientId: toBuffer(row.client_id) });
          const token: StoredFastToken = { slot: row.slot, mechanism: row.mechanism, sealedToken: toBuffer(row.sealed_token), expiresAt: row.expires_at };
          const list = found.get(id);
          if (list) list.push(token);
          else found.set(id, [token]);
        }
      }
      return found;
    },
    [],
  );

  const client = (username: string, domain: string, clientId: Buffer) =>
    db.deleteFrom('fast_tokens').where('domain', '=', domain).where('username', '=', username).where('client_id', '=', clientId);

  return {
    find(username, domain, clientId) {
      return loader.load({ username, domain, clientId });
    },

    async put(username, domain, clientId, token) {
      const row = {
        domain,
        username,
        client_id: clientId,
        slot: token.slot,
        mechanism: token.mechanism,
        sealed_token: token.sealedToken,
        expires_at: token.expiresAt,
      };
      try {
        await db
          .insertInto('fast_tokens')
          .values(row)
          .onConflict((oc) =>
            oc.columns(['domain', 'username', 'client_id', 'slot']).doUpdateSet({
              mechanism: row.mechanism,
              sealed_token: row.sealed_token,
              expires_at: row.expires_at,
              issued_at: new Date(),
            }),
          )
          .execute();
        return true;
      } catch (err) {
        // 23503: the account is gone (deleted meanwhile).
        if ((err as { code?: string }).code === '23503') return false;
        throw err;
      }
    },

    async promote(username, domain, clientId) {
      await db.transaction().execute(async (trx) => {
        await trx.deleteFrom('fast_tokens').where('domain', '=', domain).where('username', '=', username)
          .where('client_id', '=', clientId).where('slot', '=', 'current').execute();
        await trx.updateTable('fast_tokens').set({ slot: 'current' }).where('domain', '=', domain).where('username', '=', username)
          .where('client_id', '=', clientId).where('slot', '=', 'new').execute();
      });
    },

    async remove(username, domain, clientId, slot) {
      await client(username, domain, clientId).where('slot', '=', slot).execute();
    },

    async removeAccount(username, domain) {
      const result = await db.deleteFrom('fast_tokens').where('domain', '=', domain).where('username', '=', username).executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    async removeExpired(now) {
      const result = await db.deleteFrom('fast_tokens').where('expires_at', '<', now).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}
