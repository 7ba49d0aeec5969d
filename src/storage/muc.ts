// Group-chat rooms (XEP-0045) and their affiliations (schema/0012). The room archive is an
// archive store of its own (createArchiveStore with owners 'rooms').
import type { Kysely } from 'kysely';
import type { Tables } from './tables.js';

export type StoredAffiliation = 'owner' | 'admin' | 'member' | 'outcast';

export interface MucAffiliationRecord {
  /** A bare JID, or a domain. */
  readonly jid: string;
  readonly affiliation: StoredAffiliation;
  readonly nick: string | null;
  readonly reason: string;
}

export interface MucSubjectRecord {
  readonly text: string;
  readonly nick: string;
  /** XEP-0421: the occupant id of whoever set it ('' for none). */
  readonly occupantId: string;
  readonly at: Date | null;
}

export interface MucRoomRecord {
  readonly domain: string;
  readonly name: string;
  /** The configuration as JSON text (the service's to read). */
  readonly config: string;
  readonly subject: MucSubjectRecord;
  readonly createdAt: Date;
  readonly affiliations: MucAffiliationRecord[];
}

export interface MucRoomSummary {
  readonly name: string;
  readonly config: string;
  readonly createdAt: Date;
}

export interface MucStore {
  load(domain: string, name: string): Promise<MucRoomRecord | null>;
  /** Creates the room with its affiliations; false when it exists already. */
  create(domain: string, name: string, config: string, affiliations: readonly MucAffiliationRecord[]): Promise<boolean>;
  setConfig(domain: string, name: string, config: string): Promise<void>;
  setSubject(domain: string, name: string, subject: MucSubjectRecord): Promise<void>;
  /** Sets one JID's affiliation; null removes it (and its reserved nick). */
  setAffiliation(domain: string, name: string, jid: string, record: Omit<MucAffiliationRecord, 'jid'> | null): Promise<void>;
  /** Removes the room, its affiliations and its archive; false when there was none. */
  delete(domain: string, name: string): Promise<boolean>;
  /** The service's rooms, by name (after `after`, at most `limit`). */
  list(domain: string, options?: { after?: string; limit?: number }): Promise<MucRoomSummary[]>;
  /** Every room an affiliation names this JID in (account deletion). */
  removeJid(jid: string): Promise<void>;
}

export function createMucStore(db: Kysely<Tables>): MucStore {
  return {
    async load(domain, name) {
      const room = await db.selectFrom('muc_rooms').selectAll().where('domain', '=', domain).where('name', '=', name).executeTakeFirst();
      if (!room) return null;
      const affiliations = await db
        .selectFrom('muc_affiliations')
        .select(['jid', 'affiliation', 'nick', 'reason'])
        .where('domain', '=', domain)
        .where('name', '=', name)
        .execute();
      return {
        domain,
        name,
        config: room.config,
        subject: { text: room.subject, nick: room.subject_nick, occupantId: room.subject_occupant_id, at: room.subject_at },
        createdAt: room.created_at,
        affiliations,
      };
    },

    async create(domain, name, config, affiliations) {
      return db.transaction().execute(async (tx) => {
        const inserted = await tx
          .insertInto('muc_rooms')
          .values({ domain, name, config, subject_at: null })
          .onConflict((oc) => oc.columns(['domain', 'name']).doNothing())
          .executeTakeFirst();
        if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 0) return false;
        if (affiliations.length > 0) {
          await tx
            .insertInto('muc_affiliations')
            .values(affiliations.map((a) => ({ domain, name, jid: a.jid, affiliation: a.affiliation, nick: a.nick, reason: a.reason })))
            .execute();
        }
        return true;
      });
    },

    async setConfig(domain, name, config) {
      await db.updateTable('muc_rooms').set({ config }).where('domain', '=', domain).where('name', '=', name).execute();
    },

    async setSubject(domain, name, subject) {
      await db
        .updateTable('muc_rooms')
        .set({ subject: subject.text, subject_nick: subject.nick, subject_occupant_id: subject.occupantId, subject_at: subject.at })
        .where('domain', '=', domain)
        .where('name', '=', name)
        .execute();
    },

    async setAffiliation(domain, name, jid, record) {
      if (record === null) {
        await db.deleteFrom('muc_affiliations').where('domain', '=', domain).where('name', '=', name).where('jid', '=', jid).execute();
        return;
      }
      // The room may have gone meanwhile (destroyed by another writer): then nothing is written.
      await db
        .insertInto('muc_affiliations')
        .columns(['domain', 'name', 'jid', 'affiliation', 'nick', 'reason'])
        .expression(
          db
            .selectFrom('muc_rooms')
            .select((eb) => [
              'domain',
              'name',
              eb.val(jid).as('jid'),
              eb.val(record.affiliation).as('affiliation'),
              eb.val(record.nick).as('nick'),
              eb.val(record.reason).as('reason'),
            ])
            .where('domain', '=', domain)
            .where('name', '=', name),
        )
        .onConflict((oc) =>
          oc.columns(['domain', 'name', 'jid']).doUpdateSet((eb) => ({
            affiliation: eb.ref('excluded.affiliation'),
            nick: eb.ref('excluded.nick'),
            reason: eb.ref('excluded.reason'),
          })),
        )
        .execute();
    },

    async delete(domain, name) {
      const result = await db.deleteFrom('muc_rooms').where('domain', '=', domain).where('name', '=', name).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },

    async list(domain, options = {}) {
      let query = db.selectFrom('muc_rooms').select(['name', 'config', 'created_at']).where('domain', '=', domain);
      if (options.after !== undefined) query = query.where('name', '>', options.after);
      const rows = await query.orderBy('name').limit(options.limit ?? 1_000).execute();
      return rows.map((row) => ({ name: row.name, config: row.config, createdAt: row.created_at }));
    },

    async removeJid(jid) {
      await db.deleteFrom('muc_affiliations').where('jid', '=', jid).execute();
    },
  };
}
