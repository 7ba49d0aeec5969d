// XEP-0163 Personal Eventing Protocol 1.2 (XEP-0060 PubSub 1.26 subset): the protocol of
// every account's PEP service (src/services/pep/engine.ts does the work): publish with
// auto-create and publish-options, retract, items, node creation, configuration, deletion,
// purge and affiliations; the presence that tells it who wants notifications (§4.3).
import { Element } from 'ltx';
import { NS_DISCO_INFO } from '../core/disco-registry.js';
import { capsKey, capsClaimOf } from '../core/entity-caps.js';
import { StanzaError } from '../core/errors.js';
import { tryParseJid, type Jid } from '../core/jid.js';
import { defineModule } from '../core/module.js';
import { NS_DATA } from '../core/namespaces.js';
import type { ClientSession } from '../core/sessions.js';
import type { Affiliation } from '../services/pep/cache.js';
import { itemNotFound, NS_PUBSUB_EVENT, type Pep } from '../services/pep/engine.js';
import { configFormElement, DEFAULT_NODE_CONFIG, NS_PUBLISH_OPTIONS, NS_PUBSUB, pubsubCondition } from '../services/pep/node-config.js';
import { parseBoolean, readSubmittedForm } from '../xml/data-form.js';

export { NS_PUBSUB, NS_PUBSUB_EVENT };
export const NS_PUBSUB_OWNER = 'http://jabber.org/protocol/pubsub#owner';

/** XEP-0060 §10 features of a Hearth PEP service (XEP-0163 §5 lists what it must have). */
const PUBSUB_FEATURES = [
  'access-open', 'access-presence', 'access-roster', 'access-whitelist', 'auto-create', 'auto-subscribe', 'config-node',
  'config-node-max', 'create-and-configure', 'create-nodes', 'delete-items', 'delete-nodes', 'filtered-notifications',
  'item-ids', 'last-published', 'modify-affiliations', 'persistent-items', 'presence-access', 'presence-notifications',
  'publish', 'publish-options', 'purge-nodes', 'retract-items', 'retrieve-default', 'retrieve-items',
].map((feature) => `${NS_PUBSUB}#${feature}`);

const MAX_NODE_NAME = 1024;
const MAX_ITEM_ID = 1024;

/** A request's node attribute: required (a PEP service has no instant nodes). */
function nodeName(element: Element): string {
  const node = element.attrs.node;
  if (typeof node !== 'string' || node === '') {
    throw new StanzaError('not-acceptable', 'a node name is required', 'modify', pubsubCondition('nodeid-required'));
  }
  if (node.length > MAX_NODE_NAME) throw new StanzaError('not-acceptable', 'the node name is too long');
  return node;
}

function ownerOnly(self: boolean): void {
  // XEP-0163 §3.2: one publisher per node, the owner; only it manages its service.
  if (!self) throw new StanzaError('forbidden', 'only the account itself manages its PEP nodes');
}

/** The action a pubsub request names: its first element child. */
function action(payload: Element): Element {
  const first = payload.getChildElements()[0];
  if (!first) throw new StanzaError('bad-request', 'the request names no action');
  return first;
}

function unsupported(what: string, feature = what): StanzaError {
  return new StanzaError('feature-not-implemented', `${what} is not supported by this PEP service`, 'cancel', pubsubCondition('unsupported', { feature }));
}

/** §7.1.3: exactly one item with exactly one payload; its id, when given, of sane length. */
function publishedItem(request: Element): { id: string | undefined; payload: Element } {
  const items = request.getChildren('item');
  if (items.length === 0) throw new StanzaError('bad-request', 'publish needs an item', 'modify', pubsubCondition('item-required'));
  if (items.length > 1) throw new StanzaError('bad-request', 'publish one item at a time', 'modify', pubsubCondition('invalid-payload'));
  const item = items[0]!;
  const payloads = item.getChildElements();
  if (payloads.length === 0) throw new StanzaError('bad-request', 'the item needs a payload', 'modify', pubsubCondition('payload-required'));
  if (payloads.length > 1) throw new StanzaError('bad-request', 'an item carries one payload', 'modify', pubsubCondition('invalid-payload'));
  const id = item.attrs.id;
  if (id !== undefined && (typeof id !== 'string' || id === '' || id.length > MAX_ITEM_ID)) {
    throw new StanzaError('bad-request', `the item id must be 1 to ${MAX_ITEM_ID} characters`);
  }
  return { id, payload: payloads[0]! };
}

