// The one place that decides where a stanza goes: RFC 6120 §8 and §10 (server rules for
// processing XML stanzas) and RFC 6121 §8 (delivery rules for local accounts).
import { Element } from 'ltx';
import type { Logger } from 'pino';
import { StanzaError, StreamError } from './errors.js';
import type { HookBus } from './hooks.js';
import { iqKey, type IqHandlers, type IqTarget } from './iq.js';
import { KeyedQueue } from './keyed-queue.js';
import { Jid, tryParseJid } from './jid.js';
import { LOCAL_ORIGIN, type Origin } from './origin.js';
import type { ClientSession, SessionRegistry } from './sessions.js';
import { ServiceDomains } from './services.js';
import { errorReply, iqResult } from './stanza.js';
import { markCommitting } from './stanza-marks.js';
import type { ServerEvents } from './events.js';

/** Delivery to other domains (federation, src/s2s). */
export interface RemoteDelivery {
  /** Queues a stanza for `remoteDomain` on the stream from `localDomain`; never throws. */
  send(stanza: Element, localDomain: string, remoteDomain: string): void;
}

export interface RouterOptions {
  domains: ReadonlySet<string>;
  sessions: SessionRegistry;
  iq: IqHandlers;
  hooks: HookBus<ServerEvents>;
  accountExists: (username: string, domain: string) => Promise<boolean>;
  log: Logger;
  /** Domains served by services (components), not accounts. */
  services?: ServiceDomains;
}

export interface RouterStats {
  routed: { message: number; presence: number; iq: number };
  errorsSent: number;
}

/** The asynchronous remainder of routing a stanza, if any; it never rejects. */
type Work = Promise<void> | void;

const IQ_TYPES = new Set(['get', 'set', 'result', 'error']);
const MESSAGE_TYPES = new Set(['chat', 'error', 'groupchat', 'headline', 'normal']);
const PRESENCE_TYPES = new Set([
  'error', 'probe', 'subscribe', 'subscribed', 'unavailable', 'unsubscribe', 'unsubscribed',
]);

export class Router {
  readonly stats: RouterStats = { routed: { message: 0, presence: 0, iq: 0 }, errorsSent: 0 };
  /** Messages for accounts without an available resource, in arrival order per account. */
  private readonly messageQueue = new KeyedQueue();
  /** Stanzas between two entities whose checks had to wait, in arrival order (deliver()). */
  private readonly inOrder = new KeyedQueue();
  /** Per session, the start of its last presence whose decoration had to wait. */
  private readonly decorating = new Map<string, Promise<void>>();
  private readonly domains: ReadonlySet<string>;
  private readonly sessions: SessionRegistry;
  private readonly iq: IqHandlers;
  private readonly hooks: HookBus<ServerEvents>;
  private readonly accountExists: RouterOptions['accountExists'];
  private readonly log: Logger;
  private remote: RemoteDelivery | null = null;
  private readonly services: ServiceDomains;

  constructor(options: RouterOptions) {
    this.domains = options.domains;
    this.services = options.services ?? new ServiceDomains();
    this.sessions = options.sessions;
    this.iq = options.iq;
    this.hooks = options.hooks;
    this.accountExists = options.accountExists;
    this.log = options.log;
  }

  /** Connects federation: stanzas to other domains go there instead of bouncing. */
  setRemoteDelivery(remote: RemoteDelivery): void {
    this.remote = remote;
  }

  isLocalDomain(domain: string): boolean {
    return this.domains.has(domain);
  }

  /** A domain this server answers for: an account domain, or (under) a service domain. */
  private hosts(domain: string): boolean {
    return this.domains.has(domain) || this.services.hosts(domain);
  }

  /**
   * Routes one stanza. Throws StreamError only for faults of the sending stream itself
   * (RFC 6120 §8.1.2.1 invalid-from); every other problem becomes a stanza error reply.
   * Never throws for a stanza error, never replies to an error with an error.
   * Returns, when routing goes on asynchronously, a promise (never rejecting) that settles
   * once the stanza is fully handled: delivered or stored, and what hooks store committed
   * (XEP-0198 acknowledges a client's stanza only then).
   */
  route(stanza: Element, origin: Origin): Promise<void> | void {
    return this.dispatch(stanza, origin);
  }

