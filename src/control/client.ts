// The command line's side of the control socket.
import net from 'node:net';
import { ServiceError } from '../services/errors.js';
import type { ControlResponse } from './protocol.js';

export class ControlClient {
  private buffered = '';
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffered += chunk;
      let newline: number;
      while ((newline = this.buffered.indexOf('\n')) >= 0) {
        const response = JSON.parse(this.buffered.slice(0, newline)) as ControlResponse;
        this.buffered = this.buffered.slice(newline + 1);
        const pending = this.waiting.get(response.id);
        if (!pending) continue;
        this.waiting.delete(response.id);
        if ('error' in response) {
          const { code, message, field } = response.error;
          pending.reject(code === 'bad-request' || code === 'internal' ? new Error(message) : new ServiceError(code, message, field));
        } else {
          pending.resolve(response.result);
        }
      }
    });
    const failAll = () => {
      for (const pending of this.waiting.values()) pending.reject(new Error('the server closed the control connection'));
      this.waiting.clear();
    };
    socket.on('close', failAll);
    socket.on('error', failAll);
  }

  /** Connects, or returns null when no server listens on the socket. */
  static connect(path: string): Promise<ControlClient | null> {
    return new Promise((resolve) => {
      const socket = net.connect(path);
      socket.once('connect', () => {
        socket.removeAllListeners('error');
        resolve(new ControlClient(socket));
      });
      socket.once('error', () => resolve(null));
    });
  }

  call<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.socket.write(JSON.stringify({ id, method, params }) + '\n');
    });
  }

  close(): void {
    this.socket.end();
  }
}
