// SCRAM credentials (RFC 5802 §3, RFC 7677): what the server stores instead
// of a password, and the PBKDF2 work needed to create or check them.
//
//   SaltedPassword := Hi(Normalize(password), salt, i)      (Hi = PBKDF2, dkLen = hLen)
//   ClientKey      := HMAC(SaltedPassword, "Client Key")
//   StoredKey      := H(ClientKey)
//   ServerKey      := HMAC(SaltedPassword, "Server Key")
//
// PBKDF2 runs through node:crypto's asynchronous pbkdf2(), i.e. on the libuv
// thread pool, so a login never blocks the event loop for the whole
// derivation.

import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

import { prepareNonEmpty, SaslprepError } from './saslprep.js';

export type ScramMechanismName = 'SCRAM-SHA-1' | 'SCRAM-SHA-256';

export interface ScramCredential {
  mechanism: ScramMechanismName;
  salt: Buffer;
  iterations: number;
  storedKey: Buffer;
  serverKey: Buffer;
}

export interface ScramHashInfo {
  /** node:crypto digest name */
  readonly digest: 'sha1' | 'sha256';
  /** output length in octets (also the PBKDF2 dkLen) */
  readonly length: number;
}

export const SCRAM_HASHES: Readonly<Record<ScramMechanismName, ScramHashInfo>> = {
  'SCRAM-SHA-1': { digest: 'sha1', length: 20 },
  'SCRAM-SHA-256': { digest: 'sha256', length: 32 },
};

export const SCRAM_MECHANISMS: readonly ScramMechanismName[] = ['SCRAM-SHA-256', 'SCRAM-SHA-1'];

/** Length of salts we generate (and of the fake salts for unknown users). */
export const SALT_LENGTH = 16;

/** Largest iteration count node:crypto accepts. */
export const MAX_ITERATIONS = 0x7fffffff;

const pbkdf2Async = promisify(pbkdf2);

export function isScramMechanismName(name: string): name is ScramMechanismName {
  return name === 'SCRAM-SHA-1' || name === 'SCRAM-SHA-256';
}

export function assertValidIterations(iterations: number): void {
  if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) {
    throw new RangeError(`invalid SCRAM iteration count: ${iterations}`);
  }
}

/**
 * Prepare a password with SASLprep ("stored string" semantics, RFC 5802 §2.2).
 * Throws SaslprepError if preparation fails or the result is empty.
 */
export function preparePassword(password: string): string {
  return prepareNonEmpty(password, { allowUnassigned: false });
}

/** Hi() of RFC 5802 on an already prepared password. */
export async function hi(
  mechanism: ScramMechanismName,
  preparedPassword: string,
  salt: Buffer,
  iterations: number,
): Promise<Buffer> {
  assertValidIterations(iterations);
  const { digest, length } = SCRAM_HASHES[mechanism];
  return pbkdf2Async(Buffer.from(preparedPassword, 'utf8'), salt, iterations, length, digest);
}

/** SaltedPassword := Hi(Normalize(password), salt, i).  Throws SaslprepError on a bad password. */
export async function saltedPassword(
  mechanism: ScramMechanismName,
  password: string,
  salt: Buffer,
  iterations: number,
): Promise<Buffer> {
  return hi(mechanism, preparePassword(password), salt, iterations);
}

export function scramHmac(mechanism: ScramMechanismName, key: Buffer, data: Buffer | string): Buffer {
  return createHmac(SCRAM_HASHES[mechanism].digest, key).update(data).digest();
}

export function scramHash(mechanism: ScramMechanismName, data: Buffer): Buffer {
  return createHash(SCRAM_HASHES[mechanism].digest).update(data).digest();
}

/** ClientKey, StoredKey and ServerKey from a SaltedPassword. */
export function keysFromSaltedPassword(
  mechanism: ScramMechanismName,
  salted: Buffer,
): { clientKey: Buffer; storedKey: Buffer; serverKey: Buffer } {
  const clientKey = scramHmac(mechanism, salted, 'Client Key');
  return {
    clientKey,
    storedKey: scramHash(mechanism, clientKey),
    serverKey: scramHmac(mechanism, salted, 'Server Key'),
  };
}

/**
 * Derive the stored credential for `password`.  `salt` defaults to
 * SALT_LENGTH random bytes.  Throws SaslprepError if the password cannot be
 * prepared (prohibited/unassigned characters, bidi failure, empty result) and
 * RangeError for a bad iteration count.
 */
export async function deriveScramCredential(
  mechanism: ScramMechanismName,
  password: string,
  iterations: number,
  salt: Buffer = randomBytes(SALT_LENGTH),
): Promise<ScramCredential> {
  if (!isScramMechanismName(mechanism)) throw new TypeError(`unknown SCRAM mechanism: ${String(mechanism)}`);
  if (salt.length === 0) throw new RangeError('SCRAM salt must not be empty');
  const salted = await saltedPassword(mechanism, password, salt, iterations);
  const { storedKey, serverKey } = keysFromSaltedPassword(mechanism, salted);
  return { mechanism, salt: Buffer.from(salt), iterations, storedKey, serverKey };
}

/** Credentials for every supported SCRAM mechanism, each with its own random salt. */
export async function deriveAllCredentials(password: string, iterations: number): Promise<ScramCredential[]> {
  // Prepare once up front so a bad password fails before any PBKDF2 work.
  preparePassword(password);
  return Promise.all(SCRAM_MECHANISMS.map((m) => deriveScramCredential(m, password, iterations)));
}

/**
 * Check a clear-text password (SASL PLAIN) against a SCRAM credential:
 * StoredKey' = H(HMAC(Hi(Normalize(password), salt, i), "Client Key")),
 * compared with timingSafeEqual.  A password that fails SASLprep is reported
 * as not matching, after doing the same PBKDF2 work on the unprepared string.
 */
export async function verifyPlainPassword(credential: ScramCredential, password: string): Promise<boolean> {
  let prepared: string;
  let preparable = true;
  try {
    prepared = preparePassword(password);
  } catch (err) {
    if (!(err instanceof SaslprepError)) throw err;
    prepared = password;
    preparable = false;
  }
  const salted = await hi(credential.mechanism, prepared, credential.salt, credential.iterations);
  const { storedKey } = keysFromSaltedPassword(credential.mechanism, salted);
  const sameLength = storedKey.length === credential.storedKey.length;
  const equal = timingSafeEqual(storedKey, sameLength ? credential.storedKey : storedKey) && sameLength;
  return equal && preparable;
}
