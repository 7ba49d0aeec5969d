// XEP-0077 §3.2: a user cancels its own account. Everything the account owned goes, in every
// table of the schema (found from the database's catalogue, so a table added later is
// checked too); its contacts' subscriptions end; its sessions close with not-authorized after
// the reply; and its name stays a tombstone that registration and invitations refuse.
import { expect } from 'chai';
import { sql } from 'kysely';
import { acknowledgeRosterPushes, collectStanzas, connect, nextStreamError, roundTrip, stopQuietly, waitForStanza, xml, type Client } from '../helpers/xmpp-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { NS_REGISTER, registerOnce } from './helpers.js';

const HOST = '127.0.0.193';
const DOMAIN = 'leave.hearth.example';
const GONE = `gone@${DOMAIN}`;
const PASSWORD = 'gone long password';

/**
 * Columns where another owner may keep the address of a deleted account as its own data: a
 * contact's roster item (its subscription ended) and a contact's archive of their chats.
 * Everything else naming the account must be gone.
 */
const OTHERS_DATA = new Set(['roster_items.contact', 'archive_messages.with_jid']);

async function iq(client: Client, type: 'get' | 'set', payload: ReturnType<typeof xml>, to?: string) {
  return client.iqCaller.request(xml('iq', { type, ...(to ? { to } : {}) }, payload));
}

