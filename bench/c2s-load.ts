// c2s load generator: logs in N accounts over plain TCP and routes messages between online
// pairs, then reports logins/s, routed messages/s, delivery latency and the server's memory
// per idle authenticated connection. It speaks just enough XMPP (RFC 6120) to do that, with
// its own small scanner, so that one core of it outruns the server under test.
//
//   node --import tsx bench/c2s-load.ts --host 127.0.0.180 --domain bench.example --users 200
//   node --import tsx bench/c2s-load.ts --help
//   node --import tsx bench/c2s-load.ts --scenario presence --user-prefix pres --contacts 50
//     (accounts and rosters seeded first by bench/seed-rosters.ts with the same N, C, prefix)
//   node --import tsx bench/c2s-load.ts --scenario pep --user-prefix pres --contacts 50 --rate 200
//     (PEP, XEP-0163: the same seeded accounts publish; notifications/s and latency; bench/pep.sh)
//   node --import tsx bench/c2s-load.ts --host 127.0.0.192 --host2 127.0.0.193 --placement cross
//     (two nodes of one cluster: every pair split across them; see bench/cluster.sh)
//
// Meant to be pinned to one core (taskset -c 1) with the server on the other (taskset -c 0).
// Every phase is bounded in time; errors are counted and reported, never waited on forever.
import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto';
import net from 'node:net';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { T0, nowNs, readBetween, readMeter, round, serverRssKb, sleep, startMeter, type Meter, type MeterReading } from './meter.js';
import { contactsOf, graphProblem } from './roster-graph.js';
import { BoshIo, WebSocketIo, type Io, type IoEvents } from './web-transports.js';

const HELP = `Usage: node --import tsx bench/c2s-load.ts [options]

  --host H               server address (127.0.0.1)
  --host2 H              a second server of the same domain and port (another node of one
                         cluster): accounts are spread over --host and --host2 by --placement
  --placement P          with --host2, where account i logs in (pairs are 2p, 2p+1):
                         same: pair p on --host when p is even, on --host2 when odd (half
                               the pairs on each server, every message stays on its server)
                         cross: even accounts on --host, odd ones on --host2 (every message
                                goes from one server to the other)
  --shadow               with --host2: after the logins, every account also binds an idle
                         second resource (<resource>-shadow) on the server its first one is
                         not on, so that each account has a session on both servers (state a
                         cluster node keeps only for accounts with a local session is then
                         in memory on both); nothing is sent to or by those sessions
  --port P               c2s port (5222)
  --transport T          tcp (default), websocket (RFC 7395, ws://host:HTTP-PORT/xmpp-websocket)
                         or bosh (XEP-0206, http://host:HTTP-PORT/http-bind, hold=1)
  --http-port P          the server's client HTTP port for websocket and bosh (5280)
  --domain D             XMPP domain of the accounts (localhost)
  --users N              accounts logged in and paired for routing (200)
  --user-prefix S        account i is <prefix><i>@<domain> (bench)
  --password S           password of every account (bench-password)
  --resource S           resource to bind (bench)
  --mechanism M          PLAIN or SCRAM-SHA-1 (PLAIN)
  --login-concurrency C  logins in progress at once (50)
  --scram-prewarm B      SCRAM: log everyone in once first, unmeasured, to fill the
                         client's SaltedPassword cache as real clients have it (true)
  --in-flight K          messages each sender keeps in flight (10; pep: publish iqs per user, 2);
                         0 skips routing
  --duration S           measured seconds of routing or publishing (10; pep: 20); 0 skips it
  --warmup S             unmeasured seconds before measuring (2)
  --rate R               0: as fast as K in flight allows; >0: a steady R messages/s in total
                         spread over all users (latency test) instead of K in flight (pep: R
                         publishes/s in total)
  --server-pid PID       server process, for its CPU time per phase and its memory (VmRSS);
                         a list PID,PID,... sums them (the nodes of a cluster, redis-server)
  --idle M               log in M more accounts (<prefix><N..N+M-1>), leave them idle 5 s and
                         report the server's RSS growth per connection (needs --server-pid)
  --idle-settle S        seconds to wait before each RSS reading (5)
  --scenario S           routing (default): logins, then routing and --idle as above;
                         presence: logins with presence broadcast, no routing: the accounts
                         must have been seeded by bench/seed-rosters.ts (same --users,
                         --contacts, --user-prefix, --domain). Counts every <presence/> any
                         connection receives until none came for --presence-quiet s (at most
                         --presence-timeout s after the first connect), reports logins/s,
                         presence stanzas/s, and checks that each user got an available
                         presence from each of its C contacts exactly once;
                         pep: PEP (XEP-0163) notifications, on accounts seeded as for presence.
                         Each connection advertises XEP-0115 caps with <node>+notify in its
                         initial presence and answers the server's disco#info about them; once
                         all are online and the caps are verified (at most --caps-wait s), every
                         account publishes to its own node <node> (--rate or --in-flight) for
                         --warmup + --duration s; every notification is counted and its latency
                         (publish sent → notification received) taken. Each publish must reach
                         the publisher's own resource and each of its C contacts: C + 1
                         notifications. Reports publishes/s acknowledged, notifications/s,
                         latency, delivered ÷ expected, iq errors, server CPU per notification
  --contacts C           presence, pep: contacts per account in the seeded graph (50)
  --pep-node N           pep: the node every account publishes to (urn:example:bench:pep)
  --caps-wait S          pep: after the logins, wait at most S s for the server's caps query (3)
  --pep-drain S          pep: after the window, wait at most S s for what is in flight (5)
  --presence-quiet S     presence: the broadcast is over after S s without a presence (1)
  --presence-timeout S   presence: give up waiting S s after the first connect (60)
  --sm                   every connection enables stream management (XEP-0198, with
                         resumption) after binding, counts what it receives and answers
                         the server's <r/>; with routing it asks the server for an ack
                         after every --sm-request-every messages it sends
  --sm-request-every N   messages per client <r/> (1: after each message, as mobile clients do)
  --json                 print one JSON object instead of text
  --help                 this text

Exit status: 0 when every login succeeded (and, with --scenario presence, every expected
presence arrived exactly once; with --scenario pep, every publish of the measured window was
acknowledged and notified exactly once to each of the C + 1 resources), 1 otherwise, 2 on bad
options.`;

// ---- options -------------------------------------------------------------------------------

interface Options {
  host: string;
  host2: string | null;
  placement: 'same' | 'cross';
  shadow: boolean;
  port: number;
  transport: 'tcp' | 'websocket' | 'bosh';
  httpPort: number;
  domain: string;
  users: number;
  prefix: string;
  password: string;
  resource: string;
  mechanism: 'PLAIN' | 'SCRAM-SHA-1';
  loginConcurrency: number;
  scramPrewarm: boolean;
  inFlight: number;
  duration: number;
  warmup: number;
  rate: number;
  /** Server processes whose CPU (and memory) the figures sum; null: none given. */
  serverPid: number[] | null;
  idle: number;
  idleSettle: number;
  scenario: 'routing' | 'presence' | 'pep';
  contacts: number;
  pepNode: string;
  capsWait: number;
  pepDrain: number;
  presenceQuiet: number;
  presenceTimeout: number;
  sm: boolean;
  smRequestEvery: number;
  json: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      host2: { type: 'string' },
      placement: { type: 'string', default: 'same' },
      shadow: { type: 'boolean', default: false },
      port: { type: 'string', default: '5222' },
      transport: { type: 'string', default: 'tcp' },
      'http-port': { type: 'string', default: '5280' },
      domain: { type: 'string', default: 'localhost' },
      users: { type: 'string', default: '200' },
      'user-prefix': { type: 'string', default: 'bench' },
      password: { type: 'string', default: 'bench-password' },
      resource: { type: 'string', default: 'bench' },
      mechanism: { type: 'string', default: 'PLAIN' },
      'login-concurrency': { type: 'string', default: '50' },
      'scram-prewarm': { type: 'string', default: 'true' },
      // Defaults by scenario (below).
      'in-flight': { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string', default: '2' },
      rate: { type: 'string', default: '0' },
      'server-pid': { type: 'string' },
      idle: { type: 'string', default: '0' },
      'idle-settle': { type: 'string', default: '5' },
      scenario: { type: 'string', default: 'routing' },
      contacts: { type: 'string', default: '50' },
      'pep-node': { type: 'string', default: 'urn:example:bench:pep' },
      'caps-wait': { type: 'string', default: '3' },
      'pep-drain': { type: 'string', default: '5' },
      'presence-quiet': { type: 'string', default: '1' },
      'presence-timeout': { type: 'string', default: '60' },
      sm: { type: 'boolean', default: false },
      'sm-request-every': { type: 'string', default: '1' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP + '\n');
    process.exit(0);
  }
  const num = (name: string, raw: string, min: number, max: number, integer = true): number => {
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      throw new Error(`--${name}: expected ${integer ? 'an integer' : 'a number'} in ${min}..${max}, got "${raw}"`);
    }
    return n;
  };
  const mechanism = values.mechanism.toUpperCase();
  if (mechanism !== 'PLAIN' && mechanism !== 'SCRAM-SHA-1') throw new Error(`--mechanism: PLAIN or SCRAM-SHA-1, got "${values.mechanism}"`);
  if (!/^[a-z0-9._-]+$/i.test(values['user-prefix'])) throw new Error('--user-prefix: letters, digits, ".", "_" and "-" only');
  if (!/^[a-z0-9.-]+$/i.test(values.domain)) throw new Error('--domain: a plain ASCII domain name');
  if (values.password === '' || /[\0,=]/.test(values.password) || /[<>&]/.test(values.resource)) throw new Error('--password/--resource: unsupported characters');
  if (values.scenario !== 'routing' && values.scenario !== 'presence' && values.scenario !== 'pep') throw new Error(`--scenario: routing, presence or pep, got "${values.scenario}"`);
  if (!/^[a-z0-9:._/-]{1,200}$/i.test(values['pep-node'])) throw new Error('--pep-node: letters, digits and ":._/-" only');
  const pep = values.scenario === 'pep';
  const serverPid = values['server-pid'] === undefined ? null : values['server-pid'].split(',').map((p) => num('server-pid', p.trim(), 1, 2 ** 31));
  if (!['tcp', 'websocket', 'bosh'].includes(values.transport)) throw new Error(`--transport: tcp, websocket or bosh, got "${values.transport}"`);
  if (values.placement !== 'same' && values.placement !== 'cross') throw new Error(`--placement: same or cross, got "${values.placement}"`);
  if (values.shadow && values.host2 === undefined) throw new Error('--shadow: only with --host2');
  const opts: Options = {
    host: values.host,
    host2: values.host2 ?? null,
    placement: values.placement,
    shadow: values.shadow,
    port: num('port', values.port, 1, 65535),
    transport: values.transport as Options['transport'],
    httpPort: num('http-port', values['http-port'], 1, 65535),
    domain: values.domain.toLowerCase(),
    users: num('users', values.users, 0, 100_000),
    prefix: values['user-prefix'],
    password: values.password,
    resource: values.resource,
    mechanism,
    loginConcurrency: num('login-concurrency', values['login-concurrency'], 1, 10_000),
    scramPrewarm: values['scram-prewarm'] !== 'false' && values['scram-prewarm'] !== '0',
    inFlight: num('in-flight', values['in-flight'] ?? (pep ? '2' : '10'), 0, 10_000),
    duration: num('duration', values.duration ?? (pep ? '20' : '10'), 0, 3_600, false),
    warmup: num('warmup', values.warmup, 0, 600, false),
    rate: num('rate', values.rate, 0, 10_000_000, false),
    serverPid,
    idle: num('idle', values.idle, 0, 100_000),
    idleSettle: num('idle-settle', values['idle-settle'], 0, 600, false),
    scenario: values.scenario,
    contacts: num('contacts', values.contacts, 0, 100_000),
    pepNode: values['pep-node'],
    capsWait: num('caps-wait', values['caps-wait'], 0, 600, false),
    pepDrain: num('pep-drain', values['pep-drain'], 0, 600, false),
    presenceQuiet: num('presence-quiet', values['presence-quiet'], 0.05, 60, false),
    presenceTimeout: num('presence-timeout', values['presence-timeout'], 1, 3_600, false),
    sm: values.sm,
    smRequestEvery: num('sm-request-every', values['sm-request-every'], 1, 1_000_000),
    json: values.json,
  };
  if (opts.scenario === 'presence' || opts.scenario === 'pep') {
    const problem = graphProblem(opts.users, opts.contacts);
    if (problem) throw new Error(`--users/--contacts: ${problem}`);
    if (opts.idle > 0) throw new Error(`--idle: not with --scenario ${opts.scenario} (the idle accounts have no rosters)`);
  }
  if (pep) {
    if (opts.host2 !== null) throw new Error('--host2: not with --scenario pep');
    if (opts.rate === 0 && opts.inFlight === 0 && opts.duration > 0) throw new Error('--scenario pep: --rate 0 needs --in-flight of at least 1');
  }
  return opts;
}

