// A raw RFC 7395 connection for framing tests: exact messages in and out, no client library.
import { WebSocket } from 'ws';
import { withTimeout } from './xmpp-client.js';

export const NS_FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';

export interface RawWebSocketOptions {
  origin?: string;
  protocols?: string[];
  headers?: Record<string, string>;
  /** Answer ping frames (default true, as every WebSocket client does). */
  autoPong?: boolean;
  /** wss: the name the server's certificate is checked against (SNI). */
  servername?: string;
}

export class RawWebSocket {
  /** Every text message received, in order. */
  readonly messages: string[] = [];
  ended = false;
  closeCode = 0;
  readonly closed: Promise<void>;
  private readonly waiters: Array<() => void> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      this.messages.push(isBinary ? `[binary ${String(data)}]` : String(data));
      this.notify();
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code) => {
        this.ended = true;
        this.closeCode = code;
        this.notify();
        resolve();
      });
    });
    ws.on('error', () => undefined);
  }

  /** Opens the WebSocket; rejects with the HTTP status when the handshake is refused. */
  static open(url: string, options: RawWebSocketOptions = {}): Promise<RawWebSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, options.protocols ?? ['xmpp'], {
        origin: options.origin,
        headers: options.headers,
        autoPong: options.autoPong ?? true,
        // Passed on to tls.connect (not in ws's own option types).
        ...({ servername: options.servername } as object),
      });
      ws.once('open', () => resolve(new RawWebSocket(ws)));
      ws.once('unexpected-response', (_request, response) => {
        reject(Object.assign(new Error(`handshake refused with ${response.statusCode}`), { status: response.statusCode }));
        ws.terminate();
      });
      ws.once('error', reject);
    });
  }

  private notify(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  send(data: string | Buffer, binary = false): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(data, { binary });
  }

  /** Waits for a message after index `from` that matches; resolves with it. */
  async waitFor(pattern: RegExp, from = 0, ms = 3_000): Promise<string> {
    return withTimeout(
      new Promise<string>((resolve, reject) => {
        const check = () => {
          const found = this.messages.slice(from).find((m) => pattern.test(m));
          if (found !== undefined) return resolve(found);
          if (this.ended) return reject(new Error(`connection closed before ${pattern}; got ${JSON.stringify(this.messages.slice(from))}`));
          this.waiters.push(check);
        };
        check();
      }),
      ms,
      `a message matching ${pattern}; got ${JSON.stringify(this.messages.slice(from))}`,
    );
  }

  /** Sends and waits for the next matching message. */
  async request(data: string, pattern: RegExp, ms = 3_000): Promise<string> {
    const from = this.messages.length;
    this.send(data);
    return this.waitFor(pattern, from, ms);
  }

  async waitClosed(ms = 3_000): Promise<void> {
    await withTimeout(this.closed, ms, 'the WebSocket to close');
  }

  close(): void {
    this.ws.terminate();
  }
}

export function openElement(domain: string, extra = ''): string {
  return `<open xmlns='${NS_FRAMING}' to='${domain}' version='1.0'${extra}/>`;
}
