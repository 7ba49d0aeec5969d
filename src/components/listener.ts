// The component listener (components.listen, default 127.0.0.1:5347) and the service domains
// of components.services: each domain is registered with the router at start; stanzas for it
// go to its connected component, or bounce with service-unavailable while none is connected.
import net from 'node:net';
import type { Element } from 'ltx';
import type { Logger } from 'pino';
import { TcpTransport } from '../c2s/transport.js';
import { StanzaError, StreamError } from '../core/errors.js';
import { ListenerGroup } from '../core/listen.js';
import type { Router } from '../core/router.js';
import type { ServiceDomains } from '../core/services.js';
import type { StanzaTraffic } from '../metrics/counters.js';
import type { XmlLimits } from '../xml/stream-parser.js';
import { ComponentStream, type ComponentStreamContext } from './stream.js';

/**
 * In a cluster: which node holds each component's connection (one in the whole cluster), and
 * the way to hand stanzas to it (src/components/cluster-directory.ts).
 */
export interface ComponentDirectory {
  readonly node: string;
  /** Makes this node the holder of `domain`, unless another live node is; true when it is. */
  claim(domain: string): Promise<boolean>;
  release(domain: string): void;
  /** The live node holding `domain`'s component, or null. */
  holder(domain: string): Promise<string | null>;
  /** Hands a stanza to `node` for its component; false when nobody received it. */
  forward(node: string, domain: string, stanza: Element): Promise<boolean>;
  onForwarded(handler: (domain: string, stanza: Element) => void): void;
  /** This node no longer holds `domain` (the cluster gave it to another node). */
  onLost(handler: (domain: string) => void): void;
}

/** How long a node trusts what it learnt about where a component is connected. */
const HOLDER_CACHE_MS = 5_000;

export interface ComponentOptions {
  listen: readonly string[];
  secrets: ReadonlyMap<string, string>;
  router: Router;
  services: ServiceDomains;
  limits: { preAuth: XmlLimits; stanzaBytes: number };
  handshakeTimeoutMs: number;
  /** Liveness: a silent component is pinged after pingIntervalMs and dropped after pingTimeoutMs more. */
  pingIntervalMs: number;
  pingTimeoutMs: number;
  /** The server's own domain, for pings. */
  serverDomain: string;
  traffic: StanzaTraffic;
  log: Logger;
  directory: ComponentDirectory | null;
}

export class ComponentListeners {
  private readonly listeners: ListenerGroup<'component'>;
  private readonly streams = new Set<ComponentStream>();
  private readonly connected = new Map<string, ComponentStream>();
  private readonly ctx: ComponentStreamContext;
  private livenessTimer: NodeJS.Timeout | null = null;
  /** In a cluster: where each component connected elsewhere is, as last learnt. */
  private readonly holders = new Map<string, { node: string | null; until: number }>();
  /** Stanzas waiting for a holder lookup, in arrival order, per domain. */
  private readonly waiting = new Map<string, Element[]>();

  constructor(private readonly options: ComponentOptions) {
    this.listeners = new ListenerGroup(options.log);
    this.ctx = {
      log: options.log,
      router: options.router,
      secrets: options.secrets,
      limits: options.limits,
      traffic: options.traffic,
      claim: (domain, stream) => this.claim(domain, stream),
      closed: (stream) => this.forget(stream),
    };
    for (const domain of options.secrets.keys()) {
      options.services.register(domain, { deliver: (stanza) => this.deliver(domain, stanza) });
    }
    options.directory?.onForwarded((domain, stanza) => this.deliverHere(domain, stanza));
    options.directory?.onLost((domain) => {
      this.connected.get(domain)?.close(new StreamError('conflict', `${domain} is connected to another node`));
    });
  }

  get addresses(): readonly string[] {
    return this.listeners.addresses;
  }

  get bound(): ListenerGroup<'component'>['bound'] {
    return this.listeners.bound;
  }

  get streamCount(): number {
    return this.streams.size;
  }

  /** Component domains with a connected component. */
  connectedDomains(): string[] {
    return [...this.connected.entries()].filter(([, s]) => s.serviceDomain !== null).map(([d]) => d);
  }

