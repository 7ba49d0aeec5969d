// Connections to the cluster's Redis (ioredis) and the names of everything Hearth keeps there.
// Redis holds only what can be rebuilt: who is online where, and which nodes live.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';

/** Every key and channel Hearth uses starts with this. */
const PREFIX = 'hearth:';

export const keys = {
  /** Sorted set: node id → when its liveness ends (ms, Redis clock). */
  members: `${PREFIX}members`,
  /** A random value written once: when it is gone, Redis lost its data. */
  epoch: `${PREFIX}epoch`,
  /** Hash per account: resource → the session's record (JSON, src/cluster/record.ts). */
  account: (bareJid: string) => `${PREFIX}account:${bareJid}`,
  accountPrefix: `${PREFIX}account:`,
  /** Set per node: the full JIDs of its sessions, so the others can clean up after it. */
  nodeSessions: (node: string) => `${PREFIX}node-sessions:${node}`,
  /** Owner of a keyed piece of live state (src/cluster/ownership.ts). */
  owner: (key: string) => `${PREFIX}owner:${key}`,
  /** Hash per node: "<kind>|<address>" → its unauthenticated streams from there (limits.unauthenticatedPerIp). */
  handshakes: (node: string) => `${PREFIX}handshakes:${node}`,
  handshakesPrefix: `${PREFIX}handshakes:`,
  /** Sliding-window counters of authentication failures. */
  authFailures: (key: string) => `${PREFIX}auth-failures:${key}`,
  /** Sliding-window counts of in-band registrations per address (registration.perIpPerHour). */
  registrations: (address: string) => `${PREFIX}registrations:${address}`,
};

export const channels = {
  /** Cluster-wide events, seen by every node in one order (Redis pub/sub keeps it). */
  events: `${PREFIX}events`,
  /** Stanzas and requests for one node. */
  node: (node: string) => `${PREFIX}node:${node}`,
};

/**
 * A node id unique per start: the configured prefix (default: the host name), the worker
 * index, and a random incarnation, so that workers of one machine and a restarted node
 * never share one.
 */
export function makeNodeId(prefix: string | null, worker: number): string {
  const base = (prefix ?? hostname()).replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64) || 'node';
  return `${base}-${worker}-${randomBytes(4).toString('hex')}`;
}

/**
 * A connection that fails commands at once while it is down instead of queueing them (a
 * queued stanza would arrive late, after its session may have moved), and reconnects by
 * itself.
 */
export function openRedis(url: string, name: string, log: Logger): Redis {
  const redis = new Redis(url, {
    connectionName: name,
    lazyConnect: true,
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    autoResubscribe: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 3_000,
    // A command caught by a dropped connection can stay unsettled (the stanzas held behind
    // it with it): after this long it fails, and whoever sent it tries again.
    commandTimeout: 2_000,
    retryStrategy: (times) => Math.min(100 * times, 1_000),
  });
  let lastReported = 0;
  redis.on('error', (err: Error) => {
    // A dead Redis reports on every retry; once every few seconds is enough to see it.
    const now = Date.now();
    if (now - lastReported < 5_000) return;
    lastReported = now;
    log.warn({ err: err.message, connection: name }, 'redis connection problem');
  });
  return redis;
}

/** Where a Redis URL points, for messages: never its password. */
export function describeRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return 'redis';
  }
}
