// Random identifiers (stream ids, resumption ids) from a pool of bytes the CSPRNG fills a few
// kilobytes at a time: each connection needs two or three, and one call into the CSPRNG per
// id cost more than the rest of making it. Every byte is handed out once.
import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let offset = POOL_BYTES;

/** `bytes` random bytes (at most 64), base64url-encoded. */
export function randomId(bytes: number): string {
  if (bytes > 64 || bytes < 1) throw new RangeError(`randomId takes 1 to 64 bytes, not ${bytes}`);
  if (offset + bytes > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const id = pool.toString('base64url', offset, offset + bytes);
  offset += bytes;
  return id;
}
