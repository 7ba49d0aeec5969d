// The `hearth` command line (contract.md): start, migrate, check, user add|del|passwd|list|import.
// Exit codes: 0 success, 1 failure (one line per problem on stderr), 2 usage error.
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, resolveConfigPath, type Config } from './config.js';
import { ControlClient } from './control/client.js';
import { controlSocketPath, DataDirLock, ensureDataDir } from './core/data-dir.js';
import { createLogger } from './core/log.js';
import { startServer, VERSION } from './server.js';
import { AccountService, type ImportResult } from './services/accounts.js';
import { ServiceError } from './services/errors.js';
import { createStores, migrateToLatest, openDatabase } from './storage/index.js';

const USAGE = `Usage: hearth <command> [--config FILE]

Commands:
  start                          run the server in the foreground
  check                          validate the configuration, one line per problem
  migrate                        apply database migrations
  user add JID [--password P]    create an account (prompts, or reads stdin, without --password)
  user del JID                   delete an account and end its sessions
  user passwd JID [--password P] change a password
  user list [--domain D]         list accounts
  user import                    create accounts from "jid password" lines on stdin
  version                        print the version

The config file is --config FILE, else $HEARTH_CONFIG, else ./hearth.yaml if present,
else built-in defaults (domain localhost, data in ./data).`;

