// XEP-0030: Service Discovery, version 2.5rc3 — info and items for the server and accounts.
import { Element } from 'ltx';
import { StanzaError } from '../core/errors.js';
import { defineModule } from '../core/module.js';
import { discoInfoElement, NS_DISCO_INFO, NS_DISCO_ITEMS } from '../core/disco-registry.js';

export { NS_DISCO_INFO, NS_DISCO_ITEMS };

export const discoModule = defineModule({
  name: 'disco',
  implements: 'XEP-0030 Service Discovery 2.5rc3',
  hostFeatures: [NS_DISCO_INFO, NS_DISCO_ITEMS],
  accountFeatures: [NS_DISCO_INFO, NS_DISCO_ITEMS],
  setup(ctx) {
    ctx.iq.register(`iq-get/host/${NS_DISCO_INFO}`, ({ payload }) => {
      const node = payload.attrs.node;
      if (typeof node === 'string' && node !== '') {
        // §3.2: nodes the server does not know are item-not-found.
        const info = ctx.disco.hostInfoNode(node);
        if (!info) throw new StanzaError('item-not-found');
        return info;
      }
      return ctx.disco.hostInfo();
    });
    ctx.iq.register(`iq-get/host/${NS_DISCO_ITEMS}`, ({ payload, to }) => {
      if (payload.attrs.node) throw new StanzaError('item-not-found');
      const query = new Element('query', { xmlns: NS_DISCO_ITEMS });
      for (const item of ctx.disco.hostItems(to.domain)) query.c('item', { jid: item.jid, name: item.name, node: item.node });
      return query;
    });
    // The router has checked the account exists before a bare-JID handler runs.
    ctx.iq.register(`iq-get/bare/${NS_DISCO_INFO}`, async ({ payload, from, to }) => {
      const node = payload.attrs.node;
      if (typeof node === 'string' && node !== '') {
        const info = await ctx.disco.accountNodes?.info(to, node, from);
        if (!info) throw new StanzaError('item-not-found');
        return info;
      }
      return discoInfoElement(undefined, ctx.disco.accountIdentities, ctx.disco.accountFeatures);
    });
    ctx.iq.register(`iq-get/bare/${NS_DISCO_ITEMS}`, async ({ payload, from, to }) => {
      if (payload.attrs.node) throw new StanzaError('item-not-found');
      const query = new Element('query', { xmlns: NS_DISCO_ITEMS });
      // XEP-0163 §9.2: only the nodes the asker may see.
      for (const item of (await ctx.disco.accountNodes?.items(to, from)) ?? []) query.c('item', { jid: item.jid, node: item.node, name: item.name });
      return query;
    });
  },
});
