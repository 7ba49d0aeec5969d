// XEP-0163 PEP services in memory: each account's nodes with their configuration, totals,
// last item and affiliations, loaded on first use, written through to the store. Changes to
// one service run one at a time; in a cluster the other nodes drop their copy.
import type { CacheCoherence } from '../../core/cache-coherence.js';
import { KeyedQueue } from '../../core/keyed-queue.js';
import { LruMap } from '../../core/lru-map.js';
import type { PubsubItemRecord, PubsubStore } from '../../storage/pubsub.js';
import { parseStoredConfig, type NodeConfig } from './node-config.js';

/** Affiliations besides the owner's (XEP-0060 §4.1). */
export type Affiliation = 'member' | 'publisher' | 'outcast';

export interface PepItem {
  readonly id: string;
  readonly publisher: string;
  /** Null when too large to keep in memory: read it from the store. */
  readonly payload: string | null;
  readonly bytes: number;
  readonly publishedAt: Date;
}

export interface PepNode {
  readonly id: number;
  readonly name: string;
  config: NodeConfig;
  itemCount: number;
  bytes: number;
  last: PepItem | null;
  readonly affiliations: Map<string, Affiliation>;
}

export interface PepAccount {
  /** The owner's bare JID. */
  readonly jid: string;
  readonly nodes: Map<string, PepNode>;
}

/** Services kept in memory; the least recently used beyond this are dropped. */
const MAX_CACHED_SERVICES = 20_000;
/** Last items larger than this stay in the database only (avatar data). */
const MAX_CACHED_PAYLOAD = 8_192;

export function cachedItem(item: Omit<PubsubItemRecord, 'publishedAt'> & { publishedAt?: Date }): PepItem {
  return {
    id: item.id,
    publisher: item.publisher,
    payload: item.bytes <= MAX_CACHED_PAYLOAD ? item.payload : null,
    bytes: item.bytes,
    publishedAt: item.publishedAt ?? new Date(),
  };
}

function isAffiliation(value: string): value is Affiliation {
  return value === 'member' || value === 'publisher' || value === 'outcast';
}

export class PepCache {
  private readonly cache = new LruMap<string, PepAccount>(MAX_CACHED_SERVICES);
  private readonly loading = new Map<string, Promise<PepAccount>>();
  private readonly queue = new KeyedQueue();
  /** Bumped when a service is dropped: a load that started before must not be cached. */
  private readonly generation = new Map<string, number>();

  constructor(
    readonly store: PubsubStore,
    private readonly caches: CacheCoherence,
  ) {
    caches.onRemoteChange('pep', (jid) => this.drop(jid));
  }

  /** The service of an account (bare JID string), loaded when not in memory. */
  get(jid: string): PepAccount | Promise<PepAccount> {
    const cached = this.cache.get(jid);
    if (cached) return cached;
    const loading = this.loading.get(jid);
    if (loading) return loading;
    const generation = this.generation.get(jid) ?? 0;
    const load = this.load(jid).then((service) => {
      if ((this.generation.get(jid) ?? 0) === generation) this.cache.set(jid, service);
      return service;
    }).finally(() => this.loading.delete(jid));
    this.loading.set(jid, load);
    return load;
  }

  /**
   * Runs a change of one service after the changes before it; `changed` tells a cluster's
   * other nodes once it is done (their copies are stale).
   */
  exclusive<T>(jid: string, change: (account: PepAccount) => Promise<T>): Promise<T> {
    return this.queue.run(jid, async () => {
      try {
        return await change(await this.get(jid));
      } finally {
        this.caches.changed('pep', jid);
      }
    });
  }

  /** Forgets a service (deleted account, or changed by another node). */
  drop(jid: string): void {
    this.cache.delete(jid);
    this.generation.set(jid, (this.generation.get(jid) ?? 0) + 1);
    if (this.generation.size > MAX_CACHED_SERVICES) this.generation.delete(this.generation.keys().next().value!);
  }

  /** The bytes of every item of a service (limits.pepAccountBytes). */
  static bytes(account: PepAccount): number {
    let total = 0;
    for (const node of account.nodes.values()) total += node.bytes;
    return total;
  }

  private async load(jid: string): Promise<PepAccount> {
    const records = await this.store.loadService(jid);
    const nodes = new Map<string, PepNode>();
    for (const record of records) {
      const affiliations = new Map<string, Affiliation>();
      for (const { jid: member, affiliation } of record.affiliations) if (isAffiliation(affiliation)) affiliations.set(member, affiliation);
      nodes.set(record.node, {
        id: record.id,
        name: record.node,
        config: parseStoredConfig(record.config),
        itemCount: record.itemCount,
        bytes: record.bytes,
        last: record.last ? cachedItem(record.last) : null,
        affiliations,
      });
    }
    return { jid, nodes };
  }

}
