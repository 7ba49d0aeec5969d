// XEP-0359 Unique and Stable Stanza IDs 0.7: archive ids from a hybrid clock, generated in
// memory so that delivery never waits for the database to hand one out.
//
// id = milliseconds since 1970 × 4096 + a counter. Ids only grow (a clock that steps back
// keeps counting from the last id), so they order an archive in time, RSM pages by them,
// and `id >> 12` is when the message was archived. They fit in a PostgreSQL bigint.

const COUNTER_BITS = 12n;
const MAX_ID = (1n << 63n) - 1n;

export class ArchiveClock {
  private last = 0n;

  constructor(private readonly now: () => number = Date.now) {}

  next(): bigint {
    const fromClock = BigInt(this.now()) << COUNTER_BITS;
    this.last = fromClock > this.last ? fromClock : this.last + 1n;
    return this.last;
  }
}

/** The id as clients see it (stanza-id, result id, RSM): its decimal digits. */
export function formatArchiveId(id: bigint): string {
  return id.toString();
}

/** The id a client names, or null when it cannot be one of ours (so it is not found). */
export function parseArchiveId(text: string): bigint | null {
  if (!/^[1-9]\d{0,18}$/.test(text)) return null;
  const id = BigInt(text);
  return id <= MAX_ID ? id : null;
}

/** When the message with this id was archived. */
export function archiveIdTime(id: bigint): Date {
  return new Date(Number(id >> COUNTER_BITS));
}

/** The smallest id at or after a time (milliseconds). */
export function firstIdAt(ms: number): bigint {
  return BigInt(Math.max(0, Math.ceil(ms))) << COUNTER_BITS;
}

/** The largest id at or before a time (milliseconds). */
export function lastIdAt(ms: number): bigint {
  return ((BigInt(Math.max(0, Math.floor(ms))) + 1n) << COUNTER_BITS) - 1n;
}
