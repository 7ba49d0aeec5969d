// Bytes in, bytes out over TCP (plain, STARTTLS-upgraded, or direct TLS). Thin on purpose:
// the stream state machine above it knows nothing of sockets.
import type { Socket } from 'node:net';
import tls from 'node:tls';
import type { TlsContexts } from '../tls/certificates.js';

export interface StreamTransport {
  readonly remoteAddress: string;
  readonly secure: boolean;
  readonly canStartTls: boolean;
  /** Bytes queued in the kernel-facing buffer and not yet written. */
  readonly pendingBytes: number;
  onData(listener: (chunk: Buffer) => void): void;
  onClose(listener: () => void): void;
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

export class TcpTransport implements StreamTransport {
  private socket: Socket;
  private pending: string[] = [];
  private flushScheduled = false;
  private dataListener: ((chunk: Buffer) => void) | null = null;
  private closeListener: (() => void) | null = null;
  private closed = false;
  private upgrading = false;
  private endTimer: NodeJS.Timeout | null = null;
  readonly remoteAddress: string;
  secure: boolean;

  constructor(
    socket: Socket,
    private readonly contexts: TlsContexts | null,
  ) {
    this.socket = socket;
    this.secure = socket instanceof tls.TLSSocket;
    this.remoteAddress = normaliseAddress(socket.remoteAddress);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    this.attach(socket);
  }

  get canStartTls(): boolean {
    return !this.secure && this.contexts !== null;
  }

  get pendingBytes(): number {
    return this.socket.writableLength;
  }

  private attach(socket: Socket): void {
    socket.on('data', this.handleData);
    socket.on('error', this.handleError);
    socket.on('close', this.handleClose);
  }

  private detach(socket: Socket): void {
    socket.off('data', this.handleData);
    socket.off('error', this.handleError);
    socket.off('close', this.handleClose);
  }

  private readonly handleData = (chunk: Buffer): void => {
    if (this.upgrading) return; // plaintext after <starttls/> is discarded (injection defence)
    this.dataListener?.(chunk);
  };

  private readonly handleError = (): void => {
    // Resets, TLS alerts and the like: the stream just ends.
    this.socket.destroy();
  };

  private readonly handleClose = (): void => {
    if (this.closed) return;
    this.closed = true;
    if (this.endTimer) clearTimeout(this.endTimer);
    this.pending = [];
    this.closeListener?.();
  };

  onData(listener: (chunk: Buffer) => void): void {
    this.dataListener = listener;
  }

  onClose(listener: () => void): void {
    this.closeListener = listener;
  }

  write(text: string): void {
    if (this.closed) return;
    this.pending.push(text);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.scheduledFlush);
    }
  }

  private readonly scheduledFlush = (): void => {
    this.flushScheduled = false;
    this.flush();
  };

  flush(): void {
    if (this.pending.length === 0 || this.closed || this.upgrading) return;
    const text = this.pending.length === 1 ? this.pending[0]! : this.pending.join('');
    this.pending = [];
    this.socket.write(text);
  }

  startTls(): Promise<void> {
    if (!this.contexts) return Promise.reject(new Error('TLS is not configured'));
    this.flush();
    this.upgrading = true;
    const raw = this.socket;
    this.detach(raw);
    const contexts = this.contexts;
    return new Promise((resolve, reject) => {
      const secured = new tls.TLSSocket(raw, { isServer: true, ...contexts.serverOptions() });
      const fail = (err: Error) => {
        secured.destroy();
        reject(err);
      };
      secured.once('error', fail);
      secured.once('secure', () => {
        secured.off('error', fail);
        this.socket = secured;
        this.secure = true;
        this.upgrading = false;
        this.attach(secured);
        resolve();
      });
      // If the raw socket dies mid-handshake, report the close.
      raw.once('close', () => {
        if (this.upgrading) {
          this.upgrading = false;
          this.handleClose();
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
    this.endTimer = setTimeout(() => this.socket.destroy(), graceMs);
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
