// An account's message archive (XEP-0313) as an operator sees it: how many messages it
// holds, and purging it.
import type { ArchiveStore } from '../storage/index.js';
import type { AccountService } from './accounts.js';

export class ArchiveService {
  constructor(
    private readonly archive: ArchiveStore,
    private readonly accounts: AccountService,
  ) {}

  async count(jidInput: unknown): Promise<{ count: number }> {
    const jid = await this.accounts.requireExisting(jidInput);
    return { count: await this.archive.count(jid.local, jid.domain) };
  }

  async purge(jidInput: unknown): Promise<{ purged: number }> {
    const jid = await this.accounts.requireExisting(jidInput);
    return { purged: await this.archive.purge(jid.local, jid.domain) };
  }
}
