// A small SCRAM client (RFC 5802 §3, §5, §7; RFC 7677) for tests and
// benchmarks.  Written independently of src/sasl on purpose: it must not
// share code with the server it is used to check.
//
// The password is used as given (no SASLprep): pass an already prepared
// password when testing non-ASCII input.

import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto';

export type ScramClientHash = 'sha1' | 'sha256';

export interface ScramClientOptions {
  /** client nonce; random by default */
  nonce?: string;
  /** authorization identity to put in the GS2 header */
  authzid?: string;
  /** gs2-cbind-flag; default "n"; "p=<type>" binds to the channel (then give channelBindingData) */
  cbindFlag?: 'n' | 'y' | `p=${string}`;
  /** RFC 5802 §6: the channel-binding data appended to the GS2 header in c= (with "p=") */
  channelBindingData?: Buffer;
  /**
   * Shared cache of SaltedPassword values, so a benchmark client can skip
   * PBKDF2 on repeated logins.  Keyed by hash, password, salt and iteration count.
   */
  saltedPasswordCache?: Map<string, Buffer>;
  /** Tests only: send base64(this) in c= instead of the GS2 header actually sent. */
  channelBindingOverride?: string;
  /** Tests only: send this nonce in client-final instead of the server's (the proof covers it). */
  finalNonceOverride?: (nonce: string) => string;
}

function escapeName(name: string): string {
  return name.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

function pbkdf2Promise(password: string, salt: Buffer, iterations: number, hash: ScramClientHash): Promise<Buffer> {
  const keylen = hash === 'sha1' ? 20 : 32;
  return new Promise((resolve, reject) => {
    pbkdf2(password, salt, iterations, keylen, hash, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export class ScramClient {
  readonly hash: ScramClientHash;
  readonly username: string;
  private readonly password: string;
  private readonly options: ScramClientOptions;
  readonly clientNonce: string;
  readonly gs2Header: string;
  private clientFirstBare = '';
  private expectedServerSignature: Buffer | null = null;
  /** The attributes of the last server-first-message (XEP-0474 h= among them). */
  serverFirstAttributes = new Map<string, string>();

  constructor(hash: ScramClientHash, username: string, password: string, options: ScramClientOptions = {}) {
    this.hash = hash;
    this.username = username;
    this.password = password;
    this.options = options;
    this.clientNonce = options.nonce ?? randomBytes(18).toString('base64');
    const authz = options.authzid !== undefined ? `a=${escapeName(options.authzid)}` : '';
    this.gs2Header = `${options.cbindFlag ?? 'n'},${authz},`;
  }

  /** client-first-message */
  first(): string {
    this.clientFirstBare = `n=${escapeName(this.username)},r=${this.clientNonce}`;
    return this.gs2Header + this.clientFirstBare;
  }

  /** client-final-message for the given server-first-message. */
  async final(serverFirst: string): Promise<string> {
    const attrs = new Map<string, string>();
    for (const part of serverFirst.split(',')) {
      const eq = part.indexOf('=');
      if (eq !== 1) throw new Error(`bad server-first attribute: ${part}`);
      attrs.set(part[0], part.slice(2));
    }
    this.serverFirstAttributes = attrs;
    const nonce = attrs.get('r');
    const saltB64 = attrs.get('s');
    const iterText = attrs.get('i');
    if (attrs.has('m')) throw new Error('server sent a mandatory extension');
    if (!nonce || !saltB64 || !iterText) throw new Error('server-first lacks r, s or i');
    if (!nonce.startsWith(this.clientNonce) || nonce.length === this.clientNonce.length) {
      throw new Error('server nonce does not extend the client nonce');
    }
    const iterations = Number(iterText);
    if (!Number.isInteger(iterations) || iterations < 1) throw new Error('bad iteration count');
    const salt = Buffer.from(saltB64, 'base64');

    const cacheKey = `${this.hash}\0${this.password}\0${saltB64}\0${iterations}`;
    const cache = this.options.saltedPasswordCache;
    let salted = cache?.get(cacheKey);
    if (!salted) {
      salted = await pbkdf2Promise(this.password, salt, iterations, this.hash);
      cache?.set(cacheKey, salted);
    }

    const hmac = (key: Buffer, data: string) => createHmac(this.hash, key).update(data, 'utf8').digest();
    const clientKey = hmac(salted, 'Client Key');
    const storedKey = createHash(this.hash).update(clientKey).digest();
    const serverKey = hmac(salted, 'Server Key');

    const cbHeader = this.options.channelBindingOverride ?? this.gs2Header;
    const finalNonce = this.options.finalNonceOverride ? this.options.finalNonceOverride(nonce) : nonce;
    const cbInput = Buffer.concat([Buffer.from(cbHeader, 'utf8'), this.options.channelBindingData ?? Buffer.alloc(0)]);
    const withoutProof = `c=${cbInput.toString('base64')},r=${finalNonce}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const clientSignature = hmac(storedKey, authMessage);
    const proof = Buffer.alloc(clientKey.length);
    for (let i = 0; i < proof.length; i++) proof[i] = clientKey[i] ^ clientSignature[i];
    this.expectedServerSignature = hmac(serverKey, authMessage);
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /** Check the server-final-message ("v=..."). */
  verifyServerFinal(serverFinal: string): boolean {
    if (!this.expectedServerSignature || !serverFinal.startsWith('v=')) return false;
    const got = Buffer.from(serverFinal.slice(2), 'base64');
    return got.equals(this.expectedServerSignature);
  }
}
