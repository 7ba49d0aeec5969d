// Helpers shared by the mechanism implementations (not part of the public API).

import { createHmac } from 'node:crypto';

import { SaslFailure } from '../core/errors.js';
import { assertValidIterations, SALT_LENGTH, type ScramMechanismName } from './credentials.js';
import type { SaslServerMechanism, SaslServerOptions, SaslStepResult } from './mechanism.js';

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Strict UTF-8 decoding (a BOM is kept so bytes round-trip); null if invalid. */
export function decodeUtf8(data: Uint8Array): string | null {
  try {
    return STRICT_UTF8.decode(data);
  } catch {
    return null;
  }
}

/**
 * Deterministic fake salt for an unknown user: HMAC-SHA-256(serverSecret,
 * mechanism NUL username) truncated to SALT_LENGTH octets.  The NUL keeps
 * the (mechanism, username) encoding unambiguous.
 */
export function fakeSalt(serverSecret: Buffer, mechanism: ScramMechanismName, username: string): Buffer {
  return createHmac('sha256', serverSecret)
    .update(`${mechanism}\0${username}`, 'utf8')
    .digest()
    .subarray(0, SALT_LENGTH);
}

export function validateOptions(options: SaslServerOptions): void {
  if (typeof options.lookup !== 'function') throw new TypeError('SASL: lookup must be a function');
  if (typeof options.normalizeUsername !== 'function') {
    throw new TypeError('SASL: normalizeUsername must be a function');
  }
  if (!Buffer.isBuffer(options.serverSecret) || options.serverSecret.length === 0) {
    throw new TypeError('SASL: serverSecret must be a non-empty Buffer');
  }
  assertValidIterations(options.iterations);
}

/** Wrap a lookup failure (e.g. database down) as temporary-auth-failure (RFC 6120 §6.5.11). */
export function lookupFailure(err: unknown): SaslFailure {
  const failure = new SaslFailure('temporary-auth-failure');
  (failure as Error).cause = err;
  return failure;
}

type State = 'ready' | 'busy' | 'done';

/**
 * Enforces the one-exchange lifecycle described in mechanism.ts: steps are
 * serialised, and after success or any rejection every further step is
 * malformed-request.
 */
export abstract class StepMachine implements SaslServerMechanism {
  abstract readonly name: string;
  private state: State = 'ready';

  protected abstract handle(response: Buffer | null): Promise<SaslStepResult>;

  async step(response: Buffer | null): Promise<SaslStepResult> {
    if (this.state !== 'ready') {
      throw new SaslFailure('malformed-request', this.state === 'done' ? 'exchange already finished' : 'step already in progress');
    }
    this.state = 'busy';
    try {
      const result = await this.handle(response);
      this.state = result.success ? 'done' : 'ready';
      return result;
    } catch (err) {
      this.state = 'done';
      throw err;
    }
  }
}