class UsageError extends Error {}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string', short: 'c' },
        password: { type: 'string' },
        domain: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    (values.help ? process.stdout : process.stderr).write(USAGE + '\n');
    return values.help ? 0 : 2;
  }
  if (command === 'version') {
    process.stdout.write(`hearth ${VERSION}\n`);
    return 0;
  }

  let config: Config;
  try {
    config = loadConfig(resolveConfigPath(values.config)).config;
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const problem of err.problems) process.stderr.write(problem + '\n');
      return 1;
    }
    throw err;
  }

  try {
    switch (command) {
      case 'start':
        expectArgs(rest, 0);
        return await start(config);
      case 'check':
        expectArgs(rest, 0);
        process.stdout.write(`configuration OK (domains: ${config.domains.join(', ')}; data: ${config.dataDir})\n`);
        return 0;
      case 'migrate':
        expectArgs(rest, 0);
        return await migrate(config);
      case 'user':
        return await user(config, rest, values);
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n${USAGE}\n`);
      return 2;
    }
    if (err instanceof ServiceError) {
      process.stderr.write(`${err.field ? err.field + ': ' : ''}${err.message}\n`);
      return 1;
    }
    process.stderr.write(`${(err as Error).message}\n`);
    return 1;
  }
}

function expectArgs(args: string[], count: number): void {
  if (args.length !== count) throw new UsageError(`expected ${count} argument(s), got ${args.length}`);
}

async function start(config: Config): Promise<number> {
  const log = createLogger(config.log.level);
  let server;
  try {
    server = await startServer(config, log);
  } catch (err) {
    log.fatal({ err }, 'could not start');
    process.stderr.write(`${(err as Error).message}\n`);
    return 1;
  }
  log.info({ addresses: server.addresses, domains: config.domains }, 'ready');
  const first = config.domains[0];
  log.info(
    `Hearth serves ${config.domains.join(', ')} and listens on ${server.addresses.join(', ')}. ` +
      `Create the first account with: npx hearth user add admin@${first}`,
  );
  return await new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'shutting down');
      const force = setTimeout(() => {
        log.error('shutdown took longer than 10 s; exiting');
        resolve(1);
      }, 10_000);
      force.unref();
      server.stop().then(
        () => {
          clearTimeout(force);
          log.info('stopped');
          log.flush();
          resolve(0);
        },
        (err: unknown) => {
          log.error({ err }, 'error while stopping');
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      server.reloadCertificates().catch((err: unknown) => log.error({ err }, 'certificate reload failed; keeping the old ones'));
    });
  });
}

/** Opens the database directly (the server is not running), migrated. */
async function withDatabase<T>(config: Config, work: (accounts: AccountService) => Promise<T>): Promise<T> {
  await ensureDataDir(config.dataDir);
  const lock = config.database.url ? null : DataDirLock.acquire(config.dataDir);
  try {
    const database = await openDatabase({ url: config.database.url, dataDir: config.dataDir });
    try {
      await migrateToLatest(database);
      return await work(new AccountService(createStores(database), config, null));
    } finally {
      await database.close();
    }
  } finally {
    lock?.release();
  }
}

async function migrate(config: Config): Promise<number> {
  const client = await ControlClient.connect(controlSocketPath(config.dataDir));
  if (client) {
    client.close();
    process.stdout.write('the server is running; it applied migrations when it started\n');
    return 0;
  }
  await ensureDataDir(config.dataDir);
  const lock = config.database.url ? null : DataDirLock.acquire(config.dataDir);
  try {
    const database = await openDatabase({ url: config.database.url, dataDir: config.dataDir });
    try {
      const { applied } = await migrateToLatest(database);
      process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'the database is up to date\n');
    } finally {
      await database.close();
    }
  } finally {
    lock?.release();
  }
  return 0;
}

/**
 * Runs an account operation through the running server when there is one (control socket),
 * else on the database directly.
 */
async function viaServerOrDatabase<T>(
  config: Config,
  method: string,
  params: Record<string, unknown>,
  direct: (accounts: AccountService) => Promise<T>,
): Promise<T> {
  const client = await ControlClient.connect(controlSocketPath(config.dataDir));
  if (client) {
    try {
      return await client.call<T>(method, params);
    } finally {
      client.close();
    }
  }
  return withDatabase(config, direct);
}

async function user(config: Config, args: string[], options: { password?: string; domain?: string }): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'add': {
      expectArgs(rest, 1);
      const jid = rest[0]!;
      const password = options.password ?? (await readPassword(`Password for ${jid}: `));
      const result = await viaServerOrDatabase(config, 'user.add', { jid, password }, (a) => a.add(jid, password));
      process.stdout.write(`created ${result.jid}\n`);
      return 0;
    }
    case 'del': {
      expectArgs(rest, 1);
      const jid = rest[0]!;
      const result = await viaServerOrDatabase(config, 'user.del', { jid }, (a) => a.remove(jid));
      process.stdout.write(`deleted ${result.jid}\n`);
      return 0;
    }
    case 'passwd': {
      expectArgs(rest, 1);
      const jid = rest[0]!;
      const password = options.password ?? (await readPassword(`New password for ${jid}: `));
      const result = await viaServerOrDatabase(config, 'user.passwd', { jid, password }, (a) => a.setPassword(jid, password));
      process.stdout.write(`password changed for ${result.jid}\n`);
      return 0;
    }
    case 'list': {
      expectArgs(rest, 0);
      let after: string | undefined;
      // Page through everything; print as we go.
      for (;;) {
        const params = { domain: options.domain, limit: 1000, after };
        const page = await viaServerOrDatabase(config, 'user.list', params, (a) => a.list(params));
        for (const account of page.accounts) process.stdout.write(`${account.username}@${account.domain}\n`);
        if (!page.next) break;
        after = page.next;
      }
      return 0;
    }
    case 'import': {
      expectArgs(rest, 0);
      const lines = await readAllLines();
      const total: ImportResult = { created: 0, existed: 0, invalid: 0, problems: [] };
      const client = await ControlClient.connect(controlSocketPath(config.dataDir));
      const run = async (importBatch: (batch: string[]) => Promise<ImportResult>) => {
        const BATCH = 5_000;
        for (let i = 0; i < lines.length; i += BATCH) {
          const result = await importBatch(lines.slice(i, i + BATCH));
          total.created += result.created;
          total.existed += result.existed;
          total.invalid += result.invalid;
          // Line numbers are relative to the batch; shift them to the input's.
          total.problems.push(...result.problems.map((p) => p.replace(/^line (\d+)/, (_, n: string) => `line ${Number(n) + i}`)));
        }
      };
      if (client) {
        try {
          await run((batch) => client.call<ImportResult>('user.import', { lines: batch }));
        } finally {
          client.close();
        }
      } else {
        await withDatabase(config, (accounts) => run((batch) => accounts.import(batch)));
      }
      for (const problem of total.problems.slice(0, 100)) process.stderr.write(problem + '\n');
      process.stdout.write(`created ${total.created}, existed ${total.existed}, invalid ${total.invalid}\n`);
      return total.invalid > 0 ? 1 : 0;
    }
    default:
      throw new UsageError(sub ? `unknown user command "${sub}"` : 'user needs a command: add, del, passwd, list, import');
  }
}

/** Prompts without echo on a terminal; otherwise takes the first line of stdin. */
async function readPassword(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    const lines = await readAllLines(1);
    if (lines.length === 0 || lines[0] === '') throw new ServiceError('invalid', 'no password given (use --password or pipe it on stdin)', 'password');
    return lines[0]!;
  }
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  stdin.setEncoding('utf8');
  return await new Promise<string>((resolve, reject) => {
    let password = '';
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n') {
          finish();
          resolve(password);
          return;
        }
        if (char === '\u0003') {
          finish();
          reject(new Error('cancelled'));
          return;
        }
        if (char === '\u007f' || char === '\b') password = password.slice(0, -1);
        else password += char;
      }
    };
    const finish = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    stdin.on('data', onData);
  });
}

async function readAllLines(limit = Infinity): Promise<string[]> {
  const lines: string[] = [];
  const reader = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of reader) {
    lines.push(line);
    if (lines.length >= limit) break;
  }
  reader.close();
  return lines;
}