  /** route(), returning the pending asynchronous part (never rejects). */
  private dispatch(stanza: Element, origin: Origin): Work {
    const kind = stanza.name;
    if (kind !== 'message' && kind !== 'presence' && kind !== 'iq') {
      throw new StreamError('unsupported-stanza-type', `<${kind}/> is not a stanza`);
    }
    this.stats.routed[kind]++;

    let from: Jid;
    if (origin.kind === 'c2s') {
      from = this.stampFrom(stanza, origin.session);
    } else if (origin.kind === 's2s') {
      from = this.checkServerFrom(stanza, origin.domains);
    } else if (origin.kind === 'service') {
      from = this.checkServiceFrom(stanza, origin.domain);
    } else {
      const parsed = stanza.attrs.from ? tryParseJid(stanza.attrs.from) : null;
      if (!parsed) {
        this.log.warn({ kind }, 'dropping locally generated stanza without a valid from');
        return;
      }
      from = parsed;
    }

    const type = stanza.attrs.type;
    const rawTo = stanza.attrs.to;
    let to: Jid | null = null;
    if (rawTo !== undefined) {
      to = tryParseJid(rawTo);
      if (!to) return this.bounce(stanza, new StanzaError('jid-malformed', 'the to address is not a valid JID'));
    }
    if (origin.kind === 's2s') {
      // RFC 6120 §8.1.1.1: stanzas between servers always carry `to`; §4.9.3.6 for a domain not served here.
      if (rawTo === undefined) throw new StreamError('improper-addressing', 'a stanza between servers needs a to address');
      if (to && !this.hosts(to.domain)) throw new StreamError('host-unknown', `${to.domain} is not served here`);
    } else if (origin.kind === 'service' && rawTo === undefined) {
      throw new StreamError('improper-addressing', 'a stanza from a component needs a to address');
    }

    if (kind === 'iq') {
      if (!type || !IQ_TYPES.has(type)) return this.bounce(stanza, new StanzaError('bad-request', 'iq type must be get, set, result or error'));
      if (stanza.attrs.id === undefined) return this.bounce(stanza, new StanzaError('bad-request', 'iq needs an id'));
      if (type === 'get' || type === 'set') {
        // RFC 6120 §8.2.3: a get or set contains exactly one child element.
        let elements = 0;
        for (const child of stanza.children) if (typeof child !== 'string') elements++;
        if (elements !== 1) return this.bounce(stanza, new StanzaError('bad-request', 'iq get/set must have exactly one child element'));
      }
    } else if (kind === 'presence') {
      if (type !== undefined && !PRESENCE_TYPES.has(type)) return this.bounce(stanza, new StanzaError('bad-request', `unknown presence type "${type}"`));
    } else if (type !== undefined && !MESSAGE_TYPES.has(type)) {
      // RFC 6121 §5.2.2: an unknown message type is treated as "normal".
      stanza.attrs.type = 'normal';
    }

    if (to === null) {
      return this.routeWithoutTo(stanza, from, origin);
    }
    if (kind === 'presence' && origin.kind === 'c2s' && type !== 'error') {
      const session = origin.session;
      return this.clientPresence(session, stanza, () => this.presenceFromClient(stanza, to, session));
    }
    return this.deliver(stanza, from, to, origin);
  }

