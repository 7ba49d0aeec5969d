// Who is on the other end of an HTTP request, and whether their password may cross it.
// Behind a TLS-terminating reverse proxy the TCP peer is the proxy: only a proxy listed in
// http.trustedProxies may say who the client is (X-Forwarded-For); from anyone else that
// header is ignored, so it cannot be used to dodge per-address limits.
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import { TLSSocket } from 'node:tls';
import { normaliseAddress } from '../../c2s/transport.js';

export interface ClientAddress {
  /** The address every per-address limit and log line uses. */
  address: string;
  /** TLS to us, loopback, or a trusted TLS-terminating proxy: passwords may be sent. */
  secure: boolean;
  /** The TLS connection when the client itself holds its other end (channel binding), else null. */
  tls: TLSSocket | null;
}

export function isLoopback(address: string): boolean {
  return address === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address);
}

export class ClientAddresses {
  private readonly proxies = new net.BlockList();

  constructor(trustedProxies: readonly string[]) {
    for (const entry of trustedProxies) {
      const [address, bits] = entry.split('/') as [string, string | undefined];
      const family = net.isIPv4(address) ? 'ipv4' : 'ipv6';
      if (bits === undefined) this.proxies.addAddress(address, family);
      else this.proxies.addSubnet(address, Number(bits), family);
    }
  }

  private trusted(address: string): boolean {
    const family = net.isIPv4(address) ? 'ipv4' : net.isIPv6(address) ? 'ipv6' : null;
    return family !== null && this.proxies.check(address, family);
  }

  of(request: IncomingMessage): ClientAddress {
    const peer = normaliseAddress(request.socket.remoteAddress);
    const overTls = request.socket instanceof TLSSocket;
    if (!this.trusted(peer)) return { address: peer, secure: overTls || isLoopback(peer), tls: overTls ? (request.socket as TLSSocket) : null };
    // The rightmost address not itself a trusted proxy is the client (earlier entries are
    // whatever the client chose to send).
    const header = request.headers['x-forwarded-for'];
    const hops = (Array.isArray(header) ? header.join(',') : header ?? '').split(',').map((hop) => normaliseAddress(hop.trim()));
    let client = peer;
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i]!;
      if (net.isIP(hop) === 0) break;
      client = hop;
      if (!this.trusted(hop)) break;
    }
    return { address: client, secure: true, tls: null };
  }
}
