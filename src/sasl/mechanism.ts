// Server-side SASL mechanism interface (RFC 4422 as profiled by RFC 6120 §6).
//
// A mechanism instance handles exactly one authentication exchange:
//
//   step(initialResponse)   initialResponse is null when <auth/> carried no
//                           data, an empty Buffer when it carried "=" (a
//                           zero-length initial response, RFC 6120 §6.4.2).
//   step(response) ...      one call per <response/>.
//
// Each call resolves to either { challenge } (send <challenge/>; an empty
// Buffer is a zero-length challenge) or { success } (send <success/>, with
// success.additionalData if present), or rejects with a SaslFailure (send
// <failure/>).  Other rejections are internal errors.
//
// After success or failure the exchange is over: any further step() rejects
// with SaslFailure('malformed-request').  step() must not be called again
// before the previous call has settled (that also yields malformed-request).

import type { ChannelBinding } from './channel-binding.js';
import type { ScramCredential, ScramMechanismName } from './credentials.js';
import { createHtServer, isFastMechanismName, type FastTokenCandidate, type FastTokenLookup } from './ht.js';
import { createPlainServer } from './plain.js';
import { createScramServer } from './scram.js';

export interface SaslSuccess {
  /** authcid, SASLprep'd, NOT yet JID-normalised */
  username: string;
  /** authzid as sent by the client (escapes decoded, not prepared); the c2s layer must check it */
  authzid?: string;
  /** SCRAM server-final message, to be sent in <success/> */
  additionalData?: Buffer;
  /** The FAST token that authenticated (HT mechanisms): the caller rotates it (XEP-0484 §4.5). */
  fastToken?: FastTokenCandidate;
}

export interface SaslStepResult {
  challenge?: Buffer;
  success?: SaslSuccess;
}

export interface SaslServerMechanism {
  readonly name: string;
  /** Throws (rejects with) SaslFailure. */
  step(response: Buffer | null): Promise<SaslStepResult>;
}

/** username is already normalised by the caller's normalizeUsername */
export interface CredentialLookup {
  (username: string, mechanism: ScramMechanismName): Promise<ScramCredential | null>;
}

export interface SaslServerOptions {
  lookup: CredentialLookup;
  /** JID localpart preparation; null => treat as unknown user (same answer as a wrong password) */
  normalizeUsername: (raw: string) => string | null;
  /** key for the deterministic fake salts of unknown users */
  serverSecret: Buffer;
  /** iteration count announced for unknown users (the configured default) */
  iterations: number;
  /** The connection's channel bindings (TLS), for -PLUS mechanisms; null without TLS. */
  channelBinding?: ChannelBinding | null;
  /**
   * What the stream advertised (XEP-0474 downgrade protection): its mechanism list, and the
   * XEP-0440 channel-binding types (null when none were announced).
   */
  advertised?: { mechanisms: readonly string[]; channelBindings: readonly string[] | null };
  /** XEP-0484 FAST: the tokens of the client at hand; without it the HT mechanisms are unavailable. */
  fastTokens?: FastTokenLookup;
  /**
   * Tests only: returns the server part of the SCRAM nonce (printable ASCII
   * except ","). Default: 24 random bytes, base64.
   */
  nonceFactory?: () => string;
}

/** Strongest first; the -PLUS ones only where the connection has channel bindings. */
export const SUPPORTED_MECHANISMS = ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-1-PLUS', 'SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'] as const;
export type SupportedMechanismName = (typeof SUPPORTED_MECHANISMS)[number];

/** Mechanism by name (case-sensitive, RFC 4422 §3.1); null if not supported. */
export function createSaslServer(name: string, options: SaslServerOptions): SaslServerMechanism | null {
  switch (name) {
    case 'SCRAM-SHA-1':
    case 'SCRAM-SHA-256':
    case 'SCRAM-SHA-1-PLUS':
    case 'SCRAM-SHA-256-PLUS':
      return createScramServer(name, options);
    case 'PLAIN':
      return createPlainServer(options);
    default:
      return isFastMechanismName(name) ? createHtServer(name, options) : null;
  }
}

export { createPlainServer, createScramServer };
