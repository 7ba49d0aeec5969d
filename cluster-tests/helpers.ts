// Cluster nodes as an operator runs them: one `hearth start` process per node (each on a
// loopback address of its own, with the standard ports), all serving one domain on one
// PostgreSQL database and one Redis database. Every process started here is tracked and
// ended by its pid: by the test files' after() hooks, by the root hook (setup.ts), and with
// SIGKILL when the test process exits.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { stringify } from 'yaml';
import { runHearth, startHearth, type CommandResult, type StartedHearth } from '../test/helpers/hearth-process.js';
import type { TestServer } from '../test/helpers/server.js';
import { connect, delay, withTimeout, xml, type Client, type Element } from '../test/helpers/xmpp-client.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURES = path.join(repo, 'test', 'fixtures', 'tls');
const execFileAsync = promisify(execFile);

/** The one domain every node serves (the test CA's certificate covers *.hearth.example). */
export const DOMAIN = 'cluster.hearth.example';
/** The cluster's Redis database: number 12 only (flushed before and after, nothing else touched). */
export const REDIS_URL = 'redis://127.0.0.1:6379/12';
/** Liveness TTL of the test clusters (s): a dead node is noticed within about this. */
export const TTL_S = 3;
/** Log level of the nodes (their logs go to files in the run folder). */
const LOG_LEVEL = process.env.HEARTH_CLUSTER_LOG ?? 'debug';

// ---- the run folder (configs, data directories, logs) ---------------------------------

let runFolder: string | null = null;

/** /tmp/hearth-cluster-tests-XXXX: kept when a test failed (setup.ts says where). */
export function runDir(): string {
  runFolder ??= mkdtempSync(path.join(tmpdir(), 'hearth-cluster-tests-'));
  return runFolder;
}

export function removeRunDir(): void {
  if (runFolder) rmSync(runFolder, { recursive: true, force: true });
  runFolder = null;
}

// ---- processes started by the suite ---------------------------------------------------

const started = new Set<ChildProcess>();

function track(child: ChildProcess): void {
  started.add(child);
  child.once('exit', () => started.delete(child));
}

