// XEP-0401 invitations (schema/0014): only the SHA-256 digest of a token is stored; redeeming
// an invitation deletes its row, so it cannot be used twice.
import type { Kysely } from 'kysely';
import { toBuffer } from './bytes.js';
import type { InviteRow, Tables } from './tables.js';

export interface InviteRecord {
  id: number;
  digest: Buffer;
  domain: string;
  /** The one username it may create, or null (the invitee chooses). */
  username: string | null;
  /** Roster invitation: the local account on `domain` the new user is subscribed with. */
  contactUsername: string | null;
  grantsAdmin: boolean;
  createdAt: Date;
  expiresAt: Date;
}

export interface NewInvite {
  digest: Buffer;
  domain: string;
  username: string | null;
  contactUsername: string | null;
  grantsAdmin: boolean;
  expiresAt: Date;
}

export interface InviteStore {
  /** The new invitation's id; null when the contact account does not exist (any more). */
  create(invite: NewInvite): Promise<number | null>;
  /** The invitation with this token digest, expired or not, or null. */
  findByDigest(digest: Buffer): Promise<InviteRecord | null>;
  /** Oldest first. */
  list(): Promise<InviteRecord[]>;
  /** Deletes the invitation with this id; false when there is none. */
  revokeById(id: number): Promise<boolean>;
  /** Deletes the invitation with this digest; its id, or null when there is none. */
  revokeByDigest(digest: Buffer): Promise<number | null>;
  /**
   * Takes the invitation for one registration: deletes and returns it, atomically, so that
   * two registrations racing with one token cannot both have it. Null when it is gone.
   */
  take(digest: Buffer): Promise<InviteRecord | null>;
  /** Puts back an invitation taken for a registration that failed (a name taken, say). */
  restore(invite: InviteRecord): Promise<void>;
  /** Whether an unexpired invitation other than `exceptDigest` names this username. */
  reservesUsername(domain: string, username: string, now: Date, exceptDigest?: Buffer): Promise<boolean>;
  /** Deletes invitations that expired before `before`; how many. */
  purgeExpired(before: Date): Promise<number>;
}

const COLUMNS = ['id', 'token_sha256', 'domain', 'username', 'contact_username', 'grants_admin', 'created_at', 'expires_at'] as const;

/** The row of an invitation, as created and as put back. */
function inviteRow(invite: NewInvite) {
  return {
    token_sha256: invite.digest,
    domain: invite.domain,
    username: invite.username,
    contact_username: invite.contactUsername,
    grants_admin: invite.grantsAdmin,
    expires_at: invite.expiresAt,
  };
}

export function createInviteStore(db: Kysely<Tables>): InviteStore {
  return {
    async create(invite) {
      // A roster invitation needs its contact account: the foreign key refuses a row for one
      // deleted meanwhile, which the caller reports as not found.
      try {
        const row = await db.insertInto('invites').values(inviteRow(invite)).returning('id').executeTakeFirstOrThrow();
        return Number(row.id);
      } catch (err) {
        if (isForeignKeyViolation(err)) return null;
        throw err;
      }
    },

    async findByDigest(digest) {
      const row = await db.selectFrom('invites').select(COLUMNS).where('token_sha256', '=', digest).executeTakeFirst();
      return row ? toRecord(row) : null;
    },

    async list() {
      const rows = await db.selectFrom('invites').select(COLUMNS).orderBy('id').execute();
      return rows.map(toRecord);
    },

    async revokeById(id) {
      const result = await db.deleteFrom('invites').where('id', '=', id).executeTakeFirst();
      return result.numDeletedRows > 0n;
    },

    async revokeByDigest(digest) {
      const row = await db.deleteFrom('invites').where('token_sha256', '=', digest).returning('id').executeTakeFirst();
      return row ? Number(row.id) : null;
    },

    async take(digest) {
      const row = await db.deleteFrom('invites').where('token_sha256', '=', digest).returning(COLUMNS).executeTakeFirst();
      return row ? toRecord(row) : null;
    },

    async restore(invite) {
      // The identity column is "generated always": the restored row gets a new id.
      await db
        .insertInto('invites')
        .values(inviteRow(invite))
        .onConflict((oc) => oc.column('token_sha256').doNothing())
        .execute()
        .catch((err: unknown) => {
          // The contact account went away meanwhile: the invitation goes with it.
          if (!isForeignKeyViolation(err)) throw err;
        });
    },

    async reservesUsername(domain, username, now, exceptDigest) {
      let query = db
        .selectFrom('invites')
        .select('id')
        .where('domain', '=', domain)
        .where('username', '=', username)
        .where('expires_at', '>', now);
      if (exceptDigest) query = query.where('token_sha256', '<>', exceptDigest);
      return (await query.limit(1).executeTakeFirst()) !== undefined;
    },

    async purgeExpired(before) {
      const result = await db.deleteFrom('invites').where('expires_at', '<', before).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}

function toRecord(row: Pick<InviteRow, (typeof COLUMNS)[number]>): InviteRecord {
  return {
    id: Number(row.id),
    digest: toBuffer(row.token_sha256),
    domain: row.domain,
    username: row.username,
    contactUsername: row.contact_username,
    grantsAdmin: row.grants_admin,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
  };
}

/** PostgreSQL's foreign_key_violation (SQLSTATE 23503), from pg or PGlite. */
function isForeignKeyViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === '23503';
}
