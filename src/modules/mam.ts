// XEP-0313 Message Archive Management 1.1.3, with XEP-0359 Unique and Stable Stanza IDs 0.7,
// XEP-0059 Result Set Management 1.0, XEP-0431 Full Text Search in MAM 0.2 and XEP-0441
// Message Archive Management Preferences 0.2.
//
// Every archivable message is archived once in each local account's archive: when the
// account receives it (message-inbound: the recipient sees a <stanza-id by='its bare JID'/>)
// and when one of its clients sends it (message-outbound). Ids come from a clock in memory
// and the rows are group-committed; the message path never waits for the database, and
// stream management acknowledges the sender's stanza once the rows are committed (durable).
import { Element } from 'ltx';
import { StanzaError } from '../core/errors.js';
import { tryParseJid, type Jid } from '../core/jid.js';
import type { Logger } from 'pino';
import { mucDomains } from '../config.js';
import { defineModule } from '../core/module.js';
import { markArchived } from '../core/stanza-marks.js';
import type { ArchiveEntry, ArchiveFilter, ArchiveStore, ArchiveType } from '../storage/index.js';
import { archiveIdTime, ArchiveClock, firstIdAt, formatArchiveId, lastIdAt } from './mam/clock.js';
import { NS_FULLTEXT, NS_MAM, parseQueryForm, queryFormElement } from './mam/form.js';
import { decide, parsePrefs, PrefsCache, prefsElement } from './mam/prefs.js';
import { ArchiveRetention } from './mam/retention.js';
import { parseRsm, rsmResult } from './mam/rsm.js';
import { NS_DELAY, NS_FORWARD, NS_HINTS, NS_SID } from '../core/namespaces.js';
import { NS_CLIENT } from '../core/stanza.js';

export { NS_MAM } from './mam/form.js';
export const NS_MAM_EXTENDED = 'urn:xmpp:mam:2#extended';
/** XEP-0313 §7: the include-groupchat field is understood, and groupchat messages are stored. */
export const NS_MAM_GROUPCHAT_FIELD = 'urn:xmpp:mam:2#groupchat-field';
export const NS_MAM_GROUPCHAT_AVAILABLE = 'urn:xmpp:mam:2#groupchat-available';

/**
 * Archive rows waiting for the database beyond which the message path waits too: a server
 * receiving more than its database can archive slows down instead of queueing without bound.
 */
const MAX_BACKLOG = 20_000;

/**
 * XEP-0313 §4.3 makes RSM <count/> and <first index/> optional. Counting costs a scan of every
 * matching row (10,000 for one contact of a busy archive: more than the page itself), so a
 * page carries them only when it holds the whole result; a count request (<max>0</max>)
 * counts up to this many.
 */
const COUNT_LIMIT = 100_000;

/**
 * XEP-0313 §6.1.1 (user archives): chat and normal messages with a body, or with an
 * XEP-0334 <store/> hint; never with <no-store/> or <no-permanent-store/>; no errors and no
 * headlines. Groupchat messages that reach the account are kept (as type groupchat), but a
 * groupchat message a client sends to a room is archived when the room reflects it.
 */
export function archiveType(stanza: Element, outgoing: boolean): ArchiveType | null {
  const type = stanza.attrs.type ?? 'normal';
  if (type !== 'chat' && type !== 'normal' && type !== 'groupchat') return null;
  if (type === 'groupchat' && outgoing) return null;
  let keep = false;
  for (const child of stanza.children) {
    if (typeof child === 'string') continue;
    const ns = child.attrs.xmlns;
    if (ns === NS_HINTS) {
      if (child.name === 'no-store' || child.name === 'no-permanent-store') return null;
      if (child.name === 'store') keep = true;
    } else if (child.name === 'body' && (ns === undefined || ns === NS_CLIENT)) {
      keep = true;
    }
  }
  return keep ? type : null;
}

/**
 * XEP-0359 §6: a <stanza-id/> claiming to come from the archive of `account` can only be a
 * forgery when it arrives from outside; it goes, whether the message is archived or not.
 */
export function stripOwnStanzaIds(stanza: Element, account: Jid): void {
  const own = account.bareString();
  let found = false;
  for (const child of stanza.children) {
    if (typeof child !== 'string' && child.name === 'stanza-id' && child.attrs.xmlns === NS_SID && sameBare(child.attrs.by, own)) {
      found = true;
      break;
    }
  }
  // Others' ids (a room's) stay, and so does the array: copies of one stanza share it.
  if (!found) return;
  // A new array: delivery copies of the stanza may share the old one (readdress()).
  stanza.children = stanza.children.filter(
    (child) => typeof child === 'string' || child.name !== 'stanza-id' || child.attrs.xmlns !== NS_SID || !sameBare(child.attrs.by, own),
  );
}

