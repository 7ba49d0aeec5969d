// Shared helpers for the Multi-User Chat (XEP-0045) integration tests. They act as a MUC
// client would (real sockets, @xmpp/client) and know nothing of the implementation: only
// the protocol (XEP-0045, XEP-0004 forms, XEP-0030 disco) and the test contract (the service
// lives at conference.<domain>; config keys muc.{enabled, subdomain, createRooms}, admins).
import { expect } from 'chai';
import { startTestServer, type TestServer, type TestServerOptions } from '../helpers/server.js';
import { collectStanzas, connect, roundTrip, stopQuietly, waitForStanza, xml, type Client, type Element } from '../helpers/xmpp-client.js';

export const NS = {
  MUC: 'http://jabber.org/protocol/muc',
  USER: 'http://jabber.org/protocol/muc#user',
  ADMIN: 'http://jabber.org/protocol/muc#admin',
  OWNER: 'http://jabber.org/protocol/muc#owner',
  ROOMCONFIG: 'http://jabber.org/protocol/muc#roomconfig',
  REQUEST: 'http://jabber.org/protocol/muc#request',
  REGISTER_FORM: 'http://jabber.org/protocol/muc#register',
  REGISTER: 'jabber:iq:register',
  DATA: 'jabber:x:data',
  DISCO_INFO: 'http://jabber.org/protocol/disco#info',
  DISCO_ITEMS: 'http://jabber.org/protocol/disco#items',
  OCCUPANT_ID: 'urn:xmpp:occupant-id:0',
  SID: 'urn:xmpp:sid:0',
  DELAY: 'urn:xmpp:delay',
  MAM: 'urn:xmpp:mam:2',
  RSM: 'http://jabber.org/protocol/rsm',
  FORWARD: 'urn:xmpp:forward:0',
  CONFERENCE: 'jabber:x:conference',
  PING: 'urn:xmpp:ping',
  STANZAS: 'urn:ietf:params:xml:ns:xmpp-stanzas',
} as const;

export const PASSWORD = 'muc-test-secret';

export type MucConfig = { enabled?: boolean; subdomain?: string; createRooms?: 'anyone' | 'local' | 'admins' };

/**
 * Starts a server with the MUC service on. The muc and admins keys are the contract of the
 * feature under test; the cast keeps these files compiling whatever the config type says today.
 */
export function startMucServer(host: string, options: { muc?: MucConfig; admins?: string[]; extra?: Partial<TestServerOptions>; config?: TestServerOptions['config'] } = {}): Promise<TestServer> {
  const config = {
    ...options.config,
    muc: { enabled: true, subdomain: 'conference', createRooms: 'anyone', ...options.muc },
    ...(options.admins ? { admins: options.admins } : {}),
  } as unknown as TestServerOptions['config'];
  return startTestServer({ host, ...options.extra, config });
}

export function bareOf(jid: string | undefined): string {
  if (!jid) return '';
  const slash = jid.indexOf('/');
  return slash === -1 ? jid : jid.slice(0, slash);
}

export function resourceOf(jid: string | undefined): string | null {
  if (!jid) return null;
  const slash = jid.indexOf('/');
  return slash === -1 ? null : jid.slice(slash + 1);
}

/** One logged-in user: its client, everything it received, and its addresses. */
export interface User {
  local: string;
  bare: string;
  full: string;
  client: Client;
  inbox: Element[];
}

/**
 * Per-file fixture: the server, a counter for fresh user and room names, and the clients to
 * stop after each test.
 */
export class MucFixture {
  ts!: TestServer;
  readonly clients: Client[] = [];
  private counter = 0;

  constructor(private readonly prefix: string) {}

  get service(): string {
    return `conference.${this.ts.domain}`;
  }

  /** A fresh room bare JID (nobody has used it). */
  room(label = 'room'): string {
    return `${this.prefix}-${label}-${++this.counter}@${this.service}`;
  }

  /** A fresh account, logged in, with initial presence sent (as a chat client does). */
  async user(label = 'u'): Promise<User> {
    const local = `${this.prefix}${label}${++this.counter}`;
    await this.ts.addUser(local, PASSWORD);
    return this.login(local);
  }

  /** Several fresh accounts at once. */
  users(count: number, label = 'u'): Promise<User[]> {
    return Promise.all(Array.from({ length: count }, () => this.user(label)));
  }

