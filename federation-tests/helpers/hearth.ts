// A Hearth server as an operator runs it: a YAML config of its own, `hearth user add`, and
// `hearth start` as a child process (bin/hearth.js over dist/, built by test:federation).
// Each server has its own loopback address (127.0.0.150–179), data directory and PGlite
// database; admin.listen is always set so that servers do not collide on 127.0.0.1:5281.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { getPki } from './pki.js';
import { ManagedProcess, run } from './processes.js';
import { newDir } from './workspace.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const HEARTH_BIN = path.join(repo, 'bin', 'hearth.js');

export interface HearthOptions {
  /** A short name for logs and folders. */
  name: string;
  domains: string[];
  /** Loopback address of every listener. */
  address: string;
  /**
   * 'ca': certificates from the test CA (tls.certificates); 'self-signed': no folder, so
   * Hearth generates its own on first start.
   */
  certificates: 'ca' | 'self-signed';
  /** s2s.trustedCa = the test CA (default true). */
  trustTestCa?: boolean;
  routes?: Record<string, string>;
  insecureDomains?: string[];
  dnsTimeoutMs?: number;
  connectTimeoutMs?: number;
  idleTimeoutS?: number;
  /**
   * c2s over STARTTLS, required, as in production (default). The benchmark turns it off
   * with the two documented keys (contract.md).
   */
  c2sPlaintext?: boolean;
  logLevel?: string;
  /** The group-chat service (XEP-0045), written to the config when given (else the defaults). */
  muc?: { enabled?: boolean; subdomain?: string; createRooms?: 'anyone' | 'local' | 'admins' };
}

export interface ReadyInfo {
  addresses: string[];
}

export class HearthServer {
  readonly dir: string;
  readonly dataDir: string;
  readonly configFile: string;
  readonly domain: string;
  process: ManagedProcess | null = null;
  /** Output of every run of this server (restarts included), oldest first. */
  private readonly previousLines: string[] = [];
  ready: ReadyInfo | null = null;

  private constructor(readonly options: HearthOptions) {
    this.dir = newDir(options.name);
    this.dataDir = path.join(this.dir, 'data');
    this.configFile = path.join(this.dir, 'hearth.yaml');
    this.domain = options.domains[0]!;
  }

  /** Writes the config (nothing runs yet). */
  static async create(options: HearthOptions): Promise<HearthServer> {
    const server = new HearthServer(options);
    await server.writeConfig();
    return server;
  }

  get address(): string {
    return this.options.address;
  }

  get c2sPort(): number {
    return 5222;
  }

  private async writeConfig(): Promise<void> {
    const o = this.options;
    const pki = await getPki();
    let certificates: string | null = null;
    if (o.certificates === 'ca') {
      // One folder holding this server's pairs only.
      certificates = path.join(this.dir, 'certs');
      mkdirSync(certificates, { recursive: true });
      for (const domain of o.domains) {
        const issued = pki.issued(domain);
        copyFileSync(issued.certFile, path.join(certificates, `${domain}.crt`));
        copyFileSync(issued.keyFile, path.join(certificates, `${domain}.key`));
      }
    }
    const config = {
      domains: o.domains,
      dataDir: this.dataDir,
      log: { level: o.logLevel ?? process.env.HEARTH_FEDERATION_LOG ?? 'debug' },
      tls: { certificates },
      c2s: {
        listen: [`${o.address}:5222`],
        directTls: [],
        requireTls: !o.c2sPlaintext,
        allowPlaintextAuth: !!o.c2sPlaintext,
      },
      s2s: {
        listen: [`${o.address}:5269`],
        directTls: [],
        requireTls: true,
        routes: o.routes ?? {},
        trustedCa: o.trustTestCa === false ? null : pki.caFile,
        insecureDomains: o.insecureDomains ?? [],
        dnsTimeoutMs: o.dnsTimeoutMs ?? 1_000,
        connectTimeoutMs: o.connectTimeoutMs ?? 15_000,
        idleTimeoutS: o.idleTimeoutS ?? 600,
      },
      admin: { listen: [`${o.address}:5281`] },
      http: { listen: [`${o.address}:5280`] },
      ...(o.muc ? { muc: o.muc } : {}),
    };
    writeFileSync(this.configFile, `# written by federation-tests for ${o.name}\n${stringify(config)}`);
  }

