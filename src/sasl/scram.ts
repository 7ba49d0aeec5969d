// SCRAM-SHA-1 / SCRAM-SHA-256 server (RFC 5802, RFC 7677), and their -PLUS variants with
// channel binding (tls-exporter, RFC 9266; tls-server-end-point, RFC 5929).
//
// Decisions (see also mechanism.ts):
//   * No initial response (step(null)): we answer with an empty challenge and
//     wait for client-first (RFC 4422 §5 / RFC 6120 §6.4.2: the client may
//     omit the initial response of a client-first mechanism).  A zero-length
//     initial response ("=") or an empty <response/> is not a valid
//     client-first-message: malformed-request.
//   * gs2-cbind-flag (RFC 5802 §6): a -PLUS mechanism takes only "p=<type>" of a type this
//     connection can bind to.  A plain mechanism takes "n", and "y" only where this
//     connection offers no channel binding: "y" means the client supports it but believes
//     the server does not, which here is a downgrade (not-authorized).  "p=" on a plain
//     mechanism is malformed-request.
//   * XEP-0474 (SSDP): the server-first-message carries h=, the hash of the mechanisms and
//     channel-binding types advertised on this stream, which the client proof then covers.
//   * Syntax errors -> malformed-request; invalid base64 in c= or p= ->
//     incorrect-encoding; wrong channel binding, nonce or proof, unknown user
//     -> not-authorized, only after the complete final message, with the
//     same HMAC work in every case.
//   * "m=" (mandatory extension) anywhere in a client message ->
//     malformed-request (RFC 5802 §5.1: its presence MUST cause failure).
//     Other unknown extensions are ignored (RFC 5802 §7).
//   * A username that fails SASLprep (query semantics) or normalizeUsername
//     is treated exactly like an unknown user.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

import { SaslFailure } from '../core/errors.js';
import { decodeBase64Strict } from './base64.js';
import {
  isScramMechanismName,
  SCRAM_HASHES,
  scramHash,
  scramHmac,
  type ScramCredential,
  type ScramMechanismName,
} from './credentials.js';
import { decodeUtf8, fakeSalt, lookupFailure, StepMachine, validateOptions } from './internal.js';
import type { SaslServerMechanism, SaslServerOptions, SaslStepResult } from './mechanism.js';
import { trySaslprep } from './saslprep.js';

/** Upper bound for a client SCRAM message (octets). */
export const MAX_SCRAM_MESSAGE_LENGTH = 4096;

const SERVER_NONCE_BYTES = 24;
/** printable = %x21-2B / %x2D-7E (RFC 5802 §7) */
const PRINTABLE = /^[\x21-\x2B\x2D-\x7E]+$/;
/** cb-name = 1*(ALPHA / DIGIT / "." / "-") */
const CB_NAME = /^[A-Za-z0-9.-]+$/;
/** attr-val = ALPHA "=" value; value = 1*value-char (commas already split off, NUL rejected earlier) */
const EXTENSION = /^[A-Za-z]=.+$/s;

interface Gs2Header {
  /** the gs2-header exactly as received, including the trailing comma */
  raw: string;
  cbindFlag: 'n' | 'y' | 'p';
  /** the channel-binding type after "p=" */
  cbName?: string;
  authzid?: string;
}

export type ScramServerMechanismName = ScramMechanismName | 'SCRAM-SHA-1-PLUS' | 'SCRAM-SHA-256-PLUS';

export function isScramServerMechanismName(name: string): name is ScramServerMechanismName {
  return isScramMechanismName(name) || name === 'SCRAM-SHA-1-PLUS' || name === 'SCRAM-SHA-256-PLUS';
}

/**
 * XEP-0474 §5.1: the hash, with the mechanism's own hash function, of the advertised
 * mechanisms sorted and joined by U+001E, then (when channel bindings were advertised with
 * XEP-0440) U+001F and the sorted channel-binding types joined by U+001E; base64.
 */
