// Binding a listener from a "host:port" config string, shared by every transport.
import type net from 'node:net';
import type { Logger } from 'pino';

export interface ListenAddress {
  host: string;
  port: number;
}

/** "*:5222" → all interfaces; "[::1]:5222" and "127.0.0.1:5222" as written. */
export function parseListenAddress(spec: string): ListenAddress {
  const colon = spec.lastIndexOf(':');
  let host = spec.slice(0, colon);
  const port = Number(spec.slice(colon + 1));
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host, port };
}

/**
 * Starts `server` listening on `spec` and resolves with the bound address. "*" means all
 * interfaces, IPv4 and IPv6 (dual-stack "::"); hosts without IPv6 fall back to IPv4.
 */
export async function listenOn(server: net.Server, spec: string): Promise<{ host: string; port: number; display: string }> {
  const { host, port } = parseListenAddress(spec);
  const attempt = (h: string) =>
    new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      server.once('error', onError);
      server.listen({ host: h, port }, () => {
        server.off('error', onError);
        resolve();
      });
    });
  if (host === '*') {
    try {
      await attempt('::');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') throw err;
      await attempt('0.0.0.0');
    }
  } else {
    await attempt(host);
  }
  const address = server.address() as net.AddressInfo;
  const display = `${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  return { host: address.address, port: address.port, display };
}

/**
 * The listeners of one transport: binds each, and keeps what the "ready" line, the tests and
 * shutdown need (addresses as text, bound host and port per kind, the servers to close).
 */
export class ListenerGroup<Kind extends string, S extends net.Server = net.Server> {
  readonly servers: S[] = [];
  /** e.g. "c2s 127.0.0.1:5222". */
  readonly addresses: string[] = [];
  readonly bound: Array<{ kind: Kind; host: string; port: number }> = [];

  constructor(private readonly log: Logger) {}

  async add(server: S, spec: string, kind: Kind): Promise<void> {
    server.on('error', (err) => this.log.error({ err }, `${kind} listener error`));
    const bound = await listenOn(server, spec);
    this.addresses.push(`${kind} ${bound.display}`);
    this.bound.push({ kind, host: bound.host, port: bound.port });
    this.servers.push(server);
  }

  /** Stops accepting; open connections stay until they close. */
  stopAccepting(): void {
    for (const server of this.servers) server.close();
  }
}
