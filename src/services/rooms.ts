// Group-chat rooms for operators (admin API, control socket, command line): list them with
// their occupants, create one with a configuration, destroy one, set affiliations.
//
// With the server running, every change is a request from the server's own domain (the
// service's authority: no client or remote server can send from it) handed to the room
// wherever it lives (another cluster node), which applies it with owner rights, telling its
// occupants. With the server stopped, the command line changes the database directly: no
// room is live then.
import { Element } from 'ltx';
import type { Logger } from 'pino';
import { mucDomains, type Config } from '../config.js';
import { tryParseJid, type Jid } from '../core/jid.js';
import type { MucService } from './muc/service.js';
import { defaultRoomConfig, parseRoomConfig, roomConfigForm, serializeRoomConfig, type Affiliation, type RoomConfig, type RoomConfigLimits } from './muc/room-config.js';
import { NS_MUC_ADMIN, NS_MUC_OWNER } from './muc/stanzas.js';
import type { MucStore } from '../storage/index.js';
import { ServiceError } from './errors.js';

export interface RoomInfo {
  jid: string;
  name: string;
  /** Occupants now; null when the server is not running. */
  occupants: number | null;
  persistent: boolean;
  public: boolean;
  membersOnly: boolean;
}

/** What an operator may set when creating a room (the rest takes the defaults). */
export interface RoomSettings {
  name?: string;
  description?: string;
  public?: boolean;
  membersOnly?: boolean;
  moderated?: boolean;
  password?: string;
  maxUsers?: number;
  whois?: 'moderators' | 'anyone';
  changeSubject?: boolean;
  allowInvites?: boolean;
  archive?: boolean;
  historyLength?: number;
}

export const ROOM_AFFILIATIONS = ['owner', 'admin', 'member', 'outcast', 'none'] as const;

export interface RoomService {
  list(domain?: string): Promise<RoomInfo[]>;
  /** Creates a persistent room; `exists` when it does. */
  create(jid: string, settings: RoomSettings, owners: readonly string[]): Promise<RoomInfo>;
  destroy(jid: string, reason?: string): Promise<void>;
  setAffiliation(room: string, jid: string, affiliation: Affiliation): Promise<void>;
  affiliations(room: string): Promise<Array<{ jid: string; affiliation: Affiliation; nick: string | null }>>;
}

interface RoomServiceBase {
  config: Config;
  store: MucStore;
}

function limitsOf(config: Config): RoomConfigLimits {
  return { maxOccupants: config.limits.mucOccupantsPerRoom, historyMessages: config.limits.mucHistoryMessages };
}

/** A room JID of one of this server's group-chat services; `invalid` or `not-found` otherwise. */
function roomJid(config: Config, text: string, field = 'room'): Jid {
  const jid = tryParseJid(text);
  if (!jid || jid.local === '' || jid.resource !== '') throw new ServiceError('invalid', `${text} is not a room address (room@service)`, field);
  if (!mucDomains(config).includes(jid.domain)) throw new ServiceError('not-found', `${jid.domain} is not a group-chat service of this server`, field);
  return jid;
}

function memberJid(text: string): string {
  const jid = tryParseJid(text);
  if (!jid || jid.resource !== '') throw new ServiceError('invalid', `${text} is not a bare JID or a domain`, 'jid');
  return jid.toString();
}

function settingsToConfig(settings: RoomSettings, limits: RoomConfigLimits): RoomConfig {
  // Persistent: a temporary room exists while it has occupants, and one an operator creates has none.
  const config = { ...defaultRoomConfig(limits), persistent: true };
  for (const [key, value] of Object.entries(settings) as Array<[keyof RoomSettings, unknown]>) {
    if (value === undefined) continue;
    (config as unknown as Record<string, unknown>)[key] = value;
  }
  if (config.maxUsers < 1 || config.maxUsers > limits.maxOccupants) throw new ServiceError('invalid', `maxUsers must be 1–${limits.maxOccupants}`, 'maxUsers');
  if (config.historyLength < 0 || config.historyLength > limits.historyMessages) throw new ServiceError('invalid', `historyLength must be 0–${limits.historyMessages}`, 'historyLength');
  return config;
}

