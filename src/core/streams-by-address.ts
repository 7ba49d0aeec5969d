// Unauthenticated streams per remote address, for limits.unauthenticatedPerIp: one address
// may not hold open an unbounded number of handshakes (client and server streams alike). In
// a cluster the other nodes' streams count too (src/cluster/address-counts.ts), so that N
// nodes behind one port do not give an address N times the handshakes.

/** Unauthenticated streams per address on the other nodes of a cluster. */
export interface SharedAddressCounts {
  /** This node now has `count` unauthenticated `kind` streams from `address`. */
  set(kind: string, address: string, count: number): void;
  /** How many the other nodes have. */
  elsewhere(kind: string, address: string): Promise<number>;
}

export class StreamsByAddress<S> {
  /** Streams not yet authenticated, by address. */
  private readonly pending = new Map<string, Set<S>>();

  constructor(
    /** 'c2s' or 's2s': each is limited on its own. */
    private readonly kind: string,
    private readonly shared: SharedAddressCounts | null = null,
  ) {}

  /** Records a new (unauthenticated) stream; returns how many of the address's earlier streams here still are. */
  add(address: string, stream: S): number {
    let streams = this.pending.get(address);
    if (!streams) {
      streams = new Set();
      this.pending.set(address, streams);
    }
    const earlier = streams.size;
    streams.add(stream);
    this.shared?.set(this.kind, address, streams.size);
    return earlier;
  }

  /** The stream authenticated, or closed: it no longer counts. */
  settled(address: string, stream: S): void {
    const streams = this.pending.get(address);
    if (!streams?.delete(stream)) return;
    if (streams.size === 0) this.pending.delete(address);
    this.shared?.set(this.kind, address, streams.size);
  }

  /** Unauthenticated streams from `address` on the other nodes of a cluster; null when alone. */
  elsewhere(address: string): Promise<number> | null {
    return this.shared ? this.shared.elsewhere(this.kind, address) : null;
  }

  /**
   * limits.unauthenticatedPerIp for a stream just accepted: `refuse` when the address holds
   * `cap` unauthenticated streams already, here or (a moment later) on any node.
   */
  admit(address: string, stream: S, cap: number, stillPending: () => boolean, refuse: () => void): void {
    const earlier = this.add(address, stream);
    if (earlier >= cap) {
      refuse();
      return;
    }
    void this.elsewhere(address)?.then((others) => {
      if (earlier + others >= cap && stillPending()) refuse();
    }, () => undefined); // Redis unreachable: this node's count alone decides
  }
}
