// The admin API's own listener(s) (admin.listen, default 127.0.0.1:5281).
import http from 'node:http';
import type { RequestListener } from 'node:http';
import type { Logger } from 'pino';
import { ListenerGroup } from '../../core/listen.js';
import { answerMalformedRequests, closeHttpServers } from '../http-server.js';

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
      answerMalformedRequests(server, this.log, 'admin');
      await this.listeners.add(server, spec, 'admin');
    }
  }

  /** Stops listening and drops every connection (keep-alive ones too). */
  async close(): Promise<void> {
    await closeHttpServers(this.listeners.servers);
  }
}
