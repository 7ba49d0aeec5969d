// Messages from the operator: one message to anyone (through the router, so offline
// storage and federation apply as to any message), or an announcement to every online
// session of a domain.
import { randomUUID } from 'node:crypto';
import { Element } from 'ltx';
import { z } from 'zod';
import { tryParseJid, type Jid } from '../core/jid.js';
import type { Router } from '../core/router.js';
import type { SessionRegistry } from '../core/sessions.js';
import type { AccountService } from './accounts.js';
import { ServiceError } from './errors.js';
import { jidText, parseInput, xmlText } from './validation.js';

/** Bytes of message body the API takes (well inside the smallest stanza limit). */
const MAX_BODY_BYTES = 8_192;
const MAX_SUBJECT_BYTES = 1_023;

export const sendMessageInput = z.strictObject({
  from: jidText.optional(),
  to: jidText,
  // RFC 6121 §5.2.2; groupchat is a MUC's business and error a reply's.
  type: z.enum(['chat', 'normal', 'headline']).default('chat'),
  body: xmlText(MAX_BODY_BYTES).refine((b) => b !== '', 'the body may not be empty'),
  subject: xmlText(MAX_SUBJECT_BYTES).optional(),
});

export const announcementInput = z.strictObject({
  domain: z.string().min(1).max(1023),
  body: xmlText(MAX_BODY_BYTES).refine((b) => b !== '', 'the body may not be empty'),
  subject: xmlText(MAX_SUBJECT_BYTES).optional(),
});

export class MessageService {
  constructor(
    private readonly router: Router,
    private readonly sessions: SessionRegistry,
    private readonly accounts: AccountService,
    private readonly domains: readonly string[],
  ) {}

  /**
   * Sends one message through the router. Resolves once the router is done with it: for a
   * local account without an available resource, once it is stored offline.
   */
  async send(input: unknown): Promise<{ id: string; from: string; to: string }> {
    const request = parseInput(sendMessageInput, input);
    const to = tryParseJid(request.to);
    if (!to) throw new ServiceError('invalid', `"${request.to}" is not a valid JID`, 'to');
    if (this.router.isLocalDomain(to.domain)) {
      if (to.local === '') throw new ServiceError('invalid', 'to must be an account, not the server itself', 'to');
      await this.accounts.requireExisting(to.bareString(), 'to');
    }
    let from: Jid;
    if (request.from === undefined) {
      // From the server itself: the recipient's domain when it is ours, else our first.
      from = tryParseJid(this.router.isLocalDomain(to.domain) ? to.domain : this.domains[0]!)!;
    } else {
      const parsed = tryParseJid(request.from);
      if (!parsed) throw new ServiceError('invalid', `"${request.from}" is not a valid JID`, 'from');
      if (!this.router.isLocalDomain(parsed.domain)) throw new ServiceError('invalid', `${parsed.domain} is not a domain this server serves`, 'from');
      if (parsed.local !== '') await this.accounts.requireExisting(parsed.bareString(), 'from');
      from = parsed;
    }
    const id = `admin-${randomUUID()}`;
    const message = new Element('message', { from: from.toString(), to: to.toString(), type: request.type, id });
    if (request.subject !== undefined) message.c('subject').t(request.subject);
    message.c('body').t(request.body);
    await this.router.send(message);
    return { id, from: from.toString(), to: to.toString() };
  }

  /**
   * A headline from the domain to every session of the domain (RFC 6121 §5.2.2: headline
   * is for alerts "to which no reply is expected"; it is never stored offline). Each copy
   * is routed to the session's full JID.
   */
  async announce(input: unknown): Promise<{ delivered: number }> {
    const request = parseInput(announcementInput, input);
    const domain = this.accounts.requireDomain(request.domain);
    const targets: Jid[] = [];
    for (const session of this.sessions.all()) if (session.jid.domain === domain) targets.push(session.jid);
    const id = `announce-${randomUUID()}`;
    await Promise.all(
      targets.map((to) => {
        const message = new Element('message', { from: domain, to: to.toString(), type: 'headline', id });
        if (request.subject !== undefined) message.c('subject').t(request.subject);
        message.c('body').t(request.body);
        return this.router.send(message);
      }),
    );
    return { delivered: targets.length };
  }
}
