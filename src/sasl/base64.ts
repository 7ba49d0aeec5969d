// Strict base64 (RFC 4648 §4) as required for SASL data in XMPP
// (RFC 6120 §6.4.2, §6.5.2 <incorrect-encoding/>) and inside SCRAM messages.
//
// Rejected: any character outside the base64 alphabet (including whitespace
// and line breaks), a length that is not a multiple of 4, padding anywhere
// but at the very end, more than two padding characters, and non-canonical
// encodings whose unused trailing bits are not zero (RFC 4648 §3.5).
//
// The empty string decodes to an empty buffer.  A lone "=" is NOT valid
// base64: RFC 6120 §6.4.2 uses "=" as the marker for a zero-length *initial
// response* in <auth/>; the c2s layer must recognise that marker itself
// before calling this function (and treat "=" in <response/> as
// incorrect-encoding).

const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decode strict base64; returns null if `s` is not valid, canonical base64. */
export function decodeBase64Strict(s: string): Buffer | null {
  if (s.length % 4 !== 0 || !STRICT_BASE64.test(s)) return null;
  const decoded = Buffer.from(s, 'base64');
  // Canonical check: the unused bits of the last quantum must be zero.
  if (decoded.toString('base64') !== s) return null;
  return decoded;
}

/** Standard base64 with padding. */
export function encodeBase64(data: Buffer | Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
}
