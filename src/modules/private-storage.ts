// XEP-0049 Private XML Storage 1.2: an account keeps arbitrary XML on its server, one entry
// per namespace (XEP-0048 bookmarks of older clients live here). Only the account itself may
// read or write it.
import { Element, parse } from 'ltx';
import { StanzaError } from '../core/errors.js';
import { defineModule } from '../core/module.js';
import type { PrivateXmlView } from '../core/private-xml-views.js';

export const NS_PRIVATE = 'jabber:iq:private';
/** Namespaces one account may keep; storing a new one beyond is refused. */
export const MAX_PRIVATE_NAMESPACES = 100;

/** §2.3: namespaces reserved in Jabber are refused (the XEP makes it optional; Hearth does). */
function reserved(namespace: string): boolean {
  return namespace.startsWith('jabber:') || namespace.startsWith('http://jabber.org/') || namespace === 'vcard-temp';
}

/** The namespace of a stored child, checked: its own, not reserved. */
function namespaceOf(child: Element): string {
  const namespace = child.attrs.xmlns;
  // §2.3: "at least one child element with a proper namespace".
  if (namespace === undefined || namespace === '' || namespace === NS_PRIVATE) {
    throw new StanzaError('not-acceptable', 'the stored element needs a namespace of its own');
  }
  if (reserved(namespace)) throw new StanzaError('not-acceptable', `${namespace} is a reserved namespace`);
  return namespace;
}

export const privateStorageModule = defineModule({
  name: 'private-storage',
  implements: 'XEP-0049 Private XML Storage 1.2',
  setup(ctx) {
    const store = ctx.stores.privateStorage;

    ctx.iq.register(`iq-get/bare/${NS_PRIVATE}`, async ({ self, from, payload }) => {
      // §2.3 and §5: another account's data is not reachable (forbidden, as preferred).
      if (!self) throw new StanzaError('forbidden', 'private storage belongs to its account alone');
      const children = payload.getChildElements();
      if (children.length === 0) throw new StanzaError('bad-request', 'name the namespace to retrieve with an empty element');
      if (children.length > 1) throw new StanzaError('bad-request', 'retrieve one namespace per request');
      const asked = children[0]!;
      const namespace = namespaceOf(asked);
      const view = ctx.privateXml.get(namespace);
      if (view) {
        const query = new Element('query', { xmlns: NS_PRIVATE });
        query.cnode(await view.get(from.bare));
        return query;
      }
      const stored = await store.get(from.local, from.domain, namespace);
      const query = new Element('query', { xmlns: NS_PRIVATE });
      if (stored === null) {
        // Nothing stored: the empty element asked for, as in §2.3's result.
        query.cnode(new Element(asked.name, { xmlns: namespace }));
      } else {
        for (const child of parse(`<query xmlns='${NS_PRIVATE}'>${stored}</query>`).getChildElements()) query.cnode(child);
      }
      return query;
    });

    ctx.iq.register(`iq-set/bare/${NS_PRIVATE}`, async ({ self, from, payload }) => {
      if (!self) throw new StanzaError('forbidden', 'private storage belongs to its account alone');
      const children = payload.getChildElements();
      if (children.length === 0) throw new StanzaError('not-acceptable', 'nothing to store');
      // A set may carry several elements of one namespace; each namespace is replaced whole.
      const entries = new Map<string, string>();
      const viewed: Array<[Element, PrivateXmlView]> = [];
      for (const child of children) {
        const namespace = namespaceOf(child);
        const view = ctx.privateXml.get(namespace);
        if (view) viewed.push([child, view]);
        else entries.set(namespace, (entries.get(namespace) ?? '') + child.toString());
      }
      for (const [child, view] of viewed) await view.set(from.bare, child);
      if (entries.size === 0) return null;
      const result = await store.put(from.local, from.domain, entries, MAX_PRIVATE_NAMESPACES);
      if (result === 'limit') throw new StanzaError('resource-constraint', `at most ${MAX_PRIVATE_NAMESPACES} namespaces per account`);
      if (result === 'no-account') throw new StanzaError('item-not-found', 'the account is gone');
      return null;
    });
  },
});
