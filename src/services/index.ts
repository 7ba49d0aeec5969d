// The service layer as a whole: what the admin HTTP API, the control socket and the command
// line all call. The command line, with the server stopped, gets the part that needs only
// the database.
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Router } from '../core/router.js';
import { LocalSessionRegistry, type SessionRegistry } from '../core/sessions.js';
import type { Database, Stores } from '../storage/index.js';
import { AccountService } from './accounts.js';
import { ArchiveService } from './archive.js';
import { HealthService } from './health.js';
import { MessageService } from './messages.js';
import { OfflineService } from './offline.js';
import { RosterAdminService } from './roster-admin.js';
import { RosterService } from './roster.js';
import { LiveRoomService, StoredRoomService, type RoomService } from './rooms.js';
import type { MucService } from './muc/service.js';
import { SessionService } from './sessions.js';
import { StatsService, type ClusterStatsSource, type FederationCounts } from './stats.js';
import { TokenService } from './tokens.js';
import { InviteService } from './invites.js';

/** What works on the database alone (the server stopped). */
export interface DatabaseServices {
  readonly accounts: AccountService;
  readonly tokens: TokenService;
  readonly rosters: RosterAdminService;
  readonly archive: ArchiveService;
  /** Group-chat rooms (XEP-0045): on the database alone, or through the running server's rooms. */
  readonly rooms: RoomService;
  /** XEP-0401 invitations: mint, list, revoke. */
  readonly invites: InviteService;
}

/** Everything, with the live server behind it. */
export interface AdminServices extends DatabaseServices {
  readonly sessions: SessionService;
  readonly messages: MessageService;
  readonly offline: OfflineService;
  readonly stats: StatsService;
  readonly health: HealthService;
}

export function createDatabaseServices(stores: Stores, config: Config): DatabaseServices {
  const accounts = new AccountService(stores, config, null);
  // Nobody is online to push to: an empty registry.
  const rosters = new RosterService(stores.roster, new LocalSessionRegistry(), config.limits.rosterItems);
  return {
    accounts,
    tokens: new TokenService(stores.tokens),
    rosters: new RosterAdminService(rosters, accounts),
    archive: new ArchiveService(stores.archive, accounts),
    rooms: new StoredRoomService({ config, store: stores.muc }),
    invites: new InviteService(stores, config, accounts),
  };
}

export interface LiveServer {
  config: Config;
  version: string;
  startedAt: number;
  database: Database;
  stores: Stores;
  accounts: AccountService;
  rosters: RosterService;
  sessions: SessionRegistry;
  router: Router;
  /** The group-chat service (null when muc.enabled is false): operators' room requests go to it. */
  muc: MucService | null;
  federation: () => FederationCounts;
  log: Logger;
  /** In a cluster: its health for /ready. */
  cluster?: ({ readonly healthy: boolean } & ClusterStatsSource) | null;
}

export function createAdminServices(server: LiveServer): AdminServices {
  const { config, accounts } = server;
  return {
    accounts,
    tokens: new TokenService(server.stores.tokens),
    rosters: new RosterAdminService(server.rosters, accounts),
    sessions: new SessionService(server.sessions, accounts, server.cluster?.node ?? null),
    messages: new MessageService(server.router, server.sessions, accounts, config.domains),
    offline: new OfflineService(server.stores.offline, accounts),
    archive: new ArchiveService(server.stores.archive, accounts),
    rooms: new LiveRoomService({ config, store: server.stores.muc }, server.muc, server.log),
    invites: new InviteService(server.stores, config, accounts),
    stats: new StatsService({
      version: server.version,
      startedAt: server.startedAt,
      domains: config.domains,
      accounts: server.stores.accounts,
      sessions: server.sessions,
      router: server.router,
      federation: server.federation,
      cluster: server.cluster ?? null,
    }),
    health: new HealthService(server.database, server.log, server.cluster ?? null),
  };
}
