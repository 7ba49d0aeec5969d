// Composition root of a running server: storage, certificates, core, modules, listeners and
// the control socket, started in that order; listeners open only once everything is ready.
import type { Element } from 'ltx';
import type { Logger } from 'pino';
import { mucDomains, type Config } from './config.js';
import { LocalAuthThrottle } from './c2s/auth-throttle.js';
import { RedisAuthThrottle } from './cluster/auth-throttle.js';
import { Cluster } from './cluster/cluster.js';
import { c2sSessionGiver } from './c2s/handover.js';
import { makeNodeId } from './cluster/redis.js';
import { LocalOwnership, type Ownership } from './cluster/ownership.js';
import { SINGLE_PROCESS } from './core/cache-coherence.js';
import { C2sListeners } from './c2s/listener.js';
import { createSaslProvider } from './c2s/sasl-negotiation.js';
import { C2sSession } from './c2s/session.js';
import { ResumableSessions } from './c2s/stream-management.js';
import { controlMethods } from './control/methods.js';
import { ControlServer } from './control/server.js';
import { controlSocketPath, DataDirLock, ensureDataDir, loadServerSecret } from './core/data-dir.js';
import { DiscoRegistry } from './core/disco-registry.js';
import { StreamError } from './core/errors.js';
import type { ServerEvents } from './core/events.js';
import { HookBus } from './core/hooks.js';
import { IqHandlers } from './core/iq.js';
import { componentLogger } from './core/log.js';
import type { HearthModule, ModuleContext } from './core/module.js';
import { Router } from './core/router.js';
import { LocalSessionRegistry, type SessionRegistry } from './core/sessions.js';
import { StreamFeatures } from './core/stream-features.js';
import { DeliveryFilters } from './core/delivery-filters.js';
import { StreamElementHandlers } from './core/stream-elements.js';
import { PreAuthHandlers } from './core/pre-auth.js';
import { BindFeatures } from './core/bind-features.js';
import { FastTokens } from './services/fast-tokens.js';
import { ServerAdmins } from './core/server-admins.js';
import { LocalRegistrationThrottle } from './core/registration-throttle.js';
import { RedisRegistrationThrottle } from './cluster/registration-throttle.js';
import { createAdminApp } from './http/admin/app.js';
import type { MetricsSource } from './http/admin/routes.js';
import { AdminListener } from './http/admin/listener.js';
import { createClientApp } from './http/client/app.js';
import { BoshEndpoint } from './http/client/bosh.js';
import { ClusterBoshRelay } from './http/client/bosh-relay.js';
import { ClientAddresses } from './http/client/client-address.js';
import { ClientHttpListener } from './http/client/listener.js';
import { ComponentListeners } from './components/listener.js';
import { ClusterComponentDirectory } from './components/cluster-directory.js';
import { ServiceDomains } from './core/services.js';
import { createMucService } from './services/muc/create.js';
import { OriginPolicy } from './http/client/origins.js';
import { WebSocketEndpoint } from './http/client/websocket.js';
import { Metrics } from './metrics/metrics.js';
import { EntityCapsService } from './services/entity-caps.js';
import { Pep } from './services/pep/engine.js';
import { PrivateXmlViews } from './core/private-xml-views.js';
import { builtinModules } from './modules/index.js';
import { Federation } from './s2s/federation.js';
import { AccountService } from './services/accounts.js';
import { createAdminServices, type AdminServices } from './services/index.js';
import { RosterService } from './services/roster.js';
import { createStores, migrateToLatest, openDatabase, type Database, type Stores } from './storage/index.js';
import { loadCertificates, TlsContexts } from './tls/certificates.js';
import { VERSION } from './version.js';

export { VERSION };