describe('account removal over XEP-0077', function () {
  this.timeout(60_000);
  let ts: TestServer;

  before(async function () {
    ts = await startTestServer({ host: HOST, domain: DOMAIN, config: { registration: { mode: 'open' } } });
  });
  after(async () => ts?.stop());

  /** Rows that name the account, per table.column, found from the catalogue. */
  async function rowsNaming(local: string, domain: string): Promise<Record<string, number>> {
    const db = ts.database.db;
    const { rows: columns } = await sql<{ table_name: string; column_name: string }>`
      select c.table_name, c.column_name from information_schema.columns c
      join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
      where c.table_schema = current_schema() and t.table_type = 'BASE TABLE'
        and c.data_type in ('text', 'character varying') and c.table_name not like 'kysely\\_%'
      order by c.table_name, c.column_name`.execute(db);
    const byTable = new Map<string, Set<string>>();
    for (const { table_name, column_name } of columns) (byTable.get(table_name) ?? byTable.set(table_name, new Set()).get(table_name)!).add(column_name);
    expect([...byTable.keys()], 'the catalogue lists the schema').to.include.members(['accounts', 'roster_items', 'invites', 'account_tombstones']);
    const found: Record<string, number> = {};
    const bare = `${local}@${domain}`;
    for (const [table, names] of byTable) {
      for (const column of names) {
        let query;
        if (column.endsWith('username')) {
          // (domain, username) keys, owner_domain/owner_username, contact_username beside domain.
          const domainColumn = names.has(column.replace(/username$/, 'domain')) ? column.replace(/username$/, 'domain') : names.has('domain') ? 'domain' : null;
          if (!domainColumn) continue;
          query = sql<{ n: number }>`select count(*)::int as n from ${sql.id(table)} where ${sql.ref(column)} = ${local} and ${sql.ref(domainColumn)} = ${domain}`;
        } else {
          // Addresses: the bare JID, or a full JID of it.
          query = sql<{ n: number }>`select count(*)::int as n from ${sql.id(table)} where ${sql.ref(column)} = ${bare} or ${sql.ref(column)} like ${`${bare}/%`}`;
        }
        const n = (await query.execute(db)).rows[0]!.n;
        if (n > 0) found[`${table}.${column}`] = n;
      }
    }
    return found;
  }

  it('deletes everything the account owned, ends its subscriptions and sessions, and keeps its name from registration', async function () {
    await ts.addUser('friend', 'friend password');
    await ts.addUser('stranger', 'stranger password');
    // Registered with an invitation that makes it an administrator and friend's contact.
    const invite = await ts.server.services.invites.create({ admin: true, contact: `friend@${DOMAIN}` });
    expect((await registerOnce(ts, 'gone', PASSWORD, invite.token)).type).to.equal('result');
    // An invitation with gone as the contact, still pending.
    await ts.server.services.invites.create({ contact: GONE });

    let friend: Client | undefined;
    let gone: Client | undefined;
    let stranger: Client | undefined;
    try {
      friend = acknowledgeRosterPushes(await connect(ts, 'friend', 'friend password'));
      const friendInbox = collectStanzas(friend);
      await iq(friend, 'get', xml('query', { xmlns: 'jabber:iq:roster' }));
      await friend.send(xml('presence'));
      gone = await connect(ts, 'gone', PASSWORD);
      const goneInbox = collectStanzas(gone);
      await iq(gone, 'set', xml('vCard', { xmlns: 'vcard-temp' }, xml('FN', {}, 'Soon Gone')));
      await iq(gone, 'set', xml('query', { xmlns: 'jabber:iq:private' }, xml('prefs', { xmlns: 'gone:prefs' }, 'x')));
      await iq(gone, 'set', xml('pubsub', { xmlns: 'http://jabber.org/protocol/pubsub' },
        xml('publish', { node: 'http://jabber.org/protocol/tune' }, xml('item', { id: 'current' }, xml('tune', { xmlns: 'http://jabber.org/protocol/tune' }, xml('title', {}, 'Farewell'))))));
      await iq(gone, 'set', xml('block', { xmlns: 'urn:xmpp:blocking' }, xml('item', { jid: 'spammer@elsewhere.example' })));
      await iq(gone, 'set', xml('prefs', { xmlns: 'urn:xmpp:mam:2', default: 'roster' }));
      await gone.send(xml('presence'));
      await gone.send(xml('message', { to: `friend@${DOMAIN}`, type: 'chat', id: 'm2' }, xml('body', {}, 'hello friend')));
      // A room gone owns, and a message in it.
      const room = `farewell@conference.${DOMAIN}`;
      await gone.send(xml('presence', { to: `${room}/gone` }, xml('x', { xmlns: 'http://jabber.org/protocol/muc' })));
      await waitForStanza(goneInbox, (el) => el.is('presence') && el.attrs.from === `${room}/gone`, 'the room');
      await iq(gone, 'set', xml('query', { xmlns: 'http://jabber.org/protocol/muc#owner' }, xml('x', { xmlns: 'jabber:x:data', type: 'submit' },
        xml('field', { var: 'FORM_TYPE' }, xml('value', {}, 'http://jabber.org/protocol/muc#roomconfig')),
        xml('field', { var: 'muc#roomconfig_persistentroom' }, xml('value', {}, '1')))), room);
      await gone.send(xml('message', { to: room, type: 'groupchat' }, xml('body', {}, 'last words')));
      await waitForStanza(friendInbox, (el) => el.is('message') && el.getChildText('body') === 'hello friend', 'gone\'s message');

      // A subscription request gone never answers.
      stranger = acknowledgeRosterPushes(await connect(ts, 'stranger', 'stranger password'));
      await stranger.send(xml('presence', { to: GONE, type: 'subscribe' }));
      await roundTrip(stranger);
      await waitForStanza(goneInbox, (el) => el.is('presence') && el.attrs.type === 'subscribe', 'the request');

      // A first session ended: last activity is recorded.
      await stopQuietly(gone);
      gone = await connect(ts, 'gone', PASSWORD);
      await roundTrip(gone);
      // This session sent no presence: a message waits offline (the first one was delivered).
      await friend.send(xml('message', { to: GONE, type: 'chat', id: 'm3' }, xml('body', {}, 'are you there?')));
      await roundTrip(friend);

      const before = await rowsNaming('gone', DOMAIN);
      for (const expected of ['accounts.username', 'scram_credentials.username', 'roster_items.username', 'roster_versions.username', 'subscription_requests.username',
        'offline_messages.username', 'archive_messages.username', 'archive_prefs.username', 'last_activity.username', 'blocklist_items.username', 'private_storage.username',
        'vcards.username', 'pubsub_nodes.owner_username', 'pubsub_nodes.service', 'pubsub_items.publisher', 'muc_affiliations.jid', 'server_admins.username', 'invites.contact_username']) {
        expect(before, `before the removal, ${expected} names the account`).to.have.property(expected);
      }

      // The removal, over XEP-0077: the reply first, then the stream ends.
      const streamError = nextStreamError(gone, 5_000);
      const reply = await iq(gone, 'set', xml('query', { xmlns: NS_REGISTER }, xml('remove')));
      expect(reply.attrs.type).to.equal('result');
      expect(await streamError).to.equal('not-authorized');

      // RFC 6121 §3.2, §3.3: friend's subscription with gone ended, with a roster push.
      await waitForStanza(friendInbox, (el) => el.is('iq') && el.attrs.type === 'set' && el.getChild('query', 'jabber:iq:roster')?.getChild('item')?.attrs.subscription === 'none', 'friend\'s roster push');
    } finally {
      await stopQuietly(friend);
      await stopQuietly(gone);
      await stopQuietly(stranger);
    }

    const after = await rowsNaming('gone', DOMAIN);
    expect(after['account_tombstones.username'], 'the tombstone').to.equal(1);
    const left = Object.keys(after).filter((key) => key !== 'account_tombstones.username' && !OTHERS_DATA.has(key));
    expect(left, 'rows naming the account after its removal').to.deep.equal([]);
    // What others keep is theirs: their roster items, with no subscription left.
    const { rows } = await sql<{ username: string; subscription: string; pending_out: boolean; removed: boolean }>`
      select username, subscription, pending_out, removed from roster_items where contact = ${GONE} order by username`.execute(ts.database.db);
    expect(rows.map((r) => r.username)).to.not.include('gone');
    for (const row of rows) expect([row.username, row.subscription, row.pending_out], row.username).to.deep.equal([row.username, 'none', false]);

    // The name is kept from registration and from invitations; an operator may still create it.
    const again = await registerOnce(ts, 'gone', 'another long password');
    expect(again.condition).to.equal('conflict');
    expect(again.text).to.match(/deleted recently/);
    const pinned = await ts.server.services.invites.create({ account: GONE }).then(() => 'minted', (err: Error) => err.message);
    expect(pinned).to.match(/reuseDelayDays/);
    await ts.addUser('gone', 'the operator decided');
    await stopQuietly(await connect(ts, 'gone', 'the operator decided'));
  });

  it('refuses a removal that is not alone in the query, and one for someone else', async function () {
    await ts.addUser('stays', 'stays password');
    await ts.addUser('target', 'target password');
    const stays = await connect(ts, 'stays', 'stays password');
    try {
      const outcome = (payload: ReturnType<typeof xml>, to?: string) => iq(stays, 'set', payload, to).then(() => 'result', (err: { condition?: string }) => err.condition);
      expect(await outcome(xml('query', { xmlns: NS_REGISTER }, xml('remove'), xml('username', {}, 'stays')))).to.equal('bad-request');
      expect(await outcome(xml('query', { xmlns: NS_REGISTER }, xml('remove')), `target@${DOMAIN}`)).to.equal('service-unavailable');
      await roundTrip(stays);
    } finally {
      await stopQuietly(stays);
    }
    expect(await ts.server.stores.accounts.exists('stays', DOMAIN)).to.equal(true);
    expect(await ts.server.stores.accounts.exists('target', DOMAIN)).to.equal(true);
  });
});