  /** Logs in an existing account (e.g. after a server restart). */
  async login(local: string, resource?: string): Promise<User> {
    // PLAIN inside TLS: SCRAM's client side costs a few hundred ms a login (test/c2s covers it).
    const client = await connect(this.ts, local, PASSWORD, { mechanism: 'PLAIN', ...(resource ? { resource } : {}) });
    this.clients.push(client);
    const inbox = collectStanzas(client);
    await client.send(xml('presence'));
    await roundTrip(client);
    return { local, bare: `${local}@${this.ts.domain}`, full: client.jid!.toString(), client, inbox };
  }

  async stopClients(): Promise<void> {
    await Promise.all(this.clients.splice(0).map(stopQuietly));
  }
}

// ---------------------------------------------------------------------------------------
// Reading stanzas

/** The <x xmlns='…muc#user'/> of a stanza. */
export function mucUser(el: Element): Element | undefined {
  return el.getChild('x', NS.USER);
}

/** The muc#user <item/> of a presence (affiliation, role, jid, nick). */
export function mucItem(el: Element): Element | undefined {
  return mucUser(el)?.getChild('item');
}

/** The status codes of a presence or message, as strings ('110', '201', …). */
export function statusCodes(el: Element): string[] {
  const x = mucUser(el);
  return x ? x.getChildren('status').map((s) => s.attrs.code as string) : [];
}

export function occupantId(el: Element): string | undefined {
  return el.getChild('occupant-id', NS.OCCUPANT_ID)?.attrs.id;
}

/** type and condition of a stanza's <error/>. */
export function stanzaError(el: Element): { type: string | undefined; condition: string | undefined } {
  const error = el.getChild('error');
  const condition = error?.getChildElements().find((c) => c.attrs.xmlns === NS.STANZAS);
  return { type: error?.attrs.type, condition: condition?.name };
}

/** The iq error of a request that must fail: { type, condition }. */
export async function iqError(request: Promise<unknown>): Promise<{ type: string | undefined; condition: string | undefined }> {
  try {
    await request;
  } catch (err) {
    const e = err as { condition?: string; type?: string; message?: string };
    if (e.condition === undefined) throw err;
    return { type: e.type, condition: e.condition };
  }
  throw new Error('expected an iq error, got a result');
}

/** The first stanza at index >= since in the inbox that matches (already there or to come). */
export function waitSince(user: User, since: number, match: (el: Element) => boolean, what: string, ms = 3_000): Promise<Element> {
  return waitForStanza(user.inbox, (el) => user.inbox.indexOf(el) >= since && match(el), what, ms);
}

export const isPresenceFrom = (from: string, type?: string) => (el: Element) =>
  el.is('presence') && el.attrs.from === from && (type === undefined ? el.attrs.type === undefined || el.attrs.type === 'available' : el.attrs.type === type);

/** Presence of type error from the room (bare or occupant JID). */
export const isPresenceErrorFrom = (room: string) => (el: Element) => el.is('presence') && el.attrs.type === 'error' && bareOf(el.attrs.from) === room;

export const isGroupchatBody = (from: string, body: string) => (el: Element) =>
  el.is('message') && el.attrs.type === 'groupchat' && el.attrs.from === from && el.getChildText('body') === body;

/** The room subject message (type groupchat, a <subject/>, no body) from the room or an occupant of it. */
export const isSubjectMessage = (room: string) => (el: Element) =>
  el.is('message') && el.attrs.type === 'groupchat' && bareOf(el.attrs.from) === room && el.getChild('subject') !== undefined && el.getChild('body') === undefined;

export const isMessageErrorFrom = (jid: string) => (el: Element) => el.is('message') && el.attrs.type === 'error' && bareOf(el.attrs.from) === bareOf(jid);

// ---------------------------------------------------------------------------------------
// Joining, creating, configuring

export interface JoinOptions {
  password?: string;
  history?: Record<string, string>;
  /** Presence children besides the MUC <x/> (show, status). */
  extra?: Element[];
}

export function joinPresence(room: string, nick: string, options: JoinOptions = {}): Element {
  const x = xml('x', { xmlns: NS.MUC },
    ...(options.password !== undefined ? [xml('password', {}, options.password)] : []),
    ...(options.history ? [xml('history', options.history)] : []));
  return xml('presence', { to: `${room}/${nick}` }, ...(options.extra ?? []), x);
}

