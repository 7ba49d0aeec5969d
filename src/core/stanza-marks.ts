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

const committing = new WeakMap<Element, readonly Promise<unknown>[]>();

/**
 * What the message hooks store for this message (archive, offline) settles with `work`. A
 * message leaves this process for another cluster node only after that: what another node
 * has delivered is never missing from the archive when this one dies.
 */
export function markCommitting(stanza: Element, work: readonly Promise<unknown>[]): void {
  committing.set(stanza, work);
}

/** Settles once what the hooks store for the message is settled; undefined when nothing is. */
export function whenCommitted(stanza: Element): Promise<unknown> | undefined {
  const work = committing.get(stanza);
  return work ? Promise.allSettled(work) : undefined;
}
