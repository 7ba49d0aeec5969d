// The shape of every feature: one module declares what it implements and registers
// handlers and hooks on the context it is given. It never touches sockets or SQL.
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Stores } from '../storage/index.js';
import type { ServerEvents } from './events.js';
import type { HookBus } from './hooks.js';
import type { IqHandler, IqKey } from './iq.js';
import type { Router } from './router.js';
import type { SessionRegistry } from './sessions.js';
import type { DiscoRegistry } from './disco-registry.js';
import type { StreamFeatures } from './stream-features.js';
import type { DeliveryFilters } from './delivery-filters.js';
import type { StreamElementHandlers } from './stream-elements.js';
import type { PreAuthHandlers } from './pre-auth.js';
import type { BindFeatures } from './bind-features.js';
import type { AccountService } from '../services/accounts.js';
import type { ServerAdmins } from './server-admins.js';
import type { RegistrationThrottle } from './registration-throttle.js';
import type { RosterService } from '../services/roster.js';
import type { ModuleMetrics } from '../metrics/metrics.js';
import type { CacheCoherence } from './cache-coherence.js';
import type { Ownership } from '../cluster/ownership.js';
import type { EntityCapsService } from '../services/entity-caps.js';
import type { Pep } from '../services/pep/engine.js';
import type { MucService } from '../services/muc/service.js';
import type { PrivateXmlViews } from './private-xml-views.js';
import type { ServiceDomains, ServiceForwarding } from './services.js';

export interface ModuleContext {
  readonly config: Config;
  readonly log: Logger;
  readonly hooks: HookBus<ServerEvents>;
  readonly iq: { register(key: IqKey, handler: IqHandler): () => void };
  readonly disco: DiscoRegistry;
  readonly sessions: SessionRegistry;
  readonly router: Router;
  readonly stores: Stores;
  readonly streamFeatures: StreamFeatures;
  /** Synchronous filters on the way into a client session (blocking, CSI). */
  readonly delivery: DeliveryFilters;
  /** Handlers of top-level elements of bound client streams, by namespace (CSI). */
  readonly streamElements: StreamElementHandlers;
  /** What an unauthenticated client stream may do besides TLS and SASL (in-band registration, invitations). */
  readonly preAuth: PreAuthHandlers;
  /** XEP-0386 Bind 2: what a client may enable while it signs in, and what <bound/> tells it. */
  readonly bindFeatures: BindFeatures;
  /** Account creation, password changes and deletion, validated as for operators. */
  readonly accounts: AccountService;
  /** Server administrators: config `admins` and the ones an invitation granted. */
  readonly admins: ServerAdmins;
  /** In-band registrations without an invitation per address and hour (cluster-wide in a cluster). */
  readonly registrationThrottle: RegistrationThrottle;
  /** Rosters, cached for online accounts, with pushes (RFC 6121 §2). */
  readonly rosters: RosterService;
  /** Counters for /metrics: plain integers, read only when scraped. */
  readonly metrics: ModuleMetrics;
  /** A module caching what it stores says when it changes it (other cluster nodes drop theirs). */
  readonly caches: CacheCoherence;
  /**
   * Which node owns a keyed piece of live state (a group-chat room): in a cluster one live
   * node, taken over when it dies (src/cluster/ownership.ts); alone, this process.
   */
  readonly ownership: Ownership;
  /** XEP-0115: the verified features behind the capabilities entities claim in presence. */
  readonly caps: EntityCapsService;
  /** XEP-0045: the group-chat service of every served domain; null when muc.enabled is false. */
  readonly muc: MucService | null;
  /** XEP-0163: every account's PEP service (the pep module speaks its protocol; others publish through it). */
  readonly pep: Pep;
  /** XEP-0049 namespaces another module keeps in a form of its own (XEP-0048 bookmarks). */
  readonly privateXml: PrivateXmlViews;
  /** Addresses of this server that belong to services, not accounts (group chat registers its own). */
  readonly services: ServiceDomains;
  /** In a cluster: stanzas for a service's live state reach the node holding it; null alone. */
  readonly serviceForwarding: ServiceForwarding | null;
}

export interface HearthModule {
  readonly name: string;
  /** The RFC section or XEP (with version) the module implements. */
  readonly implements: string;
  /** Disco features the server advertises for its domains (XEP-0030). */
  readonly hostFeatures?: readonly string[];
  /** Disco features advertised on behalf of accounts (bare JIDs). */
  readonly accountFeatures?: readonly string[];
  setup(ctx: ModuleContext): void | Promise<void>;
}

export function defineModule(module: HearthModule): HearthModule {
  return module;
}
