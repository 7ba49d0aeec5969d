// Federation (RFC 6120 server-to-server): the s2s listeners, one outbound stream per
// (local domain, remote domain) pair, reused and closed when idle, and the dialback
// callbacks between them. The router hands it stanzas for other domains (RemoteDelivery).
import net from 'node:net';
import tls from 'node:tls';
import type { Element } from 'ltx';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { StanzaError, StreamError } from '../core/errors.js';
import { ListenerGroup } from '../core/listen.js';
import { StreamsByAddress, type SharedAddressCounts } from '../core/streams-by-address.js';
import type { RemoteDelivery, Router } from '../core/router.js';
import { TcpTransport } from '../c2s/transport.js';
import type { StanzaTraffic } from '../metrics/counters.js';
import type { CertificatePair } from '../tls/certificates.js';
import type { AuthMethod, DialbackVerification, S2sContext } from './context.js';
import { loadTrustAnchors, PeerTls } from './peer-tls.js';
import { PeerResolver } from './resolver.js';
import { IncomingServerStream } from './stream-in.js';
import { OutgoingServerStream, type OutboundFailure } from './stream-out.js';

export interface FederationOptions {
  config: Config;
  log: Logger;
  domains: ReadonlySet<string>;
  router: Router;
  secret: Buffer;
  certificates: readonly CertificatePair[];
  traffic: StanzaTraffic;
  /** In a cluster: the other nodes' unauthenticated streams per address. */
  sharedCounts?: SharedAddressCounts | null;
  /** A hosts file other than /etc/hosts (tests). */
  hostsFile?: string;
  /** DNS servers ("host:port") instead of the system's (tests). */
  dnsServers?: string[];
}

/** One authenticated stream, as the administration API shows it. */
export interface S2sStreamInfo {
  direction: 'in' | 'out';
  /** The remote domain. */
  domain: string;
  method: AuthMethod;
  tls: boolean;
  since: string;
}

export interface StreamCounts {
  incoming: Record<string, number>;
  outgoing: Record<string, number>;
}

export class Federation implements RemoteDelivery {
  private readonly incoming = new Set<IncomingServerStream>();
  /** Inbound streams per peer address (limits.unauthenticatedPerIp). */
  private readonly byAddress: StreamsByAddress<IncomingServerStream>;
  /** Keyed "local remote". */
  private readonly outgoing = new Map<string, OutgoingServerStream>();
  private readonly resolver: PeerResolver;
  private readonly peerTls: PeerTls;
  private readonly ctx: S2sContext;
  private readonly listeners: ListenerGroup<'s2s' | 's2s direct TLS'>;
  private stopping = false;

  constructor(private readonly options: FederationOptions) {
    const { config } = options;
    this.listeners = new ListenerGroup(options.log);
    this.byAddress = new StreamsByAddress('s2s', options.sharedCounts ?? null);
    this.peerTls = new PeerTls(options.certificates, loadTrustAnchors(config.s2s.trustedCa), config.s2s.insecureDomains);
    this.resolver = new PeerResolver({ routes: config.s2s.routes, timeoutMs: config.s2s.dnsTimeoutMs, hostsFile: options.hostsFile, servers: options.dnsServers });
    this.ctx = {
      config,
      log: options.log,
      domains: options.domains,
      router: options.router,
      secret: options.secret,
      tls: this.peerTls,
      traffic: options.traffic,
      verifyDialback: (request) => this.verifyDialback(request),
    };
  }

  async listen(): Promise<void> {
    const { config, log } = this.options;
    for (const spec of config.s2s.listen) {
      const server = net.createServer((socket) => this.accept(new TcpTransport(socket, this.peerTls.inbound)));
      await this.listeners.add(server, spec, 's2s');
    }
    for (const spec of config.s2s.directTls) {
      // XEP-0368: TLS from the first byte, ALPN "xmpp-server".
      const server = tls.createServer(
        { ...this.peerTls.inbound.serverOptions(), ALPNProtocols: ['xmpp-server'], handshakeTimeout: config.limits.unauthenticatedTimeoutS * 1000 },
        (socket) => this.accept(new TcpTransport(socket, null)),
      );
      server.on('tlsClientError', (err) => log.debug({ err: err.message }, 's2s TLS handshake failed'));
      await this.listeners.add(server, spec, 's2s direct TLS');
    }
  }

  /** Listener addresses as text, e.g. "s2s 127.0.0.1:5269". */
  get addresses(): readonly string[] {
    return this.listeners.addresses;
  }

  /** Where each listener is bound. */
  get bound(): ListenerGroup<'s2s' | 's2s direct TLS'>['bound'] {
    return this.listeners.bound;
  }