/** The joiner's own presence: from room/nick, available, with status 110. */
export const isSelfPresence = (room: string, nick: string) => (el: Element) =>
  isPresenceFrom(`${room}/${nick}`)(el) && statusCodes(el).includes('110');

/**
 * Sends the join presence and waits for the user's own presence (110) from the room; fails
 * with the error if the room refuses. Returns the own presence and the inbox index the join
 * started at.
 */
export async function join(user: User, room: string, nick: string, options: JoinOptions = {}): Promise<{ self: Element; since: number }> {
  const since = user.inbox.length;
  await user.client.send(joinPresence(room, nick, options));
  const answer = await waitSince(user, since, (el) => isSelfPresence(room, nick)(el) || isPresenceErrorFrom(room)(el), `${user.local}'s own presence in ${room} as ${nick}`);
  if (answer.attrs.type === 'error') {
    const { type, condition } = stanzaError(answer);
    throw new Error(`${user.local} could not join ${room} as ${nick}: ${condition} (${type})`);
  }
  return { self: answer, since };
}

/** Joins and waits until the subject message (always last) has arrived too. */
export async function joinFully(user: User, room: string, nick: string, options: JoinOptions = {}): Promise<{ self: Element; since: number; subject: Element }> {
  const joined = await join(user, room, nick, options);
  const subject = await waitSince(user, joined.since, isSubjectMessage(room), `the subject message of ${room}`);
  return { ...joined, subject };
}

/** A join the room must refuse: the error presence. */
export async function joinRefused(user: User, room: string, nick: string, options: JoinOptions = {}): Promise<Element> {
  const since = user.inbox.length;
  await user.client.send(joinPresence(room, nick, options));
  const answer = await waitSince(user, since, (el) => isSelfPresence(room, nick)(el) || isPresenceErrorFrom(room)(el), `the room's answer to ${user.local} joining ${room}`);
  expect(answer.attrs.type, `${user.local} should have been refused, got:\n${answer}`).to.equal('error');
  return answer;
}

export function ownerQuery(...children: Element[]): Element {
  return xml('query', { xmlns: NS.OWNER }, ...children);
}

export function request(user: User, type: 'get' | 'set', to: string, child: Element): Promise<Element> {
  return user.client.iqCaller.request(xml('iq', { type, to }, child), 5_000);
}

/** Creates the room (presence with the MUC <x/>) and waits for the owner's presence with 201. */
export async function createRoom(owner: User, room: string, nick: string): Promise<Element> {
  const { self } = await join(owner, room, nick);
  expect(statusCodes(self), `room creation acknowledged with 201:\n${self}`).to.include('201');
  return self;
}

/** Creates an instant room (XEP-0045 §10.1.2): accepts the default configuration. */
export async function createInstantRoom(owner: User, room: string, nick: string): Promise<Element> {
  const self = await createRoom(owner, room, nick);
  await request(owner, 'set', room, ownerQuery(xml('x', { xmlns: NS.DATA, type: 'submit' })));
  return self;
}

export type FieldValue = string | boolean | number | string[];
export type Fields = Record<string, FieldValue>;

function values(value: FieldValue): string[] {
  if (Array.isArray(value)) return value;
  if (typeof value === 'boolean') return [value ? '1' : '0'];
  return [String(value)];
}

/** A submitted data form (XEP-0004) with its FORM_TYPE. */
export function submitForm(formType: string, fields: Fields): Element {
  return xml('x', { xmlns: NS.DATA, type: 'submit' },
    xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, formType)),
    ...Object.entries(fields).map(([name, value]) => xml('field', { var: name }, ...values(value).map((v) => xml('value', {}, v)))));
}

/** The fields of a data form: var → values. */
export function formValues(x: Element): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const field of x.getChildren('field')) {
    if (!field.attrs.var) continue;
    map.set(field.attrs.var, field.getChildren('value').map((v) => v.getText()));
  }
  return map;
}

/** FORM_TYPE of a data form. */
export function formType(x: Element): string | undefined {
  return formValues(x).get('FORM_TYPE')?.[0];
}

/** The room configuration form (XEP-0045 §10.2), as the owner gets it. */
export async function configForm(owner: User, room: string): Promise<Element> {
  const reply = await request(owner, 'get', room, ownerQuery());
  const x = reply.getChild('query', NS.OWNER)?.getChild('x', NS.DATA);
  expect(x, `a configuration form:\n${reply}`).to.exist;
  expect(x!.attrs.type).to.equal('form');
  expect(formType(x!)).to.equal(NS.ROOMCONFIG);
  return x!;
}

