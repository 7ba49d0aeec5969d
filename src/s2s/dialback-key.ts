// XEP-0185 (Dialback Key Generation and Validation) 1.0: keys derived from a server secret
// that survives restarts, so a key can be checked later (or by another process sharing the
// secret) without storing it.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** XEP-0185 §3: HMAC-SHA256(SHA256(secret), receiving + ' ' + originating + ' ' + streamId), hex. */
export function dialbackKey(secret: Buffer, receiving: string, originating: string, streamId: string): string {
  const hashedSecret = createHash('sha256').update(secret).digest('hex');
  return createHmac('sha256', hashedSecret).update(`${receiving} ${originating} ${streamId}`).digest('hex');
}

/** Compares a presented key with the expected one in constant time (XEP-0185 §4). */
export function dialbackKeyMatches(secret: Buffer, receiving: string, originating: string, streamId: string, presented: string): boolean {
  const expected = Buffer.from(dialbackKey(secret, receiving, originating, streamId), 'utf8');
  const given = Buffer.from(presented.trim(), 'utf8');
  // Equal lengths for timingSafeEqual; a length mismatch still costs one comparison.
  if (given.length !== expected.length) {
    timingSafeEqual(expected, expected);
    return false;
  }
  return timingSafeEqual(expected, given);
}
