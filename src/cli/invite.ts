// hearth invite create|list|revoke: XEP-0401 invitations (who may run these: whoever may use
// the data directory, where the control socket and the embedded database are).
import { renderUnicodeCompact } from 'uqr';
import type { Config } from '../config.js';
import type { InviteInfo, MintedInvite } from '../services/invites.js';
import { allowOptions, expectArgs, UsageError, viaServerOrDatabase, type CliOptions } from './context.js';
import { printTable } from './table.js';

export async function inviteCommand(config: Config, args: string[], options: CliOptions): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'create': {
      allowOptions(options, 'invite create', ['account', 'admin', 'ttl', 'contact', 'domain', 'qr']);
      expectArgs(rest, 0);
      const params = {
        account: options.account,
        contact: options.contact,
        admin: options.admin ?? false,
        domain: options.domain,
        ttl: options.ttl,
      };
      const invite = await viaServerOrDatabase<MintedInvite>(config, 'invite.create', params, (s) => s.invites.create(params));
      // The landing page when there is one (what to share), else the xmpp: URI; on stdout
      // alone, so that `LINK=$(hearth invite create)` works. The rest is for the operator.
      process.stdout.write(`${invite.landingUrl ?? invite.uri}\n`);
      const lines = [
        `invitation ${invite.id} for ${invite.account ?? `a new account on ${invite.domain}`}${invite.contact ? `, subscribed with ${invite.contact}` : ''}${invite.admin ? ', administrator' : ''}; expires ${invite.expiresAt}`,
        `URI: ${invite.uri}`,
        invite.landingUrl ? `landing page: ${invite.landingUrl}` : 'no landing page link: set http.publicUrl (the client HTTP listener serves /invite/<token>)',
        'the token is shown this once',
      ];
      process.stderr.write(lines.join('\n') + '\n');
      if (options.qr) process.stderr.write(renderUnicodeCompact(invite.landingUrl ?? invite.uri, { border: 2 }) + '\n');
      return 0;
    }
    case 'list': {
      allowOptions(options, 'invite list', ['json']);
      expectArgs(rest, 0);
      const { invites } = await viaServerOrDatabase<{ invites: InviteInfo[] }>(config, 'invite.list', {}, (s) => s.invites.list());
      if (options.json) {
        process.stdout.write(JSON.stringify(invites, null, 2) + '\n');
        return 0;
      }
      printTable(
        ['ID', 'FOR', 'CONTACT', 'ADMIN', 'EXPIRES'],
        invites.map((i) => [String(i.id), i.account ?? `*@${i.domain}`, i.contact ?? '-', i.admin ? 'yes' : 'no', i.expired ? `expired ${i.expiresAt}` : i.expiresAt]),
      );
      return 0;
    }
    case 'revoke': {
      allowOptions(options, 'invite revoke', []);
      expectArgs(rest, 1);
      const target = rest[0]!;
      // An id is a number; anything else is taken for the token itself.
      const params = /^[0-9]+$/.test(target) ? { id: Number(target) } : { token: target };
      const result = await viaServerOrDatabase<{ id: number }>(config, 'invite.revoke', params, (s) => s.invites.revoke(params));
      process.stdout.write(`revoked invitation ${result.id}\n`);
      return 0;
    }
    default:
      throw new UsageError(sub ? `unknown invite command "${sub}"` : 'invite needs a command: create, list, revoke');
  }
}
