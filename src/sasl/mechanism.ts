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

import type { ScramCredential, ScramMechanismName } from './credentials.js';
import { createPlainServer } from './plain.js';
import { createScramServer } from './scram.js';

export interface SaslSuccess {
  /** authcid, SASLprep'd, NOT yet JID-normalised */
  username: string;
  /** authzid as sent by the client (escapes decoded, not prepared); the c2s layer must check it */
  authzid?: string;
  /** SCRAM server-final message, to be sent in <success/> */
  additionalData?: Buffer;
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
  /**
   * Tests only: returns the server part of the SCRAM nonce (printable ASCII
   * except ","). Default: 24 random bytes, base64.
   */
  nonceFactory?: () => string;
}

export const SUPPORTED_MECHANISMS = ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'] as const;
export type SupportedMechanismName = (typeof SUPPORTED_MECHANISMS)[number];

/** Mechanism by name (case-sensitive, RFC 4422 §3.1); null if not supported. */
export function createSaslServer(name: string, options: SaslServerOptions): SaslServerMechanism | null {
  switch (name) {
    case 'SCRAM-SHA-1':
    case 'SCRAM-SHA-256':
      return createScramServer(name, options);
    case 'PLAIN':
      return createPlainServer(options);
    default:
      return null;
  }
}

export { createPlainServer, createScramServer };
