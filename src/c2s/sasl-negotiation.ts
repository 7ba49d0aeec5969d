// One SASL exchange on a client stream (RFC 6120 §6.4): base64 framing, mechanism choice,
// authzid check, and the slow-down for failed attempts.
import { SaslFailure } from '../core/errors.js';
import { Jid, makeJid, prepareLocalpart, tryParseJid } from '../core/jid.js';
import { decodeBase64Strict, encodeBase64 } from '../sasl/base64.js';
import type { ScramCredential, ScramMechanismName } from '../sasl/credentials.js';
import { createSaslServer, SUPPORTED_MECHANISMS, type SaslServerMechanism } from '../sasl/mechanism.js';
import { sleep, type AuthThrottle } from './auth-throttle.js';

export interface SaslProvider {
  /** Mechanism names to offer, strongest first. */
  mechanisms(plaintextAllowed: boolean): string[];
  credential(username: string, domain: string, mechanism: ScramMechanismName): Promise<ScramCredential | null>;
  readonly serverSecret: Buffer;
  readonly iterations: number;
}

export type SaslOutcome =
  | { kind: 'challenge'; data: string }
  | { kind: 'failure'; failure: SaslFailure }
  | { kind: 'success'; jid: Jid; data?: string };

export interface SaslNegotiationOptions {
  domain: string;
  address: string;
  plaintextAllowed: boolean;
  throttle: AuthThrottle;
}

export function createSaslProvider(options: {
  credential: SaslProvider['credential'];
  serverSecret: Buffer;
  iterations: number;
}): SaslProvider {
  return {
    // PLAIN carries the password itself: offered only where plaintext is acceptable.
    mechanisms: (plaintextAllowed) => SUPPORTED_MECHANISMS.filter((name) => plaintextAllowed || name !== 'PLAIN'),
    credential: options.credential,
    serverSecret: options.serverSecret,
    iterations: options.iterations,
  };
}

export class SaslNegotiation {
  /** The mechanism the client asked for (metrics count outcomes by it). */
  mechanismName: string | null = null;
  private mechanism: SaslServerMechanism | null = null;
  /** The account named in the exchange, once the mechanism has parsed it. */
  private username: string | null = null;

  constructor(
    private readonly provider: SaslProvider,
    private readonly options: SaslNegotiationOptions,
  ) {}

  private get accountKey(): string | undefined {
    return this.username ? `${this.username}@${this.options.domain}` : undefined;
  }

  async start(mechanismName: string | undefined, text: string): Promise<SaslOutcome> {
    this.mechanismName = mechanismName ?? null;
    await sleep(await this.options.throttle.delayMs(this.options.address));
    const offered = this.provider.mechanisms(this.options.plaintextAllowed);
    if (!mechanismName || !offered.includes(mechanismName)) {
      if (mechanismName === 'PLAIN') return this.fail(new SaslFailure('encryption-required', 'PLAIN needs TLS'), false);
      return this.fail(new SaslFailure('invalid-mechanism'), false);
    }
    const domain = this.options.domain;
    this.mechanism = createSaslServer(mechanismName, {
      lookup: (username, mechanism) => this.provider.credential(username, domain, mechanism),
      normalizeUsername: (raw) => {
        try {
          this.username = prepareLocalpart(raw);
          return this.username;
        } catch {
          return null;
        }
      },
      serverSecret: this.provider.serverSecret,
      iterations: this.provider.iterations,
    });
    // §6.4.2: no text means no initial response; "=" means an empty one.
    const initial = text === '' ? null : this.decode(text);
    if (initial === undefined) return this.fail(new SaslFailure('incorrect-encoding'), true);
    return this.step(initial);
  }

  async respond(text: string): Promise<SaslOutcome> {
    if (!this.mechanism) return this.fail(new SaslFailure('malformed-request', 'no exchange in progress'), false);
    const data = text === '' ? Buffer.alloc(0) : this.decode(text);
    if (data === undefined) return this.fail(new SaslFailure('incorrect-encoding'), true);
    return this.step(data);
  }

  /** RFC 6120 §6.4.2: "=" is a zero-length message; other text is strict base64 (no whitespace). */
  private decode(text: string): Buffer | undefined {
    if (text === '=') return Buffer.alloc(0);
    return decodeBase64Strict(text) ?? undefined;
  }

  private async step(data: Buffer | null): Promise<SaslOutcome> {
    const mechanism = this.mechanism!;
    let result;
    try {
      result = await mechanism.step(data);
    } catch (err) {
      if (err instanceof SaslFailure) return this.fail(err, true);
      throw err;
    }
    if (result.challenge) {
      // An attacked account makes every attempt on it wait, from any address.
      const account = this.accountKey;
      if (account) await sleep(await this.options.throttle.delayMs(this.options.address, account));
      return { kind: 'challenge', data: result.challenge.length === 0 ? '=' : encodeBase64(result.challenge) };
    }
    const success = result.success!;
    const username = this.username ?? prepareLocalpart(success.username);
    const jid = makeJid(username, this.options.domain);
    if (success.authzid !== undefined && success.authzid !== '') {
      // RFC 6120 §6.3.8: an authorization identity other than the account itself is refused.
      const requested = tryParseJid(success.authzid);
      if (!requested || requested.bareString() !== jid.bareString() || requested.resource !== '') {
        return this.fail(new SaslFailure('invalid-authzid'), true);
      }
    }
    this.mechanism = null;
    return {
      kind: 'success',
      jid,
      data: success.additionalData ? encodeBase64(success.additionalData) : undefined,
    };
  }

  private async fail(failure: SaslFailure, countsAsAttempt: boolean): Promise<SaslOutcome> {
    this.mechanism = null;
    if (countsAsAttempt) {
      const throttle = this.options.throttle;
      await throttle.recordFailure(this.options.address, this.accountKey);
      await sleep(await throttle.delayMs(this.options.address, this.accountKey));
    }
    return { kind: 'failure', failure };
  }
}
