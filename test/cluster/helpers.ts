// Cluster nodes in one test process: several servers of one domain on one PostgreSQL schema
// and one Redis database of their own. They need both services: without them the tests skip.
import { Redis } from 'ioredis';
import { openDatabase, type Database } from '../../src/storage/database.js';
import { openIsolatedDatabase, type IsolatedDatabase } from '../helpers/database.js';
import { startTestServer, type TestServer, type TestServerOptions } from '../helpers/server.js';

/** The Redis database the cluster tests use (flushed before and after). */
export const TEST_REDIS_URL = process.env.HEARTH_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/11';

/** Whether PostgreSQL (DATABASE_URL) and Redis are there; the reason when not. */
export async function clusterServicesMissing(): Promise<string | null> {
  if (!process.env.DATABASE_URL) return 'DATABASE_URL is not set (a cluster needs PostgreSQL)';
  const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1_000 });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.ping();
    return null;
  } catch {
    return `no Redis at ${TEST_REDIS_URL}`;
  } finally {
    redis.disconnect();
  }
}

/** In a `before`: skips the suite, saying why, when PostgreSQL or Redis is not there. */
export async function skipWithoutClusterServices(context: Mocha.Context): Promise<void> {
  const missing = await clusterServicesMissing();
  if (!missing) return;
  console.log(`    (skipped: ${missing})`);
  context.skip();
}

export async function flushTestRedis(): Promise<void> {
  const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    await redis.flushdb();
  } finally {
    redis.disconnect();
  }
}

export interface TestCluster {
  readonly nodes: TestServer[];
  readonly database: IsolatedDatabase;
  stop(): Promise<void>;
}

/** Starts one node per host, all serving `domain`; `perNode` adds config sections of each node's own (listeners). */
export async function startTestCluster(
  hosts: string[],
  options: Omit<TestServerOptions, 'host' | 'database'> = {},
  perNode: (host: string) => NonNullable<TestServerOptions['config']> = () => ({}),
): Promise<TestCluster> {
  await flushTestRedis();
  const database = await openIsolatedDatabase('postgres');
  const nodes: TestServer[] = [];
  // Each node has connections and a change feed of its own, as a process of its own would.
  const nodeDatabases: Database[] = [];
  const stopAll = async () => {
    for (const node of nodes) await node.stop().catch(() => undefined);
    for (const db of nodeDatabases) await db.close().catch(() => undefined);
    await database.dispose();
  };
  try {
    for (const host of hosts) {
      const own = await openDatabase({ url: database.url!, dataDir: null, poolSize: 5, listenForChanges: true });
      nodeDatabases.push(own);
      nodes.push(await startTestServer({
        ...options,
        host,
        database: own,
        config: { ...options.config, ...perNode(host), cluster: { redis: TEST_REDIS_URL, ttlS: 2, ...options.config?.cluster } },
      }));
    }
  } catch (err) {
    await stopAll();
    throw err;
  }
  return {
    nodes,
    database,
    async stop() {
      await stopAll();
      await flushTestRedis();
    },
  };
}
