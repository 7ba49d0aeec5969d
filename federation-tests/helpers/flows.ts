// What users do across domains, with what each of them must see (RFC 6121), asserted as the
// client receives it. Used against every kind of peer (Hearth with EXTERNAL, Hearth with
// dialback, Prosody), so each scenario is the same user-visible story.
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { bare, isMessageFrom, isPresenceFrom, isRosterPush, rosterItem, xml, type User } from './xmpp.js';

/** Cross-domain waits: the first stanza to a domain sets up the s2s stream (TLS, auth). */
export const REMOTE_MS = 15_000;

/**
 * user subscribes to contact's presence and contact approves (RFC 6121 §3.1).
 * `userHad`/`contactHad` are the subscription states before (from each one's roster).
 */
export async function subscribe(user: User, contact: User, states: { userHad: 'none' | 'from'; contactHad: 'none' | 'to' }): Promise<void> {
  await user.xmpp.send(xml('presence', { to: contact.jid, type: 'subscribe' }));

  // §3.1.2: the user's server pushes the pending-out state to the user.
  const pending = rosterItem(await user.inbox.take(isRosterPush(contact.jid), 5_000, `${user.jid}: roster push for ${contact.jid} (ask)`));
  expect(pending.attrs.subscription ?? 'none', `${user.jid}'s roster: ${contact.jid} after sending subscribe`).to.equal(states.userHad);
  expect(pending.attrs.ask, `${user.jid}'s roster: ${contact.jid} ask`).to.equal('subscribe');

  // §3.1.3: the contact receives the request from the user's bare JID.
  const request = await contact.inbox.take(isPresenceFrom(user.jid, 'subscribe'), REMOTE_MS, `${contact.jid}: subscribe from ${user.jid}`);
  expect(request.attrs.from, 'subscription request from the bare JID').to.equal(user.jid);

  await contact.xmpp.send(xml('presence', { to: user.jid, type: 'subscribed' }));

  // §3.1.5: the contact's server pushes the new state to the contact.
  const contactExpects = states.contactHad === 'none' ? 'from' : 'both';
  const approved = rosterItem(await contact.inbox.take(isRosterPush(user.jid), 5_000, `${contact.jid}: roster push for ${user.jid} (${contactExpects})`));
  expect(approved.attrs.subscription, `${contact.jid}'s roster: ${user.jid} after approving`).to.equal(contactExpects);

  // §3.1.6: the user receives the approval, a roster push, then the contact's presence.
  const userExpects = states.userHad === 'none' ? 'to' : 'both';
  await user.inbox.take(isPresenceFrom(contact.jid, 'subscribed'), REMOTE_MS, `${user.jid}: subscribed from ${contact.jid}`);
  const granted = rosterItem(await user.inbox.take(isRosterPush(contact.jid), REMOTE_MS, `${user.jid}: roster push for ${contact.jid} (${userExpects})`));
  expect(granted.attrs.subscription, `${user.jid}'s roster: ${contact.jid} once approved`).to.equal(userExpects);
  expect(granted.attrs.ask, `${user.jid}'s roster: no pending ask once approved`).to.equal(undefined);
  const available = await user.inbox.take(isPresenceFrom(contact.jid, undefined), REMOTE_MS, `${user.jid}: available presence of ${contact.jid}`);
  expect(available.attrs.from, 'presence from the contact’s full JID').to.equal(contact.fullJid);
}

/** Mutual subscription, both directions, from nothing. */
export async function subscribeMutually(x: User, y: User): Promise<void> {
  await subscribe(x, y, { userHad: 'none', contactHad: 'none' });
  await subscribe(y, x, { userHad: 'from', contactHad: 'to' });
}

/** x changes presence (show/status); y, subscribed to x, sees it from x's full JID. */
export async function presenceUpdateSeen(x: User, y: User): Promise<void> {
  const status = `status ${randomUUID()}`;
  await x.xmpp.send(xml('presence', {}, xml('show', {}, 'away'), xml('status', {}, status)));
  const seen = await y.inbox.take((el) => isPresenceFrom(x.jid, undefined)(el) && el.getChildText('status') === status, REMOTE_MS, `${y.jid}: presence update of ${x.jid}`);
  expect(seen.attrs.from).to.equal(x.fullJid);
  expect(seen.getChildText('show')).to.equal('away');
}

/** x sends a chat message to y (bare JID or full JID); y receives it from x's full JID. */
export async function messageDelivered(x: User, y: User, to: 'bare' | 'full' = 'bare'): Promise<void> {
  const body = `hello ${y.jid} from ${x.jid} ${randomUUID()}`;
  const id = randomUUID();
  await x.xmpp.send(xml('message', { to: to === 'bare' ? y.jid : y.fullJid, type: 'chat', id }, xml('body', {}, body)));
  const got = await y.inbox.take(isMessageFrom(x.jid, body), REMOTE_MS, `${y.jid}: message from ${x.jid}`);
  expect(got.attrs.from, 'message from the sender’s full JID').to.equal(x.fullJid);
  expect(bare(got.attrs.to)).to.equal(y.jid);
  expect(got.attrs.type).to.equal('chat');
  expect(got.attrs.id, 'the id travels with the message').to.equal(id);
}
