// Local accounts and their SCRAM credentials. Usernames and domains arrive
// already normalised (PRECIS) from the caller and are stored as given.
import type { Kysely } from 'kysely';
import type { ScramCredential, ScramMechanismName } from '../sasl/credentials.js';
import { BatchLoader } from './batch.js';
import { accountKey, appendTo } from './keys.js';
import { toBuffer } from './bytes.js';
import type { NewScramCredentialRow, ScramCredentialRow, Tables } from './tables.js';

export interface AccountRecord {
  username: string;
  domain: string;
  createdAt: Date;
  /** When the account was disabled (it cannot log in), or null. */
  disabledAt: Date | null;
}

/** A SCRAM credential as stored, with whether its account may log in. */
export interface StoredCredential extends ScramCredential {
  accountDisabled: boolean;
}

export interface NewAccount {
  username: string;
  domain: string;
  credentials: ScramCredential[];
}

export interface AccountListOptions {
  domain?: string;
  /** Case-insensitive substring of the username; `%`, `_` and `\` match literally. */
  search?: string;
  limit: number;
  /** Keyset cursor: the last (domain, username) of the previous page. */
  after?: { domain: string; username: string };
}

export interface AccountStore {
  /** false when the account already exists; account and credentials are written atomically. */
  create(account: NewAccount): Promise<boolean>;
  /** Bulk insert, one transaction per batch of 500; existing accounts are left untouched. */
  createMany(accounts: NewAccount[]): Promise<{ created: number; existed: number }>;
  /** Deletes the account and (by cascade) everything it owns. */
  delete(username: string, domain: string): Promise<boolean>;
  /** Replaces all credentials; false when there is no such account. */
  setCredentials(username: string, domain: string, credentials: ScramCredential[]): Promise<boolean>;
  getCredential(username: string, domain: string, mechanism: ScramMechanismName): Promise<StoredCredential | null>;
  /** Disables (true) or enables the account; false when there is no such account. */
  setDisabled(username: string, domain: string, disabled: boolean): Promise<boolean>;
  exists(username: string, domain: string): Promise<boolean>;
  get(username: string, domain: string): Promise<AccountRecord | null>;
  /** Ordered by (domain, username), bytewise. */
  list(options: AccountListOptions): Promise<AccountRecord[]>;
  count(domain?: string): Promise<number>;
}

interface CredentialKey {
  username: string;
  domain: string;
  mechanism: ScramMechanismName;
}

/** Accounts per createMany transaction. */
export const CREATE_MANY_BATCH_SIZE = 500;
/** Credential rows per INSERT (7 parameters each; PostgreSQL allows 65535). */
const CREDENTIAL_ROWS_PER_INSERT = 2000;

/**
 * `db` may be a Kysely or a Transaction: inside a caller's transaction the
 * multi-statement operations join it instead of opening their own.
 */
