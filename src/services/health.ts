// Liveness and readiness for probes (GET /health, GET /ready): live while the process
// answers; ready while the database answers too, and in a cluster Redis.
import type { Logger } from 'pino';
import type { Database } from '../storage/index.js';
import { ServiceError } from './errors.js';

/** A probe that waits longer than this reports "not ready" rather than hanging. */
const READY_TIMEOUT_MS = 2_000;

export class HealthService {
  constructor(
    private readonly database: Pick<Database, 'ping'>,
    private readonly log: Pick<Logger, 'warn'>,
    /** In a cluster: whether Redis answers and this node is a member. */
    private readonly cluster: { readonly healthy: boolean } | null = null,
  ) {}

  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  async ready(): Promise<{ status: 'ready' }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timed out')), READY_TIMEOUT_MS);
    });
    try {
      await Promise.race([this.database.ping(), timeout]);
    } catch (err) {
      // No detail in the answer (the probe is unauthenticated): the reason goes to the log.
      this.log.warn({ err }, 'readiness probe: the database is not reachable');
      throw new ServiceError('unavailable', 'the database is not reachable');
    } finally {
      clearTimeout(timer);
    }
    if (this.cluster && !this.cluster.healthy) {
      this.log.warn('readiness probe: redis is not reachable or this node is not a cluster member');
      throw new ServiceError('unavailable', 'the cluster is not reachable');
    }
    return { status: 'ready' };
  }
}
