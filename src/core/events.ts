// The server's hook events. Keys are typed: a misspelt event is a compile error.
import type { Element } from 'ltx';
import type { Jid } from './jid.js';
import type { ClientSession } from './sessions.js';
import type { SubscriptionStanza } from './subscription.js';

export interface ServerEvents {
  /** A client session bound its resource (RFC 6120 §7). */
  'session-bound': { session: ClientSession };
  /** An account and everything it owned were deleted (its sessions are already closing). */
  'account-deleted': { jid: Jid };
  /**
   * A bound client session ended, for whatever reason (RFC 6121 §4.5.2: its presence must
   * become unavailable when it was available).
   */
  'session-closed': { session: ClientSession; wasAvailable: boolean };
  /**
   * A client sent presence without `to` (RFC 6121 §4.2, §4.4, §4.5), after the core recorded
   * availability and priority. `initial`: the first available presence of the session.
   */
  'presence-broadcast': { session: ClientSession; stanza: Element; initial: boolean };
  /** The presence module finished a session's initial presence (offline delivery attaches here). */
  'presence-initial': { session: ClientSession };
  /** A client sent directed presence (RFC 6121 §4.6) to `to`; it is routed after the hooks. */
  'presence-directed': { session: ClientSession; stanza: Element; to: Jid };
  /**
   * RFC 6121 §3: a client sent a subscription stanza. A hook that handles it (roster state,
   * routing to the contact's bare JID) returns HOOK_STOP; otherwise it is routed as is.
   */
  'presence-subscription-outbound': { session: ClientSession; stanza: Element; contact: Jid; type: SubscriptionStanza };
  /**
   * A subscription stanza for an existing local account (`to` is its bare JID). A hook that
   * handles it returns HOOK_STOP; otherwise it is delivered to the available resources.
   */
  'presence-subscription-inbound': { stanza: Element; from: Jid; to: Jid; type: SubscriptionStanza };
  /** RFC 6121 §4.3: a presence probe to an existing local account (`to` is its bare JID). */
  'presence-probe': { stanza: Element; from: Jid; to: Jid };
  /**
   * A chat/normal message to a local account found no available resource
   * (RFC 6121 §8.5.2.2). A hook that takes charge (offline storage) returns HOOK_STOP;
   * otherwise the sender gets service-unavailable.
   */
  'message-undelivered': { stanza: Element; from: Jid; to: Jid };
}