export function createAccountStore(db: Kysely<Tables>): AccountStore {
  const credentialLoader = new BatchLoader<CredentialKey, StoredCredential | null>(
    (k) => `${k.mechanism}\u0000${k.domain}\u0000${k.username}`,
    async (keys) => {
      const found = new Map<string, StoredCredential | null>();
      // Group by (domain, mechanism): in practice one group, one query.
      const groups = new Map<string, CredentialKey[]>();
      for (const key of keys) appendTo(groups, `${key.mechanism}\u0000${key.domain}`, key);
      await Promise.all(
        [...groups.values()].map(async (group) => {
          const { domain, mechanism } = group[0]!;
          const rows = await db
            .selectFrom('scram_credentials as c')
            .innerJoin('accounts as a', (join) => join.onRef('a.domain', '=', 'c.domain').onRef('a.username', '=', 'c.username'))
            .select(['c.username', 'c.mechanism', 'c.salt', 'c.iterations', 'c.stored_key', 'c.server_key', 'a.disabled_at'])
            .where('c.domain', '=', domain)
            .where('c.mechanism', '=', mechanism)
            .where('c.username', 'in', group.map((k) => k.username))
            .execute();
          for (const row of rows) {
            found.set(`${mechanism}\u0000${domain}\u0000${row.username}`, { ...toCredential(row), accountDisabled: row.disabled_at !== null });
          }
        }),
      );
      return found;
    },
    null,
  );
  return {
    async create(account) {
      const rows = credentialRows(account);
      return inTransaction(db, async (trx) => {
        const inserted = await trx
          .insertInto('accounts')
          .values({ domain: account.domain, username: account.username })
          .onConflict((oc) => oc.doNothing())
          .returning('username')
          .executeTakeFirst();
        if (!inserted) return false;
        if (rows.length > 0) await trx.insertInto('scram_credentials').values(rows).execute();
        return true;
      });
    },

    async createMany(accounts) {
      const credentialsByAccount = accounts.map(credentialRows); // validate everything up front
      let created = 0;
      for (let start = 0; start < accounts.length; start += CREATE_MANY_BATCH_SIZE) {
        const batch = accounts.slice(start, start + CREATE_MANY_BATCH_SIZE);
        const batchCredentials = credentialsByAccount.slice(start, start + CREATE_MANY_BATCH_SIZE);
        created += await inTransaction(db, async (trx) => {
          const inserted = await trx
            .insertInto('accounts')
            .values(batch.map(({ domain, username }) => ({ domain, username })))
            .onConflict((oc) => oc.doNothing())
            .returning(['domain', 'username'])
            .execute();
          if (inserted.length === 0) return 0;
          // Credentials only for accounts this statement created; when the
          // input names an account twice, the first occurrence wins.
          const fresh = new Set(inserted.map((row) => accountKey(row.domain, row.username)));
          const rows: NewScramCredentialRow[] = [];
          batch.forEach((account, index) => {
            const key = accountKey(account.domain, account.username);
            if (fresh.delete(key)) rows.push(...batchCredentials[index]);
          });
          for (let i = 0; i < rows.length; i += CREDENTIAL_ROWS_PER_INSERT) {
            await trx
              .insertInto('scram_credentials')
              .values(rows.slice(i, i + CREDENTIAL_ROWS_PER_INSERT))
              .execute();
          }
          return inserted.length;
        });
      }
      return { created, existed: accounts.length - created };
    },

    async delete(username, domain) {
      const result = await db
        .deleteFrom('accounts')
        .where('domain', '=', domain)
        .where('username', '=', username)
        .executeTakeFirst();
      return result.numDeletedRows > 0n;
    },

    async setCredentials(username, domain, credentials) {
      const rows = credentialRows({ username, domain, credentials });
      return inTransaction(db, async (trx) => {
        // Lock the account row: a concurrent delete waits for us (or we see it gone).
        const account = await trx
          .selectFrom('accounts')
          .select('username')
          .where('domain', '=', domain)
          .where('username', '=', username)
          .forUpdate()
          .executeTakeFirst();
        if (!account) return false;
        await trx
          .deleteFrom('scram_credentials')
          .where('domain', '=', domain)
          .where('username', '=', username)
          .execute();
        if (rows.length > 0) await trx.insertInto('scram_credentials').values(rows).execute();
        return true;
      });
    },

    async setDisabled(username, domain, disabled) {
      const result = await db
        .updateTable('accounts')
        .set({ disabled_at: disabled ? new Date() : null })
        .where('domain', '=', domain)
        .where('username', '=', username)
        // Disabling twice keeps the first date.
        .$if(disabled, (qb) => qb.where('disabled_at', 'is', null))
        .executeTakeFirst();
      if (result.numUpdatedRows > 0n) return true;
      return disabled ? this.exists(username, domain) : false;
    },

    getCredential(username, domain, mechanism) {
      // Hot path (every login): concurrent lookups share one indexed query.
      return credentialLoader.load({ username, domain, mechanism });
    },

    async exists(username, domain) {
      const row = await db
        .selectFrom('accounts')
        .select('username')
        .where('domain', '=', domain)
        .where('username', '=', username)
        .executeTakeFirst();
      return row !== undefined;
    },

    async get(username, domain) {
      const row = await db
        .selectFrom('accounts')
        .select(['domain', 'username', 'created_at', 'disabled_at'])
        .where('domain', '=', domain)
        .where('username', '=', username)
        .executeTakeFirst();
      return row ? toRecord(row) : null;
    },

    async list({ domain, search, limit, after }) {
      if (!Number.isInteger(limit) || limit < 0) throw new RangeError(`invalid list limit: ${limit}`);
      if (limit === 0) return [];
      let query = db.selectFrom('accounts').select(['domain', 'username', 'created_at', 'disabled_at']);
      if (domain !== undefined) query = query.where('domain', '=', domain);
      if (search) query = query.where('username', 'ilike', `%${escapeLike(search.toLowerCase())}%`);
      if (after) {
        query = query.where((eb) =>
          eb(eb.refTuple('domain', 'username'), '>', eb.tuple(after.domain, after.username)),
        );
      }
      const rows = await query.orderBy('domain').orderBy('username').limit(limit).execute();
      return rows.map(toRecord);
    },

    async count(domain) {
      let query = db.selectFrom('accounts').select((eb) => eb.fn.countAll().as('count'));
      if (domain !== undefined) query = query.where('domain', '=', domain);
      const row = await query.executeTakeFirstOrThrow();
      // int8: a string from pg, a number from PGlite.
      return Number(row.count);
    },
  };
}

function inTransaction<T>(db: Kysely<Tables>, fn: (trx: Kysely<Tables>) => Promise<T>): Promise<T> {
  return db.isTransaction ? fn(db) : db.transaction().execute(fn);
}


/** LIKE pattern for a literal string (backslash is PostgreSQL's default LIKE escape). */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (char) => `\\${char}`);
}

function credentialRows(account: NewAccount): NewScramCredentialRow[] {
  const seen = new Set<ScramMechanismName>();
  return account.credentials.map((credential) => {
    if (seen.has(credential.mechanism)) {
      throw new TypeError(
        `duplicate ${credential.mechanism} credential for ${account.username}@${account.domain}`,
      );
    }
    seen.add(credential.mechanism);
    return {
      domain: account.domain,
      username: account.username,
      mechanism: credential.mechanism,
      salt: credential.salt,
      iterations: credential.iterations,
      stored_key: credential.storedKey,
      server_key: credential.serverKey,
    };
  });
}

function toRecord(row: { domain: string; username: string; created_at: Date; disabled_at: Date | null }): AccountRecord {
  return { username: row.username, domain: row.domain, createdAt: row.created_at, disabledAt: row.disabled_at };
}

function toCredential(row: Omit<ScramCredentialRow, 'domain' | 'username'>): ScramCredential {
  return {
    mechanism: row.mechanism,
    salt: toBuffer(row.salt),
    iterations: row.iterations,
    storedKey: toBuffer(row.stored_key),
    serverKey: toBuffer(row.server_key),
  };
}
