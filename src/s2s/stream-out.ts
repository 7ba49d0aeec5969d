// An outbound server-to-server stream for one (local domain, remote domain) pair: connect to
// the peer's addresses in order, STARTTLS (or direct TLS, XEP-0368), check the peer's
// certificate, then authenticate with SASL EXTERNAL (XEP-0178) when offered or Server
// Dialback (XEP-0220) as Initiating Server. Stanzas wait in a queue until then; if the
// stream cannot be set up they bounce (the caller decides how). The stream also carries
// dialback verification requests to the peer as Authoritative Server.
import net from 'node:net';
import tls from 'node:tls';
import { escapeXML, type Element } from 'ltx';
import { NS_SASL, NS_STREAMS, StreamError, type StanzaErrorCondition } from '../core/errors.js';
import type { StreamHeader } from '../xml/stream-parser.js';
import { TcpTransport } from '../c2s/transport.js';
import { NS_TLS } from '../c2s/stream.js';
import type { AuthMethod, S2sContext } from './context.js';
import { dialbackKey } from './dialback-key.js';
import { PeerTls } from './peer-tls.js';
import type { PeerAddress } from './resolver.js';
import { NS_DIALBACK, NS_DIALBACK_FEATURE, ServerStream } from './server-stream.js';

/** Why an outbound stream could not carry stanzas: the condition each queued stanza bounces with. */
export interface OutboundFailure {
  condition: StanzaErrorCondition;
  text: string;
}

export interface OutboundHooks {
  /** The stream is gone; `unsent` are the stanzas it never wrote (bounce them with `failure`). */
  closed(stream: OutgoingServerStream, unsent: Element[], failure: OutboundFailure): void;
}

type Phase = 'connecting' | 'negotiating' | 'ready' | 'done';

interface PendingVerify {
  receiving: string;
  streamId: string;
  key: string;
  sent: boolean;
  resolve: (outcome: 'valid' | 'invalid' | 'error') => void;
}

/** Stanzas queued per stream before the peer is reachable, at most. */
const MAX_QUEUED = 10_000;

export class OutgoingServerStream extends ServerStream {
  private phase: Phase = 'connecting';
  private queue: Element[] = [];
  private tcp: TcpTransport | null = null;
  private remoteStreamId = '';
  private peerVerified = false;
  private saslDone = false;
  private dialbackSent = false;
  /** Whether db:verify may be sent now (after TLS, on a stream whose header we have). */
  private dialbackChannel = false;
  private readonly verifies: PendingVerify[] = [];
  private failure: OutboundFailure | null = null;
  private readonly deadline: NodeJS.Timeout;
  private candidate = -1;
  private triedExternal = false;
  private peerDeclaresDialback = false;
  private lastFeatures: Element | null = null;
  private settled = false;
  /** How we proved our domain to the peer, once ready. */
  method: AuthMethod | null = null;
  private lastConnectError = '';

  constructor(
    ctx: S2sContext,
    readonly local: string,
    readonly remote: string,
    private readonly hooks: OutboundHooks,
  ) {
    super(ctx);
    // One bound on connecting, TLS and authentication together (issue: a bounded time).
    this.deadline = setTimeout(() => {
      if (this.phase !== 'ready' && !this.isClosed) {
        this.abort({ condition: 'remote-server-timeout', text: `${this.remote} did not answer in time` });
      }
    }, ctx.config.s2s.connectTimeoutMs);
    this.deadline.unref();
  }

  get logFields(): Record<string, unknown> {
    return { stream: this.id, direction: 'out', local: this.local, peer: this.remote };
  }

  get isReady(): boolean {
    return this.phase === 'ready' && !this.isClosed;
  }

  get secure(): boolean {
    return this.tcp?.secure ?? false;
  }