  /**
   * Routing by the `to` address, once the sender's own server has done its part: the
   * outbound filters of a local sender, then the inbound filters of a local recipient
   * (XEP-0191 blocking attaches to both), then the message hooks, then delivery. What the
   * hooks store is awaited after delivery, never before it.
   */
  private deliver(stanza: Element, from: Jid, to: Jid, origin: Origin): Work {
    const durable: Promise<unknown>[] = [];
    const check = new Check(stanza, from, to, origin, durable, this.domains);
    // RFC 6120 §10.1: stanzas between two entities are processed in order. Checks that wait
    // (a database lookup) must not let a later stanza of the same pair overtake; the pair's
    // key is only needed while some check waits.
    const pair = this.inOrder.size > 0 ? `${from.bareString()}\u0000${to.bareString()}` : null;
    const verdict = pair !== null && this.inOrder.busy(pair) ? null : this.passes(check, 0);
    if (verdict === true) {
      if (durable.length > 0) markCommitting(stanza, durable);
      return this.afterDelivery(this.deliverChecked(stanza, from, to, origin), durable, stanza);
    }
    if (verdict === false) return durable.length > 0 ? this.settle(durable) : undefined;
    let work: Work;
    const turn = this.inOrder.run(pair ?? `${from.bareString()}\u0000${to.bareString()}`, async () => {
      const go = await (verdict ?? this.passes(check, 0));
      // Delivered (or queued for offline storage) in turn; what follows runs outside it.
      if (go) {
        if (durable.length > 0) markCommitting(stanza, durable);
        work = this.deliverChecked(stanza, from, to, origin);
      }
      return go;
    });
    return this.run(turn.then((go) => (go ? this.afterDelivery(work, durable, stanza) : this.settle(durable))), stanza);
  }

  /**
   * The hooks a stanza passes before delivery, from step `step` on, synchronous while they
   * are: true to deliver, false when one took it (refused, dropped). Steps: the outbound
   * filters of a local sender, the inbound filters of a local recipient, message-outbound for
   * messages from local clients, message-inbound for messages to local accounts.
   */
  private passes(check: Check, step: number): boolean | Promise<boolean> {
    for (; step < 4; step++) {
      const taken = this.step(check, step);
      if (taken === true) return false;
      if (taken !== false) {
        const next = step + 1;
        return taken.then((stop) => (stop ? false : this.passes(check, next)));
      }
    }
    return true;
  }

  private step(c: Check, step: number): boolean | Promise<boolean> {
    switch (step) {
      case 0:
        return c.fromAccount && !c.sameAccount && this.hooks.filter('stanza-outbound', c);
      case 1:
        return c.toAccount && !c.sameAccount && this.hooks.filter('stanza-inbound', c);
      case 2:
        return c.isMessage && c.origin.kind === 'c2s'
          && this.hooks.filter('message-outbound', { stanza: c.stanza, session: c.origin.session, to: c.to, durable: c.durable });
      default:
        return c.isMessage && c.toAccount && this.hooks.filter('message-inbound', c);
    }
  }

  /** The routing work, then whatever the hooks store (stream management acks after both). */
  private afterDelivery(work: Work, durable: Promise<unknown>[], stanza: Element): Work {
    if (durable.length === 0) return work;
    return this.run(Promise.all([work, this.settle(durable)]), stanza);
  }

  private async settle(durable: Promise<unknown>[]): Promise<void> {
    const results = await Promise.allSettled(durable);
    for (const result of results) {
      if (result.status === 'rejected') this.log.error({ err: result.reason }, 'storing a routed message failed');
    }
  }

  private deliverChecked(stanza: Element, from: Jid, to: Jid, origin: Origin): Work {
    if (!this.domains.has(to.domain)) {
      const service = this.services.find(to.domain);
      if (service) {
        service.service.deliver(stanza);
        return;
      }
      // RFC 6120 §10.4: to another domain, over a server-to-server stream from the sender's
      // domain. A stanza from elsewhere is never relayed to a third domain.
      if (this.remote && this.hosts(from.domain)) {
        this.remote.send(stanza, from.domain, to.domain);
        return;
      }
      return this.bounce(stanza, new StanzaError('remote-server-not-found', `no route to ${to.domain}`));
    }
    if (to.local === '') return this.toHost(stanza, from, to, origin);
    if (to.resource === '') return this.run(this.toBare(stanza, from, to, origin), stanza);
    return this.run(this.toFull(stanza, from, to, origin), stanza);
  }

