// Account administration: one implementation behind the command line, the control socket
// and the admin API, so every path validates and behaves the same.
import type { Config } from '../config.js';
import { StreamError } from '../core/errors.js';
import { Jid, tryParseJid } from '../core/jid.js';
import type { ServerEvents } from '../core/events.js';
import type { HookBus } from '../core/hooks.js';
import type { ClientSession, SessionRegistry } from '../core/sessions.js';
import { deriveAllCredentials } from '../sasl/credentials.js';
import { trySaslprep } from '../sasl/saslprep.js';
import type { AccountRecord, Stores } from '../storage/index.js';
import { ServiceError } from './errors.js';

/** Bytes of password we accept: generous, but bounded (PBKDF2 input). */
const MAX_PASSWORD_BYTES = 1024;

export interface ImportResult {
  created: number;
  existed: number;
  invalid: number;
  /** One line per invalid input line (line number and reason), at most 100. */
  problems: string[];
}

/** What GET /api/v1/accounts/{jid} tells about an account. */
export interface AccountDetails {
  jid: string;
  createdAt: string;
  /** Bound resources right now (0 when the server does not run in this process). */
  sessions: number;
  rosterItems: number;
  offlineMessages: number;
  /** When the account was disabled, or null. */
  disabledAt: string | null;
}

export class AccountService {
  constructor(
    private readonly stores: Stores,
    private readonly config: Config,
    /** Present when the server runs in this process: deletions end live sessions. */
    private readonly sessions: SessionRegistry | null,
    /** Present when the server runs in this process: the `account-deleted` event. */
    private readonly hooks: HookBus<ServerEvents> | null = null,
  ) {}

  /** An account address: a bare JID with a localpart, on a served domain. */
  parseAccountJid(input: unknown, field = 'jid'): Jid {
    if (typeof input !== 'string' || input === '') throw new ServiceError('invalid', 'an account JID is required', field);
    const jid = tryParseJid(input);
    if (!jid || jid.local === '' || jid.resource !== '') {
      throw new ServiceError('invalid', `"${input}" is not a bare JID of the form user@domain`, field);
    }
    if (!this.config.domains.includes(jid.domain)) {
      throw new ServiceError('invalid', `${jid.domain} is not a domain this server serves (domains: ${this.config.domains.join(', ')})`, field);
    }
    return jid;
  }

  /** A domain this server serves. */
  requireDomain(input: unknown, field = 'domain'): string {
    if (typeof input !== 'string' || !this.config.domains.includes(input)) {
      throw new ServiceError('invalid', `${String(input)} is not a domain this server serves (domains: ${this.config.domains.join(', ')})`, field);
    }
    return input;
  }

