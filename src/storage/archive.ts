// Message archives (XEP-0313) and their preferences (XEP-0441). Writes are group-committed:
// rows gathered while the previous INSERT runs (or during one turn of the event loop) go
// together in one multi-row INSERT, and each caller's promise resolves after its COMMIT.
// Ids come from the caller (a hybrid clock, see src/modules/mam/clock.ts), so routing never
// waits for the database to learn one.
import { sql, type Kysely, type SelectQueryBuilder } from 'kysely';
import type { ArchiveMessagesTable, Int8Value, Tables } from './tables.js';

export type ArchiveType = ArchiveMessagesTable['type'];
export type ArchiveDefault = 'always' | 'never' | 'roster';

/** One message to archive in one account's archive. */
export interface ArchiveEntry {
  username: string;
  domain: string;
  id: bigint;
  /** The other party's bare JID (for a message to oneself, one's own). */
  with: string;
  /** The other party's resource, '' for none. */
  withResource: string;
  outgoing: boolean;
  type: ArchiveType;
  /** The message, serialised. */
  stanza: string;
  /** Its body text (full-text search), or null. */
  body: string | null;
}

export interface ArchivedMessage {
  id: bigint;
  with: string;
  withResource: string;
  outgoing: boolean;
  type: ArchiveType;
  stanza: string;
}

/** What a query selects (XEP-0313 §4.1 form fields); every bound inclusive. */
export interface ArchiveFilter {
  /** The other party: a bare JID, or a full JID (bare + resource). */
  with?: { jid: string; resource?: string };
  minId?: bigint;
  maxId?: bigint;
  ids?: readonly bigint[];
  /** XEP-0431: PostgreSQL web-search syntax over the body. */
  fulltext?: string;
  includeGroupchat: boolean;
}

/** A page of a filtered archive (XEP-0059 paging by archive id). */
export interface ArchivePageRequest {
  filter: ArchiveFilter;
  /** Items after this id (forward), or before it (backward); at most one of the two. */
  after?: bigint;
  before?: bigint;
  /** Backward from the end (RSM empty <before/>) when true, or whenever `before` is set. */
  backward: boolean;
  max: number;
  /**
   * Count the matching items (and the page's index) when there are at most this many; 0
   * counts only when the page holds them all (no extra query).
   */
  countLimit: number;
}

export interface ArchivePage {
  /** Chronological. */
  items: ArchivedMessage[];
  /** No more items in the paging direction. */
  complete: boolean;
  /** Every item matching the filter, when at most countLimit; else undefined. */
  count?: number;
  /** Items of the filter before the page's first. */
  index?: number;
}

export interface ArchivePrefs {
  default: ArchiveDefault;
  always: string[];
  never: string[];
}

export interface ExpireCursor {
  domain: string;
  username: string;
}

export interface ArchiveStore {
  /**
   * Archives a message; resolves once committed: true, or false when the account does not
   * exist (or the id was taken). Group-committed with concurrent calls.
   */
  append(entry: ArchiveEntry): Promise<boolean>;
  /** Waits until every append made so far has settled. */
  flush(): Promise<void>;
  /** Rows waiting for their INSERT (not yet sent to the database). */
  backlog(): number;
  /** Resolves once the backlog is at most `rows` (backpressure for writers that outrun the database). */
  below(rows: number): Promise<void>;
  page(username: string, domain: string, request: ArchivePageRequest): Promise<ArchivePage>;
  /** Which of these ids are in the account's archive. */
  existing(username: string, domain: string, ids: readonly bigint[]): Promise<Set<bigint>>;
  /** The oldest and newest ids, or null for an empty archive. */
  bounds(username: string, domain: string): Promise<{ first: bigint; last: bigint } | null>;
  count(username: string, domain: string): Promise<number>;
  purge(username: string, domain: string): Promise<number>;
  /**
   * Retention: removes rows with id < `beforeId` of at most `accounts` accounts after
   * `cursor` (in account order), at most `perAccount` rows each. `next` is where to go on
   * (the same cursor again when an account had more), null when the pass is done.
   */
  expire(beforeId: bigint, cursor: ExpireCursor | null, accounts: number, perAccount: number): Promise<{ deleted: number; next: ExpireCursor | null }>;
  prefs(username: string, domain: string): Promise<ArchivePrefs | null>;
  /** False when the account does not exist. */
  setPrefs(username: string, domain: string, prefs: ArchivePrefs): Promise<boolean>;
}

/** Whose archives a store keeps: accounts' (archive_messages) or group-chat rooms' (muc_archive_messages). */
export type ArchiveOwners = 'accounts' | 'rooms';