export function downgradeProtectionHash(
  mechanism: ScramMechanismName,
  mechanisms: readonly string[],
  channelBindings: readonly string[] | null,
): string {
  const octetOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
  let text = [...mechanisms].sort(octetOrder).join('\u001e');
  if (channelBindings) text += '\u001f' + [...channelBindings].sort(octetOrder).join('\u001e');
  return createHash(SCRAM_HASHES[mechanism].digest).update(text, 'utf8').digest('base64');
}

interface ClientFirst {
  gs2: Gs2Header;
  bare: string;
  username: string;
  clientNonce: string;
}

interface ClientFinal {
  withoutProof: string;
  channelBinding: Buffer;
  nonce: string;
  proof: Buffer;
}

interface Exchange {
  gs2: Gs2Header;
  clientFirstBare: string;
  serverFirst: string;
  nonce: string;
  /** SASLprep'd authcid, or null if it could not be prepared */
  username: string | null;
  /** the user's credential, or null for an unknown user */
  credential: ScramCredential | null;
  /** keys used for the final computation (fake ones for an unknown user) */
  storedKey: Buffer;
  serverKey: Buffer;
}

function malformed(text: string): SaslFailure {
  return new SaslFailure('malformed-request', text);
}

/** Decode a SCRAM message (UTF-8, no NUL, bounded). */
function decodeMessage(data: Buffer): string {
  if (data.length === 0) throw malformed('empty SCRAM message');
  if (data.length > MAX_SCRAM_MESSAGE_LENGTH) throw malformed('SCRAM message too long');
  if (data.includes(0)) throw malformed('NUL in SCRAM message');
  const text = decodeUtf8(data);
  if (text === null) throw malformed('SCRAM message is not valid UTF-8');
  return text;
}

/** saslname: "=2C" -> ",", "=3D" -> "=", any other "=" is an error (RFC 5802 §5.1). */
function decodeSaslname(value: string): string {
  if (value.length === 0) throw malformed('empty saslname');
  if (/=(?!2C|3D)/.test(value)) throw malformed('bad "=" escape in saslname');
  return value.replace(/=(2C|3D)/g, (m) => (m === '=2C' ? ',' : '='));
}

function parseGs2Header(message: string): Gs2Header {
  const first = message.indexOf(',');
  const second = first < 0 ? -1 : message.indexOf(',', first + 1);
  if (second < 0) throw malformed('bad GS2 header');
  const flag = message.slice(0, first);
  const authzPart = message.slice(first + 1, second);
  let cbindFlag: 'n' | 'y' | 'p';
  let cbName: string | undefined;
  if (flag === 'n' || flag === 'y') {
    cbindFlag = flag;
  } else if (flag.startsWith('p=') && CB_NAME.test(flag.slice(2))) {
    cbindFlag = 'p';
    cbName = flag.slice(2);
  } else {
    throw malformed('bad gs2-cbind-flag');
  }
  let authzid: string | undefined;
  if (authzPart !== '') {
    if (!authzPart.startsWith('a=')) throw malformed('bad authzid in GS2 header');
    authzid = decodeSaslname(authzPart.slice(2));
  }
  return { raw: message.slice(0, second + 1), cbindFlag, ...(cbName !== undefined ? { cbName } : {}), authzid };
}

function checkExtensions(attrs: string[]): void {
  for (const attr of attrs) {
    if (attr.startsWith('m=')) throw malformed('unsupported mandatory extension');
    if (!EXTENSION.test(attr)) throw malformed('bad SCRAM attribute');
  }
}

export function parseClientFirst(message: string): ClientFirst {
  const gs2 = parseGs2Header(message);
  const bare = message.slice(gs2.raw.length);
  const attrs = bare.split(',');
  if (attrs[0].startsWith('m=')) throw malformed('unsupported mandatory extension');
  if (attrs.length < 2 || !attrs[0].startsWith('n=') || !attrs[1].startsWith('r=')) {
    throw malformed('client-first-message must start with n= and r=');
  }
  const username = decodeSaslname(attrs[0].slice(2));
  const clientNonce = attrs[1].slice(2);
  if (!PRINTABLE.test(clientNonce)) throw malformed('bad client nonce');
  checkExtensions(attrs.slice(2));
  return { gs2, bare, username, clientNonce };
}

