// XEP-0484 FAST tokens: issued to a client (the SASL2 user-agent id) after a full sign-in,
// checked by the HT mechanisms, rotated, and revoked with the password or the account.
//
// The HT mechanisms key an HMAC with the token, so the server must recover it: each token is
// sealed with AES-256-GCM under a key derived from the server secret in the data directory
// (never stored in the database), bound by its associated data to the account, the client
// and the mechanism, so a database dump alone yields no usable token and a sealed token
// copied to another row does not open. A cluster's nodes must share that secret file.
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { LruMap } from '../core/lru-map.js';
import type { FastTokenCandidate, FastTokenLookup } from '../sasl/ht.js';
import type { FastTokenSlot, FastTokenStore, StoredFastToken } from '../storage/fast-tokens.js';

const IV_LENGTH = 12;
const TAG_LENGTH = 16;
const TOKEN_BYTES = 32;
const CLEANUP_INTERVAL_MS = 3_600_000;
/** Signed-in user-agent ids whose client id is remembered (a device reconnects with the same one). */
const MAX_REMEMBERED_CLIENT_IDS = 50_000;

/** A candidate as this service hands it to the mechanism: it knows its slot. */
interface SlottedCandidate extends FastTokenCandidate {
  readonly slot: FastTokenSlot;
  /** For the current token: the successor already issued, not yet used. */
  successor?: SlottedCandidate;
}

export interface IssuedToken {
  token: string;
  expiry: Date;
}

export class FastTokens {
  private readonly sealKey: Buffer;
  private readonly clientKey: Buffer;
  private readonly ttlMs: number;
  private cleanup: NodeJS.Timeout | null = null;
  private readonly clientIds = new LruMap<string, Buffer>(MAX_REMEMBERED_CLIENT_IDS);
  /**
   * The tokens opened from one list the store returned, while the store (its cache) keeps
   * handing out that same list: a reconnect then costs no decryption. Keyed by the list
   * itself, so a changed list (rotation, revocation, a reload) is opened afresh; `owner`
   * guards against a list ever reaching another account's or client's lookup.
   */
  private readonly opened = new WeakMap<readonly StoredFastToken[], { owner: string; candidates: SlottedCandidate[] }>();