// ---- counters ------------------------------------------------------------------------------

/** Problems seen, by kind ("stream-error:conflict", "ECONNRESET", "login-timeout", ...). */
class Tally {
  readonly counts = new Map<string, number>();
  add(kind: string, n = 1): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + n);
  }
  get total(): number {
    let t = 0;
    for (const n of this.counts.values()) t += n;
    return t;
  }
  toJSON(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort((a, b) => b[1] - a[1]));
  }
}
const problems = new Tally();

/** Latency samples in microseconds; reservoir-sampled past the cap so memory stays bounded. */
class Samples {
  private data = new Float64Array(1 << 16);
  private n = 0;
  private seen = 0;
  constructor(private readonly cap = 4_000_000) {}
  add(us: number): void {
    this.seen++;
    if (this.n < this.cap) {
      if (this.n === this.data.length) {
        const bigger = new Float64Array(Math.min(this.cap, this.data.length * 2));
        bigger.set(this.data);
        this.data = bigger;
      }
      this.data[this.n++] = us;
    } else {
      const j = Math.floor(Math.random() * this.seen);
      if (j < this.cap) this.data[j] = us;
    }
  }
  summary(): { samples: number; p50Ms: number | null; p90Ms: number | null; p99Ms: number | null; maxMs: number | null } {
    if (this.n === 0) return { samples: 0, p50Ms: null, p90Ms: null, p99Ms: null, maxMs: null };
    const sorted = this.data.slice(0, this.n).sort();
    const q = (p: number) => round(sorted[Math.min(this.n - 1, Math.max(0, Math.ceil(p * this.n) - 1))]! / 1000, 3);
    return { samples: this.seen, p50Ms: q(0.5), p90Ms: q(0.9), p99Ms: q(0.99), maxMs: round(sorted[this.n - 1]! / 1000, 3) };
  }
}

// ---- write coalescing ------------------------------------------------------------------------

const dirty: Conn[] = [];
let flushScheduled = false;
function scheduleFlush(c: Conn): void {
  if (!c.dirty) {
    c.dirty = true;
    dirty.push(c);
  }
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushAll);
  }
}
function flushAll(): void {
  flushScheduled = false;
  // A write never calls back into us synchronously, but be safe against re-entry.
  const list = dirty.splice(0, dirty.length);
  for (const c of list) {
    c.dirty = false;
    c.flush();
  }
}

// ---- SCRAM-SHA-1 client (RFC 5802) -----------------------------------------------------------

interface ScramKeys {
  clientKey: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}
/** SaltedPassword-derived keys by (password, salt, iterations): what a real client stores. */
const scramCache = new Map<string, Promise<ScramKeys>>();
let scramDerivations = 0;
function scramKeys(password: string, saltB64: string, iterations: number): Promise<ScramKeys> {
  const key = `${iterations},${saltB64},${password}`;
  let keys = scramCache.get(key);
  if (!keys) {
    scramDerivations++;
    keys = new Promise<ScramKeys>((resolve, reject) => {
      pbkdf2(password, Buffer.from(saltB64, 'base64'), iterations, 20, 'sha1', (err, salted) => {
        if (err) return reject(err);
        const clientKey = createHmac('sha1', salted).update('Client Key').digest();
        resolve({
          clientKey,
          storedKey: createHash('sha1').update(clientKey).digest(),
          serverKey: createHmac('sha1', salted).update('Server Key').digest(),
        });
      });
    });
    scramCache.set(key, keys);
  }
  return keys;
}

// ---- the connection ----------------------------------------------------------------------------

/** The server account i logs in to: --host, or with --host2 as --placement says (a shadow: the other). */
function hostOf(index: number, opts: Options, shadow = false): string {
  if (opts.host2 === null) return opts.host;
  const second = opts.placement === 'cross' ? index % 2 === 1 : Math.floor(index / 2) % 2 === 1;
  return second !== shadow ? opts.host2 : opts.host;
}

const NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
const NS_CAPS = 'http://jabber.org/protocol/caps';
const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';
const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
const NS_PUBSUB_EVENT = 'http://jabber.org/protocol/pubsub#event';
const CH_GT = 62; // >
const CH_SLASH = 47; // /
const CH_QMARK = 63; // ?
const CH_BANG = 33; // !
const CH_QUOT = 34; // "
const CH_APOS = 39; // '

type ConnState = 'connecting' | 'features' | 'auth' | 'scram-first' | 'scram-final' | 'restart' | 'bind' | 'bound' | 'closing' | 'closed';

/** What the routing phase does with a received message (set per phase). */
interface Receiver {
  onMessage(to: Conn, sentAtNs: number, error: boolean): void;
}
let receiver: Receiver | null = null;
/** What the presence scenario does with a received presence stanza (null: ignored). */
interface PresenceSink {
  onPresence(to: Conn, el: string): void;
}
let presenceSink: PresenceSink | null = null;
/**
 * The pep scenario's XEP-0115 capabilities, the same for every connection: advertised in the
 * initial presence, and the disco#info answer they hash from (null in other scenarios).
 */
interface PepCaps {
  node: string;
  ver: string;
  /** The children of the disco#info <query/>: identity and features. */
  queryBody: string;
}
let pepCaps: PepCaps | null = null;
/** What the pep scenario does with received notifications and iq responses (null: ignored). */
interface PepSink {
  onMessage(to: Conn, el: string): void;
  onIqResponse(on: Conn, id: string, error: boolean, el: string): void;
}
let pepSink: PepSink | null = null;
/** Pep scenario: the server's disco#info queries answered, and other iq requests refused. */
const pepIqCounts = { discoAnswered: 0, firstDiscoAtNs: 0, otherRequests: 0 };
/** Presence scenario: when account i sent its initial presence (0: not yet), by index. */
let presenceSentAtByIndex: Float64Array | null = null;
/** Login step durations of the current login phase, by step, to see where login time goes. */
let stepSamples: Map<string, Samples> | null = null;
let stanzasIn = 0;
let stanzasOut = 0;
/** XEP-0198 traffic: the server's <r/> answered, our <r/> sent, its <a/> received. */
const smCounts = { serverRequests: 0, clientRequests: 0, serverAcks: 0, enabled: 0 };
const NS_SM = 'urn:xmpp:sm:3';

/** Plain TCP: the written elements go out in one write per turn. */
class TcpIo implements Io {
  private readonly sock: net.Socket;
  constructor(host: string, port: number, events: IoEvents) {
    const sock = net.connect({ host, port });
    this.sock = sock;
    sock.setNoDelay(true);
    sock.on('connect', () => events.connected());
    sock.on('data', (chunk: Buffer) => events.data(chunk));
    sock.on('error', (err: NodeJS.ErrnoException) => events.error(err.code ?? 'socket-error'));
    sock.on('close', () => events.closed());
  }
  send(elements: string[]): void {
    if (!this.sock.destroyed && this.sock.writable) this.sock.write(elements.length === 1 ? elements[0]! : elements.join(''));
  }
  openStream(domain: string, restart: boolean): void {
    this.send([
      `${restart ? '' : "<?xml version='1.0'?>"}<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='${domain}' version='1.0' xml:lang='en'>`,
    ]);
  }
  closeStream(): void {
    this.send(['</stream:stream>']);
    this.sock.end();
  }
  destroy(): void {
    if (!this.sock.destroyed) this.sock.destroy();
  }
}

class Conn {
  readonly username: string;
  readonly fullJid: string;
  private io: Io | null = null;
  state: ConnState = 'connecting';
  dirty = false;
  private out: string[] = [];
  // scanner state
  private buf = '';
  private scanPos = 0;
  private depth = 0;
  private elemStart = 0;
  // login bookkeeping
  private settle: ((err: string | null) => void) | null = null;
  private loginTimer: NodeJS.Timeout | null = null;
  private scramClientFirstBare = '';
  private scramNonce = '';
  private scramAuthMessage = '';
  private scramServerKey: Buffer | null = null;
  private lastMark = 0;
  private closeWaiters: Array<() => void> = [];
  /** Routing: the other half of the pair (0↔1, 2↔3, …) and its full JID. */
  partner: Conn | null = null;
  partnerAddress = '';
  /** Messages this connection has sent. */
  sent = 0;
  private msgSeq = 0;
  /** The connection was lost (stream error or close) while it was paired for routing. */
  droppedWhileRouting = false;
  /** When this connection sent its initial presence (0: not yet). */
  presenceSentAt = 0;
  /** XEP-0198: enabled, and the stanzas received since (h). */
  private smEnabled = false;
  private smInbound = 0;

  private readonly resource: string;

