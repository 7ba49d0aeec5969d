// Invitations for operators (XEP-0401 account creation and user invitation, redeemed with
// XEP-0445 pre-authenticated in-band registration): mint one, list them, revoke one. The same
// implementation serves the command line (on the database, or through the running server's
// control socket) and the admin API; only operators reach either (the data directory, an
// admin token). A token is shown once, when it is minted: only its SHA-256 digest is stored.
//
// What an invitation is for:
//   account  the one username it may create (XEP-0401 §4.4, reserved until it expires);
//   contact  a roster invitation: the new user and that local account end up subscribed to
//            each other (XEP-0401 §4.6);
//   admin    the new account becomes a server administrator (ServerAdmins).
// Invitations are redeemed in registration.mode invite and open; in closed mode nothing
// registers in-band, so minting one is refused rather than handing out a link that cannot work.
import { randomInt } from 'node:crypto';
import { z } from 'zod';
import type { Config } from '../config.js';
import type { Jid } from '../core/jid.js';
import type { InviteRecord, Stores } from '../storage/index.js';
import type { AccountService } from './accounts.js';
import { ServiceError } from './errors.js';
import { tokenDigest } from './tokens.js';
import { jidText, parseInput } from './validation.js';

const TOKEN_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** XEP-0401 §4.1: a random alphanumeric string; 24 of 62 symbols carry 142 bits. */
const TOKEN_LENGTH = 24;
const TOKEN_PATTERN = /^[A-Za-z0-9]{24}$/;
/** Expired invitations stay listed (marked expired) this long, then go. */
const EXPIRED_KEPT_MS = 24 * 60 * 60 * 1000;
const TTL_UNITS_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const MAX_TTL_MS = 365 * TTL_UNITS_MS.d;
const DEFAULT_TTL = '7d';

export const inviteTtl = z
  .string()
  .regex(/^[1-9][0-9]{0,5}[mhd]$/, 'expected a duration such as 30m, 12h or 7d')
  .refine((s) => ttlMs(s) <= MAX_TTL_MS, 'at most 365 days')
  .describe('how long the invitation stays valid: minutes (m), hours (h) or days (d), e.g. 7d');

export const createInviteInput = z.strictObject({
  account: jidText.optional().describe('the one account (user@domain) the invitation may create; without it the invitee chooses a name'),
  contact: jidText.optional().describe('a roster invitation: a local account the new user and it end up subscribed to each other'),
  admin: z.boolean().default(false).describe('the new account becomes a server administrator'),
  domain: z.string().min(1).max(1023).optional().describe('the served domain of the new account (default: that of account or contact, else the first of domains)'),
  ttl: inviteTtl.default(DEFAULT_TTL),
});

export const revokeInviteInput = z.union([
  z.strictObject({ id: z.coerce.number().int().min(1).describe('the id `hearth invite list` shows') }),
  z.strictObject({ token: z.string().min(1).max(256).describe('the token the invitation was minted with') }),
]);

/** An invitation as listed: never its token. */
export interface InviteInfo {
  id: number;
  domain: string;
  account: string | null;
  contact: string | null;
  admin: boolean;
  createdAt: string;
  expiresAt: string;
  expired: boolean;
}

/** A new invitation: the only time its token is shown. */
export interface MintedInvite extends Omit<InviteInfo, 'createdAt' | 'expired'> {
  token: string;
  /** The XEP-0401 / XEP-0445 xmpp: URI. */
  uri: string;
  /** The landing page on the client HTTP listener, or null when its address is not known. */
  landingUrl: string | null;
}

/** What the landing page shows about a valid invitation. */
export interface InviteView {
  domain: string;
  account: string | null;
  contact: string | null;
  uri: string;
  expiresAt: Date;
}

export class InviteService {
  constructor(
    private readonly stores: Stores,
    private readonly config: Config,
    private readonly accounts: AccountService,
    private readonly now: () => number = Date.now,
  ) {}

