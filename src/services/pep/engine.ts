// XEP-0163 Personal Eventing Protocol 1.2 on the XEP-0060 1.26 PubSub subset it needs: every
// account is a pubsub service at its bare JID (§3.1). This is the service the pep module
// speaks the protocol for, and the one other modules (bookmarks, avatars) publish through:
// nodes, items and affiliations with their limits, access models (XEP-0060 §4.5), and
// notifications to the resources that asked for them through XEP-0115 +notify (§4.3).
import { randomBytes } from 'node:crypto';
import { Element, parse } from 'ltx';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import { capsClaimOf, capsKey, type CapsClaim } from '../../core/entity-caps.js';
import { StanzaError } from '../../core/errors.js';
import { tryParseJid, type Jid } from '../../core/jid.js';
import { NS_DELAY } from '../../core/namespaces.js';
import type { Router } from '../../core/router.js';
import type { SessionRegistry } from '../../core/sessions.js';
import type { CacheCoherence } from '../../core/cache-coherence.js';
import type { PubsubStore } from '../../storage/pubsub.js';
import type { RosterItem } from '../../storage/roster.js';
import type { EntityCapsService, Features } from '../entity-caps.js';
import type { RosterService } from '../roster.js';
import { cachedItem, PepCache, type Affiliation, type PepAccount, type PepItem, type PepNode } from './cache.js';
import {
  applyConfigForm, DEFAULT_NODE_CONFIG, itemLimit, NS_NODE_CONFIG, NS_PUBLISH_OPTIONS, NS_PUBSUB, pubsubCondition,
  serializeConfig, unmetPrecondition, type NodeConfig,
} from './node-config.js';
import { RemotePresence } from './remote-presence.js';

export const NS_PUBSUB_EVENT = 'http://jabber.org/protocol/pubsub#event';

export type PepLimits = Pick<Config['limits'], 'pepNodesPerAccount' | 'pepItemsPerNode' | 'pepNodeBytes' | 'pepAccountBytes'>;

/** What changed in a node, for modules that keep another view of it (bookmarks, avatars). */
export interface PepChange {
  readonly owner: Jid;
  readonly node: string;
  readonly kind: 'publish' | 'retract' | 'purge' | 'delete';
  readonly itemId?: string;
  readonly payload?: Element;
}

/** An item as read back from a node. */
export interface PepReadItem {
  readonly id: string;
  readonly payload: Element;
  readonly publishedAt: Date;
}

/**
 * A node another module answers for (XEP-0402 §5: XEP-0048 bookmarks in PEP, kept as a view
 * of the XEP-0402 node). Only its owner reads or publishes it.
 */
export interface PepNodeView {
  items(owner: Jid): Promise<PepReadItem[] | null>;
  publish(owner: Jid, itemId: string, payload: Element): Promise<void>;
}

const sendsPresenceTo = (item: RosterItem | null | undefined) => item?.subscription === 'from' || item?.subscription === 'both';
const receivesPresenceFrom = (item: RosterItem) => item.subscription === 'to' || item.subscription === 'both';
const domainOf = (bare: string) => bare.slice(bare.indexOf('@') + 1);

export function itemNotFound(text = 'no such node'): StanzaError {
  return new StanzaError('item-not-found', text);
}

let notificationCounter = 0;
const notificationIdBase = randomBytes(6).toString('base64url');
const nextNotificationId = () => `pep-${notificationIdBase}-${(++notificationCounter).toString(36)}`;

export interface PepOptions {
  readonly limits: PepLimits;
  readonly store: PubsubStore;
  readonly rosters: RosterService;
  readonly sessions: SessionRegistry;
  readonly router: Router;
  readonly caps: EntityCapsService;
  readonly caches: CacheCoherence;
  readonly log: Logger;
}

