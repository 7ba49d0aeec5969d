// One Hearth process as a node of a cluster (config cluster.redis): its membership, the
// session registry every node mirrors, the messages between nodes, and what happens when a
// node dies (the others end its sessions: its users' contacts see them go unavailable,
// messages for them go to offline storage).
import type { Element } from 'ltx';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { CacheCoherence, CacheName, SharedTopic } from '../core/cache-coherence.js';
import { StreamError } from '../core/errors.js';
import type { ServerEvents } from '../core/events.js';
import type { HookBus } from '../core/hooks.js';
import { tryParseJid } from '../core/jid.js';
import { RedisAddressCounts } from './address-counts.js';
import { ClusterBus, type ClusterEvent } from './bus.js';
import { Membership } from './membership.js';
import { parseRecord } from './record.js';
import { describeRedisUrl, keys, openRedis } from './redis.js';
import { ClusterSessionRegistry, REAP_NODE, RemoteSession } from './registry.js';
import { RedisOwnership, type Ownership } from './ownership.js';
import { NodeRequests } from './requests.js';
import type { ServiceForwarding } from '../core/services.js';
import { StanzaReader } from '../xml/parse-stanza.js';
import type { NodeStats } from '../services/stats.js';

/** Hash: node id → its figures (NodeStats JSON), refreshed every third of the TTL. */
const STATS_KEY = 'hearth:stats';

export interface ClusterOptions {
  url: string;
  node: string;
  ttlS: number;
  log: Logger;
  /** Late-bound: the router exists after the registry. */
  orphan(stanza: Element): void;
}

export class ClusterStartError extends Error {}

export class Cluster implements CacheCoherence {
  readonly node: string;
  readonly redis: Redis;
  readonly registry: ClusterSessionRegistry;
  /** Keyed live state owned by one live node (src/cluster/ownership.ts). */
  readonly ownership: RedisOwnership;
  /** Unauthenticated streams per address, counted cluster-wide (limits.unauthenticatedPerIp). */
  readonly addressCounts: RedisAddressCounts;
  /** Requests to other nodes, answered once (src/cluster/requests.ts). */
  readonly requests: NodeRequests;
  private readonly sub: Redis;
  private readonly ttlMs: number;
  private statsTimer: NodeJS.Timeout | null = null;
  private readonly bus: ClusterBus;
  private readonly membership: Membership;
  private readonly log: Logger;
  private readonly dropHandlers = new Map<CacheName, Array<(key: string) => void>>();
  private readonly sharedHandlers = new Map<SharedTopic, Array<(payload: string) => void>>();
  private hooks: HookBus<ServerEvents> | null = null;
  private subscriptions = 0;
  /** Who takes stanzas forwarded to services of this node, first match first (components, group chat). */
  private readonly serviceHandlers: Array<{ accepts: (domain: string) => boolean; handler: (domain: string, stanza: Element) => void }> = [];
  private readonly reader = new StanzaReader();
  /** Nodes this one spoke for lately: their late events are ignored. */
  private readonly dead = new Set<string>();

  private constructor(options: ClusterOptions) {
    this.node = options.node;
    this.log = options.log;
    this.redis = openRedis(options.url, `hearth:${options.node}`, options.log);
    this.sub = openRedis(options.url, `hearth:${options.node}:sub`, options.log);
    this.bus = new ClusterBus(this.redis, this.sub, this.node, options.log);
    this.ttlMs = options.ttlS * 1000;
    this.registry = new ClusterSessionRegistry({ node: this.node, redis: this.redis, bus: this.bus, log: options.log, orphan: options.orphan, holdMs: this.ttlMs });
    this.ownership = new RedisOwnership(this.redis, this.node, { log: options.log });
    this.addressCounts = new RedisAddressCounts(this.redis, this.node);
    this.requests = new NodeRequests(this.bus, this.node, options.log);
    this.membership = new Membership(this.redis, this.node, this.ttlMs, {
      reaped: (nodes) => void this.speakFor(nodes),
      rejoined: (reaped) => void this.rejoin(reaped),
      cutOff: () => {
        // Cut off for a whole TTL: the others have taken over; this node owns nothing.
        this.ownership.dropAll();
        this.closeLocalSessions('lost contact with the rest of the cluster');
      },
    }, options.log);
  }

  /** Connects to Redis and joins; throws ClusterStartError when Redis cannot be reached. */
  static async start(options: ClusterOptions): Promise<Cluster> {
    const cluster = new Cluster(options);
    try {
      await Promise.all([cluster.redis.connect(), cluster.sub.connect()]);
    } catch (err) {
      cluster.redis.disconnect();
      cluster.sub.disconnect();
      throw new ClusterStartError(`cluster.redis: cannot reach ${describeRedisUrl(options.url)}: ${(err as Error).message}`);
    }
    await cluster.membership.join();
    await cluster.bus.start({
      event: (event) => cluster.event(event),
      direct: (message, body) => {
        if (message.op === 'service') cluster.serviceStanza(message.domain, body);
        else if (!cluster.requests.direct(message, body)) cluster.registry.direct(message, body);
      },
      subscribed: () => void cluster.subscribed(),
    });
    options.log.info({ node: cluster.node }, 'joined the cluster');
    return cluster;
  }

