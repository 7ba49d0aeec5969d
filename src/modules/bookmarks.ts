// XEP-0402 PEP Native Bookmarks 1.1 with the compatibility of its §5: one bookmark per item
// of the urn:xmpp:bookmarks:1 node (item id = room JID, whitelist access), and what XEP-0048
// clients store (in XEP-0049 private storage: #compat; in the storage:bookmarks PEP node:
// #compat-pep) read and written as views of that node, so every client sees the same rooms.
import { Element, parse } from 'ltx';
import { StanzaError } from '../core/errors.js';
import { tryParseJid, type Jid } from '../core/jid.js';
import { defineModule } from '../core/module.js';
import { NS_PUBSUB_EVENT } from '../services/pep/engine.js';
import { NS_PUBLISH_OPTIONS } from '../services/pep/node-config.js';
import { formElement } from '../xml/data-form.js';
import { MAX_PRIVATE_NAMESPACES } from './private-storage.js';

export const NS_BOOKMARKS = 'urn:xmpp:bookmarks:1';
/** XEP-0048: the legacy format, one <storage/> with every bookmark. */
export const NS_LEGACY_BOOKMARKS = 'storage:bookmarks';

/** XEP-0402 §3: the node's configuration, as publish-options. */
function bookmarkOptions(): Element {
  return formElement('submit', NS_PUBLISH_OPTIONS, [
    { var: 'pubsub#persist_items', values: ['true'] },
    { var: 'pubsub#max_items', values: ['max'] },
    { var: 'pubsub#send_last_published_item', values: ['never'] },
    { var: 'pubsub#access_model', values: ['whitelist'] },
  ]);
}

/** What a bookmark says, in either format. */
interface Bookmark {
  name?: string;
  autojoin: boolean;
  nick?: string;
  password?: string;
  /** Elements of other namespaces (XEP-0402 <extensions/>, children of a XEP-0048 conference). */
  extensions: Element[];
}

const isTrue = (value: unknown) => value === 'true' || value === '1';

function fromConference(conference: Element, extensionsIn: Element | undefined): Bookmark {
  const name = conference.attrs.name;
  return {
    name: typeof name === 'string' && name !== '' ? name : undefined,
    autojoin: isTrue(conference.attrs.autojoin),
    nick: conference.getChildText('nick') ?? undefined,
    password: conference.getChildText('password') ?? undefined,
    extensions: (extensionsIn ?? conference).getChildElements().filter((c) => extensionsIn !== undefined || (c.name !== 'nick' && c.name !== 'password' && c.name !== 'extensions')),
  };
}

/** The XEP-0402 payload (§3), built the same way every time so that equal bookmarks compare equal. */
function toItemPayload(bookmark: Bookmark): Element {
  const conference = new Element('conference', { xmlns: NS_BOOKMARKS, name: bookmark.name, autojoin: bookmark.autojoin ? 'true' : undefined });
  if (bookmark.nick !== undefined) conference.c('nick').t(bookmark.nick);
  if (bookmark.password !== undefined) conference.c('password').t(bookmark.password);
  if (bookmark.extensions.length > 0) {
    const extensions = conference.c('extensions');
    for (const extension of bookmark.extensions) extensions.cnode(extension);
  }
  return conference;
}

/** A XEP-0048 <conference/> for a room. */
function toLegacyConference(jid: string, bookmark: Bookmark): Element {
  const conference = new Element('conference', { jid, name: bookmark.name, autojoin: bookmark.autojoin ? 'true' : 'false' });
  if (bookmark.nick !== undefined) conference.c('nick').t(bookmark.nick);
  if (bookmark.password !== undefined) conference.c('password').t(bookmark.password);
  for (const extension of bookmark.extensions) conference.cnode(extension);
  return conference;
}

