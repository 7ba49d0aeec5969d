// Every endpoint of the admin API (the paths are the contract scripts use, issue 5 and
// contract.md). Handlers only translate HTTP to the service layer and back.
import { z } from 'zod';
import type { AdminServices } from '../../services/index.js';
import { announcementInput, sendMessageInput } from '../../services/messages.js';
import { listOfflineInput } from '../../services/offline.js';
import { ServiceError } from '../../services/errors.js';
import { roomAffiliation, roomCreateInput, roomDestroyInput, roomListInput } from '../../services/room-input.js';
import { rosterItemInput } from '../../services/roster-admin.js';
import { listSessionsInput } from '../../services/sessions.js';
import { createInviteInput } from '../../services/invites.js';
import { jidText, pageLimit } from '../../services/validation.js';
import { created, defineRoute, noContent, ok, type AdminRoute } from './route.js';
import * as schema from './schemas.js';

/** What GET /metrics serves (the Prometheus registry of the metrics module). */
export interface MetricsSource {
  readonly contentType: string;
  render(): Promise<string>;
}

export interface RouteDependencies {
  services: AdminServices;
  metrics: MetricsSource;
  /** The OpenAPI document of these routes (built from them). */
  openApi: () => unknown;
}

const accountParam = z.strictObject({ jid: jidText.describe('bare JID of a local account') });

const accountsQuery = z.strictObject({
  domain: z.string().min(1).max(1023).optional().describe('only accounts of this domain'),
  search: z.string().min(1).max(1023).optional().describe('case-insensitive substring of the username'),
  limit: pageLimit.default(1000).describe('page size, 1..10000'),
  after: jidText.optional().describe('`next` of the previous page'),
});

const password = z.string().min(1, 'a non-empty password is required').max(1024);

const roomParam = z.strictObject({ jid: jidText.describe('room@conference.<domain>') });

/**
 * The room services name their inputs `room` (the room), `jid` (a member) and the settings
 * by themselves; errors name the field as this request spells it.
 */
async function asRequestFields<T>(work: Promise<T>, fields: Readonly<Record<string, string>>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    const renamed = err instanceof ServiceError && err.field !== undefined ? fields[err.field] : undefined;
    if (renamed === undefined) throw err;
    throw new ServiceError((err as ServiceError).code, (err as ServiceError).message, renamed);
  }
}

