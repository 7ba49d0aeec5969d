// Group-chat (XEP-0045) load generator: logs USERS accounts in over plain TCP, has them enter
// ROOMS rooms, then lets SENDERS occupants per room send groupchat messages at a steady rate
// and counts every copy each occupant receives (fan-out counted per recipient) with its
// latency (sent → received). The receivers are spread over PROCS processes so that the
// generator is not what limits the figure; the first process also creates the rooms.
//
//   node --import tsx bench/muc-load.ts --host 127.0.0.195 --domain bench.example \
//     --users 100 --rooms 1 --rooms-per-user 1 --senders 10 --rate 1000 --procs 2
//     (one room of 100 occupants, 10 senders, 1000 messages/s: 100,000 deliveries/s)
//   ... --users 1000 --rooms 1000 --rooms-per-user 10 --senders 1 --rate 5000
//     (1000 rooms of 10 occupants: user u is in rooms u, u+1, … u+9 mod 1000)
//   ... --joins 100   (then: 100 more accounts enter room 0 one after another; joins/s)
//
// Accounts are <prefix><i>@<domain> with one password (hearth user import). The server
// must allow plaintext PLAIN on TCP (c2s.requireTls: false, c2s.allowPlaintextAuth: true),
// as every loopback benchmark of bench/ does. Every phase is bounded in time.
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface Options {
  host: string;
  port: number;
  domain: string;
  users: number;
  prefix: string;
  password: string;
  rooms: number;
  roomsPerUser: number;
  senders: number;
  rate: number;
  duration: number;
  warmup: number;
  procs: number;
  archive: boolean;
  joins: number;
  roomPrefix: string;
  json: boolean;
  /** The server's process, for its CPU time over the measured window. */
  serverPid: number | null;
}