export interface RunningServer {
  readonly config: Config;
  readonly router: Router;
  readonly sessions: SessionRegistry;
  /** This process as a cluster node (cluster.redis), or null when it runs alone. */
  readonly cluster: Cluster | null;
  readonly stores: Stores;
  readonly accounts: AccountService;
  /** The service layer of the admin API, the control socket and the command line. */
  readonly services: AdminServices;
  /** The admin HTTP API's listener (admin.listen). */
  readonly admin: AdminListener;
  /** The client-facing HTTP listeners (http.listen, http.tlsListen): WebSocket, BOSH, host-meta, web chat. */
  readonly http: ClientHttpListener;
  /** XEP-0114 components (components.listen, components.services). */
  readonly components: ComponentListeners;
  readonly hooks: HookBus<ServerEvents>;
  /** Human-readable listener addresses, e.g. "c2s 127.0.0.1:5222". */
  readonly addresses: readonly string[];
  readonly listeners: C2sListeners;
  /** Prometheus registry of this server (GET /metrics). */
  readonly metrics: Metrics;
  readonly s2s: Federation;
  reloadCertificates(): Promise<void>;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Extra modules (tests); the built-in ones always load. */
  modules?: readonly HearthModule[];
  /** Use this database instead of opening one from the config (tests). */
  database?: Database;
  /** DNS servers ("host:port") for federation instead of the system's (tests). */
  dnsServers?: string[];
  /** The worker index under `hearth start --workers N` (part of the cluster node id). */
  worker?: number;
  /** Serve the control socket (default true; workers leave it to the primary). */
  control?: boolean;
  /** What GET /metrics serves, given this server's own metrics (the primary adds its workers'). */
  metricsSource?: (own: Metrics) => MetricsSource;
}

/** Why cluster.redis cannot go with the embedded database. */
export const CLUSTER_NEEDS_POSTGRES =
  'cluster.redis needs PostgreSQL (database.url or DATABASE_URL): the nodes of a cluster share one database, and the embedded PGlite belongs to a single process';

