// XEP-0045 §10.2 and §15.5.3: a room's configuration, its defaults, the muc#roomconfig form
// that shows and changes it, and the JSON text it is stored as.
import type { Element } from 'ltx';
import { StanzaError } from '../../core/errors.js';
import { formElement, parseBoolean, readSubmittedForm, type FormField } from '../../xml/data-form.js';

export const NS_ROOMCONFIG = 'http://jabber.org/protocol/muc#roomconfig';

export type Role = 'moderator' | 'participant' | 'visitor' | 'none';
export type Affiliation = 'owner' | 'admin' | 'member' | 'outcast' | 'none';
/** Who may send private messages to occupants (muc#roomconfig_allowpm). */
export type PmPolicy = 'anyone' | 'participants' | 'moderators' | 'none';

export interface RoomConfig {
  name: string;
  description: string;
  language: string;
  persistent: boolean;
  public: boolean;
  membersOnly: boolean;
  moderated: boolean;
  /** '' for a room without a password. */
  password: string;
  maxUsers: number;
  /** Who sees occupants' real JIDs: moderators (semi-anonymous) or anyone (non-anonymous). */
  whois: 'moderators' | 'anyone';
  /** Participants may change the subject (moderators always may). */
  changeSubject: boolean;
  /** Occupants may invite others (in members-only rooms: admins and owners always may). */
  allowInvites: boolean;
  allowPm: PmPolicy;
  /** Messages of discussion history sent to newcomers at most (muc#maxhistoryfetch). */
  historyLength: number;
  /** The room keeps an archive (muc#roomconfig_enablelogging; XEP-0313 on the room's JID). */
  archive: boolean;
  /** Visitors may ask for voice in a moderated room (§7.13). */
  voiceRequests: boolean;
}

export interface RoomConfigLimits {
  maxOccupants: number;
  historyMessages: number;
}

export function defaultRoomConfig(limits: RoomConfigLimits): RoomConfig {
  return {
    name: '',
    description: '',
    language: '',
    persistent: false,
    public: true,
    membersOnly: false,
    moderated: false,
    password: '',
    maxUsers: Math.min(200, limits.maxOccupants),
    whois: 'moderators',
    changeSubject: false,
    allowInvites: false,
    allowPm: 'anyone',
    historyLength: Math.min(20, limits.historyMessages),
    archive: true,
    voiceRequests: true,
  };
}

/** A stored configuration, completed with today's defaults for fields added since. */
export function parseRoomConfig(text: string, limits: RoomConfigLimits): RoomConfig {
  const config = defaultRoomConfig(limits);
  const stored = JSON.parse(text) as Partial<Record<keyof RoomConfig, unknown>>;
  for (const key of Object.keys(config) as (keyof RoomConfig)[]) {
    const value = stored[key];
    if (value !== undefined && typeof value === typeof config[key]) (config as unknown as Record<string, unknown>)[key] = value;
  }
  config.maxUsers = Math.min(config.maxUsers, limits.maxOccupants);
  config.historyLength = Math.min(config.historyLength, limits.historyMessages);
  return config;
}

export function serializeRoomConfig(config: RoomConfig): string {
  return JSON.stringify(config);
}

const boolean = (value: boolean) => (value ? '1' : '0');

/**
 * The muc#roomconfig form an owner fills in (§10.2), with the room's owners and admins; as
 * `submit`, the same values as a filled-in form (an operator creating a room).
 */
export function roomConfigForm(config: RoomConfig, owners: readonly string[], admins: readonly string[], limits: RoomConfigLimits, type: 'form' | 'submit' = 'form'): Element {
  const fields: FormField[] = [
    { var: 'muc#roomconfig_roomname', type: 'text-single', label: 'Name', values: [config.name] },
    { var: 'muc#roomconfig_roomdesc', type: 'text-single', label: 'Description', values: [config.description] },
    { var: 'muc#roomconfig_lang', type: 'text-single', label: 'Language', values: [config.language] },
    { var: 'muc#roomconfig_persistentroom', type: 'boolean', label: 'Keep the room when the last occupant leaves', values: [boolean(config.persistent)] },
    { var: 'muc#roomconfig_publicroom', type: 'boolean', label: 'List the room in the directory', values: [boolean(config.public)] },
    { var: 'muc#roomconfig_membersonly', type: 'boolean', label: 'Only members may enter', values: [boolean(config.membersOnly)] },
    { var: 'muc#roomconfig_moderatedroom', type: 'boolean', label: 'Only participants with voice may speak', values: [boolean(config.moderated)] },
    { var: 'muc#roomconfig_passwordprotectedroom', type: 'boolean', label: 'A password is required to enter', values: [boolean(config.password !== '')] },
    { var: 'muc#roomconfig_roomsecret', type: 'text-private', label: 'Password', values: [config.password] },
    {
      var: 'muc#roomconfig_maxusers', type: 'list-single', label: 'Maximum number of occupants', values: [String(config.maxUsers)],
      options: [...new Set([10, 20, 30, 50, 100, 200, 500, 1000, config.maxUsers].filter((n) => n <= limits.maxOccupants))].sort((a, b) => a - b).map(String),
    },
    { var: 'muc#roomconfig_whois', type: 'list-single', label: 'Who may see real addresses', values: [config.whois], options: ['moderators', 'anyone'] },
    { var: 'muc#roomconfig_changesubject', type: 'boolean', label: 'Participants may change the subject', values: [boolean(config.changeSubject)] },
    { var: 'muc#roomconfig_allowinvites', type: 'boolean', label: 'Occupants may invite others', values: [boolean(config.allowInvites)] },
    { var: 'muc#roomconfig_allowpm', type: 'list-single', label: 'Who may send private messages', values: [config.allowPm], options: ['anyone', 'participants', 'moderators', 'none'] },
    { var: 'muc#roomconfig_enablelogging', type: 'boolean', label: 'Keep an archive of the room (message archive management)', values: [boolean(config.archive)] },
    { var: 'muc#roomconfig_allowvoicerequests', type: 'boolean', label: 'Visitors may ask for voice', values: [boolean(config.voiceRequests)] },
    { var: 'muc#maxhistoryfetch', type: 'text-single', label: `Messages of history sent on entering (at most ${limits.historyMessages})`, values: [String(config.historyLength)] },
    { var: 'muc#roomconfig_roomowners', type: 'jid-multi', label: 'Owners', values: owners },
    { var: 'muc#roomconfig_roomadmins', type: 'jid-multi', label: 'Administrators', values: admins },
  ];
  return formElement(type, NS_ROOMCONFIG, type === 'form' ? fields : fields.map((f) => ({ var: f.var, values: f.values })));
}

