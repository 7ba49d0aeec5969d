// What every `hearth` subcommand shares: its parsed options, usage errors, and the two ways
// to reach the service layer (contract.md): through the running server's control socket,
// or, when no server runs, on the database directly.
import type { Config } from '../config.js';
import { ControlClient } from '../control/client.js';
import { controlSocketPath, DataDirLock, ensureDataDir } from '../core/data-dir.js';
import { createDatabaseServices, type DatabaseServices } from '../services/index.js';
import { createStores, migrateToLatest, openDatabase } from '../storage/index.js';

/** Options of the command line (node:util parseArgs), one set for every command. */
export interface CliOptions {
  config?: string;
  help?: boolean;
  password?: string;
  domain?: string;
  name?: string;
  scope?: string;
  from?: string;
  to?: string;
  body?: string;
  type?: string;
  subject?: string;
  group?: string[];
  subscription?: string;
  json?: boolean;
  workers?: string;
  description?: string;
  'members-only'?: boolean;
  hidden?: boolean;
  owner?: string[];
  reason?: string;
  account?: string;
  admin?: boolean;
  ttl?: string;
  contact?: string;
  qr?: boolean;
}

/** A mistake in how the command was called: exit 2, with the usage. */
export class UsageError extends Error {}

/** A failure to report in one line: exit 1. */
export class CommandFailure extends Error {}

export function expectArgs(args: readonly string[], min: number, max = min): void {
  if (args.length < min || args.length > max) {
    const wanted = min === max ? `${min}` : `${min} to ${max}`;
    throw new UsageError(`expected ${wanted} argument(s), got ${args.length}`);
  }
}

/** Refuses options that mean nothing to this command (a typo must not pass silently). */
export function allowOptions(options: CliOptions, command: string, allowed: ReadonlyArray<keyof CliOptions>): void {
  for (const key of Object.keys(options) as Array<keyof CliOptions>) {
    if (key === 'config' || key === 'help' || options[key] === undefined) continue;
    if (!allowed.includes(key)) throw new UsageError(`--${key} does not apply to "${command}"`);
  }
}

/** Opens the database directly (the server is not running), migrated. */
export async function withDatabase<T>(config: Config, work: (services: DatabaseServices) => Promise<T>): Promise<T> {
  await ensureDataDir(config.dataDir);
  const lock = config.database.url ? null : DataDirLock.acquire(config.dataDir);
  try {
    const database = await openDatabase({ url: config.database.url, dataDir: config.dataDir });
    try {
      await migrateToLatest(database);
      return await work(createDatabaseServices(createStores(database), config));
    } finally {
      await database.close();
    }
  } finally {
    lock?.release();
  }
}

/** The running server's control socket, or null when no server runs on this data directory. */
export function connectToServer(config: Config): Promise<ControlClient | null> {
  return ControlClient.connect(controlSocketPath(config.dataDir));
}

/** Through the running server when there is one, else on the database directly. */
export async function viaServerOrDatabase<T>(
  config: Config,
  method: string,
  params: Record<string, unknown>,
  direct: (services: DatabaseServices) => Promise<T>,
): Promise<T> {
  const client = await connectToServer(config);
  if (client) {
    try {
      return await client.call<T>(method, params);
    } finally {
      client.close();
    }
  }
  return withDatabase(config, direct);
}

/** Only the running server knows (sessions, routing, figures): say so when there is none. */
export async function viaServer<T>(config: Config, command: string, method: string, params: Record<string, unknown> = {}): Promise<T> {
  const client = await connectToServer(config);
  if (!client) {
    throw new CommandFailure(`the server is not running (no control socket in ${config.dataDir}); "hearth ${command}" needs the running server`);
  }
  try {
    return await client.call<T>(method, params);
  } finally {
    client.close();
  }
}
