// What the admin and the client HTTP listeners share: malformed requests answered, not thrown,
// and a stop that leaves no connection behind.
import type http from 'node:http';
import type { Logger } from 'pino';

/** Malformed HTTP gets 400 and a hang-up; never an exception. */
export function answerMalformedRequests(server: http.Server, log: Logger, what: string): void {
  server.on('clientError', (err, socket) => {
    log.debug({ err: err.message }, `malformed ${what} request`);
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
}

/** Stops listening and drops every connection left (keep-alive ones too). */
export async function closeHttpServers(servers: http.Server[]): Promise<void> {
  await Promise.all(
    servers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    ),
  );
}
