// Users, as their client sees things: @xmpp/client (an independent implementation) over
// c2s STARTTLS with the certificate verified for the user's domain.
//
// c2s choice: real STARTTLS with verification, not plaintext. NODE_EXTRA_CA_CERTS is read
// only when a process starts, and a self-signed server's certificate (c.hearth.example,
// Prosody's in the dialback run) only exists once that server has run, so the trust a client
// needs is added per domain here: a narrow wrapper around tls.connect adds the test CA, plus
// the certificates registered for that host name with trustCertificate(), to the CAs of a
// TLS connection that names no CAs of its own. @xmpp/starttls connects with
// { socket, host: <the user's domain> }, so the check is against the XMPP domain.
import tls from 'node:tls';
import { client, xml, type Client } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { getPki } from './pki.js';

// The same bounded waits as the unit and integration tests.
export { delay, withTimeout } from '../../test/helpers/xmpp-client.js';
import { withoutSasl2, withTimeout } from '../../test/helpers/xmpp-client.js';

export { xml };
export type { Client, Element };

const extraTrust = new Map<string, string[]>();
let testCaPem: string | null = null;
let wrapped = false;

function wrapTlsConnect(): void {
  if (wrapped) return;
  wrapped = true;
  const original = tls.connect;
  const replacement = function (this: unknown, ...args: unknown[]) {
    const options = args[0];
    if (options && typeof options === 'object' && !('ca' in options)) {
      const o = options as tls.ConnectionOptions;
      const host = (o.servername ?? o.host ?? '').toLowerCase();
      const extra = extraTrust.get(host) ?? [];
      if (testCaPem !== null || extra.length > 0) {
        args[0] = { ...o, ca: [...tls.rootCertificates, ...(testCaPem ? [testCaPem] : []), ...extra] };
      }
    }
    return (original as (...a: unknown[]) => tls.TLSSocket).apply(this, args);
  };
  (tls as unknown as { connect: typeof replacement }).connect = replacement;
}

/** Clients trust this PEM certificate (e.g. a self-signed server's) for the host name. */
export function trustCertificate(host: string, pem: string): void {
  wrapTlsConnect();
  const list = extraTrust.get(host.toLowerCase()) ?? [];
  list.push(pem);
  extraTrust.set(host.toLowerCase(), list);
}

/**
 * Everything a user's client receives, kept in order, so that a test can wait for a
 * stanza that may already have arrived (no race between an action and its listener).
 */
export class Inbox {
  readonly all: Element[] = [];
  private unread: Element[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(xmpp: Client) {
    xmpp.on('stanza', (el: Element) => {
      this.all.push(el);
      this.unread.push(el);
      for (const w of [...this.waiters]) w();
    });
  }

  /** The first unread stanza that matches (removed from the unread ones), within ms. */
  take(match: (el: Element) => boolean, ms: number, what: string): Promise<Element> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const i = this.unread.findIndex(match);
        if (i >= 0) {
          const [el] = this.unread.splice(i, 1);
          done();
          resolve(el!);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; unread: ${this.unread.map((e) => e.toString()).join('\n  ') || '(none)'}`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Unread stanzas that match, without waiting (for "nothing else arrived" checks). */
  peek(match: (el: Element) => boolean = () => true): Element[] {
    return this.unread.filter(match);
  }

  /** Marks everything received so far as read. */
  clear(): void {
    this.unread = [];
  }
}

export interface User {
  jid: string; // bare
  fullJid: string;
  xmpp: Client;
  inbox: Inbox;
}

export interface LoginOptions {
  host: string;
  port?: number;
  domain: string;
  username: string;
  password: string;
  resource?: string;
  /**
   * Sign in with SASL2 and Bind 2 where the server offers them (default true). Without:
   * RFC 6120 SASL and resource binding, and offline messages pushed at the initial presence
   * (a Bind 2 client gets them from the archive instead, XEP-0386 §3.2).
   */
  sasl2?: boolean;
  /** Send initial presence after binding (default true). */
  presence?: boolean | Element;
  /**
   * Fetch the roster after binding (default true), as clients do: only an "interested
   * resource" (one that requested the roster) receives roster pushes (RFC 6121 §2.1.6).
   */
  roster?: boolean;
  timeoutMs?: number;
}

/** Logs in over STARTTLS (verified), binds, acknowledges roster pushes, sends initial presence. */
export async function login(options: LoginOptions): Promise<User> {
  const pki = await getPki();
  testCaPem = pki.caPem;
  wrapTlsConnect();
  const xmpp = client({
    service: `xmpp://${options.host}:${options.port ?? 5222}`,
    domain: options.domain,
    resource: options.resource ?? 'fed',
    credentials: async (authenticate: (c: { username: string; password: string }, m: string) => Promise<void>, mechanisms: string[]) => {
      const mechanism = mechanisms.includes('SCRAM-SHA-1') ? 'SCRAM-SHA-1' : 'PLAIN';
      await authenticate({ username: options.username, password: options.password }, mechanism);
    },
  });
  xmpp.reconnect.stop();
  xmpp.on('error', () => undefined);
  if (options.sasl2 === false) withoutSasl2(xmpp);
  // A well-behaved client acknowledges roster pushes (RFC 6121 §2.1.6).
  (xmpp as unknown as { iqCallee: { set(ns: string, name: string, handler: () => boolean): void } }).iqCallee.set('jabber:iq:roster', 'query', () => true);
  const inbox = new Inbox(xmpp);
  try {
    await withTimeout(xmpp.start(), options.timeoutMs ?? 15_000, `login of ${options.username}@${options.domain}`);
  } catch (err) {
    await stopQuietly(xmpp);
    throw err;
  }
  const fullJid = xmpp.jid!.toString();
  const user = { jid: `${options.username}@${options.domain}`, fullJid, xmpp, inbox };
  if (options.roster !== false) await getRoster(user);
  if (options.presence !== false) {
    await xmpp.send(typeof options.presence === 'object' ? options.presence : xml('presence'));
  }
  return user;
}

