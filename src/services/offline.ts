// An account's offline queue (XEP-0160) as an operator sees it: how many messages wait,
// what they are, and purging them.
import { z } from 'zod';
import type { OfflineStore } from '../storage/index.js';
import { parseStanza } from '../xml/parse-stanza.js';
import type { AccountService } from './accounts.js';
import { parseInput } from './validation.js';

export const listOfflineInput = z.strictObject({
  limit: z.coerce.number().int('must be an integer').min(1).max(1_000).default(100),
});

export interface OfflineMessageInfo {
  id: number;
  storedAt: string;
  from: string | null;
  type: string;
  subject?: string;
  body?: string;
  /** The stored stanza, XML. */
  stanza: string;
}

export class OfflineService {
  constructor(
    private readonly offline: OfflineStore,
    private readonly accounts: AccountService,
  ) {}

  /** `count` is every waiting message; `messages` the oldest `limit` of them. */
  async list(jidInput: unknown, options: unknown = {}): Promise<{ count: number; messages: OfflineMessageInfo[] }> {
    const { limit } = parseInput(listOfflineInput, options);
    const jid = await this.accounts.requireExisting(jidInput);
    const [count, stored] = await Promise.all([
      this.offline.count(jid.local, jid.domain),
      this.offline.list(jid.local, jid.domain, limit),
    ]);
    const messages = stored.map((message): OfflineMessageInfo => {
      const stanza = parseStanza(message.stanza);
      const info: OfflineMessageInfo = {
        id: message.id,
        storedAt: message.storedAt.toISOString(),
        from: stanza?.attrs.from ?? null,
        type: stanza?.attrs.type ?? 'normal',
        stanza: message.stanza,
      };
      const subject = stanza?.getChildText('subject');
      const body = stanza?.getChildText('body');
      if (typeof subject === 'string') info.subject = subject;
      if (typeof body === 'string') info.body = body;
      return info;
    });
    return { count: Math.max(count, messages.length), messages };
  }

  async purge(jidInput: unknown): Promise<{ purged: number }> {
    const jid = await this.accounts.requireExisting(jidInput);
    return { purged: await this.offline.purge(jid.local, jid.domain) };
  }
}
