// hearth send | stats: commands that only the running server can answer.
import type { Config } from '../config.js';
import type { ServerStats } from '../services/stats.js';
import { allowOptions, expectArgs, UsageError, viaServer, type CliOptions } from './context.js';

export async function sendCommand(config: Config, args: string[], options: CliOptions): Promise<number> {
  allowOptions(options, 'send', ['from', 'to', 'body', 'type', 'subject']);
  expectArgs(args, 0);
  if (options.to === undefined || options.body === undefined) throw new UsageError('send needs --to JID and --body TEXT');
  const params = { from: options.from, to: options.to, body: options.body, type: options.type, subject: options.subject };
  const result = await viaServer<{ id: string; from: string; to: string }>(config, 'send', 'message.send', params);
  process.stdout.write(`sent ${result.id} from ${result.from} to ${result.to}\n`);
  return 0;
}

export async function statsCommand(config: Config, args: string[], options: CliOptions): Promise<number> {
  allowOptions(options, 'stats', ['json']);
  expectArgs(args, 0);
  const stats = await viaServer<ServerStats>(config, 'stats', 'stats');
  if (options.json) {
    process.stdout.write(JSON.stringify(stats, null, 2) + '\n');
    return 0;
  }
  const perDomain = (counts: Record<string, number>) =>
    Object.entries(counts)
      .map(([domain, n]) => `${domain} ${n}`)
      .join(', ') || 'none';
  const { routed } = stats.stanzas;
  process.stdout.write(
    [
      `version          ${stats.version}`,
      `uptime           ${stats.uptimeSeconds} s`,
      `accounts         ${stats.accounts.registered} (${perDomain(stats.accounts.byDomain)})`,
      `sessions         ${stats.sessions.online} (${perDomain(stats.sessions.byDomain)})`,
      `s2s incoming     ${perDomain(stats.s2s.incoming)}`,
      `s2s outgoing     ${perDomain(stats.s2s.outgoing)}`,
      `stanzas routed   ${routed.total} (message ${routed.message}, presence ${routed.presence}, iq ${routed.iq})`,
    ].join('\n') + '\n',
  );
  return 0;
}