export async function stopQuietly(xmpp: Client | undefined): Promise<void> {
  if (!xmpp) return;
  try {
    await withTimeout(xmpp.stop(), 3_000, 'client stop');
  } catch {
    // already closed
  }
}

export async function logout(user: User | undefined): Promise<void> {
  if (user) await stopQuietly(user.xmpp);
}

// ---- matchers --------------------------------------------------------------------------

export const bare = (jid: string | undefined): string => (jid ?? '').split('/')[0]!.toLowerCase();

export function isMessageFrom(from: string, body?: string) {
  return (el: Element) =>
    el.is('message') && el.attrs.type !== 'error' && bare(el.attrs.from) === bare(from) && (body === undefined || el.getChildText('body') === body);
}

export function isPresenceFrom(from: string, type?: string) {
  return (el: Element) => el.is('presence') && bare(el.attrs.from) === bare(from) && (el.attrs.type ?? undefined) === type;
}

/** A roster push (iq set, jabber:iq:roster) about the contact. */
export function isRosterPush(contact: string) {
  return (el: Element) => {
    if (!el.is('iq') || el.attrs.type !== 'set') return false;
    const item = el.getChild('query', 'jabber:iq:roster')?.getChild('item');
    return !!item && bare(item.attrs.jid) === bare(contact);
  };
}

export function rosterItem(push: Element): Element {
  return push.getChild('query', 'jabber:iq:roster')!.getChild('item')!;
}

/** The stanza error condition of an error stanza (RFC 6120 §8.3.3), or null. */
export function stanzaErrorCondition(el: Element): { condition: string; type: string } | null {
  const error = el.getChild('error');
  if (!error) return null;
  const condition = error.children.find((c) => typeof c !== 'string' && c.attrs.xmlns === 'urn:ietf:params:xml:ns:xmpp-stanzas');
  return { condition: typeof condition === 'object' ? condition.name : 'unknown', type: error.attrs.type };
}

/** The user's roster as the server returns it (RFC 6121 §2.1.3). */
export async function getRoster(user: User): Promise<Map<string, { subscription: string; ask?: string }>> {
  const result = await user.xmpp.iqCaller.request(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })), 10_000);
  const items = new Map<string, { subscription: string; ask?: string }>();
  for (const item of result.getChild('query', 'jabber:iq:roster')?.getChildren('item') ?? []) {
    items.set(bare(item.attrs.jid), { subscription: item.attrs.subscription ?? 'none', ...(item.attrs.ask ? { ask: item.attrs.ask } : {}) });
  }
  return items;
}