  constructor(
    readonly index: number,
    private readonly opts: Options,
    /** --shadow: the idle second resource, on the other server. */
    readonly shadow = false,
  ) {
    this.username = `${opts.prefix}${index}`;
    this.resource = shadow ? `${opts.resource}-shadow` : opts.resource;
    this.fullJid = `${this.username}@${opts.domain}/${this.resource}`;
  }

  /** Connects, authenticates, binds and sends initial presence; resolves null or an error kind. */
  login(): Promise<string | null> {
    return new Promise((resolve) => {
      this.settle = (err) => {
        this.settle = null;
        if (this.loginTimer) clearTimeout(this.loginTimer);
        this.loginTimer = null;
        resolve(err);
      };
      this.lastMark = nowNs();
      this.loginTimer = setTimeout(() => this.failLogin(`login-timeout(${this.state})`), 10_000);
      const host = hostOf(this.index, this.opts, this.shadow);
      const events: IoEvents = {
        connected: () => {
          this.mark('tcp-connect');
          this.state = 'features';
          this.sendHeader();
        },
        data: (chunk) => this.feed(chunk),
        error: (kind) => {
          if (this.settle) this.failLogin(kind);
          else if (this.state !== 'closing' && this.state !== 'closed') problems.add(kind);
        },
        closed: () => this.onClosed(),
      };
      const web = `${host.includes(':') ? `[${host}]` : host}:${this.opts.httpPort}`;
      this.io = this.opts.transport === 'websocket' ? new WebSocketIo(`ws://${web}/xmpp-websocket`, events)
        : this.opts.transport === 'bosh' ? new BoshIo(`http://${web}/http-bind`, events)
        : new TcpIo(host, this.opts.port, events);
    });
  }

  /** Records the time since the previous login step under this step's name. */
  private mark(step: string): void {
    const now = nowNs();
    if (stepSamples !== null) {
      let samples = stepSamples.get(step);
      if (!samples) stepSamples.set(step, (samples = new Samples(200_000)));
      samples.add((now - this.lastMark) / 1000);
    }
    this.lastMark = now;
  }

  private failLogin(kind: string): void {
    problems.add(kind);
    const settle = this.settle;
    this.settle = null;
    this.state = 'closing'; // the close that follows is ours, not a disconnect
    this.destroy();
    settle?.(kind);
  }

  private onClosed(): void {
    const was = this.state;
    this.state = 'closed';
    if (this.settle) {
      problems.add(`closed-during-login(${was})`);
      this.settle('closed-during-login');
    } else if (was !== 'closing' && was !== 'closed') {
      problems.add('disconnected-after-login');
      if (this.partner) this.droppedWhileRouting = true;
    }
    const waiters = this.closeWaiters;
    this.closeWaiters = [];
    for (const w of waiters) w();
  }

  private sendHeader(restart = false): void {
    this.flush();
    this.io?.openStream(this.opts.domain, restart);
  }

  write(text: string): void {
    this.out.push(text);
    scheduleFlush(this);
  }

  flush(): void {
    if (this.out.length === 0) return;
    const out = this.out;
    this.out = [];
    this.io?.send(out);
  }

  destroy(): void {
    this.out = [];
    this.io?.destroy();
  }

  /** Closes the stream politely; resolves when the connection is gone (forced after 2 s). */
  close(): Promise<void> {
    if (this.state === 'closed' || !this.io) return Promise.resolve();
    return new Promise((resolve) => {
      this.closeWaiters.push(resolve);
      if (this.state !== 'closing') {
        this.state = 'closing';
        // XEP-0198 §4: what was received is acknowledged before a clean close, as clients do.
        if (this.smEnabled) this.out.push(`<a xmlns='${NS_SM}' h='${this.smInbound}'/>`);
        this.flush();
        this.io!.closeStream();
        setTimeout(() => this.destroy(), 2_000).unref();
      }
    });
  }

  // -- the scanner: finds complete top-level elements by tag depth, no DOM --------------------

  private feed(chunk: Buffer): void {
    // Everything we look at is ASCII; latin1 keeps byte offsets and is the cheapest decode.
    const text = chunk.toString('latin1');
    const s = this.buf.length === 0 ? text : this.buf + text;
    const len = s.length;
    let pos = this.scanPos;
    let depth = this.depth;
    let elemStart = this.elemStart;
    /** Where scanning stopped: the start of a token cut by the end of the data, or len. */
    let resumeAt = len;
    while (pos < len) {
      const lt = s.indexOf('<', pos);
      if (lt < 0 || lt + 1 >= len) {
        resumeAt = lt < 0 ? len : lt;
        break;
      }
      const c = s.charCodeAt(lt + 1);
      if (c === CH_SLASH) {
        const gt = s.indexOf('>', lt);
        if (gt < 0) {
          resumeAt = lt;
          break;
        }
        pos = gt + 1;
        depth--;
        if (depth === 0) {
          this.element(s.slice(elemStart, pos));
        } else if (depth < 0) {
          depth = 0; // </stream:stream>
          this.streamEnd();
        }
      } else if (c === CH_QMARK) {
        const end = s.indexOf('?>', lt);
        if (end < 0) {
          resumeAt = lt;
          break;
        }
        pos = end + 2;
      } else if (c === CH_BANG) {
        // Comments and CDATA are not expected from servers; skip them whole.
        const end = s.indexOf(s.startsWith('<![CDATA[', lt) ? ']]>' : '-->', lt);
        if (end < 0) {
          resumeAt = lt;
          break;
        }
        pos = end + 3;
      } else {
        // An open tag: its '>' outside quoted attribute values.
        let gt = -1;
        let quote = 0;
        for (let i = lt + 2; i < len; i++) {
          const ch = s.charCodeAt(i);
          if (quote !== 0) {
            if (ch === quote) quote = 0;
          } else if (ch === CH_GT) {
            gt = i;
            break;
          } else if (ch === CH_QUOT || ch === CH_APOS) {
            quote = ch;
          }
        }
        if (gt < 0) {
          resumeAt = lt;
          break;
        }
        pos = gt + 1;
        if (depth === 0 && s.startsWith('stream:stream', lt + 1)) {
          this.streamStart();
        } else if (s.charCodeAt(gt - 1) === CH_SLASH) {
          if (depth === 0) this.element(s.slice(lt, pos));
        } else {
          if (depth === 0) elemStart = lt;
          depth++;
        }
      }
      if (this.state === 'closed') return;
    }
    // Keep the unfinished part: the element in progress, or the token cut in the middle.
    const keepFrom = depth > 0 ? elemStart : resumeAt;
    this.buf = keepFrom >= len ? '' : s.slice(keepFrom);
    this.scanPos = resumeAt - keepFrom;
    this.elemStart = 0;
    this.depth = depth;
    if (this.buf.length > 1_000_000) {
      problems.add('oversized-element');
      this.destroy();
    }
  }

  private streamStart(): void {
    // Nothing to check: features follow.
  }

  private streamEnd(): void {
    if (this.state !== 'closing') {
      if (this.settle) this.failLogin('stream-closed-by-server');
      else problems.add('stream-closed-by-server');
    }
    this.destroy();
  }