function sameBare(by: string | undefined, own: string): boolean {
  if (by === undefined) return false;
  if (by === own) return true;
  // Case and other variants of the same address (RFC 7622 normalisation).
  const lower = by.toLowerCase();
  return lower === own || lower.split('/')[0] === own;
}

/**
 * An archived message written out as stored, without parsing it again: the text is Hearth's
 * own serialisation (ltx: double-quoted, escaped attributes) of a stanza it accepted. Inside
 * <forwarded/> it must carry its own namespace (XEP-0297 §3): jabber:client.
 */
class StoredMessage extends Element {
  constructor(private readonly xml: string) {
    super('message', { xmlns: NS_CLIENT });
  }

  override write(writer: (chunk: string) => void): void {
    writer(this.xml);
  }
}

function storedMessage(text: string): Element | null {
  const end = text.indexOf('>');
  if (!text.startsWith('<message') || end < 0 || !/[\s/>]/.test(text.charAt(8))) return null;
  const startTag = text.slice(8, end).replace(/ xmlns="[^"]*"/, '');
  return new StoredMessage(`<message xmlns="${NS_CLIENT}"${startTag}${text.slice(end)}`);
}

function bodyText(stanza: Element): string | null {
  for (const child of stanza.children) {
    if (typeof child !== 'string' && child.name === 'body' && (child.attrs.xmlns === undefined || child.attrs.xmlns === NS_CLIENT)) {
      return child.getText();
    }
  }
  return null;
}

