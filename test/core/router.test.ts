// RFC 6121 §8.5 delivery rules, table by table, against the router with recorded sessions.
import { expect } from 'chai';
import { Element } from 'ltx';
import { pino } from 'pino';
import type { ServerEvents } from '../../src/core/events.js';
import { HookBus, HOOK_STOP, type HookResult } from '../../src/core/hooks.js';
import { IqHandlers } from '../../src/core/iq.js';
import { parseJid, type Jid } from '../../src/core/jid.js';
import { Router } from '../../src/core/router.js';
import { LocalSessionRegistry, type ClientSession } from '../../src/core/sessions.js';
import { StreamError } from '../../src/core/errors.js';

const DOMAIN = 'router.example';

class RecordingSession implements ClientSession {
  readonly id = Math.random().toString(36);
  readonly node = null;
  readonly flags = new Set<string>();
  readonly remoteAddress = '127.0.0.1';
  readonly secure = true;
  readonly transport = 'c2s';
  readonly since = new Date();
  received: Element[] = [];
  rosterRequested = false;
  directedPresence: Set<string> | null = null;
  readonly resumptionId = null;
  availableSeq = 0;
  closedWith: StreamError | undefined;
  constructor(
    readonly jid: Jid,
    public priority = 0,
    public available = true,
    public presence: Element | null = null,
  ) {}
  deliver(stanza: Element): void {
    this.received.push(stanza);
  }
  write(stanza: Element): void {
    this.received.push(stanza);
  }
  close(error?: StreamError): void {
    this.closedWith = error;
  }
}

function setup(accounts: string[] = ['juliet', 'romeo']) {
  const log = pino({ level: 'silent' });
  const sessions = new LocalSessionRegistry();
  const hooks = new HookBus<ServerEvents>(log);
  const router = new Router({
    domains: new Set([DOMAIN]),
    sessions,
    iq: new IqHandlers(),
    hooks,
    accountExists: async (user) => accounts.includes(user),
    log,
  });
  const session = (full: string, priority = 0, available = true) => {
    const s = new RecordingSession(parseJid(full), priority, available);
    sessions.bind(s);
    return s;
  };
  return { router, sessions, hooks, session };
}

function message(to: string, type?: string): Element {
  const el = new Element('message', type ? { to, type } : { to });
  el.c('body').t('hello');
  return el;
}

const tick = () => new Promise((r) => setTimeout(r, 10));
const conditionOf = (el: Element | undefined) => el?.getChild('error')?.getChildElements()[0]?.name;