  private accept(transport: TcpTransport): void {
    if (this.stopping) {
      transport.destroy();
      return;
    }
    const stream = new IncomingServerStream(transport, this.ctx, {
      closed: (s) => this.forget(s),
      authenticated: (s) => this.byAddress.settled(s.remoteAddress, s),
    });
    this.incoming.add(stream);
    // limits.unauthenticatedPerIp, as for clients: a peer cannot hold open unlimited handshakes.
    this.byAddress.admit(transport.remoteAddress, stream, this.options.config.limits.unauthenticatedPerIp, () => stream.authenticatedDomains.size === 0, () => {
      stream.fail(new StreamError('policy-violation', 'too many unauthenticated connections from your address'));
    });
  }

  private forget(stream: IncomingServerStream): void {
    this.incoming.delete(stream);
    this.byAddress.settled(stream.remoteAddress, stream);
  }

  // ---- outbound -------------------------------------------------------------------------

  /** RemoteDelivery: queue for the (local, remote) stream, creating it when needed. */
  send(stanza: Element, localDomain: string, remoteDomain: string): void {
    if (this.stopping) {
      this.options.router.bounce(stanza, new StanzaError('remote-server-timeout', 'the server is shutting down'));
      return;
    }
    const stream = this.outboundFor(localDomain, remoteDomain);
    if (!stream.send(stanza)) {
      this.options.router.bounce(stanza, new StanzaError('resource-constraint', `too many stanzas waiting for ${remoteDomain}`));
    }
  }

  private outboundFor(local: string, remote: string): OutgoingServerStream {
    const key = `${local} ${remote}`;
    const existing = this.outgoing.get(key);
    if (existing && !existing.isClosed) return existing;
    const stream = new OutgoingServerStream(this.ctx, local, remote, {
      closed: (s, unsent, failure) => this.outboundClosed(key, s, unsent, failure),
    });
    this.outgoing.set(key, stream);
    this.resolver.resolve(remote).then(
      (addresses) => stream.connect(addresses),
      (err: Error) => {
        this.options.log.debug({ peer: remote, err: err.message }, 's2s resolution failed');
        stream.connect([]);
      },
    );
    return stream;
  }

  private outboundClosed(key: string, stream: OutgoingServerStream, unsent: Element[], failure: OutboundFailure): void {
    if (this.outgoing.get(key) === stream) this.outgoing.delete(key);
    // RFC 6120 §10.4.3 and §8.3.3: each stanza returns to its sender; never an error to an error.
    for (const stanza of unsent) this.options.router.bounce(stanza, new StanzaError(failure.condition, failure.text));
  }

  /** XEP-0220 §2.1.2: the Receiving Server's callback to the Authoritative Server, over our outbound stream. */
  private verifyDialback(request: DialbackVerification): Promise<'valid' | 'invalid' | 'error'> {
    if (this.stopping) return Promise.resolve('error');
    return this.outboundFor(request.receiving, request.originating).verify(request.receiving, request.streamId, request.key);
  }

  // ---- administration -------------------------------------------------------------------

  /** Authenticated streams per remote domain, for stats and metrics. */
  streamCounts(): StreamCounts {
    const incoming: Record<string, number> = {};
    for (const stream of this.incoming) {
      for (const domain of stream.authenticatedDomains.keys()) incoming[domain] = (incoming[domain] ?? 0) + 1;
    }
    const outgoing: Record<string, number> = {};
    for (const stream of this.outgoing.values()) {
      if (stream.isReady) outgoing[stream.remote] = (outgoing[stream.remote] ?? 0) + 1;
    }
    return { incoming, outgoing };
  }

  /** Every authenticated stream, inbound per proven domain and outbound per pair. */
  streams(): S2sStreamInfo[] {
    const list: S2sStreamInfo[] = [];
    for (const stream of this.incoming) {
      for (const [domain, method] of stream.authenticatedDomains) {
        list.push({ direction: 'in', domain, method, tls: stream.secure, since: stream.since.toISOString() });
      }
    }
    for (const stream of this.outgoing.values()) {
      if (stream.isReady && stream.method) {
        list.push({ direction: 'out', domain: stream.remote, method: stream.method, tls: stream.secure, since: stream.since.toISOString() });
      }
    }
    return list;
  }

  get streamCount(): number {
    return this.incoming.size + this.outgoing.size;
  }

  replaceCertificates(pairs: readonly CertificatePair[]): void {
    this.peerTls.replace(pairs);
  }

  stopAccepting(): void {
    this.listeners.stopAccepting();
  }

  /** RFC 6120 §4.9.3.17: every stream learns why it ends; queued stanzas bounce. */
  closeAll(error: StreamError): void {
    this.stopping = true;
    for (const stream of [...this.incoming]) stream.close(error);
    for (const stream of [...this.outgoing.values()]) stream.close(error);
    this.resolver.cancel();
  }
}
