// RFC 6121 Appendix A: the presence subscription state machine, as a pure function.
// The user's server applies it to the user's roster item for a contact:
//  - "outbound": the user sent a subscription stanza to the contact (A.2);
//  - "inbound": a subscription stanza from the contact arrived for the user (A.3).

export type Subscription = 'none' | 'to' | 'from' | 'both';
export type SubscriptionStanza = 'subscribe' | 'subscribed' | 'unsubscribe' | 'unsubscribed';
export type Direction = 'outbound' | 'inbound';

/** The user's view of one contact (A.1), plus the pre-approval flag of §3.4. */
export interface SubscriptionState {
  subscription: Subscription;
  /** Pending Out: the user asked to see the contact's presence (roster ask="subscribe"). */
  pendingOut: boolean;
  /** Pending In: the contact asked to see the user's presence and awaits an answer. */
  pendingIn: boolean;
  /** §3.4: the user approved the contact's subscription before it was asked for. */
  approved: boolean;
}

export interface Transition {
  state: SubscriptionState;
  /** The state differs from the one before (the roster item is pushed when it is visible). */
  changed: boolean;
  /**
   * Outbound: route the stanza to the contact. Inbound: deliver it to the user's
   * available resources (and keep a subscribe request for later delivery).
   */
  forward: boolean;
  /**
   * Inbound only: what the user's server answers on the user's behalf, without bothering
   * the user (§3.1.3: already subscribed; §3.4: pre-approved).
   */
  autoReply?: 'subscribed';
}

export const NO_SUBSCRIPTION: SubscriptionState = Object.freeze({
  subscription: 'none',
  pendingOut: false,
  pendingIn: false,
  approved: false,
});

const hasFrom = (s: Subscription) => s === 'from' || s === 'both';
const hasTo = (s: Subscription) => s === 'to' || s === 'both';
const make = (to: boolean, from: boolean): Subscription => (to ? (from ? 'both' : 'to') : from ? 'from' : 'none');

function result(before: SubscriptionState, after: SubscriptionState, forward: boolean, autoReply?: 'subscribed'): Transition {
  const changed =
    before.subscription !== after.subscription ||
    before.pendingOut !== after.pendingOut ||
    before.pendingIn !== after.pendingIn ||
    before.approved !== after.approved;
  return autoReply ? { state: after, changed, forward, autoReply } : { state: after, changed, forward };
}

/**
 * Applies one subscription stanza to the state. Pending Out and Pending In never coexist
 * with the direction they wait for (A.1: "To + Pending Out" and "From + Pending In" are
 * not states), which the transitions below preserve.
 */
export function applySubscription(before: SubscriptionState, stanza: SubscriptionStanza, direction: Direction): Transition {
  const to = hasTo(before.subscription);
  const from = hasFrom(before.subscription);
  const s = { ...before };

  if (direction === 'outbound') {
    switch (stanza) {
      case 'subscribe':
        // A.2.1: always routed; Pending Out unless the user already has "to".
        if (!to) s.pendingOut = true;
        return result(before, s, true);
      case 'unsubscribe':
        // A.2.2: always routed; drops "to" and Pending Out.
        s.pendingOut = false;
        s.subscription = make(false, from);
        return result(before, s, true);
      case 'subscribed':
        // A.2.3: approves a pending request; otherwise it is a pre-approval (§3.4.1),
        // recorded but not routed. Already "from": nothing to do.
        if (from) return result(before, s, false);
        if (before.pendingIn) {
          s.pendingIn = false;
          s.approved = false;
          s.subscription = make(to, true);
          return result(before, s, true);
        }
        s.approved = true;
        return result(before, s, false);
      case 'unsubscribed':
        // A.2.4: cancels "from" or denies Pending In, and any pre-approval (§3.4.1).
        s.approved = false;
        if (from || before.pendingIn) {
          s.pendingIn = false;
          s.subscription = make(to, false);
          return result(before, s, true);
        }
        return result(before, s, false);
    }
  }

  switch (stanza) {
    case 'subscribe':
      // A.3.1: already "from" → answered for the user (§3.1.3); pre-approved → granted at once.
      if (from) return result(before, s, false, 'subscribed');
      if (before.approved) {
        s.approved = false;
        s.pendingIn = false;
        s.subscription = make(to, true);
        return result(before, s, false, 'subscribed');
      }
      if (before.pendingIn) return result(before, s, false);
      s.pendingIn = true;
      return result(before, s, true);
    case 'unsubscribe':
      // A.3.2: the contact no longer wants the user's presence.
      if (!from && !before.pendingIn) return result(before, s, false);
      s.pendingIn = false;
      s.subscription = make(to, false);
      return result(before, s, true);
    case 'subscribed':
      // A.3.3: only an answer to the user's own pending request counts.
      if (!before.pendingOut || to) return result(before, s, false);
      s.pendingOut = false;
      s.subscription = make(true, from);
      return result(before, s, true);
    case 'unsubscribed':
      // A.3.4: the contact denies the request or cancels the user's subscription.
      if (!to && !before.pendingOut) return result(before, s, false);
      s.pendingOut = false;
      s.subscription = make(false, from);
      return result(before, s, true);
  }
}
