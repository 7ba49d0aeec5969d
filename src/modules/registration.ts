// XEP-0077 In-Band Registration 2.5 (registration, password change, cancellation), with
// XEP-0445 Pre-Authenticated In-Band Registration 0.2 for the invitations of XEP-0401 0.6.
//
// registration.mode decides who may register before logging in:
//   closed  nobody: the feature is not announced and every request is service-unavailable;
//   invite  only a client presenting a valid invitation token (XEP-0445 <preauth/>, or the
//           token field of the registration form);
//   open    anyone, registrations without an invitation limited per address and hour
//           (registration.perIpPerHour, cluster-wide); invitations still work, and still
//           make their contact subscription and administrator grant.
// Invitations are for invite and open modes only: "open registration stays off unless the
// operator wants it", and closed means no in-band registration at all.
// Whatever the mode, a logged-in user may change its password and cancel its account.
import { Element } from 'ltx';
import { StanzaError } from '../core/errors.js';
import { makeJid, prepareLocalpart, type Jid } from '../core/jid.js';
import { defineModule } from '../core/module.js';
import { NS_DATA } from '../core/namespaces.js';
import type { PreAuthStream } from '../core/pre-auth.js';
import type { RegistrationSlot } from '../core/registration-throttle.js';
import type { ClientSession } from '../core/sessions.js';
import { iqResult } from '../core/stanza.js';
import type { IqRequest } from '../core/iq.js';
import { verifyPlainPassword } from '../sasl/credentials.js';
import { ServiceError } from '../services/errors.js';
import { isInviteToken } from '../services/invites.js';
import { tokenDigest } from '../services/tokens.js';
import type { InviteRecord } from '../storage/index.js';
import { readSubmittedForm } from '../xml/data-form.js';

export const NS_REGISTER = 'jabber:iq:register';
/** XEP-0077 §6: the stream feature. */
export const NS_REGISTER_FEATURE = 'http://jabber.org/features/iq-register';
/** XEP-0445 §4: the <preauth/> request. */
export const NS_PARS = 'urn:xmpp:pars:0';
/** XEP-0445 §3: the stream feature of a server that accepts invitations. */
export const NS_IBR_TOKEN = 'urn:xmpp:ibr-token:0';

/** XEP-0077 §12.4 form types. */
const FORM_REGISTER = 'jabber:iq:register';
const FORM_CANCEL = 'jabber:iq:register:cancel';
const FORM_CHANGE_PASSWORD = 'jabber:iq:register:changepassword';

const DAY_MS = 86_400_000;
/** Names of accounts deleted longer ago than reuseDelayDays are forgotten at most this often. */
const TOMBSTONE_PURGE_INTERVAL_MS = 3_600_000;

/** What one unauthenticated stream did so far (PreAuthStream.state). */
interface StreamRegistration {
  /** The invitation the client presented (XEP-0445 §4), accepted when it was presented. */
  invite: InviteRecord | null;
  /** XEP-0077 §3.1.1: one registration per connection, then the client logs in. */
  registered: boolean;
}

/** What a client submitted in a jabber:iq:register set: the legacy fields or the data form. */
interface Submission {
  remove: boolean;
  username: string | null;
  password: string | null;
  /** The invitation token of the form (the field this server adds to it). */
  token: string | null;
  /** jabber:iq:register:changepassword: the current password, checked when given. */
  oldPassword: string | null;
}

