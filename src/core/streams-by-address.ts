// Open streams per remote address, for limits.unauthenticatedPerIp: one address may not hold
// open an unbounded number of handshakes (client and server streams alike).
export class StreamsByAddress<S> {
  private readonly byAddress = new Map<string, Set<S>>();

  /** Records a new stream and returns how many of the address's earlier streams are still `pending`. */
  add(address: string, stream: S, pending: (peer: S) => boolean): number {
    let peers = this.byAddress.get(address);
    if (!peers) {
      peers = new Set();
      this.byAddress.set(address, peers);
    }
    let count = 0;
    for (const peer of peers) if (pending(peer)) count++;
    peers.add(stream);
    return count;
  }

  delete(address: string, stream: S): void {
    const peers = this.byAddress.get(address);
    if (!peers) return;
    peers.delete(stream);
    if (peers.size === 0) this.byAddress.delete(address);
  }
}