/** §7.1.5: the publish-options form. */
function publishOptionsForm(options: Element | undefined): Element | null {
  if (!options) return null;
  const x = options.getChild('x', NS_DATA);
  if (!x) throw new StanzaError('bad-request', 'publish-options carries a data form');
  if (readSubmittedForm(x).formType !== NS_PUBLISH_OPTIONS) throw new StanzaError('bad-request', `the publish-options FORM_TYPE must be ${NS_PUBLISH_OPTIONS}`);
  return x;
}

function ownerResult(child: Element): Element {
  const result = new Element('pubsub', { xmlns: NS_PUBSUB_OWNER });
  result.cnode(child);
  return result;
}

export const pepModule = defineModule({
  name: 'pep',
  implements: 'XEP-0163 Personal Eventing Protocol 1.2 (XEP-0060 PubSub 1.26 subset)',
  accountFeatures: [NS_PUBSUB, ...PUBSUB_FEATURES],
  setup(ctx) {
    const pep: Pep = ctx.pep;
    /** The caps key each local session last advertised ('' for none): a change may add interests. */
    const sessionCaps = new WeakMap<ClientSession, string>();
    ctx.disco.accountIdentities.push({ category: 'pubsub', type: 'pep' });

    // A local resource comes online or changes its caps (§4.3.4).
    ctx.hooks.on('presence-broadcast', async ({ session, stanza, initial }) => {
      if (stanza.attrs.type !== undefined || !session.available) return;
      const claim = capsClaimOf(stanza);
      const key = claim ? capsKey(claim) : '';
      const previous = sessionCaps.get(session);
      if (!initial && previous === key) return;
      sessionCaps.set(session, key);
      if (!claim || session.priority < 0) return;
      await pep.localResourceAvailable(session.jid.bare, session.jid, stanza, initial ? null : previous || null);
    });

    // Presence from contacts on other servers to a local account (§4.3).
    ctx.hooks.on('stanza-inbound', ({ stanza, from, to, origin }) => {
      if (origin.kind !== 's2s' || stanza.name !== 'presence') return;
      const type = stanza.attrs.type;
      if (type === 'unavailable') {
        pep.remoteResourceUnavailable(to.bare, from);
      } else if (type === undefined && from.resource !== '') {
        pep.remoteResourceAvailable(to.bare, from, stanza).catch((err: unknown) => ctx.log.error({ err }, 'PEP presence handling failed'));
      }
    });

    ctx.hooks.on('account-deleted', ({ jid }) => pep.forget(jid));

    // ---- §7 publisher and §6 subscriber use cases -------------------------------------------

    ctx.iq.register(`iq-set/bare/${NS_PUBSUB}`, async ({ payload, to, self }) => {
      const request = action(payload);
      switch (request.name) {
        case 'publish': {
          ownerOnly(self);
          const name = nodeName(request);
          const { id, payload: item } = publishedItem(request);
          const view = pep.view(name);
          let itemId: string;
          if (view) {
            itemId = id ?? 'current';
            await view.publish(to, itemId, item);
          } else {
            itemId = await pep.publish(to, name, id, item, publishOptionsForm(payload.getChild('publish-options')));
          }
          const result = new Element('pubsub', { xmlns: NS_PUBSUB });
          result.c('publish', { node: name }).c('item', { id: itemId });
          return result;
        }
        case 'retract': {
          ownerOnly(self);
          const name = nodeName(request);
          const ids = request.getChildren('item').map((i) => i.attrs.id);
          if (ids.length !== 1 || typeof ids[0] !== 'string' || ids[0] === '') {
            throw new StanzaError('bad-request', 'retract one item, by id', 'modify', pubsubCondition('item-required'));
          }
          const notify = parseBoolean(typeof request.attrs.notify === 'string' ? request.attrs.notify : undefined);
          await pep.retract(to, name, ids[0], notify);
          return null;
        }
        case 'create': {
          ownerOnly(self);
          const configure = payload.getChild('configure')?.getChild('x', NS_DATA);
          await pep.create(to, nodeName(request), configure ?? null);
          return null;
        }
        case 'subscribe':
        case 'unsubscribe':
          // Subscriptions to a PEP service come from presence (XEP-0163 §4.3.1 auto-subscribe).
          throw unsupported(request.name, 'subscribe');
        default:
          throw unsupported(request.name);
      }
    });

    ctx.iq.register(`iq-get/bare/${NS_PUBSUB}`, async ({ payload, from, to, self }) => {
      const request = action(payload);
      if (request.name !== 'items') throw unsupported(request.name);
      const name = nodeName(request);
      const ids = request.getChildren('item').map((i) => i.attrs.id).filter((id): id is string => typeof id === 'string' && id !== '');
      const maxAttr = request.attrs.max_items;
      if (maxAttr !== undefined && (typeof maxAttr !== 'string' || !/^\d{1,9}$/.test(maxAttr))) throw new StanzaError('bad-request', 'max_items is a number');
      const view = pep.view(name);
      let found;
      if (view) {
        found = self ? await view.items(to) : null;
        if (!found) throw itemNotFound();
      } else {
        found = await pep.items(to, from, name, { ids, max: maxAttr === undefined ? undefined : Number(maxAttr) });
      }
      const result = new Element('pubsub', { xmlns: NS_PUBSUB });
      const list = result.c('items', { node: name });
      for (const item of found) list.c('item', { id: item.id }).cnode(item.payload);
      return result;
    });

    // ---- §8 owner use cases ----------------------------------------------------------------

    ctx.iq.register(`iq-get/bare/${NS_PUBSUB_OWNER}`, async ({ payload, to, self }) => {
      ownerOnly(self);
      const request = action(payload);
      switch (request.name) {
        case 'configure': {
          const name = nodeName(request);
          const node = await pep.node(to, name);
          if (!node) throw itemNotFound();
          const configure = new Element('configure', { node: name });
          configure.cnode(configFormElement(node.config, await rosterGroups(to)));
          return ownerResult(configure);
        }
        case 'default': {
          const defaults = new Element('default');
          defaults.cnode(configFormElement(DEFAULT_NODE_CONFIG, await rosterGroups(to)));
          return ownerResult(defaults);
        }
        case 'affiliations': {
          const name = nodeName(request);
          const node = await pep.node(to, name);
          if (!node) throw itemNotFound();
          const list = new Element('affiliations', { node: name });
          list.c('affiliation', { jid: to.bareString(), affiliation: 'owner' });
          for (const [jid, affiliation] of node.affiliations) list.c('affiliation', { jid, affiliation });
          return ownerResult(list);
        }
        default:
          throw unsupported(request.name);
      }
    });

    ctx.iq.register(`iq-set/bare/${NS_PUBSUB_OWNER}`, async ({ payload, to, self }) => {
      ownerOnly(self);
      const request = action(payload);
      const name = nodeName(request);
      switch (request.name) {
        case 'configure': {
          const x = request.getChild('x', NS_DATA);
          if (!x) throw new StanzaError('bad-request', 'configure carries a data form');
          // §8.2.5: a cancelled form changes nothing.
          if (x.attrs.type !== 'cancel') await pep.configure(to, name, x);
          return null;
        }
        case 'delete':
          await pep.delete(to, name);
          return null;
        case 'purge':
          await pep.purge(to, name);
          return null;
        case 'affiliations': {
          const ownerBare = to.bareString();
          const changes = request.getChildren('affiliation').map((a) => {
            const jid = typeof a.attrs.jid === 'string' ? tryParseJid(a.attrs.jid) : null;
            const affiliation = a.attrs.affiliation;
            if (!jid) throw new StanzaError('bad-request', 'an affiliation needs a valid jid');
            if (affiliation !== 'member' && affiliation !== 'outcast' && affiliation !== 'none') {
              throw new StanzaError('not-acceptable', 'affiliations here are member, outcast or none (one publisher per node)');
            }
            if (jid.bareString() === ownerBare) throw new StanzaError('not-acceptable', 'the owner stays the owner');
            return { jid: jid.bareString(), affiliation: affiliation as Affiliation | 'none' };
          });
          await pep.setAffiliations(to, name, changes);
          return null;
        }
        default:
          throw unsupported(request.name);
      }
    });

    async function rosterGroups(owner: Jid): Promise<string[]> {
      const roster = await ctx.rosters.get(owner);
      const groups = new Set<string>();
      for (const item of roster.items.values()) for (const g of item.groups) groups.add(g);
      return [...groups].sort();
    }

    // ---- XEP-0030 on the service (XEP-0163 §9.2: only the nodes the asker may see) ----------

    ctx.disco.accountNodes = {
      async items(account, asker) {
        const visible = [];
        for (const node of (await pep.account(account)).nodes.values()) {
          if ((await pep.accessError(account, node, asker)) === null) visible.push({ jid: account.bareString(), node: node.name, name: node.config.title || undefined });
        }
        return visible;
      },
      async info(account, name, asker) {
        const node = await pep.node(account, name);
        if (!node || (await pep.accessError(account, node, asker)) !== null) return null;
        const query = new Element('query', { xmlns: NS_DISCO_INFO, node: name });
        query.c('identity', { category: 'pubsub', type: 'leaf' });
        query.c('feature', { var: NS_PUBSUB });
        return query;
      },
    };
  },
});
