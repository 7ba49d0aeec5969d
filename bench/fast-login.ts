// Sign-in load generator: how many logins per second the server completes with
//   fast          SASL2 (XEP-0388) with a FAST token (XEP-0484, HT-SHA-256-*) and Bind 2
//                 (XEP-0386, carbons, stream management and CSI enabled inline): a device
//                 reconnecting, as Conversations and Monal do;
//   sasl2-scram   SASL2 with SCRAM and the same Bind 2 request: a sign-in with the password;
//   legacy-scram  RFC 6120 SASL with SCRAM, a stream restart and resource binding.
// Each round logs every account in once over a new connection (plain TCP, or direct TLS with
// --tls, resuming the TLS session of the account's previous connection), holds the sessions
// until all are in (a reconnect storm after a restart), then closes them. Before the measured
// rounds, one unmeasured round fills the client's caches as a real client has them: the
// FAST token (obtained with a SCRAM sign-in and <request-token/>) or the SCRAM SaltedPassword.
//
//   node --import tsx bench/fast-login.ts --host 127.0.0.196 --domain bench.example --users 2000
//   node --import tsx bench/fast-login.ts --flow sasl2-scram ...
//   node --import tsx bench/fast-login.ts --tls --port 5223 --mechanism HT-SHA-256-EXPR ...
//
// Meant to be pinned to one core (taskset -c 1) with the server on the other (bench/fast.sh).
// Every login is bounded in time (10 s); failures are counted and reported, never waited on.
import { createHash, createHmac, pbkdf2, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { parseArgs } from 'node:util';
import { nowNs, readMeter, round, startMeter, type MeterReading } from './meter.js';

const HELP = `Usage: node --import tsx bench/fast-login.ts [options]

  --host H              server address (127.0.0.1)
  --port P              c2s port (5222; the direct TLS port with --tls, e.g. 5223)
  --tls                 direct TLS (XEP-0368); each account resumes the TLS session of its
                        previous connection (session tickets), certificates are not checked
  --domain D            XMPP domain of the accounts (localhost)
  --users N             accounts <prefix>0 .. <prefix>N-1, each logging in once per round (1000)
  --user-prefix S       (bench)
  --password S          password of every account (bench-password)
  --flow F              fast (default), sasl2-scram or legacy-scram
  --mechanism M         fast: HT-SHA-256-NONE (default), HT-SHA-256-EXPR or HT-SHA-256-ENDP
                        (these two need --tls); scram flows: SCRAM-SHA-256 (default), SCRAM-SHA-1
  --concurrency C       logins in progress at once (100)
  --rounds R            measured rounds (3)
  --server-pid PID      server process(es), comma-separated, for the server CPU per login
  --json                print the report as JSON`;

type Flow = 'fast' | 'sasl2-scram' | 'legacy-scram';

interface Options {
  host: string;
  port: number;
  tls: boolean;
  domain: string;
  users: number;
  prefix: string;
  password: string;
  flow: Flow;
  mechanism: string;
  concurrency: number;
  rounds: number;
  serverPid: number[] | null;
  json: boolean;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      tls: { type: 'boolean', default: false },
      domain: { type: 'string', default: 'localhost' },
      users: { type: 'string', default: '1000' },
      'user-prefix': { type: 'string', default: 'bench' },
      password: { type: 'string', default: 'bench-password' },
      flow: { type: 'string', default: 'fast' },
      mechanism: { type: 'string' },
      concurrency: { type: 'string', default: '100' },
      rounds: { type: 'string', default: '3' },
      'server-pid': { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP + '\n');
    process.exit(0);
  }
  const flow = values.flow as Flow;
  if (!['fast', 'sasl2-scram', 'legacy-scram'].includes(flow)) throw new Error(`--flow: fast, sasl2-scram or legacy-scram, not ${flow}`);
  const mechanism = values.mechanism ?? (flow === 'fast' ? 'HT-SHA-256-NONE' : 'SCRAM-SHA-256');
  const allowed = flow === 'fast' ? ['HT-SHA-256-NONE', 'HT-SHA-256-EXPR', 'HT-SHA-256-ENDP'] : ['SCRAM-SHA-256', 'SCRAM-SHA-1'];
  if (!allowed.includes(mechanism)) throw new Error(`--mechanism: one of ${allowed.join(', ')} with --flow ${flow}`);
  if (mechanism !== 'HT-SHA-256-NONE' && mechanism.startsWith('HT-') && !values.tls) throw new Error(`--mechanism ${mechanism} binds to the TLS channel: add --tls`);
  const positive = (name: string, text: string) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: a positive integer`);
    return n;
  };
  return {
    host: values.host!,
    port: positive('port', values.port ?? (values.tls ? '5223' : '5222')),
    tls: values.tls!,
    domain: values.domain!,
    users: positive('users', values.users!),
    prefix: values['user-prefix']!,
    password: values.password!,
    flow,
    mechanism,
    concurrency: positive('concurrency', values.concurrency!),
    rounds: positive('rounds', values.rounds!),
    serverPid: values['server-pid'] ? values['server-pid'].split(',').map((p) => positive('server-pid', p)) : null,
    json: values.json!,
  };
}

const NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
const NS_SASL2 = 'urn:xmpp:sasl:2';
const NS_FAST = 'urn:xmpp:fast:0';
const LOGIN_TIMEOUT_MS = 10_000;
const CLOSE_TIMEOUT_MS = 2_000;

/** What a device keeps between connections. */
interface Device {
  readonly index: number;
  readonly username: string;
  readonly userAgentId: string;
  token: string | null;
  tlsSession: Buffer | null;
}

// ---- SCRAM (RFC 5802), with the SaltedPassword cache a real client keeps --------------------

interface ScramKeys {
  clientKey: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}
const scramCache = new Map<string, Promise<ScramKeys>>();

function scramKeys(hash: 'sha1' | 'sha256', password: string, salt: string, iterations: number): Promise<ScramKeys> {
  const key = `${hash},${iterations},${salt}`;
  let keys = scramCache.get(key);
  if (!keys) {
    keys = new Promise<ScramKeys>((resolve, reject) => {
      pbkdf2(password, Buffer.from(salt, 'base64'), iterations, hash === 'sha1' ? 20 : 32, hash, (err, salted) => {
        if (err) return reject(err);
        const clientKey = createHmac(hash, salted).update('Client Key').digest();
        resolve({ clientKey, storedKey: createHash(hash).update(clientKey).digest(), serverKey: createHmac(hash, salted).update('Server Key').digest() });
      });
    });
    scramCache.set(key, keys);
  }
  return keys;
}

class Scram {
  private readonly hash: 'sha1' | 'sha256';
  private readonly nonce = randomBytes(18).toString('base64');
  private readonly clientFirstBare: string;
  private serverSignature: Buffer | null = null;

  constructor(mechanism: string, username: string, private readonly password: string) {
    this.hash = mechanism === 'SCRAM-SHA-1' ? 'sha1' : 'sha256';
    this.clientFirstBare = `n=${username.replace(/=/g, '=3D').replace(/,/g, '=2C')},r=${this.nonce}`;
  }

  first(): string {
    return `n,,${this.clientFirstBare}`;
  }

  async final(serverFirst: string): Promise<string> {
    const attrs = new Map(serverFirst.split(',').map((part) => [part[0], part.slice(2)] as const));
    const nonce = attrs.get('r');
    const salt = attrs.get('s');
    const iterations = Number(attrs.get('i'));
    if (!nonce?.startsWith(this.nonce) || !salt || !(iterations > 0)) throw new Error('bad SCRAM server-first message');
    const keys = await scramKeys(this.hash, this.password, salt, iterations);
    const withoutProof = `c=biws,r=${nonce}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const signature = createHmac(this.hash, keys.storedKey).update(authMessage).digest();
    const proof = Buffer.alloc(keys.clientKey.length);
    for (let i = 0; i < proof.length; i++) proof[i] = keys.clientKey[i]! ^ signature[i]!;
    this.serverSignature = createHmac(this.hash, keys.serverKey).update(authMessage).digest();
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  verify(serverFinal: string): boolean {
    return this.serverSignature !== null && serverFinal === `v=${this.serverSignature.toString('base64')}`;
  }
}

