// Live client sessions: who is connected, from where, since when, and ending them.
import { z } from 'zod';
import { StreamError } from '../core/errors.js';
import { tryParseJid } from '../core/jid.js';
import type { ClientSession, SessionRegistry } from '../core/sessions.js';
import type { AccountService } from './accounts.js';
import { ServiceError } from './errors.js';
import { jidText, pageLimit, parseInput } from './validation.js';

export interface SessionInfo {
  /** Full JID. */
  jid: string;
  account: string;
  resource: string;
  ip: string;
  since: string;
  tls: boolean;
  /** 'c2s', 'c2s_direct_tls', 'websocket' or 'bosh'. */
  transport: string;
  priority: number;
  /** Sent available presence (RFC 6121 §4.2) and not unavailable since. */
  available: boolean;
  /** The cluster node holding it, or null when the server runs alone. */
  node: string | null;
}

export const listSessionsInput = z.strictObject({
  domain: z.string().min(1).max(1023).optional(),
  limit: pageLimit.default(1000),
  /** Keyset cursor: the full JID that ended the previous page. */
  after: jidText.optional(),
});

export const kickInput = z.strictObject({
  jid: jidText,
  resource: z.string().min(1).max(1023).optional(),
});

export class SessionService {
  constructor(
    private readonly sessions: SessionRegistry,
    private readonly accounts: AccountService,
    /** This process's cluster node id, or null when it runs alone. */
    private readonly node: string | null = null,
  ) {}

  /** Every session of the server (or of one domain), ordered by full JID, a page at a time. */
  list(input: unknown): { sessions: SessionInfo[]; next: string | null } {
    const { domain, limit, after } = parseInput(listSessionsInput, input);
    if (domain !== undefined) this.accounts.requireDomain(domain);
    const matching: ClientSession[] = [];
    for (const session of this.sessions.all()) {
      if (domain !== undefined && session.jid.domain !== domain) continue;
      if (after !== undefined && compareStrings(session.jid.toString(), after) <= 0) continue;
      matching.push(session);
    }
    matching.sort((a, b) => compareStrings(a.jid.toString(), b.jid.toString()));
    const page = matching.slice(0, limit).map((s) => describe(s, this.node));
    return { sessions: page, next: matching.length > limit ? page[page.length - 1]!.jid : null };
  }

  async ofAccount(jidInput: unknown): Promise<{ sessions: SessionInfo[] }> {
    const jid = await this.accounts.requireExisting(jidInput);
    const sessions = this.sessions.ofAccount(jid.bareString()).map((s) => describe(s, this.node));
    sessions.sort((a, b) => compareStrings(a.resource, b.resource));
    return { sessions };
  }

  /**
   * Ends the account's sessions (or one resource's) with a stream error the client sees.
   * RFC 6120 §4.9.3.14: policy-violation, the entity "has violated some local service
   * policy", with a text saying who ended it.
   */
  async kick(input: unknown): Promise<{ kicked: number }> {
    const { jid: jidInput, resource } = parseInput(kickInput, input);
    const account = await this.accounts.requireExisting(jidInput);
    let targets = this.sessions.ofAccount(account.bareString());
    if (resource !== undefined) {
      const full = tryParseJid(`${account.toString()}/${resource}`);
      if (!full) throw new ServiceError('invalid', `"${resource}" is not a valid resource`, 'resource');
      targets = targets.filter((s) => s.jid.resource === full.resource);
      if (targets.length === 0) throw new ServiceError('not-found', `${full.toString()} is not connected`, 'resource');
    }
    for (const session of targets) session.close(new StreamError('policy-violation', 'the session was ended by an administrator'));
    return { kicked: targets.length };
  }
}

function describe(session: ClientSession, thisNode: string | null): SessionInfo {
  return {
    jid: session.jid.toString(),
    account: session.jid.bareString(),
    resource: session.jid.resource,
    ip: session.remoteAddress,
    since: session.since.toISOString(),
    tls: session.secure,
    transport: session.transport,
    priority: session.priority,
    available: session.available,
    node: session.node ?? thisNode,
  };
}

/** Code-unit order: the same on every call, whatever the locale, so pages never overlap. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