  async create(input: unknown): Promise<MintedInvite> {
    const request = parseInput(createInviteInput, input);
    if (this.config.registration.mode === 'closed') {
      throw new ServiceError('invalid', 'registration.mode is closed: nobody can redeem an invitation; set it to invite (or open) first');
    }
    const account = request.account === undefined ? null : this.accounts.parseAccountJid(request.account, 'account');
    const contact = request.contact === undefined ? null : await this.accounts.requireExisting(request.contact, 'contact');
    const domain = this.domainOf(request.domain, account, contact);
    const now = this.now();
    await this.stores.invites.purgeExpired(new Date(now - EXPIRED_KEPT_MS));
    if (account) await this.checkNameFree(account, new Date(now));

    const token = newInviteToken();
    const expiresAt = new Date(now + ttlMs(request.ttl));
    const id = await this.stores.invites.create({
      digest: tokenDigest(token),
      domain,
      username: account?.local ?? null,
      contactUsername: contact?.local ?? null,
      grantsAdmin: request.admin,
      expiresAt,
    });
    if (id === null) throw new ServiceError('not-found', `${contact!.toString()} does not exist`, 'contact');
    return {
      id,
      token,
      uri: inviteUri(token, domain, account?.local ?? null, contact?.local ?? null),
      landingUrl: landingUrl(this.config, domain, token),
      domain,
      account: account?.toString() ?? null,
      contact: contact?.toString() ?? null,
      admin: request.admin,
      expiresAt: expiresAt.toISOString(),
    };
  }

  async list(): Promise<{ invites: InviteInfo[] }> {
    const now = this.now();
    await this.stores.invites.purgeExpired(new Date(now - EXPIRED_KEPT_MS));
    const records = await this.stores.invites.list();
    return { invites: records.map((record) => describe(record, now)) };
  }

  /** By id, or by the token itself (hashed: the token is never looked up as such). */
  async revoke(input: unknown): Promise<{ id: number }> {
    const request = parseInput(revokeInviteInput, input);
    if ('id' in request) {
      if (!(await this.stores.invites.revokeById(request.id))) throw new ServiceError('not-found', `there is no invitation ${request.id}`, 'id');
      return { id: request.id };
    }
    const id = TOKEN_PATTERN.test(request.token) ? await this.stores.invites.revokeByDigest(tokenDigest(request.token)) : null;
    if (id === null) throw new ServiceError('not-found', 'no invitation has this token (used, revoked, or never minted)', 'token');
    return { id };
  }

  /** The landing page's view of a token: null when it is unknown, malformed or expired. */
  async view(token: string): Promise<InviteView | null> {
    if (!TOKEN_PATTERN.test(token)) return null;
    const record = await this.stores.invites.findByDigest(tokenDigest(token));
    if (!record || record.expiresAt.getTime() <= this.now()) return null;
    return {
      domain: record.domain,
      account: record.username === null ? null : `${record.username}@${record.domain}`,
      contact: record.contactUsername === null ? null : `${record.contactUsername}@${record.domain}`,
      uri: inviteUri(token, record.domain, record.username, record.contactUsername),
      expiresAt: record.expiresAt,
    };
  }

  private domainOf(requested: string | undefined, account: Jid | null, contact: Jid | null): string {
    const domain = requested === undefined ? (account?.domain ?? contact?.domain ?? this.config.domains[0]!) : this.accounts.requireDomain(requested);
    if (account && account.domain !== domain) throw new ServiceError('invalid', `the account ${account.toString()} is not on ${domain}`, 'account');
    // The inviter's server is the one the invitee registers on (XEP-0401 §1.1).
    if (contact && contact.domain !== domain) throw new ServiceError('invalid', `the contact ${contact.toString()} is not on ${domain}, where the new account would be`, 'contact');
    return domain;
  }

