// One SASL exchange on a client stream (RFC 6120 §6.4): base64 framing, mechanism choice,
// authzid check, and the slow-down for failed attempts.
import { SaslFailure } from '../core/errors.js';
import { Jid, makeJid, prepareLocalpart, tryParseJid } from '../core/jid.js';
import { decodeBase64Strict, encodeBase64 } from '../sasl/base64.js';
import type { ChannelBinding } from '../sasl/channel-binding.js';
import type { ScramMechanismName } from '../sasl/credentials.js';
import type { FastTokenCandidate, FastTokenLookup } from '../sasl/ht.js';
import { createSaslServer, SUPPORTED_MECHANISMS, type SaslServerMechanism } from '../sasl/mechanism.js';
import type { StoredCredential } from '../storage/accounts.js';
import { sleep, type AuthThrottle } from './auth-throttle.js';

export interface SaslProvider {
  /** Mechanism names to offer, strongest first: -PLUS only with channel bindings, PLAIN only where plaintext is allowed. */
  mechanisms(plaintextAllowed: boolean, channelBinding: ChannelBinding | null): string[];
  credential(username: string, domain: string, mechanism: ScramMechanismName): Promise<StoredCredential | null>;
  readonly serverSecret: Buffer;
  readonly iterations: number;
}

export type SaslOutcome =
  | { kind: 'challenge'; data: string }
  | { kind: 'failure'; failure: SaslFailure }
  | { kind: 'success'; jid: Jid; data?: string; fastToken?: FastTokenCandidate };

export interface SaslNegotiationOptions {
  domain: string;
  address: string;
  /** The mechanisms this stream offered (the only ones accepted). */
  offered: readonly string[];
  throttle: AuthThrottle;
  channelBinding: ChannelBinding | null;
  /** The XEP-0440 types announced on this stream (XEP-0474 downgrade protection), or null. */
  channelBindingsAdvertised: readonly string[] | null;
  /** SASL2 with a user-agent id: the client's FAST tokens. */
  fastTokens?: FastTokenLookup;
}

export function createSaslProvider(options: {
  credential: SaslProvider['credential'];
  serverSecret: Buffer;
  iterations: number;
}): SaslProvider {
  return {
    // PLAIN carries the password itself: offered only where plaintext is acceptable.
    mechanisms: (plaintextAllowed, channelBinding) =>
      SUPPORTED_MECHANISMS.filter((name) => (plaintextAllowed || name !== 'PLAIN') && (!name.endsWith('-PLUS') || (channelBinding?.types.length ?? 0) > 0)),
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
  /** Whether the account's credential said it is disabled (checked after the proof). */
  private accountDisabled = false;

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
    const offered = this.options.offered;
    if (!mechanismName || !offered.includes(mechanismName)) {
      if (mechanismName === 'PLAIN') return this.fail(new SaslFailure('encryption-required', 'PLAIN needs TLS'), false);
      return this.fail(new SaslFailure('invalid-mechanism'), false);
    }
    const domain = this.options.domain;
    this.mechanism = createSaslServer(mechanismName, {
      lookup: async (username, mechanism) => {
        const credential = await this.provider.credential(username, domain, mechanism);
        this.accountDisabled = credential?.accountDisabled ?? false;
        return credential;
      },
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
      channelBinding: this.options.channelBinding,
      // Only what a client can check against the list it saw: the password-based mechanisms.
      advertised: { mechanisms: offered.filter((name) => !name.startsWith('HT-')), channelBindings: this.options.channelBindingsAdvertised },
      fastTokens: this.options.fastTokens,
    });
    if (!this.mechanism) return this.fail(new SaslFailure('invalid-mechanism'), false);
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
    if (this.accountDisabled) {
      // RFC 6120 §6.5.1, only to someone who proved they know the password.
      return this.fail(new SaslFailure('account-disabled', 'this account is disabled'), false);
    }
    this.mechanism = null;
    return {
      kind: 'success',
      jid,
      data: success.additionalData ? encodeBase64(success.additionalData) : undefined,
      ...(success.fastToken ? { fastToken: success.fastToken } : {}),
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
