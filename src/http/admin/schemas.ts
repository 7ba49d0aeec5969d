// The admin API's response bodies, as zod schemas: the OpenAPI document is generated from
// them, and the tests check every response against that document.
import { z } from 'zod';

const timestamp = z.iso.datetime().describe('RFC 3339 time, UTC');
const count = z.number().int().min(0);
const counts = z.record(z.string(), count);

export const errorBody = z
  .strictObject({
    error: z.string().describe('invalid, unauthorized, forbidden, not-found, exists, too-large, unavailable or internal'),
    message: z.string(),
    field: z.string().optional().describe('the request field at fault (body, path or query)'),
  })
  .describe('Every error answer');

export const health = z.strictObject({ status: z.literal('ok') });
export const ready = z.strictObject({ status: z.literal('ready') });

export const openApiDocument = z.looseObject({ openapi: z.string(), info: z.looseObject({}), paths: z.looseObject({}) });

export const accountSummary = z.strictObject({ jid: z.string(), createdAt: timestamp });
export const accountPage = z.strictObject({
  accounts: z.array(accountSummary),
  next: z.string().nullable().describe('pass as `after` for the next page; null on the last'),
});
export const accountDetails = z.strictObject({
  jid: z.string(),
  createdAt: timestamp,
  sessions: count.describe('resources connected now'),
  rosterItems: count,
  offlineMessages: count,
  disabledAt: timestamp.nullable().describe('when the account was disabled; null while it may log in'),
});
export const accountCreated = z.strictObject({ jid: z.string() });
export const accountDeleted = z.strictObject({ jid: z.string(), sessionsClosed: count });
export const passwordChanged = z.strictObject({ jid: z.string(), tokensRevoked: count.describe('FAST tokens revoked (clients sign in with the new password)') });
export const accountDisabled = z.strictObject({ jid: z.string(), sessionsClosed: count, tokensRevoked: count });
export const accountEnabled = z.strictObject({ jid: z.string() });

export const sessionInfo = z.strictObject({
  jid: z.string().describe('full JID'),
  account: z.string(),
  resource: z.string(),
  ip: z.string(),
  since: timestamp,
  tls: z.boolean(),
  transport: z.enum(['c2s', 'c2s_direct_tls', 'websocket', 'bosh']).describe('how the client is connected: TCP (STARTTLS), direct TLS (XEP-0368), WebSocket (RFC 7395) or BOSH (XEP-0206)'),
  priority: z.number().int(),
  available: z.boolean().describe('has sent available presence'),
  node: z.string().nullable().describe('the cluster node holding the session; null when the server runs alone'),
});
export const sessionPage = z.strictObject({ sessions: z.array(sessionInfo), next: z.string().nullable() });
export const accountSessions = z.strictObject({ sessions: z.array(sessionInfo) });
export const kicked = z.strictObject({ kicked: count });

export const rosterItem = z.strictObject({
  jid: z.string(),
  name: z.string().optional(),
  groups: z.array(z.string()),
  subscription: z.enum(['none', 'to', 'from', 'both']),
  ask: z.literal('subscribe').optional().describe('the account asked for the contact\'s presence (RFC 6121 §2.1.2.2)'),
  approved: z.literal(true).optional().describe('pre-approved subscription (RFC 6121 §3.4)'),
});
export const roster = z.strictObject({ version: count, items: z.array(rosterItem) });
export const rosterItemSaved = z.strictObject({ created: z.boolean(), item: rosterItem });
export const rosterItemRemoved = z.strictObject({ jid: z.string(), contact: z.string() });

export const messageSent = z.strictObject({ id: z.string(), from: z.string(), to: z.string() });
export const announced = z.strictObject({ delivered: count.describe('sessions the announcement was routed to') });

export const offlineQueue = z.strictObject({
  count: count.describe('every waiting message'),
  messages: z.array(
    z.strictObject({
      id: z.number().int(),
      storedAt: timestamp,
      from: z.string().nullable(),
      type: z.string(),
      subject: z.string().optional(),
      body: z.string().optional(),
      stanza: z.string().describe('the stored message, XML'),
    }),
  ),
});
export const offlinePurged = z.strictObject({ purged: count });

export const archiveCount = z.strictObject({ count: count.describe('messages in the archive') });
export const archivePurged = z.strictObject({ purged: count.describe('messages removed') });

const stanzaCounts = z.strictObject({
  routed: z.strictObject({ message: count, presence: count, iq: count, total: count }),
  errorsSent: count,
});

export const stats = z.strictObject({
  version: z.string(),
  uptimeSeconds: count,
  accounts: z.strictObject({ registered: count, byDomain: counts }),
  sessions: z.strictObject({ online: count, byDomain: counts }),
  s2s: z.strictObject({ incoming: counts.describe('streams per peer domain'), outgoing: counts }),
  stanzas: stanzaCounts,
  nodes: z
    .array(z.strictObject({
      node: z.string(),
      uptimeSeconds: count,
      sessions: count,
      s2s: z.strictObject({ incoming: counts, outgoing: counts }),
      stanzas: stanzaCounts,
    }))
    .optional()
    .describe('in a cluster: each live node, as it last reported (every third of cluster.ttlS); the totals sum them'),
});

export const roomInfo = z.strictObject({
  jid: z.string().describe('room@conference.<domain>'),
  name: z.string().describe('"" when the room has none'),
  occupants: count.nullable().describe('occupants now'),
  persistent: z.boolean(),
  public: z.boolean().describe('listed in the service\'s directory'),
  membersOnly: z.boolean(),
});
export const roomList = z.strictObject({ rooms: z.array(roomInfo) });
export const roomAffiliations = z.strictObject({
  affiliations: z.array(
    z.strictObject({
      jid: z.string().describe('a bare JID, or a whole domain'),
      affiliation: z.enum(['owner', 'admin', 'member', 'outcast']),
      nick: z.string().nullable().describe('the nickname reserved in the room (XEP-0045 §7.10)'),
    }),
  ),
});

export const inviteInfo = z.strictObject({
  id: z.number().int().min(1).describe('what list and revoke name it by'),
  domain: z.string(),
  account: z.string().nullable().describe('the one account it may create; null: the invitee chooses'),
  contact: z.string().nullable().describe('roster invitation: the account the new user is subscribed with, both ways'),
  admin: z.boolean().describe('the new account becomes a server administrator'),
  createdAt: timestamp,
  expiresAt: timestamp,
  expired: z.boolean(),
});
export const inviteList = z.strictObject({ invites: z.array(inviteInfo) });
export const inviteCreated = z.strictObject({
  id: z.number().int().min(1),
  token: z.string().describe('shown this once; only its digest is stored'),
  uri: z.string().describe('the xmpp: URI (XEP-0401, XEP-0445)'),
  landingUrl: z.string().nullable().describe('the landing page; null when http.publicUrl is not set and the listener port is not fixed'),
  domain: z.string(),
  account: z.string().nullable(),
  contact: z.string().nullable(),
  admin: z.boolean(),
  expiresAt: timestamp,
});
export const inviteRevoked = z.strictObject({ id: z.number().int().min(1) });