const HELP = `Usage: node --import tsx bench/muc-load.ts [options]
  --host H --port P --domain D    the server (127.0.0.1, 5222, localhost)
  --users N                       occupants' accounts <prefix><0..N-1> (100)
  --prefix S --password S         accounts (muc, bench-password)
  --rooms R                       rooms room<0..R-1>@conference.<domain> (1)
  --rooms-per-user K              rooms each user enters: u, u+1, … u+K-1 mod R (1)
  --senders S                     occupants per room that send (10)
  --rate M                        messages/s sent in total, spread over every sender (1000)
  --duration S --warmup S         measured and unmeasured seconds of sending (20, 3)
  --procs W                       processes the occupants are spread over (2)
  --archive                       rooms keep an archive (muc#roomconfig_enablelogging)
  --joins J                       then J more accounts <prefix><N..N+J-1> enter room 0 one
                                  after another: joins/s (0)
  --room-prefix S                 room names (room)
  --server-pid PID                the server's process: its CPU share over the measured window
  --json                          one JSON object instead of text`;

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '5222' },
      domain: { type: 'string', default: 'localhost' },
      users: { type: 'string', default: '100' },
      prefix: { type: 'string', default: 'muc' },
      password: { type: 'string', default: 'bench-password' },
      rooms: { type: 'string', default: '1' },
      'rooms-per-user': { type: 'string', default: '1' },
      senders: { type: 'string', default: '10' },
      rate: { type: 'string', default: '1000' },
      duration: { type: 'string', default: '20' },
      warmup: { type: 'string', default: '3' },
      procs: { type: 'string', default: '2' },
      archive: { type: 'boolean', default: false },
      joins: { type: 'string', default: '0' },
      'room-prefix': { type: 'string', default: 'room' },
      'server-pid': { type: 'string' },
      json: { type: 'boolean', default: false },
      worker: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const int = (name: string, value: string, min: number, max: number): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name}: a whole number ${min}–${max}, got "${value}"`);
    return n;
  };
  const opts: Options = {
    host: values.host,
    port: int('port', values.port, 1, 65535),
    domain: values.domain,
    users: int('users', values.users, 1, 100_000),
    prefix: values.prefix,
    password: values.password,
    rooms: int('rooms', values.rooms, 1, 100_000),
    roomsPerUser: int('rooms-per-user', values['rooms-per-user'], 1, 1_000),
    senders: int('senders', values.senders, 1, 1_000),
    rate: int('rate', values.rate, 1, 1_000_000),
    duration: int('duration', values.duration, 1, 600),
    warmup: int('warmup', values.warmup, 0, 600),
    procs: int('procs', values.procs, 1, 64),
    archive: values.archive,
    joins: int('joins', values.joins, 0, 10_000),
    roomPrefix: values['room-prefix'],
    json: values.json,
    serverPid: values['server-pid'] !== undefined ? int('server-pid', values['server-pid'], 1, 1 << 30) : null,
  };
  if (opts.roomsPerUser > opts.rooms) throw new Error('--rooms-per-user: at most --rooms');
  return opts;
}

const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/'/g, '&apos;');

// ---- one connection -------------------------------------------------------------------------

/** A client speaking just enough XMPP: PLAIN login, bind, and stanzas scanned, not parsed. */
class Conn {
  private socket: net.Socket;
  private buffer = '';
  private waiters: Array<{ test: (text: string) => boolean; resolve: () => void; reject: (e: Error) => void }> = [];
  /** Called with each message's body (the timestamp and sender tag senders put in it). */
  onBody: ((body: string) => void) | null = null;
  jid = '';

  constructor(private readonly opts: Options, readonly local: string) {
    this.socket = net.connect({ host: opts.host, port: opts.port });
    this.socket.setNoDelay(true);
    this.socket.setEncoding('utf8');
    this.socket.on('data', (chunk: string) => this.data(chunk));
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('close', () => this.fail(new Error(`${local}: connection closed`)));
  }

  private fail(err: Error): void {
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  send(text: string): void {
    this.socket.write(text);
  }

  /** Resolves once the buffered input (since the last wait) satisfies `test`. */
  private wait(test: (text: string) => boolean, what: string, ms = 15_000): Promise<void> {
    if (test(this.buffer)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.local}: timed out waiting for ${what}`)), ms);
      this.waiters.push({ test, resolve: () => (clearTimeout(timer), resolve()), reject: (e) => (clearTimeout(timer), reject(e)) });
    });
  }

  private data(chunk: string): void {
    this.buffer += chunk;
    if (this.waiters.length > 0) {
      this.waiters = this.waiters.filter((w) => {
        if (!w.test(this.buffer)) return true;
        w.resolve();
        return false;
      });
    }
    if (this.onBody) this.scanMessages();
    else if (this.buffer.length > 1 << 20) this.buffer = this.buffer.slice(-4096);
  }

  private scanMessages(): void {
    let at = 0;
    for (;;) {
      const start = this.buffer.indexOf('<message', at);
      if (start < 0) {
        at = this.buffer.length;
        break;
      }
      const end = this.buffer.indexOf('</message>', start);
      if (end < 0) {
        at = start;
        break;
      }
      const body = this.buffer.indexOf('<body>', start);
      if (body >= 0 && body < end) {
        const close = this.buffer.indexOf('</body>', body);
        this.onBody!(this.buffer.slice(body + 6, close));
      }
      at = end + 10;
    }
    this.buffer = this.buffer.slice(at);
  }

  async login(): Promise<void> {
    const header = `<?xml version='1.0'?><stream:stream to='${this.opts.domain}' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`;
    this.send(header);
    await this.wait((t) => t.includes('</stream:features>'), 'stream features');
    this.buffer = '';
    const plain = Buffer.from(`\0${this.local}\0${this.opts.password}`).toString('base64');
    this.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${plain}</auth>`);
    await this.wait((t) => t.includes('<success') || t.includes('<failure'), 'SASL outcome');
    if (!this.buffer.includes('<success')) throw new Error(`${this.local}: login refused`);
    this.buffer = '';
    this.send(header);
    await this.wait((t) => t.includes('</stream:features>'), 'stream features after SASL');
    this.buffer = '';
    this.send(`<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>bench</resource></bind></iq>`);
    await this.wait((t) => t.includes('</jid>'), 'bind');
    this.jid = /<jid>([^<]*)<\/jid>/.exec(this.buffer)![1]!;
    this.buffer = '';
  }

  /** Enters a room without history; resolves on the own presence (status 110). */
  async enter(room: string, nick: string): Promise<void> {
    const from = `from="${room}/${nick}"`;
    this.send(`<presence to='${room}/${escape(nick)}'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>`);
    await this.wait((t) => {
      const at = t.indexOf(from);
      return at >= 0 && t.indexOf('code="110"', at) > 0;
    }, `entering ${room}`);
    if (this.buffer.includes(`type="error"`) && this.buffer.includes(from)) throw new Error(`${this.local}: refused by ${room}`);
  }

  /** Creates and configures a room as its owner (an instant room with these settings). */
  async create(room: string, nick: string, archive: boolean, maxUsers: number): Promise<void> {
    await this.enter(room, nick);
    const field = (name: string, value: string) => `<field var='${name}'><value>${value}</value></field>`;
    this.send(
      `<iq type='set' id='cfg-${room}' to='${room}'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>` +
        field('FORM_TYPE', 'http://jabber.org/protocol/muc#roomconfig') +
        field('muc#roomconfig_enablelogging', archive ? '1' : '0') +
        field('muc#roomconfig_maxusers', String(maxUsers)) +
        field('muc#maxhistoryfetch', '0') +
        field('muc#roomconfig_persistentroom', '1') +
        `</x></query></iq>`,
    );
    await this.wait((t) => t.includes(`id="cfg-${room}"`), `configuring ${room}`);
    if (/type="error"[^>]*id="cfg-|id="cfg-[^"]*"[^>]*type="error"/.test(this.buffer)) throw new Error(`configuring ${room} failed: ${this.buffer.slice(0, 500)}`);
    // The owner leaves: the (persistent) room's occupants are the benchmark's own.
    this.send(`<presence type='unavailable' to='${room}/${escape(nick)}'/>`);
    this.buffer = '';
  }

  close(): void {
    this.send('</stream:stream>');
    this.socket.end();
  }
}

// ---- a worker: some of the occupants ----------------------------------------------------------

interface WorkerPlan {
  opts: Options;
  /** The user indexes this process logs in. */
  users: number[];
  /** Whether this process creates the rooms first (the first one does). */
  creator: boolean;
}

/** Latency histogram: 0.1 ms buckets up to 10 s. */
const BUCKETS = 100_000;

interface WorkerResult {
  /** CPU seconds this process used over the measured window. */
  cpuSeconds: number;
  received: number;
  receivedTotal: number;
  sent: number;
  histogram: number[];
  joinSeconds?: number;
}

const roomName = (opts: Options, r: number) => `${opts.roomPrefix}${r}@conference.${opts.domain}`;
const roomsOf = (opts: Options, u: number) => Array.from({ length: opts.roomsPerUser }, (_, k) => (u + k) % opts.rooms);

async function worker(): Promise<void> {
  const plan = await new Promise<WorkerPlan>((resolve) => process.once('message', (m) => resolve(m as WorkerPlan)));
  const { opts } = plan;
  const reply = (message: unknown) => process.send!(message);
  const conns = new Map<number, Conn>();
  const histogram = new Uint32Array(BUCKETS);
  let received = 0;
  let receivedTotal = 0;
  let sent = 0;
  // The measured window, the same for every process: a message counts when it was sent in it.
  let window = { from: Infinity, to: -Infinity };
  const onBody = (body: string) => {
    receivedTotal++;
    const stamp = Number(body.slice(body.indexOf(':') + 1));
    if (!Number.isFinite(stamp) || stamp < window.from || stamp >= window.to) return;
    received++;
    const bucket = Math.min(BUCKETS - 1, Math.max(0, Math.round((now() - stamp) * 10)));
    histogram[bucket]!++;
  };
  const loginAll = async (users: number[]) => {
    const queue = [...users];
    await Promise.all(Array.from({ length: Math.min(50, queue.length) }, async () => {
      for (let u = queue.shift(); u !== undefined; u = queue.shift()) {
        const conn = new Conn(opts, `${opts.prefix}${u}`);
        await conn.login();
        conns.set(u, conn);
      }
    }));
  };
  try {
    await loginAll(plan.users);
    if (plan.creator) {
      // The first user of each room's creator process creates it (owner), sequentially.
      const creator = conns.get(plan.users[0]!)!;
      for (let r = 0; r < opts.rooms; r++) await creator.create(roomName(opts, r), `owner${r}`, opts.archive, Math.min(1000, opts.users + opts.joins + 10));
    }
    reply({ type: 'logged-in' });
    await new Promise<void>((resolve) => process.once('message', () => resolve()));
    // Enter the rooms (bounded concurrency), then wait for the go.
    const entries: Array<[number, number]> = [];
    for (const u of plan.users) for (const r of roomsOf(opts, u)) entries.push([u, r]);
    await Promise.all(Array.from({ length: Math.min(50, entries.length) }, async () => {
      for (let e = entries.shift(); e !== undefined; e = entries.shift()) await conns.get(e[0])!.enter(roomName(opts, e[1]), `u${e[0]}`);
    }));
    for (const conn of conns.values()) conn.onBody = onBody;
    reply({ type: 'entered' });

    const start = await new Promise<{ senders: Array<[number, number]>; perSenderRate: number; begin: number }>((resolve) => process.once('message', (m) => resolve(m as never)));
    // Each sender (user, room) sends perSenderRate messages/s, in 10 ms ticks, from `begin`.
    await sleep(Math.max(0, start.begin - now()));
    const began = now();
    const warmupEnd = start.begin + opts.warmup * 1000;
    const end = warmupEnd + opts.duration * 1000;
    window = { from: warmupEnd, to: end };
    // Each sender starts at its own phase: together they send at a steady rate, not in bursts.
    const senders = start.senders.map(([u, r]) => ({ conn: conns.get(u)!, to: roomName(opts, r), tag: `s${u}r${r}`, due: Math.random() }));
    let last = began;
    let cpuAtStart: NodeJS.CpuUsage | null = null;
    let cpuSeconds = 0;
    const cpuMark = setTimeout(() => (cpuAtStart = process.cpuUsage()), Math.max(0, warmupEnd - now()));
    const cpuEnd = setTimeout(() => {
      const used = process.cpuUsage(cpuAtStart ?? undefined);
      cpuSeconds = (used.user + used.system) / 1e6;
    }, Math.max(0, end - now()));
    const tick = setInterval(() => {
      const t = now();
      if (t >= end) return;
      const share = ((t - last) / 1000) * start.perSenderRate;
      last = t;
      for (const s of senders) {
        s.due += share;
        while (s.due >= 1) {
          s.due -= 1;
          const stamp = now();
          s.conn.send(`<message to='${s.to}' type='groupchat'><body>${s.tag}:${stamp.toFixed(3)}</body></message>`);
          if (stamp >= warmupEnd && stamp < end) sent++;
        }
      }
    }, 10);
    await sleep(end - now() + 2_000); // what is in flight at the end arrives, or not
    clearInterval(tick);
    clearTimeout(cpuMark);
    clearTimeout(cpuEnd);
    window = { from: Infinity, to: -Infinity };
    let joinSeconds: number | undefined;
    if (plan.creator && opts.joins > 0) {
      // Joins/s to the first room, which has its occupants: one account after another.
      const joiners = Array.from({ length: opts.joins }, (_, i) => opts.users + i);
      await loginAll(joiners);
      const t0 = now();
      for (const u of joiners) await conns.get(u)!.enter(roomName(opts, 0), `j${u}`);
      joinSeconds = (now() - t0) / 1000;
    }
    const result: WorkerResult = { cpuSeconds, received, receivedTotal, sent, histogram: Array.from(histogram), joinSeconds };
    reply({ type: 'result', result });
  } catch (err) {
    reply({ type: 'error', message: (err as Error).message });
  } finally {
    for (const conn of conns.values()) conn.close();
    setTimeout(() => process.exit(0), 500);
  }
}

// ---- the coordinator --------------------------------------------------------------------------

/** CPU seconds (user + system) a process has used, from /proc. */
function processCpuSeconds(pid: number): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

function percentile(histogram: number[], total: number, p: number): number {
  const target = Math.ceil(total * p);
  let seen = 0;
  for (let i = 0; i < histogram.length; i++) {
    seen += histogram[i]!;
    if (seen >= target) return i / 10;
  }
  return histogram.length / 10;
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  const procs: ChildProcess[] = [];
  const inbox = new Map<ChildProcess, unknown[]>();
  const next = (child: ChildProcess, type: string, ms: number): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`a generator process did not report "${type}" within ${ms / 1000} s`)), ms);
      const check = () => {
        const queue = inbox.get(child)!;
        const found = queue.findIndex((m) => (m as { type: string }).type === type || (m as { type: string }).type === 'error');
        if (found < 0) return false;
        const [message] = queue.splice(found, 1) as [Record<string, unknown>];
        clearTimeout(timer);
        if (message.type === 'error') reject(new Error(String(message.message)));
        else resolve(message);
        return true;
      };
      if (!check()) child.on('message', function listener() {
        if (check()) child.off('message', listener);
      });
    });
  const script = fileURLToPath(import.meta.url);
  const users = Array.from({ length: opts.users }, (_, u) => u);
  for (let w = 0; w < opts.procs; w++) {
    const child = fork(script, ['--worker'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    inbox.set(child, []);
    child.on('message', (m) => inbox.get(child)!.push(m));
    procs.push(child);
    const plan: WorkerPlan = { opts, users: users.filter((u) => u % opts.procs === w), creator: w === 0 };
    child.send(plan);
  }
  try {
    const budget = 120_000 + opts.rooms * 200 + opts.users * 50;
    await Promise.all(procs.map((p) => next(p, 'logged-in', budget)));
    const enterStart = now();
    for (const p of procs) p.send({ type: 'enter' });
    await Promise.all(procs.map((p) => next(p, 'entered', budget)));
    const enterSeconds = (now() - enterStart) / 1000;
    // Senders: in each room, its first `senders` occupants (by user index).
    const occupantsOf = new Map<number, number[]>();
    for (const u of users) for (const r of roomsOf(opts, u)) occupantsOf.set(r, [...(occupantsOf.get(r) ?? []), u]);
    const senders: Array<[number, number]> = [];
    for (const [r, occupants] of occupantsOf) for (const u of occupants.slice(0, opts.senders)) senders.push([u, r]);
    const perSenderRate = opts.rate / senders.length;
    const begin = now() + 500;
    procs.forEach((p, w) => p.send({ senders: senders.filter(([u]) => u % opts.procs === w), perSenderRate, begin }));
    let serverCpu: number | null = null;
    if (opts.serverPid !== null) {
      const pid = opts.serverPid;
      const windowStart = begin + opts.warmup * 1000;
      await sleep(windowStart - now());
      const before = processCpuSeconds(pid);
      await sleep(windowStart + opts.duration * 1000 - now());
      const after = processCpuSeconds(pid);
      if (before !== null && after !== null) serverCpu = (after - before) / opts.duration;
    }
    const results = (await Promise.all(procs.map((p) => next(p, 'result', (opts.warmup + opts.duration + 60) * 1000 + opts.joins * 5_000)))).map((m) => m.result as WorkerResult);
    const histogram = new Array<number>(BUCKETS).fill(0);
    let received = 0;
    let sent = 0;
    for (const r of results) {
      received += r.received;
      sent += r.sent;
      r.histogram.forEach((n, i) => (histogram[i]! += n));
    }
    // Every message a sender sent goes to each occupant of its room (itself included).
    const occupantsPerRoom = [...occupantsOf.values()].map((o) => o.length);
    const fanout = occupantsPerRoom.reduce((a, b) => a + b, 0) / occupantsPerRoom.length;
    const joinSeconds = results[0]?.joinSeconds;
    const report = {
      rooms: opts.rooms,
      occupantsPerRoom: Math.round(fanout * 10) / 10,
      senders: senders.length,
      archive: opts.archive,
      enterSeconds: Math.round(enterSeconds * 100) / 100,
      sentPerSecond: Math.round(sent / opts.duration),
      deliveredPerSecond: Math.round(received / opts.duration),
      deliveredOfExpected: sent > 0 ? Math.round((received / (sent * fanout)) * 10_000) / 10_000 : 0,
      latencyMs: { p50: percentile(histogram, received, 0.5), p90: percentile(histogram, received, 0.9), p99: percentile(histogram, received, 0.99), max: percentile(histogram, received, 1) },
      joinsPerSecond: joinSeconds !== undefined ? Math.round((opts.joins / joinSeconds) * 10) / 10 : undefined,
      /** Share of one core over the measured window: the server, and each generator process. */
      serverCpu: serverCpu !== null ? Math.round(serverCpu * 100) / 100 : undefined,
      generatorCpu: results.map((r) => Math.round((r.cpuSeconds / opts.duration) * 100) / 100),
    };
    if (opts.json) console.log(JSON.stringify(report));
    else {
      console.log(`rooms ${report.rooms} × ${report.occupantsPerRoom} occupants, ${report.senders} senders, archive ${opts.archive ? 'on' : 'off'}`);
      console.log(`  entered in ${report.enterSeconds} s; sent ${report.sentPerSecond}/s; delivered ${report.deliveredPerSecond}/s (${(report.deliveredOfExpected * 100).toFixed(2)} % of expected)`);
      console.log(`  latency ms p50 ${report.latencyMs.p50} p90 ${report.latencyMs.p90} p99 ${report.latencyMs.p99} max ${report.latencyMs.max}`);
      console.log(`  CPU (cores): server ${report.serverCpu ?? '?'}, generators ${report.generatorCpu.join(' + ')}`);
      if (report.joinsPerSecond !== undefined) console.log(`  joins to a ${report.occupantsPerRoom}-occupant room: ${report.joinsPerSecond}/s`);
    }
    return report.deliveredOfExpected > 0.999 ? 0 : 1;
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill();
  }
}

if (process.argv.includes('--worker')) {
  void worker();
} else {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error((err as Error).message);
      process.exit(1);
    },
  );
}
