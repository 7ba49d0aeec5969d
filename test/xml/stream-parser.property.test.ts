// Property tests: random well-formed stanza streams survive arbitrary chunking,
// and arbitrary bytes never make write() throw.
import { expect } from 'chai';
import fc from 'fast-check';
import { Element } from 'ltx';
import { HEADER, harness, summarize, type Ev } from './helpers.js';

// ------------------------------------------------------------- model

interface GenText {
  kind: 'text';
  text: string;
  /** 0 = minimal escaping, 1 = CDATA section, 2 = every character as a character reference, 3 = named entities for everything escapable */
  style: number;
}
interface GenEl {
  kind: 'el';
  name: string;
  ns: string;
  /** Write the element with this prefix (declared on the element itself unless an ancestor bound it to the same namespace). */
  prefix: string | null;
  attrs: [string, string][];
  attrStyle: number;
  /** Extra white space inside tags. */
  spacey: boolean;
  /** When prefixed: also carry an attribute `prefix:pa` in the element's namespace. */
  prefixedAttr: string | null;
  children: (GenEl | GenText)[];
}

const NAMESPACES = ['jabber:client', 'urn:a', 'urn:b', 'http://example.com/ns/é'];
const NAMES = ['message', 'body', 'x', 'a-b', 'a.b', '_u', 'café', '日本', 'd2', 'query'];
const PREFIXES = ['p', 'q', 'ns1'];
const ATTR_NAMES = ['id', 'to', 'type', 'a', 'b-c', 'é', 'xml:lang', '__proto__', 'constructor', 'toString', 'hasOwnProperty'];
const CHARS = ['a', 'b', 'Z', '0', ' ', '<', '>', '&', '"', "'", ']', ';', '#', 'é', '日本', '🎉', 'ñ', '\u00A0', '\uFFFD'];
const TEXT_CHARS = [...CHARS, '\n', '\t', ']]>'];

const textArb: fc.Arbitrary<GenText> = fc.record({
  kind: fc.constant('text' as const),
  text: fc.array(fc.constantFrom(...TEXT_CHARS), { minLength: 1, maxLength: 8 }).map((a) => a.join('')),
  style: fc.integer({ min: 0, max: 3 }),
});
const attrValueArb = fc.array(fc.constantFrom(...CHARS), { maxLength: 6 }).map((a) => a.join(''));

function elArb(depth: number): fc.Arbitrary<GenEl> {
  const child: fc.Arbitrary<GenEl | GenText> = depth > 0 ? fc.oneof(textArb, elArb(depth - 1)) : textArb;
  return fc.record({
    kind: fc.constant('el' as const),
    name: fc.constantFrom(...NAMES),
    ns: fc.constantFrom(...NAMESPACES),
    prefix: fc.option(fc.constantFrom(...PREFIXES), { nil: null, freq: 3 }),
    attrs: fc.uniqueArray(fc.tuple(fc.constantFrom(...ATTR_NAMES), attrValueArb), { selector: (a) => a[0], maxLength: 4 }),
    attrStyle: fc.integer({ min: 0, max: 2 }),
    spacey: fc.boolean(),
    prefixedAttr: fc.option(attrValueArb, { nil: null }),
    children: fc.array(child, { maxLength: 4 }),
  });
}

const streamArb = fc.record({
  decl: fc.boolean(),
  stanzas: fc.array(fc.tuple(elArb(3), fc.constantFrom('', ' ', '\n', '\r\n\t  ')), { minLength: 1, maxLength: 5 }),
  close: fc.boolean(),
});

// ------------------------------------------------------- serialiser

const charRef = (s: string): string => Array.from(s, (c) => `&#x${c.codePointAt(0)!.toString(16)};`).join('');

function escapeText(t: string, style: number): string {
  switch (style) {
    case 1:
      return '<![CDATA[' + t.replace(/]]>/g, ']]]]><![CDATA[>') + ']]>';
    case 2:
      return charRef(t);
    case 3:
      return t.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
    default:
      return t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  }
}

