// A raw TCP connection for edge-case tests: send exact bytes, read exactly what comes back.
import net from 'node:net';
import tls from 'node:tls';
import { withTimeout } from './xmpp-client.js';

export class RawConnection {
  text = '';
  ended = false;
  private readonly waiters: Array<() => void> = [];
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.text += chunk;
      this.notify();
    });
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.ended = true;
        this.notify();
        resolve();
      });
    });
    socket.on('error', () => undefined);
  }

  static open(host: string, port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port }, () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  /** Direct TLS (XEP-0368) with SNI of `servername`, checked against the test CA. */
  static openTls(host: string, port: number, servername: string, options: tls.ConnectionOptions = {}): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ host, port, servername, ...options }, () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  /** The TLS socket of a connection made with openTls. */
  get tlsSocket(): tls.TLSSocket {
    if (!(this.socket instanceof tls.TLSSocket)) throw new Error('not a TLS connection');
    return this.socket;
  }

  private notify(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  send(data: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }

  /** Resolves when everything received so far matches, e.g. /<\/stream:features>/. */
  async waitFor(pattern: RegExp, ms = 3_000): Promise<string> {
    return withTimeout(
      new Promise<string>((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(this.text);
          if (match) return resolve(match[0]);
          if (this.ended) return reject(new Error(`connection closed without ${pattern}; got: ${this.text}`));
          this.waiters.push(check);
        };
        check();
      }),
      ms,
      `${pattern} (got: ${this.text.slice(-400)})`,
    );
  }

  /** Waits for the server to close the connection and returns the stream error condition, if any. */
  async streamErrorAndClose(ms = 3_000): Promise<string | null> {
    await withTimeout(this.closed, ms, `the server closing the connection (got: ${this.text.slice(-400)})`);
    const match = /<stream:error><([a-z-]+) xmlns=['"]urn:ietf:params:xml:ns:xmpp-streams['"]/.exec(this.text);
    return match ? match[1]! : null;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export function streamHeader(domain: string, options: { version?: string | null; extra?: string } = {}): string {
  const version = options.version === null ? '' : ` version='${options.version ?? '1.0'}'`;
  return `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='${domain}'${version}${options.extra ?? ''}>`;
}

export function plainAuth(username: string, password: string): string {
  const payload = Buffer.from(`\0${username}\0${password}`).toString('base64');
  return `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${payload}</auth>`;
}
