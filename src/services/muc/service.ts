// The group-chat service (XEP-0045 1.34) of every served domain: the rooms this process
// holds, loading persistent ones from the database on first use, creating new ones, and in
// a cluster (src/cluster/ownership.ts) handing each stanza to the one node that owns its
// room. The service's own address answers disco (§6.1, §6.2) and ping.
import { createHmac } from 'node:crypto';
import { Element } from 'ltx';
import type { Logger } from 'pino';
import { NS_DISCO_INFO, NS_DISCO_ITEMS, discoInfoElement } from '../../core/disco-registry.js';
import { StanzaError } from '../../core/errors.js';
import { tryParseJid, type Jid } from '../../core/jid.js';
import { LruMap } from '../../core/lru-map.js';
import type { Ownership } from '../../cluster/ownership.js';
import type { ServiceForwarding } from '../../core/services.js';
import type { AdminCheck } from '../../core/server-admins.js';
import { errorReply, iqResult, readdress } from '../../core/stanza.js';
import { StanzaReader } from '../../xml/parse-stanza.js';
import type { ArchiveStore, MucStore } from '../../storage/index.js';
import { ArchiveClock, archiveIdTime } from '../../modules/mam/clock.js';
import { defaultRoomConfig, parseRoomConfig, serializeRoomConfig, type RoomConfig, type RoomConfigLimits } from './room-config.js';
import { Room, type RoomHost } from './room.js';
import { NS_MUC, NS_MUC_OWNER, NS_MUC_STABLE_ID } from './stanzas.js';
import { NS_DATA } from '../../core/namespaces.js';

const NS_PING = 'urn:xmpp:ping';

/** Requests relayed from one occupant to another (an iq to room/nick) waiting for their answer. */
const RELAYED_IQS = 10_000;

export type CreatePolicy = 'anyone' | 'local' | 'admins';

export interface MucServiceOptions {
  /** Each group-chat domain, with the account domain it serves. */
  domains: ReadonlyMap<string, string>;
  /** The account domains of this server (createRooms: local). */
  localDomains: ReadonlySet<string>;
  /** Server administrators (createRooms: admins). */
  admins: AdminCheck;
  createRooms: CreatePolicy;
  limits: RoomConfigLimits;
  store: MucStore;
  archive: ArchiveStore;
  ownership: Ownership;
  /** In a cluster: how stanzas reach the node owning a room. */
  forwarding: ServiceForwarding | null;
  /** Keys occupant ids (XEP-0421): one secret for the whole service, kept in the database. */
  secret: Buffer;
  send: (stanza: Element) => void;
  /** Routes a stanza whose addresses are parsed already. */
  deliver: (stanza: Element, from: Jid, to: Jid) => void;
  queryArchive: RoomHost['queryArchive'];
  log: Logger;
}

export class MucService {
  private readonly rooms = new Map<string, Room>();
  /** Per room: stanzas waiting while it is located or loaded, in arrival order. */
  private readonly waiting = new Map<string, Element[]>();
  private readonly relayed = new LruMap<string, RelayedIq>(RELAYED_IQS);
  private readonly host: RoomHost;
  private readonly reader = new StanzaReader();
  private relayCounter = 0;
  private stopping = false;
  /** Operators' requests (operatorRequest) waiting here for their room's answer, by id. */
  private readonly operatorReplies = new Map<string, (reply: Element) => void>();
  /** Operators' requests that create their room: refused with conflict when it exists. */
  private readonly creations = new WeakSet<Element>();
  private operatorCounter = 0;
  /** Rooms just removed whose rows are still being deleted: not loaded again before. */
  private readonly deletions = new Map<string, Promise<unknown>>();