export class Pep {
  private readonly limits: PepLimits;
  private readonly store: PubsubStore;
  private readonly rosters: RosterService;
  private readonly sessions: SessionRegistry;
  private readonly router: Router;
  private readonly caps: EntityCapsService;
  private readonly log: Logger;
  private readonly caches: CacheCoherence;
  private readonly accounts: PepCache;
  /** Presence of contacts on other servers (local ones are in the session registry). */
  private readonly remote = new RemotePresence();
  private readonly views = new Map<string, PepNodeView>();
  /** The caps claim of each presence seen (a session's presence is read for every notification). */
  private readonly claims = new WeakMap<Element, CapsClaim | null>();
  private readonly listeners = new Map<string, Array<(change: PepChange) => void | Promise<void>>>();

  constructor(options: PepOptions) {
    this.limits = options.limits;
    this.store = options.store;
    this.rosters = options.rosters;
    this.sessions = options.sessions;
    this.router = options.router;
    this.caps = options.caps;
    this.log = options.log;
    this.accounts = new PepCache(options.store, options.caches);
    this.caches = options.caches;
    // A cluster node holding an s2s stream tells the others whose presence it got.
    options.caches.onShared('pep-remote-presence', (payload) => {
      const shared = parseSharedPresence(payload);
      if (!shared) return;
      if (shared.presence) this.remote.available(shared.account, shared.contact, shared.full, shared.presence);
      else this.remote.unavailable(shared.account, shared.contact, shared.full);
    });
  }

  /** A contact on another server went unavailable for a local account. */
  remoteResourceUnavailable(owner: Jid, contact: Jid): void {
    this.remote.unavailable(owner.bareString(), contact.bareString(), contact.toString());
    this.caches.share('pep-remote-presence', JSON.stringify({ a: owner.bareString(), c: contact.bareString(), f: contact.toString() }));
  }

  /** A node another module answers for. */
  addView(node: string, view: PepNodeView): void {
    this.views.set(node, view);
  }

  view(node: string): PepNodeView | undefined {
    return this.views.get(node);
  }

  /**
   * Calls `listener` after each change of `node` on any account; the change's request is
   * answered once the listener is done (XEP-0398: the vCard is updated by then).
   */
  onChange(node: string, listener: (change: PepChange) => void | Promise<void>): void {
    const list = this.listeners.get(node) ?? [];
    list.push(listener);
    this.listeners.set(node, list);
  }

  private async changed(change: PepChange): Promise<void> {
    for (const listener of this.listeners.get(change.node) ?? []) {
      try {
        await listener(change);
      } catch (err) {
        this.log.error({ err, node: change.node }, 'PEP change listener failed');
      }
    }
  }

  account(owner: Jid): PepAccount | Promise<PepAccount> {
    return this.accounts.get(owner.bareString());
  }

  async node(owner: Jid, name: string): Promise<PepNode | undefined> {
    return (await this.account(owner)).nodes.get(name);
  }

  /** An account is gone: forget its service and its affiliations with others' nodes. */
  async forget(jid: Jid): Promise<void> {
    const bare = jid.bareString();
    this.accounts.drop(bare);
    this.remote.forget(bare);
    await this.store.removeAffiliationsOf(bare);
  }

  // ---- access (XEP-0060 §4.5) -----------------------------------------------------------

  /** Whether `asker` may see a node's items; the error it gets otherwise. */
  async accessError(owner: Jid, node: PepNode, asker: Jid): Promise<StanzaError | null> {
    const askerBare = asker.bareString();
    if (askerBare === owner.bareString()) return null;
    const model = node.config.accessModel;
    const item = model === 'presence' || model === 'roster' ? await this.rosters.item(owner, askerBare) : null;
    return this.accessVerdict(node, askerBare, item);
  }

