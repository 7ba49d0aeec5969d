// The `hearth` command line (contract.md): start, check, migrate, and the administration
// commands (user, token, invite, session, roster, archive, room, send, stats), which call the service layer through
// the running server's control socket, or on the database when no server runs.
// Exit codes: 0 success, 1 failure (one line per problem on stderr), 2 usage error.
import cluster from 'node:cluster';
import { parseArgs } from 'node:util';
import { primaryConfig, serveWorker, WorkerPool, workerConfig, workerIndex, workersProblem } from './cluster/workers.js';
import { archiveCommand } from './cli/archive.js';
import { inviteCommand } from './cli/invite.js';
import { allowOptions, CommandFailure, expectArgs, UsageError, type CliOptions } from './cli/context.js';
import { sendCommand, statsCommand } from './cli/live.js';
import { roomCommand } from './cli/room.js';
import { rosterCommand } from './cli/roster.js';
import { sessionCommand } from './cli/session.js';
import { tokenCommand } from './cli/token.js';
import { userCommand } from './cli/user.js';
import { ConfigError, loadConfig, resolveConfigPath, type Config } from './config.js';
import { ControlClient } from './control/client.js';
import { controlSocketPath, DataDirLock, ensureDataDir } from './core/data-dir.js';
import { createLogger } from './core/log.js';
import { loadTrustAnchors } from './s2s/peer-tls.js';
import { startServer, VERSION, type RunningServer } from './server.js';
import { ServiceError } from './services/errors.js';
import { migrateToLatest, openDatabase } from './storage/index.js';

