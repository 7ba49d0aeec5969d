// XEP-0280: Message Carbons, version 1.0.1, with the urn:xmpp:carbons:rules:0 copying rules.
// Carbons are switched per resource; <sent/> and <received/> copies go to the account's other
// resources for local and remote traffic alike.
import { Element } from 'ltx';
import { StanzaError } from '../core/errors.js';
import type { Jid } from '../core/jid.js';
import { defineModule } from '../core/module.js';
import type { IqRequest } from '../core/iq.js';
import type { ClientSession, SessionRegistry } from '../core/sessions.js';
import { markCarbonCopied } from '../core/stanza-marks.js';
import { cloneElement, NS_CLIENT } from '../core/stanza.js';
import { NS_CARBONS, NS_CHAT_STATES, NS_FORWARD, NS_HINTS, NS_MUC_USER, NS_RECEIPTS } from '../core/namespaces.js';

/** §6: advertised by a server that applies the copying rules of this version. */
export const NS_CARBONS_RULES = 'urn:xmpp:carbons:rules:0';
const NS_MARKERS = 'urn:xmpp:chat-markers:0';
const NS_CONFERENCE = 'jabber:x:conference';

/**
 * §6 asks for errors "sent in response to a message that was eligible": that takes message
 * tracking. The module remembers the (account, peer, id) of the eligible messages it copied,
 * in a bounded insertion-ordered map (oldest forgotten first).
 */
const TRACKED_IDS = 10_000;

export type CarbonDirection = 'sent' | 'received';

/**
 * XEP-0280 §6 (urn:xmpp:carbons:rules:0): may this message be carbon-copied?
 * `peerIsFull`: the other party is addressed by (or wrote from) a full JID.
 * `isResponseToEligible` answers for type "error" whether it answers an eligible message.
 */
export function isEligible(message: Element, direction: CarbonDirection, peerIsFull: boolean, isResponseToEligible: () => boolean): boolean {
  const type = message.attrs.type ?? 'normal';
  // §6 MUC rules: groupchat is never copied. Headlines (RFC 6121 §5.2.2: alerts, no reply
  // expected) are not instant messaging, the only traffic §6 means to copy.
  if (type === 'groupchat' || type === 'headline') return false;
  let body = false;
  let imPayload = false;
  let mucUser = false;
  let invitation = false;
  for (const child of message.children) {
    if (typeof child === 'string') continue;
    const ns = child.attrs.xmlns;
    // §9: <private/> (with the XEP-0334 <no-copy/> hint) keeps a message off the other
    // resources, on the sender's server and the recipient's alike.
    if (child.name === 'private' && ns === NS_CARBONS) return false;
    if (child.name === 'no-copy' && ns === NS_HINTS) return false;
    if (child.name === 'body' && (ns === undefined || ns === NS_CLIENT)) body = true;
    else if (ns === NS_CHAT_STATES || ns === NS_RECEIPTS || ns === NS_MARKERS) imPayload = true;
    else if (child.name === 'x' && ns === NS_CONFERENCE) invitation = true; // XEP-0249 direct invitation
    else if (child.name === 'x' && ns === NS_MUC_USER) {
      mucUser = true;
      if (child.getChild('invite') !== undefined) invitation = true; // XEP-0045 §7.8.2 mediated invitation
    }
  }
  if (type === 'error') return isResponseToEligible();
  // §6 MUC rules: direct and mediated invitations are copied.
  if (invitation) return true;
  if (mucUser) {
    // §6 MUC rules: a private message from a local user to an occupant (a full JID) is copied;
    // one from an occupant is not (the room already sends it to every joined client), nor is
    // any other traffic marked as coming from or going to a room.
    if (direction === 'received' || !peerIsFull) return false;
  }
  // §6: chat; normal with a body; payloads used in IM (XEP-0085 chat states, XEP-0184
  // receipts, XEP-0333 markers) even without a body.
  return type === 'chat' || body || imPayload;
}

/** The XEP-0297 wrapping of §7 (received) and §8 (sent) copies. */
function carbon(kind: CarbonDirection, forwarded: Element, account: string, target: ClientSession, type: string | undefined): Element {
  const attrs: Record<string, string> = { from: account, to: target.jid.toString() };
  // §7/§8: the wrapper SHOULD keep the original's type; from MUST be the bare JID (§11:
  // clients accept carbons only from there).
  if (type !== undefined) attrs.type = type;
  const wrapper = new Element('message', attrs);
  wrapper.c(kind, { xmlns: NS_CARBONS }).c('forwarded', { xmlns: NS_FORWARD }).cnode(forwarded);
  return wrapper;
}

