// Bytes in, bytes out over TCP (plain, STARTTLS-upgraded, or direct TLS). Thin on purpose:
// the stream state machine above it knows nothing of sockets.
import type { Socket } from 'node:net';
import tls from 'node:tls';

/** Where server-side TLS options come from (TlsContexts, or a variant asking for a client certificate). */
export interface TlsServerOptionsSource {
  serverOptions(): tls.TlsOptions;
}

export interface TransportListener {
  onTransportData(chunk: Buffer): void;
  onTransportClose(): void;
}

export interface StreamTransport {
  readonly remoteAddress: string;
  readonly secure: boolean;
  readonly canStartTls: boolean;
  /** Bytes queued in the kernel-facing buffer and not yet written. */
  readonly pendingBytes: number;
  /** The TLS socket once secured (channel bindings, peer certificates), else null. */
  readonly tlsSocket: tls.TLSSocket | null;
  /** Who receives the bytes and the close; one listener per transport. */
  attach(listener: TransportListener): void;
  /** Queues text; writes are coalesced and flushed once per event-loop turn. */
  write(text: string): void;
  /** Writes queued text now (before a TLS upgrade or a close). */
  flush(): void;
  /** RFC 6120 §5.4.3.3: upgrades to TLS after <proceed/>; plaintext read before it is discarded. */
  startTls(sni?: string): Promise<void>;
  pause(): void;
  resume(): void;
  /** Flushes and half-closes; destroys after a grace period if the peer does not close. */
  end(graceMs?: number): void;
  destroy(): void;
}

const TRANSPORT = Symbol('hearth.transport');
type OwnedSocket = Socket & { [TRANSPORT]?: TcpTransport };

// Socket listeners are shared functions that find their transport through the socket, so an
// idle connection carries no closures of its own (memory per connection is a design target).
function onSocketData(this: OwnedSocket, chunk: Buffer): void {
  this[TRANSPORT]?.received(chunk);
}
function onSocketError(this: OwnedSocket): void {
  // Resets, TLS alerts and the like: the stream just ends.
  this.destroy();
}
function onSocketClose(this: OwnedSocket): void {
  this[TRANSPORT]?.closedBySocket();
}

/**
 * Transports with queued output. One setImmediate flushes all of them once per event-loop
 * turn, so every stanza routed while handling one read leaves in a single write per socket.
 */
const dirty = new Set<TcpTransport>();
let flushScheduled = false;
/** Queued writes that are flushed at once rather than at the end of the turn. */
const FLUSH_EARLY_AT = 32;
function flushDirty(): void {
  flushScheduled = false;
  for (const transport of dirty) transport.flush();
  dirty.clear();
}

export class TcpTransport implements StreamTransport {
  private socket: OwnedSocket;
  private pending: string[] | null = null;
  private listener: TransportListener | null = null;
  private closed = false;
  private upgrading = false;
  private endTimer: NodeJS.Timeout | null = null;
  readonly remoteAddress: string;
  secure: boolean;

  constructor(
    socket: Socket,
    private readonly contexts: TlsServerOptionsSource | null,
  ) {
    this.socket = socket;
    this.secure = socket instanceof tls.TLSSocket;
    this.remoteAddress = normaliseAddress(socket.remoteAddress);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    this.own(socket);
  }

  get canStartTls(): boolean {
    return !this.secure && this.contexts !== null;
  }

  /** The TLS socket once secured (peer certificates), else null. */
  get tlsSocket(): tls.TLSSocket | null {
    return this.socket instanceof tls.TLSSocket ? this.socket : null;
  }

  get pendingBytes(): number {
    return this.socket.writableLength;
  }

  private own(socket: OwnedSocket): void {
    socket[TRANSPORT] = this;
    socket.on('data', onSocketData);
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
  }

  private disown(socket: OwnedSocket): void {
    socket[TRANSPORT] = undefined;
    socket.off('data', onSocketData);
    socket.off('error', onSocketError);
    socket.off('close', onSocketClose);
  }

  /** Called by the socket listener. */
  received(chunk: Buffer): void {
    if (this.upgrading) return; // plaintext after <starttls/> is discarded (injection defence)
    this.listener?.onTransportData(chunk);
  }

  /** Called by the socket listener. */
  closedBySocket(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.endTimer) clearTimeout(this.endTimer);
    this.pending = null;
    dirty.delete(this);
    this.listener?.onTransportClose();
  }

  attach(listener: TransportListener): void {
    this.listener = listener;
  }

  write(text: string): void {
    if (this.closed) return;
    if (this.pending === null) {
      this.pending = [text];
      dirty.add(this);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushDirty);
      }
    } else {
      this.pending.push(text);
      // A long run of work without an event-loop turn (a PEP fan-out) would otherwise hold
      // everything until it ends: write out every so many stanzas.
      if (this.pending.length >= FLUSH_EARLY_AT) this.flush();
    }
  }

  flush(): void {
    const pending = this.pending;
    if (pending === null || this.closed || this.upgrading) return;
    this.pending = null;
    dirty.delete(this);
    this.socket.write(pending.length === 1 ? pending[0]! : pending.join(''));
  }

  startTls(): Promise<void> {
    if (!this.contexts) return Promise.reject(new Error('TLS is not configured'));
    const options = this.contexts.serverOptions();
    return this.upgrade((raw) => new tls.TLSSocket(raw, { isServer: true, ...options }), 'secure');
  }

  /** The initiating side of STARTTLS (outbound server streams, RFC 6120 §5.4.3.3). */
  startTlsClient(options: tls.ConnectionOptions): Promise<void> {
    return this.upgrade((raw) => tls.connect({ ...options, socket: raw }), 'secureConnect');
  }

  private upgrade(wrap: (raw: Socket) => tls.TLSSocket, readyEvent: 'secure' | 'secureConnect'): Promise<void> {
    this.flush();
    this.upgrading = true;
    const raw = this.socket;
    this.disown(raw);
    return new Promise((resolve, reject) => {
      const secured = wrap(raw);
      const fail = (err: Error) => {
        secured.destroy();
        reject(err);
      };
      secured.once('error', fail);
      secured.once(readyEvent, () => {
        secured.off('error', fail);
        this.socket = secured;
        this.secure = true;
        this.upgrading = false;
        this.own(secured);
        resolve();
      });
      // If the raw socket dies mid-handshake, report the close.
      raw.once('close', () => {
        if (this.upgrading) {
          this.upgrading = false;
          this.closedBySocket();
        }
      });
    });
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  end(graceMs = 2_000): void {
    if (this.closed) return;
    this.flush();
    this.socket.end();
    const socket = this.socket;
    this.endTimer = setTimeout(() => socket.destroy(), graceMs);
    this.endTimer.unref();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** "::ffff:127.0.0.1" → "127.0.0.1", so limits keyed by address treat both forms alike. */
export function normaliseAddress(address: string | undefined): string {
  if (!address) return 'unknown';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
