// RFC 6121 Appendix A, table by table: every (state, stanza, direction) against the RFC's
// new state and whether the stanza is routed (outbound) or delivered (inbound).
import { expect } from 'chai';
import { applySubscription, type Direction, type SubscriptionStanza, type SubscriptionState } from '../../src/core/subscription.js';

type StateName = 'None' | 'None+PO' | 'None+PI' | 'None+PO+PI' | 'To' | 'To+PI' | 'From' | 'From+PO' | 'Both';

function state(name: StateName, approved = false): SubscriptionState {
  const [base, ...flags] = name.split('+');
  return {
    subscription: base!.toLowerCase() as SubscriptionState['subscription'],
    pendingOut: flags.includes('PO'),
    pendingIn: flags.includes('PI'),
    approved,
  };
}

function nameOf(s: SubscriptionState): string {
  const base = s.subscription[0]!.toUpperCase() + s.subscription.slice(1);
  return [base, s.pendingOut ? 'PO' : '', s.pendingIn ? 'PI' : ''].filter(Boolean).join('+');
}

// [current, new state ('=' for no change), forwarded]
type Row = [StateName, StateName | '=', boolean];
const TABLES: Record<Direction, Record<SubscriptionStanza, Row[]>> = {
  outbound: {
    // A.2.1 — outbound subscribe is always routed.
    subscribe: [
      ['None', 'None+PO', true], ['None+PO', '=', true], ['None+PI', 'None+PO+PI', true], ['None+PO+PI', '=', true],
      ['To', '=', true], ['To+PI', '=', true], ['From', 'From+PO', true], ['From+PO', '=', true], ['Both', '=', true],
    ],
    // A.2.2 — outbound unsubscribe is always routed.
    unsubscribe: [
      ['None', '=', true], ['None+PO', 'None', true], ['None+PI', '=', true], ['None+PO+PI', 'None+PI', true],
      ['To', 'None', true], ['To+PI', 'None+PI', true], ['From', '=', true], ['From+PO', 'From', true], ['Both', 'From', true],
    ],
    // A.2.3 — routed only when it approves a pending request (else: pre-approval, §3.4).
    subscribed: [
      ['None', '=', false], ['None+PO', '=', false], ['None+PI', 'From', true], ['None+PO+PI', 'From+PO', true],
      ['To', '=', false], ['To+PI', 'Both', true], ['From', '=', false], ['From+PO', '=', false], ['Both', '=', false],
    ],
    // A.2.4 — routed only when it cancels or denies something.
    unsubscribed: [
      ['None', '=', false], ['None+PO', '=', false], ['None+PI', 'None', true], ['None+PO+PI', 'None+PO', true],
      ['To', '=', false], ['To+PI', 'To', true], ['From', 'None', true], ['From+PO', 'None+PO', true], ['Both', 'To', true],
    ],
  },
  inbound: {
    // A.3.1 — delivered only when it creates Pending In.
    subscribe: [
      ['None', 'None+PI', true], ['None+PO', 'None+PO+PI', true], ['None+PI', '=', false], ['None+PO+PI', '=', false],
      ['To', 'To+PI', true], ['To+PI', '=', false], ['From', '=', false], ['From+PO', '=', false], ['Both', '=', false],
    ],
    // A.3.2
    unsubscribe: [
      ['None', '=', false], ['None+PO', '=', false], ['None+PI', 'None', true], ['None+PO+PI', 'None+PO', true],
      ['To', '=', false], ['To+PI', 'To', true], ['From', 'None', true], ['From+PO', 'None+PO', true], ['Both', 'To', true],
    ],
    // A.3.3
    subscribed: [
      ['None', '=', false], ['None+PO', 'To', true], ['None+PI', '=', false], ['None+PO+PI', 'To+PI', true],
      ['To', '=', false], ['To+PI', '=', false], ['From', '=', false], ['From+PO', 'Both', true], ['Both', '=', false],
    ],
    // A.3.4
    unsubscribed: [
      ['None', '=', false], ['None+PO', 'None', true], ['None+PI', '=', false], ['None+PO+PI', 'None+PI', true],
      ['To', 'None', true], ['To+PI', 'None+PI', true], ['From', '=', false], ['From+PO', 'From', true], ['Both', 'From', true],
    ],
  },
};

describe('RFC 6121 Appendix A subscription states', function () {
  for (const direction of ['outbound', 'inbound'] as const) {
    for (const stanza of ['subscribe', 'unsubscribe', 'subscribed', 'unsubscribed'] as const) {
      describe(`${direction} ${stanza}`, function () {
        for (const [current, expected, forwarded] of TABLES[direction][stanza]) {
          it(`${current} → ${expected === '=' ? 'no change' : expected}, ${forwarded ? 'forwarded' : 'not forwarded'}`, function () {
            const t = applySubscription(state(current), stanza, direction);
            expect(nameOf(t.state)).to.equal(expected === '=' ? current : expected);
            expect(t.forward).to.equal(forwarded);
            // The pre-approval flag (§3.4) is state too: recording one is a change.
            const approvalChanged = t.state.approved !== state(current).approved;
            expect(t.changed).to.equal((expected !== '=' && expected !== current) || approvalChanged);
          });
        }
      });
    }
  }

  it('covers all 72 (state, stanza, direction) combinations', function () {
    const rows = Object.values(TABLES).flatMap((t) => Object.values(t).flat());
    expect(rows).to.have.length(72);
  });

  describe('auto-replies and pre-approval (§3.1.3, §3.4)', function () {
    it('answers an inbound subscribe for a contact that already has "from" with subscribed', function () {
      for (const s of ['From', 'From+PO', 'Both'] as const) {
        expect(applySubscription(state(s), 'subscribe', 'inbound').autoReply).to.equal('subscribed');
      }
      expect(applySubscription(state('None'), 'subscribe', 'inbound').autoReply).to.equal(undefined);
    });

    it('records an outbound subscribed without a pending request as pre-approval, not routed', function () {
      const t = applySubscription(state('None'), 'subscribed', 'outbound');
      expect(t.state.approved).to.equal(true);
      expect(t.forward).to.equal(false);
      expect(t.changed).to.equal(true);
    });

    it('grants a pre-approved inbound subscribe at once, without delivering it', function () {
      for (const [from, to] of [['None', 'From'], ['None+PO', 'From+PO'], ['To', 'Both']] as const) {
        const t = applySubscription(state(from, true), 'subscribe', 'inbound');
        expect(nameOf(t.state)).to.equal(to);
        expect(t.state.approved).to.equal(false);
        expect(t.autoReply).to.equal('subscribed');
        expect(t.forward).to.equal(false);
      }
    });

    it('cancels a pre-approval with an outbound unsubscribed', function () {
      const t = applySubscription(state('None', true), 'unsubscribed', 'outbound');
      expect(t.state.approved).to.equal(false);
      expect(t.forward).to.equal(false);
    });
  });
});