function infoOf(jid: string, config: RoomConfig, occupants: number | null): RoomInfo {
  return { jid, name: config.name, occupants, persistent: config.persistent, public: config.public, membersOnly: config.membersOnly };
}

async function listStored(base: RoomServiceBase, domain: string | undefined, occupants: Map<string, number> | null): Promise<RoomInfo[]> {
  const domains = mucDomains(base.config);
  if (domain !== undefined && !domains.includes(domain)) throw new ServiceError('not-found', `${domain} is not a group-chat service of this server`, 'domain');
  const rooms: RoomInfo[] = [];
  for (const service of domain !== undefined ? [domain] : domains) {
    for (let after: string | undefined; ; ) {
      const page = await base.store.list(service, { after, limit: 1_000 });
      for (const stored of page) {
        const jid = `${stored.name}@${service}`;
        rooms.push(infoOf(jid, parseRoomConfig(stored.config, limitsOf(base.config)), occupants ? occupants.get(jid) ?? 0 : null));
      }
      if (page.length < 1_000) break;
      after = page[page.length - 1]!.name;
    }
  }
  return rooms;
}

/** With the server stopped: the database only. */
export class StoredRoomService implements RoomService {
  constructor(private readonly base: RoomServiceBase) {}

  list(domain?: string): Promise<RoomInfo[]> {
    return listStored(this.base, domain, null);
  }

  async create(text: string, settings: RoomSettings, owners: readonly string[]): Promise<RoomInfo> {
    const jid = roomJid(this.base.config, text);
    const config = settingsToConfig(settings, limitsOf(this.base.config));
    const affiliations = owners.map((owner) => ({ jid: memberJid(owner), affiliation: 'owner' as const, nick: null, reason: '' }));
    if (!(await this.base.store.create(jid.domain, jid.local, serializeRoomConfig(config), affiliations))) {
      throw new ServiceError('exists', `${jid.toString()} exists`, 'room');
    }
    return infoOf(jid.toString(), config, null);
  }

  async destroy(text: string): Promise<void> {
    const jid = roomJid(this.base.config, text);
    if (!(await this.base.store.delete(jid.domain, jid.local))) throw new ServiceError('not-found', `no room ${jid.toString()}`, 'room');
  }

  async setAffiliation(text: string, member: string, affiliation: Affiliation): Promise<void> {
    const jid = roomJid(this.base.config, text);
    const who = memberJid(member);
    const record = await this.base.store.load(jid.domain, jid.local);
    if (!record) throw new ServiceError('not-found', `no room ${jid.toString()}`, 'room');
    const previous = record.affiliations.find((a) => a.jid === who);
    // XEP-0045 §10.9, as a live room answers: a room keeps an owner.
    const owners = record.affiliations.filter((a) => a.affiliation === 'owner').length;
    if (previous?.affiliation === 'owner' && affiliation !== 'owner' && owners === 1) throw new ServiceError('invalid', 'the room would have no owner left', 'affiliation');
    await this.base.store.setAffiliation(jid.domain, jid.local, who, affiliation === 'none' ? null : { affiliation, nick: affiliation === 'outcast' ? null : previous?.nick ?? null, reason: '' });
  }

  async affiliations(text: string): Promise<Array<{ jid: string; affiliation: Affiliation; nick: string | null }>> {
    const jid = roomJid(this.base.config, text);
    const record = await this.base.store.load(jid.domain, jid.local);
    if (!record) throw new ServiceError('not-found', `no room ${jid.toString()}`, 'room');
    return record.affiliations.map((a) => ({ jid: a.jid, affiliation: a.affiliation, nick: a.nick }));
  }
}