  /** Sends a stanza now if authenticated, else queues it. Returns false when it cannot be taken. */
  send(stanza: Element): boolean {
    if (this.isClosed || this.phase === 'done') return false;
    if (this.phase === 'ready') {
      this.touch();
      this.ctx.traffic.sent.add(stanza.name);
      this.write(stanza.toString());
      return true;
    }
    if (this.queue.length >= MAX_QUEUED) return false;
    this.queue.push(stanza);
    return true;
  }

  /** XEP-0220 §2.1.2: asks the peer (Authoritative Server) whether a key it generated is valid. */
  verify(receiving: string, streamId: string, key: string): Promise<'valid' | 'invalid' | 'error'> {
    if (this.isClosed || this.phase === 'done') return Promise.resolve('error');
    return new Promise((resolve) => {
      const request: PendingVerify = { receiving, streamId, key, sent: false, resolve };
      this.verifies.push(request);
      this.touch();
      this.flushVerifies();
    });
  }

  // ---- connecting -----------------------------------------------------------------------

  /** Tries each address in order until one connects. */
  connect(addresses: readonly PeerAddress[]): void {
    if (addresses.length === 0) {
      this.abort({ condition: 'remote-server-not-found', text: `no address found for ${this.remote}` });
      return;
    }
    const next = () => {
      if (this.isClosed || this.phase !== 'connecting') return;
      this.candidate++;
      const address = addresses[this.candidate];
      if (!address) {
        this.abort({ condition: 'remote-server-not-found', text: `cannot connect to ${this.remote}: ${this.lastConnectError || 'no address answered'}` });
        return;
      }
      const socket = address.directTls
        ? tls.connect({ host: address.host, port: address.port, ...this.ctx.tls.clientOptions(this.local, this.remote), ALPNProtocols: ['xmpp-server'] })
        : net.connect({ host: address.host, port: address.port });
      const connectedEvent = address.directTls ? 'secureConnect' : 'connect';
      const onError = (err: Error) => {
        socket.destroy();
        this.lastConnectError = `${address.host}:${address.port}: ${(err as NodeJS.ErrnoException).code ?? err.message}`;
        this.ctx.log.debug({ ...this.logFields, err: this.lastConnectError }, 's2s connect failed');
        next();
      };
      socket.once('error', onError);
      socket.once(connectedEvent, () => {
        socket.off('error', onError);
        if (this.isClosed) {
          socket.destroy();
          return;
        }
        this.tcp = new TcpTransport(socket, null);
        this.attachTransport(this.tcp);
        this.phase = 'negotiating';
        if (address.directTls && !this.checkPeerCertificate()) return;
        this.openStream();
      });
    };
    next();
  }

  private openStream(): void {
    this.headerSent = false;
    this.writeHeader({ from: this.local, to: this.remote });
  }

  protected ensureHeader(): void {
    this.writeHeader({ from: this.local, to: this.remote });
  }

  /** RFC 6120 §13.7.2: the peer's certificate must be valid for its domain, unless the operator said not to check. */
  private checkPeerCertificate(): boolean {
    this.peerVerified = PeerTls.peerIsValidFor(this.tcp?.tlsSocket ?? null, this.remote);
    if (!this.peerVerified && !this.ctx.tls.isInsecure(this.remote)) {
      const reason = this.tcp?.tlsSocket?.authorizationError;
      this.abort({ condition: 'remote-server-not-found', text: `the certificate of ${this.remote} is not valid${reason ? ` (${String(reason)})` : ''}` });
      return false;
    }
    return true;
  }

  // ---- negotiation ----------------------------------------------------------------------

  onStreamStart(header: StreamHeader): void {
    if (this.isClosed) return;
    this.checkHeader(header);
    if (header.attrs.from !== undefined && header.attrs.from !== this.remote) {
      throw new StreamError('invalid-from', `expected a stream from ${this.remote}`);
    }
    // XEP-0220: the key is bound to the ID the Receiving Server gave this stream.
    this.remoteStreamId = header.attrs.id ?? '';
    // Servers from before the dialback stream feature only declare the namespace (RFC 3920).
    this.peerDeclaresDialback = header.attrs['xmlns:db'] === NS_DIALBACK;
    this.state = 'open';
  }

