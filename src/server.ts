// Composition root of a running server: storage, certificates, core, modules, listeners and
// the control socket, started in that order; listeners open only once everything is ready.
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { AuthThrottle } from './c2s/auth-throttle.js';
import { C2sListeners } from './c2s/listener.js';
import { createSaslProvider } from './c2s/sasl-negotiation.js';
import { ControlServer, type ControlMethod } from './control/server.js';
import { controlSocketPath, DataDirLock, ensureDataDir, loadServerSecret } from './core/data-dir.js';
import { DiscoRegistry } from './core/disco-registry.js';
import { StreamError } from './core/errors.js';
import type { ServerEvents } from './core/events.js';
import { HookBus } from './core/hooks.js';
import { IqHandlers } from './core/iq.js';
import type { HearthModule, ModuleContext } from './core/module.js';
import { Router } from './core/router.js';
import { LocalSessionRegistry } from './core/sessions.js';
import { StreamFeatures } from './core/stream-features.js';
import { builtinModules } from './modules/index.js';
import { AccountService } from './services/accounts.js';
import { RosterService } from './services/roster.js';
import { createStores, migrateToLatest, openDatabase, type Database, type Stores } from './storage/index.js';
import { loadCertificates, TlsContexts } from './tls/certificates.js';

export const VERSION = '0.1.0';

export interface RunningServer {
  readonly config: Config;
  readonly router: Router;
  readonly sessions: LocalSessionRegistry;
  readonly stores: Stores;
  readonly accounts: AccountService;
  readonly hooks: HookBus<ServerEvents>;
  /** Human-readable listener addresses, e.g. "c2s 127.0.0.1:5222". */
  readonly addresses: readonly string[];
  readonly listeners: C2sListeners;
  reloadCertificates(): Promise<void>;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Extra modules (tests); the built-in ones always load. */
  modules?: readonly HearthModule[];
  /** Use this database instead of opening one from the config (tests). */
  database?: Database;
}

export async function startServer(config: Config, log: Logger, options: StartOptions = {}): Promise<RunningServer> {
  await ensureDataDir(config.dataDir);
  const usesEmbedded = !options.database && !config.database.url;
  const lock = usesEmbedded ? DataDirLock.acquire(config.dataDir) : null;
  let database: Database | null = null;
  try {
    database = options.database ?? (await openDatabase({ url: config.database.url, dataDir: config.dataDir, log: log.child({ component: 'storage' }) }));
    const { applied } = await migrateToLatest(database);
    if (applied.length > 0) log.info({ applied }, 'database migrated');
    const stores = createStores(database);
    const serverSecret = await loadServerSecret(config.dataDir);
    const certificates = await loadCertificates(config.domains, config.tls.certificates, config.dataDir);
    for (const pair of certificates) {
      log.info({ domain: pair.domain, file: pair.source, selfSigned: pair.selfSigned }, 'certificate loaded');
    }
    const contexts = new TlsContexts(certificates);

    const hooks = new HookBus<ServerEvents>(log.child({ component: 'hooks' }));
    const iq = new IqHandlers();
    const sessions = new LocalSessionRegistry();
    const disco = new DiscoRegistry();
    const streamFeatures = new StreamFeatures();
    // Embedded PGlite: this process is the only writer, so rosters of accounts that went
    // offline may stay cached (bounded) and a reconnect needs no roster query.
    const rosters = new RosterService(stores.roster, sessions, config.limits.rosterItems, database.kind === 'pglite' ? 200_000 : 0);
    hooks.on('account-deleted', ({ jid }) => rosters.forget(jid));
    const domains = new Set(config.domains);
    const router = new Router({
      domains,
      sessions,
      iq,
      hooks,
      accountExists: (username, domain) => stores.accounts.exists(username, domain),
      log: log.child({ component: 'router' }),
    });

    for (const module of [...builtinModules, ...(options.modules ?? [])]) {
      const ctx: ModuleContext = {
        config,
        log: log.child({ module: module.name }),
        hooks,
        iq,
        disco,
        sessions,
        router,
        stores,
        streamFeatures,
        rosters,
      };
      for (const feature of module.hostFeatures ?? []) disco.addHostFeature(feature);
      for (const feature of module.accountFeatures ?? []) disco.addAccountFeature(feature);
      await module.setup(ctx);
    }

    const accounts = new AccountService(stores, config, sessions, hooks);
    const controlMethods: Record<string, ControlMethod> = {
      ping: async () => ({ version: VERSION }),
      'user.add': (p) => accounts.add(p.jid, p.password),
      'user.del': (p) => accounts.remove(p.jid),
      'user.passwd': (p) => accounts.setPassword(p.jid, p.password),
      'user.list': (p) =>
        accounts.list({
          domain: typeof p.domain === 'string' ? p.domain : undefined,
          limit: typeof p.limit === 'number' ? p.limit : undefined,
          after: typeof p.after === 'string' ? p.after : undefined,
        }),
      'user.import': (p) => accounts.import(Array.isArray(p.lines) ? p.lines.filter((l): l is string => typeof l === 'string') : []),
    };
    const control = new ControlServer(controlSocketPath(config.dataDir), controlMethods, log.child({ component: 'control' }));
    await control.listen();

    const throttle = new AuthThrottle(config.limits.authFailuresPerMinute);
    const sasl = createSaslProvider({
      credential: (username, domain, mechanism) => stores.accounts.getCredential(username, domain, mechanism),
      serverSecret,
      iterations: config.auth.scramIterations,
    });
    const listeners = new C2sListeners(
      { config, log: log.child({ component: 'c2s' }), domains, router, sessions, hooks, sasl, throttle, features: streamFeatures },
      {
        plain: config.c2s.listen,
        directTls: config.c2s.directTls,
        contexts,
        unauthenticatedPerIp: config.limits.unauthenticatedPerIp,
        handshakeTimeoutMs: config.limits.unauthenticatedTimeoutS * 1000,
        log: log.child({ component: 'c2s' }),
      },
    );
    try {
      await listeners.listen();
    } catch (err) {
      listeners.stopAccepting();
      await control.close();
      throw err;
    }

    let stopping: Promise<void> | null = null;
    const db = database;
    return {
      config,
      router,
      sessions,
      stores,
      accounts,
      hooks,
      listeners,
      addresses: listeners.addresses,
      async reloadCertificates() {
        contexts.replace(await loadCertificates(config.domains, config.tls.certificates, config.dataDir));
        log.info('certificates reloaded');
      },
      stop() {
        stopping ??= (async () => {
          listeners.stopAccepting();
          // RFC 6120 §4.9.3.17: every stream learns why it ends.
          for (const stream of [...listeners.allStreams()]) stream.close(new StreamError('system-shutdown', 'the server is shutting down'));
          await control.close();
          await waitFor(() => listeners.streamCount === 0, 3_000);
          if (!options.database) await db.close();
          lock?.release();
        })();
        return stopping;
      },
    };
  } catch (err) {
    if (database && !options.database) await database.close().catch(() => undefined);
    lock?.release();
    throw err;
  }
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}
