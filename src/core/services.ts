// Service domains: addresses of this server that belong to no account — external components
// (XEP-0114) now, group chat and the like later. The router hands each stanza for such a
// domain, or a subdomain of it, to the service; no transport knows about them.
import type { Element } from 'ltx';

export interface ServiceDomain {
  /** Takes a stanza addressed to the service (after the router's checks). */
  deliver(stanza: Element): void;
}

export class ServiceDomains {
  private readonly byDomain = new Map<string, ServiceDomain>();

  get size(): number {
    return this.byDomain.size;
  }

  register(domain: string, service: ServiceDomain): void {
    if (this.byDomain.has(domain)) throw new Error(`${domain} already has a service`);
    this.byDomain.set(domain, service);
  }

  domains(): IterableIterator<string> {
    return this.byDomain.keys();
  }

  /** The service for `domain`: the one registered for it, or for the nearest parent domain. */
  find(domain: string): { domain: string; service: ServiceDomain } | null {
    if (this.byDomain.size === 0) return null;
    for (let name = domain; ; ) {
      const service = this.byDomain.get(name);
      if (service) return { domain: name, service };
      const dot = name.indexOf('.');
      if (dot < 0) return null;
      name = name.slice(dot + 1);
    }
  }

  /** Whether `domain` is (under) a service domain this server hosts. */
  hosts(domain: string): boolean {
    return this.find(domain) !== null;
  }
}

/**
 * In a cluster: stanzas for a service whose live state one node holds (a group-chat room)
 * reach that node through the cluster (src/cluster/cluster.ts).
 */
export interface ServiceForwarding {
  /** Sends a stanza to the service on `node`; false when no such node listens. */
  forward(node: string, domain: string, stanza: Element): Promise<boolean>;
  /** Where stanzas other nodes forward here arrive, for the domains `accepts` takes. */
  onForwarded(handler: (domain: string, stanza: Element) => void, accepts: (domain: string) => boolean): void;
  /** Asks one node a question of `kind`: its answer, or null when none came in time. */
  ask(node: string, kind: string, body: string, timeoutMs: number): Promise<string | null>;
  /** Asks every other live node a question of `kind`: the answers that came in time. */
  askOthers(kind: string, timeoutMs: number): Promise<string[]>;
  /** Answers the other nodes' questions of `kind`. */
  onAsked(kind: string, answer: (body: string) => Promise<string>): void;
}