export const registrationModule = defineModule({
  name: 'registration',
  implements: 'XEP-0077 In-Band Registration 2.5; XEP-0445 Pre-Authenticated In-Band Registration 0.2; XEP-0401 0.6 invitations',
  hostFeatures: [NS_REGISTER],
  setup(ctx) {
    const { mode, minPasswordLength, reservedUsernames, reuseDelayDays } = ctx.config.registration;
    const reserved = new Set(reservedUsernames);
    let lastTombstonePurge = 0;

    const streamState = (stream: PreAuthStream): StreamRegistration => {
      let state = stream.state.get('registration') as StreamRegistration | undefined;
      if (!state) {
        state = { invite: null, registered: false };
        stream.state.set('registration', state);
      }
      return state;
    };

    // XEP-0077 §6, XEP-0445 §3: announced only where registration is possible. The c2s stream
    // asks only where it offers SASL (after TLS when TLS is required).
    ctx.preAuth.addFeature(() => (mode === 'closed' ? null : new Element('register', { xmlns: NS_REGISTER_FEATURE })));
    ctx.preAuth.addFeature(() => (mode === 'closed' ? null : new Element('register', { xmlns: NS_IBR_TOKEN })));

    /** Runs a pre-authentication handler; an unexpected failure is logged and answered internal-server-error. */
    async function guarded(work: () => Promise<Element>): Promise<Element> {
      try {
        return await work();
      } catch (err) {
        if (err instanceof StanzaError || err instanceof ServiceError) throw asStanzaError(err);
        ctx.log.error({ err }, 'in-band registration failed');
        throw new StanzaError('internal-server-error');
      }
    }

    /** An invitation for this stream's domain that has not expired, or null. */
    async function validInvite(token: string, domain: string): Promise<InviteRecord | null> {
      if (!isInviteToken(token)) return null;
      const invite = await ctx.stores.invites.findByDigest(tokenDigest(token));
      if (!invite || invite.domain !== domain || invite.expiresAt.getTime() <= Date.now()) return null;
      return invite;
    }

    // ---- XEP-0445 §4: the invitation token, before registering ----------------------------
    ctx.preAuth.registerIq(NS_PARS, (iq, stream) =>
      guarded(async () => {
        if (mode === 'closed') throw new StanzaError('service-unavailable');
        const payload = iq.getChildElements()[0]!;
        if (iq.attrs.type !== 'set' || payload.name !== 'preauth') throw new StanzaError('bad-request', 'expected <preauth token=…/> in an iq set');
        const token = payload.attrs.token;
        if (typeof token !== 'string' || token === '') throw new StanzaError('bad-request', 'the token attribute is missing');
        const invite = await validInvite(token, stream.domain);
        // §4: expiry is checked here only; a single-use token is used only by the registration.
        if (!invite) throw new StanzaError('item-not-found', 'The provided token is invalid or expired', 'cancel');
        streamState(stream).invite = invite;
        return iqResult(iq);
      }),
    );

    // ---- XEP-0077 §3.1: registration, before logging in -----------------------------------
    ctx.preAuth.registerIq(NS_REGISTER, (iq, stream) =>
      guarded(async () => {
        if (mode === 'closed') throw new StanzaError('service-unavailable', 'in-band registration is closed on this server');
        const state = streamState(stream);
        const query = iq.getChildElements()[0]!;
        if (query.name !== 'query') throw new StanzaError('bad-request', 'expected <query xmlns="jabber:iq:register"/>');
        if (iq.attrs.type === 'get') return iqResult(iq, registrationForm(stream.domain, state));
        return iqResult(iq, await register(query, stream, state));
      }),
    );

    async function register(query: Element, stream: PreAuthStream, state: StreamRegistration): Promise<null> {
      const submission = readSubmission(query, FORM_REGISTER);
      forgetSubmission(query);
      if (submission.remove) throw new StanzaError('registration-required', 'log in to cancel your registration');
      if (state.registered) throw new StanzaError('not-acceptable', 'one account per connection: log in with the account just registered', 'cancel');

      let invite = state.invite;
      if (submission.token !== null && !invite?.digest.equals(tokenDigest(submission.token))) {
        invite = await validInvite(submission.token, stream.domain);
        if (!invite) throw new StanzaError('item-not-found', 'The provided token is invalid or expired', 'cancel');
      }
      if (!invite && mode !== 'open') throw new StanzaError('not-allowed', `registration on ${stream.domain} needs an invitation`);

      // A pinned invitation may leave the name out: the form comes filled in with it.
      const named = submission.username !== null && submission.username.trim() !== '';
      const requested = named ? submission.username : (invite?.username ?? null);
      const username = prepareUsername(requested, stream.domain);
      const password = checkNewPassword(submission.password);
      const account = makeJid(username, stream.domain);
      await checkNameAvailable(account, invite);

      // Invited registrations are the operator's choice: only the others count per address.
      let slot: RegistrationSlot | null = null;
      if (!invite) {
        slot = await ctx.registrationThrottle.take(stream.remoteAddress);
        if (!slot) throw new StanzaError('policy-violation', 'too many registrations from your address; try again later', 'wait');
      }
      let taken: InviteRecord | null = null;
      try {
        if (invite) {
          taken = await ctx.stores.invites.take(invite.digest);
          if (!taken) throw new StanzaError('not-allowed', 'the invitation has been used or revoked');
        }
        await ctx.accounts.add(account.toString(), password);
      } catch (err) {
        if (taken) await ctx.stores.invites.restore(taken).catch((e: unknown) => ctx.log.error({ err: e }, 'could not put back an invitation'));
        await slot?.giveBack().catch(() => undefined);
        throw asStanzaError(err);
      }
      state.registered = true;
      state.invite = null;
      ctx.log.info({ jid: account.toString(), invite: taken?.id, ip: stream.remoteAddress }, 'account registered in-band');
      if (taken) await honourInvite(account, taken);
      return null;
    }

    /** A username as the registration takes it: PRECIS-prepared (RFC 7622 §3.3, RFC 8265). */
    function prepareUsername(input: string | null, domain: string): string {
      if (input === null || input.trim() === '') throw new StanzaError('not-acceptable', 'a username is required');
      // A client that sends the whole address means the same name.
      const local = input.endsWith(`@${domain}`) ? input.slice(0, -domain.length - 1) : input;
      try {
        return prepareLocalpart(local);
      } catch (err) {
        throw new StanzaError('not-acceptable', `the username is not valid: ${(err as Error).message}`);
      }
    }

    function checkNewPassword(input: string | null): string {
      // §3.1: an empty password element is missing information: not-acceptable.
      if (input === null || input === '') throw new StanzaError('not-acceptable', 'a password is required');
      if ([...input].length < minPasswordLength) {
        throw new StanzaError('not-acceptable', `the password must have at least ${minPasswordLength} characters`);
      }
      try {
        return ctx.accounts.checkPassword(input);
      } catch (err) {
        throw asStanzaError(err);
      }
    }

    /**
     * The name must be free: not reserved (unless the invitation names it: the operator chose
     * it), not deleted within reuseDelayDays, not pinned by another invitation (XEP-0401 §6.2),
     * not an account.
     */
    async function checkNameAvailable(account: Jid, invite: InviteRecord | null): Promise<void> {
      const { local, domain } = account;
      if (invite !== null && invite.username !== null && invite.username !== local) {
        throw new StanzaError('not-allowed', `this invitation is for the username ${invite.username}`);
      }
      if (invite?.username !== local && reserved.has(local)) throw new StanzaError('conflict', 'this username is reserved');
      if (reuseDelayDays > 0) {
        const now = Date.now();
        if (now - lastTombstonePurge > TOMBSTONE_PURGE_INTERVAL_MS) {
          lastTombstonePurge = now;
          await ctx.stores.tombstones.purgeBefore(new Date(now - reuseDelayDays * DAY_MS));
        }
        const deleted = await ctx.stores.tombstones.deletedSince(local, domain, new Date(now - reuseDelayDays * DAY_MS));
        if (deleted) throw new StanzaError('conflict', 'this username belonged to an account deleted recently; it cannot be registered again yet');
      }
      if (await ctx.stores.invites.reservesUsername(domain, local, new Date(), invite?.digest)) {
        throw new StanzaError('conflict', 'this username is reserved for an invitation');
      }
      if (await ctx.stores.accounts.exists(local, domain)) throw new StanzaError('conflict', 'this username is taken');
    }

    /** What the invitation promised besides the account (the account exists: failures are logged). */
    async function honourInvite(account: Jid, invite: InviteRecord): Promise<void> {
      if (invite.grantsAdmin) {
        try {
          if (await ctx.admins.grant(account)) ctx.log.info({ jid: account.toString(), invite: invite.id }, 'administrator granted by an invitation');
        } catch (err) {
          ctx.log.error({ err, jid: account.toString() }, 'could not grant administrator rights of an invitation');
        }
      }
      if (invite.contactUsername !== null) {
        try {
          await subscribeMutually(account, makeJid(invite.contactUsername, invite.domain));
        } catch (err) {
          ctx.log.error({ err, jid: account.toString() }, 'could not subscribe an invited account and its inviter');
        }
      }
    }

    /**
     * XEP-0401 §4.6: the invitee and the inviter subscribed to each other, both ways, each
     * roster pushed to its interested resources (RFC 6121 §2.1.6). The new account is offline;
     * its first presence reaches the inviter, and its probe brings back the inviter's.
     */
    async function subscribeMutually(a: Jid, b: Jid): Promise<void> {
      for (const [account, contact] of [[a, b], [b, a]] as const) {
        await ctx.rosters.exclusive(account, async () => {
          const existing = await ctx.rosters.item(account, contact.bareString());
          if (!existing && (await ctx.rosters.get(account)).items.size >= ctx.rosters.maxItems) {
            ctx.log.warn({ account: account.toString() }, 'roster full (limits.rosterItems): the invitation contact was not added');
            return;
          }
          await ctx.rosters.put(account, {
            jid: contact.bareString(),
            name: existing?.name ?? null,
            groups: existing?.groups ?? [],
            subscription: 'both',
            pendingOut: false,
            approved: false,
          });
          await ctx.rosters.store.removeRequest(account.local, account.domain, contact.bareString());
        });
      }
    }

    /**
     * XEP-0077 §3.1: the fields to fill in. The legacy fields and a data form (§4) that also
     * takes an invitation token; in invite mode without an accepted invitation the token is
     * required, so the form comes with instructions only (§8: a form with a required field the
     * legacy fields lack).
     */
    function registrationForm(domain: string, state: StreamRegistration): Element {
      const invite = state.invite;
      const fixed = invite?.username ?? null;
      const tokenRequired = mode === 'invite' && !invite;
      const query = new Element('query', { xmlns: NS_REGISTER });
      const instructions = tokenRequired
        ? `Registration on ${domain} needs an invitation: open your invitation link, or enter its token in the form.`
        : fixed !== null
          ? `Choose a password (at least ${minPasswordLength} characters) for ${fixed}@${domain}.`
          : `Choose a username and a password (at least ${minPasswordLength} characters) for your account on ${domain}.`;
      query.c('instructions').t(instructions);
      if (!tokenRequired) {
        query.c('username').t(fixed ?? '');
        query.c('password');
      }
      const form = query.c('x', { xmlns: NS_DATA, type: 'form' });
      form.c('title').t(`Register on ${domain}`);
      form.c('instructions').t(instructions);
      form.c('field', { var: 'FORM_TYPE', type: 'hidden' }).c('value').t(FORM_REGISTER);
      const username = form.c('field', { var: 'username', type: 'text-single', label: 'Username' });
      if (fixed !== null) username.c('value').t(fixed);
      username.c('required');
      form.c('field', { var: 'password', type: 'text-private', label: 'Password' }).c('required');
      if (!invite) {
        const token = form.c('field', { var: 'token', type: 'text-single', label: 'Invitation token' });
        if (tokenRequired) token.c('required');
      }
      return query;
    }

    // ---- XEP-0077 §3.2, §3.3: the logged-in user's own account ------------------------------
    for (const target of ['host', 'bare'] as const) {
      ctx.iq.register(`iq-get/${target}/${NS_REGISTER}`, (request) => {
        const { account } = ownAccount(request, target);
        // §3.1: a registered entity gets <registered/> and what is on file.
        const query = new Element('query', { xmlns: NS_REGISTER });
        query.c('registered');
        query.c('instructions').t('You are registered. Send a new password to change it, or <remove/> to delete your account and everything it holds.');
        query.c('username').t(account.local);
        query.c('password');
        return query;
      });
      ctx.iq.register(`iq-set/${target}/${NS_REGISTER}`, async (request) => {
        const { account, session } = ownAccount(request, target);
        const submission = readSubmission(request.payload, FORM_CHANGE_PASSWORD);
        // §3.3: the error to a password change does not carry the password back.
        forgetSubmission(request.payload);
        if (submission.remove) return cancel(request, account, session);
        return changePassword(account, session, submission);
      });
    }

    /**
     * Only a client of this server, about its own account: addressed to its own domain or its
     * own bare JID (RFC 6120 §10.3.3: no `to` is its own). Anyone else (another account, another
     * server, a component) learns nothing: service-unavailable.
     */
    function ownAccount(request: IqRequest, target: 'host' | 'bare'): { account: Jid; session: ClientSession } {
      if (request.origin.kind !== 'c2s') throw new StanzaError('service-unavailable');
      if (target === 'bare' && !request.self) throw new StanzaError('service-unavailable');
      if (target === 'host' && request.to.domain !== request.from.domain) throw new StanzaError('service-unavailable');
      return { account: request.from.bare, session: request.origin.session };
    }

    async function changePassword(account: Jid, session: ClientSession, submission: Submission): Promise<null> {
      if (submission.password === null) throw new StanzaError('bad-request', 'a new <password/> is required');
      // §3.3: an empty password never replaces the current one.
      if (submission.password === '') throw new StanzaError('not-acceptable', 'the new password is empty');
      const named = submission.username;
      if (named !== null && named !== account.local && named !== account.bareString()) {
        throw new StanzaError('not-allowed', `you are logged in as ${account.bareString()}; only its password can change here`);
      }
      // §3.3: a deployment may refuse password changes over a channel it does not trust.
      if (!session.secure && !ctx.config.c2s.allowPlaintextAuth) throw new StanzaError('not-authorized', 'change passwords over TLS only', 'modify');
      if (submission.oldPassword !== null) {
        const credential = await ctx.stores.accounts.getCredential(account.local, account.domain, 'SCRAM-SHA-256');
        if (!credential || !(await verifyPlainPassword(credential, submission.oldPassword))) {
          throw new StanzaError('not-authorized', 'the current password is not correct', 'modify');
        }
      }
      const password = checkNewPassword(submission.password);
      try {
        await ctx.accounts.setPassword(account.toString(), password);
      } catch (err) {
        throw asStanzaError(err);
      }
      ctx.log.info({ jid: account.toString() }, 'password changed in-band');
      return null;
    }

    /**
     * §3.2: the account goes with everything it owns (the database cascades; modules drop what
     * they keep on account-deleted), its sessions end with a not-authorized stream error, the
     * requesting one right after its reply, and its contacts learn that their subscriptions
     * ended (RFC 6121 §3.2, §3.3, as §3.2 asks). The database keeps its name as a tombstone.
     */
    async function cancel(request: IqRequest, account: Jid, session: ClientSession): Promise<null> {
      const roster = await ctx.rosters.get(account);
      const items = [...roster.items.values()];
      const requests = await ctx.rosters.store.listRequests(account.local, account.domain);
      try {
        await ctx.accounts.remove(account.toString(), (closing) => {
          if (closing === session) closing.write(iqResult(request.stanza));
        });
      } catch (err) {
        throw asStanzaError(err);
      }
      ctx.log.info({ jid: account.toString() }, 'account cancelled in-band');
      await endSubscriptions(account, items, requests.map((r) => r.jid));
      return null;
    }

    async function endSubscriptions(account: Jid, items: ReadonlyArray<{ jid: string; subscription: string; pendingOut: boolean }>, askedBy: readonly string[]): Promise<void> {
      const from = account.bareString();
      const send = (type: 'unsubscribe' | 'unsubscribed', to: string) =>
        ctx.router.send(new Element('presence', { type, from, to })).catch((err: unknown) => ctx.log.warn({ err, to }, 'could not end a subscription'));
      for (const item of items) {
        if (item.subscription === 'to' || item.subscription === 'both' || item.pendingOut) await send('unsubscribe', item.jid);
        if (item.subscription === 'from' || item.subscription === 'both') await send('unsubscribed', item.jid);
      }
      // Requests nobody will answer now: declined.
      for (const contact of askedBy) await send('unsubscribed', contact);
    }
  },
});