  private accessVerdict(node: PepNode, askerBare: string, item: RosterItem | null | undefined): StanzaError | null {
    const affiliation = node.affiliations.get(askerBare);
    if (affiliation === 'outcast') return new StanzaError('forbidden', 'you are banned from this node');
    switch (node.config.accessModel) {
      case 'open':
        return null;
      case 'presence':
        return sendsPresenceTo(item) ? null
          : new StanzaError('not-authorized', 'a presence subscription is required', 'auth', pubsubCondition('presence-subscription-required'));
      case 'roster':
        return item && item.groups.some((g) => node.config.rosterGroupsAllowed.includes(g)) ? null
          : new StanzaError('not-authorized', 'you are not in an allowed roster group', 'auth', pubsubCondition('not-in-roster-group'));
      case 'whitelist':
        return affiliation === 'member' || affiliation === 'publisher' ? null
          : new StanzaError('not-allowed', 'the node is whitelisted', 'cancel', pubsubCondition('closed-node'));
    }
  }

  // ---- XEP-0060 §7 publisher use cases ---------------------------------------------------

  /**
   * §7.1: publishes one payload (auto-creating the node, §7.1.4, with the publish-options
   * form, §7.1.5, as its configuration, or checking it as preconditions), then notifies.
   * Returns the item id (the one given, or a new one).
   */
  async publish(owner: Jid, name: string, requestedId: string | undefined, payload: Element, options: Element | null = null): Promise<string> {
    const itemId = requestedId ?? randomBytes(12).toString('base64url');
    // The payload keeps its namespace when stored on its own.
    if (payload.attrs.xmlns === undefined) payload.attrs.xmlns = payload.getNS() ?? NS_PUBSUB;
    const xml = payload.toString();
    const bytes = Buffer.byteLength(xml);
    const limits = this.limits;
    const { node, stored } = await this.accounts.exclusive(owner.bareString(), async (account) => {
      let node = account.nodes.get(name);
      if (!node) {
        const config = options ? applyConfigForm(DEFAULT_NODE_CONFIG, options, NS_PUBLISH_OPTIONS, limits.pepItemsPerNode) : DEFAULT_NODE_CONFIG;
        node = await this.createIn(owner, account, name, config);
      } else if (options) {
        const unmet = unmetPrecondition(node.config, options, limits.pepItemsPerNode);
        if (unmet !== null) {
          throw new StanzaError('conflict', `the node's configuration does not match ${unmet}`, 'cancel', pubsubCondition('precondition-not-met'));
        }
      }
      if (bytes > limits.pepNodeBytes) {
        throw new StanzaError('not-acceptable', `an item may hold at most ${limits.pepNodeBytes} bytes`, 'modify', pubsubCondition('payload-too-big'));
      }
      const replaced = node.last?.id === itemId ? node.last.bytes : 0;
      if (PepCache.bytes(account) - replaced + bytes > limits.pepAccountBytes) {
        throw new StanzaError('policy-violation', `the account's PEP data may take at most ${limits.pepAccountBytes} bytes`, 'wait');
      }
      const keep = node.config.persistItems ? itemLimit(node.config, limits.pepItemsPerNode) : 1;
      const record = { id: itemId, publisher: owner.bareString(), payload: xml, bytes };
      // The newest item published again (a status, a device list): one UPDATE, nothing to trim.
      if (node.last?.id === itemId && node.itemCount <= keep && (await this.store.replace(node.id, record))) {
        node.bytes += bytes - node.last.bytes;
      } else {
        const outcome = await this.store.publish(node.id, record, keep);
        node.itemCount += 1 - outcome.removedCount - (outcome.replacedBytes === null ? 0 : 1);
        node.bytes += bytes - outcome.removedBytes - (outcome.replacedBytes ?? 0);
      }
      // Beyond the node's byte budget the oldest items go (the newest always stays).
      if (node.bytes > limits.pepNodeBytes && node.itemCount > 1) await this.shrink(node);
      const stored = cachedItem(record);
      node.last = stored;
      return { node, stored };
    });
    this.notifyAll(owner, node, (to) => this.eventMessage(owner, node, to, itemsEvent(node, stored, payload)));
    await this.changed({ owner, node: name, kind: 'publish', itemId, payload });
    return itemId;
  }

