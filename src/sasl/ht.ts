// The Hashed Token mechanisms HT-SHA-256-{EXPR,ENDP,NONE} (draft-schmaus-kitten-sasl-ht-08),
// the FAST mechanisms of XEP-0484. One message each way:
//
//   client: authcid NUL HMAC-SHA-256(token, "Initiator" || cb-data)
//   server: HMAC-SHA-256(token, "Responder" || cb-data)            (additional data)
//
// cb-data is the tls-exporter (EXPR) or tls-server-end-point (ENDP) binding, or empty (NONE).
// The token is the key, so the server needs the token itself, not a hash of it (the FAST
// service keeps it sealed). A token is bound to the mechanism it was issued for (XEP-0484
// §4.4): candidates of another mechanism never match.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

import { SaslFailure } from '../core/errors.js';
import type { ChannelBindingType } from './channel-binding.js';
import { decodeUtf8, lookupFailure, StepMachine } from './internal.js';
import type { SaslServerMechanism, SaslServerOptions, SaslStepResult } from './mechanism.js';
import { trySaslprep } from './saslprep.js';

export const FAST_MECHANISMS = ['HT-SHA-256-EXPR', 'HT-SHA-256-ENDP', 'HT-SHA-256-NONE'] as const;
export type FastMechanismName = (typeof FAST_MECHANISMS)[number];

export function isFastMechanismName(name: string): name is FastMechanismName {
  return (FAST_MECHANISMS as readonly string[]).includes(name);
}

/** The channel binding a FAST mechanism needs (null: none). */
export function fastChannelBinding(mechanism: FastMechanismName): ChannelBindingType | null {
  if (mechanism === 'HT-SHA-256-EXPR') return 'tls-exporter';
  if (mechanism === 'HT-SHA-256-ENDP') return 'tls-server-end-point';
  return null;
}

/** A stored token that may be the one presented. */
export interface FastTokenCandidate {
  readonly token: string;
  readonly mechanism: string;
  readonly expiresAt: Date;
}

/** The tokens of `username` for the client at hand (XEP-0484 §5.1: at most two). */
export type FastTokenLookup = (username: string) => Promise<readonly FastTokenCandidate[]>;

const MAX_MESSAGE_LENGTH = 2048;
const HASH_LENGTH = 32;

export function htHash(token: string, label: 'Initiator' | 'Responder', cbData: Buffer): Buffer {
  return createHmac('sha256', Buffer.from(token, 'utf8')).update(label).update(cbData).digest();
}

/**
 * Without channel binding (NONE) a hash depends on the token alone: it is worked out once per
 * candidate, which the FAST service hands out again while the token is unchanged.
 */
const unboundHashes = new WeakMap<FastTokenCandidate, Partial<Record<'Initiator' | 'Responder', Buffer>>>();

function candidateHash(candidate: FastTokenCandidate, label: 'Initiator' | 'Responder', cbData: Buffer): Buffer {
  if (cbData.length > 0) return htHash(candidate.token, label, cbData);
  let hashes = unboundHashes.get(candidate);
  if (!hashes) unboundHashes.set(candidate, (hashes = {}));
  return (hashes[label] ??= htHash(candidate.token, label, cbData));
}

class HtServer extends StepMachine {
  constructor(
    readonly name: FastMechanismName,
    private readonly options: SaslServerOptions,
    private readonly tokens: FastTokenLookup,
  ) {
    super();
  }

  protected async handle(response: Buffer | null): Promise<SaslStepResult> {
    // Initiator-first, one round: the whole message is the initial response.
    if (response === null || response.length === 0) throw new SaslFailure('malformed-request', 'the HT mechanisms need an initial response');
    if (response.length > MAX_MESSAGE_LENGTH) throw new SaslFailure('malformed-request', 'HT message too long');
    const nul = response.indexOf(0);
    if (nul <= 0 || response.length - nul - 1 !== HASH_LENGTH) throw new SaslFailure('malformed-request', 'expected authcid NUL hashed-token');
    const authcid = decodeUtf8(response.subarray(0, nul));
    const presented = response.subarray(nul + 1);
    const cbType = fastChannelBinding(this.name);
    let cbData: Buffer = Buffer.alloc(0);
    if (cbType) {
      const data = this.options.channelBinding?.data(cbType) ?? null;
      if (!data) throw new SaslFailure('not-authorized', `${cbType} channel binding is not available on this connection`);
      cbData = data;
    }
    const prepared = authcid === null ? null : trySaslprep(authcid, { allowUnassigned: true });
    const username = prepared ? this.options.normalizeUsername(prepared) : null;
    let candidates: readonly FastTokenCandidate[] = [];
    if (username !== null) {
      try {
        candidates = await this.tokens(username);
      } catch (err) {
        throw lookupFailure(err);
      }
    }
    const now = Date.now();
    let matched: FastTokenCandidate | null = null;
    // Every candidate is compared, in constant time, whatever matched before it.
    for (const candidate of candidates.length > 0 ? candidates : [{ token: randomBytes(16).toString('hex'), mechanism: '', expiresAt: new Date(0) }]) {
      const expected = candidateHash(candidate, 'Initiator', cbData);
      const equal = timingSafeEqual(expected, presented);
      if (equal && candidate.mechanism === this.name && candidate.expiresAt.getTime() > now && matched === null) matched = candidate;
    }
    if (!matched || username === null) {
      // XEP-0484 §6.2: a token the server no longer trusts is credentials-expired, and the
      // client falls back to its password.
      throw new SaslFailure(candidates.length > 0 ? 'credentials-expired' : 'not-authorized');
    }
    return {
      success: {
        username,
        additionalData: candidateHash(matched, 'Responder', cbData),
        fastToken: matched,
      },
    };
  }
}

export function createHtServer(mechanism: FastMechanismName, options: SaslServerOptions): SaslServerMechanism | null {
  if (!options.fastTokens) return null;
  return new HtServer(mechanism, options, options.fastTokens);
}