/** The service layer's errors as the stanza errors XEP-0077 names; anything else is rethrown. */
function asStanzaError(err: unknown): StanzaError {
  if (err instanceof StanzaError) return err;
  if (err instanceof ServiceError) {
    switch (err.code) {
      case 'exists':
        return new StanzaError('conflict', 'this username is taken');
      case 'invalid':
        return new StanzaError('not-acceptable', err.message);
      case 'not-found':
        return new StanzaError('registration-required', err.message);
      case 'unavailable':
        return new StanzaError('service-unavailable', err.message);
    }
  }
  throw err;
}

/**
 * The fields of a set (XEP-0077 §3): `<remove/>` alone, the data form of `formType` (which
 * takes precedence, §5), or the legacy elements. A malformed form is a bad request.
 */
function readSubmission(query: Element, formType: string): Submission {
  const children = query.getChildElements();
  const remove = children.some((child) => child.name === 'remove');
  if (remove) {
    // §3.2: <remove/> must be alone (a cancellation form is not asked for).
    if (children.length !== 1) throw new StanzaError('bad-request', '<remove/> must be the only child of <query/>');
    return { remove: true, username: null, password: null, token: null, oldPassword: null };
  }
  const x = query.getChild('x', NS_DATA);
  if (x) {
    const form = readSubmittedForm(x);
    const accepted = [FORM_REGISTER, formType];
    if (form.formType !== null && !accepted.includes(form.formType) && form.formType !== FORM_CANCEL) {
      throw new StanzaError('bad-request', `unexpected form type ${form.formType}`);
    }
    if (form.formType === FORM_CANCEL) throw new StanzaError('bad-request', 'to cancel, send <remove/>');
    const single = (name: string): string | null => {
      const values = form.fields.get(name);
      if (values === undefined || values.length === 0) return null;
      if (values.length > 1) throw new StanzaError('bad-request', `field ${name} takes one value`);
      return values[0]!;
    };
    const token = single('token')?.trim() || null;
    return { remove: false, username: single('username'), password: single('password'), token, oldPassword: single('old_password') };
  }
  const text = (name: string): string | null => {
    const el = query.getChild(name);
    return el ? el.getText() : null;
  };
  return { remove: false, username: text('username'), password: text('password'), token: null, oldPassword: null };
}

/** The submission is read: an error reply carries back no password (XEP-0077 §3.3). */
function forgetSubmission(query: Element): void {
  query.children = [];
}
