// Keys for per-account maps and batched lookups, shared by the repositories.

/** One string per account; NUL cannot occur in a domain or a localpart. */
export function accountKey(domain: string, username: string): string {
  return `${domain}\u0000${username}`;
}

/** Appends to the list under `key`, creating it. */
export function appendTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** Usernames per domain, for batched lookups (`where domain = ? and username in (...)`). */
export function groupByDomain(keys: ReadonlyArray<{ username: string; domain: string }>): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const { username, domain } of keys) appendTo(groups, domain, username);
  return groups;
}