  /** Drops the oldest items until the node fits limits.pepNodeBytes. */
  private async shrink(node: PepNode): Promise<void> {
    const kept = await this.store.items(node.id, {});
    let bytes = node.bytes;
    let keep = kept.length;
    for (const item of kept) {
      if (bytes <= this.limits.pepNodeBytes || keep <= 1) break;
      bytes -= item.bytes;
      keep--;
    }
    const removed = await this.store.trim(node.id, keep);
    node.itemCount -= removed.removedCount;
    node.bytes -= removed.removedBytes;
  }

  /** Creates a node in the store and the account (inside accounts.exclusive). */
  private async createIn(owner: Jid, account: PepAccount, name: string, config: NodeConfig): Promise<PepNode> {
    if (account.nodes.size >= this.limits.pepNodesPerAccount) {
      throw new StanzaError('policy-violation', `an account may have at most ${this.limits.pepNodesPerAccount} PEP nodes`, 'wait', pubsubCondition('max-nodes-exceeded'));
    }
    const id = await this.store.createNode(account.jid, { domain: owner.domain, username: owner.local }, name, serializeConfig(config));
    if (id === null) throw new StanzaError('conflict', 'the node exists');
    const node: PepNode = { id, name, config, itemCount: 0, bytes: 0, last: null, affiliations: new Map() };
    account.nodes.set(name, node);
    return node;
  }

  /** §8.1: creates a node, configured by a node_config form when given. */
  async create(owner: Jid, name: string, configForm: Element | null): Promise<void> {
    const config = configForm ? applyConfigForm(DEFAULT_NODE_CONFIG, configForm, NS_NODE_CONFIG, this.limits.pepItemsPerNode) : DEFAULT_NODE_CONFIG;
    await this.accounts.exclusive(owner.bareString(), async (account) => {
      // §8.1.3: a node that exists is a conflict.
      if (account.nodes.has(name)) throw new StanzaError('conflict', 'the node exists');
      await this.createIn(owner, account, name, config);
    });
  }

  /** §7.2: retracts an item; notifies when `notify` says so, else as the node is configured. */
  async retract(owner: Jid, name: string, itemId: string, notify: boolean | null): Promise<void> {
    const node = await this.accounts.exclusive(owner.bareString(), async (account) => {
      const node = account.nodes.get(name);
      if (!node) throw itemNotFound();
      const bytes = await this.store.retract(node.id, itemId);
      if (bytes === null) throw itemNotFound('no such item');
      node.itemCount--;
      node.bytes -= bytes;
      if (node.last?.id === itemId) {
        const [newest] = await this.store.items(node.id, { max: 1 });
        node.last = newest ? cachedItem(newest) : null;
      }
      return node;
    });
    // §7.2.2.1.
    if (notify ?? node.config.notifyRetract) {
      this.notifyAll(owner, node, (to) => {
        const event = new Element('event', { xmlns: NS_PUBSUB_EVENT });
        event.c('items', { node: name }).c('retract', { id: itemId });
        return this.eventMessage(owner, node, to, event);
      });
    }
    await this.changed({ owner, node: name, kind: 'retract', itemId });
  }

  /** §6.5: items `asker` may see: the `max` newest, or those with the given ids. */
  async items(owner: Jid, asker: Jid, name: string, select: { max?: number; ids?: readonly string[] }): Promise<PepReadItem[]> {
    const node = await this.node(owner, name);
    if (!node) throw itemNotFound();
    const denied = await this.accessError(owner, node, asker);
    if (denied) throw denied;
    const cap = this.limits.pepItemsPerNode;
    const found = select.ids && select.ids.length > 0
      ? await this.store.items(node.id, { ids: select.ids.slice(0, cap) })
      : await this.store.items(node.id, { max: Math.min(select.max ?? cap, cap) });
    return found.map((item) => ({ id: item.id, payload: parse(item.payload), publishedAt: item.publishedAt }));
  }

