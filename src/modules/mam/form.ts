// XEP-0313 Message Archive Management 1.1 §4.1: the query form (XEP-0004 data form with
// FORM_TYPE urn:xmpp:mam:2), with XEP-0431 Full Text Search 0.2 and the #extended fields.
import { Element } from 'ltx';
import { StanzaError } from '../../core/errors.js';
import { tryParseJid } from '../../core/jid.js';
import { parseArchiveId } from './clock.js';
import { NS_DATA } from '../../core/namespaces.js';

export const NS_MAM = 'urn:xmpp:mam:2';
export const NS_FULLTEXT = 'urn:xmpp:fulltext:0';
const NS_XDATA_VALIDATE = 'http://jabber.org/protocol/xdata-validate';
/** XEP-0431 §3: the field, in Clark notation (XEP-0068). */
export const FULLTEXT_FIELD = `{${NS_FULLTEXT}}fulltext`;
/** Names other servers and clients use for the same search. */
const FULLTEXT_ALIASES = new Set([FULLTEXT_FIELD, 'fulltext', 'withtext']);

/** Bytes of search text we accept. */
const MAX_FULLTEXT_BYTES = 1024;
/** Values in the ids field. */
export const MAX_IDS = 1000;

/** What a query form asks for, parsed; ids unresolved (the caller checks they exist). */
export interface MamQueryForm {
  with?: { jid: string; resource?: string };
  /** Milliseconds. */
  start?: number;
  end?: number;
  beforeId?: bigint;
  afterId?: bigint;
  ids?: bigint[];
  fulltext?: string;
  includeGroupchat: boolean;
}

/** XEP-0082 DateTime: date, time, optional fraction, and Z or an offset. */
const DATETIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;

function parseTime(field: string, value: string): number {
  const ms = DATETIME.test(value) ? Date.parse(value) : NaN;
  if (!Number.isFinite(ms)) throw new StanzaError('bad-request', `${field} is not an XEP-0082 date and time`);
  return ms;
}

/** An id named by the client; one we never gave out is not in the archive (§4.1.3). */
function parseId(field: string, value: string): bigint {
  const id = parseArchiveId(value);
  if (id === null) throw new StanzaError('item-not-found', `${field}: no such message in the archive`);
  return id;
}

function values(field: Element): string[] {
  return field.getChildren('value').map((v) => v.getText());
}

function single(name: string, field: Element): string {
  const list = values(field);
  if (list.length !== 1) throw new StanzaError('bad-request', `${name} takes exactly one value`);
  return list[0]!.trim();
}

/** Parses the <x/> of a query; no form means "everything". */
export function parseQueryForm(query: Element): MamQueryForm {
  const form: MamQueryForm = { includeGroupchat: false };
  const forms = query.getChildren('x', NS_DATA);
  if (forms.length === 0) return form;
  if (forms.length > 1) throw new StanzaError('bad-request', 'a query carries one form');
  const x = forms[0]!;
  // XEP-0004 §3.1: a form a client submits has type "submit".
  if (x.attrs.type !== undefined && x.attrs.type !== 'submit') throw new StanzaError('bad-request', 'the form must be of type submit');
  const seen = new Set<string>();
  for (const field of x.getChildren('field')) {
    const name = field.attrs.var;
    if (name === undefined) throw new StanzaError('bad-request', 'a form field needs a var');
    if (seen.has(name)) throw new StanzaError('bad-request', `field ${name} appears twice`);
    seen.add(name);
    switch (name) {
      case 'FORM_TYPE':
        if (single(name, field) !== NS_MAM) throw new StanzaError('bad-request', `FORM_TYPE must be ${NS_MAM}`);
        break;
      case 'with': {
        const jid = tryParseJid(single(name, field));
        if (!jid) throw new StanzaError('bad-request', 'with is not a valid JID');
        form.with = jid.resource === '' ? { jid: jid.bareString() } : { jid: jid.bareString(), resource: jid.resource };
        break;
      }
      case 'start':
        form.start = parseTime(name, single(name, field));
        break;
      case 'end':
        form.end = parseTime(name, single(name, field));
        break;
      case 'before-id':
        form.beforeId = parseId(name, single(name, field));
        break;
      case 'after-id':
        form.afterId = parseId(name, single(name, field));
        break;
      case 'ids': {
        const list = values(field).map((v) => v.trim());
        if (list.length === 0) throw new StanzaError('bad-request', 'ids needs at least one value');
        if (list.length > MAX_IDS) throw new StanzaError('policy-violation', `at most ${MAX_IDS} ids in one query`);
        form.ids = [...new Set(list)].map((v) => parseId(name, v));
        break;
      }
      case 'include-groupchat': {
        const value = single(name, field);
        // XEP-0004 §3.3 boolean: 0, 1, false, true.
        if (value === '1' || value === 'true') form.includeGroupchat = true;
        else if (value === '0' || value === 'false') form.includeGroupchat = false;
        else throw new StanzaError('bad-request', 'include-groupchat is a boolean');
        break;
      }
      default: {
        if (FULLTEXT_ALIASES.has(name)) {
          const text = values(field).join(' ').trim();
          if (Buffer.byteLength(text) > MAX_FULLTEXT_BYTES) throw new StanzaError('policy-violation', 'the search text is too long');
          if (text !== '') form.fulltext = text;
          break;
        }
        // XEP-0313 §4.1.5: a field the server does not know.
        throw new StanzaError('feature-not-implemented', `unknown field ${name}`);
      }
    }
  }
  if (form.start !== undefined && form.end !== undefined && form.start > form.end) {
    throw new StanzaError('bad-request', 'start is after end');
  }
  return form;
}

/** XEP-0313 §4.1.5: the fields the server supports, for an iq get. */
export function queryFormElement(): Element {
  const query = new Element('query', { xmlns: NS_MAM });
  const x = query.c('x', { xmlns: NS_DATA, type: 'form' });
  x.c('field', { type: 'hidden', var: 'FORM_TYPE' }).c('value').t(NS_MAM);
  x.c('field', { type: 'jid-single', var: 'with' });
  x.c('field', { type: 'text-single', var: 'start' });
  x.c('field', { type: 'text-single', var: 'end' });
  x.c('field', { type: 'text-single', var: 'before-id' });
  x.c('field', { type: 'text-single', var: 'after-id' });
  x.c('field', { type: 'list-multi', var: 'ids' }).c('validate', { xmlns: NS_XDATA_VALIDATE, datatype: 'xs:string' }).c('open');
  x.c('field', { type: 'boolean', var: 'include-groupchat' });
  x.c('field', { type: 'text-single', var: FULLTEXT_FIELD, label: 'Search the message text' });
  return query;
}
