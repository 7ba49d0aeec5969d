// Starts a real Hearth server on a loopback address for integration tests, with a database
// of its own (in-memory PGlite, or a fresh PostgreSQL schema when DATABASE_URL is set).
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { validateConfig, type ConfigInput } from '../../src/config.js';
import { createLogger } from '../../src/core/log.js';
import { startServer, type RunningServer } from '../../src/server.js';
import type { Database } from '../../src/storage/database.js';
import { openIsolatedDatabase, type IsolatedDatabase } from './database.js';

export interface TestServer {
  readonly server: RunningServer;
  readonly host: string;
  readonly domain: string;
  /** STARTTLS port. */
  readonly port: number;
  readonly directTlsPort: number;
  /** Base URL of the admin HTTP API, e.g. http://127.0.0.130:41234 */
  readonly adminUrl: string;
  /** Base URL of the client HTTP listener (WebSocket, BOSH, host-meta), e.g. http://127.0.0.130:41235 */
  readonly httpUrl: string;
  /** The XEP-0114 component port (0 when no component is configured). */
  readonly componentPort: number;
  readonly dataDir: string;
  /** The server's database (tests that need to break it on purpose). */
  readonly database: Database;
  addUser(local: string, password: string): Promise<string>;
  stop(): Promise<void>;
}

export interface TestServerOptions {
  /** Loopback address, 127.0.0.100–199 (contract.md). */
  host: string;
  domain?: string;
  /** Extra domains served. */
  extraDomains?: string[];
  config?: Omit<ConfigInput, 'domains' | 'dataDir'>;
  /**
   * Use the certificate of the test CA (trusted by the test process through
   * NODE_EXTRA_CA_CERTS; domains must be hearth.example or below). Default true; false lets
   * the server generate self-signed ones.
   */
  testCa?: boolean;
  /** The server's logger (tests that read the log); default: config.log.level to stderr. */
  log?: Logger;
  /** DNS servers for federation (a test DNS server), instead of the system's. */
  dnsServers?: string[];
  /** A database shared with other servers (cluster nodes); the caller closes it. */
  database?: Database;
  /** A data directory kept across a restart (its server secret); the caller removes it. */
  dataDir?: string;
}

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'tls');

function httpBase(server: RunningServer): string {
  const plain = server.http.bound.find((b) => b.kind === 'http');
  return plain ? `http://${plain.host}:${plain.port}` : '';
}

export async function startTestServer(options: TestServerOptions): Promise<TestServer> {
  const domain = options.domain ?? 'hearth.example';
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(tmpdir(), 'hearth-test-')));
  const domains = [domain, ...(options.extraDomains ?? [])];
  let certificates: string | null = null;
  if (options.testCa ?? true) {
    certificates = path.join(dataDir, 'test-certs');
    await mkdir(certificates, { recursive: true });
    for (const d of domains) {
      await copyFile(path.join(FIXTURES, 'hearth.example.crt'), path.join(certificates, `${d}.crt`));
      await copyFile(path.join(FIXTURES, 'hearth.example.key'), path.join(certificates, `${d}.key`));
    }
  }
  const raw: ConfigInput = {
    tls: { certificates },
    ...options.config,
    domains,
    dataDir,
    log: { level: (process.env.HEARTH_TEST_LOG as 'debug' | undefined) ?? 'silent', ...options.config?.log },
    c2s: { listen: [`${options.host}:0`], directTls: [`${options.host}:0`], ...options.config?.c2s },
    s2s: { listen: [`${options.host}:0`], ...options.config?.s2s },
    admin: { listen: [`${options.host}:0`], ...options.config?.admin },
    http: { listen: [`${options.host}:0`], ...options.config?.http },
    components: { listen: [`${options.host}:0`], ...options.config?.components },
  };
  const env = { ...process.env };
  delete env.DATABASE_URL;
  const config = validateConfig(raw, dataDir, env);
  let isolated: IsolatedDatabase | null = options.database ? null : await openIsolatedDatabase(process.env.DATABASE_URL ? 'postgres' : 'pglite');
  const log = options.log ?? createLogger(config.log.level, { pretty: false, destination: process.stderr });
  const database = options.database ?? isolated!.database;
  let server: RunningServer;
  try {
    server = await startServer(config, log, { database, dnsServers: options.dnsServers });
  } catch (err) {
    await isolated?.dispose();
    throw err;
  }
  const plain = server.listeners.bound.find((b) => b.kind === 'c2s');
  const direct = server.listeners.bound.find((b) => b.kind === 'c2s direct TLS');
  return {
    server,
    host: options.host,
    domain,
    port: plain?.port ?? 0,
    directTlsPort: direct?.port ?? 0,
    adminUrl: server.admin.bound[0] ? `http://${server.admin.bound[0].host}:${server.admin.bound[0].port}` : '',
    httpUrl: httpBase(server),
    componentPort: server.components.bound[0]?.port ?? 0,
    dataDir,
    database,
    async addUser(local, password) {
      return (await server.accounts.add(`${local}@${domain}`, password)).jid;
    },
    async stop() {
      await server.stop();
      if (isolated) {
        await isolated.dispose();
        isolated = null;
      }
      if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