// ---- one connection ---------------------------------------------------------------------------

class LoginError extends Error {}

/** A stream read as text: waits for the first match of a pattern in what has not been consumed. */
class Stream {
  private text = '';
  private waiter: { pattern: RegExp; resolve: (match: RegExpExecArray) => void; reject: (err: Error) => void } | null = null;
  private failure: Error | null = null;
  private readonly closed: Promise<void>;

  constructor(readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    socket.on('data', (chunk: string) => {
      this.text += chunk;
      this.check();
    });
    socket.on('error', (err) => this.fail(err));
    this.closed = new Promise((resolve) => socket.once('close', () => {
      this.fail(new LoginError('connection closed'));
      resolve();
    }));
  }

  send(data: string): void {
    this.socket.write(data);
  }

  next(pattern: RegExp): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      this.waiter = { pattern, resolve, reject };
      this.check();
    });
  }

  async close(): Promise<void> {
    if (!this.socket.destroyed) {
      this.socket.end('</stream:stream>');
      const timer = setTimeout(() => this.socket.destroy(), CLOSE_TIMEOUT_MS);
      await this.closed;
      clearTimeout(timer);
    }
  }

  private check(): void {
    const waiter = this.waiter;
    if (!waiter) return;
    const error = /<stream:error>([\s\S]*?)<\/stream:error>/.exec(this.text);
    if (error) return this.fail(new LoginError(`stream error ${/<([a-z-]+)/.exec(error[1]!)?.[1] ?? ''}`));
    const match = waiter.pattern.exec(this.text);
    if (!match) return;
    this.text = this.text.slice(match.index + match[0].length);
    this.waiter = null;
    waiter.resolve(match);
  }

  private fail(err: Error): void {
    this.failure ??= err;
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.reject(err);
  }
}