export const mamModule = defineModule({
  name: 'mam',
  implements:
    'XEP-0313 Message Archive Management 1.1.3, XEP-0359 Unique and Stable Stanza IDs 0.7, XEP-0059 Result Set Management 1.0, ' +
    'XEP-0431 Full Text Search in MAM 0.2, XEP-0441 Message Archive Management Preferences 0.2',
  hostFeatures: [NS_SID],
  accountFeatures: [NS_MAM, NS_MAM_EXTENDED, NS_MAM_GROUPCHAT_FIELD, NS_MAM_GROUPCHAT_AVAILABLE, NS_FULLTEXT, NS_SID],
  setup(ctx) {
    const store = ctx.stores.archive;
    const clock = new ArchiveClock();
    const prefs = new PrefsCache(store, ctx.config.mam.defaultPolicy);
    const archivedCount = ctx.metrics.counter('hearth_archive_messages_total', 'Messages written to message archives (XEP-0313).');
    const queryCount = ctx.metrics.counter('hearth_archive_queries_total', 'Message archive queries answered (XEP-0313).');
    const { maxPageSize } = ctx.config.mam;
    const defaultPageSize = Math.min(ctx.config.mam.defaultPageSize, maxPageSize);

    /** XEP-0441: archive what `account` exchanges with `contact`? Synchronous when it can be. */
    const wanted = (account: Jid, contact: Jid): boolean | Promise<boolean> => {
      const known = prefs.peek(account);
      const verdict = known ? decide(known, contact) : null;
      if (verdict === true || verdict === false) return verdict;
      const resolve = async (): Promise<boolean> => {
        const outcome = verdict ?? decide(await prefs.load(account), contact);
        if (outcome !== 'roster') return outcome;
        return (await ctx.rosters.item(account, contact.bareString())) !== null;
      };
      return resolve();
    };

    const archive = (entry: Omit<ArchiveEntry, 'stanza' | 'body'>, stanza: Element, durable: Promise<unknown>[]): void => {
      const written = store.append({ ...entry, stanza: stanza.toString(), body: bodyText(stanza) });
      durable.push(
        written.then((stored) => {
          if (!stored) return;
          archivedCount.inc();
          // Only the recipient's copy counts for stream management's expiry (stanza-marks.ts).
          if (!entry.outgoing) markArchived(stanza);
        }),
      );
    };

    const archiveInbound = (stanza: Element, account: Jid, contact: Jid, type: ArchiveType, durable: Promise<unknown>[]): void => {
      const id = clock.next();
      // XEP-0359 §3: the recipient sees the archive's id, by the archive's JID.
      const sid = new Element('stanza-id', { xmlns: NS_SID, by: account.bareString(), id: formatArchiveId(id) });
      sid.parent = stanza;
      stanza.children = [...stanza.children, sid];
      archive({ username: account.local, domain: account.domain, id, with: contact.bareString(), withResource: contact.resource, outgoing: false, type }, stanza, durable);
    };

    /** Backpressure, only when the database falls behind; otherwise nothing to wait for. */
    const pace = (): Promise<void> | undefined => (store.backlog() > MAX_BACKLOG ? store.below(MAX_BACKLOG / 2) : undefined);

    // Rooms of this server keep their own archives (XEP-0313 on the room's JID): what they
    // send to occupants is read there, not stored again once per occupant.
    const localRooms = new Set(mucDomains(ctx.config));

    ctx.hooks.on('message-inbound', ({ stanza, from, to, durable }) => {
      const account = to.bare;
      stripOwnStanzaIds(stanza, account);
      const type = archiveType(stanza, false);
      if (type === null || (type === 'groupchat' && localRooms.has(from.domain))) return;
      const yes = wanted(account, from);
      if (yes === true) {
        archiveInbound(stanza, account, from, type, durable);
        return pace();
      } else if (yes !== false) {
        return yes.then(
          (archiveIt) => {
            if (archiveIt) archiveInbound(stanza, account, from, type, durable);
          },
          (err: unknown) => ctx.log.error({ err }, 'archive preferences unavailable; message not archived'),
        );
      }
    });

    ctx.hooks.on('message-outbound', ({ stanza, session, to, durable }) => {
      const account = session.jid.bare;
      // To its own account: archived once, as received (message-inbound).
      if (to.local === account.local && to.domain === account.domain) return;
      const type = archiveType(stanza, true);
      if (type === null) return;
      const outbound = () => archive({ username: account.local, domain: account.domain, id: clock.next(), with: to.bareString(), withResource: to.resource, outgoing: true, type }, stanza, durable);
      const yes = wanted(account, to);
      if (yes === true) {
        outbound();
        return pace();
      } else if (yes !== false) {
        // The message must be serialised now: later hooks (the recipient's archive) add to it.
        const snapshot = new Element('message');
        snapshot.attrs = { ...stanza.attrs };
        snapshot.children = [...stanza.children];
        return yes.then(
          (archiveIt) => {
            if (archiveIt) archive({ username: account.local, domain: account.domain, id: clock.next(), with: to.bareString(), withResource: to.resource, outgoing: true, type }, snapshot, durable);
          },
          (err: unknown) => ctx.log.error({ err }, 'archive preferences unavailable; message not archived'),
        );
      }
    });

    // Sessions of an account usually send soon after they bind: know its preferences by then.
    ctx.hooks.on('session-bound', ({ session }) => {
      prefs.load(session.jid.bare).catch((err: unknown) => ctx.log.warn({ err }, 'loading archive preferences failed'));
    });
    ctx.hooks.on('account-deleted', ({ jid }) => prefs.forget(jid));
    ctx.caches.onRemoteChange('archive-prefs', (key) => {
      const jid = tryParseJid(key);
      if (jid) prefs.forget(jid);
    });

    ctx.iq.register(`iq-set/bare/${NS_MAM}`, async (request) => {
      // XEP-0313 §8.1: an archive is its owner's only.
      if (!request.self) throw new StanzaError('forbidden', 'only the owner may use an archive');
      const { payload } = request;
      if (payload.name === 'query') {
        const session = request.origin.kind === 'c2s' ? request.origin.session : ctx.sessions.get(request.from);
        return answerArchiveQuery({
          store,
          owner: request.from.bare,
          requester: request.from,
          payload,
          deliver: (message) => session?.deliver(message),
          limits: { maxPageSize, defaultPageSize, queryCount },
          log: ctx.log,
        });
      }
      if (payload.name === 'prefs') {
        const account = request.from.bare;
        const next = parsePrefs(payload);
        if (!(await prefs.set(account, next))) throw new StanzaError('item-not-found');
        ctx.caches.changed('archive-prefs', account.bareString());
        return prefsElement(next);
      }
      throw new StanzaError('bad-request', `unexpected <${payload.name}/>`);
    });

    ctx.iq.register(`iq-get/bare/${NS_MAM}`, async ({ self, from, payload }) => {
      if (!self) throw new StanzaError('forbidden', 'only the owner may use an archive');
      const account = from.bare;
      switch (payload.name) {
        case 'query':
          return queryFormElement();
        case 'prefs':
          return prefsElement(await prefs.load(account));
        case 'metadata':
          return archiveMetadata(account);
        default:
          throw new StanzaError('bad-request', `unexpected <${payload.name}/>`);
      }
    });

    /** XEP-0313 §5: the first and last messages; an empty archive has neither. */
    async function archiveMetadata(account: Jid): Promise<Element> {
      const metadata = new Element('metadata', { xmlns: NS_MAM });
      const bounds = await store.bounds(account.local, account.domain);
      if (bounds) {
        metadata.c('start', { id: formatArchiveId(bounds.first), timestamp: archiveIdTime(bounds.first).toISOString() });
        metadata.c('end', { id: formatArchiveId(bounds.last), timestamp: archiveIdTime(bounds.last).toISOString() });
      }
      return metadata;
    }
    // XEP-0386 §3.2: the archive's state at the moment of binding, for the client's catch-up.
    ctx.bindFeatures.addBoundInfo((session) => archiveMetadata(session.jid.bare));

    const retention = ctx.config.mam.retentionDays > 0
      ? new ArchiveRetention(store, { days: ctx.config.mam.retentionDays, intervalMs: ctx.config.mam.retentionIntervalS * 1000, pauseMs: 10 }, ctx.log)
      : null;
    retention?.start();
    ctx.hooks.on('server-stopping', async () => {
      await retention?.stop();
      await store.flush();
    });
  },
});