  /** RFC 6120 §8.1.2.1: the server stamps the full JID; a different `from` is a stream error. */
  private stampFrom(stanza: Element, session: ClientSession): Jid {
    const claimed = stanza.attrs.from;
    if (claimed !== undefined && claimed !== session.jid.toString()) {
      const parsed = tryParseJid(claimed);
      const matches = parsed !== null && parsed.bareString() === session.jid.bareString()
        && (parsed.resource === '' || parsed.resource === session.jid.resource);
      if (!matches) throw new StreamError('invalid-from', 'from does not match the authenticated address');
    }
    stanza.attrs.from = session.jid.toString();
    return session.jid;
  }

  /** XEP-0114 §3: a component sends from its own domain (or a subdomain of it), nothing else. */
  private checkServiceFrom(stanza: Element, domain: string): Jid {
    const claimed = stanza.attrs.from;
    const from = claimed !== undefined ? tryParseJid(claimed) : null;
    if (!from || (from.domain !== domain && !from.domain.endsWith(`.${domain}`))) {
      throw new StreamError('invalid-from', `a component sends only from ${domain}`);
    }
    return from;
  }

  /**
   * RFC 6120 §8.1.1.2, §4.9.3.9: on a server stream `from` is required and must belong to a
   * domain the stream authenticated; anything else is a spoofing attempt.
   */
  private checkServerFrom(stanza: Element, domains: ReadonlyMap<string, unknown>): Jid {
    const claimed = stanza.attrs.from;
    if (claimed === undefined) throw new StreamError('improper-addressing', 'a stanza between servers needs a from address');
    const from = tryParseJid(claimed);
    if (!from || !domains.has(from.domain)) throw new StreamError('invalid-from', 'the from domain is not one this stream authenticated');
    return from;
  }

  /** RFC 6120 §10.3: no `to` means the sender's own account (or, for presence, a broadcast). */
  private routeWithoutTo(stanza: Element, from: Jid, origin: Origin): Work {
    if (stanza.name === 'presence') {
      if (origin.kind !== 'c2s') return undefined;
      const session = origin.session;
      return this.clientPresence(session, stanza, () => this.presenceBroadcast(stanza, session));
    }
    const self = from.bare;
    if (stanza.name === 'iq') {
      return this.run(this.dispatchIq(stanza, from, self, 'bare', origin, true), stanza);
    }
    // RFC 6120 §10.3.1: a message without `to` is treated as addressed to the sender's bare JID.
    return this.deliver(stanza, from, self, origin);
  }

  private toHost(stanza: Element, from: Jid, to: Jid, origin: Origin): Work {
    if (stanza.name === 'iq') {
      return this.run(this.dispatchIq(stanza, from, to, 'host', origin, false), stanza);
    }
    // RFC 6120 §10.4.1 / RFC 6121 §8.5.1: messages and presence to the server with no
    // module interested are ignored; errors are never answered.
  }

  private async toBare(stanza: Element, from: Jid, to: Jid, origin: Origin): Promise<void> {
    const self = from.bareString() === to.bareString();
    if (stanza.name === 'iq') {
      await this.dispatchIq(stanza, from, to, 'bare', origin, self);
      return;
    }
    const resources = this.sessions.ofAccount(to.bareString());
    if (resources.length === 0) {
      if (stanza.name === 'message') {
        // The existence check and offline storage are asynchronous, yet messages for one
        // account must keep their order (XEP-0160 delivers them in order): one at a time.
        await this.messageQueue.run(to.bareString(), () => this.toAccountWithoutSessions(stanza, from, to));
      } else {
        await this.toAccountWithoutSessions(stanza, from, to);
      }
      return;
    }
    if (stanza.name === 'presence') {
      await this.presenceToAccount(stanza, from, to, resources);
      return;
    }
    const undelivered = this.messageToBare(stanza, from, to, resources);
    if (undelivered) await this.messageQueue.run(to.bareString(), () => this.undelivered(stanza, from, to));
  }

