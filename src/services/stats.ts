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

export interface ServerStats {
  version: string;
  uptimeSeconds: number;
  accounts: { registered: number; byDomain: Record<string, number> };
  sessions: { online: number; byDomain: Record<string, number> };
  s2s: FederationCounts;
  stanzas: { routed: { message: number; presence: number; iq: number; total: number }; errorsSent: number };
}

export interface StatsSources {
  version: string;
  startedAt: number;
  domains: readonly string[];
  accounts: AccountStore;
  sessions: SessionRegistry;
  router: { readonly stats: RouterStats };
  federation: () => FederationCounts;
}

export class StatsService {
  constructor(private readonly sources: StatsSources) {}

  async stats(): Promise<ServerStats> {
    const { version, startedAt, domains, accounts, sessions, router, federation } = this.sources;
    const byDomain: Record<string, number> = {};
    const counts = await Promise.all(domains.map((domain) => accounts.count(domain)));
    domains.forEach((domain, i) => (byDomain[domain] = counts[i]!));
    const online: Record<string, number> = Object.fromEntries(domains.map((d) => [d, 0]));
    for (const session of sessions.all()) online[session.jid.domain] = (online[session.jid.domain] ?? 0) + 1;
    const { message, presence, iq } = router.stats.routed;
    const s2s = federation();
    return {
      version,
      uptimeSeconds: Math.floor((Date.now() - startedAt) / 1000),
      accounts: { registered: counts.reduce((a, b) => a + b, 0), byDomain },
      sessions: { online: sessions.size, byDomain: online },
      s2s: { incoming: { ...s2s.incoming }, outgoing: { ...s2s.outgoing } },
      stanzas: { routed: { message, presence, iq, total: message + presence + iq }, errorsSent: router.stats.errorsSent },
    };
  }
}
