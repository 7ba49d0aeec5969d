// s2s benchmark: messages per second routed across ONE server-to-server link between two
// Hearth processes on this machine, with delivery latency, and a check that every message
// arrived exactly once and in order.
//
//   node --import tsx bench/s2s-load.ts                 # 100 pairs, 10 in flight, 10 s
//   node --import tsx bench/s2s-load.ts --users 200 --in-flight 5 --duration 20 --json
//
// Hearth A (bench-a.hearth.example on 127.0.0.186) and Hearth B (bench-b.hearth.example on
// 127.0.0.187) get certificates from a certificate authority made for the run (the
// federation tests' helpers/pki.ts) and trust it, so their link is TLS with SASL EXTERNAL,
// as in production. Their c2s listeners are plain TCP with PLAIN allowed (c2s.requireTls
// false, c2s.allowPlaintextAuth true: the documented loopback-benchmark keys) so the load
// clients cost little. N senders log in on A and N receivers on B; sender i keeps K chat
// messages in flight to receiver i's full JID (each delivery lets it send the next). After
// a warm-up that establishes the link, messages are counted for --duration seconds (and at
// most --max-messages), then sending stops and what is in flight has 10 s to arrive.
//
// Every phase is bounded in time, and the script stops both servers (by pid) on the way
// out, on errors and on SIGINT/SIGTERM too. Exit status: 0 when every message sent arrived
// exactly once, in order, with no error bounced; 1 otherwise; 2 on bad options.
//
// On 2 cores the two servers and this generator share the CPU: the figure is what one
// s2s link carries on this machine with all three busy, not a per-core figure.
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { HearthServer } from '../federation-tests/helpers/hearth.js';
import { getPki, removePki } from '../federation-tests/helpers/pki.js';
import { removeRunDir, runDir } from '../federation-tests/helpers/workspace.js';

const HELP = `Usage: node --import tsx bench/s2s-load.ts [options]

  --users N          sender/receiver pairs: N accounts on each server (100)
  --in-flight K      messages each sender keeps in flight (10)
  --duration S       measured seconds (10)
  --warmup S         unmeasured seconds of load before measuring (2)
  --max-messages M   stop sending after M messages in all (5000000)
  --log-level L      the servers' log level (info: the ready line is an info line)
  --keep             keep the servers' folders (configs, data, logs) and print where
  --json             print one JSON object instead of text
  --help             this text`;

interface Options {
  users: number;
  inFlight: number;
  duration: number;
  warmup: number;
  maxMessages: number;
  logLevel: string;
  keep: boolean;
  json: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      users: { type: 'string', default: '100' },
      'in-flight': { type: 'string', default: '10' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      'max-messages': { type: 'string', default: '5000000' },
      'log-level': { type: 'string', default: 'info' },
      keep: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP + '\n');
    process.exit(0);
  }
  const num = (name: string, raw: string, min: number, max: number): number => {
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${name}: expected a number in ${min}..${max}, got "${raw}"`);
    return n;
  };
  return {
    users: Math.floor(num('users', values.users, 1, 20_000)),
    inFlight: Math.floor(num('in-flight', values['in-flight'], 1, 1_000)),
    duration: num('duration', values.duration, 1, 600),
    warmup: num('warmup', values.warmup, 0, 120),
    maxMessages: Math.floor(num('max-messages', values['max-messages'], 1, 1e9)),
    logLevel: values['log-level'],
    keep: values.keep,
    json: values.json,
  };
}

/** HEARTH_BENCH_CPU_PROF=DIR: both servers write V8 CPU profiles there when they stop. */
const PROFILE_ARGS = process.env.HEARTH_BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.HEARTH_BENCH_CPU_PROF}`] : [];

// ---- clock, CPU -------------------------------------------------------------------------

const T0 = process.hrtime.bigint();
const nowNs = (): number => Number(process.hrtime.bigint() - T0);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function cpuSeconds(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, CLK_TCK 100
  } catch {
    return null;
  }
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

// ---- a minimal c2s client (RFC 6120 over plain TCP, SASL PLAIN) -------------------------

const NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';

class Conn {
  private sock: net.Socket | null = null;
  private buf = '';
  private depth = 0;
  private elemStart = 0;
  private scan = 0;
  private out = '';
  private flushQueued = false;
  state: 'connecting' | 'features' | 'auth' | 'restart' | 'bind' | 'bound' | 'closed' = 'connecting';
  fullJid = '';
  onElement: ((el: string) => void) | null = null;
  problem: string | null = null;

  constructor(
    readonly host: string,
    readonly domain: string,
    readonly username: string,
    readonly password: string,
  ) {}

