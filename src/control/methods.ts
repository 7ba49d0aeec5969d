// The control socket's methods: the service layer, for the command line while the server runs.
import type { AdminServices } from '../services/index.js';
import { roomAffiliationInput, roomCreateInput, roomDestroyInput, roomListInput } from '../services/room-input.js';
import { parseInput } from '../services/validation.js';
import type { ControlMethod } from './server.js';

export function controlMethods(services: AdminServices, version: string): Record<string, ControlMethod> {
  const { accounts, tokens, sessions, rosters, messages, stats, archive, rooms, invites } = services;
  return {
    ping: async () => ({ version }),
    'user.add': (p) => accounts.add(p.jid, p.password),
    'user.del': (p) => accounts.remove(p.jid),
    'user.passwd': (p) => accounts.setPassword(p.jid, p.password),
    'user.disable': (p) => accounts.disable(p.jid),
    'user.enable': (p) => accounts.enable(p.jid),
    'user.list': (p) =>
      accounts.list({
        domain: typeof p.domain === 'string' ? p.domain : undefined,
        limit: typeof p.limit === 'number' ? p.limit : undefined,
        after: typeof p.after === 'string' ? p.after : undefined,
      }),
    'user.import': (p) => accounts.import(Array.isArray(p.lines) ? p.lines.filter((l): l is string => typeof l === 'string') : []),
    'token.create': (p) => tokens.create(p),
    'token.list': () => tokens.list(),
    'token.revoke': (p) => tokens.revoke(p),
    // With a jid: that account's sessions; without: every session, a page at a time.
    'session.list': async (p) => (p.jid === undefined ? sessions.list(p) : sessions.ofAccount(p.jid)),
    'session.kick': (p) => sessions.kick(p),
    'roster.list': (p) => rosters.list(p.jid),
    'roster.add': (p) => rosters.add(p.jid, p.item),
    'roster.del': (p) => rosters.remove(p),
    'message.send': (p) => messages.send(p),
    'archive.count': (p) => archive.count(p.jid),
    'archive.purge': (p) => archive.purge(p.jid),
    'room.list': async (p) => rooms.list(parseInput(roomListInput, p).domain),
    'room.create': async (p) => {
      const input = parseInput(roomCreateInput, p);
      return rooms.create(input.jid, input.settings ?? {}, input.owners ?? []);
    },
    'room.destroy': async (p) => {
      const input = parseInput(roomDestroyInput, p);
      await rooms.destroy(input.jid, input.reason);
      return { jid: input.jid };
    },
    'room.affiliation': async (p) => {
      const input = parseInput(roomAffiliationInput, p);
      await rooms.setAffiliation(input.room, input.jid, input.affiliation);
      return { room: input.room, jid: input.jid, affiliation: input.affiliation };
    },
    'invite.create': (p) => invites.create(p),
    'invite.list': () => invites.list(),
    'invite.revoke': (p) => invites.revoke(p),
    stats: () => stats.stats(),
  };
}
