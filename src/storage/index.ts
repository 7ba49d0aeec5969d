// The storage layer's public surface: open/migrate the database, and the
// repositories (the only code that writes SQL).
import { createAccountStore, type AccountStore } from './accounts.js';
import { createArchiveStore, type ArchiveStore } from './archive.js';
import { withPrefsIndex } from './archive-prefs-index.js';
import { createBlocklistStore, withBlocklistIndex, type BlocklistStore } from './blocklist.js';
import { withCredentialCache } from './credential-cache.js';
import { withArchiveBoundsCache } from './archive-bounds-cache.js';
import { withFastTokenCache } from './fast-token-cache.js';
import { withPendingIndex } from './pending-index.js';
import type { Database } from './database.js';
import type { ChangeFeed } from './change-feed.js';
import { createLastActivityStore, type LastActivityStore } from './last-activity.js';
import { createOfflineStore, type OfflineStore } from './offline.js';
import { createRosterStore, type RosterStore } from './roster.js';
import { createTokenStore, type TokenStore } from './tokens.js';
import { createSecretStore, type SecretStore } from './secrets.js';
import { createPrivateStorageStore, type PrivateStorageStore } from './private-storage.js';
import { createVcardStore, type VcardStore } from './vcards.js';
import { createEntityCapsStore, type EntityCapsStore } from './entity-caps.js';
import { createPubsubStore, type PubsubStore } from './pubsub.js';
import { createMucStore, type MucStore } from './muc.js';
import { createInviteStore, type InviteStore } from './invites.js';
import { createServerAdminStore, type ServerAdminStore } from './server-admins.js';
import { createTombstoneStore, type TombstoneStore } from './account-tombstones.js';
import { createFastTokenStore, type FastTokenStore } from './fast-tokens.js';

export interface Stores {
  accounts: AccountStore;
  roster: RosterStore;
  offline: OfflineStore;
  tokens: TokenStore;
  archive: ArchiveStore;
  lastActivity: LastActivityStore;
  blocklist: BlocklistStore;
  secrets: SecretStore;
  privateStorage: PrivateStorageStore;
  vcards: VcardStore;
  entityCaps: EntityCapsStore;
  pubsub: PubsubStore;
  muc: MucStore;
  /** XEP-0484 FAST tokens, sealed. */
  fastTokens: FastTokenStore;
  /** Group-chat rooms' archives (XEP-0313 on a room's JID): the user archive's store over muc_archive_messages. */
  roomArchive: ArchiveStore;
  /** XEP-0401 invitations (digests of their tokens). */
  invites: InviteStore;
  /** Administrators granted in the database, beside config `admins`. */
  serverAdmins: ServerAdminStore;
  /** Names of deleted accounts, refused to registration for registration.reuseDelayDays. */
  tombstones: TombstoneStore;
  /** Which accounts' rows other writers (other nodes) changed: the database's change feed. */
  changes: ChangeFeed;
}

/** One set of stores per Database (see createStores). */
const storesOf = new WeakMap<Database, Stores>();

/**
 * The repositories over `database`. Their caches assume that every write made through this
 * Database's connections goes through them (the change feed does not echo those back), so a
 * Database has one set: a second call returns the first one's.
 */
export function createStores(database: Database): Stores {
  let stores = storesOf.get(database);
  if (!stores) storesOf.set(database, (stores = buildStores(database)));
  return stores;
}

function buildStores(database: Database): Stores {
  const accounts = createAccountStore(database.db);
  const roster = createRosterStore(database.db);
  const offline = createOfflineStore(database.db);
  const tokens = createTokenStore(database.db);
  // PGlite runs one query at a time; a PostgreSQL pool takes two archive INSERTs at once.
  const archive = createArchiveStore(database.db, { maxInFlight: database.kind === 'pglite' ? 1 : 2 });
  const lastActivity = createLastActivityStore(database.db);
  const blocklist = createBlocklistStore(database.db);
  const secrets = createSecretStore(database.db);
  const privateStorage = createPrivateStorageStore(database.db);
  const vcards = createVcardStore(database.db);
  const entityCaps = createEntityCapsStore(database.db);
  const pubsub = createPubsubStore(database.db);
  const muc = createMucStore(database.db);
  const fastTokens = createFastTokenStore(database.db);
  const roomArchive = createArchiveStore(database.db, { owners: 'rooms', maxInFlight: database.kind === 'pglite' ? 1 : 2 });
  const invites = createInviteStore(database.db);
  const serverAdmins = createServerAdminStore(database.db);
  const tombstones = createTombstoneStore(database.db);
  // The summaries below stay exact through the change feed: always on embedded PGlite (one
  // writer, this process), on PostgreSQL while the server listens (change-feed.ts).
  const feed = database.changes;
  const cachedArchive = withArchiveBoundsCache(archive, feed);
  const cachedTokens = withFastTokenCache(fastTokens, feed);
  const shared = {
    ...withPendingIndex(database.db, feed, roster, offline), tokens, archive: withPrefsIndex(database.db, feed, cachedArchive), lastActivity,
    blocklist: withBlocklistIndex(database.db, feed, blocklist), secrets, privateStorage, vcards, entityCaps, pubsub, muc, fastTokens: cachedTokens, roomArchive, invites, serverAdmins, tombstones, changes: feed,
  };
  const knownAccounts = withCredentialCache(accounts, feed);
  return {
    ...shared,
    accounts: {
      ...knownAccounts,
      // The account's archive and tokens go with it (the database cascades): so does their memory.
      async delete(username, domain) {
        try {
          return await knownAccounts.delete(username, domain);
        } finally {
          cachedArchive.forgetAccount(username, domain);
          cachedTokens.forgetAccount(username, domain);
        }
      },
    },
  };
}

export { openDatabase, migrateToLatest, type Database, type DatabaseOptions, type StorageLogger } from './database.js';
export type { AccountStore, AccountRecord, NewAccount, AccountListOptions } from './accounts.js';
export type { RosterStore, Roster, RosterItem, RosterChange } from './roster.js';
export type { OfflineStore, OfflineMessage } from './offline.js';
export type { TokenStore, TokenRecord, TokenScope } from './tokens.js';
export type { ArchiveStore, ArchiveEntry, ArchivedMessage, ArchiveFilter, ArchivePage, ArchivePageRequest, ArchivePrefs, ArchiveDefault, ArchiveType } from './archive.js';
export type { LastActivityStore, LastLogout } from './last-activity.js';
export type { BlocklistStore } from './blocklist.js';
export type { SecretStore } from './secrets.js';
export type { PrivateStorageStore, PrivatePutResult } from './private-storage.js';
export type { VcardStore } from './vcards.js';
export type { EntityCapsStore } from './entity-caps.js';
export type { MucStore, MucRoomRecord, MucAffiliationRecord, MucSubjectRecord, MucRoomSummary, StoredAffiliation } from './muc.js';
export type { PubsubStore, PubsubNodeRecord, PubsubItemRecord, PubsubAffiliationRecord, PublishOutcome } from './pubsub.js';
export type { FastTokenStore, StoredFastToken, FastTokenSlot } from './fast-tokens.js';
export type { InviteStore, InviteRecord, NewInvite } from './invites.js';
export type { ServerAdminStore } from './server-admins.js';
export type { TombstoneStore } from './account-tombstones.js';
export type { Tables } from './tables.js';
export type { ChangeFeed, ChangeKind } from './change-feed.js';
