// BOSH in a cluster: consecutive requests of one session may reach different nodes (several
// workers sharing a port, a load balancer without affinity). Each sid ends with a tag of the
// node that holds the session; another node forwards the request there and relays the answer.
import { createHash } from 'node:crypto';
import type { Cluster } from '../../cluster/cluster.js';
import type { NodeRequestHandler, PendingRequest } from '../../cluster/requests.js';

const KIND = 'bosh';

export interface BoshRelay {
  /** This node's tag. */
  readonly tag: string;
  /** Sends a request body to the node with `tag`; null when no live node has it. */
  forward(tag: string, body: string, timeoutMs: number): Promise<PendingRequest | null>;
  /** Where forwarded requests go: answered `<status>\n<body>`. */
  onForwarded(handler: NodeRequestHandler): void;
}

export function nodeTag(node: string): string {
  return createHash('sha256').update(node).digest('base64url').slice(0, 12);
}

export class ClusterBoshRelay implements BoshRelay {
  readonly tag: string;
  private readonly nodes = new Map<string, string>();

  constructor(private readonly cluster: Cluster) {
    this.tag = nodeTag(cluster.node);
  }

  async forward(tag: string, body: string, timeoutMs: number): Promise<PendingRequest | null> {
    let node = this.nodes.get(tag);
    if (node === undefined) {
      // A node not seen yet (it joined since): learn the live ones again.
      this.nodes.clear();
      for (const live of await this.cluster.liveNodes().catch(() => [])) this.nodes.set(nodeTag(live), live);
      node = this.nodes.get(tag);
    }
    if (node === undefined) return null;
    return this.cluster.requests.request(node, KIND, body, timeoutMs);
  }

  onForwarded(handler: NodeRequestHandler): void {
    this.cluster.requests.handle(KIND, handler);
  }
}
