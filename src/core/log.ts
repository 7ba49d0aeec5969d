// Structured logs (pino): JSON lines on stdout, pretty when stdout is a terminal.
// Never log passwords, tokens or message bodies at info or above.
import { pino, type Logger, type Level } from 'pino';
import pretty from 'pino-pretty';

export function createLogger(level: Level | 'silent', options: { pretty?: boolean; destination?: NodeJS.WritableStream } = {}): Logger {
  const usePretty = options.pretty ?? Boolean(process.stdout.isTTY);
  const base = { level, base: { pid: process.pid }, redact: ['password', '*.password', 'token', '*.token'] };
  if (usePretty) return pino(base, pretty({ colorize: true, destination: 1, sync: true }));
  return options.destination ? pino(base, options.destination) : pino(base, pino.destination({ sync: false }));
}
