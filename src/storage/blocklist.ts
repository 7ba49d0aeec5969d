// Blocklists (XEP-0191): the addresses each local account blocked, as normalised JID strings.
import type { Kysely } from 'kysely';
import { LoadedAccountSet } from './account-set.js';
import { BatchLoader } from './batch.js';
import type { ChangeFeed } from './change-feed.js';
import { accountKey, appendTo, groupByDomain } from './keys.js';
import type { Tables } from './tables.js';

export interface BlocklistStore {
  /** The account's blocked addresses, sorted bytewise. */
  list(username: string, domain: string): Promise<string[]>;
  /**
   * Adds addresses, unless the list would then hold more than `limit`: null then, and
   * nothing is added. Returns the addresses that were not on the list yet. Resolves once
   * committed; throws when the account does not exist.
   */
  add(username: string, domain: string, jids: readonly string[], limit: number): Promise<string[] | null>;
  /** Removes addresses; returns those that were on the list. */
  remove(username: string, domain: string, jids: readonly string[]): Promise<string[]>;
  /** Empties the list; returns what it held. */
  clear(username: string, domain: string): Promise<string[]>;
  /** True when any of `candidates` is on the account's list (one primary-key lookup). */
  blocksAny(username: string, domain: string, candidates: readonly string[]): Promise<boolean>;
}

/** Raised inside the transaction to roll an add back that went over the limit. */
class OverLimit extends Error {}

export function createBlocklistStore(db: Kysely<Tables>): BlocklistStore {
  // Read at every login: concurrent logins share one query.
  const loader = new BatchLoader<{ username: string; domain: string }, string[]>(
    (k) => accountKey(k.domain, k.username),
    async (keys) => {
      const found = new Map<string, string[]>();
      for (const [domain, usernames] of groupByDomain(keys)) {
        const rows = await db
          .selectFrom('blocklist_items')
          .select(['username', 'jid'])
          .where('domain', '=', domain)
          .where('username', 'in', usernames)
          .orderBy('username')
          .orderBy('jid')
          .execute();
        for (const row of rows) appendTo(found, accountKey(domain, row.username), row.jid);
      }
      return found;
    },
    Object.freeze([]) as unknown as string[],
  );

  return {
    async list(username, domain) {
      return [...(await loader.load({ username, domain }))];
    },

    async add(username, domain, jids, limit) {
      if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`invalid blocklist limit: ${limit}`);
      if (jids.length === 0) return [];
      try {
        return await db.transaction().execute(async (trx) => {
          // Serialises the adds of one account, so the count below cannot be overtaken (NO KEY
          // UPDATE: does not conflict with the foreign-key checks of other tables).
          const account = await trx
            .selectFrom('accounts')
            .select('username')
            .where('domain', '=', domain)
            .where('username', '=', username)
            .forNoKeyUpdate()
            .executeTakeFirst();
          if (!account) throw new Error(`no account ${username}@${domain}`);
          const added = await trx
            .insertInto('blocklist_items')
            .values([...new Set(jids)].map((jid) => ({ domain, username, jid })))
            .onConflict((oc) => oc.doNothing())
            .returning('jid')
            .execute();
          if (added.length > 0) {
            const { count } = await trx
              .selectFrom('blocklist_items')
              .select((eb) => eb.fn.countAll().as('count'))
              .where('domain', '=', domain)
              .where('username', '=', username)
              .executeTakeFirstOrThrow();
            if (Number(count) > limit) throw new OverLimit();
          }
          return added.map((row) => row.jid).sort(bytewise);
        });
      } catch (err) {
        if (err instanceof OverLimit) return null;
        throw err;
      }
    },

    async remove(username, domain, jids) {
      if (jids.length === 0) return [];
      const rows = await db
        .deleteFrom('blocklist_items')
        .where('domain', '=', domain)
        .where('username', '=', username)
        .where('jid', 'in', [...new Set(jids)])
        .returning('jid')
        .execute();
      return rows.map((row) => row.jid).sort(bytewise);
    },

    async clear(username, domain) {
      const rows = await db
        .deleteFrom('blocklist_items')
        .where('domain', '=', domain)
        .where('username', '=', username)
        .returning('jid')
        .execute();
      return rows.map((row) => row.jid).sort(bytewise);
    },

    async blocksAny(username, domain, candidates) {
      if (candidates.length === 0) return false;
      const row = await db
        .selectFrom('blocklist_items')
        .select('jid')
        .where('domain', '=', domain)
        .where('username', '=', username)
        .where('jid', 'in', [...candidates])
        .limit(1)
        .executeTakeFirst();
      return row !== undefined;
    },
  };
}

/**
 * Which accounts have a non-empty blocklist, read once and then kept by the writes and the
 * change feed (exact on PGlite, where this process is the only writer; on PostgreSQL other
 * writers' inserts arrive just after their commit), so the lookups for accounts without a
 * session (a message to an offline user) and the read at each login cost no query for the
 * many accounts that never blocked anyone.
 */
export function withBlocklistIndex(db: Kysely<Tables>, feed: ChangeFeed, store: BlocklistStore): BlocklistStore {
  const marked = new LoadedAccountSet(() => db.selectFrom('blocklist_items').select(['domain', 'username']).distinct().execute(), feed, 'blocklist');
  /** False only when the account surely has an empty list. */
  const mayHave = async (username: string, domain: string) => !(await marked.usable()) || marked.has(username, domain);
  return {
    async list(username, domain) {
      return (await mayHave(username, domain)) ? store.list(username, domain) : [];
    },
    async add(username, domain, jids, limit) {
      // Marked before the write: a concurrent reader may query for nothing, never miss one.
      if (await marked.usable()) marked.add(username, domain);
      return store.add(username, domain, jids, limit);
    },
    async remove(username, domain, jids) {
      return (await mayHave(username, domain)) ? store.remove(username, domain, jids) : [];
    },
    async clear(username, domain) {
      if (!(await mayHave(username, domain))) return [];
      const generation = marked.generation;
      const removed = await store.clear(username, domain);
      // Unless someone added to the list meanwhile, it is empty now.
      marked.clearIfUnchanged(username, domain, generation);
      return removed;
    },
    async blocksAny(username, domain, candidates) {
      return (await mayHave(username, domain)) ? store.blocksAny(username, domain, candidates) : false;
    },
  };
}

function bytewise(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