  /** A message or presence for a local account with no session: does it exist? (§8.5.1) */
  private async toAccountWithoutSessions(stanza: Element, from: Jid, to: Jid): Promise<void> {
    if (!(await this.accountExists(to.local, to.domain))) {
      // RFC 6121 §8.5.1: no such account.
      if (stanza.name === 'message') this.bounce(stanza, new StanzaError('service-unavailable'));
      // §3.1.3 (no such user): a subscription request is refused with "unsubscribed".
      else if (stanza.attrs.type === 'subscribe') void this.send(new Element('presence', { type: 'unsubscribed', from: to.bareString(), to: from.bareString() }));
      return;
    }
    if (stanza.name === 'presence') {
      await this.presenceToAccount(stanza, from, to, []);
      return;
    }
    if (this.messageToBare(stanza, from, to, [])) await this.undelivered(stanza, from, to);
  }

  /**
   * RFC 6121 §3.1.2, §4.6: presence a client addresses to someone. Subscription stanzas go to
   * the presence module (roster state first, then routed to the contact's bare JID); directed
   * presence is recorded, then routed.
   */
  private async presenceFromClient(stanza: Element, to: Jid, session: ClientSession): Promise<void> {
    const type = stanza.attrs.type;
    if (type === 'subscribe' || type === 'subscribed' || type === 'unsubscribe' || type === 'unsubscribed') {
      // §3.1.2: subscription stanzas are addressed to, and sent from, bare JIDs.
      const contact = to.bare;
      // The outbound filters (blocking) decide before the roster changes, not after.
      const own = contact.local === session.jid.local && contact.domain === session.jid.domain;
      if (!own && (await this.hooks.filter('stanza-outbound', { stanza, from: session.jid, to: contact, origin: { kind: 'c2s', session } }))) return;
      const handled = await this.hooks.emit('presence-subscription-outbound', { session, stanza, contact, type });
      if (!handled) await this.deliver(stanza, session.jid, contact, { kind: 'c2s', session });
      return;
    }
    if (type === undefined || type === 'unavailable') await this.hooks.emit('presence-directed', { session, stanza, to });
    await this.deliver(stanza, session.jid, to, { kind: 'c2s', session });
  }

  /** RFC 6121 §8.5.2.1.2–3: presence for an existing local account, by its bare JID. */
  private async presenceToAccount(stanza: Element, from: Jid, to: Jid, resources: ClientSession[]): Promise<void> {
    const type = stanza.attrs.type;
    if (type === 'subscribe' || type === 'subscribed' || type === 'unsubscribe' || type === 'unsubscribed') {
      if (await this.hooks.emit('presence-subscription-inbound', { stanza, from, to, type })) return;
      this.deliverToAvailable(stanza, resources, true);
      return;
    }
    if (type === 'probe') {
      await this.hooks.emit('presence-probe', { stanza, from, to });
      return;
    }
    // Available, unavailable and error presence: to every available resource, negative
    // priority included (RFC 6121 §4.7.2.3 only keeps messages from those).
    this.deliverToAvailable(stanza, resources, true);
  }

  /**
   * RFC 6121 §8.5.2: message to a local bare JID. Returns true when no resource may take it
   * (a chat or normal message for offline handling).
   */
  private messageToBare(stanza: Element, from: Jid, to: Jid, resources: ClientSession[]): boolean {
    const type = stanza.attrs.type ?? 'normal';
    if (type === 'error') {
      this.delivered(stanza, from, to, this.deliverToAvailable(stanza, resources, true));
      return false;
    }
    if (type === 'groupchat') {
      // §8.5.2.1.1: groupchat to a bare JID is an error.
      this.bounce(stanza, new StanzaError('service-unavailable'));
      return false;
    }
    if (type === 'headline') {
      // §8.5.2.1.1: headline goes to all non-negative resources, or is dropped.
      this.delivered(stanza, from, to, this.deliverToAvailable(stanza, resources, false));
      return false;
    }
    // chat / normal: the highest-priority non-negative available resources, all of them where equal.
    let best = -1;
    for (const s of resources) if (s.available && s.priority >= 0 && s.priority > best) best = s.priority;
    if (best < 0) return true;
    const recipients: ClientSession[] = [];
    for (const s of resources) {
      if (s.available && s.priority === best) {
        s.deliver(stanza);
        recipients.push(s);
      }
    }
    this.delivered(stanza, from, to, recipients);
    return false;
  }

