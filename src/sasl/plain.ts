// SASL PLAIN server (RFC 4616), checked against the stored SCRAM credential.
//
//   message = [authzid] UTF8NUL authcid UTF8NUL passwd
//
// Decisions:
//   * No initial response (step(null)): empty challenge, then the next
//     response must carry the message (RFC 4616 §2, RFC 6120 §6.4.2).
//   * Syntax: valid UTF-8, exactly two NULs, non-empty authcid and passwd,
//     each field at most MAX_PLAIN_FIELD_LENGTH octets -> else
//     malformed-request.
//   * authcid: SASLprep (query semantics) then normalizeUsername; failure of
//     either is treated as an unknown user.  passwd: SASLprep (stored-string
//     semantics, as when the credential was created).  authzid is returned
//     as sent (decoded UTF-8, not prepared): the c2s layer checks it as a JID.
//   * Verification uses the SCRAM-SHA-256 credential, falling back to
//     SCRAM-SHA-1.  Unknown users cost one PBKDF2 with a fake salt and the
//     configured iteration count, then not-authorized like a wrong password.

import { randomBytes } from 'node:crypto';

import { SaslFailure } from '../core/errors.js';
import { SCRAM_HASHES, verifyPlainPassword, type ScramCredential } from './credentials.js';
import { decodeUtf8, fakeSalt, lookupFailure, StepMachine, validateOptions } from './internal.js';
import type { SaslServerMechanism, SaslServerOptions, SaslStepResult } from './mechanism.js';
import { trySaslprep } from './saslprep.js';

/** Bound on each PLAIN field, in octets (RFC 4616 suggests 255; we are generous). */
export const MAX_PLAIN_FIELD_LENGTH = 1024;

export interface PlainMessage {
  authzid: string;
  authcid: string;
  password: string;
}

function malformed(text: string): SaslFailure {
  return new SaslFailure('malformed-request', text);
}

export function parsePlainMessage(data: Buffer): PlainMessage {
  if (data.length > 3 * MAX_PLAIN_FIELD_LENGTH + 2) throw malformed('PLAIN message too long');
  const nul1 = data.indexOf(0);
  const nul2 = nul1 < 0 ? -1 : data.indexOf(0, nul1 + 1);
  if (nul2 < 0 || data.indexOf(0, nul2 + 1) >= 0) throw malformed('PLAIN message must contain exactly two NULs');
  const fields = [data.subarray(0, nul1), data.subarray(nul1 + 1, nul2), data.subarray(nul2 + 1)];
  if (fields.some((f) => f.length > MAX_PLAIN_FIELD_LENGTH)) throw malformed('PLAIN field too long');
  const [authzid, authcid, password] = fields.map(decodeUtf8);
  if (authzid === null || authcid === null || password === null) throw malformed('PLAIN message is not valid UTF-8');
  if (authcid === '' || password === '') throw malformed('empty authcid or password');
  return { authzid, authcid, password };
}

class PlainServer extends StepMachine {
  readonly name = 'PLAIN';
  private readonly options: SaslServerOptions;
  private sentChallenge = false;

  constructor(options: SaslServerOptions) {
    super();
    this.options = options;
  }

  protected async handle(response: Buffer | null): Promise<SaslStepResult> {
    if (response === null) {
      if (this.sentChallenge) throw malformed('PLAIN message expected');
      this.sentChallenge = true;
      return { challenge: Buffer.alloc(0) };
    }
    this.sentChallenge = true;
    const message = parsePlainMessage(response);

    const prepared = trySaslprep(message.authcid, { allowUnassigned: true });
    const username = prepared === null || prepared === '' ? null : prepared;
    const normalized = username === null ? null : this.options.normalizeUsername(username);

    let credential: ScramCredential | null = null;
    if (normalized !== null) {
      try {
        credential =
          (await this.options.lookup(normalized, 'SCRAM-SHA-256')) ??
          (await this.options.lookup(normalized, 'SCRAM-SHA-1'));
      } catch (err) {
        throw lookupFailure(err);
      }
    }

    const checked: ScramCredential = credential ?? {
      mechanism: 'SCRAM-SHA-256',
      salt: fakeSalt(this.options.serverSecret, 'SCRAM-SHA-256', normalized ?? username ?? message.authcid),
      iterations: this.options.iterations,
      storedKey: randomBytes(SCRAM_HASHES['SCRAM-SHA-256'].length),
      serverKey: randomBytes(SCRAM_HASHES['SCRAM-SHA-256'].length),
    };
    let ok: boolean;
    try {
      ok = await verifyPlainPassword(checked, message.password);
    } catch (err) {
      // Only a broken stored credential (e.g. bad iteration count) gets here.
      throw lookupFailure(err);
    }
    if (!ok || credential === null || username === null) throw new SaslFailure('not-authorized');
    return {
      success: {
        username,
        ...(message.authzid !== '' ? { authzid: message.authzid } : {}),
      },
    };
  }
}

export function createPlainServer(options: SaslServerOptions): SaslServerMechanism {
  validateOptions(options);
  return new PlainServer(options);
}
