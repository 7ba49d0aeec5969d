// hearth room list | create ROOM | destroy ROOM | affiliation ROOM JID AFFILIATION: group-chat
// rooms (XEP-0045). Through the running server, the rooms themselves act (their occupants
// see the change); with the server stopped, the database changes.
import type { Config } from '../config.js';
import { roomAffiliationInput, roomCreateInput, roomDestroyInput, roomListInput } from '../services/room-input.js';
import type { RoomInfo, RoomSettings } from '../services/rooms.js';
import { parseInput } from '../services/validation.js';
import { allowOptions, expectArgs, UsageError, viaServerOrDatabase, type CliOptions } from './context.js';
import { printTable } from './table.js';

const yesNo = (value: boolean) => (value ? 'yes' : 'no');

export async function roomCommand(config: Config, args: string[], options: CliOptions): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'list': {
      allowOptions(options, 'room list', ['domain']);
      expectArgs(rest, 0);
      const params = { domain: options.domain };
      const rooms = await viaServerOrDatabase(config, 'room.list', params, (s) => s.rooms.list(parseInput(roomListInput, params).domain));
      printTable(
        ['ROOM', 'OCCUPANTS', 'PERSISTENT', 'PUBLIC', 'MEMBERS-ONLY', 'NAME'],
        rooms.map((room: RoomInfo) => [
          room.jid,
          // The database alone does not know who is in a room.
          room.occupants === null ? '-' : String(room.occupants),
          yesNo(room.persistent),
          yesNo(room.public),
          yesNo(room.membersOnly),
          room.name || '-',
        ]),
      );
      return 0;
    }
    case 'create': {
      allowOptions(options, 'room create', ['name', 'description', 'members-only', 'hidden', 'password', 'owner']);
      expectArgs(rest, 1);
      const settings: RoomSettings = {};
      if (options.name !== undefined) settings.name = options.name;
      if (options.description !== undefined) settings.description = options.description;
      if (options['members-only']) settings.membersOnly = true;
      if (options.hidden) settings.public = false;
      if (options.password !== undefined) settings.password = options.password;
      const params = { jid: rest[0]!, settings, owners: options.owner ?? [] };
      const room = await viaServerOrDatabase(config, 'room.create', params, (s) => {
        const input = parseInput(roomCreateInput, params);
        return s.rooms.create(input.jid, input.settings ?? {}, input.owners ?? []);
      });
      process.stdout.write(`created ${room.jid}\n`);
      return 0;
    }
    case 'destroy': {
      allowOptions(options, 'room destroy', ['reason']);
      expectArgs(rest, 1);
      const params = { jid: rest[0]!, reason: options.reason };
      await viaServerOrDatabase(config, 'room.destroy', params, async (s) => {
        const input = parseInput(roomDestroyInput, params);
        await s.rooms.destroy(input.jid, input.reason);
      });
      process.stdout.write(`destroyed ${params.jid}\n`);
      return 0;
    }
    case 'affiliation': {
      allowOptions(options, 'room affiliation', []);
      expectArgs(rest, 3);
      const [room, jid, affiliation] = rest as [string, string, string];
      const params = { room, jid, affiliation };
      await viaServerOrDatabase(config, 'room.affiliation', params, async (s) => {
        const input = parseInput(roomAffiliationInput, params);
        await s.rooms.setAffiliation(input.room, input.jid, input.affiliation);
      });
      process.stdout.write(affiliation === 'none' ? `${room}: ${jid} has no affiliation now\n` : `${room}: ${jid} is ${affiliation} now\n`);
      return 0;
    }
    default:
      throw new UsageError(sub ? `unknown room command "${sub}"` : 'room needs a command: list, create, destroy, affiliation');
  }
}
