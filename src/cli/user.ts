// hearth user add|del|passwd|disable|enable|list|import
import type { Config } from '../config.js';
import type { ImportResult } from '../services/accounts.js';
import { allowOptions, connectToServer, expectArgs, UsageError, viaServerOrDatabase, withDatabase, type CliOptions } from './context.js';
import { readAllLines, readPassword } from './input.js';

export async function userCommand(config: Config, args: string[], options: CliOptions): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'add': {
      allowOptions(options, 'user add', ['password']);
      expectArgs(rest, 1);
      const jid = rest[0]!;
      const password = options.password ?? (await readPassword(`Password for ${jid}: `));
      const result = await viaServerOrDatabase(config, 'user.add', { jid, password }, (s) => s.accounts.add(jid, password));
      process.stdout.write(`created ${result.jid}\n`);
      return 0;
    }
    case 'del': {
      allowOptions(options, 'user del', []);
      expectArgs(rest, 1);
      const jid = rest[0]!;
      const result = await viaServerOrDatabase(config, 'user.del', { jid }, (s) => s.accounts.remove(jid));
      process.stdout.write(`deleted ${result.jid}\n`);
      return 0;
    }
    case 'passwd': {
      allowOptions(options, 'user passwd', ['password']);
      expectArgs(rest, 1);
      const jid = rest[0]!;
      const password = options.password ?? (await readPassword(`New password for ${jid}: `));
      const result = await viaServerOrDatabase(config, 'user.passwd', { jid, password }, (s) => s.accounts.setPassword(jid, password));
      process.stdout.write(`password changed for ${result.jid}\n`);
      return 0;
    }
    case 'disable': {
      allowOptions(options, 'user disable', []);
      expectArgs(rest, 1);
      const jid = rest[0]!;
      const result = await viaServerOrDatabase(config, 'user.disable', { jid }, (s) => s.accounts.disable(jid));
      process.stdout.write(`disabled ${result.jid} (${result.sessionsClosed} sessions closed, ${result.tokensRevoked} FAST tokens revoked)\n`);
      return 0;
    }
    case 'enable': {
      allowOptions(options, 'user enable', []);
      expectArgs(rest, 1);
      const jid = rest[0]!;
      const result = await viaServerOrDatabase(config, 'user.enable', { jid }, (s) => s.accounts.enable(jid));
      process.stdout.write(`enabled ${result.jid}\n`);
      return 0;
    }
    case 'list': {
      allowOptions(options, 'user list', ['domain']);
      expectArgs(rest, 0);
      let after: string | undefined;
      // Page through everything; print as we go.
      for (;;) {
        const params = { domain: options.domain, limit: 1000, after };
        const page = await viaServerOrDatabase(config, 'user.list', params, (s) => s.accounts.list(params));
        for (const account of page.accounts) process.stdout.write(`${account.username}@${account.domain}\n`);
        if (!page.next) break;
        after = page.next;
      }
      return 0;
    }
    case 'import': {
      allowOptions(options, 'user import', []);
      expectArgs(rest, 0);
      const lines = await readAllLines();
      const total: ImportResult = { created: 0, existed: 0, invalid: 0, problems: [] };
      const client = await connectToServer(config);
      const run = async (importBatch: (batch: string[]) => Promise<ImportResult>) => {
        const BATCH = 5_000;
        for (let i = 0; i < lines.length; i += BATCH) {
          const result = await importBatch(lines.slice(i, i + BATCH));
          total.created += result.created;
          total.existed += result.existed;
          total.invalid += result.invalid;
          // Line numbers are relative to the batch; shift them to the input's.
          total.problems.push(...result.problems.map((p) => p.replace(/^line (\d+)/, (_, n: string) => `line ${Number(n) + i}`)));
        }
      };
      if (client) {
        try {
          await run((batch) => client.call<ImportResult>('user.import', { lines: batch }));
        } finally {
          client.close();
        }
      } else {
        await withDatabase(config, (s) => run((batch) => s.accounts.import(batch)));
      }
      for (const problem of total.problems.slice(0, 100)) process.stderr.write(problem + '\n');
      process.stdout.write(`created ${total.created}, existed ${total.existed}, invalid ${total.invalid}\n`);
      return total.invalid > 0 ? 1 : 0;
    }
    default:
      throw new UsageError(sub ? `unknown user command "${sub}"` : 'user needs a command: add, del, passwd, disable, enable, list, import');
  }
}
