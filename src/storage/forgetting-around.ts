// The write path of the read-through caches over embedded PGlite (credential-cache.ts,
// fast-token-cache.ts, archive-bounds-cache.ts): what a cache holds of the rows a write
// changes is dropped before it starts (no reader gets the old rows from memory meanwhile)
// and again once it ends (a read that overlapped the write may have put them back).

export async function forgettingAround<T>(forget: () => void, write: () => Promise<T>): Promise<T> {
  forget();
  try {
    return await write();
  } finally {
    forget();
  }
}
