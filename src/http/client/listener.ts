// The client-facing HTTP listeners: http.listen (plain) and http.tlsListen (TLS, the domains'
// certificates chosen by SNI). One express app answers requests; WebSocket upgrades go to
// the RFC 7395 endpoint. Separate from the admin app, which stays on loopback.
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { ListenerGroup } from '../../core/listen.js';
import { answerMalformedRequests, closeHttpServers } from '../http-server.js';
import type { TlsServerOptionsSource } from '../../c2s/transport.js';
import { refuseUpgrade, WEBSOCKET_PATH, type WebSocketEndpoint } from './websocket.js';

const HEADERS_TIMEOUT_MS = 10_000;
/** Time to receive a whole request (BOSH bodies are small; long polls wait on the response). */
const REQUEST_TIMEOUT_MS = 30_000;
const KEEP_ALIVE_TIMEOUT_MS = 65_000;
const MAX_HEADER_BYTES = 16 * 1024;

export interface ClientHttpOptions {
  listen: readonly string[];
  tlsListen: readonly string[];
  tls: TlsServerOptionsSource;
  handshakeTimeoutMs: number;
  log: Logger;
}

export class ClientHttpListener {
  private readonly listeners: ListenerGroup<'http' | 'https', http.Server>;

  constructor(
    private readonly app: http.RequestListener,
    private readonly websocket: WebSocketEndpoint,
    private readonly options: ClientHttpOptions,
  ) {
    this.listeners = new ListenerGroup(options.log);
  }

  /** e.g. "http 127.0.0.1:5280", for the "ready" line. */
  get addresses(): readonly string[] {
    return this.listeners.addresses;
  }

  get bound(): ListenerGroup<'http' | 'https'>['bound'] {
    return this.listeners.bound;
  }

  async listen(): Promise<void> {
    const serverOptions = { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, maxHeaderSize: MAX_HEADER_BYTES };
    for (const spec of this.options.listen) {
      await this.listeners.add(this.prepare(http.createServer(serverOptions, this.app)), spec, 'http');
    }
    for (const spec of this.options.tlsListen) {
      const server = https.createServer(
        { ...serverOptions, ...this.options.tls.serverOptions(), handshakeTimeout: this.options.handshakeTimeoutMs },
        this.app,
      );
      server.on('tlsClientError', (err) => this.options.log.debug({ err: err.message }, 'TLS handshake failed'));
      await this.listeners.add(this.prepare(server), spec, 'https');
    }
  }

  private prepare<S extends http.Server>(server: S): S {
    server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
    answerMalformedRequests(server, this.options.log, 'HTTP');
    server.on('upgrade', (request: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => socket.destroy());
      const path = (request.url ?? '').split('?')[0];
      if (path !== WEBSOCKET_PATH) {
        refuseUpgrade(socket, 404, 'Not Found', `WebSocket connections are served at ${WEBSOCKET_PATH}.\n`);
        return;
      }
      this.websocket.upgrade(request, socket, head);
    });
    return server;
  }

  stopAccepting(): void {
    this.listeners.stopAccepting();
  }

  /** Stops listening and drops every connection left (call once the streams are closed). */
  async close(): Promise<void> {
    await closeHttpServers(this.listeners.servers);
  }
}