export function parseClientFinal(message: string): ClientFinal {
  const lastComma = message.lastIndexOf(',');
  if (lastComma < 0) throw malformed('bad client-final-message');
  const withoutProof = message.slice(0, lastComma);
  const proofAttr = message.slice(lastComma + 1);
  const attrs = withoutProof.split(',');
  if (attrs.length < 2 || !attrs[0].startsWith('c=') || !attrs[1].startsWith('r=') || !proofAttr.startsWith('p=')) {
    throw malformed('client-final-message must be c=..., r=..., [extensions,] p=...');
  }
  checkExtensions(attrs.slice(2));
  const nonce = attrs[1].slice(2);
  if (!PRINTABLE.test(nonce)) throw malformed('bad nonce');
  const cbValue = attrs[0].slice(2);
  const proofValue = proofAttr.slice(2);
  if (cbValue === '' || proofValue === '') throw malformed('empty c= or p=');
  const channelBinding = decodeBase64Strict(cbValue);
  const proof = decodeBase64Strict(proofValue);
  if (channelBinding === null || proof === null) {
    throw new SaslFailure('incorrect-encoding', 'invalid base64 in client-final-message');
  }
  return { withoutProof, channelBinding, nonce, proof };
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ b[i];
  return out;
}

class ScramServer extends StepMachine {
  readonly name: ScramServerMechanismName;
  /** The hash family, and the credential this mechanism checks. */
  private readonly hash: ScramMechanismName;
  private readonly plus: boolean;
  private readonly options: SaslServerOptions;
  private phase: 'initial' | 'client-first' | 'client-final' = 'initial';
  private exchange: Exchange | null = null;

  constructor(mechanism: ScramServerMechanismName, options: SaslServerOptions) {
    super();
    this.name = mechanism;
    this.plus = mechanism.endsWith('-PLUS');
    this.hash = (this.plus ? mechanism.slice(0, -'-PLUS'.length) : mechanism) as ScramMechanismName;
    this.options = options;
  }

  /** RFC 5802 §6: the gs2-cbind-flag this mechanism accepts on this connection. */
  private checkChannelBindingFlag(gs2: Gs2Header): void {
    const binding = this.options.channelBinding ?? null;
    if (this.plus) {
      if (gs2.cbindFlag !== 'p') throw malformed(`${this.name} needs channel binding (p=<type>)`);
      if (!binding || !(binding.types as readonly string[]).includes(gs2.cbName!) || !binding.data(gs2.cbName!)) {
        throw new SaslFailure('not-authorized', `channel binding type ${gs2.cbName} is not available on this connection`);
      }
      return;
    }
    if (gs2.cbindFlag === 'p') throw malformed('channel binding needs a -PLUS mechanism');
    if (gs2.cbindFlag === 'y' && binding && binding.types.length > 0) {
      // The client can bind and believes we cannot, yet we offered it: someone removed it.
      throw new SaslFailure('not-authorized', 'channel binding was offered; the mechanism list was tampered with');
    }
  }

  protected async handle(response: Buffer | null): Promise<SaslStepResult> {
    switch (this.phase) {
      case 'initial':
        if (response === null) {
          // No initial response: empty challenge, then wait for client-first.
          this.phase = 'client-first';
          return { challenge: Buffer.alloc(0) };
        }
        this.phase = 'client-final';
        return this.clientFirst(response);
      case 'client-first':
        if (response === null) throw malformed('client-first-message expected');
        this.phase = 'client-final';
        return this.clientFirst(response);
      case 'client-final':
        if (response === null) throw malformed('client-final-message expected');
        return this.clientFinal(response);
    }
  }

  private serverNonce(): string {
    const nonce = this.options.nonceFactory
      ? this.options.nonceFactory()
      : randomBytes(SERVER_NONCE_BYTES).toString('base64');
    if (!PRINTABLE.test(nonce)) throw new Error('SCRAM nonceFactory returned an invalid nonce');
    return nonce;
  }

