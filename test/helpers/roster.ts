// Rosters written to the store before users log in: a mutual ("both") subscription without
// the handshake that builds it (that is the subject of test/im/subscriptions.test.ts).
import type { TestServer } from './server.js';

export interface Party {
  readonly server: TestServer;
  readonly local: string;
}

export async function befriend(first: Party, second: Party, groups: string[] = []): Promise<void> {
  const both = (jid: string) => ({ jid, name: null, groups, subscription: 'both' as const, pendingOut: false, approved: false });
  await first.server.server.stores.roster.put(first.local, first.server.domain, both(`${second.local}@${second.server.domain}`));
  await second.server.server.stores.roster.put(second.local, second.server.domain, both(`${first.local}@${first.server.domain}`));
}