  /** Listens only when components are configured: there is nothing to accept otherwise. */
  async listen(): Promise<void> {
    if (this.options.secrets.size === 0) return;
    for (const spec of this.options.listen) {
      const server = net.createServer((socket) => this.accept(new TcpTransport(socket, null)));
      await this.listeners.add(server, spec, 'component');
    }
    this.livenessTimer = setInterval(() => {
      const now = Date.now();
      for (const stream of this.connected.values()) {
        stream.checkLiveness(now, this.options.pingIntervalMs, this.options.pingTimeoutMs, this.options.serverDomain);
      }
    }, 1_000);
    this.livenessTimer.unref();
  }

  private accept(transport: TcpTransport): void {
    this.streams.add(new ComponentStream(transport, this.ctx, this.options.handshakeTimeoutMs));
  }

  private async claim(domain: string, stream: ComponentStream): Promise<boolean> {
    const current = this.connected.get(domain);
    if (current && current !== stream && current.serviceDomain !== null) return false;
    const directory = this.options.directory;
    if (directory && !(await directory.claim(domain))) return false;
    // The stream may have closed meanwhile, or another one won here.
    const now = this.connected.get(domain);
    if (!stream.isOpen || (now && now !== stream && now.serviceDomain !== null)) {
      if (directory && !(now && now.serviceDomain !== null)) directory.release(domain);
      return false;
    }
    this.connected.set(domain, stream);
    this.holders.delete(domain);
    return true;
  }

  private forget(stream: ComponentStream): void {
    this.streams.delete(stream);
    for (const [domain, connected] of this.connected) {
      if (connected === stream) {
        this.connected.delete(domain);
        this.options.directory?.release(domain);
        this.options.log.info({ component: domain }, 'component disconnected');
      }
    }
  }

  /** A stanza for a component domain (or a subdomain of it). */
  private deliver(domain: string, stanza: Element): void {
    const stream = this.connected.get(domain);
    if (stream && stream.serviceDomain !== null) {
      stream.write(stanza);
      return;
    }
    const directory = this.options.directory;
    if (!directory) return this.unavailable(domain, stanza);
    // In a cluster the component may be connected to another node: hand the stanza there,
    // in order with the domain's other stanzas.
    const queued = this.waiting.get(domain);
    if (queued) {
      queued.push(stanza);
      return;
    }
    const known = this.holders.get(domain);
    if (known && known.until > Date.now()) return this.forward(domain, known.node, stanza);
    this.waiting.set(domain, [stanza]);
    void directory.holder(domain).catch(() => null).then((node) => {
      this.holders.set(domain, { node: node === directory.node ? null : node, until: Date.now() + HOLDER_CACHE_MS });
      const stanzas = this.waiting.get(domain) ?? [];
      this.waiting.delete(domain);
      for (const next of stanzas) this.deliver(domain, next);
    });
  }

  private forward(domain: string, node: string | null, stanza: Element): void {
    if (node === null) return this.unavailable(domain, stanza);
    void this.options.directory!.forward(node, domain, stanza).then((received) => {
      if (received) return;
      this.holders.delete(domain);
      this.unavailable(domain, stanza);
    });
  }

  /** A stanza another node forwarded: for a component connected here, or it is unavailable. */
  private deliverHere(domain: string, stanza: Element): void {
    const stream = this.connected.get(domain);
    if (stream && stream.serviceDomain !== null) stream.write(stanza);
    else this.unavailable(domain, stanza);
  }

  private unavailable(domain: string, stanza: Element): void {
    // RFC 6120 §8.3.3.19: the service exists but cannot answer now. Presence is not answered
    // with errors (it would only upset rosters); it is dropped.
    if (stanza.name === 'presence') return;
    this.options.router.bounce(stanza, new StanzaError('service-unavailable', `${domain} is not connected`));
  }

  stopAccepting(): void {
    this.listeners.stopAccepting();
    if (this.livenessTimer) clearInterval(this.livenessTimer);
    this.livenessTimer = null;
  }

  closeAll(error: StreamError): void {
    for (const stream of [...this.streams]) stream.close(error);
  }
}
