import { setTimeout as delay } from 'node:timers/promises';
import { expect } from 'chai';
import { sql } from 'kysely';
import { createAccountStore } from '../../src/storage/accounts.js';
import { createRosterStore, type RosterItem } from '../../src/storage/roster.js';
import { eachBackend } from '../helpers/database.js';

const DOMAIN = 'example.org';

function item(jid: string, overrides: Partial<RosterItem> = {}): RosterItem {
  return { jid, name: null, groups: [], subscription: 'none', pendingOut: false, approved: false, ...overrides };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

eachBackend('RosterStore', (getDb) => {
  const store = () => createRosterStore(getDb().db);

  beforeEach(async () => {
    const accounts = createAccountStore(getDb().db);
    await accounts.create({ username: 'alice', domain: DOMAIN, credentials: [] });
    await accounts.create({ username: 'bob', domain: DOMAIN, credentials: [] });
  });

  describe('put / get / getItem', () => {
    it('starts empty at version 0', async () => {
      expect(await store().get('alice', DOMAIN)).to.deep.equal({ version: 0, items: [] });
      expect(await store().getItem('alice', DOMAIN, 'carol@example.net')).to.equal(null);
      expect(await store().count('alice', DOMAIN)).to.equal(0);
      expect(await store().get('ghost', DOMAIN)).to.deep.equal({ version: 0, items: [] });
    });

    it('round-trips items: unicode groups, null and non-null names, every flag', async () => {
      const carol = item('carol@example.net', {
        name: 'Carol ☕',
        groups: ['Amis', 'Ünïcødé 日本語', 'emoji 🎉', 'quote " and \\ backslash', 'comma, {brace}'],
        subscription: 'both',
      });
      const dave = item('dave@example.com', { subscription: 'none', pendingOut: true, approved: true });
      expect(await store().put('alice', DOMAIN, carol)).to.equal(1);
      expect(await store().put('alice', DOMAIN, dave)).to.equal(2);
      expect(await store().get('alice', DOMAIN)).to.deep.equal({ version: 2, items: [carol, dave] });
      expect(await store().getItem('alice', DOMAIN, 'carol@example.net')).to.deep.equal(carol);
      expect(await store().getItem('alice', DOMAIN, 'dave@example.com')).to.deep.equal(dave);
      expect(await store().count('alice', DOMAIN)).to.equal(2);
      // Another account's roster is separate.
      expect(await store().get('bob', DOMAIN)).to.deep.equal({ version: 0, items: [] });
      expect(await store().getItem('bob', DOMAIN, 'carol@example.net')).to.equal(null);
    });

    it('orders items by contact, bytewise', async () => {
      for (const jid of ['zed@x', 'Bob@x', 'amy@x', 'émile@x', 'bob@x']) await store().put('alice', DOMAIN, item(jid));
      const { items } = await store().get('alice', DOMAIN);
      expect(items.map((i) => i.jid)).to.deep.equal(['Bob@x', 'amy@x', 'bob@x', 'zed@x', 'émile@x']);
    });

    it('replaces an item and bumps the version by one per change', async () => {
      expect(await store().put('alice', DOMAIN, item('carol@x', { name: 'C', groups: ['a', 'b'] }))).to.equal(1);
      const updated = item('carol@x', { name: null, groups: ['b'], subscription: 'to' });
      expect(await store().put('alice', DOMAIN, updated)).to.equal(2);
      expect(await store().put('alice', DOMAIN, updated)).to.equal(3);
      expect(await store().get('alice', DOMAIN)).to.deep.equal({ version: 3, items: [updated] });
      expect(await store().put('bob', DOMAIN, item('carol@x'))).to.equal(1);
    });

    it('keeps the first occurrence of a repeated group', async () => {
      await store().put('alice', DOMAIN, item('carol@x', { groups: ['b', 'a', 'b'] }));
      expect((await store().getItem('alice', DOMAIN, 'carol@x'))?.groups).to.deep.equal(['b', 'a']);
    });

    it('serves concurrent gets of several accounts (batched) with their own rosters', async () => {
      await store().put('alice', DOMAIN, item('carol@x'));
      await store().put('bob', DOMAIN, item('dave@x'));
      await store().put('bob', DOMAIN, item('erin@x'));
      const [alice, bob, ghost, alice2] = await Promise.all([
        store().get('alice', DOMAIN),
        store().get('bob', DOMAIN),
        store().get('ghost', DOMAIN),
        store().get('alice', 'example.net'),
      ]);
      expect(alice).to.deep.equal({ version: 1, items: [item('carol@x')] });
      expect(bob).to.deep.equal({ version: 2, items: [item('dave@x'), item('erin@x')] });
      expect(ghost).to.deep.equal({ version: 0, items: [] });
      expect(alice2).to.deep.equal({ version: 0, items: [] });
    });

    it('rejects a put for an unknown account or an invalid subscription, changing nothing', async () => {
      expect((await rejection(store().put('ghost', DOMAIN, item('carol@x')))).message).to.match(/foreign key/);
      const bad = { ...item('carol@x'), subscription: 'sideways' } as unknown as RosterItem;
      expect((await rejection(store().put('alice', DOMAIN, bad))).message).to.match(/roster_items_subscription_check/);
      expect(await store().get('alice', DOMAIN)).to.deep.equal({ version: 0, items: [] });
    });

    it('gives each of 20 concurrent puts its own version', async () => {
      const versions = await Promise.all(
        Array.from({ length: 20 }, (_, i) => store().put('alice', DOMAIN, item(`c${String(i).padStart(2, '0')}@x`))),
      );
      expect([...versions].sort((a, b) => a - b)).to.deep.equal(Array.from({ length: 20 }, (_, i) => i + 1));
      const roster = await store().get('alice', DOMAIN);
      expect(roster.version).to.equal(20);
      expect(roster.items).to.have.length(20);
    });

    it('joins a caller transaction (and rolls back with it)', async () => {
      const error = await rejection(
        getDb()
          .db.transaction()
          .execute(async (trx) => {
            expect(await createRosterStore(trx).put('alice', DOMAIN, item('carol@x'))).to.equal(1);
            expect(await createRosterStore(trx).get('alice', DOMAIN)).to.deep.equal({ version: 1, items: [item('carol@x')] });
            throw new Error('roll back');
          }),
      );
      expect(error.message).to.equal('roll back');
      expect(await store().get('alice', DOMAIN)).to.deep.equal({ version: 0, items: [] });
    });
  });

  describe('remove', () => {
    it('returns null (and does not bump) when there is no such item', async () => {
      expect(await store().remove('alice', DOMAIN, 'carol@x')).to.equal(null);
      await store().put('alice', DOMAIN, item('carol@x'));
      expect(await store().remove('alice', DOMAIN, 'dave@x')).to.equal(null);
      expect((await store().get('alice', DOMAIN)).version).to.equal(1);
    });

    it('leaves a tombstone: gone from get/getItem/count, a null change, revived by put', async () => {
      await store().put('alice', DOMAIN, item('carol@x', { name: 'Carol', groups: ['g'], subscription: 'both' }));
      await store().put('alice', DOMAIN, item('dave@x'));
      expect(await store().remove('alice', DOMAIN, 'carol@x')).to.equal(3);
      expect(await store().get('alice', DOMAIN)).to.deep.equal({ version: 3, items: [item('dave@x')] });
      expect(await store().getItem('alice', DOMAIN, 'carol@x')).to.equal(null);
      expect(await store().count('alice', DOMAIN)).to.equal(1);
      expect(await store().changesSince('alice', DOMAIN, 2)).to.deep.equal({
        version: 3,
        changes: [{ jid: 'carol@x', item: null, version: 3 }],
      });
      // Removing it again changes nothing.
      expect(await store().remove('alice', DOMAIN, 'carol@x')).to.equal(null);
      expect((await store().get('alice', DOMAIN)).version).to.equal(3);
      // The tombstone keeps none of the contact's data.
      const { rows } = await sql<{ name: string | null; groups: string[]; subscription: string }>`
        select name, groups, subscription from roster_items where contact = 'carol@x'`.execute(getDb().db);
      expect(rows).to.deep.equal([{ name: null, groups: [], subscription: 'none' }]);
      // Put again: revived, with only the new state.
      const revived = item('carol@x', { pendingOut: true });
      expect(await store().put('alice', DOMAIN, revived)).to.equal(4);
      expect(await store().get('alice', DOMAIN)).to.deep.equal({ version: 4, items: [revived, item('dave@x')] });
      expect(await store().count('alice', DOMAIN)).to.equal(2);
      expect(await store().changesSince('alice', DOMAIN, 2)).to.deep.equal({
        version: 4,
        changes: [{ jid: 'carol@x', item: revived, version: 4 }],
      });
    });

    it('lets exactly one of concurrent removes of the same item win', async () => {
      await store().put('alice', DOMAIN, item('carol@x'));
      const results = await Promise.all(Array.from({ length: 5 }, () => store().remove('alice', DOMAIN, 'carol@x')));
      expect(results.filter((r) => r !== null)).to.deep.equal([2]);
      expect((await store().get('alice', DOMAIN)).version).to.equal(2);
    });
  });

  describe('changesSince', () => {
    beforeEach(async () => {
      await store().put('alice', DOMAIN, item('a@x')); // 1
      await store().put('alice', DOMAIN, item('b@x')); // 2
      await store().put('alice', DOMAIN, item('c@x')); // 3
      await store().put('alice', DOMAIN, item('a@x', { name: 'A' })); // 4
      await store().remove('alice', DOMAIN, 'b@x'); // 5
      await store().put('alice', DOMAIN, item('d@x')); // 6
    });

    it('is empty at the current version', async () => {
      expect(await store().changesSince('alice', DOMAIN, 6)).to.deep.equal({ version: 6, changes: [] });
    });

    it('returns the latest state of each item changed after an older version, in change order', async () => {
      expect(await store().changesSince('alice', DOMAIN, 3)).to.deep.equal({
        version: 6,
        changes: [
          // Each with the version it brought the roster to (XEP-0237 pushes carry it).
          { jid: 'a@x', item: item('a@x', { name: 'A' }), version: 4 },
          { jid: 'b@x', item: null, version: 5 },
          { jid: 'd@x', item: item('d@x'), version: 6 },
        ],
      });
      expect(await store().changesSince('alice', DOMAIN, 5)).to.deep.equal({
        version: 6,
        changes: [{ jid: 'd@x', item: item('d@x'), version: 6 }],
      });
      const all = await store().changesSince('alice', DOMAIN, 0);
      expect(all?.version).to.equal(6);
      expect(all?.changes.map((c) => c.jid)).to.deep.equal(['c@x', 'a@x', 'b@x', 'd@x']);
    });

    it('is null for a future, negative or non-integer version', async () => {
      expect(await store().changesSince('alice', DOMAIN, 7)).to.equal(null);
      expect(await store().changesSince('alice', DOMAIN, -1)).to.equal(null);
      expect(await store().changesSince('alice', DOMAIN, 2.5)).to.equal(null);
    });

    it('answers for a roster that never changed', async () => {
      expect(await store().changesSince('bob', DOMAIN, 0)).to.deep.equal({ version: 0, changes: [] });
      expect(await store().changesSince('bob', DOMAIN, 1)).to.equal(null);
    });
  });

  describe('subscription requests', () => {
    it('puts, replaces, checks, lists and removes', async () => {
      expect(await store().hasRequest('alice', DOMAIN, 'zed@x')).to.equal(false);
      expect(await store().listRequests('alice', DOMAIN)).to.deep.equal([]);
      await store().putRequest('alice', DOMAIN, 'zed@x', '<presence type="subscribe" id="1"/>');
      await delay(5);
      await store().putRequest('alice', DOMAIN, 'amy@x', '<presence type="subscribe" id="2"/>');
      await store().putRequest('bob', DOMAIN, 'zed@x', '<presence type="subscribe" id="3"/>');
      expect(await store().hasRequest('alice', DOMAIN, 'zed@x')).to.equal(true);
      expect(await store().hasRequest('alice', DOMAIN, 'bob@x')).to.equal(false);
      // Oldest first; a replaced request keeps its place.
      await store().putRequest('alice', DOMAIN, 'zed@x', '<presence type="subscribe" id="4">é</presence>');
      expect(await store().listRequests('alice', DOMAIN)).to.deep.equal([
        { jid: 'zed@x', stanza: '<presence type="subscribe" id="4">é</presence>' },
        { jid: 'amy@x', stanza: '<presence type="subscribe" id="2"/>' },
      ]);
      expect(await store().removeRequest('alice', DOMAIN, 'zed@x')).to.equal(true);
      expect(await store().removeRequest('alice', DOMAIN, 'zed@x')).to.equal(false);
      expect(await store().hasRequest('alice', DOMAIN, 'zed@x')).to.equal(false);
      expect(await store().listRequests('alice', DOMAIN)).to.deep.equal([
        { jid: 'amy@x', stanza: '<presence type="subscribe" id="2"/>' },
      ]);
      expect(await store().hasRequest('bob', DOMAIN, 'zed@x')).to.equal(true);
    });

    it('orders requests made in the same transaction by contact', async () => {
      await getDb()
        .db.transaction()
        .execute(async (trx) => {
          for (const jid of ['m@x', 'b@x', 'z@x']) await createRosterStore(trx).putRequest('alice', DOMAIN, jid, '<presence/>');
        });
      expect((await store().listRequests('alice', DOMAIN)).map((r) => r.jid)).to.deep.equal(['b@x', 'm@x', 'z@x']);
    });
  });

  describe('account deletion', () => {
    it('cascades to roster, version, tombstones and requests', async () => {
      await store().put('alice', DOMAIN, item('carol@x'));
      await store().put('alice', DOMAIN, item('dave@x'));
      await store().remove('alice', DOMAIN, 'dave@x');
      await store().putRequest('alice', DOMAIN, 'erin@x', '<presence type="subscribe"/>');
      await store().put('bob', DOMAIN, item('carol@x'));
      expect(await createAccountStore(getDb().db).delete('alice', DOMAIN)).to.equal(true);
      expect(await store().get('alice', DOMAIN)).to.deep.equal({ version: 0, items: [] });
      expect(await store().changesSince('alice', DOMAIN, 0)).to.deep.equal({ version: 0, changes: [] });
      expect(await store().listRequests('alice', DOMAIN)).to.deep.equal([]);
      for (const table of ['roster_versions', 'roster_items', 'subscription_requests']) {
        const { rows } = await sql<{ username: string }>`select distinct username from ${sql.table(table)}`.execute(getDb().db);
        expect(rows.map((row) => row.username), table).to.deep.equal(table === 'subscription_requests' ? [] : ['bob']);
      }
      // A new account of the same name starts afresh.
      await createAccountStore(getDb().db).create({ username: 'alice', domain: DOMAIN, credentials: [] });
      expect(await store().put('alice', DOMAIN, item('carol@x'))).to.equal(1);
    });
  });
});