describe('router: RFC 6121 §8.5 delivery', function () {
  it('sends chat/normal to a bare JID to the highest non-negative priority, all where equal', async function () {
    const { router, session } = setup();
    const romeo = session(`romeo@${DOMAIN}/r`);
    const a = session(`juliet@${DOMAIN}/a`, 5);
    const b = session(`juliet@${DOMAIN}/b`, 5);
    const low = session(`juliet@${DOMAIN}/low`, 1);
    const negative = session(`juliet@${DOMAIN}/neg`, -1);
    router.route(message(`juliet@${DOMAIN}`, 'chat'), { kind: 'c2s', session: romeo });
    router.route(message(`juliet@${DOMAIN}`), { kind: 'c2s', session: romeo });
    await tick();
    expect(a.received).to.have.length(2);
    expect(b.received).to.have.length(2);
    expect(low.received).to.have.length(0);
    expect(negative.received).to.have.length(0);
    expect(a.received[0]!.attrs.from).to.equal(`romeo@${DOMAIN}/r`);
  });

  it('sends headline to every non-negative available resource, and never to unavailable ones', async function () {
    const { router, session } = setup();
    const romeo = session(`romeo@${DOMAIN}/r`);
    const a = session(`juliet@${DOMAIN}/a`, 5);
    const low = session(`juliet@${DOMAIN}/low`, 0);
    const negative = session(`juliet@${DOMAIN}/neg`, -3);
    const away = session(`juliet@${DOMAIN}/away`, 9, false);
    router.route(message(`juliet@${DOMAIN}`, 'headline'), { kind: 'c2s', session: romeo });
    await tick();
    expect([a, low, negative, away].map((s) => s.received.length)).to.deep.equal([1, 1, 0, 0]);
  });

  it('answers groupchat to a bare JID with an error', async function () {
    const { router, session } = setup();
    const romeo = session(`romeo@${DOMAIN}/r`);
    const juliet = session(`juliet@${DOMAIN}/a`);
    router.route(message(`juliet@${DOMAIN}`, 'groupchat'), { kind: 'c2s', session: romeo });
    await tick();
    expect(juliet.received).to.have.length(0);
    expect(conditionOf(romeo.received[0])).to.equal('service-unavailable');
  });

  it('treats chat to a gone full JID as to the bare JID, drops headline, errors groupchat', async function () {
    const { router, session } = setup();
    const romeo = session(`romeo@${DOMAIN}/r`);
    const juliet = session(`juliet@${DOMAIN}/a`);
    router.route(message(`juliet@${DOMAIN}/gone`, 'chat'), { kind: 'c2s', session: romeo });
    router.route(message(`juliet@${DOMAIN}/gone`, 'headline'), { kind: 'c2s', session: romeo });
    router.route(message(`juliet@${DOMAIN}/gone`, 'groupchat'), { kind: 'c2s', session: romeo });
    await tick();
    expect(juliet.received.map((m) => m.attrs.type)).to.deep.equal(['chat']);
    expect(romeo.received.map(conditionOf)).to.deep.equal(['service-unavailable']);
  });

  it('hands an undeliverable chat message to the message-undelivered hook, else bounces it', async function () {
    const { router, session, hooks } = setup();
    const romeo = session(`romeo@${DOMAIN}/r`);
    router.route(message(`juliet@${DOMAIN}`, 'chat'), { kind: 'c2s', session: romeo });
    await tick();
    expect(conditionOf(romeo.received[0])).to.equal('service-unavailable');
    const stored: Element[] = [];
    hooks.on('message-undelivered', ({ stanza }) => {
      stored.push(stanza);
      return HOOK_STOP;
    });
    router.route(message(`juliet@${DOMAIN}`, 'chat'), { kind: 'c2s', session: romeo });
    await tick();
    expect(stored).to.have.length(1);
    expect(romeo.received).to.have.length(1);
  });

  it('keeps the order of messages for an offline account even when lookups finish out of order', async function () {
    const log = pino({ level: 'silent' });
    const sessions = new LocalSessionRegistry();
    const hooks = new HookBus<ServerEvents>(log);
    let delay = 30;
    const router = new Router({
      domains: new Set([DOMAIN]),
      sessions,
      iq: new IqHandlers(),
      hooks,
      // Each lookup answers sooner than the one before (as parallel pool connections may).
      accountExists: (user) => new Promise((r) => setTimeout(() => r(user === 'juliet'), (delay -= 10))),
      log,
    });
    const romeo = new RecordingSession(parseJid(`romeo@${DOMAIN}/r`));
    sessions.bind(romeo);
    const stored: string[] = [];
    hooks.on('message-undelivered', async ({ stanza }): Promise<HookResult> => {
      await new Promise((r) => setTimeout(r, 5));
      stored.push(stanza.attrs.id!);
      return HOOK_STOP;
    });
    for (const id of ['m1', 'm2', 'm3']) {
      const m = message(`juliet@${DOMAIN}`, 'chat');
      m.attrs.id = id;
      router.route(m, { kind: 'c2s', session: romeo });
    }
    await new Promise((r) => setTimeout(r, 150));
    expect(stored).to.deep.equal(['m1', 'm2', 'm3']);
  });

  it('keeps the order of stanzas between two entities when a check finishes out of order (RFC 6120 §10.1)', async function () {
    const { router, hooks, session } = setup();
    const romeo = session(`romeo@${DOMAIN}/r`);
    const juliet = session(`juliet@${DOMAIN}/j`);
    // A check that must look something up: the first stanza's lookup is the slowest, and a
    // later one needs none at all.
    let calls = 0;
    hooks.on('stanza-inbound', () => {
      const n = ++calls;
      if (n === 3) return undefined;
      return new Promise<HookResult>((resolve) => setTimeout(() => resolve(undefined), n === 1 ? 40 : 5));
    });
    for (const id of ['one', 'two', 'three']) {
      const m = message(`juliet@${DOMAIN}/j`, 'chat');
      m.attrs.id = id;
      router.route(m, { kind: 'c2s', session: romeo });
    }
    await new Promise((r) => setTimeout(r, 80));
    expect(juliet.received.map((el) => el.attrs.id)).to.deep.equal(['one', 'two', 'three']);
  });

  it('bounces a message to a nonexistent account and ignores presence to it', async function () {
    const { router, session } = setup();
    const romeo = session(`romeo@${DOMAIN}/r`);
    router.route(message(`nobody@${DOMAIN}`, 'normal'), { kind: 'c2s', session: romeo });
    router.route(new Element('presence', { to: `nobody@${DOMAIN}` }), { kind: 'c2s', session: romeo });
    await tick();
    expect(romeo.received.map(conditionOf)).to.deep.equal(['service-unavailable']);
  });

  it('never answers an error with an error', async function () {
    const { router, session } = setup();
    const romeo = session(`romeo@${DOMAIN}/r`);
    router.route(message(`nobody@${DOMAIN}`, 'error'), { kind: 'c2s', session: romeo });
    router.route(new Element('iq', { to: `nobody@${DOMAIN}`, type: 'error', id: '1' }), { kind: 'c2s', session: romeo });
    router.route(new Element('iq', { to: DOMAIN, type: 'result', id: '2' }), { kind: 'c2s', session: romeo });
    await tick();
    expect(romeo.received).to.have.length(0);
  });

  it('records priority and availability from presence without a to', async function () {
    const { router, session } = setup();
    const romeo = session(`romeo@${DOMAIN}/r`, 0, false);
    const presence = new Element('presence');
    presence.c('priority').t('200');
    router.route(presence, { kind: 'c2s', session: romeo });
    await tick();
    expect(romeo.available).to.equal(true);
    expect(romeo.priority).to.equal(127); // RFC 6121 §4.7.2.3: -128..127
    router.route(new Element('presence', { type: 'unavailable' }), { kind: 'c2s', session: romeo });
    await tick();
    expect(romeo.available).to.equal(false);
  });

  it('refuses a from that is not the session, as a stream error, and delivers nothing', function () {
    const { router, session } = setup();
    const romeo = session(`romeo@${DOMAIN}/r`);
    const juliet = session(`juliet@${DOMAIN}/a`);
    const forged = message(`juliet@${DOMAIN}/a`);
    forged.attrs.from = `juliet@${DOMAIN}/a`;
    expect(() => router.route(forged, { kind: 'c2s', session: romeo })).to.throw(StreamError, 'invalid-from');
    expect(juliet.received).to.have.length(0);
  });

  it('bounces stanzas to other domains with remote-server-not-found when no federation is connected', async function () {
    const { router, session } = setup();
    const romeo = session(`romeo@${DOMAIN}/r`);
    router.route(message('someone@elsewhere.example', 'chat'), { kind: 'c2s', session: romeo });
    await tick();
    expect(conditionOf(romeo.received[0])).to.equal('remote-server-not-found');
  });

  it('hands stanzas for other domains to federation, from the sender\'s domain', async function () {
    const { router, session } = setup();
    const romeo = session(`romeo@${DOMAIN}/r`);
    const handed: string[] = [];
    router.setRemoteDelivery({ send: (stanza, local, remote) => handed.push(`${local}>${remote} ${stanza.attrs.from}`) });
    router.route(message('someone@elsewhere.example', 'chat'), { kind: 'c2s', session: romeo });
    await tick();
    expect(handed).to.deep.equal([`${DOMAIN}>elsewhere.example romeo@${DOMAIN}/r`]);
    expect(romeo.received).to.have.length(0);
  });

  it('takes stanzas from a server stream only from the domains it authenticated, and only to domains served here', async function () {
    const { router, session } = setup();
    const juliet = session(`juliet@${DOMAIN}/a`);
    const origin = { kind: 's2s' as const, domains: new Map([['peer.example', 'dialback']]) };
    const from = (address: string | null, to: string | null = `juliet@${DOMAIN}/a`) => {
      const el = new Element('message', { type: 'chat' });
      if (address !== null) el.attrs.from = address;
      if (to !== null) el.attrs.to = to;
      return el;
    };
    expect(() => router.route(from('mallory@other.example/x'), origin)).to.throw(StreamError, 'invalid-from');
    expect(() => router.route(from('not a jid@@'), origin)).to.throw(StreamError, 'invalid-from');
    expect(() => router.route(from(null), origin)).to.throw(StreamError, 'improper-addressing');
    expect(() => router.route(from('romeo@peer.example/r', null), origin)).to.throw(StreamError, 'improper-addressing');
    expect(() => router.route(from('romeo@peer.example/r', 'someone@third.example'), origin)).to.throw(StreamError, 'host-unknown');
    await tick();
    expect(juliet.received).to.have.length(0);
    router.route(from('romeo@peer.example/r'), origin);
    await tick();
    expect(juliet.received.map((el) => el.attrs.from)).to.deep.equal(['romeo@peer.example/r']);
  });
});