  /** The hooks a node's death is announced on (session-closed for each of its sessions). */
  attach(hooks: HookBus<ServerEvents>): void {
    this.hooks = hooks;
  }

  /** Publishes this node's figures for the others' stats (admin API, CLI), every third of the TTL. */
  reportStats(own: () => NodeStats): void {
    const report = () => void this.redis.hset(STATS_KEY, this.node, JSON.stringify(own())).catch(() => undefined);
    report();
    this.statsTimer = setInterval(report, Math.max(500, Math.floor(this.ttlMs / 3)));
    this.statsTimer.unref();
  }

  /** Every live node's last reported figures. */
  async nodeStats(): Promise<NodeStats[]> {
    const [live, all] = await Promise.all([this.membership.live(), this.redis.hgetall(STATS_KEY)]);
    const result: NodeStats[] = [];
    for (const node of live) {
      const text = all[node];
      if (!text) continue;
      try {
        result.push(JSON.parse(text) as NodeStats);
      } catch {
        // a malformed entry is skipped; the node rewrites it at its next report
      }
    }
    return result;
  }

  /** Sends a stanza to the service `domain` connected at `node`; false when nobody got it. */
  async sendToService(node: string, domain: string, stanza: Element): Promise<boolean> {
    return (await this.bus.send(node, { op: 'service', domain }, stanza.toString())) > 0;
  }

  /**
   * Where stanzas for services run by this node arrive from the other nodes: the first
   * handler whose `accepts` takes the domain (default: every domain) gets each one.
   */
  onServiceStanza(handler: (domain: string, stanza: Element) => void, accepts: (domain: string) => boolean = () => true): void {
    this.serviceHandlers.push({ accepts, handler });
  }

  private serviceStanza(domain: string, body: string): void {
    const stanza = this.reader.read(body);
    if (!stanza) {
      this.log.error({ domain }, 'unparsable stanza for a service from another cluster node');
      return;
    }
    const taker = this.serviceHandlers.find((h) => h.accepts(domain));
    if (taker) taker.handler(domain, stanza);
    else this.log.warn({ domain }, 'a stanza for a service this node does not run');
  }

  /** How services with live state (group-chat rooms) reach the node holding it, and ask the others. */
  serviceForwarding(): ServiceForwarding {
    return {
      forward: (node, domain, stanza) => this.sendToService(node, domain, stanza),
      onForwarded: (handler, accepts) => this.onServiceStanza(handler, accepts),
      ask: (node, kind, body, timeoutMs) => this.requests.request(node, kind, body, timeoutMs).answer,
      askOthers: async (kind, timeoutMs) => {
        const others = (await this.liveNodes()).filter((node) => node !== this.node);
        const answers = await Promise.all(others.map((node) => this.requests.request(node, kind, '', timeoutMs).answer));
        return answers.filter((answer): answer is string => answer !== null);
      },
      onAsked: (kind, answer) =>
        this.requests.handle(kind, (body, reply) => {
          answer(body).then(reply, () => reply(''));
        }),
    };
  }

  /** The nodes alive now, this one included. */
  liveNodes(): Promise<string[]> {
    return this.membership.live();
  }

  /** Redis answers and this node is a member. */
  get healthy(): boolean {
    return this.bus.connected && this.membership.alive;
  }

  // ---- cache coherence --------------------------------------------------------------------

  changed(cache: CacheName, key: string): void {
    void this.bus.publish({ t: 'changed', node: this.node, cache, key });
  }

  onRemoteChange(cache: CacheName, drop: (key: string) => void): void {
    const list = this.dropHandlers.get(cache) ?? [];
    list.push(drop);
    this.dropHandlers.set(cache, list);
  }

  share(topic: SharedTopic, payload: string): void {
    void this.bus.publish({ t: 'shared', node: this.node, topic, payload });
  }

  onShared(topic: SharedTopic, handle: (payload: string) => void): void {
    const list = this.sharedHandlers.get(topic) ?? [];
    list.push(handle);
    this.sharedHandlers.set(topic, list);
  }

  // ---- events -----------------------------------------------------------------------------

  private event(event: ClusterEvent): void {
    if (event.t === 'changed') {
      if (event.node === this.node) return;
      for (const drop of this.dropHandlers.get(event.cache) ?? []) drop(event.key);
      return;
    }
    if (event.t === 'shared') {
      if (event.node === this.node) return;
      for (const handle of this.sharedHandlers.get(event.topic) ?? []) handle(event.payload);
      return;
    }
    if (event.t === 'sync') {
      if (event.node === this.node) return;
      this.dead.delete(event.node);
      this.log.debug({ node: event.node }, 'a node registered its sessions again');
      void this.registry.flushHeld(event.node);
      void this.registry.loadNode(event.node).catch((err: unknown) => this.log.warn({ err, node: event.node }, 'reading a node\'s sessions failed'));
      return;
    }
    if (event.t === 'up' && this.dead.has(event.rec.node)) return;
    this.registry.event(event);
  }