  // ---- XEP-0060 §8 owner use cases -------------------------------------------------------

  /** §8.2.5: applies a submitted node_config form; a smaller max_items drops the oldest items. */
  async configure(owner: Jid, name: string, form: Element): Promise<void> {
    await this.accounts.exclusive(owner.bareString(), async (account) => {
      const node = account.nodes.get(name);
      if (!node) throw itemNotFound();
      const config = applyConfigForm(node.config, form, NS_NODE_CONFIG, this.limits.pepItemsPerNode);
      await this.store.setConfig(node.id, serializeConfig(config));
      node.config = config;
      const keep = config.persistItems ? itemLimit(config, this.limits.pepItemsPerNode) : 1;
      if (node.itemCount > keep) {
        const removed = await this.store.trim(node.id, keep);
        node.itemCount -= removed.removedCount;
        node.bytes -= removed.removedBytes;
      }
    });
  }

  /** §8.4: deletes a node; those who see it learn it is gone (§8.4.2). */
  async delete(owner: Jid, name: string): Promise<void> {
    const node = await this.accounts.exclusive(owner.bareString(), async (account) => {
      const node = account.nodes.get(name);
      if (!node) throw itemNotFound();
      await this.store.deleteNode(node.id);
      account.nodes.delete(name);
      return node;
    });
    if (node.config.notifyDelete) {
      this.notifyAll(owner, node, (to) => {
        const event = new Element('event', { xmlns: NS_PUBSUB_EVENT });
        event.c('delete', { node: name });
        return this.eventMessage(owner, node, to, event);
      });
    }
    await this.changed({ owner, node: name, kind: 'delete' });
  }

  /** §8.5: removes every item; those who see the node learn it (§8.5.2). */
  async purge(owner: Jid, name: string): Promise<void> {
    const node = await this.accounts.exclusive(owner.bareString(), async (account) => {
      const node = account.nodes.get(name);
      if (!node) throw itemNotFound();
      await this.store.purge(node.id);
      node.itemCount = 0;
      node.bytes = 0;
      node.last = null;
      return node;
    });
    this.notifyAll(owner, node, (to) => {
      const event = new Element('event', { xmlns: NS_PUBSUB_EVENT });
      event.c('purge', { node: name });
      return this.eventMessage(owner, node, to, event);
    });
    await this.changed({ owner, node: name, kind: 'purge' });
  }

  /** §8.9.2: sets affiliations ('none' removes one). */
  async setAffiliations(owner: Jid, name: string, changes: ReadonlyArray<{ jid: string; affiliation: Affiliation | 'none' }>): Promise<void> {
    await this.accounts.exclusive(owner.bareString(), async (account) => {
      const node = account.nodes.get(name);
      if (!node) throw itemNotFound();
      if (node.affiliations.size + changes.length > this.limits.pepItemsPerNode) throw new StanzaError('policy-violation', 'too many affiliations');
      await this.store.setAffiliations(node.id, changes);
      for (const { jid, affiliation } of changes) {
        if (affiliation === 'none') node.affiliations.delete(jid);
        else node.affiliations.set(jid, affiliation);
      }
    });
  }

  // ---- notifications (XEP-0163 §4.3) ------------------------------------------------------

  /**
   * The verified features behind the caps in a presence (§4.3.1 filtered notifications), or
   * null when it has none Hearth could verify.
   */
  featuresOf(presence: Element | null, jid: Jid | string, askFrom: string): Features | null | Promise<Features | null> {
    if (!presence) return null;
    let claim = this.claims.get(presence);
    if (claim === undefined) {
      claim = capsClaimOf(presence);
      this.claims.set(presence, claim);
    }
    if (!claim) return null;
    const known = this.caps.known(claim);
    if (known) return known;
    const entity = typeof jid === 'string' ? tryParseJid(jid) : jid;
    return entity ? this.caps.features(claim, entity, askFrom) : null;
  }

