// Figures of the running server: accounts, sessions, federation streams, routed stanzas,
// uptime and version.
import type { RouterStats } from '../core/router.js';
import type { SessionRegistry } from '../core/sessions.js';
import type { AccountStore } from '../storage/index.js';

/** Open s2s streams per peer domain, each way. */
export interface FederationCounts {
  incoming: Record<string, number>;
  outgoing: Record<string, number>;
}

/** One cluster node's own figures, as it last reported them (every third of the TTL). */
export interface NodeStats {
  node: string;
  uptimeSeconds: number;
  sessions: number;
  s2s: FederationCounts;
  stanzas: { routed: { message: number; presence: number; iq: number; total: number }; errorsSent: number };
}

/** In a cluster: every live node's figures. */
export interface ClusterStatsSource {
  readonly node: string;
  nodeStats(): Promise<NodeStats[]>;
}

export interface ServerStats {
  version: string;
  uptimeSeconds: number;
  accounts: { registered: number; byDomain: Record<string, number> };
  sessions: { online: number; byDomain: Record<string, number> };
  s2s: FederationCounts;
  stanzas: { routed: { message: number; presence: number; iq: number; total: number }; errorsSent: number };
  /** In a cluster: each node's figures; the totals above (sessions, s2s, stanzas) sum them. */
  nodes?: NodeStats[];
}

export interface StatsSources {
  version: string;
  startedAt: number;
  domains: readonly string[];
  accounts: AccountStore;
  sessions: SessionRegistry;
  router: { readonly stats: RouterStats };
  federation: () => FederationCounts;
  cluster?: ClusterStatsSource | null;
}

export class StatsService {
  constructor(private readonly sources: StatsSources) {}

  /** This process's own figures. */
  own(): NodeStats {
    const { startedAt, sessions, router, federation } = this.sources;
    const { message, presence, iq } = router.stats.routed;
    const s2s = federation();
    return {
      node: this.sources.cluster?.node ?? '',
      uptimeSeconds: Math.floor((Date.now() - startedAt) / 1000),
      sessions: sessions.localSize,
      s2s: { incoming: { ...s2s.incoming }, outgoing: { ...s2s.outgoing } },
      stanzas: { routed: { message, presence, iq, total: message + presence + iq }, errorsSent: router.stats.errorsSent },
    };
  }

  async stats(): Promise<ServerStats> {
    const { version, startedAt, domains, accounts, sessions } = this.sources;
    const byDomain: Record<string, number> = {};
    const counts = await Promise.all(domains.map((domain) => accounts.count(domain)));
    domains.forEach((domain, i) => (byDomain[domain] = counts[i]!));
    const online: Record<string, number> = Object.fromEntries(domains.map((d) => [d, 0]));
    for (const session of sessions.all()) online[session.jid.domain] = (online[session.jid.domain] ?? 0) + 1;
    const own = this.own();
    const result: ServerStats = {
      version,
      uptimeSeconds: Math.floor((Date.now() - startedAt) / 1000),
      accounts: { registered: counts.reduce((a, b) => a + b, 0), byDomain },
      sessions: { online: sessions.size, byDomain: online },
      s2s: own.s2s,
      stanzas: own.stanzas,
    };
    const cluster = this.sources.cluster;
    if (!cluster) return result;
    // The others as they last reported; this node as it is now.
    const nodes = (await cluster.nodeStats()).filter((n) => n.node !== cluster.node);
    nodes.push(own);
    nodes.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
    const total = { message: 0, presence: 0, iq: 0, total: 0 };
    let errorsSent = 0;
    const incoming: Record<string, number> = {};
    const outgoing: Record<string, number> = {};
    for (const n of nodes) {
      for (const key of ['message', 'presence', 'iq', 'total'] as const) total[key] += n.stanzas.routed[key];
      errorsSent += n.stanzas.errorsSent;
      for (const [domain, c] of Object.entries(n.s2s.incoming)) incoming[domain] = (incoming[domain] ?? 0) + c;
      for (const [domain, c] of Object.entries(n.s2s.outgoing)) outgoing[domain] = (outgoing[domain] ?? 0) + c;
    }
    return { ...result, s2s: { incoming, outgoing }, stanzas: { routed: total, errorsSent }, nodes };
  }
}
