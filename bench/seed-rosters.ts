// Seeds the presence benchmark: accounts <prefix>0..N-1@<domain> (created when missing, with
// the given password) and, for each, a roster of C contacts with subscription "both" on both
// sides, following the symmetric graph of bench/roster-graph.ts (i ↔ i±1..±C/2 mod N).
// Everything goes through Hearth's storage layer (openDatabase, migrateToLatest,
// createStores): no SQL here.
//
//   node --import tsx bench/seed-rosters.ts --config .bench/hearth.yaml --domain bench.example \
//     --users 200 --contacts 50 --user-prefix pres
//   DATABASE_URL=postgres://… node --import tsx bench/seed-rosters.ts --config …   # PostgreSQL
//
// On PGlite the server must NOT be running: PGlite allows one process per data directory,
// and this takes the same lock (<dataDir>/db.lock) as `hearth user …` does; it stops with
// "in use by process …" otherwise. On PostgreSQL it may run beside the server, but a server
// that has one of these accounts online keeps a cached roster: seed with the server stopped.
//
// Idempotent: an item already as wanted is left alone (its roster version is not bumped),
// items outside the graph are removed (unless --keep-others), so after a run each roster is
// exactly the graph. Rerunning on a seeded database costs one roster read per account.
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, resolveConfigPath } from '../src/config.js';
import { DataDirLock, ensureDataDir } from '../src/core/data-dir.js';
import { deriveAllCredentials } from '../src/sasl/credentials.js';
import { createStores, migrateToLatest, openDatabase } from '../src/storage/index.js';
import type { RosterItem } from '../src/storage/roster.js';
import { contactsOf, graphProblem } from './roster-graph.js';

const HELP = `Usage: node --import tsx bench/seed-rosters.ts [options]

  --config FILE         Hearth configuration to take dataDir, database.url, the first domain and
                        auth.scramIterations from (also $HEARTH_CONFIG, ./hearth.yaml, and
                        DATABASE_URL, as the server reads them)
  --data-dir DIR        PGlite data directory (overrides the configuration's)
  --database-url URL    PostgreSQL instead of PGlite (overrides the configuration's)
  --domain D            account domain (the configuration's first domain, else localhost)
  --users N             accounts <prefix>0..N-1 (200)
  --contacts C          contacts per account, all mutual (50); C < N, and N even if C is odd
  --user-prefix S       account i is <prefix><i>@<domain> (bench)
  --password S          password of the accounts created (bench-password); existing accounts
                        keep theirs
  --chunk K             roster writes in flight at once, on distinct accounts (200)
  --keep-others         leave roster items outside the graph in place (default: remove them)
  --help                this text

PGlite: run it while the server is stopped (one process per data directory).`;

interface Args {
  configFile: string | undefined;
  dataDir: string | undefined;
  databaseUrl: string | undefined;
  domain: string | undefined;
  users: number;
  contacts: number;
  prefix: string;
  password: string;
  chunk: number;
  keepOthers: boolean;
}

