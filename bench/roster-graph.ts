// The contact graph of the presence benchmark, shared by bench/seed-rosters.ts (which writes
// it into rosters) and bench/c2s-load.ts --scenario presence (which checks deliveries
// against it): account i is a mutual contact (subscription "both") of i±1, …, i±⌊C/2⌋ mod N,
// plus i+N/2 when C is odd (then N must be even). Every account has exactly C contacts and
// the graph is symmetric: i lists j exactly when j lists i.

/** Why (users, contacts) cannot form the graph, or null when they can. */
export function graphProblem(users: number, contacts: number): string | null {
  if (!Number.isInteger(users) || !Number.isInteger(contacts) || users < 0 || contacts < 0) return 'users and contacts must be non-negative integers';
  if (contacts === 0) return null;
  if (contacts >= users) return `${contacts} contacts need at least ${contacts + 1} users`;
  if (contacts % 2 === 1 && users % 2 === 1) return `an odd number of contacts (${contacts}) needs an even number of users`;
  return null;
}

/** The contacts of account i (indices), each once, never i itself. */
export function contactsOf(i: number, users: number, contacts: number): number[] {
  const out: number[] = [];
  const half = Math.floor(contacts / 2);
  for (let k = 1; k <= half; k++) {
    out.push((i + k) % users, (i - k + users) % users);
  }
  if (contacts % 2 === 1) out.push((i + users / 2) % users);
  return out;
}