  /**
   * (Re)subscribed: rebuild the mirror from Redis, send what was held for nodes that listen,
   * and after a gap tell the others to re-read ours. A known node missing from the member set
   * (Redis lost its data and it has not beaten since) is forgotten only if still missing a
   * TTL later; its sessions stay in the mirror meanwhile.
   */
  private async subscribed(): Promise<void> {
    const first = this.subscriptions++ === 0;
    try {
      const live = await this.membership.live();
      const missing = await this.registry.reload(live);
      this.log.debug({ first, live, missing }, 'subscribed to the cluster channels');
      for (const node of this.registry.heldNodes()) void this.registry.flushHeld(node);
      if (!first) {
        // Redis may have lost them: what the others read after the sync must be there.
        await this.registry.registerAll();
        await this.bus.publish({ t: 'sync', node: this.node });
      }
      if (missing.length > 0) setTimeout(() => void this.forgetIfMissing(missing), this.ttlMs).unref();
    } catch (err) {
      this.log.warn({ err }, 'rebuilding the cluster session view failed');
    }
  }

  private async forgetIfMissing(nodes: string[]): Promise<void> {
    const live = new Set(await this.membership.live().catch(() => null) ?? nodes);
    for (const node of nodes) {
      if (live.has(node)) continue;
      this.registry.forgetNode(node);
      this.registry.abandonHeld(node);
    }
  }

  /**
   * Back in the member set. Declared dead meanwhile: the others ended this node's sessions,
   * so its clients are told to reconnect. Redis lost its data instead: nothing was declared,
   * the sessions are registered again.
   */
  private async rejoin(reaped: boolean): Promise<void> {
    if (reaped) {
      this.ownership.dropAll();
      this.closeLocalSessions('this server node lost contact with the cluster');
    } else {
      void this.ownership.check().catch(() => undefined);
    }
    try {
      await this.addressCounts.rewrite();
      await this.registry.registerAll();
      await this.bus.publish({ t: 'sync', node: this.node });
    } catch (err) {
      this.log.warn({ err }, 'registering sessions again failed');
    }
  }

  private closeLocalSessions(text: string): void {
    // RFC 6120 §4.9.3.20: the client reconnects (to a node that is in contact).
    const error = new StreamError('system-shutdown', text);
    for (const session of [...this.registry.local()]) session.close(error);
  }

  /**
   * Nodes whose liveness expired and which this node removed from the member set: their
   * sessions leave Redis and every node's view, and each available one goes unavailable to
   * its contacts and the account's other resources (RFC 6121 §4.5.2), as if it had closed.
   */
  private async speakFor(nodes: string[]): Promise<void> {
    for (const node of nodes) {
      this.dead.add(node);
      setTimeout(() => this.dead.delete(node), 60_000).unref();
      let records: string[] = [];
      try {
        records = (await this.redis.eval(REAP_NODE, 1, keys.nodeSessions(node), node, keys.accountPrefix)) as string[];
      } catch (err) {
        this.log.warn({ err, node }, 'removing a dead node\'s sessions from redis failed');
      }
      await this.redis.hdel(STATS_KEY, node).catch(() => undefined);
      await this.redis.del(keys.handshakes(node)).catch(() => undefined);
      const known = new Map(this.registry.forgetNode(node).map((s) => [s.jid.toString(), s]));
      this.registry.abandonHeld(node);
      await this.bus.publish({ t: 'dead', node, by: this.node });
      // What Redis held is the truth; what only this node knew of is included too.
      for (const text of records) {
        const record = parseRecord(text);
        const jid = record ? tryParseJid(record.jid) : null;
        if (!record || !jid || known.has(record.jid)) continue;
        const session = new RemoteSession(record, jid, this.registry);
        session.apply(record);
        known.set(record.jid, session);
      }
      this.log.warn({ node, sessions: known.size }, 'cluster node died; its sessions ended');
      const hooks = this.hooks;
      if (!hooks) continue;
      for (const session of known.values()) {
        const wasAvailable = session.available;
        session.available = false;
        await hooks.emit('session-closed', { session, wasAvailable }).catch((err: unknown) => this.log.error({ err }, 'ending a dead node\'s session failed'));
      }
    }
  }

  /** Leaves the cluster (a clean stop: the sessions already ended). */
  async stop(): Promise<void> {
    if (this.statsTimer) clearInterval(this.statsTimer);
    this.registry.dispose();
    await this.ownership.close().catch(() => undefined);
    await this.redis.hdel(STATS_KEY, this.node).catch(() => undefined);
    await this.addressCounts.clear().catch(() => undefined);
    await this.membership.leave();
    this.sub.disconnect();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
