// XEP-0060 nodes, items and affiliations (schema/0011). A service is a JID: for PEP
// (XEP-0163), an account's bare JID, whose account owns the nodes.
import { sql, type Kysely } from 'kysely';
import type { Tables } from './tables.js';

export interface PubsubItemRecord {
  readonly id: string;
  readonly publisher: string;
  /** The payload element as the XML text it was published as. */
  readonly payload: string;
  readonly bytes: number;
  readonly publishedAt: Date;
}

export interface PubsubAffiliationRecord {
  readonly jid: string;
  readonly affiliation: string;
}

/** A node as a service loads it: configuration, totals, last item and affiliations. */
export interface PubsubNodeRecord {
  readonly id: number;
  readonly node: string;
  /** The configuration as JSON text (the module's to read). */
  readonly config: string;
  readonly itemCount: number;
  readonly bytes: number;
  readonly last: PubsubItemRecord | null;
  readonly affiliations: PubsubAffiliationRecord[];
}

export interface PublishOutcome {
  /** Items removed to keep the node within its size (oldest first). */
  readonly removedCount: number;
  readonly removedBytes: number;
  /** The bytes of the item this one replaced (same id), or null for a new item. */
  readonly replacedBytes: number | null;
}

export interface PubsubStore {
  /** Every node of a service, with item count, bytes, last item and affiliations. */
  loadService(service: string): Promise<PubsubNodeRecord[]>;
  /** Creates a node owned by an account; null when the node exists or the account is gone. */
  createNode(service: string, owner: { domain: string; username: string }, node: string, config: string): Promise<number | null>;
  setConfig(nodeId: number, config: string): Promise<void>;
  deleteNode(nodeId: number): Promise<void>;
  /** Stores an item (replacing one with its id) and keeps the `keep` newest items. */
  publish(nodeId: number, item: Omit<PubsubItemRecord, 'publishedAt'>, keep: number): Promise<PublishOutcome>;
  /**
   * Replaces the content of an existing item, making it the newest (nothing to trim: the
   * node keeps as many items as before); false when there is no such item.
   */
  replace(nodeId: number, item: Omit<PubsubItemRecord, 'publishedAt'>): Promise<boolean>;
  /** Removes an item; its bytes, or null when there was none. */
  retract(nodeId: number, itemId: string): Promise<number | null>;
  purge(nodeId: number): Promise<void>;
  /** Keeps the `keep` newest items (a smaller max_items). */
  trim(nodeId: number, keep: number): Promise<{ removedCount: number; removedBytes: number }>;
  /** The `max` newest items, or those with the given ids, oldest first. */
  items(nodeId: number, select: { max?: number; ids?: readonly string[] }): Promise<PubsubItemRecord[]>;
  /** Sets affiliations ('none' removes one). */
  setAffiliations(nodeId: number, changes: readonly PubsubAffiliationRecord[]): Promise<void>;
  /** An account is gone: its affiliations with every node go too. */
  removeAffiliationsOf(jid: string): Promise<void>;
}

interface LoadedRow {
  id: string | number;
  node: string;
  config: string;
  item_count: string | number;
  bytes: string | number;
  item_id: string | null;
  publisher: string | null;
  payload: string | null;
  item_bytes: number | null;
  published_at: Date | string | null;
}

const asDate = (value: Date | string) => (value instanceof Date ? value : new Date(value));

