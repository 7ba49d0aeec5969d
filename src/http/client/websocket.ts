// RFC 7395 §3.1–§3.3: the WebSocket handshake at /xmpp-websocket. The client must offer the
// "xmpp" subprotocol; a web page must come from an allowed origin (origins.ts). Each accepted
// connection becomes a client stream like a TCP one (WebSocketFraming).
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import type { ClientFraming } from '../../c2s/framing.js';
import type { XmlLimits } from '../../xml/stream-parser.js';
import type { ClientAddresses } from './client-address.js';
import type { OriginPolicy } from './origins.js';
import { WebSocketFraming } from './websocket-framing.js';

export const WEBSOCKET_PATH = '/xmpp-websocket';

export interface WebSocketOptions {
  accept(framing: ClientFraming): void;
  origins: OriginPolicy;
  addresses: ClientAddresses;
  /** Parser limits before authentication. */
  limits: XmlLimits;
  /** The largest stanza after authentication: a longer message is refused by the WebSocket layer. */
  maxStanzaBytes: number;
  log: Logger;
}

/** Answers a refused upgrade with a plain HTTP response and hangs up. */
export function refuseUpgrade(socket: Duplex, status: number, reason: string, text: string): void {
  if (socket.writable) {
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
    );
  }
  socket.destroy();
}

function offersXmpp(request: IncomingMessage): boolean {
  const header = request.headers['sec-websocket-protocol'];
  if (typeof header !== 'string') return false;
  return header.split(',').some((protocol) => protocol.trim() === 'xmpp');
}

export class WebSocketEndpoint {
  private readonly server: WebSocketServer;

  constructor(private readonly options: WebSocketOptions) {
    this.server = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      // The tokenizer validates UTF-8 as it reads (RFC 6120 §11.6); once is enough.
      skipUTF8Validation: true,
      // Room for the largest stanza plus its framing; the tokenizer enforces the exact limits.
      maxPayload: options.maxStanzaBytes + 4096,
      handleProtocols: (protocols) => (protocols.has('xmpp') ? 'xmpp' : false),
    });
  }

  upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (!this.options.origins.allows(request)) {
      this.options.log.debug({ origin: request.headers.origin }, 'WebSocket from a refused origin');
      refuseUpgrade(socket, 403, 'Forbidden', 'This origin may not open XMPP sessions here.\n');
      return;
    }
    // §3.1: without the xmpp subprotocol this is not an XMPP WebSocket.
    if (!offersXmpp(request)) {
      refuseUpgrade(socket, 400, 'Bad Request', 'Sec-WebSocket-Protocol must include "xmpp" (RFC 7395).\n');
      return;
    }
    const client = this.options.addresses.of(request);
    this.server.handleUpgrade(request, socket, head, (ws) => {
      this.options.accept(new WebSocketFraming(ws, socket, client.address, client.secure, this.options.limits, client.tls));
    });
  }
}
