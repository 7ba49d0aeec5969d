// Client listeners: plain TCP with STARTTLS (5222) and direct TLS (5223, XEP-0368). Streams
// framed otherwise (WebSocket, BOSH: src/http/client/) join the same set through accept(), so
// per-address caps, liveness checks, metrics and shutdown treat every client stream alike.
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { StreamError } from '../core/errors.js';
import { ListenerGroup } from '../core/listen.js';
import { StreamsByAddress, type SharedAddressCounts } from '../core/streams-by-address.js';
import type { XmlLimits } from '../xml/stream-parser.js';
import type { TlsContexts } from '../tls/certificates.js';
import type { ClientFraming } from './framing.js';
import { ClientStream, type C2sContext } from './stream.js';
import { TcpFraming } from './tcp-framing.js';
import { TcpTransport } from './transport.js';

export { parseListenAddress, type ListenAddress } from '../core/listen.js';

export interface C2sListenerOptions {
  plain: readonly string[];
  directTls: readonly string[];
  contexts: TlsContexts;
  unauthenticatedPerIp: number;
  /** In a cluster: the other nodes' unauthenticated streams per address. */
  sharedCounts: SharedAddressCounts | null;
  handshakeTimeoutMs: number;
  log: Logger;
}

export class C2sListeners {
  private readonly listeners: ListenerGroup<'c2s' | 'c2s direct TLS'>;
  private readonly streams = new Set<ClientStream>();
  private readonly byAddress: StreamsByAddress<ClientStream>;

  private readonly ctx: C2sContext;
  private livenessTimer: NodeJS.Timeout | null = null;

  constructor(
    ctx: Omit<C2sContext, 'onStreamClosed' | 'onAuthenticated'>,
    private readonly options: C2sListenerOptions,
  ) {
    this.byAddress = new StreamsByAddress('c2s', options.sharedCounts);
    // One context shared by every stream (a copy per connection would cost memory).
    this.ctx = {
      ...ctx,
      onStreamClosed: (stream) => this.forget(stream),
      onAuthenticated: (stream) => this.byAddress.settled(stream.remoteAddress, stream),
    };
    this.listeners = new ListenerGroup(options.log);
  }

  /** Listener addresses as text, e.g. "c2s 127.0.0.1:5222". */
  get addresses(): readonly string[] {
    return this.listeners.addresses;
  }

  /** Where each listener is bound, e.g. { kind: 'c2s', host: '127.0.0.1', port: 5222 }. */
  get bound(): ListenerGroup<'c2s' | 'c2s direct TLS'>['bound'] {
    return this.listeners.bound;
  }

  get streamCount(): number {
    return this.streams.size;
  }

  allStreams(): IterableIterator<ClientStream> {
    return this.streams.values();
  }

  /** Open streams by listener kind and state, counted when metrics are scraped. */
  connectionCounts(): Record<string, Record<'unauthenticated' | 'authenticated' | 'bound', number>> {
    const counts: Record<string, Record<'unauthenticated' | 'authenticated' | 'bound', number>> = {};
    for (const kind of ['c2s', 'c2s_direct_tls', 'websocket', 'bosh']) counts[kind] = { unauthenticated: 0, authenticated: 0, bound: 0 };
    for (const stream of this.streams) {
      const byState = (counts[stream.kind] ??= { unauthenticated: 0, authenticated: 0, bound: 0 });
      if (stream.isBound) byState.bound++;
      else if (stream.isAuthenticated) byState.authenticated++;
      else byState.unauthenticated++;
    }
    return counts;
  }

  async listen(): Promise<void> {
    const idleMs = this.ctx.config.c2s.pingIntervalS * 1000;
    const timeoutMs = this.ctx.config.c2s.pingTimeoutS * 1000;
    // One timer for every stream (a timer per connection costs memory and wakeups).
    this.livenessTimer = setInterval(() => {
      const now = Date.now();
      for (const stream of this.streams) stream.checkLiveness(now, idleMs, timeoutMs);
    }, 1_000);
    this.livenessTimer.unref();
    for (const spec of this.options.plain) {
      const server = net.createServer((socket) => this.acceptTcp(new TcpTransport(socket, this.options.contexts)));
      await this.listeners.add(server, spec, 'c2s');
    }
    for (const spec of this.options.directTls) {
      const server = tls.createServer(
        { ...this.options.contexts.serverOptions(), handshakeTimeout: this.options.handshakeTimeoutMs },
        (socket) => this.acceptTcp(new TcpTransport(socket, null), true),
      );
      // Failed handshakes (a client refusing our certificate, port scanners) are routine.
      server.on('tlsClientError', (err) => this.options.log.debug({ err: err.message }, 'TLS handshake failed'));
      await this.listeners.add(server, spec, 'c2s direct TLS');
    }
  }

  /** Parser limits of a stream that has not authenticated yet. */
  get preAuthLimits(): XmlLimits {
    const limits = this.ctx.config.limits;
    return { maxStanzaBytes: limits.preAuthStanzaBytes, maxDepth: limits.depth, maxAttributes: limits.attributes };
  }

  private acceptTcp(transport: TcpTransport, directTls = false): void {
    this.accept(new TcpFraming(transport, this.preAuthLimits, directTls ? 'c2s_direct_tls' : 'c2s'));
  }

  /** A new client connection, however framed: a stream under every c2s limit. */
  accept(framing: ClientFraming): ClientStream {
    const stream = new ClientStream(framing, this.ctx);
    this.streams.add(stream);
    this.byAddress.admit(framing.remoteAddress, stream, this.options.unauthenticatedPerIp, () => !stream.isAuthenticated, () => {
      stream.fail(new StreamError('policy-violation', 'too many unauthenticated connections from your address'));
    });
    return stream;
  }

  private forget(stream: ClientStream): void {
    this.streams.delete(stream);
    this.byAddress.settled(stream.remoteAddress, stream);
  }

  /** Stops accepting; existing streams stay until closed. */
  stopAccepting(): void {
    this.listeners.stopAccepting();
    if (this.livenessTimer) clearInterval(this.livenessTimer);
    this.livenessTimer = null;
  }
}
