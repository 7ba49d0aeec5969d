// What modules did with a message on its way to an account, remembered on the stanza object
// itself (weakly), so that a hibernated session that expires (XEP-0198) does not deliver a
// second time what the account can already get another way.
import type { Element } from 'ltx';

const archived = new WeakSet<Element>();
const carbonCopied = new WeakSet<Element>();

/** The message is in its recipient's archive (XEP-0313): a client fetches it from there. */
export function markArchived(stanza: Element): void {
  archived.add(stanza);
}

export function isArchived(stanza: Element): boolean {
  return archived.has(stanza);
}

/** The recipient's other resources got carbon copies of the message (XEP-0280). */
export function markCarbonCopied(stanza: Element): void {
  carbonCopied.add(stanza);
}

export function isCarbonCopied(stanza: Element): boolean {
  return carbonCopied.has(stanza);
}