/** The original as forwarded: a copy (modules may still add to the original), in jabber:client. */
function forwardedCopy(message: Element): Element {
  const copy = cloneElement(message);
  copy.attrs.xmlns = NS_CLIENT;
  return copy;
}

/** The session flag of a resource that enabled carbons. */
const CARBONS_FLAG = 'carbons';

export const carbonsModule = defineModule({
  name: 'carbons',
  implements: 'XEP-0280 Message Carbons 1.0.1 (urn:xmpp:carbons:rules:0)',
  hostFeatures: [NS_CARBONS, NS_CARBONS_RULES],
  setup(ctx) {
    const sessions: SessionRegistry = ctx.sessions;
    /**
     * Resources that enabled carbons (§4, §5: the state is per resource): a flag on the
     * session, which outlives its socket under stream management, so a resumed session keeps
     * it and a new bind of the same resource starts without it; in a cluster every node
     * sees it.
     */
    const enabled = { has: (session: ClientSession) => session.flags.has(CARBONS_FLAG) };
    /**
     * Messages a resource sent to its own account, with the sender when they are eligible:
     * copied once their delivery is known.
     */
    const toSelf = new WeakMap<Element, ClientSession | null>();
    /** Messages for local accounts whose <private/> was removed on arrival (§9). */
    const privateMessages = new WeakSet<Element>();
    /** (account, peer bare JID, id) of eligible messages that were copied, for their errors. */
    const tracked = new Map<string, true>();

    const trackKey = (account: string, peer: string, id: string) => `${account}\n${peer}\n${id}`;
    function track(account: string, peer: string, id: string | undefined): void {
      if (id === undefined || id === '') return;
      const key = trackKey(account, peer, id);
      tracked.delete(key);
      tracked.set(key, true);
      if (tracked.size > TRACKED_IDS) tracked.delete(tracked.keys().next().value!);
    }
    const answersTracked = (account: string, peer: string, id: string | undefined) => () =>
      id !== undefined && id !== '' && tracked.has(trackKey(account, peer, id));

    /** Delivers copies to the targets; returns how many went out. */
    function deliverCopies(kind: CarbonDirection, message: Element, account: string, targets: ClientSession[]): number {
      if (targets.length === 0) return 0;
      const forwarded = forwardedCopy(message);
      const type = message.attrs.type;
      for (const target of targets) target.deliver(carbon(kind, forwarded, account, target, type));
      return targets.length;
    }

    /**
     * A message a resource sent to its own account (bare or full JID), once the router chose
     * who gets the original. §8 copies what a resource sends, §7 what its account receives;
     * here both are the same message, so each other resource sees it once: the recipients
     * have the original, every other carbons-enabled resource gets a <sent/> copy (the user
     * wrote it), the sender nothing.
     */
    function copyToSelf(message: Element, sender: ClientSession, recipients: readonly ClientSession[]): void {
      const account = sender.jid.bareString();
      const targets = sessions.ofAccount(account).filter((s) => s !== sender && enabled.has(s) && !recipients.includes(s));
      deliverCopies('sent', message, account, targets);
    }

    /**
     * §7: after RFC 6121 delivery, a <received/> copy to each carbons-enabled resource of the
     * account that did not receive the original. Only available resources: an unavailable
     * one (RFC 6121 §4.5) does not take messages from others. Returns whether any went out.
     */
    function copyReceived(message: Element, from: Jid, to: Jid, recipients: readonly ClientSession[]): boolean {
      const account = to.bareString();
      const resources = sessions.ofAccount(account);
      if (resources.length <= recipients.length) return false;
      if (privateMessages.has(message)) return false;
      const peer = from.bareString();
      if (!isEligible(message, 'received', from.resource !== '', answersTracked(account, peer, message.attrs.id))) return false;
      const targets = resources.filter((s) => s.available && enabled.has(s) && !recipients.includes(s));
      if (deliverCopies('received', message, account, targets) === 0) return false;
      if (message.attrs.type !== 'error') track(account, peer, message.attrs.id);
      return true;
    }

    // §9: "the receiving server SHOULD remove the <private/> element before delivering to the
    // recipient". The sending server keeps it, so the recipient's server (this one or a remote
    // one) sees it; here the message is remembered as private, then the element goes.
    ctx.hooks.on('message-inbound', ({ stanza }) => {
      const children = stanza.children;
      let found = false;
      for (let i = 0; i < children.length; i++) {
        const child = children[i]!;
        if (typeof child !== 'string' && child.name === 'private' && child.attrs.xmlns === NS_CARBONS) {
          found = true;
          break;
        }
      }
      if (!found) return;
      privateMessages.add(stanza);
      stanza.children = children.filter((c) => typeof c === 'string' || c.name !== 'private' || c.attrs.xmlns !== NS_CARBONS);
    });

    // §8: a message a local resource sends gets a <sent/> copy on each of the account's other
    // carbons-enabled resources, wherever it goes (local or remote, delivered or stored).
    // Low priority: hooks that drop a message run first, so nothing dropped is copied.
    ctx.hooks.on('message-outbound', ({ stanza, session, to }) => {
      const account = session.jid.bareString();
      if (to.bareString() === account) {
        // To the account itself: who gets the original is known only after delivery (and the
        // sender must not get a <received/> copy of its own message then).
        toSelf.set(stanza, isEligible(stanza, 'sent', to.resource !== '', () => false) ? session : null);
        return;
      }
      const resources = sessions.ofAccount(account);
      if (resources.length <= 1) return;
      const peer = to.bareString();
      if (!isEligible(stanza, 'sent', to.resource !== '', answersTracked(account, peer, stanza.attrs.id))) return;
      // Never to the sending resource itself; a resource without presence that enabled
      // carbons still follows its own account's conversations.
      const targets = resources.filter((s) => s !== session && enabled.has(s));
      if (deliverCopies('sent', stanza, account, targets) > 0 && stanza.attrs.type !== 'error') track(account, peer, stanza.attrs.id);
    }, -100);

    // §7: a message for a local account (from anywhere, remote domains included) that the
    // router handed to `recipients`.
    ctx.hooks.on('message-delivered', ({ stanza, from, to, recipients }) => {
      if (toSelf.has(stanza)) {
        const sender = toSelf.get(stanza);
        toSelf.delete(stanza);
        if (sender) copyToSelf(stanza, sender, recipients);
        return;
      }
      // §7: never a copy to the resources the original went to. The mark tells stream
      // management the account's other devices have it (no second delivery on expiry).
      if (copyReceived(stanza, from, to, recipients)) markCarbonCopied(stanza);
    });

    // §7 copies to every carbons-enabled resource that "did not receive it under the RFC 6121
    // delivery rules", which includes a message no resource took (RFC 6121 §8.5.2.2: only
    // negative-priority resources online, so offline storage takes it): the resources that
    // enabled carbons still see it now. Runs before offline storage and never stops it.
    ctx.hooks.on('message-undelivered', ({ stanza, from, to }) => {
      if (toSelf.has(stanza)) {
        const sender = toSelf.get(stanza);
        toSelf.delete(stanza);
        if (sender) copyToSelf(stanza, sender, []);
        return;
      }
      copyReceived(stanza, from, to, []);
    }, 100);

    /**
     * §4/§5: enable or disable for the requesting resource. Only a client of this server, for
     * itself: addressed to its own account (or no `to`) or its own server. Anything else
     * (another account's bare JID, a remote requester) is not-allowed and changes nothing.
     */
    function toggle(request: IqRequest, allowed: boolean): null {
      const { payload, origin } = request;
      if (origin.kind !== 'c2s' || !allowed) throw new StanzaError('not-allowed', 'carbons are enabled by a resource of this server for itself');
      const session = origin.session;
      if (payload.name === 'enable') session.flags.add(CARBONS_FLAG);
      else if (payload.name === 'disable') session.flags.delete(CARBONS_FLAG);
      else throw new StanzaError('bad-request', 'expected <enable/> or <disable/>');
      void sessions.changed(session);
      // §10.1: enabling or disabling twice is no error.
      return null;
    }
    // XEP-0386 §3.2: enabled inline while binding; it cannot fail, so <bound/> says nothing.
    ctx.bindFeatures.registerInline(NS_CARBONS, NS_CARBONS, (session, request) => {
      if (request.name === 'enable') {
        session.flags.add(CARBONS_FLAG);
        void sessions.changed(session);
      }
      return null;
    });
    ctx.iq.register(`iq-set/bare/${NS_CARBONS}`, (request) => toggle(request, request.self));
    ctx.iq.register(`iq-set/host/${NS_CARBONS}`, (request) =>
      toggle(request, request.origin.kind === 'c2s' && request.to.domain === request.origin.session.jid.domain));
  },
});