  login(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(`login timeout (${this.state})`), timeoutMs);
      const fail = (why: string) => {
        clearTimeout(timer);
        this.problem = why;
        this.destroy();
        reject(new Error(`${this.username}@${this.domain}: ${why}`));
      };
      const sock = net.connect({ host: this.host, port: 5222 });
      this.sock = sock;
      sock.setNoDelay(true);
      sock.on('connect', () => {
        this.state = 'features';
        this.header();
      });
      sock.on('error', (err) => (this.state === 'bound' ? (this.problem = err.message) : fail(err.message)));
      sock.on('close', () => {
        if (this.state !== 'bound' && this.state !== 'closed') fail('closed during login');
        this.state = 'closed';
      });
      sock.on('data', (chunk: Buffer) => this.feed(chunk.toString('utf8')));
      this.onElement = (el) => {
        if (el.startsWith('<stream:error')) return fail(`stream error ${el}`);
        switch (this.state) {
          case 'features':
            if (!el.startsWith('<stream:features')) return;
            if (!el.includes('>PLAIN<')) return fail('PLAIN not offered');
            this.state = 'auth';
            this.write(`<auth xmlns='${NS_SASL}' mechanism='PLAIN'>${Buffer.from(`\0${this.username}\0${this.password}`).toString('base64')}</auth>`);
            return;
          case 'auth':
            if (el.startsWith('<failure')) return fail(`SASL failure ${el}`);
            if (!el.startsWith('<success')) return;
            this.state = 'restart';
            this.header();
            return;
          case 'restart':
            if (!el.startsWith('<stream:features')) return;
            this.state = 'bind';
            this.write(`<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>bench</resource></bind></iq>`);
            return;
          case 'bind': {
            if (!el.startsWith('<iq')) return;
            const jid = /<jid>([^<]+)<\/jid>/.exec(el);
            if (!/type=['"]result['"]/.test(el) || !jid) return fail(`bind failed ${el}`);
            this.fullJid = jid[1]!;
            this.state = 'bound';
            this.write('<presence/>');
            clearTimeout(timer);
            this.onElement = null;
            resolve();
            return;
          }
          default:
            return;
        }
      };
    });
  }

  private header(): void {
    this.write(`<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='${this.domain}' version='1.0'>`);
  }

  write(text: string): void {
    this.out += text;
    if (!this.flushQueued) {
      this.flushQueued = true;
      setImmediate(() => {
        this.flushQueued = false;
        if (this.sock && !this.sock.destroyed && this.out) this.sock.write(this.out);
        this.out = '';
      });
    }
  }

  destroy(): void {
    this.sock?.destroy();
  }

  async close(): Promise<void> {
    if (!this.sock || this.sock.destroyed) return;
    this.state = 'closed';
    this.sock.end('</stream:stream>');
    await Promise.race([new Promise((r) => this.sock!.once('close', r)), sleep(2_000)]);
    this.sock.destroy();
  }

  /** Finds complete top-level elements by tag depth (quote-aware), no DOM. */
  private feed(text: string): void {
    const s = this.buf + text;
    let pos = this.scan;
    let depth = this.depth;
    let elemStart = this.elemStart;
    let resumeAt = s.length;
    while (pos < s.length) {
      const lt = s.indexOf('<', pos);
      if (lt < 0 || lt + 1 >= s.length) {
        resumeAt = lt < 0 ? s.length : lt;
        break;
      }
      const c = s[lt + 1];
      if (c === '/') {
        const gt = s.indexOf('>', lt);
        if (gt < 0) {
          resumeAt = lt;
          break;
        }
        pos = gt + 1;
        depth--;
        if (depth === 0) this.element(s.slice(elemStart, pos));
        else if (depth < 0) {
          depth = 0; // </stream:stream>
          this.problem ??= 'stream closed by the server';
        }
      } else if (c === '?') {
        const end = s.indexOf('?>', lt);
        if (end < 0) {
          resumeAt = lt;
          break;
        }
        pos = end + 2;
      } else {
        let gt = -1;
        let quote = '';
        for (let i = lt + 2; i < s.length; i++) {
          const ch = s[i];
          if (quote) {
            if (ch === quote) quote = '';
          } else if (ch === '>') {
            gt = i;
            break;
          } else if (ch === '"' || ch === "'") quote = ch;
        }
        if (gt < 0) {
          resumeAt = lt;
          break;
        }
        pos = gt + 1;
        if (depth === 0 && s.startsWith('stream:stream', lt + 1)) {
          // stream header: features follow
        } else if (s[gt - 1] === '/') {
          if (depth === 0) this.element(s.slice(lt, pos));
        } else {
          if (depth === 0) elemStart = lt;
          depth++;
        }
      }
    }
    const keepFrom = depth > 0 ? elemStart : resumeAt;
    this.buf = keepFrom >= s.length ? '' : s.slice(keepFrom);
    this.scan = Math.max(0, resumeAt - keepFrom);
    this.elemStart = 0;
    this.depth = depth;
  }

  private element(el: string): void {
    this.onElement?.(el);
  }
}

