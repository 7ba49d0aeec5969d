// Node death detection in a Hearth cluster: account A logs in to node 1, its mutual contact B
// to node 2 (both with initial presence); once A has B's available presence, node 2 is killed
// with SIGKILL and the time until A receives B's unavailable presence is measured. Node 1
// learns of the death only when node 2's liveness in Redis expires (cluster.ttlS after its
// last heartbeat) and its reaper (every 0.5 s) removes it, so the expected figure lies
// between about 2/3 of the TTL and TTL + 0.5 s.
//
//   node --import tsx bench/cluster-death.ts --host1 127.0.0.192 --host2 127.0.0.193 \
//     --domain bench.example --node2-pid PID --ttl 10
//
// The two accounts (<prefix>0 and <prefix>1, mutual contacts) are seeded first, e.g. by
// bench/seed-rosters.ts --users 2 --contacts 1 --user-prefix death. The process --node2-pid
// must be one the caller started (bench/cluster.sh). Plain TCP, SASL PLAIN: the servers must
// allow plaintext authentication. Every wait is bounded; prints one JSON object.
import net from 'node:net';
import { parseArgs } from 'node:util';

const HELP = `Usage: node --import tsx bench/cluster-death.ts [options]

  --host1 H         node 1 address (account <prefix>0 logs in here and watches)
  --host2 H         node 2 address (account <prefix>1 logs in here; this node is killed)
  --port P          c2s port of both (5222)
  --domain D        XMPP domain (localhost)
  --user-prefix S   accounts <prefix>0 and <prefix>1 (death)
  --password S      their password (bench-password)
  --node2-pid PID   node 2's process, killed with SIGKILL (one the caller started)
  --ttl S           the cluster's cluster.ttlS, for the report (10)
  --settle S        seconds between seeing B available and the kill (2)
  --timeout S       give up waiting for the unavailable presence S s after the kill (60)`;

const { values } = parseArgs({
  options: {
    host1: { type: 'string' },
    host2: { type: 'string' },
    port: { type: 'string', default: '5222' },
    domain: { type: 'string', default: 'localhost' },
    'user-prefix': { type: 'string', default: 'death' },
    password: { type: 'string', default: 'bench-password' },
    'node2-pid': { type: 'string' },
    ttl: { type: 'string', default: '10' },
    settle: { type: 'string', default: '2' },
    timeout: { type: 'string', default: '60' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help || !values.host1 || !values.host2 || !values['node2-pid']) {
  process.stdout.write(HELP + '\n');
  process.exit(values.help ? 0 : 2);
}
const port = Number(values.port);
const pid = Number(values['node2-pid']);
const ttlS = Number(values.ttl);
const settleS = Number(values.settle);
const timeoutS = Number(values.timeout);
if (![port, pid, ttlS, settleS, timeoutS].every((n) => Number.isFinite(n) && n >= 0) || !Number.isInteger(pid) || pid < 2) {
  process.stderr.write('--port, --node2-pid, --ttl, --settle, --timeout: non-negative numbers\n');
  process.exit(2);
}
const domain = values.domain.toLowerCase();
const prefix = values['user-prefix'];
const now = () => performance.now();
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The value of attribute `name` in an element's start tag, or null. */
function attr(el: string, name: string): string | null {
  const head = el.slice(0, el.indexOf('>') + 1 || undefined);
  const m = new RegExp(` ${name}=(['"])(.*?)\\1`).exec(head);
  return m ? m[2]! : null;
}

/** Just enough of a client: PLAIN login, bind, initial presence, top-level elements by depth. */
class Client {
  private sock: net.Socket | null = null;
  private buf = '';
  private step: 'features' | 'auth' | 'restart' | 'bind' | 'bound' = 'features';
  readonly jid: string;
  closedAt: number | null = null;
  onPresence: (el: string) => void = () => undefined;

  constructor(
    readonly user: string,
    private readonly host: string,
  ) {
    this.jid = `${user}@${domain}`;
  }

  login(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.user}: login timed out in step ${this.step}`)), 10_000);
      const done = (err?: Error) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      const sock = net.connect({ host: this.host, port });
      this.sock = sock;
      sock.setEncoding('utf8');
      sock.on('connect', () => this.header());
      sock.on('error', (err) => done(err));
      sock.on('close', () => {
        this.closedAt ??= now();
        if (this.step !== 'bound') done(new Error(`${this.user}: connection closed in step ${this.step}`));
      });
      sock.on('data', (text: string) => this.feed(text, done));
    });
  }

  private header(): void {
    this.sock!.write(`<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='${domain}' version='1.0'>`);
  }

  private feed(text: string, done: (err?: Error) => void): void {
    // The kept text always starts at the top level: complete top-level elements are found by
    // tag depth (the stream header and <?xml?> are skipped), the unfinished one is kept.
    this.buf += text;
    const re = /<(\/?)([^\s>/]+)[^>]*?(\/?)>/g;
    let depth = 0;
    let start = -1;
    let consumed = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(this.buf)) !== null) {
      const end = re.lastIndex;
      const [, close, name, selfClose] = m;
      if (name!.startsWith('?') || name === 'stream:stream') {
        if (close) this.sock?.destroy();
        consumed = end;
      } else if (close) {
        depth--;
        if (depth === 0 && start >= 0) {
          this.element(this.buf.slice(start, end), done);
          consumed = end;
          start = -1;
        }
      } else if (selfClose) {
        if (depth === 0) {
          this.element(this.buf.slice(m.index, end), done);
          consumed = end;
        }
      } else {
        if (depth === 0) start = m.index;
        depth++;
      }
    }
    this.buf = this.buf.slice(start >= 0 ? start : consumed);
  }

  private element(el: string, done: (err?: Error) => void): void {
    switch (this.step) {
      case 'features':
        if (!el.startsWith('<stream:features')) return;
        this.step = 'auth';
        this.sock!.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from(`\0${this.user}\0${values.password}`).toString('base64')}</auth>`);
        return;
      case 'auth':
        if (el.startsWith('<failure')) return done(new Error(`${this.user}: SASL failure ${el}`));
        if (!el.startsWith('<success')) return;
        this.step = 'restart';
        this.header();
        return;
      case 'restart':
        if (!el.startsWith('<stream:features')) return;
        this.step = 'bind';
        this.sock!.write(`<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>death</resource></bind></iq>`);
        return;
      case 'bind':
        if (!el.startsWith('<iq')) return;
        if (attr(el, 'type') !== 'result') return done(new Error(`${this.user}: bind failed ${el}`));
        this.step = 'bound';
        this.sock!.write('<presence/>');
        return done();
      case 'bound':
        if (el.startsWith('<presence')) this.onPresence(el);
        return;
    }
  }

  close(): void {
    this.sock?.destroy();
  }
}