/** Ends a process this suite started: SIGTERM, then SIGKILL after graceMs. */
export async function endProcess(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Every process of the suite still running, ended (root hook). */
export async function endAllProcesses(): Promise<void> {
  await Promise.all([...started].map((child) => endProcess(child, 5_000)));
}

process.on('exit', () => {
  for (const child of started) {
    try {
      if (child.pid) process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

// ---- Redis and PostgreSQL -------------------------------------------------------------

/** FLUSHDB on the given database (the URL must name it: never database 0 by default). */
export async function flushRedis(url: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2_000, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    if (!/\/\d+$/.test(url)) throw new Error(`refusing to flush ${url}: it names no database number`);
    await redis.connect();
    await redis.flushdb();
  } finally {
    redis.disconnect();
  }
}

function psql(sql: string): void {
  const result = spawnSync('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', 'test', '-v', 'ON_ERROR_STOP=1', '-q', '-c', sql], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (result.status !== 0) throw new Error(`psql -c "${sql}" failed (${result.status}): ${result.stderr}${result.error?.message ?? ''}`);
}

/** A fresh PostgreSQL database; returns its URL. */
export function createDatabase(name: string): string {
  psql(`CREATE DATABASE ${name}`);
  return `postgres://postgres@127.0.0.1:5432/${name}`;
}

export function dropDatabase(name: string): void {
  try {
    psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } catch (err) {
    process.stderr.write(`cluster-tests: ${(err as Error).message}\n`);
  }
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}`;
}

/** A redis-server of the suite's own (the Redis-restart test), on 127.0.0.1:port, without persistence. */
export class OwnRedis {
  child: ChildProcess | null = null;
  private readonly logFile: string;

  constructor(readonly port: number) {
    this.logFile = path.join(runDir(), `redis-${port}.log`);
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  async ping(): Promise<boolean> {
    try {
      const { stdout } = await execFileAsync('redis-cli', ['-h', '127.0.0.1', '-p', String(this.port), 'ping'], { timeout: 2_000 });
      return stdout.trim() === 'PONG';
    } catch {
      return false;
    }
  }

  /** Starts it and waits until it answers (refuses when something else answers on the port). */
  async start(): Promise<void> {
    if (await this.ping()) throw new Error(`something already answers on 127.0.0.1:${this.port}; not starting a redis-server there`);
    const child = spawn('/usr/bin/redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--logfile', this.logFile], {
      stdio: 'ignore',
    });
    track(child);
    this.child = child;
    const deadline = Date.now() + 10_000;
    while (!(await this.ping())) {
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}; see ${this.logFile}`);
      if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} did not answer within 10 s`);
      await delay(50);
    }
  }

  /** SIGKILL by its pid; resolves once it has exited. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await withTimeout(exited, 5_000, 'redis-server to exit');
  }

  async stop(): Promise<void> {
    if (this.child) await endProcess(this.child, 5_000);
  }
}

// ---- Hearth nodes -----------------------------------------------------------------------

export interface NodeOptions {
  /** A short name (n1, n2…): the node id prefix, the folder and log file names. */
  name: string;
  /** Loopback address of every listener (standard ports). */
  address: string;
  databaseUrl: string;
  redisUrl: string;
  ttlS?: number;
  /** `hearth start --workers N` (default: one process). */
  workers?: number;
}

export class HearthNode {
  readonly dir: string;
  readonly logFile: string;
  running: StartedHearth | null = null;

  constructor(readonly options: NodeOptions) {
    this.dir = path.join(runDir(), options.name);
    this.logFile = path.join(runDir(), `${options.name}.log`);
    mkdirSync(this.dir, { recursive: true });
    const certificates = path.join(this.dir, 'certs');
    mkdirSync(certificates, { recursive: true });
    copyFileSync(path.join(FIXTURES, 'hearth.example.crt'), path.join(certificates, `${DOMAIN}.crt`));
    copyFileSync(path.join(FIXTURES, 'hearth.example.key'), path.join(certificates, `${DOMAIN}.key`));
    const a = options.address;
    const config = {
      domains: [DOMAIN],
      dataDir: './data',
      database: { url: options.databaseUrl },
      log: { level: LOG_LEVEL },
      tls: { certificates: './certs' },
      c2s: { listen: [`${a}:5222`], directTls: [`${a}:5223`] },
      s2s: { listen: [`${a}:5269`] },
      admin: { listen: [`${a}:5281`] },
      http: { listen: [`${a}:5280`] },
      cluster: { redis: options.redisUrl, nodeId: options.name, ttlS: options.ttlS ?? TTL_S },
    };
    writeFileSync(path.join(this.dir, 'hearth.yaml'), `# written by cluster-tests for node ${options.name}\n${stringify(config)}`);
  }

  get name(): string {
    return this.options.name;
  }

  get address(): string {
    return this.options.address;
  }

  get adminUrl(): string {
    return `http://${this.options.address}:5281`;
  }

  /** What test/helpers/xmpp-client.ts connect() reads of a server. */
  get server(): TestServer {
    return { host: this.options.address, port: 5222, directTlsPort: 5223, domain: DOMAIN } as unknown as TestServer;
  }

  /** The database and Redis of the config win over whatever the test's environment says. */
  private env(): NodeJS.ProcessEnv {
    return { DATABASE_URL: this.options.databaseUrl, REDIS_URL: this.options.redisUrl, HEARTH_LOG_LEVEL: LOG_LEVEL };
  }

  /** `hearth ARGS` with this node's config (through its control socket while it runs). */
  hearth(args: string[], input?: string): CommandResult {
    const result = runHearth(args, { cwd: this.dir, env: this.env(), input });
    if (result.code !== 0) throw new Error(`hearth ${args.join(' ')} (node ${this.name}) exited ${result.code}: ${result.stderr}${result.stdout}`);
    return result;
  }

  get alive(): boolean {
    const child = this.running?.process;
    return !!child && child.exitCode === null && child.signalCode === null;
  }

  get pid(): number {
    return this.running!.process.pid!;
  }

  async start(): Promise<void> {
    if (this.alive) throw new Error(`node ${this.name} is already running`);
    writeFileSync(this.logFile, `---- hearth start (node ${this.name}) at ${new Date().toISOString()}\n`, { flag: 'a' });
    const args = this.options.workers ? ['--workers', String(this.options.workers)] : [];
    const promise = startHearth(this.dir, this.env(), { logFile: this.logFile, args });
    this.running = await promise;
    track(this.running.process);
    // startHearth rejects on exit; after "ready" that rejection is of no interest.
    promise.catch(() => undefined);
  }

  /** kill -9 by pid; resolves with when the signal was sent (Date.now()) once it has exited. */
  async kill(): Promise<number> {
    const child = this.running!.process;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const at = Date.now();
    process.kill(child.pid!, 'SIGKILL');
    await withTimeout(exited, 5_000, `node ${this.name} to exit after SIGKILL`);
    return at;
  }

  async stop(): Promise<void> {
    if (this.running) await endProcess(this.running.process);
  }

  /** The last lines of its log. */
  tail(lines = 30): string {
    if (!existsSync(this.logFile)) return '';
    return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  }
}

