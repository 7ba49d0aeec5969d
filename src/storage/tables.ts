// Row types for every table in schema/*.sql. One interface per table, plus
// Selectable/Insertable/Updateable aliases; `Tables` is the kysely database
// type. Keep in step with the migrations: a new migration that adds or alters
// a table updates the matching interface here.
import type { ColumnType, Insertable, Selectable, Updateable } from 'kysely';
import type { Subscription } from '../core/subscription.js';
import type { ScramMechanismName } from '../sasl/credentials.js';

/**
 * bytea: pg returns Buffer, PGlite returns Uint8Array. Repositories normalise
 * to Buffer with `toBuffer` (see ./bytes.ts) before handing values out.
 */
export type Bytea = ColumnType<Uint8Array, Uint8Array, Uint8Array>;

/** timestamptz with a database default: optional on insert, Date on select. */
export type CreatedAt = ColumnType<Date, Date | undefined, never>;

/**
 * int8 (bigint): pg returns a string, PGlite a number (a bigint beyond 2^53).
 * Repositories hand out numbers (`Number(value)`).
 */
export type Int8Value = string | number | bigint;
export type Int8 = ColumnType<Int8Value, number | bigint, number | bigint>;

export interface AccountsTable {
  domain: string;
  username: string;
  created_at: CreatedAt;
  /** Set while the account is disabled (schema/0013): it cannot log in. */
  disabled_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
}
export type AccountRow = Selectable<AccountsTable>;
export type NewAccountRow = Insertable<AccountsTable>;

export interface ScramCredentialsTable {
  domain: string;
  username: string;
  mechanism: ScramMechanismName;
  salt: Bytea;
  iterations: number;
  stored_key: Bytea;
  server_key: Bytea;
}
export type ScramCredentialRow = Selectable<ScramCredentialsTable>;
export type NewScramCredentialRow = Insertable<ScramCredentialsTable>;
export type ScramCredentialUpdate = Updateable<ScramCredentialsTable>;

/** XEP-0484 FAST tokens, per account and client, sealed (schema/0013). */
export interface FastTokensTable {
  domain: string;
  username: string;
  client_id: Bytea;
  slot: 'current' | 'new';
  mechanism: string;
  sealed_token: Bytea;
  issued_at: ColumnType<Date, Date | undefined, Date>;
  expires_at: Date;
}
export type FastTokenRow = Selectable<FastTokensTable>;

export interface RosterVersionsTable {
  domain: string;
  username: string;
  version: ColumnType<Int8Value, number | bigint | undefined, number | bigint>;
}
export type RosterVersionRow = Selectable<RosterVersionsTable>;
export type NewRosterVersionRow = Insertable<RosterVersionsTable>;

export interface RosterItemsTable {
  domain: string;
  username: string;
  contact: string;
  name: string | null;
  groups: ColumnType<string[], string[] | undefined, string[]>;
  subscription: ColumnType<Subscription, Subscription | undefined, Subscription>;
  pending_out: ColumnType<boolean, boolean | undefined, boolean>;
  approved: ColumnType<boolean, boolean | undefined, boolean>;
  version: Int8;
  removed: ColumnType<boolean, boolean | undefined, boolean>;
}
export type RosterItemRow = Selectable<RosterItemsTable>;
export type NewRosterItemRow = Insertable<RosterItemsTable>;
export type RosterItemUpdate = Updateable<RosterItemsTable>;

export interface SubscriptionRequestsTable {
  domain: string;
  username: string;
  contact: string;
  stanza: string;
  created_at: CreatedAt;
}
export type SubscriptionRequestRow = Selectable<SubscriptionRequestsTable>;
export type NewSubscriptionRequestRow = Insertable<SubscriptionRequestsTable>;

export interface OfflineMessagesTable {
  /** generated always as identity: never written. */
  id: ColumnType<Int8Value, never, never>;
  domain: string;
  username: string;
  stanza: string;
  stored_at: CreatedAt;
}
export type OfflineMessageRow = Selectable<OfflineMessagesTable>;
export type NewOfflineMessageRow = Insertable<OfflineMessagesTable>;

export interface AdminTokensTable {
  name: string;
  scope: 'admin' | 'metrics';
  token_sha256: Bytea;
  created_at: CreatedAt;
  last_used_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
}
export type AdminTokenRow = Selectable<AdminTokensTable>;

export interface LastActivityTable {
  domain: string;
  username: string;
  logout_at: Date;
  status: string | null;
}

