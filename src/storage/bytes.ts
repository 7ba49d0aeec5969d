/**
 * bytea values come back as Buffer from pg and as plain Uint8Array from
 * PGlite. Repositories hand out Buffers only; this wraps without copying.
 */
export function toBuffer(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}