const FEATURES = /<stream:features>([\s\S]*?)<\/stream:features>/;
const SASL2_ANSWER = /<(challenge|success|failure)\b[^>]*>([\s\S]*?)<\/\1>/;
const LEGACY_ANSWER = /<(challenge|success|failure)\b[^>]*?(?:\/>|>([\s\S]*?)<\/\1>)/;

function connect(opts: Options, device: Device): Promise<{ stream: Stream; resumedTls: boolean }> {
  return new Promise((resolve, reject) => {
    if (!opts.tls) {
      const socket = net.connect({ host: opts.host, port: opts.port });
      socket.once('connect', () => resolve({ stream: new Stream(socket), resumedTls: false }));
      socket.once('error', reject);
      return;
    }
    const socket = tls.connect({
      host: opts.host,
      port: opts.port,
      servername: opts.domain,
      rejectUnauthorized: false,
      ALPNProtocols: ['xmpp-client'],
      ...(device.tlsSession ? { session: device.tlsSession } : {}),
    });
    // TLS 1.3 tickets arrive after the handshake; the last one is what the next connection resumes.
    socket.on('session', (session: Buffer) => (device.tlsSession = session));
    socket.once('secureConnect', () => resolve({ stream: new Stream(socket), resumedTls: socket.isSessionReused() }));
    socket.once('error', reject);
  });
}

function openStream(stream: Stream, domain: string): Promise<RegExpExecArray> {
  stream.send(`<?xml version='1.0'?><stream:stream to='${domain}' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`);
  return stream.next(FEATURES);
}

function channelBinding(stream: Stream, mechanism: string): Buffer {
  const socket = stream.socket as tls.TLSSocket;
  if (mechanism.endsWith('-EXPR')) return socket.exportKeyingMaterial(32, 'EXPORTER-Channel-Binding', Buffer.alloc(0));
  if (mechanism.endsWith('-ENDP')) return createHash('sha256').update(socket.getPeerCertificate().raw).digest();
  return Buffer.alloc(0);
}

const htHash = (token: string, label: string, cb: Buffer) => createHmac('sha256', Buffer.from(token, 'utf8')).update(label).update(cb).digest();
const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64');
const unb64 = (text: string) => Buffer.from(text.trim(), 'base64').toString('utf8');

/** What Conversations asks of Bind 2: its tag; carbons, resumable stream management and CSI inline. */
const BIND2 = `<bind xmlns='urn:xmpp:bind:0'><tag>bench</tag><enable xmlns='urn:xmpp:carbons:2'/><enable xmlns='urn:xmpp:sm:3' resume='true'/><inactive xmlns='urn:xmpp:csi:0'/></bind>`;

/** One sign-in of the device; returns the open stream (its session bound). */
async function signIn(opts: Options, device: Device, kind: 'token' | 'request-token' | 'password'): Promise<{ stream: Stream; resumedTls: boolean }> {
  const { stream, resumedTls } = await connect(opts, device);
  try {
    const features = (await openStream(stream, opts.domain))[1]!;
    if (opts.flow === 'legacy-scram') await legacyScram(opts, device, stream, features);
    else await sasl2(opts, device, stream, features, kind);
    return { stream, resumedTls };
  } catch (err) {
    stream.socket.destroy();
    throw err;
  }
}