  constructor(
    private readonly store: FastTokenStore,
    secret: Buffer,
    ttlDays: number,
    private readonly log: Logger,
  ) {
    this.sealKey = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'hearth FAST token seal', 32));
    this.clientKey = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'hearth FAST client id', 32));
    this.ttlMs = ttlDays * 86_400_000;
  }

  start(): void {
    this.cleanup = setInterval(() => {
      this.store.removeExpired(new Date()).catch((err: unknown) => this.log.warn({ err }, 'removing expired FAST tokens failed'));
    }, CLEANUP_INTERVAL_MS);
    this.cleanup.unref();
  }

  stop(): void {
    if (this.cleanup) clearInterval(this.cleanup);
    this.cleanup = null;
  }

  /** How the database knows a client: a keyed hash of its user-agent id, not the id. */
  clientId(userAgentId: string): Buffer {
    return this.clientIds.get(userAgentId) ?? createHmac('sha256', this.clientKey).update(userAgentId, 'utf8').digest().subarray(0, 16);
  }

  /**
   * The client signed in: its id is remembered for its next reconnect. Only then, so that
   * unauthenticated streams cannot fill the memory with user-agent ids of their choosing.
   */
  rememberClient(userAgentId: string, clientId: Buffer): void {
    this.clientIds.set(userAgentId, clientId);
  }

  /** The HT mechanisms' view of one client's tokens, on one domain. */
  lookup(domain: string, clientId: Buffer): FastTokenLookup {
    return async (username) => {
      const stored = await this.store.find(username, domain, clientId);
      const owner = `${domain}\u0000${username}\u0000${clientId.toString('hex')}`;
      const known = this.opened.get(stored);
      if (known?.owner === owner) return known.candidates;
      const candidates: SlottedCandidate[] = [];
      for (const row of stored) {
        const token = this.open(row.sealedToken, associatedData(username, domain, clientId, row.mechanism));
        if (token === null) {
          // Sealed with another key: this node's secret file differs from the issuer's.
          this.log.warn({ account: `${username}@${domain}` }, 'a FAST token does not open with this server secret');
          continue;
        }
        candidates.push({ token, mechanism: row.mechanism, expiresAt: row.expiresAt, slot: row.slot });
      }
      const current = candidates.find((c) => c.slot === 'current');
      const successor = candidates.find((c) => c.slot === 'new');
      if (current && successor) current.successor = successor;
      this.opened.set(stored, { owner, candidates });
      return candidates;
    };
  }

  /** A new token for the client, in the 'new' slot (XEP-0484 §5.1); null when the account is gone. */
  async issue(username: string, domain: string, clientId: Buffer, mechanism: string): Promise<IssuedToken | null> {
    const token = randomBytes(TOKEN_BYTES).toString('base64url');
    const expiry = new Date(Date.now() + this.ttlMs);
    const sealedToken = this.seal(token, associatedData(username, domain, clientId, mechanism));
    const stored = await this.store.put(username, domain, clientId, { slot: 'new', mechanism, sealedToken, expiresAt: expiry });
    return stored ? { token, expiry } : null;
  }

  /**
   * A token authenticated the client. §4.5: a used 'new' token replaces the current one;
   * §4.6: `invalidate` removes it; a current token in the second half of its life gets a
   * successor (unless the client is invalidating, or asked for a token itself).
   */
  async used(username: string, domain: string, clientId: Buffer, candidate: FastTokenCandidate, options: { invalidate: boolean; requested: boolean }): Promise<IssuedToken | null> {
    const { slot, successor } = candidate as SlottedCandidate;
    if (options.invalidate) {
      await this.store.remove(username, domain, clientId, slot);
      return null;
    }
    if (slot === 'new') await this.store.promote(username, domain, clientId);
    const remaining = candidate.expiresAt.getTime() - Date.now();
    if (options.requested || remaining > this.ttlMs / 2) return null;
    // A successor was issued but the client signed in with the old token again (it missed the
    // successor, or two connections raced): hand out the same successor, so whichever the
    // client keeps still works.
    if (successor && successor.mechanism === candidate.mechanism && successor.expiresAt.getTime() > Date.now()) {
      return { token: successor.token, expiry: successor.expiresAt };
    }
    return this.issue(username, domain, clientId, candidate.mechanism);
  }

  /** Every token of the account (password changed, account disabled). */
  revokeAccount(username: string, domain: string): Promise<number> {
    return this.store.removeAccount(username, domain);
  }

  private seal(token: string, aad: Buffer): Buffer {
    const iv = randomBytes(IV_LENGTH);
    const cipher = createCipheriv('aes-256-gcm', this.sealKey, iv);
    cipher.setAAD(aad);
    const body = Buffer.concat([cipher.update(token, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]);
  }

  private open(sealed: Buffer, aad: Buffer): string | null {
    if (sealed.length <= IV_LENGTH + TAG_LENGTH) return null;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.sealKey, sealed.subarray(0, IV_LENGTH));
      decipher.setAAD(aad);
      decipher.setAuthTag(sealed.subarray(IV_LENGTH, IV_LENGTH + TAG_LENGTH));
      return Buffer.concat([decipher.update(sealed.subarray(IV_LENGTH + TAG_LENGTH)), decipher.final()]).toString('utf8');
    } catch {
      return null;
    }
  }
}

function associatedData(username: string, domain: string, clientId: Buffer, mechanism: string): Buffer {
  return Buffer.from(`${domain}\u0000${username}\u0000${clientId.toString('hex')}\u0000${mechanism}`, 'utf8');
}