export function createPubsubStore(db: Kysely<Tables>): PubsubStore {
  async function removeOldest(nodeId: number, keep: number, except: string | null): Promise<{ removedCount: number; removedBytes: number }> {
    const exceptId = except ?? '';
    const { rows } = await sql<{ count: string | number; bytes: string | number | null }>`
      with removed as (
        delete from pubsub_items where node_id = ${nodeId} and item_id <> ${exceptId} and item_id in (
          select item_id from pubsub_items where node_id = ${nodeId} and item_id <> ${exceptId}
          order by seq desc offset ${keep})
        returning bytes)
      select count(*) as count, sum(bytes) as bytes from removed`.execute(db);
    return { removedCount: Number(rows[0]?.count ?? 0), removedBytes: Number(rows[0]?.bytes ?? 0) };
  }

  return {
    async loadService(service) {
      const { rows } = await sql<LoadedRow>`
        select n.id, n.node, n.config, coalesce(t.item_count, 0) as item_count, coalesce(t.bytes, 0) as bytes,
               l.item_id, l.publisher, l.payload, l.bytes as item_bytes, l.published_at
        from pubsub_nodes n
        left join lateral (select count(*) as item_count, sum(bytes) as bytes from pubsub_items where node_id = n.id) t on true
        left join lateral (select item_id, publisher, payload, bytes, published_at from pubsub_items
                           where node_id = n.id order by seq desc limit 1) l on true
        where n.service = ${service}`.execute(db);
      if (rows.length === 0) return [];
      const ids = rows.map((r) => Number(r.id));
      const affiliations = await db.selectFrom('pubsub_affiliations').select(['node_id', 'jid', 'affiliation']).where('node_id', 'in', ids).execute();
      return rows.map((r) => ({
        id: Number(r.id),
        node: r.node,
        config: r.config,
        itemCount: Number(r.item_count),
        bytes: Number(r.bytes),
        last: r.item_id === null
          ? null
          : { id: r.item_id, publisher: r.publisher!, payload: r.payload!, bytes: r.item_bytes!, publishedAt: asDate(r.published_at!) },
        affiliations: affiliations.filter((a) => Number(a.node_id) === Number(r.id)).map((a) => ({ jid: a.jid, affiliation: a.affiliation })),
      }));
    },

    async createNode(service, owner, node, config) {
      // Only for an existing account: a node racing the account's deletion is not created.
      const row = await db
        .insertInto('pubsub_nodes')
        .columns(['service', 'node', 'owner_domain', 'owner_username', 'config'])
        .expression((eb) =>
          eb.selectFrom('accounts').select([
            sql<string>`${service}::text`.as('service'),
            sql<string>`${node}::text`.as('node'),
            'domain',
            'username',
            sql<string>`${config}::text`.as('config'),
          ]).where('domain', '=', owner.domain).where('username', '=', owner.username),
        )
        .onConflict((oc) => oc.columns(['service', 'node']).doNothing())
        .returning('id')
        .executeTakeFirst();
      return row ? Number(row.id) : null;
    },

    async setConfig(nodeId, config) {
      await db.updateTable('pubsub_nodes').set({ config }).where('id', '=', nodeId).execute();
    },

    async deleteNode(nodeId) {
      await db.deleteFrom('pubsub_nodes').where('id', '=', nodeId).execute();
    },

    async publish(nodeId, item, keep) {
      // One statement: the old row (same id) as it was, the upsert, and the trim of the oldest
      // others (all CTEs see the same snapshot, so the trim keeps keep-1 besides the new item).
      const { rows } = await sql<{ removed_count: string | number; removed_bytes: string | number | null; old_bytes: number | null }>`
        with old as (select bytes from pubsub_items where node_id = ${nodeId} and item_id = ${item.id}),
        upserted as (
          insert into pubsub_items (node_id, item_id, publisher, payload, bytes)
          values (${nodeId}, ${item.id}, ${item.publisher}, ${item.payload}, ${item.bytes})
          on conflict (node_id, item_id) do update set publisher = excluded.publisher, payload = excluded.payload,
            bytes = excluded.bytes, seq = nextval('pubsub_item_seq'), published_at = now()
          returning 1),
        removed as (
          delete from pubsub_items where node_id = ${nodeId} and item_id <> ${item.id} and item_id in (
            select item_id from pubsub_items where node_id = ${nodeId} and item_id <> ${item.id}
            order by seq desc offset ${Math.max(0, keep - 1)})
          returning bytes)
        select (select count(*) from removed) as removed_count, (select sum(bytes) from removed) as removed_bytes,
               (select bytes from old) as old_bytes, (select count(*) from upserted) as upserted`.execute(db);
      const row = rows[0]!;
      return { removedCount: Number(row.removed_count), removedBytes: Number(row.removed_bytes ?? 0), replacedBytes: row.old_bytes ?? null };
    },

    async replace(nodeId, item) {
      const result = await sql`
        update pubsub_items set publisher = ${item.publisher}, payload = ${item.payload}, bytes = ${item.bytes},
          seq = nextval('pubsub_item_seq'), published_at = now()
        where node_id = ${nodeId} and item_id = ${item.id}`.execute(db);
      return Number(result.numAffectedRows ?? 0) === 1;
    },

    async retract(nodeId, itemId) {
      const row = await db.deleteFrom('pubsub_items').where('node_id', '=', nodeId).where('item_id', '=', itemId).returning('bytes').executeTakeFirst();
      return row ? row.bytes : null;
    },

    async purge(nodeId) {
      await db.deleteFrom('pubsub_items').where('node_id', '=', nodeId).execute();
    },

    trim(nodeId, keep) {
      return removeOldest(nodeId, keep, null);
    },

    async items(nodeId, select) {
      let query = db.selectFrom('pubsub_items').select(['item_id', 'publisher', 'payload', 'bytes', 'published_at']).where('node_id', '=', nodeId);
      if (select.ids) {
        if (select.ids.length === 0) return [];
        query = query.where('item_id', 'in', [...select.ids]);
      }
      query = query.orderBy('seq', 'desc');
      if (select.max !== undefined) query = query.limit(select.max);
      const rows = await query.execute();
      return rows.reverse().map((r) => ({ id: r.item_id, publisher: r.publisher, payload: r.payload, bytes: r.bytes, publishedAt: asDate(r.published_at) }));
    },

    async setAffiliations(nodeId, changes) {
      await db.transaction().execute(async (trx) => {
        for (const { jid, affiliation } of changes) {
          if (affiliation === 'none') {
            await trx.deleteFrom('pubsub_affiliations').where('node_id', '=', nodeId).where('jid', '=', jid).execute();
          } else {
            await trx
              .insertInto('pubsub_affiliations')
              .values({ node_id: nodeId, jid, affiliation })
              .onConflict((oc) => oc.columns(['node_id', 'jid']).doUpdateSet({ affiliation }))
              .execute();
          }
        }
      });
    },

    async removeAffiliationsOf(jid) {
      await db.deleteFrom('pubsub_affiliations').where('jid', '=', jid).execute();
    },
  };
}