/** With the server running: requests to the rooms, with the server's authority (MucService.operatorRequest). */
export class LiveRoomService implements RoomService {
  constructor(
    private readonly base: RoomServiceBase,
    private readonly muc: MucService | null,
    private readonly log: Logger,
  ) {}

  /** One request to a room: its answer, or a ServiceError for an error answer. */
  private async request(room: Jid, type: 'get' | 'set', payload: Element, create = false): Promise<Element> {
    if (!this.muc) throw new ServiceError('unavailable', 'group chat is disabled (muc.enabled)');
    const reply = await this.muc.operatorRequest(room, type, payload, create);
    if (reply.attrs.type !== 'error') return reply;
    const error = reply.getChild('error');
    const condition = error?.children.find((c): c is Element => typeof c !== 'string' && c.name !== 'text')?.name ?? 'undefined-condition';
    const text = error?.getChildText('text') ?? condition;
    if (condition === 'item-not-found') throw new ServiceError('not-found', `no room ${room.toString()}`, 'room');
    if (condition === 'conflict' && create) throw new ServiceError('exists', `${room.toString()} exists`, 'room');
    if (condition === 'conflict' || condition === 'not-acceptable' || condition === 'bad-request' || condition === 'jid-malformed') throw new ServiceError('invalid', text);
    this.log.warn({ room: room.toString(), condition }, 'a room refused an operator request');
    throw new ServiceError('unavailable', `${room.toString()}: ${text}`);
  }

  async list(domain?: string): Promise<RoomInfo[]> {
    return listStored(this.base, domain, this.muc ? await this.muc.occupantCounts() : new Map());
  }

  async create(text: string, settings: RoomSettings, owners: readonly string[]): Promise<RoomInfo> {
    const jid = roomJid(this.base.config, text);
    const config = settingsToConfig(settings, limitsOf(this.base.config));
    await this.request(jid, 'set', ownerConfigQuery(config, owners.map(memberJid), limitsOf(this.base.config)), true);
    return infoOf(jid.toString(), config, 0);
  }

  async destroy(text: string, reason = ''): Promise<void> {
    const jid = roomJid(this.base.config, text);
    const query = new Element('query', { xmlns: NS_MUC_OWNER });
    const destroy = query.c('destroy');
    if (reason) destroy.c('reason').t(reason);
    await this.request(jid, 'set', query);
  }

  async setAffiliation(text: string, member: string, affiliation: Affiliation): Promise<void> {
    const jid = roomJid(this.base.config, text);
    const query = new Element('query', { xmlns: NS_MUC_ADMIN });
    query.c('item', { jid: memberJid(member), affiliation });
    await this.request(jid, 'set', query);
  }

  async affiliations(text: string): Promise<Array<{ jid: string; affiliation: Affiliation; nick: string | null }>> {
    const jid = roomJid(this.base.config, text);
    const result: Array<{ jid: string; affiliation: Affiliation; nick: string | null }> = [];
    for (const affiliation of ['owner', 'admin', 'member', 'outcast'] as const) {
      const query = new Element('query', { xmlns: NS_MUC_ADMIN });
      query.c('item', { affiliation });
      const reply = await this.request(jid, 'get', query);
      for (const item of reply.getChild('query', NS_MUC_ADMIN)?.getChildren('item') ?? []) {
        if (item.attrs.jid) result.push({ jid: item.attrs.jid, affiliation, nick: item.attrs.nick ?? null });
      }
    }
    return result;
  }
}

/** The muc#owner request that creates a room with this configuration and these owners. */
function ownerConfigQuery(config: RoomConfig, owners: readonly string[], limits: RoomConfigLimits): Element {
  const query = new Element('query', { xmlns: NS_MUC_OWNER });
  query.cnode(roomConfigForm(config, owners, [], limits, 'submit'));
  return query;
}