  /** Sends the message to `to` when its features include `interest`. */
  private sendIfInterested(to: string, features: Features | null | Promise<Features | null>, interest: string, message: (to: string) => Element): void {
    if (features === null) return;
    if (features instanceof Promise) {
      void features.then((f) => {
        if (f?.has(interest)) void this.router.send(message(to));
      });
      return;
    }
    if (features.has(interest)) void this.router.send(message(to));
  }

  private notifyAll(owner: Jid, node: PepNode, message: (to: string) => Element): void {
    this.notify(owner, node, message).catch((err: unknown) => this.log.error({ err }, 'PEP notifications failed'));
  }

  /**
   * §4.3: the owner's available resources and those (non-negative priority, §4.3.2) of
   * contacts with a presence subscription whom the access model lets see the node, each when
   * its caps say +notify for the node.
   */
  private async notify(owner: Jid, node: PepNode, message: (to: string) => Element): Promise<void> {
    if (!node.config.deliverNotifications) return;
    this.notifyOwner(owner, node.name, message);
    const ownerBare = owner.bareString();
    const interest = `${node.name}+notify`;
    const roster = await this.rosters.get(owner);
    for (const item of roster.items.values()) {
      if (!sendsPresenceTo(item) || this.accessVerdict(node, item.jid, item) !== null) continue;
      if (this.router.isLocalDomain(domainOf(item.jid))) {
        for (const s of this.sessions.ofAccount(item.jid)) {
          if (s.available && s.priority >= 0) this.sendIfInterested(s.jid.toString(), this.featuresOf(s.presence, s.jid, s.jid.domain), interest, message);
        }
      } else {
        for (const [full, presence] of this.remote.of(ownerBare, item.jid) ?? []) {
          this.sendIfInterested(full, this.featuresOf(presence, full, ownerBare), interest, message);
        }
      }
    }
  }

  /** Notifies the owner's own resources that want `node` (for nodes only the owner sees). */
  notifyOwner(owner: Jid, node: string, message: (to: string) => Element): void {
    const interest = `${node}+notify`;
    for (const s of this.sessions.ofAccount(owner.bareString())) {
      if (s.available) this.sendIfInterested(s.jid.toString(), this.featuresOf(s.presence, s.jid, s.jid.domain), interest, message);
    }
  }

  eventMessage(owner: Jid, node: PepNode | { name: string; config: Pick<NodeConfig, 'notificationType'> }, to: string, event: Element, delay?: Date): Element {
    const from = owner.bareString();
    const message = new Element('message', { from, to, type: node.config.notificationType, id: nextNotificationId() });
    message.cnode(event);
    if (delay) message.c('delay', { xmlns: NS_DELAY, from, stamp: delay.toISOString() });
    return message;
  }

  /**
   * §4.3.4: the last item of each node of `owner` that the resource `to` newly takes an
   * interest in (in `features`, not in `before`), with the time it was published.
   */
  async sendLastItems(owner: Jid, to: string, features: Features, before: Features | null, contactItem: () => Promise<RosterItem | null>): Promise<void> {
    const ownerBare = owner.bareString();
    const toBare = to.slice(0, to.indexOf('/'));
    const self = toBare === ownerBare;
    const account = await this.account(owner);
    /** The owner's roster item for the recipient, read only when a node is of interest. */
    let item: Promise<RosterItem | null> | undefined;
    for (const node of account.nodes.values()) {
      const interest = `${node.name}+notify`;
      if (!node.last || !features.has(interest) || before?.has(interest)) continue;
      if (node.config.sendLastPublishedItem !== 'on_sub_and_presence' || !node.config.deliverNotifications) continue;
      if (!self) {
        item ??= contactItem();
        const roster = await item;
        // §4.3: only those with a presence subscription get notifications.
        if (!sendsPresenceTo(roster) || this.accessVerdict(node, toBare, roster) !== null) continue;
      }
      const payload = await this.payloadOf(node, node.last);
      void this.router.send(this.eventMessage(owner, node, to, itemsEvent(node, node.last, payload), node.last.publishedAt));
    }
  }