export interface ArchiveStoreOptions {
  /** Default accounts. A room's archive is keyed by (service domain, room name) as `domain`, `username`. */
  owners?: ArchiveOwners;
  /** Rows per INSERT (default 500). */
  maxBatch?: number;
  /** INSERTs running at once (default 1; PostgreSQL may take 2). */
  maxInFlight?: number;
}

const int8 = (value: bigint) => sql<Int8Value>`${value.toString()}::int8`;
const toBigInt = (value: Int8Value): bigint => (typeof value === 'bigint' ? value : BigInt(value));

interface Waiting {
  entry: ArchiveEntry;
  resolve: (stored: boolean) => void;
  reject: (err: unknown) => void;
}

/** The group commit: one multi-row INSERT for what gathered, one at a time (or a few). */
class GroupCommit {
  private pending: Waiting[] = [];
  private scheduled = false;
  private inFlight = 0;
  private idle: Array<() => void> = [];
  private relief: Array<{ rows: number; resolve: () => void }> = [];

  constructor(
    private readonly insert: (entries: ArchiveEntry[]) => Promise<Set<string>>,
    private readonly maxBatch: number,
    private readonly maxInFlight: number,
  ) {}

  append(entry: ArchiveEntry): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.pending.push({ entry, resolve, reject });
      this.schedule();
    });
  }

  get backlog(): number {
    return this.pending.length;
  }

  below(rows: number): Promise<void> {
    if (this.pending.length <= rows) return Promise.resolve();
    return new Promise((resolve) => this.relief.push({ rows, resolve }));
  }

  flush(): Promise<void> {
    if (this.pending.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.maxInFlight || this.pending.length === 0) return;
    this.scheduled = true;
    // Everything routed in this turn of the event loop joins the batch.
    setImmediate(() => {
      this.scheduled = false;
      this.run();
    });
  }

  private run(): void {
    while (this.inFlight < this.maxInFlight && this.pending.length > 0) {
      const batch = this.pending.splice(0, this.maxBatch);
      if (this.relief.length > 0) {
        const waiting = this.relief;
        this.relief = waiting.filter((w) => this.pending.length > w.rows);
        for (const w of waiting) if (this.pending.length <= w.rows) w.resolve();
      }
      this.inFlight++;
      this.write(batch).finally(() => {
        this.inFlight--;
        this.schedule();
        if (this.inFlight === 0 && this.pending.length === 0) for (const done of this.idle.splice(0)) done();
      });
    }
  }

  private async write(batch: Waiting[]): Promise<void> {
    try {
      const stored = await this.insert(batch.map((w) => w.entry));
      for (const w of batch) w.resolve(stored.has(rowKey(w.entry.domain, w.entry.username, w.entry.id)));
      return;
    } catch (err) {
      if (batch.length === 1) {
        batch[0]!.reject(err);
        return;
      }
    }
    // One bad row (an account deleted meanwhile) must not fail the others: one at a time.
    for (const w of batch) {
      try {
        const stored = await this.insert([w.entry]);
        w.resolve(stored.size > 0);
      } catch (err) {
        w.reject(err);
      }
    }
  }
}

function rowKey(domain: string, username: string, id: bigint | Int8Value): string {
  return `${domain}\u0000${username}\u0000${String(id)}`;
}