async function sasl2(opts: Options, device: Device, stream: Stream, features: string, kind: 'token' | 'request-token' | 'password'): Promise<void> {
  const userAgent = `<user-agent id='${device.userAgentId}'><software>hearth-bench</software><device>bench ${device.index}</device></user-agent>`;
  let mechanism: string;
  let initial: string | Buffer;
  let inline = BIND2;
  let scram: Scram | null = null;
  let cb: Buffer = Buffer.alloc(0);
  if (kind === 'token') {
    if (!features.includes(`<mechanism>${opts.mechanism}</mechanism>`)) throw new LoginError(`${opts.mechanism} is not offered`);
    mechanism = opts.mechanism;
    cb = channelBinding(stream, mechanism);
    initial = Buffer.concat([Buffer.from(`${device.username}\0`), htHash(device.token!, 'Initiator', cb)]);
    inline += `<fast xmlns='${NS_FAST}'/>`;
  } else {
    mechanism = kind === 'request-token' ? 'SCRAM-SHA-256' : opts.mechanism;
    scram = new Scram(mechanism, device.username, opts.password);
    initial = scram.first();
    if (kind === 'request-token') inline += `<request-token xmlns='${NS_FAST}' mechanism='${opts.mechanism}'/>`;
  }
  if (!features.includes(`xmlns='${NS_SASL2}'`) && !features.includes(`xmlns="${NS_SASL2}"`)) throw new LoginError('no SASL2 offered');
  stream.send(`<authenticate xmlns='${NS_SASL2}' mechanism='${mechanism}'><initial-response>${b64(initial)}</initial-response>${userAgent}${inline}</authenticate>`);
  let answer = await stream.next(SASL2_ANSWER);
  if (answer[1] === 'challenge') {
    if (!scram) throw new LoginError('unexpected challenge');
    stream.send(`<response xmlns='${NS_SASL2}'>${b64(await scram.final(unb64(answer[2]!)))}</response>`);
    answer = await stream.next(SASL2_ANSWER);
  }
  if (answer[1] !== 'success') throw new LoginError(`failure ${/<([a-z-]+)/.exec(answer[2]!)?.[1] ?? ''}`);
  const body = answer[2]!;
  const data = /<additional-data>([^<]*)<\/additional-data>/.exec(body)?.[1] ?? '';
  if (scram ? !scram.verify(unb64(data)) : !timingSafeEqual(Buffer.from(data, 'base64'), htHash(device.token!, 'Responder', cb))) {
    throw new LoginError('the server did not prove it knows the secret');
  }
  if (!body.includes('<bound')) throw new LoginError('no <bound/>: Bind 2 did not run');
  const issued = /<token\b[^>]*\btoken=['"]([^'"]+)['"]/.exec(body)?.[1];
  if (issued) device.token = issued;
  else if (kind === 'request-token') throw new LoginError('no FAST token issued');
}