  constructor(private readonly options: MucServiceOptions) {
    this.host = {
      limits: options.limits,
      store: options.store,
      archive: options.archive,
      clock: new ArchiveClock(),
      log: options.log,
      send: (stanza) => this.send(stanza),
      deliver: options.deliver,
      parse: (xml) => this.reader.read(xml),
      relayIq: (stanza, via, target) => this.relayIq(stanza, via, target),
      occupantId: (room, realBare) => createHmac('sha256', options.secret).update(`occupant-id\0${room}\0${realBare}`).digest('base64url').slice(0, 22),
      queryArchive: options.queryArchive,
      removed: (room) => this.removed(room),
      isAuthority: (jid) => this.isAuthority(jid),
    };
    options.ownership.onLost((key) => {
      const room = this.rooms.get(key.slice(ROOM_KEY.length));
      // Another node owns it now: this copy stops answering (its occupants rejoin there).
      if (key.startsWith(ROOM_KEY) && room) this.rooms.delete(room.jid);
    });
    options.forwarding?.onForwarded((_domain, stanza) => this.deliver(stanza, true), (domain) => options.domains.has(domain));
    options.forwarding?.onAsked(OCCUPANT_COUNTS, () => Promise.resolve(JSON.stringify([...this.localCounts()])));
    options.forwarding?.onAsked(OPERATOR, async (body) => {
      const { xml, create } = JSON.parse(body) as { xml: string; create: boolean };
      const iq = this.reader.read(xml);
      if (!iq) throw new Error('an unreadable operator request');
      return (await this.operatorHere(iq, create)).toString();
    });
  }

  /** What rooms send: an answer to an operator's request goes to it, the rest is routed. */
  private send(stanza: Element): void {
    if (stanza.name === 'iq' && (stanza.attrs.type === 'result' || stanza.attrs.type === 'error')) {
      const id = stanza.attrs.id ?? '';
      const reply = this.operatorReplies.get(id);
      const to = stanza.attrs.to !== undefined ? tryParseJid(stanza.attrs.to) : null;
      if (reply && to && this.isAuthority(to)) {
        this.operatorReplies.delete(id);
        reply(stanza);
        return;
      }
    }
    this.options.send(stanza);
  }

  /**
   * An operator's request to a room (src/services/rooms.ts), from the server's own domain,
   * which has owner rights in every room: the room's answer, a result or an error iq. It
   * never goes through the router (nobody can forge the answer); in a cluster it is carried
   * to the node holding the room and the answer back. `create`: the request (a muc#owner
   * configuration) creates the room, and gets conflict when the room exists.
   */
  async operatorRequest(room: Jid, type: 'get' | 'set', payload: Element, create = false): Promise<Element> {
    const authority = this.options.domains.get(room.domain);
    if (authority === undefined || room.local === '' || room.resource !== '') throw new StanzaError('item-not-found', `${room.toString()} is not a room here`);
    const iq = new Element('iq', { type, id: `operator-${this.options.ownership.node}-${++this.operatorCounter}`, from: authority, to: room.toString() });
    iq.cnode(payload);
    const owner = await this.options.ownership.owner(ROOM_KEY + room.toString());
    if (owner === this.options.ownership.node) return this.operatorHere(iq, create);
    const answer = await this.options.forwarding?.ask(owner, OPERATOR, JSON.stringify({ xml: iq.toString(), create }), OPERATOR_TIMEOUT_MS + 1_000);
    const reply = answer ? this.reader.read(answer) : null;
    return reply ?? errorReply(iq, new StanzaError('recipient-unavailable', 'the node holding the room did not answer', 'wait'));
  }

