// Small builders for stanzas the server itself emits (RFC 6120 §8).
import { Element, escapeXML, escapeXMLText } from 'ltx';
import type { StanzaError } from './errors.js';

export const NS_CLIENT = 'jabber:client';

/**
 * RFC 6120 §8.3.1: an error reply swaps to/from, keeps the id, carries type="error"
 * and an <error/> child. The original payload is included for context (§8.3.1 allows it).
 */
export function errorReply(stanza: Element, error: StanzaError, by?: string): Element {
  const attrs: Record<string, string> = { type: 'error' };
  if (stanza.attrs.from) attrs.to = stanza.attrs.from;
  if (stanza.attrs.to) attrs.from = stanza.attrs.to;
  if (stanza.attrs.id !== undefined) attrs.id = stanza.attrs.id;
  const reply = new Element(stanza.name, attrs);
  for (const child of stanza.children) {
    if (typeof child !== 'string' && child.name !== 'error') reply.cnode(cloneElement(child));
  }
  reply.cnode(error.toElement(by));
  return reply;
}

/** RFC 6120 §8.2.3: a result for an iq get/set, carrying the payload when there is one. */
export function iqResult(request: Element, payload?: Element | null): Element {
  const attrs: Record<string, string> = { type: 'result', id: request.attrs.id ?? '' };
  if (request.attrs.from) attrs.to = request.attrs.from;
  if (request.attrs.to) attrs.from = request.attrs.to;
  const reply = new Element('iq', attrs);
  if (payload) reply.cnode(payload);
  return reply;
}

/** Deep copy that keeps attribute objects free of prototype tricks. */
export function cloneElement(el: Element): Element {
  const copy = new Element(el.name);
  copy.attrs = Object.assign(Object.create(null) as Record<string, string>, el.attrs);
  for (const child of el.children) {
    copy.children.push(typeof child === 'string' ? child : cloneElement(child));
    const last = copy.children[copy.children.length - 1];
    if (typeof last !== 'string') last.parent = copy;
  }
  return copy;
}

/** The stanza with a new from/to, sharing children (for delivery copies). */
export function readdress(stanza: Element, changes: { from?: string; to?: string; id?: string }): Element {
  const copy = new Element(stanza.name);
  copy.attrs = Object.assign(Object.create(null) as Record<string, string>, stanza.attrs, changes);
  copy.children = stanza.children;
  return copy;
}

/** The children of a stanza sent to many recipients, serialised once for all the copies. */
class SharedChildren {
  private text: string | null = null;
  private readonly length: number;

  constructor(readonly children: Element['children']) {
    this.length = children.length;
  }

  /** Their serialisation; null when a copy's array is another (or changed): it writes its own. */
  serialised(children: Element['children']): string | null {
    if (children !== this.children || children.length !== this.length) return null;
    if (this.text === null) {
      let text = '';
      const collect = (chunk: string): void => {
        text += chunk;
      };
      for (const child of children) {
        if (typeof child === 'string') collect(escapeXMLText(child));
        else child.write(collect);
      }
      this.text = text;
    }
    return this.text;
  }
}

/** A copy made by fanOut(): its own attributes, the children written once for every copy. */
class FanOutCopy extends Element {
  constructor(
    name: string,
    attrs: Record<string, string>,
    private readonly shared: SharedChildren,
  ) {
    super(name);
    this.attrs = attrs;
    this.children = shared.children;
  }

  override write(writer: (chunk: string) => void): void {
    const text = this.children.length > 0 ? this.shared.serialised(this.children) : null;
    if (text === null) return super.write(writer);
    // As ltx writes an element (its attributes escaped the same way), with the children's text.
    writer(`<${this.name}`);
    for (const key in this.attrs) {
      const value = this.attrs[key];
      if (value !== undefined && value !== null) writer(` ${key}="${escapeXML(value)}"`);
    }
    writer(`>${text}</${this.name}>`);
  }
}

/**
 * Copies of one stanza for many recipients (a room's message to its occupants): each with its
 * own attributes, all sharing the children, which are serialised once for all. Like
 * readdress(), nothing may change the shared children in place.
 */
export function fanOut(stanza: Element): (changes: { from?: string; to?: string }) => Element {
  const shared = new SharedChildren(stanza.children);
  return (changes) => new FanOutCopy(stanza.name, Object.assign(Object.create(null) as Record<string, string>, stanza.attrs, changes), shared);
}