export const bookmarksModule = defineModule({
  name: 'bookmarks',
  implements: 'XEP-0402 PEP Native Bookmarks 1.1 (§5 compatibility with XEP-0048 via XEP-0049 and PEP)',
  accountFeatures: [`${NS_BOOKMARKS}#compat`, `${NS_BOOKMARKS}#compat-pep`],
  setup(ctx) {
    const { pep } = ctx;
    const privateStore = ctx.stores.privateStorage;
    /** Accounts whose legacy list is being applied: one legacy notification at the end, not one per item. */
    const applying = new Set<string>();

    /** The XEP-0402 items of an account, by room JID. */
    async function bookmarks(owner: Jid): Promise<Map<string, Bookmark>> {
      const found = new Map<string, Bookmark>();
      if (!(await pep.node(owner, NS_BOOKMARKS))) return found;
      for (const item of await pep.items(owner, owner, NS_BOOKMARKS, {})) {
        if (item.payload.name === 'conference' && item.payload.attrs.xmlns === NS_BOOKMARKS) {
          found.set(item.id, fromConference(item.payload, item.payload.getChild('extensions')));
        }
      }
      return found;
    }

    /** XEP-0048's <storage/>: the XEP-0402 rooms, and the URL bookmarks XEP-0402 does not keep. */
    async function legacyStorage(owner: Jid): Promise<Element> {
      const storage = new Element('storage', { xmlns: NS_LEGACY_BOOKMARKS });
      for (const [jid, bookmark] of await bookmarks(owner)) storage.cnode(toLegacyConference(jid, bookmark));
      const kept = await privateStore.get(owner.local, owner.domain, NS_LEGACY_BOOKMARKS);
      if (kept) for (const url of parse(kept).getChildren('url')) storage.cnode(url);
      return storage;
    }

    /**
     * A XEP-0048 client stored its whole list: XEP-0402 items are published for new and changed
     * rooms and retracted for removed ones; unchanged ones are left alone (§5.2, no
     * notifications for them). URL bookmarks are kept in private storage.
     */
    async function applyLegacy(owner: Jid, storage: Element): Promise<void> {
      if (storage.name !== 'storage' || storage.attrs.xmlns !== NS_LEGACY_BOOKMARKS) throw new StanzaError('bad-request', `expected <storage xmlns='${NS_LEGACY_BOOKMARKS}'/>`);
      const wanted = new Map<string, Element>();
      for (const conference of storage.getChildren('conference')) {
        const jid = typeof conference.attrs.jid === 'string' ? tryParseJid(conference.attrs.jid) : null;
        if (!jid || jid.local === '') throw new StanzaError('bad-request', 'a conference bookmark needs a room JID');
        wanted.set(jid.bareString(), toItemPayload(fromConference(conference, undefined)));
      }
      const urls = new Element('storage', { xmlns: NS_LEGACY_BOOKMARKS });
      for (const url of storage.getChildren('url')) urls.cnode(url);
      const result = await privateStore.put(owner.local, owner.domain, new Map([[NS_LEGACY_BOOKMARKS, urls.toString()]]), MAX_PRIVATE_NAMESPACES);
      if (result === 'limit') throw new StanzaError('resource-constraint', `at most ${MAX_PRIVATE_NAMESPACES} namespaces per account`);
      if (result === 'no-account') throw new StanzaError('item-not-found', 'the account is gone');

      const owned = owner.bareString();
      applying.add(owned);
      try {
        const current = await bookmarks(owner);
        let exists = (await pep.node(owner, NS_BOOKMARKS)) !== undefined;
        for (const [jid, payload] of wanted) {
          const before = current.get(jid);
          if (before && toItemPayload(before).toString() === payload.toString()) continue;
          await pep.publish(owner, NS_BOOKMARKS, jid, payload, exists ? null : bookmarkOptions());
          exists = true;
        }
        for (const jid of current.keys()) if (!wanted.has(jid)) await pep.retract(owner, NS_BOOKMARKS, jid, true);
      } finally {
        applying.delete(owned);
      }
      await notifyLegacy(owner);
    }

    /** XEP-0048 clients in PEP (#compat-pep) learn the new list as one storage:bookmarks item. */
    async function notifyLegacy(owner: Jid): Promise<void> {
      const storage = await legacyStorage(owner);
      pep.notifyOwner(owner, NS_LEGACY_BOOKMARKS, (to) => {
        const event = new Element('event', { xmlns: NS_PUBSUB_EVENT });
        event.c('items', { node: NS_LEGACY_BOOKMARKS }).c('item', { id: 'current' }).cnode(storage);
        return pep.eventMessage(owner, { name: NS_LEGACY_BOOKMARKS, config: { notificationType: 'headline' } }, to, event);
      });
    }

    pep.onChange(NS_BOOKMARKS, async ({ owner }) => {
      if (!applying.has(owner.bareString())) await notifyLegacy(owner);
    });

    // #compat: XEP-0048 in XEP-0049 private storage.
    ctx.privateXml.register(NS_LEGACY_BOOKMARKS, { get: legacyStorage, set: applyLegacy });

    // #compat-pep: XEP-0048 in the storage:bookmarks PEP node (XEP-0223), item "current".
    pep.addView(NS_LEGACY_BOOKMARKS, {
      async items(owner) {
        return [{ id: 'current', payload: await legacyStorage(owner), publishedAt: new Date() }];
      },
      publish: (owner, _itemId, payload) => applyLegacy(owner, payload),
    });
  },
});