  private element(el: string): void {
    stanzasIn++;
    if (this.state === 'bound') {
      if (this.opts.sm && this.smElement(el)) return;
      if (this.smEnabled) this.smInbound = (this.smInbound + 1) % 2 ** 32;
      if (el.startsWith('<message')) return this.message(el);
      if (el.startsWith('<presence')) {
        presenceSink?.onPresence(this, el);
        return;
      }
      if (el.startsWith('<stream:error')) return this.streamError(el);
      if (pepCaps !== null && el.startsWith('<iq')) return this.iq(el, pepCaps);
      return; // iq: not ours to answer here (other scenarios advertise nothing to ask about)
    }
    if (el.startsWith('<stream:error')) return this.streamError(el);
    switch (this.state) {
      case 'features':
        if (!el.startsWith('<stream:features')) return;
        if (!el.includes(`>${this.opts.mechanism}<`)) return this.failLogin(`mechanism-not-offered:${this.opts.mechanism}`);
        this.mark('stream-features');
        this.startAuth();
        return;
      case 'auth':
      case 'scram-first':
      case 'scram-final':
        return this.saslElement(el);
      case 'restart':
        if (!el.startsWith('<stream:features')) return;
        if (!el.includes('urn:ietf:params:xml:ns:xmpp-bind')) return this.failLogin('bind-not-offered');
        this.mark('restart-features');
        this.state = 'bind';
        this.write(`<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${this.resource}</resource></bind></iq>`);
        return;
      case 'bind':
        if (!el.startsWith('<iq')) return;
        if (!/ id=['"]bind1['"]/.test(el)) return;
        if (/ type=['"]result['"]/.test(el)) {
          this.mark('bind');
          this.state = 'bound';
          // XEP-0198 §3: enabled right after binding, before anything else is sent.
          if (this.opts.sm) this.write(`<enable xmlns='${NS_SM}' resume='true'/>`);
          // XEP-0115 §4: the caps go in every available presence.
          this.write(pepCaps === null ? '<presence/>' : `<presence><c xmlns='${NS_CAPS}' hash='sha-1' node='${pepCaps.node}' ver='${pepCaps.ver}'/></presence>`);
          this.presenceSentAt = nowNs();
          if (presenceSentAtByIndex !== null && this.index < presenceSentAtByIndex.length) presenceSentAtByIndex[this.index] = this.presenceSentAt;
          this.settle?.(null);
        } else {
          this.failLogin('bind-error');
        }
        return;
      default:
        return;
    }
  }

  /** XEP-0198 nonzas; true when `el` was one. */
  private smElement(el: string): boolean {
    if (!el.includes(NS_SM)) return false;
    if (el.startsWith('<r ') || el.startsWith('<r/')) {
      smCounts.serverRequests++;
      this.write(`<a xmlns='${NS_SM}' h='${this.smInbound}'/>`);
    } else if (el.startsWith('<a ')) {
      smCounts.serverAcks++;
    } else if (el.startsWith('<enabled')) {
      this.smEnabled = true;
      this.smInbound = 0;
      smCounts.enabled++;
    } else if (el.startsWith('<failed')) {
      problems.add('sm-failed');
    }
    return true;
  }

  private streamError(el: string): void {
    const m = /<([a-z-]+) xmlns=['"]urn:ietf:params:xml:ns:xmpp-streams['"]/.exec(el);
    const kind = `stream-error:${m ? m[1] : 'unknown'}`;
    if (this.settle) return this.failLogin(kind);
    problems.add(kind);
    if (this.partner) this.droppedWhileRouting = true;
    this.state = 'closing';
    this.destroy();
  }

  private startAuth(): void {
    if (this.opts.mechanism === 'PLAIN') {
      this.state = 'auth';
      const msg = Buffer.from(`\0${this.username}\0${this.opts.password}`, 'utf8').toString('base64');
      this.write(`<auth xmlns='${NS_SASL}' mechanism='PLAIN'>${msg}</auth>`);
      return;
    }
    this.state = 'scram-first';
    const cnonce = randomBytes(18).toString('base64');
    this.scramClientFirstBare = `n=${this.username},r=${cnonce}`;
    this.scramNonce = cnonce;
    const msg = Buffer.from(`n,,${this.scramClientFirstBare}`, 'utf8').toString('base64');
    this.write(`<auth xmlns='${NS_SASL}' mechanism='SCRAM-SHA-1'>${msg}</auth>`);
  }

  private saslElement(el: string): void {
    const text = () => {
      const open = el.indexOf('>');
      const close = el.lastIndexOf('</');
      return open >= 0 && close > open ? el.slice(open + 1, close).trim() : '';
    };
    if (el.startsWith('<failure')) {
      const m = /<failure[^>]*>\s*<([a-z-]+)/.exec(el);
      return this.failLogin(`sasl-failure:${m ? m[1] : 'unknown'}`);
    }
    if (el.startsWith('<success')) {
      if (this.state === 'scram-first') return this.failLogin('scram-early-success');
      if (this.state === 'scram-final') {
        const data = text();
        if (data !== '' && data !== '=' && !this.verifyServerFinal(data)) return this.failLogin('scram-bad-server-signature');
        if ((data === '' || data === '=') && this.scramServerKey !== null) return this.failLogin('scram-no-server-signature');
      }
      this.mark(this.opts.mechanism === 'PLAIN' ? 'sasl-plain' : 'sasl-scram-final');
      // RFC 6120 §6.4.6: new stream over the same connection, no closing tag.
      this.state = 'restart';
      this.sendHeader(true);
      return;
    }
    if (el.startsWith('<challenge')) {
      if (this.state === 'scram-first') {
        this.mark('sasl-scram-first');
        this.scramServerFirst(Buffer.from(text(), 'base64').toString('utf8'));
        return;
      }
      if (this.state === 'scram-final') {
        // Older servers send v= as a challenge, then an empty success.
        if (!this.verifyServerFinal(text())) return this.failLogin('scram-bad-server-signature');
        this.scramServerKey = null;
        this.write(`<response xmlns='${NS_SASL}'/>`);
        return;
      }
      return this.failLogin('unexpected-challenge');
    }
  }

  private scramServerFirst(serverFirst: string): void {
    const attrs = new Map<string, string>();
    for (const part of serverFirst.split(',')) attrs.set(part.slice(0, 1), part.slice(2));
    const nonce = attrs.get('r');
    const salt = attrs.get('s');
    const iterations = Number(attrs.get('i'));
    if (!nonce || !salt || !Number.isInteger(iterations) || iterations < 1 || !nonce.startsWith(this.scramNonce)) {
      return this.failLogin('scram-bad-server-first');
    }
    this.state = 'scram-final';
    scramKeys(this.opts.password, salt, iterations).then(
      (keys) => {
        if (this.state !== 'scram-final') return;
        this.mark('client-scram-keys');
        const finalWithoutProof = `c=biws,r=${nonce}`;
        this.scramAuthMessage = `${this.scramClientFirstBare},${serverFirst},${finalWithoutProof}`;
        const signature = createHmac('sha1', keys.storedKey).update(this.scramAuthMessage).digest();
        const proof = Buffer.allocUnsafe(20);
        for (let i = 0; i < 20; i++) proof[i] = keys.clientKey[i]! ^ signature[i]!;
        this.scramServerKey = keys.serverKey;
        const msg = Buffer.from(`${finalWithoutProof},p=${proof.toString('base64')}`, 'utf8').toString('base64');
        this.write(`<response xmlns='${NS_SASL}'>${msg}</response>`);
      },
      () => this.failLogin('scram-pbkdf2-error'),
    );
  }

  private verifyServerFinal(b64: string): boolean {
    if (this.scramServerKey === null) return false;
    const serverFinal = Buffer.from(b64, 'base64').toString('utf8');
    const expected = createHmac('sha1', this.scramServerKey).update(this.scramAuthMessage).digest('base64');
    return serverFinal === `v=${expected}`;
  }

  // -- pep: iq requests and responses -------------------------------------------------------

  /**
   * The pep scenario: iq responses go to the sink; the server's disco#info query about our
   * caps (XEP-0115 §6.2) is answered with what they hash from; any other request is refused
   * (RFC 6120 §8.2.3: every get or set gets an answer).
   */
  private iq(el: string, caps: PepCaps): void {
    const type = attr(el, 'type');
    const id = attr(el, 'id') ?? '';
    if (type === 'result' || type === 'error') {
      pepSink?.onIqResponse(this, id, type === 'error', el);
      return;
    }
    if (type !== 'get' && type !== 'set') return;
    // Attribute values are re-emitted as received: still escaped, and inside double quotes
    // (the server escapes both quote characters).
    const from = attr(el, 'from');
    const head = `<iq id="${id}"${from === null ? '' : ` to="${from}"`}`;
    const queryAt = el.indexOf('<query');
    if (type === 'get' && queryAt > 0 && el.includes(NS_DISCO_INFO)) {
      const node = attr(el.slice(queryAt), 'node');
      if (pepIqCounts.discoAnswered++ === 0) pepIqCounts.firstDiscoAtNs = nowNs();
      this.write(`${head} type="result"><query xmlns="${NS_DISCO_INFO}"${node === null ? '' : ` node="${node}"`}>${caps.queryBody}</query></iq>`);
    } else {
      pepIqCounts.otherRequests++;
      this.write(`${head} type="error"><error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`);
    }
    stanzasOut++;
  }

  // -- routing ------------------------------------------------------------------------------

  private message(el: string): void {
    if (pepSink !== null) return pepSink.onMessage(this, el);
    const r = receiver;
    if (r === null) return;
    const tagEnd = el.indexOf('>');
    const head = el.slice(0, tagEnd);
    const error = head.includes("type='error'") || head.includes('type="error"');
    // Only the partner writes to us: anything else would be a routing fault, not a delivery.
    if (!error && !head.includes(`from='${this.partnerAddress}'`) && !head.includes(`from="${this.partnerAddress}"`)) {
      problems.add('message-from-unexpected-sender');
      return;
    }
    const b = el.indexOf('<body>');
    const e = b < 0 ? -1 : el.indexOf('</body>', b);
    const sentAt = e > 0 ? Number(el.slice(b + 6, e)) : NaN;
    if (!Number.isFinite(sentAt)) {
      problems.add('message-without-timestamp');
      return;
    }
    r.onMessage(this, sentAt, error);
  }

  /** Queues one chat message to the partner, stamped with the send time. */
  sendMessage(): void {
    if (this.state !== 'bound') return;
    this.sent++;
    stanzasOut++;
    this.write(`<message to='${this.partnerAddress}' type='chat' id='m${++this.msgSeq}'><body>${nowNs()}</body></message>`);
    if (this.smEnabled && this.msgSeq % this.opts.smRequestEvery === 0) {
      smCounts.clientRequests++;
      this.write(`<r xmlns='${NS_SM}'/>`);
    }
  }
}

// ---- phases ----------------------------------------------------------------------------------

interface LoginReport extends MeterReading {
  attempted: number;
  ok: number;
  failed: number;
  perSecond: number;
  scramDerivations?: number;
  /** Per login step (tcp-connect, stream-features, sasl-…, restart-features, bind): p50/p99 ms. */
  stepsMs: Record<string, { p50: number | null; p99: number | null }>;
}

/** Logs in accounts [from, from+count) with bounded concurrency; returns the bound ones. */
async function loginMany(opts: Options, from: number, count: number, shadow = false): Promise<{ conns: Conn[]; report: LoginReport }> {
  const meter = startMeter(opts.serverPid);
  const derivations0 = scramDerivations;
  stepSamples = new Map();
  const conns: Conn[] = [];
  let next = 0;
  let ok = 0;
  let failed = 0;
  let lastBound = meter.wall0;
  const worker = async () => {
    while (next < count) {
      const conn = new Conn(from + next++, opts, shadow);
      const err = await conn.login();
      if (err === null) {
        ok++;
        lastBound = nowNs();
        conns.push(conn);
      } else {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.loginConcurrency, count) }, worker));
  const reading = readMeter(meter, opts.serverPid);
  const seconds = (lastBound - meter.wall0) / 1e9;
  const steps: LoginReport['stepsMs'] = {};
  for (const [step, samples] of stepSamples) {
    const sum = samples.summary();
    steps[step] = { p50: sum.p50Ms, p99: sum.p99Ms };
  }
  stepSamples = null;
  conns.sort((a, b) => a.index - b.index);
  return {
    conns,
    report: {
      ...reading,
      attempted: count,
      ok,
      failed,
      perSecond: ok > 0 && seconds > 0 ? round(ok / seconds, 1) : 0,
      stepsMs: steps,
      ...(opts.mechanism === 'SCRAM-SHA-1' ? { scramDerivations: scramDerivations - derivations0 } : {}),
    },
  };
}

async function closeAll(conns: Conn[]): Promise<void> {
  // In slices, so thousands of closes do not burst at once; each is bounded (2 s).
  for (let i = 0; i < conns.length; i += 500) await Promise.all(conns.slice(i, i + 500).map((c) => c.close()));
}

interface RoutingReport extends MeterReading {
  mode: 'in-flight' | 'steady';
  pairs: number;
  inFlightPerSender?: number;
  targetRate?: number;
  warmupSeconds: number;
  measuredSeconds: number;
  received: number;
  perSecond: number;
  errorsBounced: number;
  sent: number;
  unansweredAtEnd: number;
  disconnected: number;
  latency: ReturnType<Samples['summary']>;
  /** The generator's own event-loop delay in the measured window: a stall of ours shows here. */
  generatorLoopDelayMs: { p99: number; max: number };
  /** Longest time in the measured window with no message arriving anywhere: a stall. */
  maxDeliveryGapMs: number;
  /**
   * The measured window on this machine's monotonic clock (CLOCK_MONOTONIC, µs): the clock
   * of process.hrtime in every process, and of V8's CPU profiles (startTime, timeDeltas), so
   * a server's --cpu-prof samples can be cut to the window.
   */
  windowMonotonicUs: { from: number; to: number };
}

/**
 * Routes messages between pairs (0↔1, 2↔3, …): K in flight per sender (rate 0), or a steady
 * aggregate rate. Warm-up first, then the measured window; then sending stops and what is
 * in flight is given up to 3 s to arrive.
 */
async function route(opts: Options, conns: Conn[]): Promise<RoutingReport> {
  const byIndex = new Map(conns.map((c) => [c.index, c]));
  const senders: Conn[] = [];
  for (let i = 0; i + 1 < opts.users; i += 2) {
    const a = byIndex.get(i);
    const b = byIndex.get(i + 1);
    if (!a || !b) continue;
    a.partner = b;
    b.partner = a;
    a.partnerAddress = b.fullJid;
    b.partnerAddress = a.fullJid;
    senders.push(a, b);
  }
  const steady = opts.rate > 0;
  const latency = new Samples();
  let measuring = false;
  let sending = true;
  let received = 0;
  let bounced = 0;
  let deliveredTotal = 0;
  let measureStart = 0;
  let measureEnd = Infinity;
  let lastDelivery = 0;
  let maxGap = 0;
  receiver = {
    onMessage(to, sentAt, error) {
      deliveredTotal++;
      const now = nowNs();
      if (error) {
        bounced++;
      } else if (measuring && now <= measureEnd) {
        if (now - lastDelivery > maxGap) maxGap = now - lastDelivery;
        lastDelivery = now;
        received++;
        latency.add((now - sentAt) / 1000);
      }
      // In-flight mode: the sender (our partner) may send the next one.
      if (!steady && sending && to.partner) to.partner.sendMessage();
    },
  };
  const sentNow = () => senders.reduce((n, c) => n + c.sent, 0);
  const sent0 = sentNow();

  let timer: NodeJS.Timeout | null = null;
  if (!steady) {
    for (const s of senders) for (let k = 0; k < opts.inFlight; k++) s.sendMessage();
  } else if (senders.length > 0) {
    // Every 5 ms, send what the schedule says is due, round-robin over the senders; after a
    // stall, catch up at most 50 ms worth so a hiccup of ours is not a burst for the server.
    const start = nowNs();
    let due = 0;
    let rr = 0;
    timer = setInterval(() => {
      if (!sending) return;
      const target = Math.floor(((nowNs() - start) / 1e9) * opts.rate);
      due = Math.max(due, target - Math.ceil(opts.rate * 0.05));
      let n = target - due;
      due = target;
      while (n-- > 0) {
        senders[rr]!.sendMessage();
        rr = (rr + 1) % senders.length;
      }
    }, 5);
  }

  await sleep(opts.warmup * 1000);
  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  loopDelay.enable();
  const meter = startMeter(opts.serverPid);
  measureStart = meter.wall0;
  lastDelivery = measureStart;
  measuring = true;
  const sentAtStart = sentNow();
  await sleep(opts.duration * 1000);
  measureEnd = nowNs();
  const reading = readMeter(meter, opts.serverPid);
  loopDelay.disable();
  const sentInWindow = sentNow() - sentAtStart;
  sending = false;
  if (timer) clearInterval(timer);
  // Drain: wait for what is in flight (bounded).
  const totalSent = () => sentNow() - sent0;
  const drainUntil = Date.now() + 3_000;
  while (deliveredTotal < totalSent() && Date.now() < drainUntil) await sleep(20);
  receiver = null;
  const seconds = (measureEnd - measureStart) / 1e9;
  return {
    ...reading,
    mode: steady ? 'steady' : 'in-flight',
    pairs: senders.length / 2,
    ...(steady ? { targetRate: opts.rate } : { inFlightPerSender: opts.inFlight }),
    warmupSeconds: opts.warmup,
    measuredSeconds: round(seconds, 3),
    received,
    perSecond: round(received / seconds, 1),
    errorsBounced: bounced,
    sent: sentInWindow,
    unansweredAtEnd: Math.max(0, totalSent() - deliveredTotal),
    disconnected: senders.filter((c) => c.droppedWhileRouting).length,
    latency: latency.summary(),
    maxDeliveryGapMs: round(Math.max(maxGap, measureEnd - lastDelivery) / 1e6, 2),
    generatorLoopDelayMs: { p99: round(loopDelay.percentile(99) / 1e6, 2), max: round(loopDelay.max / 1e6, 2) },
    windowMonotonicUs: { from: Number((T0 + BigInt(Math.round(measureStart))) / 1000n), to: Number((T0 + BigInt(Math.round(measureEnd))) / 1000n) },
  };
}

// ---- presence scenario ---------------------------------------------------------------------------

/** The value of attribute `name` in an element's start tag, or null. */
function attr(el: string, name: string): string | null {
  const tagEnd = el.indexOf('>');
  const head = tagEnd < 0 ? el : el.slice(0, tagEnd);
  let at = head.indexOf(` ${name}=`);
  if (at < 0) return null;
  at += name.length + 2;
  const q = head.charCodeAt(at);
  if (q !== CH_QUOT && q !== CH_APOS) return null;
  const end = head.indexOf(String.fromCharCode(q), at + 1);
  return end < 0 ? null : head.slice(at + 1, end);
}

interface PresenceReport {
  users: number;
  contacts: number;
  /** Presence stanzas received by any connection, first connect → quiet (or timeout). */
  received: number;
  /** By type attribute ("available" when there is none). */
  byType: Record<string, number>;
  /** First connect → the last presence received. */
  seconds: number;
  perSecond: number;
  /** Available presence only, per second over the same window. */
  availablePerSecond: number;
  /** The last presence came this long after the last login completed. */
  tailAfterLastBoundMs: number;
  /** The wait ended by --presence-timeout, not by a quiet period. */
  timedOut: boolean;
  /** (receiver, sender) pairs of logged-in contacts: each must see one available presence. */
  expectedPairs: number;
  deliveredPairs: number;
  missingPairs: number;
  /** Available presences beyond the first per (receiver, sender) pair. */
  duplicates: number;
  /** Available presences from senders that are not the receiver's contacts (or unparseable). */
  unexpected: number;
  /** Up to 10 missing pairs, "receiver <- sender". */
  missingExamples: string[];
  /** Per user: how many of its contacts' presences it got (min / median / max). */
  perReceiver: { min: number; p50: number; max: number };
  /** Later of (receiver's, sender's initial presence sent) → the available presence received. */
  latency: ReturnType<Samples['summary']>;
  /** CPU over first connect → last presence (+ at most 25 ms: sampled), not the quiet wait. */
  cpu: MeterReading & { generatorCpuSeconds: number };
}

/**
 * Logs everyone in (each sends initial presence right after binding), counting every
 * presence stanza received from the first connect until --presence-quiet s without one.
 */
async function presencePhase(opts: Options): Promise<{ conns: Conn[]; login: LoginReport; report: PresenceReport }> {
  const n = opts.users;
  const prefix = opts.prefix;
  const suffix = `@${opts.domain}`;
  /** Available presences per (receiver, sender), key receiver * n + sender. */
  const pairs = new Map<number, number>();
  const byType = new Tally();
  const latency = new Samples();
  let received = 0;
  let available = 0;
  let unexpected = 0;
  let ownPresence = 0;
  let lastPresence = 0;
  const conns: Array<Conn | undefined> = new Array(n);
  const sentAt = new Float64Array(n);
  presenceSentAtByIndex = sentAt;
  const isContact = (r: number, s: number) => {
    // The graph of bench/roster-graph.ts: |r - s| mod n within C/2, or n/2 when C is odd.
    const d = Math.min((r - s + n) % n, (s - r + n) % n);
    return d !== 0 && (d <= Math.floor(opts.contacts / 2) || (opts.contacts % 2 === 1 && d === n / 2));
  };
  presenceSink = {
    onPresence(to, el) {
      const now = nowNs();
      received++;
      lastPresence = now;
      const type = attr(el, 'type');
      byType.add(type ?? 'available');
      if (type !== null) return;
      available++;
      const toAttr = attr(el, 'to');
      if (toAttr !== null && toAttr !== to.fullJid && toAttr !== `${to.username}${suffix}`) problems.add('presence-to-wrong-address');
      const from = attr(el, 'from') ?? '';
      const at = from.indexOf(suffix);
      const digits = from.startsWith(prefix) && at > prefix.length ? from.slice(prefix.length, at) : '';
      const rest = at < 0 ? '' : from.slice(at + suffix.length);
      const s = /^\d+$/.test(digits) && (rest === '' || rest.startsWith('/')) ? Number(digits) : -1;
      // RFC 6121 §4.2.2: the server also reflects a resource's presence back to it.
      if (s === to.index) {
        ownPresence++;
        return;
      }
      if (s < 0 || s >= n || !isContact(to.index, s)) {
        unexpected++;
        return;
      }
      const key = to.index * n + s;
      pairs.set(key, (pairs.get(key) ?? 0) + 1);
      const since = Math.max(to.presenceSentAt, sentAt[s]);
      if (since > 0) latency.add((now - since) / 1000);
    },
  };
  const meter = startMeter(opts.serverPid);
  const first = meter.wall0;
  // CPU snapshots every 25 ms, so that the CPU figures can end right after the last presence
  // instead of after the quiet wait.
  const snapshots: Meter[] = [];
  const sampler = setInterval(() => snapshots.push(startMeter(opts.serverPid)), 25);
  const { conns: bound, report: login } = await loginMany(opts, 0, n);
  for (const c of bound) conns[c.index] = c;
  let lastBound = first;
  for (const t of sentAt) if (t > lastBound) lastBound = t;
  // Wait for the broadcast to go quiet, bounded.
  const quietNs = opts.presenceQuiet * 1e9;
  const deadline = first + opts.presenceTimeout * 1e9;
  let timedOut = false;
  for (;;) {
    const now = nowNs();
    if (now - Math.max(lastPresence, lastBound) >= quietNs) break;
    if (now >= deadline) {
      timedOut = true;
      problems.add('presence-timeout');
      break;
    }
    await sleep(20);
  }
  clearInterval(sampler);
  presenceSink = null;
  presenceSentAtByIndex = null;
  const end = lastPresence > 0 ? lastPresence : nowNs();
  const window = (end - first) / 1e9;
  const snap = snapshots.find((s) => s.wall0 >= end) ?? startMeter(opts.serverPid);
  const cpu = {
    ...readBetween(meter, snap),
    generatorCpuSeconds: round((snap.cpu0.user - meter.cpu0.user + snap.cpu0.system - meter.cpu0.system) / 1e6, 2),
  };

  // Correctness against the graph, for the connections that logged in.
  let expectedPairs = 0;
  let deliveredPairs = 0;
  let duplicates = 0;
  const missingExamples: string[] = [];
  const perReceiver: number[] = [];
  for (const r of bound) {
    let got = 0;
    for (const s of contactsOf(r.index, n, opts.contacts)) {
      if (!conns[s]) continue; // never logged in: nothing to expect from it
      expectedPairs++;
      const count = pairs.get(r.index * n + s) ?? 0;
      if (count > 0) {
        deliveredPairs++;
        got++;
        duplicates += count - 1;
      } else if (missingExamples.length < 10) {
        missingExamples.push(`${prefix}${r.index} <- ${prefix}${s}`);
      }
    }
    perReceiver.push(got);
  }
  perReceiver.sort((a, b) => a - b);
  const seconds = round(window, 3);
  return {
    conns: bound,
    login,
    report: {
      users: n,
      contacts: opts.contacts,
      received,
      byType: byType.toJSON(),
      seconds,
      perSecond: window > 0 ? round(received / window, 1) : 0,
      availablePerSecond: window > 0 ? round(available / window, 1) : 0,
      tailAfterLastBoundMs: lastPresence > 0 ? round((lastPresence - lastBound) / 1e6, 1) : 0,
      timedOut,
      expectedPairs,
      deliveredPairs,
      missingPairs: expectedPairs - deliveredPairs,
      duplicates,
      unexpected,
      missingExamples,
      perReceiver: {
        min: perReceiver[0] ?? 0,
        p50: perReceiver[Math.floor((perReceiver.length - 1) / 2)] ?? 0,
        max: perReceiver[perReceiver.length - 1] ?? 0,
      },
      latency: latency.summary(),
      cpu,
    },
  };
}

// ---- pep scenario ------------------------------------------------------------------------------

/** Wall-clock milliseconds with a fraction: comparable across the connections of this process. */
const epochMs = () => performance.timeOrigin + performance.now();

/**
 * XEP-0115 §5.1 for one identity and no forms: "category/type/lang/name<", then each feature
 * in byte order followed by "<", hashed with SHA-1, in base64.
 */
function capsFor(node: string, notifyNode: string): PepCaps {
  const identity = { category: 'client', type: 'bot', name: 'Hearth bench' };
  const features = [NS_DISCO_INFO, NS_CAPS, `${notifyNode}+notify`].sort();
  let s = `${identity.category}/${identity.type}//${identity.name}<`;
  for (const f of features) s += `${f}<`;
  const ver = createHash('sha1').update(s, 'utf8').digest('base64');
  const queryBody =
    `<identity category="${identity.category}" type="${identity.type}" name="${identity.name}"/>` +
    features.map((f) => `<feature var="${f}"/>`).join('');
  return { node, ver, queryBody };
}

/**
 * Where receiver r stands among the C + 1 resources a publish by u notifies in the graph of
 * bench/roster-graph.ts: 0 for u itself, 1..C for its contacts; -1 when r is neither.
 */
function graphSlot(n: number, contacts: number, u: number, r: number): number {
  if (r === u) return 0;
  const half = Math.floor(contacts / 2);
  const d = (r - u + n) % n;
  if (d >= 1 && d <= half) return d;
  const e = n - d;
  if (e >= 1 && e <= half) return half + e;
  if (contacts % 2 === 1 && 2 * d === n) return contacts;
  return -1;
}

interface PepReport extends MeterReading {
  users: number;
  contacts: number;
  node: string;
  mode: 'in-flight' | 'steady';
  inFlightPerUser?: number;
  /** Publishes/s in total (steady mode). */
  targetRate?: number;
  warmupSeconds: number;
  measuredSeconds: number;
  caps: {
    ver: string;
    /** disco#info queries the server sent us (0 when it knew the caps already). */
    discoQueries: number;
    /** How long after the first connect the (first) query was answered, ms. */
    firstAnsweredAfterMs: number | null;
    /** Time spent after the logins waiting for the query and letting it settle, ms. */
    waitedMs: number;
    /** Other iq requests the server sent us (refused with service-unavailable). */
    otherRequests: number;
  };
  publishes: {
    /** Sent in the measured window. */
    sent: number;
    /** Results received in the measured window, per second. */
    ackedPerSecond: number;
    /** Results and errors received in the measured window. */
    results: number;
    errors: number;
    /** Errors over the whole run, by condition. */
    errorsByCondition: Record<string, number>;
    /** Publishes of the whole run never answered by the end of the drain. */
    unansweredAtEnd: number;
    /** Whole run (warm-up included): sent, results, errors. */
    total: { sent: number; results: number; errors: number };
  };
  notifications: {
    /** Received in the measured window (whichever publish they belong to). */
    received: number;
    perSecond: number;
    /** C + 1: the publisher's own resource and each contact's. */
    expectedPerPublish: number;
    /** For the publishes sent in the window (acknowledged with a result), after the drain. */
    expected: number;
    delivered: number;
    missing: number;
    /** delivered ÷ expected. */
    deliveredRatio: number | null;
    /** A (publish, receiver) notified more than once: the extra copies. */
    duplicates: number;
    /** From a publisher that is neither the receiver nor its contact, or unparseable. */
    unexpected: number;
    /** Last items sent with a delay stamp (XEP-0163 §4.3.4), not counted above. */
    lastItemReplays: number;
    /** Messages that were not pubsub events (ignored). */
    otherMessages: number;
  };
  /** Publish sent (its tick's t) → notification received, over the window's notifications. */
  latency: ReturnType<Samples['summary']>;
  /** Server CPU (utime + stime) per notification received in the window, µs. */
  serverCpuUsPerNotification: number | null;
  generatorCpuUsPerNotification: number | null;
  generatorLoopDelayMs: { p99: number; max: number };
  /** Longest time in the window without a notification arriving anywhere. */
  maxDeliveryGapMs: number;
  /** Notifications and publish results received in each 100 ms of the window: stalls show here. */
  timeline: { notifications: number[]; results: number[] };
  /** Window end → everything in flight answered and delivered (or the drain bound). */
  drainMs: number;
  drainTimedOut: boolean;
  disconnected: number;
  /** See RoutingReport: the window on CLOCK_MONOTONIC µs, to cut a server's CPU profile. */
  windowMonotonicUs: { from: number; to: number };
}

/**
 * The pep scenario: logs everyone in with caps in the initial presence, waits for the caps to
 * be verified, then every account publishes to its own node, counting each notification per
 * (publish, receiver) against the contact graph.
 */
async function pepPhase(opts: Options): Promise<{ conns: Conn[]; login: LoginReport; report: PepReport }> {
  const n = opts.users;
  const C = opts.contacts;
  const slots = C + 1;
  const node = opts.pepNode;
  const prefix = opts.prefix;
  const suffix = `@${opts.domain}`;
  const steady = opts.rate > 0;
  const caps = capsFor('https://hearth.example/bench', node);
  pepCaps = caps;

  const conns: Array<Conn | undefined> = new Array(n);
  /** Per user: the last publish seq sent (seqs start at 1), publishes awaiting an answer. */
  const seq = new Int32Array(n);
  const outstanding = new Int32Array(n);
  /** Per user: receipts per (publish, receiver slot), index (seq - 1) * slots + slot. */
  const receipts: Uint8Array[] = Array.from({ length: n }, () => new Uint8Array(0));
  /** Per user: answers per publish: 0 none, 1 result, 2 error. */
  const answers: Uint8Array[] = Array.from({ length: n }, () => new Uint8Array(0));
  const grow = (a: Uint8Array, size: number): Uint8Array => {
    if (size <= a.length) return a;
    const bigger = new Uint8Array(Math.max(size, a.length * 2, 1024));
    bigger.set(a);
    return bigger;
  };
  /** Per user: resources online to notify (itself and its contacts that logged in). */
  const expectedOf = new Int32Array(n);
  const errorsByCondition = new Tally();
  const latency = new Samples();
  let sending = false;
  let measuring = false;
  let measureStart = 0;
  let measureEnd = Infinity;
  let lastDelivery = 0;
  let maxGap = 0;
  let notifiedInWindow = 0;
  let resultsInWindow = 0;
  const slices = Math.max(1, Math.ceil(opts.duration * 10));
  const timeline = { notifications: new Array<number>(slices).fill(0), results: new Array<number>(slices).fill(0) };
  const slice = (ns: number) => Math.min(slices - 1, Math.floor((ns - measureStart) / 1e8));
  let errorsInWindow = 0;
  let sentTotal = 0;
  let resultsTotal = 0;
  let errorsTotal = 0;
  /** First receipts of (publish, receiver), and what the acknowledged publishes expect. */
  let firstReceipts = 0;
  let expectedAcked = 0;
  let duplicates = 0;
  let unexpected = 0;
  let replays = 0;
  let otherMessages = 0;

  const publish = (u: number): void => {
    const c = conns[u];
    if (!c || c.state !== 'bound') return;
    const s = ++seq[u];
    outstanding[u]++;
    sentTotal++;
    stanzasOut++;
    c.write(
      `<iq type='set' id='p${s}'><pubsub xmlns='${NS_PUBSUB}'><publish node='${node}'><item id='current'>` +
        `<tick xmlns='${node}' t='${epochMs()}' seq='${s}'/></item></publish></pubsub></iq>`,
    );
  };

  const fromIndex = (from: string | null): number => {
    if (from === null || !from.startsWith(prefix) || !from.endsWith(suffix)) return -1;
    const digits = from.slice(prefix.length, from.length - suffix.length);
    const u = /^\d+$/.test(digits) ? Number(digits) : -1;
    return u < n ? u : -1;
  };

  pepSink = {
    onMessage(to, el) {
      if (!el.includes(NS_PUBSUB_EVENT)) {
        otherMessages++;
        return;
      }
      if (el.includes('urn:xmpp:delay')) {
        replays++;
        return;
      }
      const now = epochMs();
      const tickAt = el.indexOf('<tick');
      const tick = tickAt < 0 ? '' : el.slice(tickAt);
      const t = Number(attr(tick, 't'));
      const s = Number(attr(tick, 'seq'));
      const u = fromIndex(attr(el, 'from'));
      const slot = u < 0 ? -1 : graphSlot(n, C, u, to.index);
      if (slot < 0 || !Number.isFinite(t) || !Number.isInteger(s) || s < 1 || s > seq[u]! || !el.includes(`node="${node}"`)) {
        unexpected++;
        return;
      }
      const at = (s - 1) * slots + slot;
      const r = (receipts[u] = grow(receipts[u]!, at + 1));
      if (r[at] === 0) firstReceipts++;
      else duplicates++;
      if (r[at]! < 255) r[at]!++;
      const ns = nowNs();
      if (measuring && ns <= measureEnd) {
        notifiedInWindow++;
        timeline.notifications[slice(ns)]!++;
        latency.add((now - t) * 1000);
        if (ns - lastDelivery > maxGap) maxGap = ns - lastDelivery;
        lastDelivery = ns;
      }
    },
    onIqResponse(on, id, error, el) {
      if (!id.startsWith('p')) return;
      const u = on.index;
      const s = Number(id.slice(1));
      if (!Number.isInteger(s) || s < 1 || s > seq[u]!) return;
      const a = (answers[u] = grow(answers[u]!, s));
      if (a[s - 1] !== 0) return;
      a[s - 1] = error ? 2 : 1;
      if (outstanding[u] > 0) outstanding[u]--;
      const ns = nowNs();
      const inWindow = measuring && ns <= measureEnd;
      if (error) {
        errorsTotal++;
        if (inWindow) errorsInWindow++;
        const m = /<error[^>]*>\s*<([a-z-]+)/.exec(el);
        errorsByCondition.add(m ? m[1]! : 'unknown');
      } else {
        resultsTotal++;
        if (inWindow) {
          resultsInWindow++;
          timeline.results[slice(ns)]!++;
        }
        expectedAcked += expectedOf[u]!;
      }
      if (!steady && sending) publish(u);
    },
  };

  pepIqCounts.discoAnswered = 0;
  pepIqCounts.firstDiscoAtNs = 0;
  pepIqCounts.otherRequests = 0;
  const first = nowNs();
  const { conns: bound, report: login } = await loginMany(opts, 0, n);
  for (const c of bound) conns[c.index] = c;
  for (let u = 0; u < n; u++) {
    if (!conns[u]) continue;
    expectedOf[u] = 1;
    for (const r of contactsOf(u, n, C)) if (conns[r]) expectedOf[u]++;
  }
  const users = bound.map((c) => c.index);

  // The caps: the first presence makes the server ask one connection (unless it knows the
  // hash from an earlier run); the query may still be on its way. Bounded.
  const waitFrom = nowNs();
  while (pepIqCounts.discoAnswered === 0 && nowNs() - waitFrom < opts.capsWait * 1e9) await sleep(20);
  // Let the answer be stored and the presence handling that waited for it finish.
  await sleep(500);
  const waitedMs = (nowNs() - waitFrom) / 1e6;

  sending = opts.duration > 0 && users.length > 0;
  let timer: NodeJS.Timeout | null = null;
  if (sending && !steady) {
    for (const u of users) for (let k = 0; k < opts.inFlight; k++) publish(u);
  } else if (sending) {
    // As route(): every 5 ms what the schedule says is due, round-robin over the users; after
    // a stall of ours, at most 50 ms worth is caught up.
    const start = nowNs();
    let due = 0;
    let rr = 0;
    timer = setInterval(() => {
      if (!sending) return;
      const target = Math.floor(((nowNs() - start) / 1e9) * opts.rate);
      due = Math.max(due, target - Math.ceil(opts.rate * 0.05));
      let k = target - due;
      due = target;
      while (k-- > 0) {
        publish(users[rr]!);
        rr = (rr + 1) % users.length;
      }
    }, 5);
  }

  await sleep(opts.warmup * 1000);
  const seqAtStart = seq.slice();
  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  loopDelay.enable();
  const meter = startMeter(opts.serverPid);
  measureStart = meter.wall0;
  lastDelivery = measureStart;
  measuring = true;
  await sleep(opts.duration * 1000);
  measureEnd = nowNs();
  const reading = readMeter(meter, opts.serverPid);
  loopDelay.disable();
  const seqAtEnd = seq.slice();
  sending = false;
  if (timer) clearInterval(timer);

  // Drain: every publish answered and every acknowledged one notified to all (bounded).
  const outstandingNow = () => outstanding.reduce((a, b) => a + b, 0);
  const drainFrom = nowNs();
  while ((outstandingNow() > 0 || firstReceipts < expectedAcked) && nowNs() - drainFrom < opts.pepDrain * 1e9) await sleep(20);
  const drainMs = (nowNs() - drainFrom) / 1e6;
  const drainTimedOut = outstandingNow() > 0 || firstReceipts < expectedAcked;
  // Late copies would be duplicates: give them a moment.
  await sleep(200);
  pepSink = null;

  // The window's publishes: per user, seqs (seqAtStart, seqAtEnd]; each acknowledged one
  // expects a receipt from each online resource among the C + 1.
  let expected = 0;
  let delivered = 0;
  let sentInWindow = 0;
  for (const u of users) {
    const r = receipts[u]!;
    const a = answers[u]!;
    const online: number[] = [0];
    const cs = contactsOf(u, n, C);
    for (const c of cs) if (conns[c]) online.push(graphSlot(n, C, u, c));
    for (let s = seqAtStart[u]! + 1; s <= seqAtEnd[u]!; s++) {
      sentInWindow++;
      if (a[s - 1] !== 1) continue;
      for (const slot of online) {
        expected++;
        const at = (s - 1) * slots + slot;
        if (at < r.length && r[at]! > 0) delivered++;
      }
    }
  }
  const seconds = (measureEnd - measureStart) / 1e9;
  const cpuPer = (cpuSeconds: number | null) => (cpuSeconds !== null && notifiedInWindow > 0 ? round((cpuSeconds / notifiedInWindow) * 1e6, 2) : null);
  const generatorCpu = (reading.generatorCpuPct / 100) * reading.seconds;
  const report: PepReport = {
    ...reading,
    users: n,
    contacts: C,
    node,
    mode: steady ? 'steady' : 'in-flight',
    ...(steady ? { targetRate: opts.rate } : { inFlightPerUser: opts.inFlight }),
    warmupSeconds: opts.warmup,
    measuredSeconds: round(seconds, 3),
    caps: {
      ver: caps.ver,
      discoQueries: pepIqCounts.discoAnswered,
      firstAnsweredAfterMs: pepIqCounts.firstDiscoAtNs > 0 ? round((pepIqCounts.firstDiscoAtNs - first) / 1e6, 1) : null,
      waitedMs: round(waitedMs),
      otherRequests: pepIqCounts.otherRequests,
    },
    publishes: {
      sent: sentInWindow,
      ackedPerSecond: seconds > 0 ? round(resultsInWindow / seconds, 1) : 0,
      results: resultsInWindow,
      errors: errorsInWindow,
      errorsByCondition: errorsByCondition.toJSON(),
      unansweredAtEnd: outstandingNow(),
      total: { sent: sentTotal, results: resultsTotal, errors: errorsTotal },
    },
    notifications: {
      received: notifiedInWindow,
      perSecond: seconds > 0 ? round(notifiedInWindow / seconds, 1) : 0,
      expectedPerPublish: slots,
      expected,
      delivered,
      missing: expected - delivered,
      deliveredRatio: expected > 0 ? round(delivered / expected, 5) : null,
      duplicates,
      unexpected,
      lastItemReplays: replays,
      otherMessages,
    },
    latency: latency.summary(),
    serverCpuUsPerNotification: cpuPer(reading.serverCpuSeconds),
    generatorCpuUsPerNotification: cpuPer(generatorCpu),
    generatorLoopDelayMs: { p99: round(loopDelay.percentile(99) / 1e6, 2), max: round(loopDelay.max / 1e6, 2) },
    maxDeliveryGapMs: round(Math.max(maxGap, measureEnd - lastDelivery) / 1e6, 2),
    timeline,
    drainMs: round(drainMs),
    drainTimedOut,
    disconnected: bound.filter((c) => c.state === 'closed').length,
    windowMonotonicUs: { from: Number((T0 + BigInt(Math.round(measureStart))) / 1000n), to: Number((T0 + BigInt(Math.round(measureEnd))) / 1000n) },
  };
  return { conns: bound, login, report };
}

interface IdleReport {
  connections: number;
  failed: number;
  rssBeforeKb: number | null;
  rssAfterKb: number | null;
  kbPerConnection: number | null;
  login: LoginReport;
  settleCpu: MeterReading;
}

async function idlePhase(opts: Options): Promise<{ report: IdleReport; conns: Conn[] }> {
  // Without a server to read, there is nothing to wait for.
  const settleMs = opts.serverPid === null ? 0 : opts.idleSettle * 1000;
  await sleep(settleMs);
  const before = serverRssKb(opts.serverPid);
  const { conns, report: login } = await loginMany(opts, opts.users, opts.idle);
  const settle = startMeter(opts.serverPid);
  await sleep(conns.length > 0 ? settleMs : 0);
  const settleCpu = readMeter(settle, opts.serverPid);
  const after = serverRssKb(opts.serverPid);
  const alive = conns.filter((c) => c.state === 'bound').length;
  return {
    conns,
    report: {
      connections: alive,
      failed: opts.idle - alive,
      rssBeforeKb: before,
      rssAfterKb: after,
      kbPerConnection: before !== null && after !== null && alive > 0 ? round((after - before) / alive, 2) : null,
      login,
      settleCpu,
    },
  };
}

// ---- main ------------------------------------------------------------------------------------

interface Report {
  target: { host: string; host2?: string; placement?: 'same' | 'cross'; port: number; domain: string; serverPid: number | null; serverPids?: number[] };
  options: Omit<Options, 'password' | 'json'>;
  logins?: LoginReport & { cold?: LoginReport };
  /** --shadow: the second resources' logins. */
  shadowLogins?: LoginReport;
  routing?: RoutingReport;
  presence?: PresenceReport;
  pep?: PepReport;
  idle?: IdleReport;
  problems: Record<string, number>;
  stanzas: { in: number; out: number };
  sm?: typeof smCounts;
  generator: { cpuPct: number; maxRssMb: number; seconds: number };
  ok: boolean;
}

function printText(r: Report): void {
  const lines: string[] = [];
  const pct = (n: number | null | undefined) => (n === null || n === undefined ? 'n/a' : `${n}%`);
  const hosts = r.target.host2 ? `${r.target.host} + ${r.target.host2} (placement ${r.target.placement})` : r.target.host;
  const pids = r.target.serverPids ?? (r.target.serverPid ? [r.target.serverPid] : []);
  lines.push(`target ${hosts}:${r.target.port} domain ${r.target.domain}${pids.length ? ` server pid ${pids.join(',')}` : ''}`);
  if (r.logins) {
    const l = r.logins;
    if (l.cold) lines.push(`logins (cold, PBKDF2 on the client): ${l.cold.ok}/${l.cold.attempted} in ${l.cold.seconds} s = ${l.cold.perSecond}/s`);
    lines.push(
      `logins ${r.options.mechanism}: ${l.ok}/${l.attempted} ok, ${l.failed} failed, ${l.perSecond}/s` +
        ` (generator CPU ${pct(l.generatorCpuPct)}, server CPU ${pct(l.serverCpuPct)}, other ${pct(l.otherCpuPct)})`,
    );
    lines.push(`  login steps p50/p99 ms: ${Object.entries(l.stepsMs).map(([k, v]) => `${k} ${v.p50}/${v.p99}`).join(', ')}`);
  }
  if (r.routing) {
    const t = r.routing;
    const mode = t.mode === 'steady' ? `steady ${t.targetRate} msg/s` : `${t.inFlightPerSender} in flight per sender`;
    lines.push(
      `routing (${t.pairs} pairs, ${mode}): ${t.perSecond} msg/s over ${t.measuredSeconds} s;` +
        ` latency p50 ${t.latency.p50Ms} ms p90 ${t.latency.p90Ms} ms p99 ${t.latency.p99Ms} ms max ${t.latency.maxMs} ms`,
    );
    lines.push(
      `  bounced ${t.errorsBounced}, unanswered at end ${t.unansweredAtEnd}, disconnected ${t.disconnected}, longest gap without a delivery ${t.maxDeliveryGapMs} ms;` +
        ` generator CPU ${pct(t.generatorCpuPct)}, server CPU ${pct(t.serverCpuPct)}, other ${pct(t.otherCpuPct)};` +
        ` generator event-loop delay p99 ${t.generatorLoopDelayMs.p99} ms max ${t.generatorLoopDelayMs.max} ms`,
    );
  }
  if (r.presence) {
    const p = r.presence;
    const types = Object.entries(p.byType).map(([k, v]) => `${k} ${v}`).join(', ');
    lines.push(
      `presence (${p.users} users × ${p.contacts} mutual contacts): ${p.received} presence stanzas (${types}) in ${p.seconds} s = ${p.perSecond}/s` +
        ` (available ${p.availablePerSecond}/s); last one ${p.tailAfterLastBoundMs} ms after the last login${p.timedOut ? '; TIMED OUT' : ''}`,
    );
    lines.push(
      `  pairs: ${p.deliveredPairs}/${p.expectedPairs} delivered, ${p.missingPairs} missing, ${p.duplicates} duplicates, ${p.unexpected} unexpected;` +
        ` per user min/median/max ${p.perReceiver.min}/${p.perReceiver.p50}/${p.perReceiver.max}` +
        (p.missingExamples.length ? `; e.g. missing ${p.missingExamples.slice(0, 3).join(', ')}` : ''),
    );
    lines.push(
      `  latency (later initial presence → receipt) p50 ${p.latency.p50Ms} ms p99 ${p.latency.p99Ms} ms max ${p.latency.maxMs} ms;` +
        ` over first connect → last presence: generator CPU ${pct(p.cpu.generatorCpuPct)}, server CPU ${pct(p.cpu.serverCpuPct)} (${p.cpu.serverCpuSeconds ?? 'n/a'} s), other ${pct(p.cpu.otherCpuPct)}`,
    );
  }
  if (r.pep) {
    const p = r.pep;
    const n = p.notifications;
    const mode = p.mode === 'steady' ? `steady ${p.targetRate} publishes/s` : `${p.inFlightPerUser} publishes in flight per user`;
    const errors = Object.entries(p.publishes.errorsByCondition).map(([k, v]) => `${k} ×${v}`).join(', ');
    lines.push(
      `pep (${p.users} users × ${p.contacts} contacts, node ${p.node}, ${mode}): ${p.publishes.ackedPerSecond} publishes/s acknowledged,` +
        ` ${n.perSecond} notifications/s over ${p.measuredSeconds} s; latency p50 ${p.latency.p50Ms} ms p90 ${p.latency.p90Ms} ms p99 ${p.latency.p99Ms} ms max ${p.latency.maxMs} ms`,
    );
    lines.push(
      `  window publishes: ${p.publishes.sent} sent, ${p.publishes.results} results, ${p.publishes.errors} errors${errors ? ` (${errors})` : ''}, ${p.publishes.unansweredAtEnd} unanswered at end;` +
        ` notifications ${n.delivered}/${n.expected} delivered (${n.deliveredRatio ?? 'n/a'}, ${n.expectedPerPublish} per publish), ${n.missing} missing,` +
        ` ${n.duplicates} duplicates, ${n.unexpected} unexpected, ${n.lastItemReplays} last-item replays; drain ${p.drainMs} ms${p.drainTimedOut ? ' (TIMED OUT)' : ''}`,
    );
    lines.push(
      `  caps ${p.caps.ver}: ${p.caps.discoQueries} disco#info queries answered` +
        (p.caps.firstAnsweredAfterMs !== null ? ` (first ${p.caps.firstAnsweredAfterMs} ms after the first connect)` : ' (the server knew the hash)') +
        `, ${p.caps.otherRequests} other requests refused; server CPU ${pct(p.serverCpuPct)}` +
        (p.serverCpuUsPerNotification !== null ? ` = ${p.serverCpuUsPerNotification} µs per notification` : '') +
        `, generator CPU ${pct(p.generatorCpuPct)}, other ${pct(p.otherCpuPct)}; generator event-loop delay p99 ${p.generatorLoopDelayMs.p99} ms;` +
        ` longest gap without a notification ${p.maxDeliveryGapMs} ms`,
    );
  }
  if (r.idle) {
    const i = r.idle;
    lines.push(
      `idle: ${i.connections} connections (${i.failed} failed), server RSS ${i.rssBeforeKb} → ${i.rssAfterKb} KB = ${i.kbPerConnection ?? 'n/a'} KB per connection` +
        ` (logins ${i.login.perSecond}/s; server CPU while idle ${pct(i.settleCpu.serverCpuPct)})`,
    );
  }
  const p = Object.entries(r.problems);
  lines.push(p.length ? `problems: ${p.map(([k, n]) => `${k} ×${n}`).join(', ')}` : 'problems: none');
  lines.push(`generator: CPU ${r.generator.cpuPct}% of one core over ${r.generator.seconds} s, max RSS ${r.generator.maxRssMb} MB; stanzas in ${r.stanzas.in}, out ${r.stanzas.out}`);
  process.stdout.write(lines.join('\n') + '\n');
}

async function main(): Promise<number> {
  let opts: Options;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${HELP}\n`);
    return 2;
  }
  // A watchdog: whatever happens, the run ends. Logins are bounded by 10 s each.
  const loginBound = (n: number) => (Math.ceil(n / opts.loginConcurrency) + 1) * 10;
  const budgetS =
    30 +
    loginBound(opts.users) * (opts.mechanism === 'SCRAM-SHA-1' ? 2 : 1) +
    (opts.scenario === 'presence' ? opts.presenceTimeout + opts.presenceQuiet : 0) +
    (opts.scenario === 'pep' ? opts.capsWait + 1 + opts.pepDrain + 1 : 0) +
    opts.warmup + opts.duration + 10 + loginBound(opts.idle) + 2 * opts.idleSettle + 20;
  const watchdog = setTimeout(() => {
    process.stderr.write(`c2s-load: gave up after ${budgetS} s (watchdog)\n`);
    process.exit(3);
  }, budgetS * 1000);
  watchdog.unref();

  const whole = startMeter(null);
  const { password: _password, json: _json, ...shown } = opts;
  const report: Report = {
    target: {
      host: opts.host,
      ...(opts.host2 !== null ? { host2: opts.host2, placement: opts.placement } : {}),
      port: opts.port,
      domain: opts.domain,
      serverPid: opts.serverPid?.[0] ?? null,
      ...(opts.serverPid !== null && opts.serverPid.length > 1 ? { serverPids: opts.serverPid } : {}),
    },
    options: shown,
    problems: {},
    stanzas: { in: 0, out: 0 },
    generator: { cpuPct: 0, maxRssMb: 0, seconds: 0 },
    ok: true,
  };

  let loginsFailed = 0;
  /** Presence scenario: missing + duplicate + unexpected presences, + 1 on timeout. */
  let presenceWrong = 0;
  /** Pep scenario: publish errors, unanswered publishes, missing, duplicate and unexpected notifications. */
  let pepWrong = 0;
  let conns: Conn[] = [];
  let shadowConns: Conn[] = [];
  if (opts.users > 0) {
    let cold: LoginReport | undefined;
    if (opts.mechanism === 'SCRAM-SHA-1' && opts.scramPrewarm) {
      const first = await loginMany(opts, 0, opts.users);
      cold = first.report;
      await closeAll(first.conns);
      // Presence: let the server finish the unavailable broadcasts of the first pass.
      await sleep(opts.scenario === 'routing' ? 500 : 2_000);
    }
    if (opts.scenario === 'pep') {
      const result = await pepPhase(opts);
      conns = result.conns;
      loginsFailed += result.login.failed;
      report.logins = { ...result.login, ...(cold ? { cold } : {}) };
      report.pep = result.report;
      const p = result.report;
      pepWrong = p.publishes.total.errors + p.publishes.unansweredAtEnd + p.notifications.missing + p.notifications.duplicates + p.notifications.unexpected;
      if (!opts.json) {
        process.stderr.write(
          `logins: ${result.login.ok}/${opts.users} at ${result.login.perSecond}/s; pep: ${p.notifications.perSecond} notifications/s,` +
            ` p99 ${p.latency.p99Ms} ms, ${p.notifications.missing} missing\n`,
        );
      }
    } else if (opts.scenario === 'presence') {
      const result = await presencePhase(opts);
      conns = result.conns;
      loginsFailed += result.login.failed;
      report.logins = { ...result.login, ...(cold ? { cold } : {}) };
      report.presence = result.report;
      const p = result.report;
      presenceWrong = p.missingPairs + p.duplicates + p.unexpected + (p.timedOut ? 1 : 0);
      if (!opts.json) {
        process.stderr.write(
          `logins: ${result.login.ok}/${opts.users} at ${result.login.perSecond}/s; presence: ${p.received} at ${p.perSecond}/s,` +
            ` ${p.missingPairs} missing, ${p.duplicates} duplicates\n`,
        );
      }
    } else {
      const result = await loginMany(opts, 0, opts.users);
      conns = result.conns;
      loginsFailed += result.report.failed;
      report.logins = { ...result.report, ...(cold ? { cold } : {}) };
      if (!opts.json) process.stderr.write(`logins: ${result.report.ok}/${opts.users} at ${result.report.perSecond}/s\n`);
      if (opts.shadow) {
        const shadows = await loginMany(opts, 0, opts.users, true);
        loginsFailed += shadows.report.failed;
        report.shadowLogins = shadows.report;
        shadowConns = shadows.conns;
        if (!opts.json) process.stderr.write(`shadow logins: ${shadows.report.ok}/${opts.users}\n`);
      }
    }
  }

  if (opts.scenario === 'routing' && opts.duration > 0 && conns.length >= 2 && (opts.rate > 0 || opts.inFlight > 0)) {
    report.routing = await route(opts, conns);
    if (!opts.json) process.stderr.write(`routing: ${report.routing.perSecond} msg/s\n`);
  }

  if (opts.idle > 0) {
    if (opts.serverPid === null) process.stderr.write('--idle without --server-pid: the memory figure is left out\n');
    const { report: idle, conns: idleConns } = await idlePhase(opts);
    report.idle = idle;
    loginsFailed += idle.login.failed;
    conns = conns.concat(idleConns);
  }

  await closeAll(conns.concat(shadowConns));
  const w = readMeter(whole, null);
  report.generator = {
    cpuPct: w.generatorCpuPct,
    maxRssMb: round(process.resourceUsage().maxRSS / 1024, 1),
    seconds: w.seconds,
  };
  report.problems = problems.toJSON();
  report.stanzas = { in: stanzasIn, out: stanzasOut };
  if (opts.sm) report.sm = smCounts;
  report.ok = loginsFailed === 0 && presenceWrong === 0 && pepWrong === 0;
  if (opts.json) process.stdout.write(JSON.stringify(report) + '\n');
  else printText(report);
  return report.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`c2s-load: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