  private async clientFirst(data: Buffer): Promise<SaslStepResult> {
    const message = decodeMessage(data);
    const first = parseClientFirst(message);
    this.checkChannelBindingFlag(first.gs2);
    const mechanism = this.hash;
    const { length } = SCRAM_HASHES[mechanism];

    const prepared = trySaslprep(first.username, { allowUnassigned: true });
    const username = prepared === null || prepared === '' ? null : prepared;
    const normalized = username === null ? null : this.options.normalizeUsername(username);

    let credential: ScramCredential | null = null;
    if (normalized !== null) {
      try {
        credential = await this.options.lookup(normalized, mechanism);
      } catch (err) {
        throw lookupFailure(err);
      }
    }
    if (credential !== null) {
      if (
        credential.mechanism !== mechanism ||
        credential.storedKey.length !== length ||
        credential.serverKey.length !== length ||
        credential.salt.length === 0 ||
        !Number.isSafeInteger(credential.iterations) ||
        credential.iterations < 1
      ) {
        throw lookupFailure(new Error(`invalid ${mechanism} credential stored for user`));
      }
    }

    const salt = credential?.salt ?? fakeSalt(this.options.serverSecret, mechanism, normalized ?? username ?? first.username);
    const iterations = credential?.iterations ?? this.options.iterations;
    const nonce = first.clientNonce + this.serverNonce();
    const advertised = this.options.advertised;
    const ssdp = advertised ? `,h=${downgradeProtectionHash(mechanism, advertised.mechanisms, advertised.channelBindings)}` : '';
    const serverFirst = `r=${nonce},s=${salt.toString('base64')},i=${iterations}${ssdp}`;

    this.exchange = {
      gs2: first.gs2,
      clientFirstBare: first.bare,
      serverFirst,
      nonce,
      username,
      credential,
      storedKey: credential?.storedKey ?? randomBytes(length),
      serverKey: credential?.serverKey ?? randomBytes(length),
    };
    return { challenge: Buffer.from(serverFirst, 'utf8') };
  }

  /** The c= content we expect: the gs2-header, then the channel-binding data for -PLUS. */
  private expectedCbind(gs2: Gs2Header): Buffer {
    const header = Buffer.from(gs2.raw, 'utf8');
    if (gs2.cbindFlag !== 'p') return header;
    return Buffer.concat([header, this.options.channelBinding!.data(gs2.cbName!)!]);
  }

  private async clientFinal(data: Buffer): Promise<SaslStepResult> {
    const ex = this.exchange;
    if (ex === null) throw malformed('no exchange in progress');
    const message = decodeMessage(data);
    const final = parseClientFinal(message);
    const mechanism = this.hash;
    const { length } = SCRAM_HASHES[mechanism];

    const authMessage = Buffer.from(`${ex.clientFirstBare},${ex.serverFirst},${final.withoutProof}`, 'utf8');

    // Same work whatever the outcome: two HMACs, one hash, one constant-time compare.
    const proofLengthOk = final.proof.length === length;
    const proof = proofLengthOk ? final.proof : Buffer.alloc(length);
    const clientSignature = scramHmac(mechanism, ex.storedKey, authMessage);
    const clientKey = xor(proof, clientSignature);
    const proofOk = timingSafeEqual(scramHash(mechanism, clientKey), ex.storedKey) && proofLengthOk;
    const serverSignature = scramHmac(mechanism, ex.serverKey, authMessage);

    const expectedCb = this.expectedCbind(ex.gs2);
    const cbOk = final.channelBinding.length === expectedCb.length && timingSafeEqual(final.channelBinding, expectedCb);
    const nonceOk = final.nonce === ex.nonce;

    if (!(proofOk && cbOk && nonceOk && ex.credential !== null && ex.username !== null)) {
      throw new SaslFailure('not-authorized');
    }
    return {
      success: {
        username: ex.username,
        ...(ex.gs2.authzid !== undefined ? { authzid: ex.gs2.authzid } : {}),
        additionalData: Buffer.from(`v=${serverSignature.toString('base64')}`, 'utf8'),
      },
    };
  }
}

export function createScramServer(mechanism: ScramServerMechanismName, options: SaslServerOptions): SaslServerMechanism {
  if (!isScramServerMechanismName(mechanism)) throw new TypeError(`unknown SCRAM mechanism: ${String(mechanism)}`);
  validateOptions(options);
  return new ScramServer(mechanism, options);
}
