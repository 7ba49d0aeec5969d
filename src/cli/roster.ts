// hearth roster list JID | add JID CONTACT | del JID CONTACT
import type { Config } from '../config.js';
import type { RosterItemInfo } from '../services/roster-admin.js';
import { allowOptions, expectArgs, UsageError, viaServerOrDatabase, type CliOptions } from './context.js';
import { printTable } from './table.js';

export async function rosterCommand(config: Config, args: string[], options: CliOptions): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'list': {
      allowOptions(options, 'roster list', []);
      expectArgs(rest, 1);
      const jid = rest[0]!;
      const roster = await viaServerOrDatabase(config, 'roster.list', { jid }, (s) => s.rosters.list(jid));
      printTable(
        ['CONTACT', 'SUBSCRIPTION', 'NAME', 'GROUPS'],
        roster.items.map((item: RosterItemInfo) => [
          item.jid,
          item.subscription + (item.ask ? '+ask' : ''),
          item.name ?? '-',
          item.groups.join(', ') || '-',
        ]),
      );
      return 0;
    }
    case 'add': {
      allowOptions(options, 'roster add', ['name', 'group', 'subscription']);
      expectArgs(rest, 2);
      const [jid, contact] = rest as [string, string];
      const item = { jid: contact, name: options.name, groups: options.group, subscription: options.subscription ?? 'none' };
      const result = await viaServerOrDatabase(config, 'roster.add', { jid, item }, (s) => s.rosters.add(jid, item));
      process.stdout.write(`${result.created ? 'added' : 'updated'} ${result.item.jid} (${result.item.subscription}) in the roster of ${jid}\n`);
      return 0;
    }
    case 'del': {
      allowOptions(options, 'roster del', []);
      expectArgs(rest, 2);
      const params = { jid: rest[0]!, contact: rest[1]! };
      const result = await viaServerOrDatabase(config, 'roster.del', params, (s) => s.rosters.remove(params));
      process.stdout.write(`removed ${result.contact} from the roster of ${result.jid}\n`);
      return 0;
    }
    default:
      throw new UsageError(sub ? `unknown roster command "${sub}"` : 'roster needs a command: list, add, del');
  }
}