export function createArchiveStore(db: Kysely<Tables>, options: ArchiveStoreOptions = {}): ArchiveStore {
  const rooms = options.owners === 'rooms';
  // Both tables have the same columns (schema/0012): queries are typed as the user archive's.
  const messages = (rooms ? 'muc_archive_messages' : 'archive_messages') as 'archive_messages';
  const messagesTable = sql.table(messages);
  // The archives' owners, as (domain, username) rows.
  const owners = rooms ? sql`select domain, name as username from muc_rooms` : sql`select domain, username from accounts`;
  const insert = async (entries: ArchiveEntry[]): Promise<Set<string>> => {
    const column = <T>(pick: (e: ArchiveEntry) => T) => entries.map(pick);
    // Arrays as parameters: nine of them, however many rows. Rows of accounts (rooms) that do
    // not exist (a message to an unknown user is archived before it bounces) are left out.
    const { rows } = await sql<{ domain: string; username: string; id: Int8Value }>`
      insert into ${messagesTable} (domain, username, id, with_jid, with_resource, outgoing, type, stanza, body)
      select v.domain, v.username, v.id, v.with_jid, v.with_resource, v.outgoing, v.type, v.stanza, v.body
      from unnest(
        ${column((e) => e.domain)}::text[], ${column((e) => e.username)}::text[], ${column((e) => e.id.toString())}::int8[],
        ${column((e) => e.with)}::text[], ${column((e) => e.withResource)}::text[], ${column((e) => e.outgoing)}::bool[],
        ${column((e) => e.type)}::text[], ${column((e) => e.stanza)}::text[], ${column((e) => e.body)}::text[]
      ) as v(domain, username, id, with_jid, with_resource, outgoing, type, stanza, body)
      where exists (select 1 from (${owners}) a where a.domain = v.domain and a.username = v.username)
      on conflict do nothing
      returning domain, username, id`.execute(db);
    return new Set(rows.map((r) => rowKey(r.domain, r.username, toBigInt(r.id))));
  };
  const writer = new GroupCommit(insert, options.maxBatch ?? 500, options.maxInFlight ?? 1);

  type Query = SelectQueryBuilder<Tables, 'archive_messages', object>;
  const filtered = (username: string, domain: string, filter: ArchiveFilter): Query => {
    let query: Query = db.selectFrom(messages).where('domain', '=', domain).where('username', '=', username);
    if (filter.with) {
      query = query.where('with_jid', '=', filter.with.jid);
      if (filter.with.resource !== undefined) query = query.where('with_resource', '=', filter.with.resource);
    }
    if (filter.minId !== undefined) query = query.where('id', '>=', int8(filter.minId));
    if (filter.maxId !== undefined) query = query.where('id', '<=', int8(filter.maxId));
    if (filter.ids) {
      const ids = filter.ids.map((id) => id.toString());
      query = query.where((eb) => eb('id', '=', eb.fn.any(sql<Int8Value[]>`${ids}::int8[]`)));
    }
    if (filter.fulltext !== undefined) {
      query = query.where(sql<boolean>`to_tsvector('simple', body) @@ websearch_to_tsquery('simple', ${filter.fulltext})`);
    }
    if (!filter.includeGroupchat) query = query.where('type', '<>', 'groupchat');
    return query;
  };

  return {
    append: (entry) => writer.append(entry),
    flush: () => writer.flush(),
    backlog: () => writer.backlog,
    below: (rows) => writer.below(rows),

    async page(username, domain, request) {
      const { filter, max } = request;
      if (!Number.isSafeInteger(max) || max < 0) throw new RangeError(`invalid page size: ${max}`);
      const backward = request.backward || request.before !== undefined;
      let items: ArchivedMessage[] = [];
      let complete = true;
      if (max > 0) {
        let query = filtered(username, domain, filter);
        if (request.after !== undefined) query = query.where('id', '>', int8(request.after));
        if (request.before !== undefined) query = query.where('id', '<', int8(request.before));
        // One more than asked: whether the page is the last one in its direction.
        const rows = await query
          .select(['id', 'with_jid', 'with_resource', 'outgoing', 'type', 'stanza'])
          .orderBy('id', backward ? 'desc' : 'asc')
          .limit(max + 1)
          .execute();
        complete = rows.length <= max;
        items = rows.slice(0, max).map((row) => ({
          id: toBigInt(row.id),
          with: row.with_jid,
          withResource: row.with_resource,
          outgoing: row.outgoing,
          type: row.type,
          stanza: row.stanza,
        }));
        if (backward) items.reverse();
      }
      const page: ArchivePage = { items, complete };
      const anchored = backward ? request.before !== undefined : request.after !== undefined;
      if (max > 0 && complete && !anchored) {
        // The page holds every matching item: counted for free.
        page.count = items.length;
        if (items.length > 0) page.index = 0;
      } else if (request.countLimit > 0) {
        // Counting a huge archive costs more than the page: only up to countLimit items.
        const first = items[0]?.id;
        const sample = filtered(username, domain, filter).select('id').limit(request.countLimit + 1).as('sample');
        const row = await db
          .selectFrom(sample)
          .select((eb) => [
            eb.fn.countAll<Int8Value>().as('total'),
            first === undefined ? sql<Int8Value>`0`.as('before') : sql<Int8Value>`count(*) filter (where id < ${int8(first)})`.as('before'),
          ])
          .executeTakeFirstOrThrow();
        const total = Number(row.total);
        if (total <= request.countLimit) {
          page.count = total;
          if (first !== undefined) page.index = Number(row.before);
        }
        if (max === 0) page.complete = total === 0;
      } else if (max === 0) {
        page.complete = false;
      }
      return page;
    },

    async existing(username, domain, ids) {
      if (ids.length === 0) return new Set();
      const rows = await db
        .selectFrom(messages)
        .select('id')
        .where('domain', '=', domain)
        .where('username', '=', username)
        .where((eb) => eb('id', '=', eb.fn.any(sql<Int8Value[]>`${ids.map((id) => id.toString())}::int8[]`)))
        .execute();
      return new Set(rows.map((row) => toBigInt(row.id)));
    },

    async bounds(username, domain) {
      const edge = (direction: 'asc' | 'desc') =>
        db.selectFrom(messages).select('id').where('domain', '=', domain).where('username', '=', username).orderBy('id', direction).limit(1);
      const row = await db
        .selectNoFrom((eb) => [eb.selectFrom(edge('asc').as('f')).select('f.id').as('first'), eb.selectFrom(edge('desc').as('l')).select('l.id').as('last')])
        .executeTakeFirstOrThrow();
      if (row.first === null || row.last === null) return null;
      return { first: toBigInt(row.first), last: toBigInt(row.last) };
    },

    async count(username, domain) {
      const row = await db
        .selectFrom(messages)
        .select((eb) => eb.fn.countAll<Int8Value>().as('count'))
        .where('domain', '=', domain)
        .where('username', '=', username)
        .executeTakeFirstOrThrow();
      return Number(row.count);
    },

    async purge(username, domain) {
      await writer.flush();
      const result = await db.deleteFrom(messages).where('domain', '=', domain).where('username', '=', username).executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    async expire(beforeId, cursor, accounts, perAccount) {
      if (!Number.isSafeInteger(accounts) || accounts < 1 || !Number.isSafeInteger(perAccount) || perAccount < 1) {
        throw new RangeError('invalid retention batch');
      }
      const after = cursor ? sql`where (domain, username) > (${cursor.domain}, ${cursor.username})` : sql``;
      // One bounded statement: a page of accounts, at most perAccount expired rows of each,
      // found on the primary key (domain, username, id).
      const { rows } = await sql<{ deleted: Int8Value; most: Int8Value | null; accounts: Int8Value; last_domain: string | null; last_username: string | null }>`
        with acc as (
          select domain, username from (${owners}) o ${after} order by domain, username limit ${accounts}
        ), victims as (
          select m.domain, m.username, m.id from acc cross join lateral (
            select x.domain, x.username, x.id from ${messagesTable} x
            where x.domain = acc.domain and x.username = acc.username and x.id < ${int8(beforeId)}
            order by x.id limit ${perAccount}
          ) m
        ), del as (
          delete from ${messagesTable} t using victims v
          where t.domain = v.domain and t.username = v.username and t.id = v.id
          returning t.domain, t.username
        ), last_acc as (
          select domain, username from acc order by domain desc, username desc limit 1
        )
        select
          (select count(*) from del) as deleted,
          (select max(n) from (select count(*) as n from del group by domain, username) per) as most,
          (select count(*) from acc) as accounts,
          (select domain from last_acc) as last_domain,
          (select username from last_acc) as last_username`.execute(db);
      const row = rows[0]!;
      const deleted = Number(row.deleted);
      // An account had more expired rows than one batch takes: the same page again.
      if (row.most !== null && Number(row.most) >= perAccount) return { deleted, next: cursor ?? { domain: '', username: '' } };
      if (Number(row.accounts) < accounts || row.last_domain === null || row.last_username === null) return { deleted, next: null };
      return { deleted, next: { domain: row.last_domain, username: row.last_username } };
    },

    async prefs(username, domain) {
      if (rooms) return null;
      const row = await db
        .selectFrom('archive_prefs')
        .select(['default_mode', 'always_jids', 'never_jids'])
        .where('domain', '=', domain)
        .where('username', '=', username)
        .executeTakeFirst();
      return row ? { default: row.default_mode, always: row.always_jids, never: row.never_jids } : null;
    },

    async setPrefs(username, domain, prefs) {
      if (rooms) return false;
      const result = await db
        .insertInto('archive_prefs')
        .columns(['domain', 'username', 'default_mode', 'always_jids', 'never_jids'])
        .expression(
          db
            .selectFrom('accounts')
            .select((eb) => [
              'domain',
              'username',
              eb.val(prefs.default).as('default_mode'),
              sql<string[]>`${prefs.always}::text[]`.as('always_jids'),
              sql<string[]>`${prefs.never}::text[]`.as('never_jids'),
            ])
            .where('domain', '=', domain)
            .where('username', '=', username),
        )
        .onConflict((oc) =>
          oc.columns(['domain', 'username']).doUpdateSet((eb) => ({
            default_mode: eb.ref('excluded.default_mode'),
            always_jids: eb.ref('excluded.always_jids'),
            never_jids: eb.ref('excluded.never_jids'),
          })),
        )
        .executeTakeFirst();
      return Number(result.numInsertedOrUpdatedRows ?? 0n) > 0;
    },
  };
}