  /** The environment of every hearth command: PGlite in the data dir, no CA overrides. */
  private env(): NodeJS.ProcessEnv {
    const env = { ...process.env };
    delete env.DATABASE_URL;
    delete env.HEARTH_CONFIG;
    delete env.HEARTH_LOG_LEVEL;
    delete env.NODE_EXTRA_CA_CERTS;
    return env;
  }

  /** `hearth user add` (through the control socket while running, else directly). */
  async addUser(local: string, password: string): Promise<string> {
    const jid = `${local}@${this.domain}`;
    const result = await run(process.execPath, [HEARTH_BIN, 'user', 'add', jid, '--password', password, '--config', this.configFile], {
      cwd: this.dir,
      env: this.env(),
      timeoutMs: 30_000,
    });
    if (result.code !== 0) throw new Error(`hearth user add ${jid} exited ${result.code}: ${result.stderr}${result.stdout}`);
    return jid;
  }

  /** `hearth user import`: "jid password" lines, in bulk (before start, for the benchmark). */
  async importUsers(lines: string[]): Promise<string> {
    const result = await run(process.execPath, [HEARTH_BIN, 'user', 'import', '--config', this.configFile], {
      cwd: this.dir,
      env: this.env(),
      input: lines.join('\n') + '\n',
      timeoutMs: 120_000,
    });
    if (result.code !== 0) throw new Error(`hearth user import exited ${result.code}: ${result.stderr}${result.stdout}`);
    return result.stdout.trim();
  }

  /** `hearth start`; resolves on the "ready" line. */
  async start(extraArgs: { nodeArgs?: string[]; taskset?: string } = {}): Promise<ReadyInfo> {
    if (this.process?.alive) throw new Error(`${this.options.name} is already running`);
    if (this.process) this.previousLines.push(...this.process.lines);
    const args = [...(extraArgs.nodeArgs ?? []), HEARTH_BIN, 'start', '--config', this.configFile];
    const command = extraArgs.taskset ? 'taskset' : process.execPath;
    const fullArgs = extraArgs.taskset ? ['-c', extraArgs.taskset, process.execPath, ...args] : args;
    this.process = new ManagedProcess(`hearth ${this.options.name}`, command, fullArgs, {
      cwd: this.dir,
      env: this.env(),
      logFile: path.join(this.dir, 'hearth.log'),
    });
    // A first start initialises PGlite (seconds; much longer on a loaded 2-core machine).
    const line = await this.process.waitForLine(/"msg":"ready"/, 90_000);
    const ready = JSON.parse(line) as ReadyInfo;
    const s2s = ready.addresses.find((a) => a.startsWith('s2s '));
    if (!s2s) throw new Error(`${this.options.name}: the ready line names no s2s listener: ${line}`);
    this.ready = ready;
    return ready;
  }

  async stop(): Promise<number | null> {
    if (!this.process) return null;
    return this.process.stop();
  }

  async restart(): Promise<void> {
    const code = await this.stop();
    if (code !== 0) throw new Error(`${this.options.name} exited with ${code} on SIGTERM (contract: 0)`);
    await this.start();
  }

  /** Output lines of every run so far. */
  allLines(): string[] {
    return [...this.previousLines, ...(this.process?.lines ?? [])];
  }

  tail(n = 60): string {
    return this.allLines().slice(-n).join('\n');
  }
}

export interface AuthenticatedStream {
  direction: 'in' | 'out';
  peer: string;
  /** Outbound streams: the domain of this server the stream speaks for. */
  local?: string;
  method: string;
  line: string;
}

/**
 * The s2s streams the server reports as authenticated in its log ("inbound/outbound s2s
 * stream authenticated" lines with peer and method): how operators see which mechanism a
 * peer used. Not part of contract.md; the tests use it to show that EXTERNAL and dialback
 * are really the mechanisms exercised.
 */
export function authenticatedStreams(server: HearthServer): AuthenticatedStream[] {
  const found: AuthenticatedStream[] = [];
  for (const line of server.allLines()) {
    if (!line.includes('s2s stream authenticated')) continue;
    try {
      const entry = JSON.parse(line) as { msg?: string; direction?: string; peer?: string; local?: string; method?: string };
      if (!/s2s stream authenticated/.test(entry.msg ?? '')) continue;
      found.push({ direction: entry.direction === 'out' ? 'out' : 'in', peer: entry.peer ?? '', ...(entry.local ? { local: entry.local } : {}), method: entry.method ?? '', line });
    } catch {
      // not a JSON line
    }
  }
  return found;
}