  private async payloadOf(node: PepNode, item: PepItem): Promise<Element | null> {
    if (item.payload !== null) return parse(item.payload);
    const [stored] = await this.store.items(node.id, { ids: [item.id] });
    return stored ? parse(stored.payload) : null;
  }

  /**
   * A local resource came online or changed its caps (`previous`: the caps key it had): its
   * own last items, and those of the local accounts whose presence it receives (their PEP
   * services see its presence, §4.3.4).
   */
  async localResourceAvailable(account: Jid, full: Jid, presence: Element, previous: string | null): Promise<void> {
    const features = await this.featuresOf(presence, full, full.domain);
    if (!features) return;
    const before = previous ? this.knownFeatures(previous) : null;
    const to = full.toString();
    await this.sendLastItems(account, to, features, before, async () => null);
    const roster = await this.rosters.get(account);
    for (const item of roster.items.values()) {
      if (!receivesPresenceFrom(item) || !this.router.isLocalDomain(domainOf(item.jid))) continue;
      const owner = tryParseJid(item.jid);
      if (!owner || owner.local === '') continue;
      // The owner's side decides: its roster must let this account see its presence.
      await this.sendLastItems(owner, to, features, before, () => this.rosters.item(owner, account.bareString()));
    }
  }

  private knownFeatures(key: string): Features | null {
    const colon = key.indexOf(':');
    return this.caps.known({ hash: key.slice(0, colon), node: '', ver: key.slice(colon + 1) }) ?? null;
  }

  /**
   * Available presence from a contact on another server to a local account: remembered for
   * notifications; the account's last items go to a resource that newly wants them.
   */
  async remoteResourceAvailable(owner: Jid, contact: Jid, presence: Element): Promise<void> {
    const ownerBare = owner.bareString();
    const contactBare = contact.bareString();
    const item = await this.rosters.item(owner, contactBare);
    if (!sendsPresenceTo(item)) return;
    const previous = this.remote.available(ownerBare, contactBare, contact.toString(), presence);
    this.caches.share('pep-remote-presence', JSON.stringify({ a: ownerBare, c: contactBare, f: contact.toString(), p: presence.toString() }));
    const claim = capsClaimOf(presence);
    const previousClaim = previous ? capsClaimOf(previous) : null;
    if (!claim || (previousClaim && capsKey(previousClaim) === capsKey(claim))) return;
    const priority = Number.parseInt(presence.getChildText('priority') ?? '0', 10);
    if (priority < 0) return;
    const features = await this.featuresOf(presence, contact, ownerBare);
    if (!features) return;
    const before = previousClaim ? this.caps.known(previousClaim) ?? null : null;
    await this.sendLastItems(owner, contact.toString(), features, before, async () => item);
  }
}

/** What a node shares of a remote contact's presence: null when malformed. */
function parseSharedPresence(payload: string): { account: string; contact: string; full: string; presence: Element | null } | null {
  try {
    const { a, c, f, p } = JSON.parse(payload) as Record<string, unknown>;
    if (typeof a !== 'string' || typeof c !== 'string' || typeof f !== 'string') return null;
    return { account: a, contact: c, full: f, presence: typeof p === 'string' ? parse(p) : null };
  } catch {
    return null;
  }
}

/** The <event/> of a publish: the item, with its payload when the node delivers payloads. */
export function itemsEvent(node: PepNode, item: { id: string }, payload: Element | null): Element {
  const event = new Element('event', { xmlns: NS_PUBSUB_EVENT });
  const itemElement = event.c('items', { node: node.name }).c('item', { id: item.id });
  if (payload && node.config.deliverPayloads) itemElement.cnode(payload);
  return event;
}
