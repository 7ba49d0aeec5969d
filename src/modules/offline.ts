// XEP-0160: Best Practices for Handling Offline Messages 1.0.1, with XEP-0203 Delayed
// Delivery 2.0 stamps. Chat and normal messages with content, for an account with no
// available resource, are committed before the sender's stanza counts as handled, and
// delivered in order at the next initial presence.
import { Element } from 'ltx';
import { HOOK_STOP, type HookResult } from '../core/hooks.js';
import { defineModule } from '../core/module.js';
import { parseStanza } from '../xml/parse-stanza.js';
import { NS_CHAT_STATES, NS_DELAY, NS_HINTS, NS_SID } from '../core/namespaces.js';
import { markArchived } from '../core/stanza-marks.js';
import { BIND2_FLAG } from '../core/bind-features.js';
import type { ClientSession } from '../core/sessions.js';

export const NS_OFFLINE = 'msgoffline';

/**
 * XEP-0160 §3: store messages that carry something for the user to read. Chat state
 * notifications alone are not worth keeping (XEP-0085 §5.6), and XEP-0334 hints are honoured.
 */
export function worthStoring(message: Element): boolean {
  let content = false;
  for (const child of message.children) {
    if (typeof child === 'string') continue;
    const ns = child.attrs.xmlns;
    if (ns === NS_HINTS) {
      if (child.name === 'no-store' || child.name === 'no-permanent-store') return false;
      if (child.name === 'store') content = true;
      continue;
    }
    if (ns === NS_CHAT_STATES) continue;
    if (child.name === 'thread' && ns === undefined) continue;
    content = true;
  }
  return content;
}

function hasStanzaIdBy(message: Element, by: string): boolean {
  for (const child of message.children) {
    if (typeof child !== 'string' && child.name === 'stanza-id' && child.attrs.xmlns === NS_SID && child.attrs.by === by) return true;
  }
  return false;
}

export const offlineModule = defineModule({
  name: 'offline',
  implements: 'XEP-0160 Offline Messages 1.0.1, XEP-0203 Delayed Delivery 2.0',
  hostFeatures: [NS_OFFLINE],
  setup(ctx) {
    const limit = ctx.config.limits.offlinePerAccount;
    const offline = ctx.stores.offline;
    const storedCount = ctx.metrics.counter('hearth_offline_messages_stored_total', 'Messages written to offline queues (XEP-0160).');
    const refusedCount = ctx.metrics.counter('hearth_offline_messages_refused_total', 'Offline messages refused because the queue was full.');

    ctx.hooks.on('message-undelivered', async ({ stanza, to }): Promise<HookResult> => {
      const type = stanza.attrs.type ?? 'normal';
      if ((type !== 'chat' && type !== 'normal') || !worthStoring(stanza)) {
        // Not stored, and not bounced either: there is nothing the sender needs to know.
        return type === 'chat' || type === 'normal' ? HOOK_STOP : undefined;
      }
      const stored = new Element('message');
      stored.attrs = Object.assign(Object.create(null) as Record<string, string>, stanza.attrs);
      stored.children = [...stanza.children];
      // XEP-0203 §3: when and where it was delayed.
      stored.c('delay', { xmlns: NS_DELAY, from: to.domain, stamp: new Date().toISOString() });
      // Full: refused, and the sender gets service-unavailable (the router's default).
      const accepted = await offline.push(to.local, to.domain, stored.toString(), limit);
      (accepted ? storedCount : refusedCount).inc();
      // The account had no available resource when the message was routed, but one may have
      // become available while the message was being stored, its initial presence reading the
      // queue before this row was committed: hand it over now, not at the next login.
      if (accepted) handOverIfWaiting(to.bareString());
      return accepted ? HOOK_STOP : undefined;
    });

    // The same for a message another node stored while a resource of the account became
    // available here: the database's change feed tells of the new row (on PGlite this process
    // is the only writer, and the feed says nothing).
    const stopListening = ctx.stores.changes.onChange('offline', (username, domain) => handOverIfWaiting(`${username}@${domain}`));
    ctx.hooks.on('server-stopping', () => stopListening());

    function handOverIfWaiting(bareJid: string): void {
      const waiting = ctx.sessions.ofAccount(bareJid).find((s) => s.node === null && s.available && s.priority >= 0);
      if (waiting) void deliverQueue(waiting).catch((err: unknown) => ctx.log.warn({ err }, 'delivering offline messages failed'));
    }

    ctx.hooks.on('session-bound', async ({ session }) => {
      // XEP-0386 §3.2: a client binding with Bind 2 catches up from the archive, so what the
      // archive holds leaves the offline queue unsent. Anything the archive does not hold
      // (the account's preferences keep it out) still comes at the initial presence.
      if (!session.flags.has(BIND2_FLAG)) return;
      const account = session.jid;
      await inOrder(account.bareString(), async () => {
        const messages = await offline.list(account.local, account.domain);
        const archived = messages.filter((message) => {
          const stanza = parseStanza(message.stanza);
          return stanza !== null && hasStanzaIdBy(stanza, account.bareString());
        });
        if (archived.length > 0) await offline.remove(account.local, account.domain, archived.map((message) => message.id));
      });
    });

    ctx.hooks.on('presence-initial', async ({ session }) => {
      // XEP-0160 §3: delivered when a resource becomes available with non-negative priority.
      if (session.priority < 0) return;
      await deliverQueue(session);
    });

    /** Per account, the last reader of its queue: readers that remove what they read run one after another. */
    const readers = new Map<string, Promise<void>>();

    function inOrder(key: string, work: () => Promise<void>): Promise<void> {
      const run = (readers.get(key) ?? Promise.resolve()).then(work);
      const settled = run.catch(() => undefined);
      readers.set(key, settled);
      void settled.then(() => {
        if (readers.get(key) === settled) readers.delete(key);
      });
      return run;
    }

    /** Hands the account's queue to the session, in order. */
    function deliverQueue(session: ClientSession): Promise<void> {
      return inOrder(session.jid.bareString(), () => deliverNow(session));
    }

    async function deliverNow(session: ClientSession): Promise<void> {
      const account = session.jid;
      const messages = await offline.list(account.local, account.domain);
      if (messages.length === 0) return;
      const delivered: number[] = [];
      for (const message of messages) {
        const stanza = parseStanza(message.stanza);
        if (stanza) {
          stanza.attrs.to = account.toString();
          // Stored after the archive gave it this account's stanza-id (XEP-0359; forged ones
          // are stripped on the way in): it is in the archive, and stream management's expiry
          // must not deliver it a second time (stanza-marks.ts).
          if (hasStanzaIdBy(stanza, account.bareString())) markArchived(stanza);
          session.deliver(stanza);
        }
        delivered.push(message.id);
      }
      // Removed only after they were handed to the stream (a crash in between redelivers
      // rather than loses), and before the next delivery to this account reads the queue.
      await offline.remove(account.local, account.domain, delivered);
    }
  },
});