export function adminRoutes({ services, metrics, openApi }: RouteDependencies): AdminRoute[] {
  const { accounts, sessions, rosters, messages, offline, archive, rooms, invites, stats, health } = services;
  return [
    defineRoute({
      method: 'get',
      path: '/health',
      access: 'public',
      operationId: 'health',
      summary: 'Liveness: the process answers',
      responses: { 200: { description: 'alive', schema: schema.health } },
      handle: () => ok(health.live()),
    }),
    defineRoute({
      method: 'get',
      path: '/ready',
      access: 'public',
      operationId: 'ready',
      summary: 'Readiness: the database answers',
      responses: { 200: { description: 'ready to serve', schema: schema.ready } },
      errors: [503],
      handle: async () => ok(await health.ready()),
    }),
    defineRoute({
      method: 'get',
      path: '/metrics',
      access: 'metrics',
      operationId: 'metrics',
      summary: 'Prometheus metrics',
      description: 'Takes an admin token or a metrics-only token (`hearth token create --scope metrics`).',
      responses: { 200: { description: 'the Prometheus text format', contentType: 'text/plain' } },
      handle: async () => ({ status: 200, body: await metrics.render(), contentType: metrics.contentType }),
    }),
    defineRoute({
      method: 'get',
      path: '/api/v1/openapi.json',
      operationId: 'openApi',
      summary: 'This document',
      responses: { 200: { description: 'OpenAPI 3.1', schema: schema.openApiDocument } },
      handle: () => ok(openApi()),
    }),

    // ---- accounts ------------------------------------------------------------------------
    defineRoute({
      method: 'get',
      path: '/api/v1/accounts',
      operationId: 'listAccounts',
      summary: 'List accounts, a page at a time, ordered by domain then username',
      query: accountsQuery,
      responses: { 200: { description: 'one page', schema: schema.accountPage } },
      errors: [400],
      handle: async ({ query }) => {
        const page = await accounts.list(query);
        return ok({
          accounts: page.accounts.map((a) => ({ jid: `${a.username}@${a.domain}`, createdAt: a.createdAt.toISOString() })),
          next: page.next,
        });
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/v1/accounts',
      operationId: 'createAccount',
      summary: 'Create an account; it can log in as soon as this answers',
      body: z.strictObject({ jid: jidText, password }),
      responses: { 201: { description: 'created', schema: schema.accountCreated } },
      errors: [400, 409],
      handle: async ({ body }) => created(await accounts.add(body.jid, body.password)),
    }),
    defineRoute({
      method: 'get',
      path: '/api/v1/accounts/{jid}',
      operationId: 'getAccount',
      summary: 'One account',
      params: accountParam,
      responses: { 200: { description: 'the account', schema: schema.accountDetails } },
      errors: [400, 404],
      handle: async ({ params }) => ok(await accounts.get(params.jid)),
    }),
    defineRoute({
      method: 'delete',
      path: '/api/v1/accounts/{jid}',
      operationId: 'deleteAccount',
      summary: 'Delete an account with everything it owns (roster, offline queue, …) and end its sessions',
      params: accountParam,
      responses: { 200: { description: 'deleted', schema: schema.accountDeleted } },
      errors: [400, 404],
      handle: async ({ params }) => ok(await accounts.remove(params.jid)),
    }),
    defineRoute({
      method: 'put',
      path: '/api/v1/accounts/{jid}/password',
      operationId: 'setPassword',
      summary: 'Change the password (sessions stay connected)',
      params: accountParam,
      body: z.strictObject({ password }),
      responses: { 200: { description: 'changed', schema: schema.passwordChanged } },
      errors: [400, 404],
      handle: async ({ params, body }) => ok(await accounts.setPassword(params.jid, body.password)),
    }),
    defineRoute({
      method: 'post',
      path: '/api/v1/accounts/{jid}/disable',
      operationId: 'disableAccount',
      summary: 'Disable an account without deleting it: it cannot log in, its sessions (hibernated ones too) end and its FAST tokens are revoked',
      params: accountParam,
      responses: { 200: { description: 'disabled (again, if it already was)', schema: schema.accountDisabled } },
      errors: [400, 404],
      handle: async ({ params }) => ok(await accounts.disable(params.jid)),
    }),
    defineRoute({
      method: 'post',
      path: '/api/v1/accounts/{jid}/enable',
      operationId: 'enableAccount',
      summary: 'Let a disabled account log in again',
      params: accountParam,
      responses: { 200: { description: 'enabled', schema: schema.accountEnabled } },
      errors: [400, 404],
      handle: async ({ params }) => ok(await accounts.enable(params.jid)),
    }),

    // ---- sessions ------------------------------------------------------------------------
    defineRoute({
      method: 'get',
      path: '/api/v1/sessions',
      operationId: 'listSessions',
      summary: 'Every connected client session, a page at a time, ordered by full JID',
      query: listSessionsInput,
      responses: { 200: { description: 'one page', schema: schema.sessionPage } },
      errors: [400],
      handle: ({ query }) => ok(sessions.list(query)),
    }),
    defineRoute({
      method: 'get',
      path: '/api/v1/accounts/{jid}/sessions',
      operationId: 'listAccountSessions',
      summary: "The account's connected resources",
      params: accountParam,
      responses: { 200: { description: 'its sessions', schema: schema.accountSessions } },
      errors: [400, 404],
      handle: async ({ params }) => ok(await sessions.ofAccount(params.jid)),
    }),
    defineRoute({
      method: 'delete',
      path: '/api/v1/accounts/{jid}/sessions',
      operationId: 'kickAccount',
      summary: 'End every session of the account (stream error policy-violation)',
      params: accountParam,
      responses: { 200: { description: 'how many were ended', schema: schema.kicked } },
      errors: [400, 404],
      handle: async ({ params }) => ok(await sessions.kick({ jid: params.jid })),
    }),
    defineRoute({
      method: 'delete',
      path: '/api/v1/accounts/{jid}/sessions/{resource}',
      operationId: 'kickResource',
      summary: 'End one session (stream error policy-violation)',
      description: 'A resource containing "/" cannot be named in a path; end all sessions of the account instead.',
      params: accountParam.extend({ resource: z.string().min(1).max(1023) }),
      responses: { 200: { description: 'ended', schema: schema.kicked } },
      errors: [400, 404],
      handle: async ({ params }) => ok(await sessions.kick(params)),
    }),

    // ---- rosters -------------------------------------------------------------------------
    defineRoute({
      method: 'get',
      path: '/api/v1/accounts/{jid}/roster',
      operationId: 'getRoster',
      summary: "The account's roster",
      params: accountParam,
      responses: { 200: { description: 'version and items', schema: schema.roster } },
      errors: [400, 404],
      handle: async ({ params }) => ok(await rosters.list(params.jid)),
    }),
    defineRoute({
      method: 'post',
      path: '/api/v1/accounts/{jid}/roster',
      operationId: 'putRosterItem',
      summary: 'Add a roster item, or replace the one for the same contact; pushed to online resources',
      description: 'Only this account\'s roster changes: the contact is sent no subscription stanza.',
      params: accountParam,
      body: rosterItemInput,
      responses: {
        201: { description: 'added', schema: schema.rosterItemSaved },
        200: { description: 'replaced', schema: schema.rosterItemSaved },
      },
      errors: [400, 404],
      handle: async ({ params, body }) => {
        const result = await rosters.add(params.jid, body);
        return result.created ? created(result) : ok(result);
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/api/v1/accounts/{jid}/roster/{contact}',
      operationId: 'deleteRosterItem',
      summary: 'Remove a roster item; pushed to online resources',
      params: accountParam.extend({ contact: jidText.describe('bare JID of the contact') }),
      responses: { 200: { description: 'removed', schema: schema.rosterItemRemoved } },
      errors: [400, 404],
      handle: async ({ params }) => ok(await rosters.remove(params)),
    }),

    // ---- messages ------------------------------------------------------------------------
    defineRoute({
      method: 'post',
      path: '/api/v1/messages',
      operationId: 'sendMessage',
      summary: 'Send a message through the router (offline storage and federation apply)',
      description: 'Without `from`, the message comes from the server (the recipient\'s domain when it is local).',
      body: sendMessageInput,
      responses: { 200: { description: 'routed (stored, when the recipient is offline)', schema: schema.messageSent } },
      errors: [400, 404],
      handle: async ({ body }) => ok(await messages.send(body)),
    }),
    defineRoute({
      method: 'post',
      path: '/api/v1/announcements',
      operationId: 'announce',
      summary: 'A headline message to every online session of a domain',
      body: announcementInput,
      responses: { 200: { description: 'routed to every session', schema: schema.announced } },
      errors: [400],
      handle: async ({ body }) => ok(await messages.announce(body)),
    }),
    defineRoute({
      method: 'get',
      path: '/api/v1/accounts/{jid}/offline',
      operationId: 'listOffline',
      summary: "The account's offline queue, oldest first",
      params: accountParam,
      query: listOfflineInput,
      responses: { 200: { description: 'the queue', schema: schema.offlineQueue } },
      errors: [400, 404],
      handle: async ({ params, query }) => ok(await offline.list(params.jid, query)),
    }),
    defineRoute({
      method: 'delete',
      path: '/api/v1/accounts/{jid}/offline',
      operationId: 'purgeOffline',
      summary: "Empty the account's offline queue",
      params: accountParam,
      responses: { 200: { description: 'purged', schema: schema.offlinePurged } },
      errors: [400, 404],
      handle: async ({ params }) => ok(await offline.purge(params.jid)),
    }),

    // ---- message archives (XEP-0313) -------------------------------------------------------
    defineRoute({
      method: 'get',
      path: '/api/v1/accounts/{jid}/archive',
      operationId: 'countArchive',
      summary: "How many messages the account's archive holds",
      params: accountParam,
      responses: { 200: { description: 'the count', schema: schema.archiveCount } },
      errors: [400, 404],
      handle: async ({ params }) => ok(await archive.count(params.jid)),
    }),
    defineRoute({
      method: 'delete',
      path: '/api/v1/accounts/{jid}/archive',
      operationId: 'purgeArchive',
      summary: "Empty the account's message archive",
      params: accountParam,
      responses: { 200: { description: 'purged', schema: schema.archivePurged } },
      errors: [400, 404],
      handle: async ({ params }) => ok(await archive.purge(params.jid)),
    }),

    // ---- group-chat rooms (XEP-0045) ------------------------------------------------------
    defineRoute({
      method: 'get',
      path: '/api/v1/rooms',
      operationId: 'listRooms',
      summary: 'Every room of the group-chat services (persistent ones, and the live ones), with its occupants now',
      query: roomListInput,
      responses: { 200: { description: 'the rooms, by service then name', schema: schema.roomList } },
      errors: [400, 404],
      handle: async ({ query }) => ok({ rooms: await rooms.list(query.domain) }),
    }),
    defineRoute({
      method: 'post',
      path: '/api/v1/rooms',
      operationId: 'createRoom',
      summary: 'Create a room with a configuration and owners; it can be entered as soon as this answers',
      description: 'Persistent unless `settings.persistent` is false. The room is created unlocked (no owner needs to configure it first).',
      body: roomCreateInput,
      responses: { 201: { description: 'created', schema: schema.roomInfo } },
      errors: [400, 404, 409],
      handle: async ({ body }) =>
        created(
          await asRequestFields(rooms.create(body.jid, body.settings ?? {}, body.owners ?? []), {
            room: 'jid',
            jid: 'owners',
            maxUsers: 'settings.maxUsers',
            historyLength: 'settings.historyLength',
          }),
        ),
    }),
    defineRoute({
      method: 'delete',
      path: '/api/v1/rooms/{jid}',
      operationId: 'destroyRoom',
      summary: 'Destroy a room: its occupants get the <destroy/> presence (with the reason), its configuration and affiliations are deleted',
      params: roomParam,
      query: z.strictObject({ reason: roomDestroyInput.shape.reason }),
      responses: { 204: { description: 'destroyed' } },
      errors: [400, 404],
      handle: async ({ params, query }) => {
        await asRequestFields(rooms.destroy(params.jid, query.reason), { room: 'jid' });
        return noContent();
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v1/rooms/{jid}/affiliations',
      operationId: 'listRoomAffiliations',
      summary: "The room's owners, admins, members and outcasts",
      params: roomParam,
      responses: { 200: { description: 'its affiliations', schema: schema.roomAffiliations } },
      errors: [400, 404],
      handle: async ({ params }) => ok({ affiliations: await asRequestFields(rooms.affiliations(params.jid), { room: 'jid' }) }),
    }),
    defineRoute({
      method: 'put',
      path: '/api/v1/rooms/{jid}/affiliations/{memberJid}',
      operationId: 'setRoomAffiliation',
      summary: "Set a user's (or a whole domain's) affiliation with the room, as an owner would; the room's occupants are told",
      description: 'outcast bans (an occupant leaves with status 301); none removes the affiliation. Removing the last owner of a room that has owners is refused (400).',
      params: roomParam.extend({ memberJid: jidText.describe('a bare JID or a domain') }),
      body: z.strictObject({ affiliation: roomAffiliation }),
      responses: { 204: { description: 'set' } },
      errors: [400, 404],
      handle: async ({ params, body }) => {
        await asRequestFields(rooms.setAffiliation(params.jid, params.memberJid, body.affiliation), { room: 'jid', jid: 'memberJid' });
        return noContent();
      },
    }),

    // ---- invitations (XEP-0401) ---------------------------------------------------------------
    defineRoute({
      method: 'get',
      path: '/api/v1/invites',
      operationId: 'listInvites',
      summary: 'Invitations not yet used (expired ones stay listed for a day), oldest first; never their tokens',
      responses: { 200: { description: 'the invitations', schema: schema.inviteList } },
      handle: async () => ok(await invites.list()),
    }),
    defineRoute({
      method: 'post',
      path: '/api/v1/invites',
      operationId: 'createInvite',
      summary: 'Mint an invitation: an xmpp: URI with a single-use preauth token, and its landing page',
      description:
        'The token is in the answer only. Refused (400) while registration.mode is closed. `account` pins the username (409 when it exists or another invitation pins it); `contact` makes a roster invitation (404 when that account does not exist); `admin` makes the new account a server administrator.',
      body: createInviteInput,
      responses: { 201: { description: 'minted', schema: schema.inviteCreated } },
      errors: [400, 404, 409],
      handle: async ({ body }) => created(await invites.create(body)),
    }),
    defineRoute({
      method: 'delete',
      path: '/api/v1/invites/{id}',
      operationId: 'revokeInvite',
      summary: 'Revoke an invitation by its id',
      params: z.strictObject({ id: z.string().regex(/^[1-9][0-9]{0,17}$/, 'expected an invitation id').describe('the id the list shows') }),
      responses: { 200: { description: 'revoked', schema: schema.inviteRevoked } },
      errors: [400, 404],
      handle: async ({ params }) => ok(await invites.revoke({ id: Number(params.id) })),
    }),
    defineRoute({
      method: 'post',
      path: '/api/v1/invites/revoke',
      operationId: 'revokeInviteByToken',
      summary: 'Revoke an invitation by its token (in the body: a token in a URL would reach logs)',
      body: z.strictObject({ token: z.string().min(1).max(256) }),
      responses: { 200: { description: 'revoked', schema: schema.inviteRevoked } },
      errors: [400, 404],
      handle: async ({ body }) => ok(await invites.revoke({ token: body.token })),
    }),

    // ---- figures -------------------------------------------------------------------------
    defineRoute({
      method: 'get',
      path: '/api/v1/stats',
      operationId: 'stats',
      summary: 'Accounts, sessions, federation streams, routed stanzas, uptime, version',
      responses: { 200: { description: 'the figures', schema: schema.stats } },
      handle: async () => ok(await stats.stats()),
    }),
  ];
}