function escapeAttr(v: string, style: number): string {
  if (style === 1) return "'" + v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/'/g, '&apos;') + "'";
  if (style === 2) return '"' + charRef(v) + '"';
  return '"' + v.replace(/&/g, '&#38;').replace(/</g, '&#60;').replace(/"/g, '&quot;') + '"';
}

interface Scope {
  defNs: string;
  prefixes: Map<string, string>;
}

/** Serialises `el`, returning the XML and whether it declared its own prefix. */
function serialize(el: GenEl, scope: Scope, declared: Map<GenEl, string | null>): string {
  const sp = el.spacey ? ' \n\t' : ' ';
  let qname = el.name;
  let decls = '';
  let next: Scope = scope;
  if (el.prefix !== null) {
    qname = `${el.prefix}:${el.name}`;
    if (scope.prefixes.get(el.prefix) !== el.ns) {
      decls += `${sp}xmlns:${el.prefix}=${escapeAttr(el.ns, el.attrStyle)}`;
      next = { defNs: scope.defNs, prefixes: new Map(scope.prefixes).set(el.prefix, el.ns) };
      declared.set(el, el.prefix);
    } else declared.set(el, null);
  } else {
    declared.set(el, null);
    if (scope.defNs !== el.ns) {
      decls += `${sp}xmlns=${escapeAttr(el.ns, el.attrStyle)}`;
      next = { defNs: el.ns, prefixes: scope.prefixes };
    }
  }
  let s = `<${qname}${decls}`;
  for (const [k, v] of el.attrs) s += `${sp}${k}${el.spacey ? ' = ' : '='}${escapeAttr(v, el.attrStyle)}`;
  if (el.prefix !== null && el.prefixedAttr !== null) s += `${sp}${el.prefix}:pa=${escapeAttr(el.prefixedAttr, el.attrStyle)}`;
  if (el.children.length === 0) return s + (el.spacey ? ' />' : '/>');
  s += el.spacey ? ' >' : '>';
  for (const c of el.children) s += c.kind === 'text' ? escapeText(c.text, c.style) : serialize(c, next, declared);
  return s + `</${qname}${el.spacey ? '\n' : ''}>`;
}

/** The ltx element the parser should produce for `el`. */
function expected(el: GenEl, parentNs: string | null, declared: Map<GenEl, string | null>): Element {
  const attrs: Record<string, string> = Object.create(null);
  if (parentNs === null || parentNs !== el.ns) attrs.xmlns = el.ns;
  const p = declared.get(el);
  if (p) attrs[`xmlns:${p}`] = el.ns;
  for (const [k, v] of el.attrs) attrs[k] = v;
  if (el.prefix !== null && el.prefixedAttr !== null) attrs[`${el.prefix}:pa`] = el.prefixedAttr;
  const out = new Element(el.name);
  out.attrs = attrs;
  let text = '';
  for (const c of el.children) {
    if (c.kind === 'text') {
      text += c.text;
      continue;
    }
    if (text !== '') out.children.push(text);
    text = '';
    const child = expected(c, el.ns, declared);
    child.parent = out;
    out.children.push(child);
  }
  if (text !== '') out.children.push(text);
  return out;
}

function feedChunks(input: Buffer, cuts: number[]): Ev[] {
  const h = harness({ maxStanzaBytes: 1_000_000, maxDepth: 10, maxAttributes: 10 });
  const points = [...new Set(cuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b);
  let prev = 0;
  for (const p of [...points, input.length]) {
    if (p > prev) h.parser.write(input.subarray(prev, p));
    prev = p;
  }
  return h.events;
}

// ------------------------------------------------------------ tests

describe('XmlStreamParser properties', () => {
  it('emits the generated stanzas, identically for any chunking of the bytes', function () {
    this.timeout(60_000);
    fc.assert(
      fc.property(streamArb, fc.array(fc.nat(), { maxLength: 40 }), (stream, cuts) => {
        const declared = new Map<GenEl, string | null>();
        const root: Scope = { defNs: 'jabber:client', prefixes: new Map() };
        let xml = (stream.decl ? "<?xml version='1.0' encoding='UTF-8'?>\n" : '') + HEADER;
        for (const [el, ws] of stream.stanzas) xml += serialize(el, root, declared) + ws;
        if (stream.close) xml += '</stream:stream>';
        const input = Buffer.from(xml, 'utf8');

        const want = stream.stanzas.map(([el]) => expected(el, null, declared).toString());
        const whole = feedChunks(input, []);
        expect(whole.filter((e) => e.type === 'error'), xml).to.deep.equal([]);
        const got = whole.flatMap((e) => (e.type === 'element' ? [e.el.toString()] : []));
        expect(got, xml).to.deep.equal(want);
        expect(whole[whole.length - 1].type).to.equal(stream.close ? 'end' : 'element');

        const chunked = feedChunks(input, cuts);
        expect(summarize(chunked)).to.deep.equal(summarize(whole));
        const bytewise = feedChunks(input, Array.from({ length: input.length }, (_, i) => i));
        expect(summarize(bytewise)).to.deep.equal(summarize(whole));
      }),
      { numRuns: 300 },
    );
  });

  it('never throws on random bytes, and reports nothing after an error', function () {
    this.timeout(60_000);
    const prefixArb = fc.constantFrom('', HEADER, HEADER + '<message><body>', "<?xml version='1.0'?>");
    fc.assert(
      fc.property(prefixArb, fc.uint8Array({ maxLength: 400 }), fc.array(fc.nat(), { maxLength: 20 }), (prefix, bytes, cuts) => {
        const input = Buffer.concat([Buffer.from(prefix), bytes]);
        let events: Ev[] = [];
        expect(() => {
          events = feedChunks(input, cuts);
        }).to.not.throw();
        const errorAt = events.findIndex((e) => e.type === 'error');
        if (errorAt >= 0) expect(errorAt).to.equal(events.length - 1);
        for (const e of events) if (e.type === 'element') expect(() => e.el.toString()).to.not.throw();
      }),
      { numRuns: 2000 },
    );
  });

  it('produces the same events (or the same error) for any chunking of mutated streams', function () {
    this.timeout(60_000);
    const MARKUP = ['<', '>', '&', ';', '"', "'", '/', '=', ' ', ':', '?', '!', '[', ']', '-', 'x', '#'].map((c) => c.charCodeAt(0));
    const mutation = fc.tuple(fc.nat(), fc.oneof(fc.constantFrom(...MARKUP), fc.integer({ min: 0, max: 255 })), fc.constantFrom('replace', 'insert', 'delete'));
    fc.assert(
      fc.property(streamArb, fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 30 }), (stream, muts, cuts) => {
        const declared = new Map<GenEl, string | null>();
        const root: Scope = { defNs: 'jabber:client', prefixes: new Map() };
        let xml = HEADER;
        for (const [el, ws] of stream.stanzas) xml += serialize(el, root, declared) + ws;
        const bytes = Array.from(Buffer.from(xml));
        for (const [at, byte, op] of muts) {
          const i = at % (bytes.length + 1);
          if (op === 'insert') bytes.splice(i, 0, byte);
          else if (op === 'delete') bytes.splice(i, 1);
          else bytes[i] = byte;
        }
        const input = Buffer.from(bytes);
        const whole = feedChunks(input, []);
        const chunked = feedChunks(input, cuts);
        expect(summarize(chunked)).to.deep.equal(summarize(whole));
        const bytewise = feedChunks(input, Array.from({ length: input.length }, (_, i) => i));
        expect(summarize(bytewise)).to.deep.equal(summarize(whole));
      }),
      { numRuns: 500 },
    );
  });
});