  /** The name an invitation pins must be free: no account, no recent deletion, no other invitation. */
  private async checkNameFree(account: Jid, now: Date): Promise<void> {
    if (await this.stores.accounts.exists(account.local, account.domain)) {
      throw new ServiceError('exists', `${account.toString()} already exists`, 'account');
    }
    const days = this.config.registration.reuseDelayDays;
    const deleted = await this.stores.tombstones.deletedSince(account.local, account.domain, new Date(now.getTime() - days * TTL_UNITS_MS.d));
    if (deleted) {
      const free = new Date(deleted.getTime() + days * TTL_UNITS_MS.d);
      throw new ServiceError('invalid', `${account.toString()} was deleted on ${deleted.toISOString()}; registration.reuseDelayDays keeps its name from invitations until ${free.toISOString()} (hearth user add may still create it)`, 'account');
    }
    if (await this.stores.invites.reservesUsername(account.domain, account.local, now)) {
      throw new ServiceError('exists', `an unexpired invitation for ${account.toString()} exists already (revoke it first)`, 'account');
    }
  }
}

function describe(record: InviteRecord, now: number): InviteInfo {
  return {
    id: record.id,
    domain: record.domain,
    account: record.username === null ? null : `${record.username}@${record.domain}`,
    contact: record.contactUsername === null ? null : `${record.contactUsername}@${record.domain}`,
    admin: record.grantsAdmin,
    createdAt: record.createdAt.toISOString(),
    expiresAt: record.expiresAt.toISOString(),
    expired: record.expiresAt.getTime() <= now,
  };
}

function ttlMs(ttl: string): number {
  return Number(ttl.slice(0, -1)) * TTL_UNITS_MS[ttl.slice(-1) as keyof typeof TTL_UNITS_MS];
}

export function newInviteToken(): string {
  let token = '';
  for (let i = 0; i < TOKEN_LENGTH; i++) token += TOKEN_ALPHABET[randomInt(TOKEN_ALPHABET.length)];
  return token;
}

/** Whether a string could be an invitation token (anything else is refused without a lookup). */
export function isInviteToken(token: string): boolean {
  return TOKEN_PATTERN.test(token);
}

/**
 * The invitation as an xmpp: URI (RFC 5122, XEP-0147 query actions):
 *   roster invitation          xmpp:inviter@domain?roster;preauth=TOKEN;ibr=y   (XEP-0401 §4.1)
 *   account with a fixed name  xmpp:name@domain?register;preauth=TOKEN          (XEP-0401 §4.4)
 *   account, name chosen       xmpp:domain?register;preauth=TOKEN               (XEP-0445 §2.2)
 * A roster invitation for a fixed name is an account invitation: the subscription is made by
 * the server when the account is registered.
 */
export function inviteUri(token: string, domain: string, username: string | null, contactUsername: string | null): string {
  const address = (local: string | null) => (local === null ? '' : `${encodeURIComponent(local)}@`) + encodeURIComponent(domain);
  if (contactUsername !== null && username === null) return `xmpp:${address(contactUsername)}?roster;preauth=${token};ibr=y`;
  return `xmpp:${address(username)}?register;preauth=${token}`;
}

/** Where the invitation's landing page is served, or null when no base URL can be known. */
export function landingUrl(config: Config, domain: string, token: string): string | null {
  const base = publicBaseUrl(config, domain);
  return base === null ? null : `${base}/invite/${token}`;
}

/**
 * http.publicUrl when set; else the domain at the port of the first client HTTP listener
 * (TLS first). A listener on port 0 (chosen at start) gives none.
 */
function publicBaseUrl(config: Config, domain: string): string | null {
  if (config.http.publicUrl) return config.http.publicUrl.replace(/\/+$/, '');
  const pick = (listen: readonly string[], scheme: 'https' | 'http', standard: number): string | null => {
    const first = listen[0];
    if (first === undefined) return null;
    const port = Number(first.slice(first.lastIndexOf(':') + 1));
    if (port === 0) return null;
    return `${scheme}://${domain}${port === standard ? '' : `:${port}`}`;
  };
  return pick(config.http.tlsListen, 'https', 443) ?? pick(config.http.listen, 'http', 80);
}

