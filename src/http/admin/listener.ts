// The admin API's own listener(s) (admin.listen, default 127.0.0.1:5281).
import http from 'node:http';
import type { RequestListener } from 'node:http';
import type { Logger } from 'pino';
import { ListenerGroup } from '../../core/listen.js';

/** Slow or idle clients do not hold connections: the API answers in milliseconds. */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
const MAX_HEADER_BYTES = 16 * 1024;

export class AdminListener {
  private readonly listeners: ListenerGroup<'admin', http.Server>;

  constructor(
    private readonly handler: RequestListener,
    private readonly specs: readonly string[],
    private readonly log: Logger,
  ) {
    this.listeners = new ListenerGroup(log);
  }

  /** e.g. "admin 127.0.0.1:5281", for the "ready" log line. */
  get addresses(): readonly string[] {
    return this.listeners.addresses;
  }

  get bound(): ListenerGroup<'admin'>['bound'] {
    return this.listeners.bound;
  }

  async listen(): Promise<void> {
    for (const spec of this.specs) {
      const server = http.createServer(
        { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, maxHeaderSize: MAX_HEADER_BYTES },
        this.handler,
      );
      server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
      server.on('clientError', (err, socket) => {
        // Malformed HTTP: answer 400 and hang up; never an exception.
        this.log.debug({ err: err.message }, 'malformed admin request');
        if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        else socket.destroy();
      });
      await this.listeners.add(server, spec, 'admin');
    }
  }

  /** Stops listening and drops every connection (keep-alive ones too). */
  async close(): Promise<void> {
    const closing = this.listeners.servers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    );
    await Promise.all(closing);
  }
}
