// Client listeners: plain TCP with STARTTLS (5222) and direct TLS (5223, XEP-0368).
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { StreamError } from '../core/errors.js';
import type { TlsContexts } from '../tls/certificates.js';
import { ClientStream, type C2sContext } from './stream.js';
import { TcpTransport } from './transport.js';

export interface ListenAddress {
  host: string;
  port: number;
}

/** "*:5222" → all interfaces; "[::1]:5222" and "127.0.0.1:5222" as written. */
export function parseListenAddress(spec: string): ListenAddress {
  const colon = spec.lastIndexOf(':');
  let host = spec.slice(0, colon);
  const port = Number(spec.slice(colon + 1));
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host, port };
}

export interface C2sListenerOptions {
  plain: readonly string[];
  directTls: readonly string[];
  contexts: TlsContexts;
  unauthenticatedPerIp: number;
  handshakeTimeoutMs: number;
  log: Logger;
}

export class C2sListeners {
  private readonly servers: net.Server[] = [];
  private readonly streams = new Set<ClientStream>();
  private readonly byAddress = new Map<string, Set<ClientStream>>();
  readonly addresses: string[] = [];
  /** Where each listener is bound, e.g. { kind: 'c2s', host: '127.0.0.1', port: 5222 }. */
  readonly bound: Array<{ kind: 'c2s' | 'c2s direct TLS'; host: string; port: number }> = [];

  private readonly ctx: C2sContext;

  constructor(
    ctx: Omit<C2sContext, 'onStreamClosed'>,
    private readonly options: C2sListenerOptions,
  ) {
    // One context shared by every stream (a copy per connection would cost memory).
    this.ctx = { ...ctx, onStreamClosed: (stream) => this.forget(stream) };
  }

  get streamCount(): number {
    return this.streams.size;
  }

  allStreams(): IterableIterator<ClientStream> {
    return this.streams.values();
  }

  async listen(): Promise<void> {
    for (const spec of this.options.plain) {
      const server = net.createServer((socket) => this.accept(new TcpTransport(socket, this.options.contexts)));
      await this.bind(server, spec, 'c2s');
    }
    for (const spec of this.options.directTls) {
      const server = tls.createServer(
        { ...this.options.contexts.serverOptions(), handshakeTimeout: this.options.handshakeTimeoutMs },
        (socket) => this.accept(new TcpTransport(socket, null)),
      );
      // Failed handshakes (a client refusing our certificate, port scanners) are routine.
      server.on('tlsClientError', (err) => this.options.log.debug({ err: err.message }, 'TLS handshake failed'));
      await this.bind(server, spec, 'c2s direct TLS');
    }
  }

  private async bind(server: net.Server, spec: string, label: 'c2s' | 'c2s direct TLS'): Promise<void> {
    const { host, port } = parseListenAddress(spec);
    server.on('error', (err) => this.options.log.error({ err }, `${label} listener error`));
    const listenOn = (h: string | undefined) =>
      new Promise<void>((resolve, reject) => {
        const onError = (err: Error) => reject(err);
        server.once('error', onError);
        server.listen({ host: h, port }, () => {
          server.off('error', onError);
          resolve();
        });
      });
    if (host === '*') {
      // All interfaces, IPv4 and IPv6 (dual-stack "::"); hosts without IPv6 fall back to IPv4.
      try {
        await listenOn('::');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAFNOSUPPORT' && (err as NodeJS.ErrnoException).code !== 'EADDRNOTAVAIL') throw err;
        await listenOn('0.0.0.0');
      }
    } else {
      await listenOn(host);
    }
    const address = server.address() as net.AddressInfo;
    this.addresses.push(`${label} ${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`);
    this.bound.push({ kind: label, host: address.address, port: address.port });
    this.servers.push(server);
  }

  private accept(transport: TcpTransport): void {
    const stream = new ClientStream(transport, this.ctx);
    this.streams.add(stream);
    let peers = this.byAddress.get(transport.remoteAddress);
    if (!peers) {
      peers = new Set();
      this.byAddress.set(transport.remoteAddress, peers);
    }
    let unauthenticated = 0;
    for (const peer of peers) if (!peer.isAuthenticated) unauthenticated++;
    peers.add(stream);
    if (unauthenticated >= this.options.unauthenticatedPerIp) {
      stream.fail(new StreamError('policy-violation', 'too many unauthenticated connections from your address'));
    }
  }

  private forget(stream: ClientStream): void {
    this.streams.delete(stream);
    const peers = this.byAddress.get(stream.remoteAddress);
    if (peers) {
      peers.delete(stream);
      if (peers.size === 0) this.byAddress.delete(stream.remoteAddress);
    }
  }

  /** Stops accepting; existing streams stay until closed. */
  stopAccepting(): void {
    for (const server of this.servers) server.close();
  }
}