  onElement(element: Element): void {
    if (this.isClosed) return;
    const ns = element.attrs.xmlns;
    if (element.name === 'features' && ns === NS_STREAMS) return this.onFeatures(element);
    if (element.name === 'error' && ns === NS_STREAMS) return this.onStreamErrorReceived(element);
    if (ns === NS_TLS) return this.onTlsAnswer(element);
    if (ns === NS_SASL) return this.onSaslAnswer(element);
    if (ns === NS_DIALBACK && element.name === 'result') return this.onDialbackResult(element);
    if (ns === NS_DIALBACK && element.name === 'verify') return this.onVerifyAnswer(element);
    // Without XEP-0288 a stream carries stanzas one way only; the peer's are not for us.
    throw new StreamError('unsupported-stanza-type', `<${element.name}/> is not expected on this stream`);
  }

  private onFeatures(features: Element): void {
    if (this.phase === 'ready') return;
    this.lastFeatures = features;
    const starttls = features.getChild('starttls', NS_TLS);
    if (!this.secure) {
      if (starttls) {
        this.write(`<starttls xmlns='${NS_TLS}'/>`);
        return;
      }
      if (this.ctx.config.s2s.requireTls) {
        this.abort({ condition: 'remote-server-not-found', text: `${this.remote} does not offer TLS` });
        return;
      }
    }
    if (this.saslDone) {
      this.becomeReady('SASL EXTERNAL');
      return;
    }
    this.dialbackChannel = true;
    const mechanisms = features.getChild('mechanisms', NS_SASL);
    const offersExternal = mechanisms?.getChildren('mechanism').some((m) => m.getText().trim() === 'EXTERNAL') ?? false;
    if (offersExternal && this.secure && !this.triedExternal) {
      this.triedExternal = true;
      // XEP-0178 §3: no authorization identity ("="): the certificate names us.
      this.write(`<auth xmlns='${NS_SASL}' mechanism='EXTERNAL'>=</auth>`);
      return;
    }
    this.startDialback(features);
  }

  private startDialback(features: Element | null): void {
    const offersDialback = this.peerDeclaresDialback || features?.getChild('dialback', NS_DIALBACK_FEATURE) !== undefined;
    if (!offersDialback) {
      this.abort({ condition: 'remote-server-not-found', text: `${this.remote} offers no way to authenticate us` });
      return;
    }
    this.dialbackSent = true;
    const key = dialbackKey(this.ctx.secret, this.remote, this.local, this.remoteStreamId);
    this.write(`<db:result from='${escapeXML(this.local)}' to='${escapeXML(this.remote)}'>${key}</db:result>`);
    this.flushVerifies();
  }

  private onTlsAnswer(element: Element): void {
    if (element.name !== 'proceed') {
      this.abort({ condition: 'remote-server-not-found', text: `${this.remote} refused TLS` });
      return;
    }
    const tcp = this.tcp!;
    this.parser.end();
    this.state = 'header';
    tcp.startTlsClient(this.ctx.tls.clientOptions(this.local, this.remote)).then(
      () => {
        if (this.isClosed) return;
        if (!this.checkPeerCertificate()) return;
        // RFC 6120 §5.4.3.3: a new stream over TLS.
        this.parser = this.createParser(false);
        this.openStream();
      },
      (err: Error) => this.abort({ condition: 'remote-server-not-found', text: `TLS with ${this.remote} failed: ${err.message}` }),
    );
  }