  private operatorHere(iq: Element, create: boolean): Promise<Element> {
    const id = iq.attrs.id!;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.operatorReplies.delete(id);
        resolve(errorReply(iq, new StanzaError('recipient-unavailable', 'the room did not answer', 'wait')));
      }, OPERATOR_TIMEOUT_MS);
      this.operatorReplies.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      if (create) this.creations.add(iq);
      this.deliver(iq);
    });
  }

  /** A stanza the router addressed to a service domain (or its rooms). */
  deliver(stanza: Element, forwarded = false): void {
    const to = stanza.attrs.to !== undefined ? tryParseJid(stanza.attrs.to) : null;
    const from = stanza.attrs.from !== undefined ? tryParseJid(stanza.attrs.from) : null;
    if (!to || !from) return;
    if (to.local === '') return this.toService(stanza, from, to);
    const key = to.bareString();
    if (to.resource !== '' && this.answered(stanza, from, to)) return;
    const room = this.rooms.get(key);
    const queue = this.waiting.get(key);
    if (queue) {
      queue.push(stanza);
      return;
    }
    if (room && this.options.ownership.isMine(ROOM_KEY + key)) {
      this.handle(room, stanza, from, to);
      return;
    }
    this.waiting.set(key, [stanza]);
    void this.locate(key, to, forwarded);
  }

  private handle(room: Room, stanza: Element, from: Jid, to: Jid): void {
    if (this.creations.has(stanza)) {
      this.bounce(stanza, new StanzaError('conflict', `${room.jid} exists`, 'cancel'));
      return;
    }
    try {
      room.handle(stanza, from, to.resource);
    } catch (err) {
      this.options.log.error({ err, room: room.jid }, 'a room failed to handle a stanza');
      this.bounce(stanza, new StanzaError('internal-server-error'));
    }
  }

  /** Finds the room's owner; this node loads (or creates) it, or forwards what waits to the owner. */
  private async locate(key: string, to: Jid, forwarded: boolean): Promise<void> {
    let room: Room | null = null;
    let owner: string | null = null;
    try {
      owner = await this.options.ownership.owner(ROOM_KEY + key);
      if (owner === this.options.ownership.node) {
        await this.deletions.get(key);
        room = this.rooms.get(key) ?? (await this.load(to.local, to.domain));
      }
    } catch (err) {
      this.options.log.error({ err, room: key }, 'locating a room failed');
      this.failWaiting(key, new StanzaError('internal-server-error', 'the room cannot be reached now', 'wait'));
      return;
    }
    const stanzas = this.waiting.get(key) ?? [];
    this.waiting.delete(key);
    if (owner !== this.options.ownership.node) {
      // Another node owns the room. A stanza forwarded here already means the owner changed
      // meanwhile: it is not forwarded again (its sender is told to try again).
      for (const stanza of stanzas) void this.forward(owner, to.domain, stanza, forwarded);
      return;
    }
    for (const stanza of stanzas) {
      const from = tryParseJid(stanza.attrs.from!)!;
      const target = tryParseJid(stanza.attrs.to!)!;
      const current = room ?? this.rooms.get(key);
      if (current) this.handle(current, stanza, from, target);
      else room = this.create(stanza, from, target);
    }
  }

  private async forward(owner: string, domain: string, stanza: Element, alreadyForwarded: boolean): Promise<void> {
    const forwarding = this.options.forwarding;
    const reached = forwarding && !alreadyForwarded ? await forwarding.forward(owner, domain, stanza).catch(() => false) : false;
    // The owner died and its liveness has not lapsed yet (ownership.ts): try again later.
    if (!reached) this.bounce(stanza, new StanzaError('recipient-unavailable', 'the room is moving to another node; try again', 'wait'));
  }

  private failWaiting(key: string, error: StanzaError): void {
    const stanzas = this.waiting.get(key) ?? [];
    this.waiting.delete(key);
    for (const stanza of stanzas) this.bounce(stanza, error);
  }

  /** A persistent room from the database, or null when there is none. */
  private async load(name: string, domain: string): Promise<Room | null> {
    const record = await this.options.store.load(domain, name);
    if (!record) return null;
    const config = parseRoomConfig(record.config, this.options.limits);
    if (!config.persistent) {
      // A temporary room left behind by a process that died: nobody is in it any more.
      await this.options.store.delete(domain, name);
      return null;
    }
    const room = new Room(domain, name, config, { ...record.subject }, record.affiliations, this.host, {
      locked: false,
      stored: Promise.resolve(),
    });
    if (config.archive && config.historyLength > 0) room.seedHistory(await this.recentHistory(room, config));
    this.rooms.set(room.jid, room);
    return room;
  }

  private async recentHistory(room: Room, config: RoomConfig): Promise<Array<{ xml: string; at: Date }>> {
    const page = await this.options.archive.page(room.name, room.domain, {
      filter: { includeGroupchat: true },
      backward: true,
      max: config.historyLength,
      countLimit: 0,
    });
    return page.items.map((item) => ({ xml: item.stanza, at: archiveIdTime(item.id) }));
  }

  /** A bare domain of this server: operators' requests come from there (src/services/rooms.ts). */
  private isAuthority(jid: Jid): boolean {
    return jid.local === '' && jid.resource === '' && (this.options.localDomains.has(jid.domain) || this.options.domains.has(jid.domain));
  }

  /**
   * §10.1: the first presence to a room that does not exist creates it, when the sender may;
   * so does an operator's configuration (a muc#owner form from the server's authority).
   */
  private create(stanza: Element, from: Jid, to: Jid): Room | null {
    if (stanza.name === 'iq' && this.creations.has(stanza)) {
      const form = stanza.getChild('query', NS_MUC_OWNER)?.getChild('x', NS_DATA);
      if (form?.attrs.type === 'submit') {
        const config = defaultRoomConfig(this.options.limits);
        const stored = this.options.store.create(to.domain, to.local, serializeRoomConfig(config), []);
        const room = new Room(to.domain, to.local, config, { text: '', nick: '', occupantId: '', at: null }, [], this.host, { locked: false, stored });
        this.rooms.set(room.jid, room);
        room.handle(stanza, from, '');
        return room;
      }
    }
    if (stanza.name !== 'presence' || stanza.attrs.type !== undefined) {
      // A message or request for a room that does not exist.
      if (stanza.name !== 'presence') this.bounce(stanza, new StanzaError('item-not-found', 'no such room', 'cancel'));
      return null;
    }
    if (to.resource === '') {
      this.bounce(stanza, new StanzaError('jid-malformed', 'a nickname is needed to enter a room', 'modify'));
      return null;
    }
    if (this.stopping || !this.mayCreate(from)) {
      this.bounce(stanza, new StanzaError('not-allowed', 'you may not create rooms here', 'cancel'));
      return null;
    }
    const config = defaultRoomConfig(this.options.limits);
    const owner = { jid: from.bareString(), affiliation: 'owner' as const, nick: null, reason: '' };
    const stored = this.options.store.create(to.domain, to.local, serializeRoomConfig(config), [owner]).then((created) => {
      if (!created) this.options.log.warn({ room: to.bareString() }, 'a room created here already existed in the database');
    });
    // §10.1.2: a client speaking XEP-0045 gets a locked room to configure (or accept as an
    // instant room); an old groupchat 1.0 client gets an instant room at once.
    const locked = stanza.getChild('x', NS_MUC) !== undefined;
    const room = new Room(to.domain, to.local, config, { text: '', nick: '', occupantId: '', at: null }, [owner], this.host, { locked, stored });
    this.rooms.set(room.jid, room);
    room.enterAsCreator(stanza, from, to.resource);
    return room;
  }

  private mayCreate(from: Jid): boolean {
    switch (this.options.createRooms) {
      case 'anyone':
        return true;
      case 'local':
        return this.options.localDomains.has(from.domain);
      case 'admins':
        return this.options.admins.has(from.bareString());
    }
  }

  private removed(room: Room): void {
    if (this.rooms.get(room.jid) === room) this.rooms.delete(room.jid);
    // Until its row is gone the room is neither loaded here again nor given to another node.
    const written = room.settled();
    this.deletions.set(room.jid, written);
    void written.then(() => {
      if (this.deletions.get(room.jid) === written) this.deletions.delete(room.jid);
      return this.options.ownership.release(ROOM_KEY + room.jid);
    }).catch(() => undefined);
  }

  // ---- iq between occupants: a request to room/nick goes to the occupant's real JID ----

  private relayIq(stanza: Element, via: string, target: string): void {
    const id = `muc-${(++this.relayCounter).toString(36)}`;
    this.relayed.set(id, { asker: stanza.attrs.from!, id: stanza.attrs.id ?? '', asked: stanza.attrs.to!, via, target });
    this.options.send(readdress(stanza, { from: via, to: target, id }));
  }

  /** An answer to a relayed request goes back to the asker; true when the stanza was one. */
  private answered(stanza: Element, from: Jid, to: Jid): boolean {
    if (stanza.name !== 'iq' || (stanza.attrs.type !== 'result' && stanza.attrs.type !== 'error')) return false;
    const id = stanza.attrs.id ?? '';
    const pending = this.relayed.get(id);
    if (!pending) return false;
    // Only the JID asked answers (a bare-JID request is answered by that account's server);
    // anything else with the id is dropped.
    if (to.toString() !== pending.via || (from.toString() !== pending.target && from.bareString() !== pending.target)) return true;
    this.relayed.delete(id);
    this.options.send(readdress(stanza, { from: pending.asked, to: pending.asker, id: pending.id }));
    return true;
  }

  // ---- the service's own address ----

  private toService(stanza: Element, from: Jid, to: Jid): void {
    if (stanza.name !== 'iq') {
      if (stanza.name === 'message' && stanza.attrs.type !== 'error') this.bounce(stanza, new StanzaError('service-unavailable', undefined, 'cancel'));
      return;
    }
    const type = stanza.attrs.type;
    if (type !== 'get' && type !== 'set') return;
    const payload = stanza.children.find((c): c is Element => typeof c !== 'string');
    const ns = payload?.attrs.xmlns;
    if (type === 'get' && ns === NS_DISCO_INFO && !payload!.attrs.node) {
      this.options.send(iqResult(stanza, discoInfoElement(undefined, [{ category: 'conference', type: 'text', name: 'Chatrooms' }], [NS_DISCO_INFO, NS_DISCO_ITEMS, NS_MUC, NS_MUC_STABLE_ID, NS_PING].sort())));
      return;
    }
    if (type === 'get' && ns === NS_DISCO_ITEMS && !payload!.attrs.node) {
      void this.publicRooms(to.domain).then(
        (rooms) => {
          const query = new Element('query', { xmlns: NS_DISCO_ITEMS });
          for (const room of rooms) query.c('item', { jid: room.jid, name: room.name || undefined });
          this.options.send(iqResult(stanza, query));
        },
        (err: unknown) => {
          this.options.log.error({ err }, 'listing rooms failed');
          this.bounce(stanza, new StanzaError('internal-server-error'));
        },
      );
      return;
    }
    if (type === 'get' && ns === NS_PING) {
      this.options.send(iqResult(stanza));
      return;
    }
    void from;
    this.bounce(stanza, new StanzaError(payload?.attrs.node ? 'item-not-found' : 'service-unavailable', undefined, 'cancel'));
  }

  /** §6.2: the public rooms, persistent ones from the database and the temporary ones held here. */
  private async publicRooms(domain: string): Promise<Array<{ jid: string; name: string }>> {
    const found = new Map<string, string>();
    for (const summary of await this.options.store.list(domain, { limit: 10_000 })) {
      const config = parseRoomConfig(summary.config, this.options.limits);
      if (config.public && config.persistent) found.set(`${summary.name}@${domain}`, config.name);
    }
    for (const room of this.rooms.values()) {
      if (room.domain !== domain) continue;
      if (room.isPublic) found.set(room.jid, room.title);
      else found.delete(room.jid);
    }
    return [...found].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([jid, name]) => ({ jid, name }));
  }

  // ---- operators (admin API, CLI) and the server's life ----

  /** The occupants of the rooms live on this node, by room JID. */
  private localCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const room of this.rooms.values()) counts.set(room.jid, room.occupantCount);
    return counts;
  }

  /** The occupants of every live room, by room JID: this node's, and in a cluster every node's. */
  async occupantCounts(): Promise<Map<string, number>> {
    const counts = this.localCounts();
    for (const answer of (await this.options.forwarding?.askOthers(OCCUPANT_COUNTS, 2_000)) ?? []) {
      try {
        for (const [jid, count] of JSON.parse(answer) as Array<[string, number]>) counts.set(jid, count);
      } catch {
        this.options.log.warn('a node answered the room occupant counts with something else');
      }
    }
    return counts;
  }

  /** Status 332 for every occupant: the service stops (before streams close). */
  shutdown(): void {
    this.stopping = true;
    for (const room of [...this.rooms.values()]) room.shutdown();
  }

  /** Waits for what rooms still write, their archives included. */
  async settled(): Promise<void> {
    await Promise.all([...this.rooms.values()].map((room) => room.settled()));
    await this.options.archive.flush();
  }

  /** An account is gone: its affiliations too (its rooms' ownership passes to nobody). */
  async forgetAccount(jid: string): Promise<void> {
    await this.options.store.removeJid(jid);
    for (const room of this.rooms.values()) room.forget(jid);
  }

  /** The group-chat domains. */
  get domains(): IterableIterator<string> {
    return this.options.domains.keys();
  }

  /** The account domain a group-chat domain serves. */
  servedDomain(domain: string): string | undefined {
    return this.options.domains.get(domain);
  }

  isServiceDomain(domain: string): boolean {
    return this.options.domains.has(domain);
  }

  private bounce(stanza: Element, error: StanzaError): void {
    const type = stanza.attrs.type;
    if (type === 'error' || (stanza.name === 'iq' && type === 'result')) return;
    this.send(errorReply(stanza, error));
  }
}

const ROOM_KEY = 'muc:';
/** The question to other cluster nodes for their rooms' occupants. */
const OCCUPANT_COUNTS = 'muc-occupants';
/** An operator's request carried to the node holding its room. */
const OPERATOR = 'muc-operator';
/** How long a room has to answer an operator. */
const OPERATOR_TIMEOUT_MS = 10_000;

interface RelayedIq {
  /** The occupant's real full JID that asked, and its id. */
  asker: string;
  id: string;
  /** The occupant JID it asked (room/nick): the answer comes from there. */
  asked: string;
  /** The asker's occupant JID, which the request came from. */
  via: string;
  /** The real JID the request went to. */
  target: string;
}

