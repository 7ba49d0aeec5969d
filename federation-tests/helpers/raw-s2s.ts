// A hand-driven server-to-server peer: exact bytes out, everything received kept as text.
// It speaks just enough RFC 6120 (stream, STARTTLS, SASL EXTERNAL per XEP-0178) and
// XEP-0220 (dialback) for the failure-path tests to play a misbehaving remote server.
import net from 'node:net';
import tls from 'node:tls';
import { withTimeout } from './xmpp.js';

export const NS_STREAMS = 'http://etherx.jabber.org/streams';

export interface RawS2sOptions {
  /** Where to connect (the server under test's s2s listener). */
  host: string;
  port?: number;
  /** Local address to connect from (127.0.0.150–179). */
  localAddress?: string;
}

export class RawS2s {
  text = '';
  /** Text received since the last TLS upgrade or stream restart began (the current stream). */
  private mark = 0;
  ended = false;
  private socket: net.Socket;
  private readonly waiters = new Set<() => void>();
  closed!: Promise<void>;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.attach(socket);
  }

  static open(options: RawS2sOptions): Promise<RawS2s> {
    return withTimeout(
      new Promise<RawS2s>((resolve, reject) => {
        const socket = net.connect({ host: options.host, port: options.port ?? 5269, localAddress: options.localAddress }, () => {
          socket.removeListener('error', reject);
          resolve(new RawS2s(socket));
        });
        socket.once('error', reject);
      }),
      5_000,
      `TCP connect to ${options.host}:${options.port ?? 5269}`,
    );
  }

  private attach(socket: net.Socket): void {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.text += chunk;
      this.notify();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        if (socket === this.socket) {
          this.ended = true;
          this.notify();
        }
        resolve();
      });
    });
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /** What arrived on the current stream (since the last restart). */
  get current(): string {
    return this.text.slice(this.mark);
  }

  send(data: string): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }

  /** Waits until the current stream's text matches; returns the match. */
  waitFor(pattern: RegExp, ms = 10_000): Promise<RegExpExecArray> {
    return new Promise<RegExpExecArray>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      const check = () => {
        const match = pattern.exec(this.current);
        if (match) {
          done();
          resolve(match);
        } else if (this.ended) {
          done();
          reject(new Error(`connection closed without ${pattern}; received: ${this.text.slice(-800)}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${ms} ms waiting for ${pattern}; received: ${this.text.slice(-800)}`));
      }, ms);
      this.waiters.add(check);
      check();
    });
  }

  /** Sends a new stream header (RFC 6120 §4.2) and waits for the features of that stream. */
  async openStream(from: string, to: string, options: { dialbackNs?: boolean } = {}): Promise<string> {
    this.mark = this.text.length;
    const db = options.dialbackNs === false ? '' : ` xmlns:db='jabber:server:dialback'`;
    this.send(`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='${NS_STREAMS}'${db} from='${from}' to='${to}' version='1.0'>`);
    const [features] = await this.waitFor(/<stream:features\s*\/>|<stream:features[\s\S]*?<\/stream:features>/);
    return features;
  }

  /**
   * STARTTLS (RFC 6120 §5.4) and the TLS handshake, presenting `cert`/`key` as the client
   * certificate when given, verifying the server against `ca` for `servername`.
   */
  async startTls(options: { servername: string; ca: string; cert?: string; key?: string }): Promise<tls.TLSSocket> {
    this.send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`);
    await this.waitFor(/<proceed[^>]*xmlns=['"]urn:ietf:params:xml:ns:xmpp-tls['"][^>]*\/>|<proceed[^>]*><\/proceed>/);
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    const secure = await withTimeout(
      new Promise<tls.TLSSocket>((resolve, reject) => {
        const s = tls.connect({ socket: plain, servername: options.servername, ca: [options.ca], cert: options.cert, key: options.key, minVersion: 'TLSv1.2' }, () => resolve(s));
        s.once('error', reject);
      }),
      10_000,
      'the TLS handshake',
    );
    this.socket = secure;
    this.mark = this.text.length;
    this.attach(secure);
    return secure;
  }

  /** SASL EXTERNAL (XEP-0178 §3): `=` means "the identity of my certificate". */
  async saslExternal(authzid = '='): Promise<'success' | string> {
    this.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>${authzid}</auth>`);
    const [outcome] = await this.waitFor(/<success[^>]*\/>|<success[^>]*>[\s\S]*?<\/success>|<failure[\s\S]*?<\/failure>/);
    return outcome.startsWith('<success') ? 'success' : outcome;
  }

  /** Waits for the peer to close the connection; returns the stream error condition, if any. */
  async streamErrorAndClose(ms = 10_000): Promise<{ condition: string | null; text: string }> {
    await withTimeout(this.closed, ms, `the server closing the connection (received: ${this.text.slice(-800)})`);
    return { condition: streamErrorCondition(this.text), text: this.text };
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** The defined condition of the first <stream:error/> in the text (RFC 6120 §4.9.3). */
export function streamErrorCondition(text: string): string | null {
  const error = /<stream:error[^>]*>([\s\S]*?)<\/stream:error>/.exec(text);
  if (!error) return null;
  const condition = /<([a-z-]+)[^>]*xmlns=['"]urn:ietf:params:xml:ns:xmpp-streams['"]/.exec(error[1]!);
  return condition ? condition[1]! : 'unknown';
}
