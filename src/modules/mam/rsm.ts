// XEP-0059 Result Set Management 1.0: the <set/> of a query, and of its answer.
import { Element } from 'ltx';
import { StanzaError } from '../../core/errors.js';
import { formatArchiveId, parseArchiveId } from './clock.js';

export const NS_RSM = 'http://jabber.org/protocol/rsm';

export interface RsmRequest {
  /** Undefined: the server's default page size. */
  max?: number;
  after?: bigint;
  before?: bigint;
  /** §2.5: an empty <before/> asks for the last page. */
  last: boolean;
}

/** Parses the query's <set/>; ids that cannot be ours are not found (XEP-0313 §4.3). */
export function parseRsm(query: Element): RsmRequest {
  const request: RsmRequest = { last: false };
  const sets = query.getChildren('set', NS_RSM);
  if (sets.length === 0) return request;
  if (sets.length > 1) throw new StanzaError('bad-request', 'a query carries one <set/>');
  const set = sets[0]!;
  const max = set.getChild('max');
  if (max) {
    const text = max.getText().trim();
    if (!/^\d{1,9}$/.test(text)) throw new StanzaError('bad-request', 'max is a non-negative integer');
    request.max = Number(text);
  }
  // §2.4 / §2.5: paging by index is optional; Hearth pages by id only.
  if (set.getChild('index')) throw new StanzaError('feature-not-implemented', 'paging by index is not supported; use after or before');
  const after = set.getChild('after');
  const before = set.getChild('before');
  // XEP-0313 §4.3: both at once is undefined; before-id and after-id express a range.
  if (after && before) throw new StanzaError('bad-request', 'use either after or before');
  if (after) {
    const text = after.getText().trim();
    if (text === '') throw new StanzaError('bad-request', 'after needs an id');
    request.after = parseAnchor(text);
  }
  if (before) {
    const text = before.getText().trim();
    if (text === '') request.last = true;
    else request.before = parseAnchor(text);
  }
  return request;
}

function parseAnchor(text: string): bigint {
  const id = parseArchiveId(text);
  if (id === null) throw new StanzaError('item-not-found', 'no such message in the archive');
  return id;
}

/** §2.6 / XEP-0313 §4.3: first (with its index when known), last and count of the answer. */
export function rsmResult(first: bigint | undefined, last: bigint | undefined, count?: number, index?: number): Element {
  const set = new Element('set', { xmlns: NS_RSM });
  if (first !== undefined && last !== undefined) {
    set.c('first', index !== undefined ? { index: String(index) } : {}).t(formatArchiveId(first));
    set.c('last').t(formatArchiveId(last));
  }
  if (count !== undefined) set.c('count').t(String(count));
  return set;
}