/** Nodes of the suite still running, for the root hook's failure report. */
export const allNodes = new Set<HearthNode>();

export function newNode(options: NodeOptions): HearthNode {
  const node = new HearthNode(options);
  allNodes.add(node);
  return node;
}

// ---- clients ----------------------------------------------------------------------------

export function jid(local: string): string {
  return `${local}@${DOMAIN}`;
}

export function bare(address: string | undefined): string {
  return (address ?? '').split('/')[0]!;
}

/** A logged-in client (resource given) that acknowledges roster pushes and keeps every stanza. */
export interface Session {
  client: Client;
  inbox: Element[];
  full: string;
}

export async function login(node: HearthNode, local: string, resource: string): Promise<Session> {
  const client = await connect(node.server, local, PASSWORD, { resource });
  const inbox: Element[] = [];
  client.on('stanza', (el: Element) => inbox.push(el));
  // A well-behaved client acknowledges roster pushes (RFC 6121 §2.1.6).
  (client as unknown as { iqCallee: { set(ns: string, name: string, handler: () => boolean): void } }).iqCallee.set('jabber:iq:roster', 'query', () => true);
  return { client, inbox, full: client.jid!.toString() };
}

export const PASSWORD = 'cluster-test-pw';

/** The first stanza in inbox at or after index `from` that matches, already there or still to come. */
export async function waitFor(inbox: Element[], match: (el: Element) => boolean, what: string, ms = 3_000, from = 0): Promise<Element> {
  const deadline = Date.now() + ms;
  for (;;) {
    for (let i = from; i < inbox.length; i++) if (match(inbox[i]!)) return inbox[i]!;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}; got:\n${inbox.slice(from).map(String).join('\n') || '(nothing)'}`);
    }
    await delay(10);
  }
}

export function presenceType(el: Element): string {
  return el.attrs.type ?? 'available';
}

export function isPresence(from: string, type = 'available'): (el: Element) => boolean {
  const fromBare = !from.includes('/');
  return (el) => el.is('presence') && (fromBare ? bare(el.attrs.from) === from : el.attrs.from === from) && presenceType(el) === type;
}

export function isMessage(body: string): (el: Element) => boolean {
  return (el) => el.is('message') && el.getChildText('body') === body;
}

export function chat(to: string, body: string, id?: string): Element {
  return xml('message', { to, type: 'chat', ...(id ? { id } : {}) }, xml('body', {}, body));
}

/** Whether the client's stream is still up (a ping answered). */
export async function answersPing(client: Client): Promise<boolean> {
  try {
    await client.iqCaller.request(xml('iq', { type: 'get', to: DOMAIN }, xml('ping', { xmlns: 'urn:xmpp:ping' })), 2_000);
    return true;
  } catch {
    return false;
  }
}