export interface ArchiveMessagesTable {
  domain: string;
  username: string;
  /** The archive id (hybrid clock: ms × 4096 + counter). */
  id: Int8;
  with_jid: string;
  with_resource: ColumnType<string, string | undefined, string>;
  outgoing: boolean;
  type: 'chat' | 'normal' | 'groupchat';
  stanza: string;
  body: string | null;
}
export type ArchiveMessageRow = Selectable<ArchiveMessagesTable>;

export interface ArchivePrefsTable {
  domain: string;
  username: string;
  default_mode: 'always' | 'never' | 'roster';
  always_jids: ColumnType<string[], string[] | undefined, string[]>;
  never_jids: ColumnType<string[], string[] | undefined, string[]>;
}

export interface BlocklistItemsTable {
  domain: string;
  username: string;
  /** A normalised JID: full, bare, domain/resource or domain (XEP-0191 §6). */
  jid: string;
  created_at: CreatedAt;
}
export type BlocklistItemRow = Selectable<BlocklistItemsTable>;

export interface PrivateStorageTable {
  domain: string;
  username: string;
  namespace: string;
  xml: string;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

export interface VcardsTable {
  domain: string;
  username: string;
  xml: string;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

export interface ServerSecretsTable {
  name: string;
  value: Bytea;
  created_at: CreatedAt;
}

export interface EntityCapsTable {
  hash: string;
  ver: string;
  features: string[];
  verified_at: CreatedAt;
}

export interface PubsubNodesTable {
  id: ColumnType<Int8Value, never, never>;
  service: string;
  node: string;
  owner_domain: string | null;
  owner_username: string | null;
  config: string;
  created_at: CreatedAt;
}

export interface PubsubItemsTable {
  node_id: Int8;
  item_id: string;
  publisher: string;
  payload: string;
  bytes: number;
  seq: ColumnType<Int8Value, never, never>;
  published_at: CreatedAt;
}

export interface PubsubAffiliationsTable {
  node_id: Int8;
  jid: string;
  affiliation: string;
}

export interface MucRoomsTable {
  domain: string;
  name: string;
  config: string;
  subject: ColumnType<string, string | undefined, string>;
  subject_nick: ColumnType<string, string | undefined, string>;
  subject_occupant_id: ColumnType<string, string | undefined, string>;
  subject_at: Date | null;
  created_at: ColumnType<Date, Date | undefined, never>;
}

export interface MucAffiliationsTable {
  domain: string;
  name: string;
  jid: string;
  affiliation: 'owner' | 'admin' | 'member' | 'outcast';
  nick: string | null;
  reason: ColumnType<string, string | undefined, string>;
}

/** XEP-0401 invitations (schema/0014): the token only as its SHA-256 digest. */
export interface InvitesTable {
  id: ColumnType<Int8Value, never, never>;
  token_sha256: Bytea;
  domain: string;
  username: string | null;
  contact_username: string | null;
  grants_admin: ColumnType<boolean, boolean | undefined, boolean>;
  created_at: CreatedAt;
  expires_at: Date;
}
export type InviteRow = Selectable<InvitesTable>;

/** Administrators granted in the database (schema/0014), beside config `admins`. */
export interface ServerAdminsTable {
  domain: string;
  username: string;
  granted_at: CreatedAt;
}

/** Names of deleted accounts, written by a trigger on accounts (schema/0014). */
export interface AccountTombstonesTable {
  domain: string;
  username: string;
  deleted_at: CreatedAt;
}

export interface Tables {
  accounts: AccountsTable;
  scram_credentials: ScramCredentialsTable;
  fast_tokens: FastTokensTable;
  roster_versions: RosterVersionsTable;
  roster_items: RosterItemsTable;
  subscription_requests: SubscriptionRequestsTable;
  offline_messages: OfflineMessagesTable;
  admin_tokens: AdminTokensTable;
  archive_messages: ArchiveMessagesTable;
  archive_prefs: ArchivePrefsTable;
  last_activity: LastActivityTable;
  blocklist_items: BlocklistItemsTable;
  server_secrets: ServerSecretsTable;
  private_storage: PrivateStorageTable;
  vcards: VcardsTable;
  entity_caps: EntityCapsTable;
  pubsub_nodes: PubsubNodesTable;
  pubsub_items: PubsubItemsTable;
  pubsub_affiliations: PubsubAffiliationsTable;
  muc_rooms: MucRoomsTable;
  muc_affiliations: MucAffiliationsTable;
  muc_archive_messages: ArchiveMessagesTable;
  invites: InvitesTable;
  server_admins: ServerAdminsTable;
  account_tombstones: AccountTombstonesTable;
}
