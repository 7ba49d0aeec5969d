// Components in a cluster: the node a component connected to holds its domain through the
// cluster's ownership of keyed live state (key `component:<domain>`), so a second connection
// on any node is refused while it lives; other nodes forward the domain's stanzas there.
import type { Element } from 'ltx';
import type { Cluster } from '../cluster/cluster.js';
import type { ComponentDirectory } from './listener.js';

const PREFIX = 'component:';

export class ClusterComponentDirectory implements ComponentDirectory {
  readonly node: string;

  constructor(private readonly cluster: Cluster) {
    this.node = cluster.node;
  }

  async claim(domain: string): Promise<boolean> {
    return (await this.cluster.ownership.owner(PREFIX + domain)) === this.node;
  }

  release(domain: string): void {
    void this.cluster.ownership.release(PREFIX + domain).catch(() => undefined);
  }

  holder(domain: string): Promise<string | null> {
    return this.cluster.ownership.holder(PREFIX + domain);
  }

  forward(node: string, domain: string, stanza: Element): Promise<boolean> {
    return this.cluster.sendToService(node, domain, stanza);
  }

  onForwarded(handler: (domain: string, stanza: Element) => void): void {
    this.cluster.onServiceStanza(handler);
  }

  onLost(handler: (domain: string) => void): void {
    this.cluster.ownership.onLost((key) => {
      if (key.startsWith(PREFIX)) handler(key.slice(PREFIX.length));
    });
  }
}