export interface SubmittedRoomConfig {
  config: RoomConfig;
  /** Owner and admin lists when the form named them (bare JIDs, as given). */
  owners?: string[];
  admins?: string[];
}

/**
 * Applies a submitted muc#roomconfig form to `current` (§10.2: fields left out keep their
 * values). An invalid value is a bad request naming the field; unknown fields are ignored,
 * as XEP-0004 allows for forms a service did not ask for.
 */
export function applyRoomConfigForm(x: Element, current: RoomConfig, limits: RoomConfigLimits): SubmittedRoomConfig {
  const form = readSubmittedForm(x);
  if (form.formType !== null && form.formType !== NS_ROOMCONFIG) throw new StanzaError('bad-request', `a room configuration has FORM_TYPE ${NS_ROOMCONFIG}`);
  const config = { ...current };
  const result: SubmittedRoomConfig = { config };
  const single = (name: string): string | undefined => form.fields.get(name)?.[0];
  const bool = (name: string): boolean | undefined => {
    const values = form.fields.get(name);
    if (values === undefined) return undefined;
    const value = parseBoolean(values[0]);
    if (value === null) throw new StanzaError('bad-request', `${name} takes a boolean`);
    return value;
  };
  const count = (name: string, max: number): number | undefined => {
    const value = single(name);
    if (value === undefined) return undefined;
    const trimmed = value.trim();
    if (trimmed === 'none' || trimmed === '') return max;
    if (!/^\d{1,9}$/.test(trimmed)) throw new StanzaError('bad-request', `${name} takes a number`);
    return Math.min(Number(trimmed), max);
  };
  const choice = <T extends string>(name: string, options: readonly T[]): T | undefined => {
    const value = single(name);
    if (value === undefined) return undefined;
    if (!(options as readonly string[]).includes(value)) throw new StanzaError('bad-request', `${name} takes one of ${options.join(', ')}`);
    return value as T;
  };

  const text = (name: string, max: number): string | undefined => {
    const values = form.fields.get(name);
    if (values === undefined) return undefined;
    const value = values.join('\n');
    if (value.length > max) throw new StanzaError('not-acceptable', `${name} is longer than ${max} characters`);
    return value;
  };
  config.name = text('muc#roomconfig_roomname', 200) ?? config.name;
  config.description = text('muc#roomconfig_roomdesc', 2000) ?? config.description;
  config.language = text('muc#roomconfig_lang', 35) ?? config.language;
  config.persistent = bool('muc#roomconfig_persistentroom') ?? config.persistent;
  config.public = bool('muc#roomconfig_publicroom') ?? config.public;
  config.membersOnly = bool('muc#roomconfig_membersonly') ?? config.membersOnly;
  config.moderated = bool('muc#roomconfig_moderatedroom') ?? config.moderated;
  const secret = text('muc#roomconfig_roomsecret', 200);
  const protectedRoom = bool('muc#roomconfig_passwordprotectedroom');
  if (secret !== undefined) config.password = secret;
  if (protectedRoom === false) config.password = '';
  if (protectedRoom === true && config.password === '') throw new StanzaError('not-acceptable', 'a password-protected room needs muc#roomconfig_roomsecret');
  const maxUsers = count('muc#roomconfig_maxusers', limits.maxOccupants);
  if (maxUsers !== undefined) {
    if (maxUsers < 1) throw new StanzaError('not-acceptable', 'muc#roomconfig_maxusers must be at least 1');
    config.maxUsers = maxUsers;
  }
  config.whois = choice('muc#roomconfig_whois', ['moderators', 'anyone'] as const) ?? config.whois;
  config.changeSubject = bool('muc#roomconfig_changesubject') ?? config.changeSubject;
  config.allowInvites = bool('muc#roomconfig_allowinvites') ?? config.allowInvites;
  config.allowPm = choice('muc#roomconfig_allowpm', ['anyone', 'participants', 'moderators', 'none'] as const) ?? config.allowPm;
  config.archive = bool('muc#roomconfig_enablelogging') ?? config.archive;
  config.voiceRequests = bool('muc#roomconfig_allowvoicerequests') ?? config.voiceRequests;
  config.historyLength = count('muc#maxhistoryfetch', limits.historyMessages) ?? config.historyLength;
  const owners = form.fields.get('muc#roomconfig_roomowners');
  if (owners !== undefined) result.owners = owners.map((v) => v.trim()).filter((v) => v !== '');
  const admins = form.fields.get('muc#roomconfig_roomadmins');
  if (admins !== undefined) result.admins = admins.map((v) => v.trim()).filter((v) => v !== '');
  return result;
}