/**
 * Fetches the configuration form and submits it with the given fields changed, the others
 * at the values the form shows (as a client's configuration dialog does).
 */
export async function configure(owner: User, room: string, fields: Fields): Promise<void> {
  const form = await configForm(owner, room);
  const merged: Fields = {};
  for (const field of form.getChildren('field')) {
    const name = field.attrs.var;
    if (!name || name === 'FORM_TYPE' || field.attrs.type === 'fixed') continue;
    merged[name] = field.getChildren('value').map((v) => v.getText());
  }
  Object.assign(merged, fields);
  await request(owner, 'set', room, ownerQuery(submitForm(NS.ROOMCONFIG, merged)));
}

/** Creates a reserved room (XEP-0045 §10.1.3): gets the form and submits it with these fields. */
export async function createReservedRoom(owner: User, room: string, nick: string, fields: Fields): Promise<Element> {
  const self = await createRoom(owner, room, nick);
  await configure(owner, room, fields);
  return self;
}

/** A muc#admin query (XEP-0045 §8, §9, §10). */
export function adminQuery(...items: Array<Record<string, string>>): Element {
  return xml('query', { xmlns: NS.ADMIN }, ...items.map((item) => {
    const { reason, ...attrs } = item;
    return xml('item', attrs, ...(reason !== undefined ? [xml('reason', {}, reason)] : []));
  }));
}

export function adminSet(user: User, room: string, ...items: Array<Record<string, string>>): Promise<Element> {
  return request(user, 'set', room, adminQuery(...items));
}

/** The items of an affiliation or role list. */
export async function adminList(user: User, room: string, filter: Record<string, string>): Promise<Element[]> {
  const reply = await request(user, 'get', room, adminQuery(filter));
  return reply.getChild('query', NS.ADMIN)?.getChildren('item') ?? [];
}

export async function sendGroupchat(user: User, room: string, body: string, extra: Element[] = []): Promise<void> {
  await user.client.send(xml('message', { to: room, type: 'groupchat' }, xml('body', {}, body), ...extra));
}

/** Sends a groupchat message and waits for its reflection to the sender. */
export async function say(user: User, room: string, nick: string, body: string): Promise<Element> {
  const since = user.inbox.length;
  await sendGroupchat(user, room, body);
  return waitSince(user, since, isGroupchatBody(`${room}/${nick}`, body), `the reflection of "${body}" to ${user.local}`);
}

/**
 * Everything the room sent this user before now has arrived: an iq round trip to the room
 * (disco#info) is answered after the room's earlier stanzas to the user, which travel the
 * same path in order.
 */
export async function barrier(user: User, room: string): Promise<void> {
  await request(user, 'get', room, xml('query', { xmlns: NS.DISCO_INFO }));
}

export async function discoInfo(user: User, to: string, node?: string): Promise<Element> {
  const reply = await request(user, 'get', to, xml('query', node ? { xmlns: NS.DISCO_INFO, node } : { xmlns: NS.DISCO_INFO }));
  return reply.getChild('query', NS.DISCO_INFO)!;
}

export function features(info: Element): string[] {
  return info.getChildren('feature').map((f) => f.attrs.var as string);
}

/** Leaves a room and waits for the own unavailable presence. */
export async function leave(user: User, room: string, nick: string): Promise<Element> {
  const since = user.inbox.length;
  await user.client.send(xml('presence', { to: `${room}/${nick}`, type: 'unavailable' }));
  return waitSince(user, since, isPresenceFrom(`${room}/${nick}`, 'unavailable'), `${user.local}'s own unavailable presence from ${room}`);
}

/** Answers XEP-0199 pings addressed to this client (e.g. a self-ping the room passes through). */
export function answerPings(user: User): void {
  (user.client as unknown as { iqCallee: { get(ns: string, name: string, handler: () => boolean): void } }).iqCallee.get(NS.PING, 'ping', () => true);
}

/**
 * The fixture of a describe block: a server started before its tests (on `host`), every
 * client stopped after each test, the server stopped at the end.
 */
export function mucSuite(prefix: string, host: string): MucFixture {
  const f = new MucFixture(prefix);
  before(async function () {
    this.timeout(60_000);
    f.ts = await startMucServer(host);
  });
  afterEach(async function () {
    await f.stopClients();
  });
  after(async function () {
    await f.ts?.stop();
  });
  return f;
}
