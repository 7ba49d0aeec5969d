import { expect } from 'chai';
import { parseJid } from '../../src/core/jid.js';
import { LocalSessionRegistry } from '../../src/core/sessions.js';
import { RosterService } from '../../src/services/roster.js';
import type { Roster, RosterStore } from '../../src/storage/roster.js';

function countingStore(sizes: Record<string, number>) {
  let reads = 0;
  const store = {
    async get(username: string): Promise<Roster> {
      reads++;
      const items = Array.from({ length: sizes[username] ?? 0 }, (_, i) => ({
        jid: `c${i}@x.example`, name: null, groups: [], subscription: 'both' as const, pendingOut: false, approved: false,
      }));
      return { version: 1, items };
    },
  } as unknown as RosterStore;
  return { store, reads: () => reads };
}

describe('RosterService retention of offline rosters (embedded database)', function () {
  const jid = (u: string) => parseJid(`${u}@x.example`);

  it('keeps rosters of offline accounts within an item budget, least recently used out first', async function () {
    const { store, reads } = countingStore({ a: 4, b: 4, c: 4 });
    const rosters = new RosterService(store, new LocalSessionRegistry(), 1000, 12); // a roster costs items + 1
    await rosters.get(jid('a'));
    await rosters.get(jid('b'));
    expect(reads()).to.equal(2);
    await rosters.get(jid('a')); // cached; now the most recent
    expect(reads()).to.equal(2);
    await rosters.get(jid('c')); // 15 > 12: b, the least recent, goes
    await rosters.get(jid('a'));
    expect(reads()).to.equal(3);
    await rosters.get(jid('b'));
    expect(reads()).to.equal(4);
  });

  it('keeps nothing without a budget, and forgets a deleted account', async function () {
    const { store, reads } = countingStore({ a: 1 });
    const none = new RosterService(store, new LocalSessionRegistry(), 1000, 0);
    await none.get(jid('a'));
    await none.get(jid('a'));
    expect(reads()).to.equal(2);
    const kept = new RosterService(store, new LocalSessionRegistry(), 1000, 100);
    await kept.get(jid('a'));
    kept.forget(jid('a'));
    await kept.get(jid('a'));
    expect(reads()).to.equal(4);
  });
});