  /** Returns the sessions that were given the stanza. */
  private deliverToAvailable(stanza: Element, resources: ClientSession[], includeNegative: boolean): ClientSession[] {
    const recipients: ClientSession[] = [];
    for (const s of resources) {
      if (s.available && (includeNegative || s.priority >= 0)) {
        s.deliver(stanza);
        recipients.push(s);
      }
    }
    return recipients;
  }

  /** Tells the message hooks (carbons) which sessions got a message. */
  private delivered(stanza: Element, from: Jid, to: Jid, recipients: readonly ClientSession[]): void {
    if (recipients.length === 0) return;
    void this.hooks.filter('message-delivered', { stanza, from, to, recipients });
  }

  /** RFC 6121 §8.5.2.2: offline storage takes it (hook), or the sender is told. */
  private async undelivered(stanza: Element, from: Jid, to: Jid): Promise<void> {
    const handled = await this.hooks.emit('message-undelivered', { stanza, from, to });
    // §8.5.2.2.1: without offline storage the message is refused.
    if (!handled) this.bounce(stanza, new StanzaError('service-unavailable'));
  }

  /** RFC 6121 §8.5.3: to a local full JID. */
  private async toFull(stanza: Element, from: Jid, to: Jid, origin: Origin): Promise<void> {
    if (stanza.name === 'presence') {
      const type = stanza.attrs.type;
      // Probes and subscription stanzas are the account's business, not one resource's
      // (RFC 6121 §3.1.3, §4.3.2).
      if (type === 'probe' || type === 'subscribe' || type === 'subscribed' || type === 'unsubscribe' || type === 'unsubscribed') {
        await this.toBare(stanza, from, to.bare, origin);
        return;
      }
    }
    const session = this.sessions.get(to);
    if (session) {
      session.deliver(stanza);
      if (stanza.name === 'message') this.delivered(stanza, from, to, [session]);
      return;
    }
    const type = stanza.attrs.type;
    if (stanza.name === 'iq') {
      // §8.5.3.2.4 / RFC 6120 §10.5.3.2: no such resource.
      if (type === 'get' || type === 'set') this.bounce(stanza, new StanzaError('service-unavailable'));
      return;
    }
    if (stanza.name === 'message') {
      if (type === 'groupchat') {
        // §8.5.3.2.1: groupchat to an unavailable full JID is an error.
        this.bounce(stanza, new StanzaError('service-unavailable'));
        return;
      }
      if (type === 'headline' || type === 'error') return; // §8.5.3.2.1: silently ignored
      // chat / normal: treated as addressed to the bare JID.
      await this.toBare(stanza, from, to.bare, origin);
      return;
    }
    // Other presence to a missing resource is ignored (§8.5.3.2.3).
  }

  private async dispatchIq(stanza: Element, from: Jid, to: Jid, target: IqTarget, origin: Origin, self: boolean): Promise<void> {
    const type = stanza.attrs.type;
    if (type !== 'get' && type !== 'set') {
      // Results and errors addressed to the server or an account are consumed here, by the
      // module that asked (if any).
      void this.hooks.filter('iq-response', { stanza, from, to });
      return;
    }
    if (target === 'bare' && !self) {
      const online = this.sessions.ofAccount(to.bareString()).length > 0;
      if (!online && !(await this.accountExists(to.local, to.domain))) {
        this.bounce(stanza, new StanzaError('service-unavailable'));
        return;
      }
    }
    let payload: Element | undefined;
    for (const child of stanza.children) if (typeof child !== 'string') payload = child;
    const namespace = payload?.attrs.xmlns ?? '';
    const handler = payload ? this.iq.get(iqKey(type, target, namespace)) : undefined;
    if (!handler || !payload) {
      // RFC 6120 §8.4: an iq nobody understands gets service-unavailable.
      this.bounce(stanza, new StanzaError('service-unavailable'));
      return;
    }
    try {
      const result = await handler({ stanza, payload, from, to, origin, self });
      const reply = iqResult(stanza, result ?? null);
      if (!stanza.attrs.to) delete reply.attrs.from;
      this.deliverReply(reply, from);
    } catch (err) {
      if (err instanceof StanzaError) {
        this.bounce(stanza, err);
      } else {
        this.log.error({ err, namespace }, 'iq handler failed');
        this.bounce(stanza, new StanzaError('internal-server-error'));
      }
    }
  }