  private onSaslAnswer(element: Element): void {
    if (element.name === 'success') {
      this.saslDone = true;
      this.dialbackChannel = false;
      // RFC 6120 §6.4.6: restart the stream.
      this.state = 'header';
      this.parser.reset();
      this.openStream();
      return;
    }
    // Failure (their policy or our certificate): dialback may still work (XEP-0178 §4).
    this.ctx.log.debug({ ...this.logFields, answer: element.name }, 'SASL EXTERNAL refused; trying dialback');
    this.startDialback(this.lastFeatures);
  }

  private onDialbackResult(result: Element): void {
    if (result.attrs.from !== this.remote || result.attrs.to !== this.local) return;
    const type = result.attrs.type;
    if (type === 'valid') {
      this.becomeReady('dialback');
    } else if (type === 'invalid') {
      // XEP-0220 §2.1.1: queued stanzas return with internal-server-error.
      this.abort({ condition: 'internal-server-error', text: `${this.remote} rejected our dialback key` });
    } else {
      this.abort({ condition: 'remote-server-timeout', text: `${this.remote} answered dialback with an error` });
    }
  }

  private onVerifyAnswer(answer: Element): void {
    const type = answer.attrs.type;
    // XEP-0220 §2.1.2: from, to and id must match a request sent on this stream.
    const index = this.verifies.findIndex(
      (v) => v.sent && v.streamId === answer.attrs.id && answer.attrs.from === this.remote && answer.attrs.to === v.receiving,
    );
    if (index < 0) return;
    const [request] = this.verifies.splice(index, 1);
    request!.resolve(type === 'valid' ? 'valid' : type === 'invalid' ? 'invalid' : 'error');
  }

  private flushVerifies(): void {
    if (!this.transport || this.isClosed) return;
    if (!(this.phase === 'ready' || (this.dialbackChannel && this.dialbackSent))) return;
    for (const v of this.verifies) {
      if (v.sent) continue;
      v.sent = true;
      this.write(`<db:verify from='${escapeXML(v.receiving)}' to='${escapeXML(this.remote)}' id='${escapeXML(v.streamId)}'>${v.key}</db:verify>`);
    }
  }

  private becomeReady(method: AuthMethod): void {
    if (this.phase === 'ready') return;
    this.phase = 'ready';
    this.method = method;
    clearTimeout(this.deadline);
    this.parser.setLimits({ maxStanzaBytes: this.ctx.config.limits.stanzaBytes });
    this.ctx.log.info({ ...this.logFields, method, tls: this.secure, certificateVerified: this.peerVerified }, 'outbound s2s stream authenticated');
    const queued = this.queue;
    this.queue = [];
    if (queued.length > 0) {
      this.touch();
      for (const stanza of queued) this.ctx.traffic.sent.add(stanza.name);
      this.write(queued.map((s) => s.toString()).join(''));
    }
    this.flushVerifies();
  }

  private onStreamErrorReceived(error: Element): void {
    const name = error.getChildElements().find((c) => c.name !== 'text')?.name ?? 'undefined-condition';
    this.ctx.log.info({ ...this.logFields, condition: name }, 'peer closed the s2s stream with an error');
    this.failure ??= { condition: 'remote-server-not-found', text: `${this.remote} sent stream error ${name}` };
    this.close();
  }

  /** Gives up on the stream: queued stanzas bounce with `failure`. */
  private abort(failure: OutboundFailure): void {
    this.failure ??= failure;
    this.ctx.log.info({ ...this.logFields, reason: failure.text }, 'outbound s2s stream failed');
    this.close();
  }

  protected override idleCloseAllowed(): boolean {
    return this.phase === 'ready' && this.verifies.length === 0;
  }

  protected onClosed(): void {
    this.settle();
  }

  protected override onClosing(): void {
    this.settle();
  }

  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    this.phase = 'done';
    clearTimeout(this.deadline);
    for (const v of this.verifies.splice(0)) v.resolve('error');
    const unsent = this.queue;
    this.queue = [];
    this.hooks.closed(this, unsent, this.failure ?? { condition: 'remote-server-not-found', text: `the stream to ${this.remote} closed` });
  }
}
