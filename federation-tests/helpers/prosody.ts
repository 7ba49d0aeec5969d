// A real Prosody (Debian's package, 0.12) in the foreground, with a config file, data
// directory, pidfile and log of its own, on its own loopback address. It resolves the
// Hearth test domains from /etc/hosts through libunbound (hoststxt), with a resolv.conf
// naming 127.0.0.1 where no DNS server answers. Over UDP, unbound waits ~17 s per SRV
// lookup for that silent server (an unconnected socket never hears the ICMP refusal);
// with tcp-upstream the refused TCP connection fails the lookup in milliseconds.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { delay } from './xmpp.js';
import { ManagedProcess, run } from './processes.js';
import { newDir } from './workspace.js';

export interface ProsodyOptions {
  name: string;
  domain: string;
  address: string;
  /** PEM files for the domain's certificate and key. */
  certFile: string;
  keyFile: string;
  /** A CA file Prosody trusts for peers' certificates (SASL EXTERNAL), besides the system's. */
  cafile?: string;
  /**
   * A group-chat component (Prosody's mod_muc, XEP-0045) at this domain, with a certificate
   * of its own; none by default. Anyone may create rooms there (remote users too).
   */
  muc?: { domain: string; certFile: string; keyFile: string };
}

/** Is Prosody installed? (federation-tests/install-prosody.sh installs it.) */
export function prosodyInstalled(): boolean {
  return existsSync('/usr/bin/prosody') && existsSync('/usr/bin/prosodyctl');
}

const lua = (s: string) => JSON.stringify(s); // a Lua string literal for plain paths and names

export class ProsodyServer {
  readonly dir: string;
  readonly configFile: string;
  readonly logFile: string;
  process: ManagedProcess | null = null;

  constructor(readonly options: ProsodyOptions) {
    this.dir = newDir(options.name);
    this.configFile = path.join(this.dir, 'prosody.cfg.lua');
    this.logFile = path.join(this.dir, 'prosody.log');
    mkdirSync(path.join(this.dir, 'data'), { recursive: true });
    const resolvConf = path.join(this.dir, 'resolv.conf');
    writeFileSync(resolvConf, 'nameserver 127.0.0.1\n');
    const o = options;
    const sslFor = (keyFile: string, certFile: string) => `{ key = ${lua(keyFile)}; certificate = ${lua(certFile)}; ${o.cafile ? `cafile = ${lua(o.cafile)}; ` : ''}}`;
    const ssl = sslFor(o.keyFile, o.certFile);
    // Components inherit tls, dialback and s2s from the global modules (modulemanager.lua).
    const muc = o.muc
      ? `
Component ${lua(o.muc.domain)} "muc"
  ssl = ${sslFor(o.muc.keyFile, o.muc.certFile)}
  restrict_room_creation = false
`
      : '';
    writeFileSync(
      this.configFile,
      `-- written by federation-tests for ${o.name}
run_as_root = true
daemonize = false
pidfile = ${lua(path.join(this.dir, 'prosody.pid'))}
data_path = ${lua(path.join(this.dir, 'data'))}
plugin_paths = { }
certificates = ${lua(path.dirname(o.certFile))}
log = { debug = ${lua(this.logFile)} }
network_backend = "epoll"

interfaces = { ${lua(o.address)} }
local_interfaces = { ${lua(o.address)} }
c2s_ports = { 5222 }
c2s_direct_tls_ports = { }
s2s_ports = { 5269 }
s2s_direct_tls_ports = { }
component_ports = { }
http_ports = { }
https_ports = { }

modules_enabled = { "roster"; "saslauth"; "tls"; "dialback"; "disco"; "ping"; }
modules_disabled = { }

authentication = "internal_hashed"
storage = "internal"
c2s_require_encryption = true
s2s_require_encryption = true
-- Accept peers whose certificates do not verify, authenticating them with dialback.
s2s_secure_auth = false
s2s_timeout = 20

-- libunbound: /etc/hosts for the test domains; no DNS server answers on this machine, and
-- tcp-upstream makes the SRV lookups fail at once (connection refused) instead of after
-- unbound's UDP retries.
unbound = { hoststxt = "/etc/hosts"; resolvconf = ${lua(resolvConf)}; options = { ["tcp-upstream:"] = "yes" } }

ssl = ${ssl}

VirtualHost ${lua(o.domain)}
  ssl = ${ssl}
${muc}`,
    );
  }

  get domain(): string {
    return this.options.domain;
  }

  async register(local: string, password: string): Promise<string> {
    const result = await run('prosodyctl', ['--config', this.configFile, 'register', local, this.options.domain, password], { cwd: this.dir, timeoutMs: 30_000 });
    if (result.code !== 0) throw new Error(`prosodyctl register ${local}: exit ${result.code}: ${result.stdout}${result.stderr}`);
    return `${local}@${this.options.domain}`;
  }

  async start(): Promise<void> {
    this.process = new ManagedProcess(`prosody ${this.options.name}`, 'prosody', ['-F', '--config', this.configFile], {
      cwd: this.dir,
      env: { ...process.env },
      logFile: path.join(this.dir, 'prosody.stdout'),
    });
    // Ready once both listeners accept connections.
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (!this.process.alive) throw new Error(`prosody exited (${this.process.exitCode}):\n${this.process.tail(40)}\n${this.log().slice(-3000)}`);
      if ((await canConnect(this.options.address, 5222)) && (await canConnect(this.options.address, 5269))) return;
      if (Date.now() > deadline) throw new Error(`prosody not listening on ${this.options.address} within 20 s:\n${this.log().slice(-3000)}`);
      await delay(200);
    }
  }

  async stop(): Promise<number | null> {
    return this.process ? this.process.stop(10_000) : null;
  }

  /** SIGKILL: the server vanishes without closing its streams or telling anyone. */
  async kill(): Promise<number | null> {
    return this.process ? this.process.kill() : null;
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  logLines(pattern: RegExp): string[] {
    return this.log()
      .split('\n')
      .filter((l) => pattern.test(l));
  }
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, 1_000);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}