  private async presenceBroadcast(stanza: Element, session: ClientSession): Promise<void> {
    const type = stanza.attrs.type;
    const initial = type === undefined && !session.available;
    if (type === undefined) {
      // RFC 6121 §4.7.2.3: priority is an integer -128..127, default 0.
      const raw = stanza.getChildText('priority');
      const priority = raw === null ? 0 : Number.parseInt(raw.trim(), 10);
      session.priority = Number.isFinite(priority) ? Math.max(-128, Math.min(127, priority)) : 0;
      session.available = true;
      session.presence = stanza;
      await this.sessions.changed(session, initial);
    } else if (type === 'unavailable') {
      session.available = false;
      session.presence = null;
      session.availableSeq = 0;
      await this.sessions.changed(session);
    }
    await this.hooks.emit('presence-broadcast', { session, stanza, initial });
  }

  /**
   * A client's presence: modules add to an available one first (presence-available-outbound),
   * then it is routed. When a module must wait (a cold cache), this presence and the session's
   * later ones start routing only once the decorations before them are done, in arrival order;
   * only the decoration is waited for, not the routing of the presence before.
   */
  private clientPresence(session: ClientSession, stanza: Element, route: () => Promise<void>): Work {
    const key = session.jid.toString();
    const available = stanza.attrs.type === undefined;
    const decorate = () => (available ? this.hooks.filter('presence-available-outbound', { session, stanza }) : false);
    const before = this.decorating.get(key);
    if (!before) {
      const decorated = decorate();
      if (typeof decorated === 'boolean') return this.run(route(), stanza);
      return this.routeWhen(key, decorated, stanza, route);
    }
    return this.routeWhen(key, before.then(decorate), stanza, route);
  }

  /** Starts `route` once `ready` settles; the session's next presence waits for that start. */
  private routeWhen(key: string, ready: Promise<unknown>, stanza: Element, route: () => Promise<void>): Work {
    let routed: Promise<void> = Promise.resolve();
    const start = () => {
      routed = route();
    };
    const started = ready.then(start, start);
    this.decorating.set(key, started);
    void started.then(() => {
      if (this.decorating.get(key) === started) this.decorating.delete(key);
    });
    return this.run(started.then(() => routed), stanza);
  }

  /**
   * A stanza that a session which ended for good had not acknowledged (XEP-0198), handled
   * as RFC 6121 §8.5.3.2 says for a resource that is no longer available: chat and normal
   * messages go to another resource or offline storage (else the sender gets an error),
   * groupchat gets an error, headlines and errors are dropped; an iq get/set is answered
   * with service-unavailable. The filters and message hooks already ran for it.
   */
  redeliver(stanza: Element): Promise<void> | void {
    const from = stanza.attrs.from ? tryParseJid(stanza.attrs.from) : null;
    const to = stanza.attrs.to ? tryParseJid(stanza.attrs.to) : null;
    if (!from || !to || !this.domains.has(to.domain) || to.local === '') return;
    const type = stanza.attrs.type;
    if (stanza.name === 'iq') {
      if (type === 'get' || type === 'set') this.bounce(stanza, new StanzaError('service-unavailable'));
      return;
    }
    if (stanza.name !== 'message') return;
    if (type === 'groupchat') {
      this.bounce(stanza, new StanzaError('service-unavailable'));
      return;
    }
    if (type !== undefined && type !== 'chat' && type !== 'normal') return;
    return this.run(to.resource === '' ? this.toBare(stanza, from, to, LOCAL_ORIGIN) : this.toFull(stanza, from, to, LOCAL_ORIGIN), stanza);
  }

