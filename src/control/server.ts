// The control socket: while the server runs, the command line reaches the running
// service layer through it (PGlite allows one process per data directory).
// Mode 0600 in the data directory: access to the data directory is the authority.
import { existsSync, unlinkSync, chmodSync } from 'node:fs';
import net from 'node:net';
import type { Logger } from 'pino';
import { ServiceError } from '../services/errors.js';
import { MAX_CONTROL_LINE_BYTES, type ControlRequest, type ControlResponse } from './protocol.js';

export type ControlMethod = (params: Record<string, unknown>) => Promise<unknown>;

export class ControlServer {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    private readonly path: string,
    private readonly methods: Readonly<Record<string, ControlMethod>>,
    private readonly log: Logger,
  ) {}

  async listen(): Promise<void> {
    if (existsSync(this.path)) {
      if (await isAnswering(this.path)) throw new Error(`another Hearth is already running with this data directory (${this.path})`);
      unlinkSync(this.path); // left over from a process that died
    }
    const server = net.createServer((socket) => this.accept(socket));
    const previousMask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.path, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(previousMask);
    }
    chmodSync(this.path, 0o600);
    this.server = server;
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffered = '';
    let queue = Promise.resolve();
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      if (buffered.length > MAX_CONTROL_LINE_BYTES) {
        socket.end(JSON.stringify({ id: 0, error: { code: 'bad-request', message: 'request too large' } }) + '\n');
        buffered = '';
        return;
      }
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        // Requests on one connection are answered in order.
        queue = queue.then(() => this.handle(line)).then((response) => {
          if (!socket.destroyed) socket.write(JSON.stringify(response) + '\n');
        });
      }
    });
  }

  private async handle(line: string): Promise<ControlResponse> {
    let request: ControlRequest;
    try {
      request = JSON.parse(line) as ControlRequest;
    } catch {
      return { id: 0, error: { code: 'bad-request', message: 'not JSON' } };
    }
    const id = typeof request.id === 'number' ? request.id : 0;
    const method = typeof request.method === 'string' ? this.methods[request.method] : undefined;
    if (!method || !Object.prototype.hasOwnProperty.call(this.methods, request.method)) {
      return { id, error: { code: 'bad-request', message: `unknown method ${String(request.method)}` } };
    }
    const params = request.params && typeof request.params === 'object' ? request.params : {};
    try {
      const result = await method(params);
      // Every administrative action leaves a trace; the parameters may hold passwords.
      if (request.method !== 'ping') this.log.info({ method: request.method }, 'control request');
      return { id, result };
    } catch (err) {
      if (err instanceof ServiceError) return { id, error: { code: err.code, message: err.message, field: err.field } };
      this.log.error({ err, method: request.method }, 'control request failed');
      return { id, error: { code: 'internal', message: 'internal error, see the server log' } };
    }
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}

/** True when a process accepts connections on the socket. */
export function isAnswering(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
