// One typed configuration: hearth.yaml (or built-in defaults) + environment.
// Every limit has a default and bounds; unknown keys are an error naming the key (contract.md).
import { readFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { prepareLocalpart, tryParseJid } from './core/jid.js';
import { LOG_COMPONENTS, LOG_LEVELS } from './core/log.js';

const listenAddress = z
  .string()
  .regex(/^(\*|\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.:-]+):\d{1,5}$/, 'expected "host:port" (host may be *)')
  .refine((s) => {
    const port = Number(s.slice(s.lastIndexOf(':') + 1));
    return port >= 0 && port <= 65535;
  }, 'port must be 0..65535');

/** A peer address for s2s.routes: "host:port" with a concrete host. */
const hostAndPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected "host:port"')
  .refine((s) => {
    const port = Number(s.slice(s.lastIndexOf(':') + 1));
    return port >= 1 && port <= 65535;
  }, 'port must be 1..65535');

const domainName = z.string().refine((s) => {
  const jid = tryParseJid(s);
  return jid !== null && jid.local === '' && jid.resource === '' && jid.domain === s;
}, 'expected a domain name in its normalised (lowercase) form');

const int = (min: number, max: number, fallback: number) => z.number().int().min(min).max(max).default(fallback);

/**
 * XEP-0157 contact addresses are URIs: mailto: and xmpp: (RFC 5122) name someone, http(s):
 * a page, tel: a phone. Each must carry something after its scheme.
 */
const CONTACT_SCHEMES = new Set(['mailto:', 'xmpp:', 'http:', 'https:', 'tel:']);
const contactUri = z
  .string()
  .refine((s) => {
    if (/[\s\u0000-\u001f\u007f]/.test(s)) return false;
    let url: URL;
    try {
      url = new URL(s);
    } catch {
      return false;
    }
    if (!CONTACT_SCHEMES.has(url.protocol) || s.length <= url.protocol.length) return false;
    if (url.protocol === 'http:' || url.protocol === 'https:') return url.hostname !== '';
    if (url.protocol === 'mailto:') return /^[^@?]+@[^@?]+/.test(url.pathname);
    if (url.protocol === 'xmpp:') {
      // xmpp:user@domain, optionally ?query; an authority form (xmpp://…) is not an address.
      if (s.startsWith('xmpp://')) return false;
      try {
        return tryParseJid(decodeURIComponent(url.pathname)) !== null;
      } catch {
        return false;
      }
    }
    return url.pathname !== '';
  }, 'expected a mailto:, xmpp:, https:, http: or tel: URI');
const contactList = z.array(contactUri).default([]);

/** A bare JID (user@domain), as written: normalised already. */
const bareJid = z.string().refine((s) => {
  const jid = tryParseJid(s);
  return jid !== null && jid.local !== '' && jid.resource === '' && jid.bareString() === s;
}, 'expected a bare JID such as admin@example.org (lower case)');

/** A web origin as browsers send it: scheme://host[:port], nothing after. */
const webOrigin = z.string().refine((s) => {
  try {
    const url = new URL(s);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === s.replace(/\/$/, '').toLowerCase();
  } catch {
    return false;
  }
}, 'expected an origin like https://chat.example.org (scheme, host and port only)');

/** An IP address or a CIDR range (10.0.0.0/8, fd00::/8). */
const addressOrRange = z.string().refine((s) => {
  const [address, bits, extra] = s.split('/');
  const family = net.isIP(address ?? '');
  if (family === 0 || extra !== undefined) return false;
  if (bits === undefined) return true;
  const n = Number(bits);
  return /^\d{1,3}$/.test(bits) && n <= (family === 4 ? 32 : 128);
}, 'expected an IP address or a CIDR range such as 10.0.0.0/8');

/**
 * Names people expect to belong to the operator (RFC 2142 mailbox names and their kin): an
 * in-band registration may not take them.
 */
export const DEFAULT_RESERVED_USERNAMES: readonly string[] = [
  'abuse', 'admin', 'administrator', 'help', 'hostmaster', 'info', 'invite', 'jabber', 'mailer-daemon', 'moderator',
  'no-reply', 'nobody', 'noreply', 'official', 'operator', 'postmaster', 'register', 'root', 'security', 'server',
  'staff', 'support', 'sysadmin', 'system', 'webmaster', 'xmpp',
];

/** A username as registration compares it: a valid localpart, written in its normalised form. */
const reservedUsername = z.string().refine((s) => {
  try {
    return prepareLocalpart(s) === s;
  } catch {
    return false;
  }
}, 'expected a username in its normalised form (lower case, a valid JID localpart)');