async function legacyScram(opts: Options, device: Device, stream: Stream, features: string): Promise<void> {
  if (!features.includes(`<mechanism>${opts.mechanism}</mechanism>`)) throw new LoginError(`${opts.mechanism} is not offered`);
  const scram = new Scram(opts.mechanism, device.username, opts.password);
  stream.send(`<auth xmlns='${NS_SASL}' mechanism='${opts.mechanism}'>${b64(scram.first())}</auth>`);
  let answer = await stream.next(LEGACY_ANSWER);
  if (answer[1] === 'challenge') {
    stream.send(`<response xmlns='${NS_SASL}'>${b64(await scram.final(unb64(answer[2] ?? '')))}</response>`);
    answer = await stream.next(LEGACY_ANSWER);
  }
  if (answer[1] !== 'success') throw new LoginError(`failure ${/<([a-z-]+)/.exec(answer[2] ?? '')?.[1] ?? ''}`);
  if (!scram.verify(unb64(answer[2] ?? ''))) throw new LoginError('the server did not prove it knows the password');
  // RFC 6120 §6.4.6: a new stream, then resource binding (§7).
  await openStream(stream, opts.domain);
  stream.send(`<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>bench</resource></bind></iq>`);
  const reply = await stream.next(/<iq\b[^>]*\bid=['"]bind['"][^>]*>/);
  if (!/type=['"]result['"]/.test(reply[0])) throw new LoginError('bind refused');
}

// ---- rounds ---------------------------------------------------------------------------------------

interface RoundReport extends MeterReading {
  ok: number;
  failed: number;
  perSecond: number;
  /** Server CPU per successful login. */
  serverCpuUsPerLogin: number | null;
  tlsResumed?: number;
  latencyMs: { p50: number; p99: number };
  failures: Record<string, number>;
}

async function runRound(opts: Options, devices: Device[], kind: 'token' | 'request-token' | 'password'): Promise<RoundReport> {
  const meter = startMeter(opts.serverPid);
  const open: Stream[] = [];
  const latencies: number[] = [];
  const failures = new Map<string, number>();
  let next = 0;
  let resumed = 0;
  let lastOk = meter.wall0;
  const worker = async () => {
    while (next < devices.length) {
      const device = devices[next++]!;
      const started = nowNs();
      let timer: NodeJS.Timeout | undefined;
      try {
        const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new LoginError('timeout')), LOGIN_TIMEOUT_MS)));
        const { stream, resumedTls } = await Promise.race([signIn(opts, device, kind), timeout]);
        lastOk = nowNs();
        latencies.push((lastOk - started) / 1e6);
        if (resumedTls) resumed++;
        open.push(stream);
      } catch (err) {
        const reason = err instanceof LoginError ? err.message : ((err as NodeJS.ErrnoException).code ?? String(err));
        failures.set(reason, (failures.get(reason) ?? 0) + 1);
      } finally {
        clearTimeout(timer);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency, devices.length) }, worker));
  const reading = readMeter(meter, opts.serverPid);
  const seconds = (lastOk - meter.wall0) / 1e9;
  for (let i = 0; i < open.length; i += 500) await Promise.all(open.slice(i, i + 500).map((s) => s.close()));
  latencies.sort((a, b) => a - b);
  const at = (q: number) => (latencies.length ? round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!, 1) : NaN);
  const ok = latencies.length;
  return {
    ...reading,
    ok,
    failed: devices.length - ok,
    perSecond: ok > 0 && seconds > 0 ? round(ok / seconds, 1) : 0,
    serverCpuUsPerLogin: reading.serverCpuSeconds !== null && ok > 0 ? round((reading.serverCpuSeconds / ok) * 1e6) : null,
    ...(opts.tls ? { tlsResumed: resumed } : {}),
    latencyMs: { p50: at(0.5), p99: at(0.99) },
    failures: Object.fromEntries(failures),
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function main(): Promise<number> {
  const opts = parseOptions();
  const devices: Device[] = Array.from({ length: opts.users }, (_, index) => ({
    index,
    username: `${opts.prefix}${index}`,
    userAgentId: randomUUID(),
    token: null,
    tlsSession: null,
  }));
  // The unmeasured round: tokens (fast) or SaltedPassword (SCRAM), and TLS sessions to resume.
  const setup = await runRound(opts, devices, opts.flow === 'fast' ? 'request-token' : 'password');
  if (setup.ok === 0) {
    process.stderr.write(`setup round failed: ${JSON.stringify(setup.failures)}\n`);
    return 1;
  }
  const rounds: RoundReport[] = [];
  for (let r = 0; r < opts.rounds; r++) rounds.push(await runRound(opts, devices, opts.flow === 'fast' ? 'token' : 'password'));
  // A FAST token's first use moves it from the 'new' to the 'current' slot (a write): round 1
  // of the fast flow is first use, the later rounds are the steady state.
  const steady = opts.flow === 'fast' && rounds.length > 1 ? rounds.slice(1) : rounds;
  const report = {
    flow: opts.flow,
    mechanism: opts.mechanism,
    transport: opts.tls ? 'direct-tls' : 'tcp',
    users: opts.users,
    concurrency: opts.concurrency,
    setup: { ok: setup.ok, failed: setup.failed, perSecond: setup.perSecond, failures: setup.failures },
    rounds,
    perSecond: median(steady.map((r) => r.perSecond)),
    serverCpuUsPerLogin: steady.every((r) => r.serverCpuUsPerLogin !== null) ? median(steady.map((r) => r.serverCpuUsPerLogin!)) : null,
    failed: rounds.reduce((n, r) => n + r.failed, 0),
  };
  if (opts.json) {
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  } else {
    const transport = opts.tls ? 'direct TLS (sessions resumed)' : 'TCP';
    process.stdout.write(`${opts.flow} ${opts.mechanism} over ${transport}, ${opts.users} accounts, ${opts.concurrency} at once\n`);
    process.stdout.write(`  setup: ${setup.ok} ok, ${setup.failed} failed, ${setup.perSecond}/s\n`);
    rounds.forEach((r, i) => {
      const tlsNote = r.tlsResumed !== undefined ? `, ${r.tlsResumed} TLS resumed` : '';
      const fail = r.failed ? ` ${JSON.stringify(r.failures)}` : '';
      process.stdout.write(`  round ${i + 1}: ${r.perSecond} logins/s, p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, server ${r.serverCpuPct ?? '?'}% CPU, ${r.serverCpuUsPerLogin ?? '?'} µs/login, generator ${r.generatorCpuPct}%${tlsNote}, ${r.failed} failed${fail}\n`);
    });
    process.stdout.write(`  median${steady === rounds ? '' : ' after first use'}: ${report.perSecond} logins/s\n`);
  }
  return report.failed > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);
