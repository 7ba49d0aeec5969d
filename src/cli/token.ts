// hearth token create|list|revoke: bearer tokens of the admin HTTP API.
import type { Config } from '../config.js';
import type { TokenInfo } from '../services/tokens.js';
import { allowOptions, expectArgs, UsageError, viaServerOrDatabase, type CliOptions } from './context.js';
import { printTable } from './table.js';

export async function tokenCommand(config: Config, args: string[], options: CliOptions): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'create': {
      allowOptions(options, 'token create', ['name', 'scope']);
      expectArgs(rest, 0);
      if (options.name === undefined) throw new UsageError('token create needs --name NAME');
      const params = { name: options.name, scope: options.scope ?? 'admin' };
      const result = await viaServerOrDatabase(config, 'token.create', params, (s) => s.tokens.create(params));
      // contract.md: the token alone on stdout, so `TOKEN=$(hearth token create …)` works.
      process.stdout.write(`${result.token}\n`);
      process.stderr.write(`created ${result.scope} token "${result.name}"; it is shown this once\n`);
      return 0;
    }
    case 'list': {
      allowOptions(options, 'token list', []);
      expectArgs(rest, 0);
      const { tokens } = await viaServerOrDatabase(config, 'token.list', {}, (s) => s.tokens.list());
      printTable(
        ['NAME', 'SCOPE', 'CREATED', 'LAST USED'],
        tokens.map((t: TokenInfo) => [t.name, t.scope, t.createdAt, t.lastUsedAt ?? 'never']),
      );
      return 0;
    }
    case 'revoke': {
      allowOptions(options, 'token revoke', []);
      expectArgs(rest, 1);
      const params = { name: rest[0]! };
      const result = await viaServerOrDatabase(config, 'token.revoke', params, (s) => s.tokens.revoke(params));
      process.stdout.write(`revoked ${result.name}\n`);
      return 0;
    }
    default:
      throw new UsageError(sub ? `unknown token command "${sub}"` : 'token needs a command: create, list, revoke');
  }
}
