// What operators send to the room services (src/services/rooms.ts), as zod schemas: the
// admin API validates request bodies with them, the control socket and the command line
// their parameters, so every caller refuses the same input with the same field named.
// Ranges that depend on the configuration (maxUsers, historyLength) the services check.
import { z } from 'zod';
import { ROOM_AFFILIATIONS } from './rooms.js';
import { isXmlText, jidText } from './validation.js';

/** Text of a room's configuration: XML-safe, at most what the room configuration form takes. */
function roomText(maxChars: number) {
  return z
    .string()
    .max(maxChars, `longer than ${maxChars} characters`)
    .refine(isXmlText, 'contains characters XML cannot carry (control characters)')
    .describe(`at most ${maxChars} characters; no control characters but tab and newlines`);
}

export const roomSettingsInput = z
  .strictObject({
    name: roomText(200).optional().describe('the room\'s name (muc#roomconfig_roomname)'),
    description: roomText(2000).optional(),
    public: z.boolean().optional().describe('listed in the service\'s directory (disco#items); default true'),
    membersOnly: z.boolean().optional().describe('only members (and admins, owners) may enter; default false'),
    moderated: z.boolean().optional().describe('only participants with voice may speak; default false'),
    password: roomText(200).optional().describe('needed to enter; "" for none (the default)'),
    maxUsers: z.number().int('must be an integer').min(1).optional().describe('occupants at most; up to limits.mucOccupantsPerRoom'),
    whois: z.enum(['moderators', 'anyone']).optional().describe('who sees occupants\' real JIDs; default moderators'),
    changeSubject: z.boolean().optional().describe('participants may change the subject; default false'),
    allowInvites: z.boolean().optional().describe('occupants may invite others; default false'),
    archive: z.boolean().optional().describe('the room keeps an archive (XEP-0313); default true'),
    historyLength: z.number().int('must be an integer').min(0).optional().describe('messages of history sent on entering; up to limits.mucHistoryMessages'),
  })
  .describe('the room\'s configuration; what is left out takes the defaults');

export const roomAffiliation = z.enum(ROOM_AFFILIATIONS);

export const roomCreateInput = z.strictObject({
  jid: jidText.describe('room@conference.<domain>'),
  settings: roomSettingsInput.optional(),
  owners: z.array(jidText.describe('a bare JID')).max(100).optional().describe('the room\'s owners (bare JIDs)'),
});

export const roomListInput = z.strictObject({
  domain: z.string().min(1).max(1023).optional().describe('only rooms of this group-chat service, e.g. conference.example.org'),
});

export const roomDestroyInput = z.strictObject({
  jid: jidText,
  reason: roomText(1000).optional().describe('told to the occupants with the <destroy/>'),
});

export const roomAffiliationInput = z.strictObject({
  room: jidText,
  jid: jidText.describe('a bare JID or a domain'),
  affiliation: roomAffiliation,
});