export async function startServer(config: Config, log: Logger, options: StartOptions = {}): Promise<RunningServer> {
  await ensureDataDir(config.dataDir);
  const usesEmbedded = !options.database && !config.database.url;
  if (config.cluster.redis && usesEmbedded) throw new Error(CLUSTER_NEEDS_POSTGRES);
  const lock = usesEmbedded ? DataDirLock.acquire(config.dataDir) : null;
  let database: Database | null = null;
  let cluster: Cluster | null = null;
  const levels = config.log.components;
  const metrics = new Metrics({ version: VERSION });
  try {
    database = options.database ?? (await openDatabase({ url: config.database.url, dataDir: config.dataDir, log: componentLogger(log, 'storage', levels), listenForChanges: true }));
    database.observeQueries((durationMs, failed) => metrics.observeQuery(durationMs, failed));
    const changes = database.changes;
    metrics.gauge(
      'hearth_db_change_feed_live',
      'Whether the caches in front of the database may answer: 1 on PGlite (one writer) and on PostgreSQL while the change feed listens; 0 while it is down and every read goes to the database.',
      () => (changes.live ? 1 : 0),
    );
    const { applied } = await migrateToLatest(database);
    if (applied.length > 0) log.info({ applied }, 'database migrated');
    const stores = createStores(database);
    let serverSecret = await loadServerSecret(config.dataDir);
    // FAST tokens are sealed with the data directory's secret, never the database's copy (a
    // cluster's nodes share the file); see src/services/fast-tokens.ts.
    const fast = new FastTokens(stores.fastTokens, serverSecret, config.auth.fastTokenDays, componentLogger(log, 'c2s', levels));
    const hooks = new HookBus<ServerEvents>(componentLogger(log, 'hooks', levels));
    /** Set once the router exists: stanzas for sessions that vanished from another node go there. */
    let redeliver: (stanza: Element) => void = () => undefined;
    if (config.cluster.redis) {
      if (database.kind === 'pglite') throw new Error(CLUSTER_NEEDS_POSTGRES);
      // Every node verifies the dialback keys the others issued (XEP-0185).
      serverSecret = await stores.secrets.getOrCreate('server', serverSecret);
      cluster = await Cluster.start({
        url: config.cluster.redis,
        node: makeNodeId(config.cluster.nodeId, options.worker ?? 0),
        ttlS: config.cluster.ttlS,
        log: componentLogger(log, 'cluster', levels),
        orphan: (stanza) => redeliver(stanza),
      });
      cluster.attach(hooks);
    }
    // Component and group-chat domains are domains of this server on the network too (s2s, certificates).
    const componentDomains = [...Object.keys(config.components.services), ...mucDomains(config)];
    const certificates = await loadCertificates(config.domains, config.tls.certificates, config.dataDir, componentDomains);
    for (const pair of certificates) {
      log.info({ domain: pair.domain, file: pair.source, selfSigned: pair.selfSigned }, 'certificate loaded');
    }
    const contexts = new TlsContexts(certificates);

    const iq = new IqHandlers();
    const sessions: SessionRegistry = cluster?.registry ?? new LocalSessionRegistry();
    const caches = cluster ?? SINGLE_PROCESS;
    const ownership: Ownership = cluster?.ownership ?? new LocalOwnership('local');
    const disco = new DiscoRegistry();
    const streamFeatures = new StreamFeatures();
    const delivery = new DeliveryFilters();
    const streamElements = new StreamElementHandlers();
    const preAuth = new PreAuthHandlers();
    const bindFeatures = new BindFeatures();
    const admins = new ServerAdmins(config.admins, stores.serverAdmins, caches);
    await admins.load();
    hooks.on('account-deleted', ({ jid }) => admins.forget(jid));
    const registrationThrottle = cluster
      ? new RedisRegistrationThrottle(cluster.redis, config.registration.perIpPerHour, cluster.node)
      : new LocalRegistrationThrottle(config.registration.perIpPerHour);
    const accounts = new AccountService(stores, config, sessions, hooks);
    // Embedded PGlite: this process is the only writer, so rosters of accounts that went
    // offline may stay cached (bounded) and a reconnect needs no roster query.
    const rosters = new RosterService(stores.roster, sessions, config.limits.rosterItems, database.kind === 'pglite' ? 200_000 : 0, caches);
    hooks.on('account-deleted', ({ jid }) => rosters.forget(jid));
    const domains = new Set(config.domains);
    const serviceDomains = new ServiceDomains();
    const router = new Router({
      domains,
      services: serviceDomains,
      sessions,
      iq,
      hooks,
      accountExists: (username, domain) => stores.accounts.exists(username, domain),
      log: componentLogger(log, 'router', levels),
    });
    metrics.watchRouter(router.stats);
    const modulesLog = componentLogger(log, 'modules', levels);
    const caps = new EntityCapsService(stores.entityCaps, router, caches, modulesLog.child({ module: 'caps' }), serverSecret);
    const privateXml = new PrivateXmlViews();
    const pep = new Pep({ limits: config.limits, store: stores.pubsub, rosters, sessions, router, caps, caches, log: modulesLog.child({ module: 'pep' }) });
    redeliver = (stanza) => void router.redeliver(stanza);
    const serviceForwarding = cluster?.serviceForwarding() ?? null;

    const muc = await createMucService({ config, stores, admins, router, ownership, forwarding: serviceForwarding, metrics, log: modulesLog.child({ module: 'muc' }) });

    for (const module of [...builtinModules, ...(options.modules ?? [])]) {
      const ctx: ModuleContext = {
        config,
        log: modulesLog.child({ module: module.name }),
        metrics,
        hooks,
        iq,
        disco,
        sessions,
        router,
        stores,
        streamFeatures,
        delivery,
        streamElements,
        preAuth,
        bindFeatures,
        accounts,
        admins,
        registrationThrottle,
        rosters,
        caches,
        ownership,
        caps,
        pep,
        privateXml,
        services: serviceDomains,
        serviceForwarding,
        muc,
      };
      for (const feature of module.hostFeatures ?? []) disco.addHostFeature(feature);
      for (const feature of module.accountFeatures ?? []) disco.addAccountFeature(feature);
      await module.setup(ctx);
    }

    const adminLog = componentLogger(log, 'admin', levels);
    const services = createAdminServices({
      config, version: VERSION, startedAt: Date.now(), database, stores, accounts, rosters, sessions, router, log: adminLog,
      muc,
      // s2s is created below, with no await in between: no request can ask before it exists.
      federation: () => s2s.streamCounts(),
      cluster,
    });
    const control = options.control === false ? null : new ControlServer(controlSocketPath(config.dataDir), controlMethods(services, VERSION), componentLogger(log, 'control', levels));
    await control?.listen();

    const throttle = cluster
      ? new RedisAuthThrottle(cluster.redis, config.limits.authFailuresPerMinute, cluster.node)
      : new LocalAuthThrottle(config.limits.authFailuresPerMinute);
    const sasl = createSaslProvider({
      credential: (username, domain, mechanism) => stores.accounts.getCredential(username, domain, mechanism),
      serverSecret,
      iterations: config.auth.scramIterations,
    });
    const c2sLog = componentLogger(log, 'c2s', levels);
    /** Sessions ending (unacknowledged stanzas rerouted, presence sent): awaited at shutdown. */
    const sessionEndings = new Set<Promise<void>>();
    const resumable = new ResumableSessions<C2sSession>();
    if (cluster) cluster.registry.giver = c2sSessionGiver(hooks);
    const listeners = new C2sListeners(
      {
        config, log: c2sLog, domains, router, sessions, hooks, sasl, throttle, features: streamFeatures, delivery, streamElements, preAuth, bindFeatures, fast,
        resumable, endings: sessionEndings, claims: cluster?.registry ?? null,
        traffic: metrics.stanzaTraffic('c2s'),
        auth: metrics.auth,
      },
      {
        plain: config.c2s.listen,
        directTls: config.c2s.directTls,
        contexts,
        unauthenticatedPerIp: config.limits.unauthenticatedPerIp,
        sharedCounts: cluster?.addressCounts ?? null,
        handshakeTimeoutMs: config.limits.unauthenticatedTimeoutS * 1000,
        log: c2sLog,
      },
    );
    metrics.addConnectionSource(() => listeners.connectionCounts());
    metrics.gauge('hearth_sm_resumable_sessions', 'Sessions with stream management resumption enabled (XEP-0198), attached or hibernated.', () => resumable.size);
    metrics.gauge('hearth_sm_hibernated_sessions', 'Sessions whose connection died, waiting for a resumption (XEP-0198).', () => {
      let count = 0;
      for (const session of sessions.local()) if (session instanceof C2sSession && session.isHibernated) count++;
      return count;
    });
    // Component domains are domains of this server on the network too (s2s, dialback, SNI).
    const hostedDomains = new Set([...config.domains, ...componentDomains]);
    const s2s = new Federation({ config, log: componentLogger(log, 's2s', levels), domains: hostedDomains, router, secret: serverSecret, certificates, dnsServers: options.dnsServers, traffic: metrics.stanzaTraffic('s2s'), sharedCounts: cluster?.addressCounts ?? null });
    router.setRemoteDelivery(s2s);
    cluster?.reportStats(() => services.stats.own());
    metrics.setFederationSource(() => s2s.streamCounts());
    const { app: adminApp } = createAdminApp({ services, metrics: options.metricsSource?.(metrics) ?? metrics, version: VERSION, log: adminLog });
    const admin = new AdminListener(adminApp, config.admin.listen, adminLog);
    const httpLog = componentLogger(log, 'http', levels);
    const origins = new OriginPolicy(config.domains, config.http.allowedOrigins);
    const clientAddresses = new ClientAddresses(config.http.trustedProxies);
    const websocket = new WebSocketEndpoint({
      accept: (framing) => listeners.accept(framing),
      origins,
      addresses: clientAddresses,
      limits: listeners.preAuthLimits,
      maxStanzaBytes: config.limits.stanzaBytes,
      log: httpLog,
    });
    const bosh = new BoshEndpoint({
      accept: (framing) => listeners.accept(framing),
      origins,
      addresses: clientAddresses,
      limits: listeners.preAuthLimits,
      maxBodyBytes: config.limits.stanzaBytes + 8192,
      inactivityS: config.http.boshInactivityS,
      relay: cluster ? new ClusterBoshRelay(cluster) : null,
      log: httpLog,
    });
    const components = new ComponentListeners({
      listen: config.components.listen,
      secrets: new Map(Object.entries(config.components.services).map(([domain, service]) => [domain, service.secret!])),
      router,
      services: serviceDomains,
      limits: { preAuth: listeners.preAuthLimits, stanzaBytes: config.limits.stanzaBytes },
      handshakeTimeoutMs: config.limits.unauthenticatedTimeoutS * 1000,
      pingIntervalMs: config.c2s.pingIntervalS * 1000,
      pingTimeoutMs: config.c2s.pingTimeoutS * 1000,
      serverDomain: config.domains[0]!,
      traffic: metrics.stanzaTraffic('component'),
      log: componentLogger(log, 'component', levels),
      directory: cluster ? new ClusterComponentDirectory(cluster) : null,
    });
    const clientHttp = new ClientHttpListener(createClientApp({ config, domains, bosh, invites: services.invites }), websocket, {
      listen: config.http.listen,
      tlsListen: config.http.tlsListen,
      tls: contexts,
      handshakeTimeoutMs: config.limits.unauthenticatedTimeoutS * 1000,
      log: httpLog,
    });
    try {
      await listeners.listen();
      await s2s.listen();
      await admin.listen();
      await clientHttp.listen();
      await components.listen();
    } catch (err) {
      components.stopAccepting();
      listeners.stopAccepting();
      s2s.stopAccepting();
      await clientHttp.close();
      bosh.close();
      await admin.close();
      await control?.close();
      throw err;
    }

    fast.start();
    hooks.on('server-stopping', () => fast.stop());
    let stopping: Promise<void> | null = null;
    const db = database;
    return {
      config,
      router,
      sessions,
      cluster,
      stores,
      accounts,
      services,
      admin,
      http: clientHttp,
      components,
      hooks,
      listeners,
      metrics,
      s2s,
      addresses: [...listeners.addresses, ...s2s.addresses, ...admin.addresses, ...clientHttp.addresses, ...components.addresses],
      async reloadCertificates() {
        const pairs = await loadCertificates(config.domains, config.tls.certificates, config.dataDir, componentDomains);
        contexts.replace(pairs);
        s2s.replaceCertificates(pairs);
        log.info('certificates reloaded');
      },
      stop() {
        stopping ??= (async () => {
          listeners.stopAccepting();
          s2s.stopAccepting();
          clientHttp.stopAccepting();
          components.stopAccepting();
          // Services speak to their users while the streams are open (XEP-0045 status 332).
          await hooks.emit('server-draining', {});
          // RFC 6120 §4.9.3.20: every stream learns why it ends.
          const shutdown = new StreamError('system-shutdown', 'the server is shutting down');
          for (const stream of [...listeners.allStreams()]) stream.close(shutdown);
          // Hibernated sessions (XEP-0198) have no stream: they end too, their queues going
          // to offline storage while the database is still open.
          for (const session of [...sessions.local()]) session.close(shutdown);
          await Promise.all([...sessionEndings]);
          s2s.closeAll(shutdown);
          components.closeAll(shutdown);
          await control?.close();
          await admin.close();
          db.observeQueries(null);
          await waitFor(() => listeners.streamCount === 0 && s2s.streamCount === 0, 3_000);
          await clientHttp.close();
          bosh.close();
          // Modules stop their timers and flush what they write, while the database is open.
          await hooks.emit('server-stopping', {});
          await cluster?.stop();
          if (!options.database) await db.close();
          lock?.release();
        })();
        return stopping;
      },
    };
  } catch (err) {
    await cluster?.stop().catch(() => undefined);
    if (database && !options.database) await database.close().catch(() => undefined);
    lock?.release();
    throw err;
  }
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}
