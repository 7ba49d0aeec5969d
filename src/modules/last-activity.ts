// XEP-0012: Last Activity, version 2.0 — the server's uptime, and an account's last logout for those who may see its presence.
import { Element } from 'ltx';
import { StanzaError } from '../core/errors.js';
import type { Jid } from '../core/jid.js';
import { defineModule } from '../core/module.js';
import type { ClientSession } from '../core/sessions.js';
import type { LastLogout } from '../storage/index.js';

export const NS_LAST = 'jabber:iq:last';
/** Hook priority of the logout recording (default 0). */
const RECORD_FIRST = 10;

function lastQuery(seconds: number, text: string | null = null): Element {
  const query = new Element('query', { xmlns: NS_LAST, seconds: String(Math.max(0, Math.floor(seconds))) });
  if (text) query.t(text);
  return query;
}

export const lastActivityModule = defineModule({
  name: 'last-activity',
  implements: 'XEP-0012 Last Activity 2.0',
  hostFeatures: [NS_LAST],
  accountFeatures: [NS_LAST],
  setup(ctx) {
    const { sessions, rosters, stores } = ctx;
    const startedAt = Date.now();
    /** Logouts being written, per account (chained, so they land in order); queries wait for them. */
    const writing = new Map<string, Promise<void>>();
    /** Sessions between available and unavailable presence, as this module saw them. */
    const available = new WeakSet<ClientSession>();

    const hasAvailable = (bare: string) => sessions.ofAccount(bare).some((s) => s.available);

    function recordLogout(account: Jid, logout: LastLogout): void {
      const key = account.bareString();
      const previous = writing.get(key) ?? Promise.resolve();
      const next = previous.then(async () => {
        try {
          await stores.lastActivity.record(account.local, account.domain, logout);
        } catch (err) {
          ctx.log.error({ err }, 'recording the last logout failed');
        }
      });
      writing.set(key, next);
      void next.then(() => {
        if (writing.get(key) === next) writing.delete(key);
      });
    }

    // §5: to the server, its uptime.
    ctx.iq.register(`iq-get/host/${NS_LAST}`, () => lastQuery((Date.now() - startedAt) / 1000));

    // §3: to a bare JID, answered by the server on the account's behalf (an iq to a full JID
    // is the client's to answer, §4, and the router delivers it there).
    ctx.iq.register(`iq-get/bare/${NS_LAST}`, async ({ from, to, self }) => {
      if (!self) {
        // §3, §8: only those allowed to see the account's presence (a subscription from/both).
        const item = await rosters.item(to, from.bareString());
        if (!item || (item.subscription !== 'from' && item.subscription !== 'both')) {
          throw new StanzaError('forbidden', 'only contacts subscribed to the presence of this account may see its last activity');
        }
      }
      // §3: an account with an available resource has been active 0 seconds ago.
      const key = to.bareString();
      if (hasAvailable(key)) return lastQuery(0);
      await writing.get(key);
      const last = await stores.lastActivity.get(to.local, to.domain);
      if (!last) throw new StanzaError('item-not-found', 'no logout of this account is known');
      return lastQuery((Date.now() - last.at.getTime()) / 1000, last.status);
    });

    // Both hooks run first (synchronously, at a higher priority than the presence module's):
    // whoever sees the account go offline and asks at once finds the logout recorded or
    // being written, which the query waits for.

    // The account goes offline when its last available resource sends unavailable presence
    // (with the status text the XEP returns)…
    ctx.hooks.on('presence-broadcast', ({ session, stanza }) => {
      const type = stanza.attrs.type;
      if (type === undefined) available.add(session);
      // Only a resource that was available goes offline (a presence-less session does not count).
      if (type !== 'unavailable' || !available.delete(session)) return;
      if (hasAvailable(session.jid.bareString())) return;
      recordLogout(session.jid.bare, { at: new Date(), status: statusOf(stanza) });
    }, RECORD_FIRST);

    // A session that arrives from another cluster node (XEP-0198 resumption there) is bound
    // here already available (a session binding here is not).
    ctx.hooks.on('session-bound', ({ session }) => {
      if (session.available) available.add(session);
    });

    // …or when its last available session ends without one (RFC 6121 §4.5.2: the server's
    // unavailable presence has no status). A session that was unavailable when it ended
    // was recorded when it went unavailable.
    ctx.hooks.on('session-closed', ({ session, wasAvailable }) => {
      if (!wasAvailable || hasAvailable(session.jid.bareString())) return;
      recordLogout(session.jid.bare, { at: new Date(), status: null });
    }, RECORD_FIRST);
  },
});

/** The status text of a presence: the first <status/> (RFC 6121 §4.7.2.2), or null. */
function statusOf(stanza: Element): string | null {
  const text = stanza.getChildText('status');
  return text === null || text === '' ? null : text;
}