  /**
   * Sends an error reply for a stanza (RFC 6120 §8.3). Never answers an error with an
   * error, and never answers iq results.
   */
  bounce(stanza: Element, error: StanzaError): void {
    const type = stanza.attrs.type;
    if (type === 'error' || (stanza.name === 'iq' && type === 'result')) return;
    const reply = errorReply(stanza, error);
    if (!reply.attrs.from || !tryParseJid(reply.attrs.from)) {
      // No (valid) address to answer from, e.g. jid-malformed: the sender's server answers.
      const sender = reply.attrs.to ? tryParseJid(reply.attrs.to) : null;
      if (sender) reply.attrs.from = sender.domain;
      else delete reply.attrs.from;
    }
    this.stats.errorsSent++;
    const to = reply.attrs.to ? tryParseJid(reply.attrs.to) : null;
    if (to) this.deliverReply(reply, to);
  }

  /** Delivers a server-generated reply to a local client (full JID) or a remote sender, or drops it. */
  private deliverReply(reply: Element, to: Jid): void {
    if (!this.domains.has(to.domain)) {
      const service = this.services.find(to.domain);
      if (service) return service.service.deliver(reply);
      const from = reply.attrs.from ? tryParseJid(reply.attrs.from) : null;
      if (this.remote && from && this.hosts(from.domain)) this.remote.send(reply, from.domain, to.domain);
      return;
    }
    if (to.resource !== '') {
      const session = this.sessions.get(to);
      if (!session) return;
      session.deliver(reply);
      if (reply.name === 'message') this.deliveredReply(reply, to, [session]);
    } else if (reply.name === 'message') {
      this.deliveredReply(reply, to, this.deliverToAvailable(reply, this.sessions.ofAccount(to.bareString()), true));
    }
  }

  /** A message error the server generated reached these sessions (carbons copy it, XEP-0280). */
  private deliveredReply(reply: Element, to: Jid, recipients: readonly ClientSession[]): void {
    const from = reply.attrs.from ? tryParseJid(reply.attrs.from) : null;
    if (from) this.delivered(reply, from, to, recipients);
  }

  /** Runs an async routing step; a failure becomes internal-server-error, never a crash. */
  private run(work: Promise<unknown> | void, stanza: Element): Work {
    if (!work) return;
    return work.then(
      () => undefined,
      (err: unknown) => {
        this.log.error({ err, kind: stanza.name }, 'routing failed');
        this.bounce(stanza, new StanzaError('internal-server-error'));
      },
    );
  }

  /**
   * A stanza a local service sends (one of a room's copies to its occupants) whose addresses
   * are parsed already: routed as send() routes it, without parsing them again.
   */
  sendParsed(stanza: Element, from: Jid, to: Jid): Promise<void> | void {
    this.stats.routed[stanza.name as 'message' | 'presence' | 'iq']++;
    return this.deliver(stanza, from, to, LOCAL_ORIGIN);
  }

  /**
   * Sends a stanza generated by the server (modules, admin actions). The promise settles once
   * local delivery is done (or the stanza is handed on), so a module that must keep an order
   * between two stanzas (RFC 6121 §3.1.5: approval, then presence) can wait for the first.
   */
  async send(stanza: Element): Promise<void> {
    await this.dispatch(stanza, LOCAL_ORIGIN);
  }
}

/** One stanza on its way through the checks before delivery (Router.passes), and the hooks' payload. */
class Check {
  readonly fromAccount: boolean;
  readonly toAccount: boolean;
  readonly sameAccount: boolean;
  readonly isMessage: boolean;

  constructor(
    readonly stanza: Element,
    readonly from: Jid,
    readonly to: Jid,
    readonly origin: Origin,
    readonly durable: Promise<unknown>[],
    domains: ReadonlySet<string>,
  ) {
    this.fromAccount = from.local !== '' && origin.kind !== 's2s' && domains.has(from.domain);
    this.toAccount = to.local !== '' && domains.has(to.domain);
    this.sameAccount = this.fromAccount && this.toAccount && from.local === to.local && from.domain === to.domain;
    this.isMessage = stanza.name === 'message';
  }
}
