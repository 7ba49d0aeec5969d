// `hearth start --workers N`: N cluster nodes on one machine, sharing the listening ports
// through Node's cluster module (Node 20 has no SO_REUSEPORT), with the same Redis and
// PostgreSQL. The primary is a node too, without client, HTTP, component or server listeners: it serves the
// control socket, the admin API and one /metrics summing every worker's.
import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { AggregatorRegistry } from 'prom-client';
import type { Config } from '../config.js';
import type { MetricsSource } from '../http/admin/routes.js';
import type { Metrics } from '../metrics/metrics.js';
import type { RunningServer } from '../server.js';

const WORKER_ENV = 'HEARTH_WORKER';
/** A worker that dies this soon after its start is not restarted at once again. */
const RESTART_DELAY_MS = 1_000;
const METRICS_TIMEOUT_MS = 2_000;
const READY_TIMEOUT_MS = 120_000;

/** One registry's metrics as getMetricsAsJSON() gives them. */
type MetricsJson = object[];

type WorkerMessage =
  | { type: 'hearth:ready'; addresses: string[] }
  | { type: 'hearth:metrics'; id: string; metrics: MetricsJson };

/** The worker index of this process, or null in the primary or a single process. */
export function workerIndex(): number | null {
  if (!cluster.isWorker) return null;
  const index = Number(process.env[WORKER_ENV]);
  return Number.isInteger(index) && index > 0 ? index : null;
}

/** Why `--workers n` cannot run with this config, or null. */
export function workersProblem(config: Config, n: number): string | null {
  if (n <= 1) return null;
  if (!config.cluster.redis) return '--workers needs cluster.redis (or REDIS_URL): the workers are nodes of one cluster';
  if (!config.database.url) return '--workers needs PostgreSQL (database.url or DATABASE_URL): the workers share one database';
  return null;
}

/** A worker's config: the primary has the admin listener and the control socket. */
export function workerConfig(config: Config): Config {
  return { ...config, admin: { ...config.admin, listen: [] } };
}

/** The primary's config: no client or server listeners (the workers have them). */
export function primaryConfig(config: Config): Config {
  return {
    ...config,
    c2s: { ...config.c2s, listen: [], directTls: [] },
    s2s: { ...config.s2s, listen: [], directTls: [] },
    http: { ...config.http, listen: [], tlsListen: [] },
    components: { ...config.components, listen: [] },
  };
}

/** In a worker: answers the primary's metrics requests, and says when it is ready. */
export function serveWorker(server: RunningServer): void {
  process.on('message', (message: unknown) => {
    const m = message as { type?: string; id?: string } | null;
    if (m?.type !== 'hearth:metrics' || typeof m.id !== 'string') return;
    const id = m.id;
    void server.metrics.registry.getMetricsAsJSON().then((metrics) => process.send?.({ type: 'hearth:metrics', id, metrics } satisfies WorkerMessage));
  });
  process.send?.({ type: 'hearth:ready', addresses: [...server.addresses] } satisfies WorkerMessage);
}

/** The primary's side: forks, restarts and stops the workers, and gathers their metrics. */
export class WorkerPool {
  private readonly workers = new Map<number, Worker>();
  private readonly addresses = new Map<number, string[]>();
  private readonly pending = new Map<string, (metrics: MetricsJson) => void>();
  private stopping = false;

  constructor(
    private readonly count: number,
    private readonly log: Logger,
  ) {}

  /** Forks every worker; resolves with their listener addresses once all are ready. */
  start(): Promise<string[]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the workers did not become ready in time')), READY_TIMEOUT_MS);
      const check = () => {
        if (this.addresses.size < this.count) return;
        clearTimeout(timer);
        resolve([...new Set([...this.addresses.values()].flat())]);
      };
      for (let index = 1; index <= this.count; index++) this.fork(index, check, reject);
    });
  }

  private fork(index: number, ready: () => void, failed: (err: Error) => void): void {
    const worker = cluster.fork({ [WORKER_ENV]: String(index) });
    const startedAt = Date.now();
    this.workers.set(index, worker);
    worker.on('message', (message: WorkerMessage) => {
      if (message?.type === 'hearth:ready') {
        this.addresses.set(index, message.addresses);
        ready();
      } else if (message?.type === 'hearth:metrics') {
        this.pending.get(message.id)?.(message.metrics);
      }
    });
    worker.on('exit', (code, signal) => {
      if (this.workers.get(index) === worker) this.workers.delete(index);
      if (this.stopping) return;
      if (!this.addresses.has(index)) {
        failed(new Error(`worker ${index} exited before it was ready (${signal ?? `code ${code}`})`));
        return;
      }
      // Its sessions end through the cluster (the others notice within the TTL); its port
      // share goes on with the other workers meanwhile.
      this.log.error({ worker: index, code, signal }, 'worker died; starting it again');
      const wait = Date.now() - startedAt < RESTART_DELAY_MS * 10 ? RESTART_DELAY_MS : 0;
      setTimeout(() => {
        if (!this.stopping) this.fork(index, () => undefined, (err) => this.log.error({ err }, 'worker restart failed'));
      }, wait).unref();
    });
  }

  /** /metrics of the whole machine: the primary's own registry plus every worker's, summed. */
  metricsSource(own: Metrics): MetricsSource {
    return {
      contentType: own.contentType,
      render: async () => {
        const parts = await Promise.all([own.registry.getMetricsAsJSON(), ...[...this.workers.values()].map((w) => this.ask(w))]);
        return AggregatorRegistry.aggregate(parts.filter((p): p is MetricsJson => p !== null)).metrics();
      },
    };
  }

  private ask(worker: Worker): Promise<MetricsJson | null> {
    const id = randomBytes(8).toString('hex');
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(null);
      }, METRICS_TIMEOUT_MS);
      this.pending.set(id, (metrics) => {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(metrics);
      });
      try {
        worker.send({ type: 'hearth:metrics', id });
      } catch {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(null);
      }
    });
  }

  /** Stops every worker (SIGTERM: a clean stop), killing those that take over `timeoutMs`. */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.stopping = true;
    const exits = [...this.workers.values()].map(
      (worker) =>
        new Promise<void>((resolve) => {
          if (worker.isDead()) return resolve();
          const timer = setTimeout(() => worker.process.kill('SIGKILL'), timeoutMs);
          worker.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          worker.process.kill('SIGTERM');
        }),
    );
    await Promise.all(exits);
  }
}