const configSchema = z.strictObject({
  domains: z.array(domainName).min(1).default(['localhost']),
  // JIDs with admin rights inside XMPP (group-chat room creation when muc.createRooms is admins).
  admins: z.array(bareJid).default([]),
  // XEP-0157: addresses advertised in the server's disco#info (XEP-0128 serverinfo form).
  contactAddresses: z
    .strictObject({
      abuse: contactList,
      admin: contactList,
      feedback: contactList,
      sales: contactList,
      security: contactList,
      status: contactList,
      support: contactList,
    })
    .prefault({}),
  dataDir: z.string().min(1).default('./data'),
  database: z
    .strictObject({
      url: z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL').nullable().default(null),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(LOG_LEVELS).default('info'),
      // A level per component (c2s, s2s, router, …), overriding `level` for that component.
      components: z
        .partialRecord(z.enum(LOG_COMPONENTS), z.enum(LOG_LEVELS))
        .default({}),
    })
    .prefault({}),
  tls: z
    .strictObject({
      certificates: z.string().nullable().default(null),
    })
    .prefault({}),
  c2s: z
    .strictObject({
      listen: z.array(listenAddress).default(['*:5222']),
      directTls: z.array(listenAddress).default(['*:5223']),
      requireTls: z.boolean().default(true),
      allowPlaintextAuth: z.boolean().default(false),
      // XEP-0198: how long a session whose connection died waits for a resumption (0: no
      // resumption), and how many stanzas it keeps unacknowledged before the stream ends.
      smResumeTimeoutS: int(0, 86_400, 300),
      smMaxUnacked: int(10, 1_000_000, 10_000),
      // A connection silent this long is asked for a sign of life (<r/> or an XEP-0199
      // ping); without an answer within pingTimeoutS it is treated as dead.
      pingIntervalS: int(1, 86_400, 120),
      pingTimeoutS: int(1, 3_600, 30),
    })
    .prefault({}),
  s2s: z
    .strictObject({
      listen: z.array(listenAddress).default(['*:5269']),
      // XEP-0368: listeners where peers start TLS at once (found via _xmpps-server SRV records).
      directTls: z.array(listenAddress).default([]),
      // RFC 6120 §5.1: TLS is mandatory-to-negotiate on server streams unless turned off.
      requireTls: z.boolean().default(true),
      routes: z.record(domainName, hostAndPort).default({}),
      trustedCa: z.string().nullable().default(null),
      insecureDomains: z.array(domainName).default([]),
      dnsTimeoutMs: int(100, 60_000, 3_000),
      connectTimeoutMs: int(500, 300_000, 15_000),
      idleTimeoutS: int(10, 86_400, 600),
    })
    .prefault({}),
  admin: z
    .strictObject({
      listen: z.array(listenAddress).default(['127.0.0.1:5281']),
    })
    .prefault({}),
  // Client-facing HTTP: WebSocket (RFC 7395), BOSH (XEP-0206), host-meta (XEP-0156), web chat.
  http: z
    .strictObject({
      listen: z.array(listenAddress).default(['*:5280']),
      tlsListen: z.array(listenAddress).default([]),
      // The base URL clients reach this listener at when it sits behind a reverse proxy.
      publicUrl: z.url({ protocol: /^https?$/ }).nullable().default(null),
      // Web origins allowed besides the served domains (scheme://host[:port]).
      allowedOrigins: z.array(webOrigin).default([]),
      // Serve the bundled converse.js web chat at /chat.
      webClient: z.boolean().default(true),
      // TLS-terminating reverse proxies (addresses or CIDR ranges) whose X-Forwarded-For is believed.
      trustedProxies: z.array(addressOrRange).default([]),
      // XEP-0124 §12: a BOSH session whose client sent no request for this long is gone.
      boshInactivityS: int(2, 3_600, 60),
    })
    .prefault({}),
  // XEP-0114 external components: each service domain, with the secret its handshake proves.
  components: z
    .strictObject({
      listen: z.array(listenAddress).default(['127.0.0.1:5347']),
      services: z
        .record(
          domainName,
          z
            .strictObject({
              secret: z.string().min(1).optional(),
              secretFile: z.string().min(1).optional(),
              secretEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name').optional(),
            })
            .refine((s) => [s.secret, s.secretFile, s.secretEnv].filter((v) => v !== undefined).length === 1, 'give exactly one of secret, secretFile, secretEnv'),
        )
        .default({}),
    })
    .prefault({}),
  limits: z
    .strictObject({
      stanzaBytes: int(10_000, 64 * 1024 * 1024, 262_144),
      preAuthStanzaBytes: int(1_024, 1024 * 1024, 8_192),
      depth: int(8, 1_000, 64),
      attributes: int(8, 10_000, 128),
      unauthenticatedTimeoutS: int(1, 3_600, 30),
      unauthenticatedPerIp: int(1, 1_000_000, 100),
      authFailuresPerMinute: int(1, 1_000_000, 5),
      offlinePerAccount: int(0, 1_000_000, 1_000),
      rosterItems: int(1, 1_000_000, 1_000),
      // XEP-0198: hibernated sessions an account may have at once; the oldest beyond ends.
      hibernatedPerAccount: int(1, 1_000, 10),
      // XEP-0191: JIDs and domains one account may block; blocking more is not-allowed.
      blocklistItems: int(1, 1_000_000, 1_000),
      // XEP-0054: the largest photo (decoded bytes) a vCard may carry.
      vcardPhotoBytes: int(1_024, 16 * 1024 * 1024, 131_072),
      // XEP-0163 PEP: nodes per account (beyond: policy-violation), items a node keeps at most
      // (pubsub#max_items "max"), bytes of one node's items and of all an account's items.
      pepNodesPerAccount: int(1, 100_000, 256),
      pepItemsPerNode: int(1, 100_000, 1_000),
      pepNodeBytes: int(1_024, 1024 * 1024 * 1024, 2 * 1024 * 1024),
      pepAccountBytes: int(1_024, 16 * 1024 * 1024 * 1024, 8 * 1024 * 1024),
      // XEP-0045: occupants one room takes at most (muc#roomconfig_maxusers is capped to it),
      // and messages of discussion history a room keeps for newcomers (muc#maxhistoryfetch).
      mucOccupantsPerRoom: int(2, 100_000, 1_000),
      mucHistoryMessages: int(0, 1_000, 50),
      // XEP-0352: stanzas held for one inactive client session; above it they are all written out.
      csiHeldStanzas: int(0, 100_000, 100),
    })
    .prefault({}),
  mam: z
    .strictObject({
      // XEP-0313: archived messages older than this many days are removed (0: kept forever).
      retentionDays: int(0, 36_500, 0),
      // How often the background task looks for expired messages (with retentionDays > 0).
      retentionIntervalS: int(1, 86_400, 3_600),
      // Results per query page: a larger RSM <max/> is capped to this, not refused.
      maxPageSize: int(1, 1_000, 250),
      // Page size when a query asks for none.
      defaultPageSize: int(1, 1_000, 50),
      // XEP-0441: what an account archives until it sets its own preferences.
      defaultPolicy: z.enum(['always', 'roster', 'never']).default('always'),
    })
    .prefault({}),
  auth: z
    .strictObject({
      // RFC 7677 §4: at least 4096 iterations.
      scramIterations: int(4_096, 10_000_000, 4_096),
      // XEP-0484 FAST: how long a token lives; one used in its second half is rotated.
      fastTokenDays: int(1, 365, 30),
    })
    .prefault({}),
  version: z
    .strictObject({
      // XEP-0092 §3: the operating system is optional, and telling it helps attackers.
      showOs: z.boolean().default(false),
    })
    .prefault({}),
  // XEP-0045 group chat: a service at <subdomain>.<domain> for each served domain.
  muc: z
    .strictObject({
      enabled: z.boolean().default(true),
      subdomain: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'expected a DNS label such as conference').default('conference'),
      // Who may create rooms: anyone (remote users too), local (users of the served domains), admins.
      createRooms: z.enum(['anyone', 'local', 'admins']).default('anyone'),
    })
    .prefault({}),
  // XEP-0077 in-band registration and XEP-0401/XEP-0445 invitations.
  registration: z
    .strictObject({
      // closed: nobody registers in-band; invite: only with an invitation; open: anyone
      // (invitations too). Password change and account removal work in every mode.
      mode: z.enum(['closed', 'invite', 'open']).default('closed'),
      // Registrations without an invitation one address may make per hour, cluster-wide.
      perIpPerHour: int(1, 1_000_000, 5),
      // Characters (Unicode code points) a password chosen in-band must have at least.
      minPasswordLength: int(1, 1_024, 8),
      // A deleted account's name cannot be registered again for this many days.
      reuseDelayDays: int(0, 36_500, 30),
      // Usernames nobody may register (an operator may still create them, or invite to them).
      reservedUsernames: z.array(reservedUsername).default([...DEFAULT_RESERVED_USERNAMES]),
    })
    .prefault({}),
  cluster: z
    .strictObject({
      redis: z.string().regex(/^rediss?:\/\//, 'expected a redis:// URL').nullable().default(null),
      nodeId: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'expected 1-64 letters, digits, ".", "_" or "-"').nullable().default(null),
      ttlS: int(2, 300, 10),
    })
    .prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export interface LoadedConfig {
  config: Config;
  /** The file it came from, or null for built-in defaults. */
  file: string | null;
}

/** Which config file a command uses: --config, then HEARTH_CONFIG, then ./hearth.yaml if present. */
export function resolveConfigPath(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string | null {
  if (explicit) return path.resolve(explicit);
  if (env.HEARTH_CONFIG) return path.resolve(env.HEARTH_CONFIG);
  const local = path.resolve('hearth.yaml');
  return existsSync(local) ? local : null;
}

function formatIssuePath(issuePath: PropertyKey[]): string {
  return issuePath.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
}

/** Validates raw (already parsed) config data; returns the typed config or throws ConfigError. */
export function validateConfig(raw: unknown, baseDir: string, env: NodeJS.ProcessEnv = process.env): Config {
  const result = configSchema.safeParse(raw ?? {});
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      if (issue.code === 'unrecognized_keys') {
        const prefix = formatIssuePath(issue.path);
        return issue.keys.map((k) => `${prefix ? prefix + '.' : ''}${k}: unknown key`).join('\n');
      }
      return `${formatIssuePath(issue.path) || '(root)'}: ${issue.message}`;
    });
    throw new ConfigError(problems.flatMap((p) => p.split('\n')));
  }
  const config = result.data;
  config.dataDir = path.resolve(baseDir, config.dataDir);
  if (config.tls.certificates) config.tls.certificates = path.resolve(baseDir, config.tls.certificates);
  if (config.s2s.trustedCa) config.s2s.trustedCa = path.resolve(baseDir, config.s2s.trustedCa);
  if (env.DATABASE_URL) config.database.url = env.DATABASE_URL;
  if (env.REDIS_URL) {
    if (!/^rediss?:\/\//.test(env.REDIS_URL)) throw new ConfigError(['REDIS_URL: expected a redis:// URL']);
    config.cluster.redis = env.REDIS_URL;
  }
  if (env.HEARTH_LOG_LEVEL) {
    const level = configSchema.shape.log.unwrap().shape.level.safeParse(env.HEARTH_LOG_LEVEL);
    if (!level.success) throw new ConfigError([`HEARTH_LOG_LEVEL: ${level.error.issues[0]?.message ?? 'invalid'}`]);
    config.log.level = level.data;
  }
  config.domains = [...new Set(config.domains)];
  const problems: string[] = [];
  for (const [domain, service] of Object.entries(config.components.services)) {
    const key = `components.services.${domain}`;
    if (config.domains.includes(domain)) problems.push(`${key}: ${domain} is one of domains; a component needs a domain of its own`);
    if (service.secretFile !== undefined) {
      service.secretFile = path.resolve(baseDir, service.secretFile);
      try {
        service.secret = readFileSync(service.secretFile, 'utf8').trim();
      } catch (err) {
        problems.push(`${key}.secretFile: cannot read ${service.secretFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
        continue;
      }
    } else if (service.secretEnv !== undefined) {
      service.secret = env[service.secretEnv];
      if (service.secret === undefined) problems.push(`${key}.secretEnv: ${service.secretEnv} is not set`);
    }
    if (service.secret === '') problems.push(`${key}: the secret is empty`);
  }
  if (config.muc.enabled) {
    for (const domain of config.domains) {
      const service = `${config.muc.subdomain}.${domain}`;
      if (config.domains.includes(service)) problems.push(`muc.subdomain: ${service} is one of domains; group chat needs a domain of its own`);
      if (config.components.services[service]) problems.push(`components.services.${service}: ${service} is the group-chat service (muc.subdomain); give the component another domain or disable muc`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** The group-chat service domains (XEP-0045), one per served domain; none when disabled. */
export function mucDomains(config: Config): string[] {
  return config.muc.enabled ? config.domains.map((domain) => `${config.muc.subdomain}.${domain}`) : [];
}

/** Reads and validates a config file (or the defaults when file is null). Throws ConfigError. */
export function loadConfig(file: string | null, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  if (file === null) return { config: validateConfig({}, process.cwd(), env), file: null };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`--config: cannot read ${file}: ${(err as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ConfigError([`${file}: not valid YAML: ${(err as Error).message.split('\n')[0]}`]);
  }
  if (raw !== null && raw !== undefined && (typeof raw !== 'object' || Array.isArray(raw))) {
    throw new ConfigError([`${file}: expected a mapping of keys at the top level`]);
  }
  return { config: validateConfig(raw, path.dirname(file), env), file };
}