export interface ArchiveQueryLimits {
  maxPageSize: number;
  defaultPageSize: number;
  queryCount: { inc(): void };
}

export interface ArchiveQuery {
  /** The archive's store: accounts' or rooms' (they share this code). */
  store: ArchiveStore;
  /** Whose archive: an account's or a room's bare JID. */
  owner: Jid;
  /** Who asked (the results go to this full JID). */
  requester: Jid;
  payload: Element;
  /** Hands one result message on to the requester. */
  deliver: (message: Element) => void;
  limits: ArchiveQueryLimits;
  /** A room's archive holds groupchat messages only, and a query always includes them. */
  room?: boolean;
  log: Logger;
}

/** XEP-0313 §4: one query: the results as messages to the querying resource, then <fin/>. */
export async function answerArchiveQuery(request: ArchiveQuery): Promise<Element> {
  const { payload, store, limits, owner: ownerJid } = request;
  const from = request.requester;
  if (payload.attrs.node !== undefined) throw new StanzaError('item-not-found', 'this archive has no nodes');
  const form = parseQueryForm(payload);
  const rsm = parseRsm(payload);
  const flip = payload.getChild('flip-page') !== undefined;
  // XEP-0313 §4.3: a larger page than the server allows is capped, not refused.
  const max = Math.min(rsm.max ?? limits.defaultPageSize, limits.maxPageSize);

  // §4.1.3, §4.3: every id the client names must be in the archive.
  const named = [form.afterId, form.beforeId, rsm.after, rsm.before, ...(form.ids ?? [])].filter((id): id is bigint => id !== undefined);
  if (named.length > 0) {
    const found = await store.existing(ownerJid.local, ownerJid.domain, named);
    if (named.some((id) => !found.has(id))) throw new StanzaError('item-not-found', 'no such message in the archive');
  }

  const filter: ArchiveFilter = { includeGroupchat: request.room === true || form.includeGroupchat };
  if (form.with) filter.with = form.with;
  if (form.ids) filter.ids = form.ids;
  if (form.fulltext !== undefined) filter.fulltext = form.fulltext;
  const lower = [form.start !== undefined ? firstIdAt(form.start) : undefined, form.afterId !== undefined ? form.afterId + 1n : undefined];
  const upper = [form.end !== undefined ? lastIdAt(form.end) : undefined, form.beforeId !== undefined ? form.beforeId - 1n : undefined];
  for (const bound of lower) if (bound !== undefined && (filter.minId === undefined || bound > filter.minId)) filter.minId = bound;
  for (const bound of upper) if (bound !== undefined && (filter.maxId === undefined || bound < filter.maxId)) filter.maxId = bound;

  const page = await store.page(ownerJid.local, ownerJid.domain, {
    filter,
    after: rsm.after,
    before: rsm.before,
    backward: rsm.last,
    max,
    countLimit: max === 0 ? COUNT_LIMIT : 0,
  });
  limits.queryCount.inc();

  const queryId = payload.attrs.queryid;
  const owner = ownerJid.bareString();
  const items = flip ? [...page.items].reverse() : page.items;
  for (const item of items) {
    const original = storedMessage(item.stanza);
    if (!original) {
      request.log.warn({ id: String(item.id) }, 'an archived message is not a message; left out');
      continue;
    }
    const id = formatArchiveId(item.id);
    const message = new Element('message', { to: from.toString(), from: owner, id: `mam-${id}` });
    const result = message.c('result', queryId !== undefined ? { xmlns: NS_MAM, queryid: queryId, id } : { xmlns: NS_MAM, id });
    const forwarded = result.c('forwarded', { xmlns: NS_FORWARD });
    forwarded.c('delay', { xmlns: NS_DELAY, stamp: archiveIdTime(item.id).toISOString() });
    forwarded.cnode(original);
    request.deliver(message);
  }

  // §4.3: complete when the page reaches the end of the results in its direction.
  const fin = new Element('fin', page.complete ? { xmlns: NS_MAM, complete: 'true' } : { xmlns: NS_MAM });
  fin.cnode(rsmResult(page.items[0]?.id, page.items[page.items.length - 1]?.id, page.count, page.index));
  return fin;
}
