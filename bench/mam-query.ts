// MAM query benchmark (XEP-0313): an archive of 1,000,000 messages for one account, spread
// over 100 contacts, filled with one generate_series INSERT per 100,000 rows; then the query
// clients make when a chat opens, "the last 50 messages with this contact" (RSM <max>50</max>
// and an empty <before/>), timed through the store and end to end over a socket (an
// client asks, the server answers with 50 result messages and the <fin/>).
//
//   node --import tsx bench/mam-query.ts                          # PGlite (in memory)
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test node --import tsx bench/mam-query.ts
//   node --import tsx bench/mam-query.ts --messages 100000 --queries 200 --json
//
// On PostgreSQL it creates a database of its own (hearth_bench_mam_<pid>) next to the one
// DATABASE_URL names, and drops it at the end. Every loop is bounded by its count.
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import pg from 'pg';
import { validateConfig } from '../src/config.js';
import { createLogger } from '../src/core/log.js';
import { startServer } from '../src/server.js';
import { createArchiveStore } from '../src/storage/archive.js';
import { migrateToLatest, openDatabase, type Database } from '../src/storage/database.js';

const { values: options } = parseArgs({
  options: {
    messages: { type: 'string', default: '1000000' },
    contacts: { type: 'string', default: '100' },
    queries: { type: 'string', default: '1000' },
    host: { type: 'string', default: '127.0.0.185' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (options.help) {
  process.stdout.write('Usage: [DATABASE_URL=…] node --import tsx bench/mam-query.ts [--messages N] [--contacts C] [--queries Q] [--host H] [--json]\n');
  process.exit(0);
}
const MESSAGES = Number(options.messages);
const CONTACTS = Number(options.contacts);
const QUERIES = Number(options.queries);
const DOMAIN = 'bench.example';
const OWNER = 'owner';
const PASSWORD = 'bench-password';
const CHUNK = 100_000;
const NS_MAM = 'urn:xmpp:mam:2';
/** As the module asks (src/modules/mam.ts). */
const COUNT_LIMIT = 0;

function percentiles(samples: number[]): { p50: number; p90: number; p99: number; max: number; mean: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  const round = (v: number) => Math.round(v * 1000) / 1000;
  return { p50: round(at(0.5)), p90: round(at(0.9)), p99: round(at(0.99)), max: round(sorted[sorted.length - 1]!), mean: round(sorted.reduce((a, b) => a + b, 0) / sorted.length) };
}

const log = (line: string) => {
  if (!options.json) process.stderr.write(line + '\n');
};

/** PostgreSQL: a database of our own beside DATABASE_URL's; dropped by the returned function. */
async function ownPostgresDatabase(baseUrl: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `hearth_bench_mam_${process.pid}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`create database "${name}"`);
  await admin.end();
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const again = new pg.Client({ connectionString: baseUrl });
      await again.connect();
      await again.query(`drop database if exists "${name}" with (force)`);
      await again.end();
    },
  };
}

async function fill(database: Database): Promise<number> {
  const started = performance.now();
  // Ids as the server makes them (ms × 4096 + counter), one message a second ending now.
  const base = (BigInt(Date.now() - MESSAGES * 1000) << 12n).toString();
  for (let from = 1; from <= MESSAGES; from += CHUNK) {
    const to = Math.min(MESSAGES, from + CHUNK - 1);
    await sql`
      insert into archive_messages (domain, username, id, with_jid, with_resource, outgoing, type, stanza, body)
      select ${DOMAIN}, ${OWNER}, ${base}::int8 + g::int8 * 4096 * 1000, 'contact' || (g % ${CONTACTS}) || '@remote.example', 'phone',
        g % 2 = 0, 'chat',
        '<message type="chat" from="contact' || (g % ${CONTACTS}) || '@remote.example/phone" to="${sql.raw(OWNER)}@${sql.raw(DOMAIN)}" id="m' || g || '"><body>message ' || g || ' about ' || md5(g::text) || '</body></message>',
        'message ' || g || ' about ' || md5(g::text)
      from generate_series(${from}::int, ${to}::int) as g`.execute(database.db);
    log(`  filled ${to.toLocaleString('en')} rows`);
  }
  await sql`vacuum analyze archive_messages`.execute(database.db);
  return (performance.now() - started) / 1000;
}

async function storeQueries(database: Database): Promise<ReturnType<typeof percentiles>> {
  const store = createArchiveStore(database.db);
  const samples: number[] = [];
  for (let i = 0; i < QUERIES + 20; i++) {
    const contact = `contact${(i * 37) % CONTACTS}@remote.example`;
    const started = performance.now();
    const page = await store.page(OWNER, DOMAIN, { filter: { with: { jid: contact }, includeGroupchat: false }, backward: true, max: 50, countLimit: COUNT_LIMIT });
    const elapsed = performance.now() - started;
    if (page.items.length !== Math.min(50, Math.floor(MESSAGES / CONTACTS))) throw new Error(`expected a full page, got ${page.items.length}`);
    if (i >= 20) samples.push(elapsed); // the first few warm the caches
  }
  return percentiles(samples);
}

/**
 * A minimal client over plain TCP (loopback; c2s.requireTls false and allowPlaintextAuth true,
 * the documented benchmark settings): SASL PLAIN, bind, then queries. It scans bytes for the
 * markers it needs instead of parsing XML, so the figure is the server's, not a client parser's.
 */
class RawClient {
  private buffer = '';
  private waiter: { test: (buffer: string) => boolean; resolve: () => void } | null = null;

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      if (this.waiter?.test(this.buffer)) {
        const { resolve } = this.waiter;
        this.waiter = null;
        resolve();
      }
    });
  }

  static async connect(host: string, port: number): Promise<RawClient> {
    const socket = net.connect(port, host);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const raw = new RawClient(socket);
    const header = `<?xml version='1.0'?><stream:stream to='${DOMAIN}' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`;
    await raw.exchange(header, (b) => b.includes('</stream:features>'));
    const credentials = Buffer.from(`\u0000${OWNER}\u0000${PASSWORD}`).toString('base64');
    await raw.exchange(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${credentials}</auth>`, (b) => b.includes('<success'));
    await raw.exchange(header, (b) => b.includes('</stream:features>'));
    await raw.exchange(`<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>bench</resource></bind></iq>`, (b) => /id=["']bind["']/.test(b));
    return raw;
  }

  /** Sends, then resolves once what arrived since passes `test`; returns that text. */
  async exchange(data: string, test: (buffer: string) => boolean, timeoutMs = 10_000): Promise<string> {
    this.buffer = '';
    const arrived = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms to ${data.slice(0, 80)}: ${this.buffer.slice(0, 300)}`)), timeoutMs);
      this.waiter = { test, resolve: () => { clearTimeout(timer); resolve(); } };
    });
    this.socket.write(data);
    await arrived;
    return this.buffer;
  }

  close(): void {
    this.socket.end('</stream:stream>');
    this.socket.destroy();
  }
}

async function socketQueries(database: Database, host: string): Promise<ReturnType<typeof percentiles>> {
  const config = validateConfig(
    {
      domains: [DOMAIN],
      dataDir: `/tmp/hearth-bench-mam-${process.pid}`,
      log: { level: 'warn' },
      c2s: { listen: [`${host}:0`], directTls: [], requireTls: false, allowPlaintextAuth: true },
      s2s: { listen: [] },
      admin: { listen: [] },
      http: { listen: [] },
    },
    process.cwd(),
    {},
  );
  const server = await startServer(config, createLogger('warn'), { database });
  let raw: RawClient | null = null;
  try {
    const port = server.listeners.bound.find((b) => b.kind === 'c2s')!.port;
    raw = await RawClient.connect(host, port);
    const samples: number[] = [];
    for (let i = 0; i < QUERIES + 20; i++) {
      const contact = `contact${(i * 37) % CONTACTS}@remote.example`;
      const id = `q${i}`;
      const query =
        `<iq type='set' id='${id}'><query xmlns='${NS_MAM}' queryid='${id}'><x xmlns='jabber:x:data' type='submit'>` +
        `<field var='FORM_TYPE' type='hidden'><value>${NS_MAM}</value></field><field var='with'><value>${contact}</value></field></x>` +
        `<set xmlns='http://jabber.org/protocol/rsm'><max>50</max><before/></set></query></iq>`;
      const done = new RegExp(`<iq[^>]*id=["']${id}["'][^>]*>`);
      const started = performance.now();
      const answer = await raw.exchange(query, (b) => done.test(b));
      const elapsed = performance.now() - started;
      const results = answer.split('<result ').length - 1;
      if (results !== 50 || !/type=["']result["']/.test(done.exec(answer)![0])) throw new Error(`expected 50 results and an iq result, got ${results}: ${answer.slice(-400)}`);
      if (i >= 20) samples.push(elapsed);
    }
    return percentiles(samples);
  } finally {
    raw?.close();
    await server.stop();
    await rm(config.dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const baseUrl = process.env.DATABASE_URL || null;
  const own = baseUrl ? await ownPostgresDatabase(baseUrl) : null;
  const database = await openDatabase({ url: own?.url ?? null, dataDir: null });
  try {
    await migrateToLatest(database);
    log(`backend ${database.kind}: ${MESSAGES.toLocaleString('en')} messages over ${CONTACTS} contacts`);
    // The account, with a password for the socket part (created by the service, as an operator would).
    const { AccountService } = await import('../src/services/accounts.js');
    const { createStores } = await import('../src/storage/index.js');
    await new AccountService(createStores(database), validateConfig({ domains: [DOMAIN] }, process.cwd(), {}), null).add(`${OWNER}@${DOMAIN}`, PASSWORD);
    const fillSeconds = await fill(database);
    log(`  filled in ${fillSeconds.toFixed(1)} s`);
    const store = await storeQueries(database);
    log(`store query, last 50 with one contact (ms): p50 ${store.p50}  p90 ${store.p90}  p99 ${store.p99}  max ${store.max}`);
    const socket = await socketQueries(database, options.host!);
    log(`end to end over a socket (ms):             p50 ${socket.p50}  p90 ${socket.p90}  p99 ${socket.p99}  max ${socket.max}`);
    const report = { backend: database.kind, messages: MESSAGES, contacts: CONTACTS, queries: QUERIES, fillSeconds: Math.round(fillSeconds * 10) / 10, storeMs: store, socketMs: socket };
    if (options.json) process.stdout.write(JSON.stringify(report) + '\n');
  } finally {
    await database.close();
    await own?.drop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