  checkPassword(password: unknown, field = 'password'): string {
    if (typeof password !== 'string' || password === '') throw new ServiceError('invalid', 'a non-empty password is required', field);
    if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) throw new ServiceError('invalid', `the password is longer than ${MAX_PASSWORD_BYTES} bytes`, field);
    // RFC 4013: a password SCRAM cannot prepare could never be used to log in.
    if (!trySaslprep(password)) throw new ServiceError('invalid', 'the password contains characters that are not allowed (RFC 4013)', field);
    return password;
  }

  /** The account's JID; not-found when no such account exists. */
  async requireExisting(jidInput: unknown, field = 'jid'): Promise<Jid> {
    const jid = this.parseAccountJid(jidInput, field);
    if (!(await this.stores.accounts.exists(jid.local, jid.domain))) {
      throw new ServiceError('not-found', `${jid.toString()} does not exist`, field);
    }
    return jid;
  }

  async get(jidInput: unknown): Promise<AccountDetails> {
    const jid = this.parseAccountJid(jidInput);
    const record = await this.stores.accounts.get(jid.local, jid.domain);
    if (!record) throw new ServiceError('not-found', `${jid.toString()} does not exist`, 'jid');
    const [rosterItems, offlineMessages] = await Promise.all([
      this.stores.roster.count(jid.local, jid.domain),
      this.stores.offline.count(jid.local, jid.domain),
    ]);
    return {
      jid: jid.toString(),
      createdAt: record.createdAt.toISOString(),
      sessions: this.sessions?.ofAccount(jid.bareString()).length ?? 0,
      rosterItems,
      offlineMessages,
      disabledAt: record.disabledAt?.toISOString() ?? null,
    };
  }

  async add(jidInput: unknown, passwordInput: unknown): Promise<{ jid: string }> {
    const jid = this.parseAccountJid(jidInput);
    const password = this.checkPassword(passwordInput);
    const credentials = await deriveAllCredentials(password, this.config.auth.scramIterations);
    const created = await this.stores.accounts.create({ username: jid.local, domain: jid.domain, credentials });
    if (!created) throw new ServiceError('exists', `${jid.toString()} already exists`, 'jid');
    return { jid: jid.toString() };
  }

  /**
   * `farewell` runs for each of the account's sessions once the account is gone, just before
   * that session is closed (XEP-0077 §3.2: the user who cancelled hears the reply first).
   */
  async remove(jidInput: unknown, farewell?: (session: ClientSession) => void): Promise<{ jid: string; sessionsClosed: number }> {
    const jid = this.parseAccountJid(jidInput);
    const removed = await this.stores.accounts.delete(jid.local, jid.domain);
    if (!removed) throw new ServiceError('not-found', `${jid.toString()} does not exist`, 'jid');
    let sessionsClosed = 0;
    for (const session of this.sessions?.ofAccount(jid.bareString()) ?? []) {
      farewell?.(session);
      session.close(new StreamError('not-authorized', 'the account was deleted'));
      sessionsClosed++;
    }
    await this.hooks?.emit('account-deleted', { jid });
    return { jid: jid.toString(), sessionsClosed };
  }

  async setPassword(jidInput: unknown, passwordInput: unknown): Promise<{ jid: string; tokensRevoked: number }> {
    const jid = this.parseAccountJid(jidInput);
    const password = this.checkPassword(passwordInput);
    const credentials = await deriveAllCredentials(password, this.config.auth.scramIterations);
    const updated = await this.stores.accounts.setCredentials(jid.local, jid.domain, credentials);
    if (!updated) throw new ServiceError('not-found', `${jid.toString()} does not exist`, 'jid');
    // XEP-0484: tokens were issued against the old password; every client signs in anew.
    const tokensRevoked = await this.stores.fastTokens.removeAccount(jid.local, jid.domain);
    return { jid: jid.toString(), tokensRevoked };
  }

  /**
   * Keeps the account and everything it owns, but it cannot log in (SASL account-disabled):
   * its sessions end, hibernated ones included, and its FAST tokens are revoked.
   */
  async disable(jidInput: unknown): Promise<{ jid: string; sessionsClosed: number; tokensRevoked: number }> {
    const jid = this.parseAccountJid(jidInput);
    if (!(await this.stores.accounts.setDisabled(jid.local, jid.domain, true))) {
      throw new ServiceError('not-found', `${jid.toString()} does not exist`, 'jid');
    }
    const tokensRevoked = await this.stores.fastTokens.removeAccount(jid.local, jid.domain);
    let sessionsClosed = 0;
    for (const session of this.sessions?.ofAccount(jid.bareString()) ?? []) {
      session.close(new StreamError('not-authorized', 'the account was disabled'));
      sessionsClosed++;
    }
    return { jid: jid.toString(), sessionsClosed, tokensRevoked };
  }

  async enable(jidInput: unknown): Promise<{ jid: string }> {
    const jid = this.parseAccountJid(jidInput);
    if (!(await this.stores.accounts.setDisabled(jid.local, jid.domain, false))) {
      throw new ServiceError('not-found', `${jid.toString()} does not exist`, 'jid');
    }
    return { jid: jid.toString() };
  }

  async list(options: { domain?: string; search?: string; limit?: number; after?: string }): Promise<{ accounts: AccountRecord[]; next: string | null }> {
    const limit = options.limit ?? 1000;
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new ServiceError('invalid', 'limit must be 1..10000', 'limit');
    if (options.domain !== undefined && !this.config.domains.includes(options.domain)) {
      throw new ServiceError('invalid', `${options.domain} is not a domain this server serves`, 'domain');
    }
    let after: { domain: string; username: string } | undefined;
    if (options.after) {
      const cursor = tryParseJid(options.after);
      if (!cursor || cursor.local === '') throw new ServiceError('invalid', 'after must be the last JID of the previous page', 'after');
      after = { domain: cursor.domain, username: cursor.local };
    }
    const accounts = await this.stores.accounts.list({ domain: options.domain, search: options.search, limit, after });
    const last = accounts[accounts.length - 1];
    return { accounts, next: accounts.length === limit && last ? `${last.username}@${last.domain}` : null };
  }

  /**
   * Bulk creation from "jid password" lines (contract: `hearth user import`). Credentials are
   * derived in parallel on the libuv pool, accounts written in batches.
   */
  async import(lines: readonly string[]): Promise<ImportResult> {
    const result: ImportResult = { created: 0, existed: 0, invalid: 0, problems: [] };
    const valid: Array<{ jid: Jid; password: string }> = [];
    const seen = new Set<string>();
    lines.forEach((line, index) => {
      const trimmed = line.replace(/\r$/, '');
      if (trimmed.trim() === '' || trimmed.trimStart().startsWith('#')) return;
      const match = /^\s*(\S+)\s+(.+?)\s*$/.exec(trimmed);
      try {
        if (!match) throw new ServiceError('invalid', 'expected "jid password"');
        const jid = this.parseAccountJid(match[1]);
        const password = this.checkPassword(match[2]);
        if (seen.has(jid.toString())) {
          result.existed++;
          return;
        }
        seen.add(jid.toString());
        valid.push({ jid, password });
      } catch (err) {
        result.invalid++;
        if (result.problems.length < 100) result.problems.push(`line ${index + 1}: ${(err as Error).message}`);
      }
    });
    const BATCH = 256;
    for (let start = 0; start < valid.length; start += BATCH) {
      const batch = valid.slice(start, start + BATCH);
      const accounts = await Promise.all(
        batch.map(async ({ jid, password }) => ({
          username: jid.local,
          domain: jid.domain,
          credentials: await deriveAllCredentials(password, this.config.auth.scramIterations),
        })),
      );
      const { created, existed } = await this.stores.accounts.createMany(accounts);
      result.created += created;
      result.existed += existed;
    }
    return result;
  }
}
