// XEP-0030: Service Discovery, version 2.5rc3 — info and items for the server and accounts.
import { clone, Element } from 'ltx';
import { StanzaError } from '../core/errors.js';
import { defineModule } from '../core/module.js';
import type { DiscoIdentity } from '../core/disco-registry.js';

export const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';
export const NS_DISCO_ITEMS = 'http://jabber.org/protocol/disco#items';

function infoResult(node: string | undefined, identities: readonly DiscoIdentity[], features: readonly string[], extensions: readonly Element[] = []): Element {
  const query = new Element('query', node ? { xmlns: NS_DISCO_INFO, node } : { xmlns: NS_DISCO_INFO });
  for (const identity of identities) {
    query.c('identity', { category: identity.category, type: identity.type, name: identity.name });
  }
  for (const feature of features) query.c('feature', { var: feature });
  // XEP-0128: extension forms after the identities and features (copies: a reply owns its children).
  for (const form of extensions) query.cnode(clone(form));
  return query;
}

export const discoModule = defineModule({
  name: 'disco',
  implements: 'XEP-0030 Service Discovery 2.5rc3',
  hostFeatures: [NS_DISCO_INFO, NS_DISCO_ITEMS],
  accountFeatures: [NS_DISCO_INFO, NS_DISCO_ITEMS],
  setup(ctx) {
    ctx.iq.register(`iq-get/host/${NS_DISCO_INFO}`, ({ payload }) => {
      // §3.2: nodes the server does not know are item-not-found.
      if (payload.attrs.node) throw new StanzaError('item-not-found');
      return infoResult(undefined, ctx.disco.hostIdentities, ctx.disco.hostFeatures, ctx.disco.hostExtensions);
    });
    ctx.iq.register(`iq-get/host/${NS_DISCO_ITEMS}`, ({ payload }) => {
      if (payload.attrs.node) throw new StanzaError('item-not-found');
      const query = new Element('query', { xmlns: NS_DISCO_ITEMS });
      for (const item of ctx.disco.hostItems) query.c('item', { jid: item.jid, name: item.name, node: item.node });
      return query;
    });
    // The router has checked the account exists before a bare-JID handler runs.
    ctx.iq.register(`iq-get/bare/${NS_DISCO_INFO}`, ({ payload }) => {
      if (payload.attrs.node) throw new StanzaError('item-not-found');
      return infoResult(undefined, ctx.disco.accountIdentities, ctx.disco.accountFeatures);
    });
    ctx.iq.register(`iq-get/bare/${NS_DISCO_ITEMS}`, ({ payload }) => {
      if (payload.attrs.node) throw new StanzaError('item-not-found');
      return new Element('query', { xmlns: NS_DISCO_ITEMS });
    });
  },
});