// ---- the run ----------------------------------------------------------------------------

interface Pair {
  sender: Conn;
  receiver: Conn;
  sent: number;
  received: number;
  outOfOrder: number;
}

async function loginAll(conns: Conn[], concurrency = 50): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < conns.length) await conns[next++]!.login(20_000);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, conns.length) }, worker));
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  const say = (line: string) => {
    if (!opts.json) process.stdout.write(line + '\n');
  };
  const A = 'bench-a.hearth.example';
  const B = 'bench-b.hearth.example';
  const pkiGiven = !!process.env.HEARTH_FEDERATION_PKI;
  const pki = await getPki();
  const common = { certificates: 'ca' as const, c2sPlaintext: true, logLevel: opts.logLevel, connectTimeoutMs: 15_000 };
  const serverA = await HearthServer.create({ name: 'bench-a', domains: [A], address: '127.0.0.186', routes: { [B]: '127.0.0.187:5269' }, ...common });
  const serverB = await HearthServer.create({ name: 'bench-b', domains: [B], address: '127.0.0.187', routes: { [A]: '127.0.0.186:5269' }, ...common });
  const conns: Conn[] = [];
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    await Promise.all(conns.map((c) => c.close()));
    await Promise.all([serverA.stop(), serverB.stop()]);
    if (opts.keep) process.stderr.write(`kept: ${runDir()}\n`);
    else {
      removeRunDir();
      if (!pkiGiven) removePki(pki.dir);
    }
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void shutdown().then(() => process.exit(1)));
  }
  try {
    const password = 'bench-password';
    say(`importing ${opts.users} accounts on each server…`);
    await serverA.importUsers(Array.from({ length: opts.users }, (_, i) => `s${i}@${A} ${password}`));
    await serverB.importUsers(Array.from({ length: opts.users }, (_, i) => `r${i}@${B} ${password}`));
    await Promise.all([serverA.start({ nodeArgs: ['--max-semi-space-size=4', ...PROFILE_ARGS] }), serverB.start({ nodeArgs: ['--max-semi-space-size=4', ...PROFILE_ARGS] })]);
    const pidA = serverA.process?.pid;
    const pidB = serverB.process?.pid;

    const pairs: Pair[] = [];
    for (let i = 0; i < opts.users; i++) {
      const sender = new Conn('127.0.0.186', A, `s${i}`, password);
      const receiver = new Conn('127.0.0.187', B, `r${i}`, password);
      conns.push(sender, receiver);
      pairs.push({ sender, receiver, sent: 0, received: 0, outOfOrder: 0 });
    }
    const loginStart = nowNs();
    await loginAll(conns);
    say(`${conns.length} clients logged in (${((nowNs() - loginStart) / 1e9).toFixed(1)} s)`);

    // Routing: receiver i accepts only sender i's messages; body = "<seq> <sent-ns>".
    let sending = true;
    let measuring = false;
    let measureEnd = Infinity;
    let totalSent = 0;
    let totalReceived = 0;
    let measuredReceived = 0;
    let errors = 0;
    let strays = 0;
    const latencies: number[] = [];
    const send = (p: Pair) => {
      if (!sending || totalSent >= opts.maxMessages) return;
      p.sent++;
      totalSent++;
      p.sender.write(`<message to='${p.receiver.fullJid}' type='chat' id='m${p.sent}'><body>${p.sent} ${nowNs()}</body></message>`);
    };
    for (const p of pairs) {
      p.receiver.onElement = (el) => {
        if (!el.startsWith('<message')) return;
        const now = nowNs();
        if (/^<message[^>]*type=['"]error['"]/.test(el)) {
          errors++;
          return;
        }
        const from = /^<message[^>]*from=['"]([^'"]+)['"]/.exec(el)?.[1];
        if (from !== p.sender.fullJid) {
          strays++;
          return;
        }
        const body = /<body>(\d+) (\d+)<\/body>/.exec(el);
        if (!body) {
          strays++;
          return;
        }
        const seq = Number(body[1]);
        p.received++;
        totalReceived++;
        if (seq !== p.received) p.outOfOrder++;
        if (measuring && now <= measureEnd) {
          measuredReceived++;
          latencies.push((now - Number(body[2])) / 1e6);
        }
        send(p);
      };
      // Bounces come back to the sender.
      p.sender.onElement = (el) => {
        if (el.startsWith('<message') && /type=['"]error['"]/.test(el)) errors++;
      };
    }

    // Warm-up: one message per pair establishes the s2s link; wait for all (bounded).
    const warmStart = nowNs();
    for (const p of pairs) send(p);
    while (totalReceived < pairs.length && nowNs() - warmStart < 30e9 && errors === 0) await sleep(10);
    if (totalReceived < pairs.length) throw new Error(`warm-up: ${totalReceived}/${pairs.length} first messages arrived in 30 s (errors: ${errors})`);
    say(`s2s link up: first message round in ${((nowNs() - warmStart) / 1e6).toFixed(0)} ms`);
    for (const p of pairs) for (let k = 1; k < opts.inFlight; k++) send(p);
    await sleep(opts.warmup * 1000);

    const cpuA0 = cpuSeconds(pidA);
    const cpuB0 = cpuSeconds(pidB);
    const gen0 = process.cpuUsage();
    const t0 = nowNs();
    measuring = true;
    const deadline = t0 + opts.duration * 1e9;
    while (nowNs() < deadline && totalSent < opts.maxMessages) await sleep(20);
    measureEnd = nowNs();
    const seconds = (measureEnd - t0) / 1e9;
    const cpuA = cpuSeconds(pidA);
    const cpuB = cpuSeconds(pidB);
    const gen = process.cpuUsage(gen0);
    sending = false;
    const drainStart = nowNs();
    while (totalReceived + errors < totalSent && nowNs() - drainStart < 10e9) await sleep(20);

    const sorted = Float64Array.from(latencies).sort();
    const lost = pairs.reduce((n, p) => n + (p.sent - p.received), 0);
    const outOfOrder = pairs.reduce((n, p) => n + p.outOfOrder, 0);
    const report = {
      pairs: opts.users,
      inFlightPerSender: opts.inFlight,
      measuredSeconds: Math.round(seconds * 1000) / 1000,
      messagesPerSecond: Math.round(measuredReceived / seconds),
      latencyMs: {
        p50: Math.round(percentile(sorted, 0.5) * 1000) / 1000,
        p99: Math.round(percentile(sorted, 0.99) * 1000) / 1000,
        max: Math.round(percentile(sorted, 1) * 1000) / 1000,
      },
      sent: totalSent,
      received: totalReceived,
      lost,
      outOfOrder,
      errorsBounced: errors,
      stray: strays,
      serverCpuPct: {
        a: cpuA0 !== null && cpuA !== null ? Math.round(((cpuA - cpuA0) / seconds) * 1000) / 10 : null,
        b: cpuB0 !== null && cpuB !== null ? Math.round(((cpuB - cpuB0) / seconds) * 1000) / 10 : null,
      },
      generatorCpuPct: Math.round(((gen.user + gen.system) / 1e6 / seconds) * 1000) / 10,
      clientProblems: conns.filter((c) => c.problem).length,
    };
    const ok = lost === 0 && outOfOrder === 0 && errors === 0 && strays === 0;
    if (opts.json) {
      process.stdout.write(JSON.stringify({ ...report, ok }) + '\n');
    } else {
      say(`routed across one s2s link (${A} → ${B}, TLS + SASL EXTERNAL):`);
      say(`  ${report.messagesPerSecond} messages/s over ${report.measuredSeconds} s, ${opts.users} pairs, ${opts.inFlight} in flight each`);
      say(`  latency p50 ${report.latencyMs.p50} ms, p99 ${report.latencyMs.p99} ms, max ${report.latencyMs.max} ms`);
      say(`  CPU (% of one core): server A ${report.serverCpuPct.a}, server B ${report.serverCpuPct.b}, this generator ${report.generatorCpuPct}`);
      say(`  sent ${totalSent}, received ${totalReceived}, lost ${lost}, out of order ${outOfOrder}, bounced ${errors}, stray ${strays}`);
      say(ok ? 'every message arrived, once, in order' : 'FAILED: not every message arrived exactly once and in order');
    }
    return ok ? 0 : 1;
  } catch (err) {
    process.stderr.write(`s2s-load: ${(err as Error).message}\n`);
    for (const s of [serverA, serverB]) process.stderr.write(`--- ${s.options.name}\n${s.tail(20)}\n`);
    return 1;
  } finally {
    await shutdown();
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`s2s-load: ${err.message}\n`);
    process.exit(2);
  },
);