function parse(argv: string[]): Args {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      config: { type: 'string' },
      'data-dir': { type: 'string' },
      'database-url': { type: 'string' },
      domain: { type: 'string' },
      users: { type: 'string', default: '200' },
      contacts: { type: 'string', default: '50' },
      'user-prefix': { type: 'string', default: 'bench' },
      password: { type: 'string', default: 'bench-password' },
      chunk: { type: 'string', default: '200' },
      'keep-others': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP + '\n');
    process.exit(0);
  }
  const int = (name: string, raw: string, min: number, max: number): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name}: expected an integer in ${min}..${max}, got "${raw}"`);
    return n;
  };
  const users = int('users', values.users, 0, 1_000_000);
  const contacts = int('contacts', values.contacts, 0, 100_000);
  const problem = graphProblem(users, contacts);
  if (problem) throw new Error(`--users/--contacts: ${problem}`);
  if (!/^[a-z0-9._-]+$/.test(values['user-prefix'])) throw new Error('--user-prefix: lowercase letters, digits, ".", "_" and "-" only');
  if (values.domain !== undefined && !/^[a-z0-9.-]+$/.test(values.domain)) throw new Error('--domain: a lowercase ASCII domain name');
  if (values['database-url'] !== undefined && !/^postgres(ql)?:\/\//.test(values['database-url'])) throw new Error('--database-url: expected a postgres:// URL');
  return {
    configFile: values.config,
    dataDir: values['data-dir'],
    databaseUrl: values['database-url'],
    domain: values.domain,
    users,
    contacts,
    prefix: values['user-prefix'],
    password: values.password,
    chunk: int('chunk', values.chunk, 1, 100_000),
    keepOthers: values['keep-others'],
  };
}

const sameItem = (a: RosterItem, b: RosterItem) =>
  a.jid === b.jid && a.name === b.name && a.subscription === b.subscription && a.pendingOut === b.pendingOut && a.approved === b.approved && a.groups.length === b.groups.length && a.groups.every((g, i) => g === b.groups[i]);

/** Runs `work` on every element, at most `limit` at once. */
async function eachLimited<T>(list: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < list.length) await work(list[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, list.length) }, worker));
}

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parse(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${HELP}\n`);
    return 2;
  }
  let config;
  try {
    config = loadConfig(resolveConfigPath(args.configFile)).config;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`seed-rosters: configuration: ${err.problems.join('; ')}\n`);
      return 2;
    }
    throw err;
  }
  const url = args.databaseUrl ?? config.database.url;
  const dataDir = args.dataDir ?? config.dataDir;
  const domain = args.domain ?? config.domains[0] ?? 'localhost';
  const t0 = performance.now();
  const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(1)} s`;

  let lock: DataDirLock | null = null;
  if (!url) {
    await ensureDataDir(dataDir);
    // Fails with "in use by process N" when the server (or anything else) holds the database.
    lock = DataDirLock.acquire(dataDir);
  }
  try {
    const database = await openDatabase({ url: url ?? null, dataDir });
    try {
      await migrateToLatest(database);
      const stores = createStores(database);
      const username = (i: number) => `${args.prefix}${i}`;
      const bare = (i: number) => `${username(i)}@${domain}`;

      // Accounts: derive credentials once (one password for all), insert in batches; the
      // store leaves existing accounts untouched.
      const credentials = await deriveAllCredentials(args.password, config.auth.scramIterations);
      let created = 0;
      let existed = 0;
      for (let start = 0; start < args.users; start += 5_000) {
        const batch = [];
        for (let i = start; i < Math.min(args.users, start + 5_000); i++) batch.push({ username: username(i), domain, credentials });
        const r = await stores.accounts.createMany(batch);
        created += r.created;
        existed += r.existed;
      }
      process.stderr.write(`seed-rosters: accounts ${created} created, ${existed} existed (${elapsed()})\n`);

      // Rosters: read each, then write what differs. Writes run in rounds over distinct
      // accounts (round k: every account's k-th missing item), at most --chunk at once, so
      // two writes never race on one account's roster version.
      const want = (j: number): RosterItem => ({ jid: bare(j), name: null, groups: [], subscription: 'both', pendingOut: false, approved: false });
      const toPut: RosterItem[][] = Array.from({ length: args.users }, () => []);
      const toRemove: string[][] = Array.from({ length: args.users }, () => []);
      let unchanged = 0;
      const indices = Array.from({ length: args.users }, (_, i) => i);
      await eachLimited(indices, args.chunk, async (i) => {
        const roster = await stores.roster.get(username(i), domain);
        const have = new Map(roster.items.map((item) => [item.jid, item]));
        const wanted = new Set<string>();
        for (const j of contactsOf(i, args.users, args.contacts)) {
          const item = want(j);
          wanted.add(item.jid);
          const current = have.get(item.jid);
          if (current && sameItem(current, item)) unchanged++;
          else toPut[i]!.push(item);
        }
        if (!args.keepOthers) for (const jid of have.keys()) if (!wanted.has(jid)) toRemove[i]!.push(jid);
      });
      const rounds = Math.max(0, ...toPut.map((l) => l.length), ...toRemove.map((l) => l.length));
      let put = 0;
      let removed = 0;
      for (let k = 0; k < rounds; k++) {
        const work: Array<() => Promise<void>> = [];
        for (let i = 0; i < args.users; i++) {
          const item = toPut[i]![k];
          const gone = toRemove[i]![k];
          if (item === undefined && gone === undefined) continue;
          work.push(async () => {
            // One account's writes in sequence (put, then remove), never concurrently.
            if (item !== undefined) {
              await stores.roster.put(username(i), domain, item);
              put++;
            }
            if (gone !== undefined && (await stores.roster.remove(username(i), domain, gone)) !== null) removed++;
          });
        }
        await eachLimited(work, args.chunk, (w) => w());
      }
      process.stderr.write(
        `seed-rosters: ${args.users} rosters of ${args.contacts} mutual contacts on ${domain} (${url ? 'PostgreSQL' : `PGlite in ${dataDir}`}):` +
          ` ${put} items written, ${unchanged} already there, ${removed} removed (${elapsed()})\n`,
      );
      // A check through the same API: every roster is the graph, and the graph is symmetric.
      let bad = 0;
      await eachLimited(indices, args.chunk, async (i) => {
        const roster = await stores.roster.get(username(i), domain);
        const jids = new Set(roster.items.filter((it) => it.subscription === 'both').map((it) => it.jid));
        const expected = contactsOf(i, args.users, args.contacts);
        if (expected.some((j) => !jids.has(bare(j))) || (!args.keepOthers && roster.items.length !== expected.length)) bad++;
      });
      if (bad > 0) {
        process.stderr.write(`seed-rosters: ${bad} rosters do not match the graph after seeding\n`);
        return 1;
      }
    } finally {
      await database.close();
    }
  } finally {
    lock?.release();
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`seed-rosters: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