const USAGE = `Usage: hearth <command> [--config FILE]

Commands:
  start [--workers N]            run the server in the foreground; N > 1: N processes sharing
                                 the ports, one cluster (needs cluster.redis and PostgreSQL)
  check                          validate the configuration, one line per problem
  migrate                        apply database migrations
  user add JID [--password P]    create an account (prompts, or reads stdin, without --password)
  user del JID                   delete an account, everything it owns, and end its sessions
  user passwd JID [--password P] change a password
  user list [--domain D]         list accounts
  user import                    create accounts from "jid password" lines on stdin
  token create --name NAME [--scope admin|metrics]
                                 create an admin API token; prints it (only) on stdout, once
  token list                     list tokens (name, scope, created, last used)
  token revoke NAME              revoke a token
  invite create [--account JID] [--contact JID] [--admin] [--ttl 7d] [--domain D] [--qr]
                                 mint a single-use invitation (XEP-0401); prints its link
                                 (only) on stdout; --account: the one account it creates;
                                 --contact: the new user and JID are subscribed to each
                                 other; --admin: the new account is a server administrator;
                                 --qr: the link as a QR code on stderr
  invite list [--json]           invitations not used yet (never their tokens)
  invite revoke ID|TOKEN         revoke an invitation
  session list [JID] [--domain D]
                                 connected sessions, of everyone or of one account *
  session kick JID [RESOURCE]    end an account's sessions, or one of them *
  roster list JID                an account's roster
  roster add JID CONTACT [--name N] [--group G]... [--subscription none|to|from|both]
                                 add or replace a roster item (subscription default: none)
  roster del JID CONTACT         remove a roster item
  send --to JID --body TEXT [--from JID] [--type chat|normal|headline] [--subject S]
                                 send a message through the server *
  archive count JID              how many messages an account's archive (XEP-0313) holds
  archive purge JID              empty an account's message archive
  room list [--domain D]         group-chat rooms (occupants: while the server runs)
  room create ROOM [--name N] [--description D] [--members-only] [--hidden]
              [--password P] [--owner JID]...
                                 create a persistent room (room@conference.<domain>),
                                 public unless told otherwise
  room destroy ROOM [--reason R] destroy a room; its occupants are told why
  room affiliation ROOM JID owner|admin|member|outcast|none
                                 set a user's (or a domain's) affiliation with a room
  stats [--json]                 accounts, sessions, federation, stanzas, uptime *
  version                        print the version

Commands marked * need the running server; the others use it when it runs (through the
control socket in the data directory) and open the database themselves when it does not.
The config file is --config FILE, else $HEARTH_CONFIG, else ./hearth.yaml if present,
else built-in defaults (domain localhost, data in ./data).`;

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string', short: 'c' },
        help: { type: 'boolean', short: 'h' },
        password: { type: 'string' },
        domain: { type: 'string' },
        name: { type: 'string' },
        scope: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        body: { type: 'string' },
        type: { type: 'string' },
        subject: { type: 'string' },
        group: { type: 'string', multiple: true },
        subscription: { type: 'string' },
        json: { type: 'boolean' },
        workers: { type: 'string' },
        description: { type: 'string' },
        'members-only': { type: 'boolean' },
        hidden: { type: 'boolean' },
        owner: { type: 'string', multiple: true },
        reason: { type: 'string' },
        account: { type: 'string' },
        admin: { type: 'boolean' },
        ttl: { type: 'string' },
        contact: { type: 'string' },
        qr: { type: 'boolean' },
      },
    });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const values: CliOptions = parsed.values;
  const [command, ...rest] = parsed.positionals;
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
      case 'start': {
        allowOptions(values, command, ['workers']);
        expectArgs(rest, 0);
        const workers = values.workers === undefined ? 1 : Number(values.workers);
        if (!Number.isInteger(workers) || workers < 1 || workers > 256) throw new UsageError('--workers must be a whole number from 1 to 256');
        return await start(config, workers);
      }
      case 'check':
        allowOptions(values, command, []);
        expectArgs(rest, 0);
        // Files the configuration names must be usable, not just well-formed paths.
        loadTrustAnchors(config.s2s.trustedCa);
        process.stdout.write(`configuration OK (domains: ${config.domains.join(', ')}; data: ${config.dataDir})\n`);
        return 0;
      case 'migrate':
        allowOptions(values, command, []);
        expectArgs(rest, 0);
        return await migrate(config);
      case 'user':
        return await userCommand(config, rest, values);
      case 'token':
        return await tokenCommand(config, rest, values);
      case 'invite':
        return await inviteCommand(config, rest, values);
      case 'session':
        return await sessionCommand(config, rest, values);
      case 'roster':
        return await rosterCommand(config, rest, values);
      case 'send':
        return await sendCommand(config, rest, values);
      case 'archive':
        return await archiveCommand(config, rest, values);
      case 'room':
        return await roomCommand(config, rest, values);
      case 'stats':
        return await statsCommand(config, rest, values);
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n${USAGE}\n`);
      return 2;
    }
    if (err instanceof ServiceError) {
      // The message names the field already when it comes from input validation.
      const prefix = err.field && !err.message.startsWith(`${err.field}:`) ? `${err.field}: ` : '';
      process.stderr.write(`${prefix}${err.message}\n`);
      return 1;
    }
    if (err instanceof CommandFailure) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    process.stderr.write(`${(err as Error).message}\n`);
    return 1;
  }
}

async function start(config: Config, workers: number): Promise<number> {
  const worker = workerIndex();
  const problem = worker === null ? workersProblem(config, workers) : null;
  if (problem) {
    process.stderr.write(`${problem}\n`);
    return 1;
  }
  const primary = worker === null && workers > 1;
  const log = createLogger(config.log.level).child(worker === null ? {} : { worker });
  const pool = primary ? new WorkerPool(workers, log) : null;
  let server: RunningServer;
  let addresses: string[];
  try {
    if (worker !== null) {
      server = await startServer(workerConfig(config), log, { worker, control: false });
    } else {
      server = await startServer(primary ? primaryConfig(config) : config, log, pool ? { metricsSource: (own) => pool.metricsSource(own) } : {});
    }
    addresses = [...server.addresses];
    if (pool) addresses = [...(await pool.start()), ...addresses];
  } catch (err) {
    log.fatal({ err }, 'could not start');
    process.stderr.write(`${(err as Error).message}\n`);
    await pool?.stop().catch(() => undefined);
    return 1;
  }
  if (worker !== null) {
    serveWorker(server);
    // The primary went away (killed): a worker does not outlive it.
    process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
    log.info({ addresses }, 'worker ready');
  } else {
    log.info({ addresses, domains: config.domains, ...(pool ? { workers } : {}) }, 'ready');
  }
  const first = config.domains[0];
  if (worker === null) log.info(
    `Hearth serves ${config.domains.join(', ')} and listens on ${addresses.join(', ')}. ` +
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
      (pool ? pool.stop() : Promise.resolve()).then(() => server.stop()).then(
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
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGHUP');
      server.reloadCertificates().catch((err: unknown) => log.error({ err }, 'certificate reload failed; keeping the old ones'));
    });
  });
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
