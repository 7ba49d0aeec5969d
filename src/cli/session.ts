// hearth session list [JID] | kick JID [RESOURCE]: live sessions, from the running server.
import type { Config } from '../config.js';
import type { SessionInfo } from '../services/sessions.js';
import { allowOptions, expectArgs, UsageError, viaServer, type CliOptions } from './context.js';
import { printTable } from './table.js';

export async function sessionCommand(config: Config, args: string[], options: CliOptions): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'list': {
      allowOptions(options, 'session list', ['domain']);
      expectArgs(rest, 0, 1);
      const sessions: SessionInfo[] = [];
      if (rest.length === 1) {
        if (options.domain !== undefined) throw new UsageError('--domain does not apply when a JID is given');
        sessions.push(...(await viaServer<{ sessions: SessionInfo[] }>(config, 'session list', 'session.list', { jid: rest[0] })).sessions);
      } else {
        let after: string | undefined;
        for (;;) {
          const page = await viaServer<{ sessions: SessionInfo[]; next: string | null }>(config, 'session list', 'session.list', {
            domain: options.domain,
            limit: 1000,
            after,
          });
          sessions.push(...page.sessions);
          if (!page.next) break;
          after = page.next;
        }
      }
      printTable(
        ['JID', 'IP', 'SINCE', 'TLS', 'PRIORITY', 'PRESENCE'],
        sessions.map((s) => [s.jid, s.ip, s.since, s.tls ? 'tls' : 'plain', String(s.priority), s.available ? 'available' : 'unavailable']),
      );
      return 0;
    }
    case 'kick': {
      allowOptions(options, 'session kick', []);
      expectArgs(rest, 1, 2);
      const [jid, resource] = rest;
      const { kicked } = await viaServer<{ kicked: number }>(config, 'session kick', 'session.kick', { jid, resource });
      process.stdout.write(`ended ${kicked} session${kicked === 1 ? '' : 's'} of ${resource === undefined ? jid : `${jid}/${resource}`}\n`);
      return 0;
    }
    default:
      throw new UsageError(sub ? `unknown session command "${sub}"` : 'session needs a command: list, kick');
  }
}
