// Structured logs (pino): JSON lines on stdout, pretty when stdout is a terminal, one child
// logger per component with its own level (config `log.components`).
// Never log passwords, tokens or message bodies at info or above: call sites pass addresses,
// ids and conditions, never stanzas or request bodies. The redaction and the error
// serializer below are the safety net for what a call site gets wrong.
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The components whose loggers `log.components` can set a level for. */
export const LOG_COMPONENTS = ['c2s', 's2s', 'router', 'hooks', 'modules', 'storage', 'control', 'admin', 'cluster', 'http', 'component'] as const;
export type LogComponent = (typeof LOG_COMPONENTS)[number];
export type ComponentLevels = Partial<Record<LogComponent, LogLevel>>;

/**
 * Keys that name secrets, censored wherever a log call passes them (top level or one object
 * down, and in request headers). `stanza` is here because a logged stanza carries its body.
 */
export const REDACT_PATHS = [
  'password', '*.password', 'token', '*.token', 'secret', '*.secret',
  'authorization', '*.authorization', '*.headers.authorization', '*.headers.cookie',
  'body', '*.body', 'stanza', '*.stanza',
];

export function createLogger(level: LogLevel, options: { pretty?: boolean; destination?: NodeJS.WritableStream } = {}): Logger {
  const usePretty = options.pretty ?? Boolean(process.stdout.isTTY);
  const base = {
    level,
    base: { pid: process.pid },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: { err: serializeError, error: serializeError },
  };
  if (usePretty) return pino(base, pretty({ colorize: true, destination: 1, sync: true }));
  return options.destination ? pino(base, options.destination) : pino(base, pino.destination({ sync: false }));
}

/** The logger of one component, at its configured level (else the root's). */
export function componentLogger(root: Logger, component: LogComponent, levels: ComponentLevels): Logger {
  const level = levels[component];
  return level ? root.child({ component }, { level }) : root.child({ component });
}

/**
 * pino's error serializer copies every enumerable property of an error (nested errors
 * serialized the same way). Database drivers attach what they were given: PGlite the
 * statement's parameters (message bodies, credential keys), PostgreSQL "Failing row contains
 * (…)" with the whole row. Those are dropped, in the error and in the errors it carries.
 */
export function serializeError(value: unknown): unknown {
  if (!(value instanceof Error)) return value;
  const serialized = pino.stdSerializers.err(value) as unknown as Record<string, unknown>;
  scrub(serialized, value, 0);
  return serialized;
}

/** Scrubs the serializer's copies only (of errors it serialized), never the caller's objects. */
function scrub(copy: Record<string, unknown>, original: Error, depth: number): void {
  delete copy.params;
  delete copy.queryOptions;
  if (typeof copy.detail === 'string' && copy.detail.startsWith('Failing row contains')) copy.detail = '[redacted]';
  if (depth >= 8) return;
  const source = original as unknown as Record<string, unknown>;
  for (const [key, inner] of Object.entries(copy)) {
    if (source[key] instanceof Error && inner && typeof inner === 'object') scrub(inner as Record<string, unknown>, source[key], depth + 1);
  }
  const errors = source.errors;
  if (Array.isArray(errors) && Array.isArray(copy.aggregateErrors)) {
    copy.aggregateErrors.forEach((inner: unknown, i) => {
      if (errors[i] instanceof Error && inner && typeof inner === 'object') scrub(inner as Record<string, unknown>, errors[i], depth + 1);
    });
  }
}
