// hearth archive count JID | purge JID: an account's message archive (XEP-0313).
import type { Config } from '../config.js';
import { allowOptions, expectArgs, UsageError, viaServerOrDatabase, type CliOptions } from './context.js';

export async function archiveCommand(config: Config, args: string[], options: CliOptions): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'count': {
      allowOptions(options, 'archive count', []);
      expectArgs(rest, 1);
      const jid = rest[0]!;
      const result = await viaServerOrDatabase(config, 'archive.count', { jid }, (s) => s.archive.count(jid));
      process.stdout.write(`${result.count}\n`);
      return 0;
    }
    case 'purge': {
      allowOptions(options, 'archive purge', []);
      expectArgs(rest, 1);
      const jid = rest[0]!;
      const result = await viaServerOrDatabase(config, 'archive.purge', { jid }, (s) => s.archive.purge(jid));
      process.stdout.write(`purged ${result.purged} message(s) from the archive of ${jid}\n`);
      return 0;
    }
    default:
      throw new UsageError(sub ? `unknown archive command "${sub}"` : 'archive needs a command: count, purge');
  }
}