async function main(): Promise<number> {
  const watcher = new Client(`${prefix}0`, values.host1!);
  const victim = new Client(`${prefix}1`, values.host2!);
  const victimJid = victim.jid;
  let availableAt: number | null = null;
  let unavailableAt: number | null = null;
  let unavailableStanza = '';
  watcher.onPresence = (el) => {
    const from = attr(el, 'from') ?? '';
    if (from !== victimJid && !from.startsWith(`${victimJid}/`)) return;
    const type = attr(el, 'type');
    if (type === null) availableAt ??= now();
    else if (type === 'unavailable' && availableAt !== null) {
      unavailableAt ??= now();
      unavailableStanza ||= el;
    }
  };
  const result: Record<string, unknown> = { ttlS, node2Pid: pid };
  try {
    await watcher.login();
    await victim.login();
    const until = now() + 10_000;
    while (availableAt === null && now() < until) await sleep(10);
    if (availableAt === null) throw new Error(`${watcher.user} on node 1 never saw ${victim.user} (node 2) available within 10 s`);
    await sleep(settleS * 1000);
    if (unavailableAt !== null) throw new Error(`${victim.user} went unavailable before the kill: ${unavailableStanza}`);
    const killedAt = now();
    process.kill(pid, 'SIGKILL');
    const deadline = killedAt + timeoutS * 1000;
    while (unavailableAt === null && now() < deadline) await sleep(5);
    result.node2ConnectionClosedMs = victim.closedAt === null ? null : Math.round(victim.closedAt - killedAt);
    result.unavailableAfterMs = unavailableAt === null ? null : Math.round(unavailableAt - killedAt);
    result.withinTtlPlus1s = unavailableAt !== null && unavailableAt - killedAt <= (ttlS + 1) * 1000;
    result.unavailableStanza = unavailableStanza || null;
    if (unavailableAt === null) result.error = `no unavailable presence within ${timeoutS} s of the kill`;
  } catch (err) {
    result.error = (err as Error).message;
  } finally {
    watcher.close();
    victim.close();
  }
  process.stdout.write(JSON.stringify(result) + '\n');
  return result.error ? 1 : 0;
}

const watchdog = setTimeout(() => {
  process.stderr.write('cluster-death: watchdog\n');
  process.exit(3);
}, (30 + settleS + timeoutS) * 1000);
watchdog.unref();
main().then((code) => process.exit(code));
