// Where to connect for a remote domain (RFC 6120 §3.2): a static route from the config, else
// DNS SRV `_xmpps-server._tcp` (XEP-0368, direct TLS) and `_xmpp-server._tcp` ordered by
// priority and weight (RFC 2782), else the domain's own address on 5269 (§3.2.2).
//
// Every lookup is bounded: dns.Resolver with a timeout and one try. dns.lookup() is never
// used, because a lookup of an unknown name holds a libuv worker thread (shared with crypto)
// that no JavaScript timeout frees. Hosts-file entries are read here instead.
import type { SrvRecord } from 'node:dns';
import { Resolver } from 'node:dns/promises';
import { readFile, stat } from 'node:fs/promises';
import net from 'node:net';

export interface PeerAddress {
  /** An IP address, ready to connect to. */
  host: string;
  port: number;
  /** XEP-0368: TLS from the first byte. */
  directTls: boolean;
  /** Where it came from, for logs. */
  source: 'route' | 'srv' | 'srv-tls' | 'fallback';
}

export interface ResolverOptions {
  routes: Readonly<Record<string, string>>;
  timeoutMs: number;
  /** Defaults to /etc/hosts. */
  hostsFile?: string;
  /** DNS servers to ask; defaults to the system's. */
  servers?: string[];
}

export const DEFAULT_S2S_PORT = 5269;

export class PeerResolver {
  private readonly resolver: Resolver;
  private readonly hostsFile: string;
  private hosts: { mtimeMs: number; map: Map<string, string[]> } | null = null;

  constructor(private readonly options: ResolverOptions) {
    this.resolver = new Resolver({ timeout: options.timeoutMs, tries: 1 });
    if (options.servers) this.resolver.setServers(options.servers);
    this.hostsFile = options.hostsFile ?? '/etc/hosts';
  }

  /** Candidate addresses in the order to try them; empty when the domain has none. */
  async resolve(domain: string): Promise<PeerAddress[]> {
    const route = this.options.routes[domain];
    if (route) {
      const colon = route.lastIndexOf(':');
      const host = route.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
      const port = Number(route.slice(colon + 1));
      const addresses = net.isIP(host) ? [host] : await this.addressesOf(host);
      return addresses.map((address) => ({ host: address, port, directTls: false, source: 'route' }));
    }

    const [secure, plain] = await Promise.all([
      this.srv(`_xmpps-server._tcp.${domain}`),
      this.srv(`_xmpp-server._tcp.${domain}`),
    ]);
    // RFC 6120 §3.2.1: a single record with target "." means the service is not offered.
    const offered = (records: SrvRecord[]) => !(records.length === 1 && (records[0]!.name === '' || records[0]!.name === '.'));
    const records: Array<SrvRecord & { directTls: boolean }> = [];
    if (offered(secure)) for (const r of secure) records.push({ ...r, directTls: true });
    if (offered(plain)) for (const r of plain) records.push({ ...r, directTls: false });

    if (records.length === 0) {
      if (!offered(plain) && plain.length > 0) return [];
      // §3.2.2: no SRV records; fall back to the domain's address on the default port.
      const addresses = await this.addressesOf(domain);
      return addresses.map((host) => ({ host, port: DEFAULT_S2S_PORT, directTls: false, source: 'fallback' }));
    }

    const result: PeerAddress[] = [];
    for (const record of orderSrv(records)) {
      for (const host of await this.addressesOf(record.name)) {
        result.push({ host, port: record.port, directTls: record.directTls, source: record.directTls ? 'srv-tls' : 'srv' });
      }
    }
    return result;
  }

  private async srv(name: string): Promise<SrvRecord[]> {
    try {
      return await this.resolver.resolveSrv(name);
    } catch {
      // NXDOMAIN, no data, timeout, refused: no records from DNS.
      return [];
    }
  }

  /** A/AAAA of a host name: the hosts file first (as the system resolver would), then DNS. */
  async addressesOf(host: string): Promise<string[]> {
    if (net.isIP(host)) return [host];
    const fromFile = (await this.hostsMap()).get(host.toLowerCase());
    if (fromFile && fromFile.length > 0) return fromFile;
    const [v4, v6] = await Promise.all([
      this.resolver.resolve4(host).catch(() => [] as string[]),
      this.resolver.resolve6(host).catch(() => [] as string[]),
    ]);
    return [...v4, ...v6];
  }

  private async hostsMap(): Promise<Map<string, string[]>> {
    let mtimeMs: number;
    try {
      mtimeMs = (await stat(this.hostsFile)).mtimeMs;
    } catch {
      return new Map();
    }
    if (this.hosts && this.hosts.mtimeMs === mtimeMs) return this.hosts.map;
    const map = parseHostsFile(await readFile(this.hostsFile, 'utf8').catch(() => ''));
    this.hosts = { mtimeMs, map };
    return map;
  }

  cancel(): void {
    this.resolver.cancel();
  }
}

/** hosts(5): "address name [aliases…]", # comments; names map to all their addresses in order. */
export function parseHostsFile(text: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const rawLine of text.split('\n')) {
    const line = rawLine.replace(/#.*/, '').trim();
    if (!line) continue;
    const [address, ...names] = line.split(/\s+/);
    if (!address || net.isIP(address) === 0) continue;
    for (const name of names) {
      const key = name.toLowerCase();
      const list = map.get(key);
      if (!list) map.set(key, [address]);
      else if (!list.includes(address)) list.push(address);
    }
  }
  return map;
}

/**
 * RFC 2782 ordering: ascending priority; within a priority, a weighted random order where
 * weight-0 records come first so that they are picked rarely (§"Usage rules").
 */
export function orderSrv<T extends SrvRecord>(records: readonly T[], random: () => number = Math.random): T[] {
  const byPriority = new Map<number, T[]>();
  for (const r of records) {
    const group = byPriority.get(r.priority);
    if (group) group.push(r);
    else byPriority.set(r.priority, [r]);
  }
  const ordered: T[] = [];
  for (const priority of [...byPriority.keys()].sort((a, b) => a - b)) {
    const remaining = [...byPriority.get(priority)!].sort((a, b) => a.weight - b.weight);
    while (remaining.length > 0) {
      const total = remaining.reduce((sum, r) => sum + r.weight, 0);
      let pick = 0;
      if (total > 0) {
        const threshold = random() * total;
        let running = 0;
        pick = remaining.findIndex((r) => (running += r.weight) > threshold);
        if (pick < 0) pick = remaining.length - 1;
      }
      ordered.push(remaining.splice(pick, 1)[0]!);
    }
  }
  return ordered;
}
