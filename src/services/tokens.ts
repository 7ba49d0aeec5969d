// Admin API bearer tokens: created with a name and a scope, shown once, stored only as a
// SHA-256 digest, looked up by that digest on every request, listable and revocable.
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { TokenScope, TokenStore } from '../storage/index.js';
import { ServiceError } from './errors.js';
import { parseInput } from './validation.js';

/** Every token starts with this, so a leaked one is recognisable (secret scanners, logs). */
const TOKEN_PREFIX = 'hearth_';
/** 32 random bytes, base64url: 43 characters. */
const TOKEN_PATTERN = /^hearth_[A-Za-z0-9_-]{43}$/;
/** `last used` is written at most this often per token: a scrape every few seconds costs no write each. */
const TOUCH_INTERVAL_MS = 60_000;

export const tokenName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, ".", "_" and "-" (at most 64, starting with a letter or digit)');
export const tokenScope = z.enum(['admin', 'metrics']);

export const createTokenInput = z.strictObject({ name: tokenName, scope: tokenScope.default('admin') });
export const revokeTokenInput = z.strictObject({ name: tokenName });

export interface TokenInfo {
  name: string;
  scope: TokenScope;
  createdAt: string;
  lastUsedAt: string | null;
}

export interface AuthenticatedToken {
  name: string;
  scope: TokenScope;
}

export class TokenService {
  /** When this process last wrote each token's `last used` time. */
  private readonly touched = new Map<string, number>();

  constructor(private readonly store: TokenStore) {}

  /** Creates a token; the returned `token` is the only time anyone sees it. */
  async create(input: unknown): Promise<{ name: string; scope: TokenScope; token: string }> {
    const { name, scope } = parseInput(createTokenInput, input);
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    if (!(await this.store.create(name, scope, tokenDigest(token)))) {
      throw new ServiceError('exists', `a token named ${name} exists already (revoke it first)`, 'name');
    }
    return { name, scope, token };
  }

  async list(): Promise<{ tokens: TokenInfo[] }> {
    const records = await this.store.list();
    return {
      tokens: records.map((r) => ({
        name: r.name,
        scope: r.scope,
        createdAt: r.createdAt.toISOString(),
        lastUsedAt: r.lastUsedAt ? r.lastUsedAt.toISOString() : null,
      })),
    };
  }

  async revoke(input: unknown): Promise<{ name: string }> {
    const { name } = parseInput(revokeTokenInput, input);
    if (!(await this.store.revoke(name))) throw new ServiceError('not-found', `there is no token named ${name}`, 'name');
    this.touched.delete(name);
    return { name };
  }

  /**
   * The token a request presented, or null. Looked up by digest: the database compares
   * digests, never the secret, so timing says nothing about a valid token.
   */
  async authenticate(presented: string): Promise<AuthenticatedToken | null> {
    if (!TOKEN_PATTERN.test(presented)) return null;
    const found = await this.store.findByDigest(tokenDigest(presented));
    if (!found) return null;
    const now = Date.now();
    if (now - (this.touched.get(found.name) ?? 0) >= TOUCH_INTERVAL_MS) {
      this.touched.set(found.name, now);
      await this.store.touch(found.name, new Date(now));
    }
    return found;
  }
}

/** What is stored of a bearer secret (an admin token, an invitation): its SHA-256, enough for 128 random bits and more. */
export function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
