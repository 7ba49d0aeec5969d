// A streaming tokenizer for XMPP streams (RFC 6120 §11: restricted XML,
// UTF-8 only, namespaces 1.0), producing ltx Elements for every top-level
// child of the stream root.
//
// Design
// ------
// The parser is a byte-level state machine that resumes at any byte boundary.
// Input chunks are scanned in place; only the bytes of the token that is still
// unfinished at the end of a chunk (at most about `maxStanzaBytes`) are copied
// into a growable carry-over buffer, and scanning resumes where it stopped, so
// feeding input one byte at a time stays linear.
//
// All structural characters are ASCII, so the machine works on raw bytes and
// validates UTF-8 (and XML's character rules) inline while scanning. A run of
// character data, an attribute value or a name is decoded with one
// `toString()` call once its end is found; the bytes of a value in progress are
// kept contiguous (a "mark"), so a multi-byte character split across writes is
// decoded intact.
//
// Output normalisation: element names are local names (no prefixes). Each
// top-level element carries `xmlns` = its resolved namespace; a descendant
// carries `xmlns` only when its namespace differs from its parent's (and
// `xmlns=""` when it has no namespace under a namespaced parent). `xmlns:p`
// declarations written on an element are all kept as attributes, so prefixed
// attributes (`a:b="…"`) stay resolvable; when a prefixed attribute uses a
// prefix declared on the stream header, that declaration is copied onto the
// element. Attribute objects have a null prototype, so `__proto__`,
// `constructor`, … are ordinary attributes.
//
// ltx caveats with null-prototype attrs (ltx 3.1): `el.getAttr(name, xmlns)`
// with a namespace argument throws (ltx's getXmlns() calls
// attrs.hasOwnProperty), and `ltx.clone()` copies attrs with Object.assign
// into a plain object, silently dropping an attribute named `__proto__`.
// Use `el.attrs[name]` / `el.getAttr(name)` instead.
//
// Text: adjacent character data (including CDATA sections and references) is
// merged into one string child; CR / CRLF become LF, and TAB / LF / CR in
// attribute values become spaces (XML 1.0 §2.11, §3.3.3).
//
// Re-entrancy: handlers may call reset(), setLimits(), end(), pause(),
// resume() or write(). After each event the parser re-reads its state, so
// after reset() the rest of the current chunk is parsed as the new stream;
// write() from a handler is queued behind the current chunk.
//
// pause()/resume() (an addition to the original API, for asynchronous SASL):
// pause() from a handler stops parsing right after the current event; the rest
// of the chunk and later writes are held unparsed (at most maxStanzaBytes +
// 1 MiB, else policy-violation) until resume(). reset() while paused forgets
// the old stream but keeps the held, not yet parsed bytes, so
// `pause(); …await…; reset(); resume()` parses pipelined data after <auth/>
// as the new stream.
import { Element } from 'ltx';
import {
  CHAR_CLASS as CC,
  C_ATTR_STOP,
  C_NAME,
  C_NAME_START,
  C_TEXT_STOP,
  C_WS,
  isQName,
  resolveReference,
  utf8Seq,
} from './chars.js';

export type XmlErrorCondition =
  | 'not-well-formed'
  | 'restricted-xml'
  | 'policy-violation'
  | 'bad-namespace-prefix'
  | 'unsupported-encoding'
  /** A second stream header (`<stream:stream>`) inside an open stream, where no restart is due. */
  | 'unsupported-stanza-type';

export interface XmlLimits {
  /** Raw bytes of one top-level (depth-1) element, counted while reading; also caps the stream header and any buffered unfinished token. */
  maxStanzaBytes: number;
  /** Nesting depth of elements inside a stanza (stanza itself = 1). */
  maxDepth: number;
  /** Attributes per element. */
  maxAttributes: number;
}

export interface StreamHeader {
  /** 'stream' for <stream:stream>, null when unprefixed. */
  prefix: string | null;
  /** Local name, e.g. 'stream'. */
  localName: string;
  /** Resolved namespace URI of the header element. */
  namespace: string | undefined;
  /** The default namespace (xmlns="…") in scope on the header: jabber:client, jabber:server, … */
  defaultNamespace: string | undefined;
  /** All attributes as written, including xmlns declarations (null-prototype object). */
  attrs: Record<string, string>;
}

export interface XmlStreamEvents {
  streamStart(header: StreamHeader): void;
  /** Each complete depth-1 child of the stream root. */
  element(stanza: Element): void;
  /** </stream:stream> (or a self-closed root). */
  streamEnd(): void;
  /** Fatal: afterwards the parser ignores all input until reset(). */
  error(condition: XmlErrorCondition, text: string): void;
}

export const NS_XML = 'http://www.w3.org/XML/1998/namespace';
export const NS_XMLNS = 'http://www.w3.org/2000/xmlns/';
/** RFC 6120 §4.2: the namespace of `<stream:stream>`. */
const NS_STREAMS = 'http://etherx.jabber.org/streams';

interface Binding {
  uri: string;
  /** Depth of the element that declared it (0 = stream header). */
  depth: number;
}
type PrefixMap = Map<string, Binding>;
const NO_PREFIXES: PrefixMap = new Map();

// Parser states.
const S_PROLOG = 0; // start of a stream: optional BOM, XML declaration, white space
const S_PROLOG_WS = 1; // white space before the stream header
const S_LT = 2; // just after '<'
const S_START_NAME = 3; // element name in a start tag
const S_TAG = 4; // inside a start tag, after white space
const S_ATTR_NAME = 5;
const S_ATTR_EQ = 6; // after an attribute name: white space, then '='
const S_ATTR_QUOTE = 7; // after '=': white space, then a quote
const S_ATTR_VALUE = 8;
const S_AFTER_VALUE = 9; // after a closing quote: white space, '/' or '>'
const S_EMPTY = 10; // after '/' in a start tag
const S_END_NAME = 11; // after '</'
const S_END_WS = 12; // after the name in an end tag
const S_TEXT = 13; // character data inside a stanza
const S_ROOT_TEXT = 14; // between stanzas, directly inside the stream root
const S_REF = 15; // after '&'
const S_BANG = 16; // after '<!'
const S_CDATA = 17; // inside <![CDATA[ … ]]>
const S_XMLDECL = 18; // after '<?' opening a stream's prolog (the start, or a restart)
const S_DONE = 19; // after </stream:stream>: input is ignored
const S_DEAD = 20; // after an error or end(): input is ignored until reset()

const LT = 0x3c;
const GT = 0x3e;
const AMP = 0x26;
const SLASH = 0x2f;
const BANG = 0x21;
const QMARK = 0x3f;
const EQ = 0x3d;
const SEMI = 0x3b;
const QUOT = 0x22;
const APOS = 0x27;
const RSQB = 0x5d;
const CR = 0x0d;
const TAB = 0x09;
const LF = 0x0a;

const CDATA_OPEN = '[CDATA[';
/** Longest reference name accepted between '&' and ';' (allows zero-padded char refs). */
const MAX_REF_LEN = 32;
/** Carry-over buffers larger than this are released when they become empty. */
const KEEP_RELEASE = 64 * 1024;
/** While paused, at most maxStanzaBytes + this many unparsed bytes are held. */
const PAUSED_SLACK = 1024 * 1024;

const XML_DECL_RE =
  /^xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(?:"1\.[0-9]+"|'1\.[0-9]+')(?:[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*(?:"([A-Za-z][A-Za-z0-9._-]*)"|'([A-Za-z][A-Za-z0-9._-]*)'))?(?:[ \t\r\n]+standalone[ \t\r\n]*=[ \t\r\n]*(?:"(?:yes|no)"|'(?:yes|no)'))?[ \t\r\n]*$/;

const EMPTY = Buffer.alloc(0);

/** Direct-mapped cache of recently decoded ASCII names (shared: it only holds immutable strings). */
const INTERN_SLOTS = 1024;
const INTERN_MAX_LEN = 32;
const internTable: (string | undefined)[] = new Array(INTERN_SLOTS).fill(undefined);

function sanitizeLimit(v: unknown, fallback: number): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 1 ? Math.floor(v) : fallback;
}

export class XmlStreamParser {
  private readonly events: XmlStreamEvents;
  private limits: XmlLimits;

  // --- input cursor ---
  private state = S_PROLOG;
  private data: Buffer = EMPTY; // bytes being parsed (the chunk, or the carry-over buffer)
  private len = 0; // valid bytes in `data`
  private pos = 0; // next byte to examine
  private stop = 0; // scan bound for this step (end of data, or the size limit)
  private mark = -1; // start of the value being collected, -1 if none
  private base = 0; // absolute stream offset of data[0]
  private keep: Buffer | null = null; // carry-over buffer for an unfinished token
  private keepLen = 0;
  private budgetStart = -1; // absolute offset where the size-limited token began

  // --- re-entrancy ---
  private busy = false; // inside write()
  private paused = false; // pause() called: hold input unparsed until resume()
  private abort = false; // stop processing the current chunk
  private inCallback = false; // an event handler is running
  private gen = 0; // bumped by reset()
  private queue: Buffer[] = [];

  // --- prolog ---
  private bomChecked = false;
  private declAllowed = false; // the '<' just read may open an XML declaration
  private declPending = true; // no XML declaration and no other markup yet in this stream's prolog
  private restarted = false; // this stream began with reset() (a restart after STARTTLS or SASL)

  // --- open elements (index = depth; 0 = stream root) ---
  private depth = -1;
  private qnames: string[] = [];
  private nsOf: (string | undefined)[] = [];
  private defNs: (string | undefined)[] = [];
  private prefixes: PrefixMap[] = [];
  private els: (Element | null)[] = [];

  // --- current token ---
  private nonAscii = false; // current name contains non-ASCII bytes
  private tagName = '';
  private attrN: string[] = [];
  private attrV: string[] = [];
  private attrCount = 0;
  private attrSet: Set<string> | null = null;
  private attrName = '';
  private quote = 0;
  private val = ''; // attribute value collected so far
  private text = ''; // character data of the innermost element collected so far
  private sawCR = false; // CR in the current text/CDATA run
  private sawWsInVal = false; // TAB/LF/CR in the current attribute value run
  private refReturn = S_TEXT;
  private bangIdx = 0;

  constructor(events: XmlStreamEvents, limits: XmlLimits) {
    this.events = events;
    this.limits = {
      maxStanzaBytes: sanitizeLimit(limits?.maxStanzaBytes, 65536),
      maxDepth: sanitizeLimit(limits?.maxDepth, 32),
      maxAttributes: sanitizeLimit(limits?.maxAttributes, 64),
    };
  }

  // ------------------------------------------------------------------ API

  /**
   * Feeds bytes. Never throws because of the input: problems are reported via
   * `events.error`. Exceptions thrown by the event handlers themselves are not
   * swallowed: they propagate to the caller, and the parser then ignores input
   * until reset() (the rest of the chunk was not processed).
   */
  write(chunk: Buffer): void {
    if (this.state === S_DEAD && !this.busy) return;
    let buf: Buffer;
    if (Buffer.isBuffer(chunk)) buf = chunk;
    else if ((chunk as unknown) instanceof Uint8Array) {
      const u = chunk as Uint8Array;
      buf = Buffer.from(u.buffer, u.byteOffset, u.byteLength);
    } else if (typeof (chunk as unknown) === 'string') buf = Buffer.from(chunk as unknown as string, 'utf8');
    else return;
    if (buf.length === 0) return;
    if (this.busy) {
      // write() from inside an event handler: process after the current chunk.
      this.queue.push(Buffer.from(buf));
      return;
    }
    this.process(buf);
  }

  /**
   * Stops parsing until resume(). Called from an event handler, parsing stops
   * right after that event; the rest of the chunk and later writes are held.
   */
  pause(): void {
    if (this.state !== S_DEAD) this.paused = true;
  }

  /** Continues parsing held input (synchronously: events may fire inside this call). */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    // From inside a handler the running write() simply continues.
    if (this.busy || this.keepLen === 0 || this.state === S_DEAD) return;
    this.process(EMPTY);
  }

  private process(first: Buffer): void {
    this.busy = true;
    try {
      this.feed(first);
      while (this.queue.length > 0) this.feed(this.queue.shift() as Buffer);
    } catch (err) {
      const fromCallback = this.inCallback;
      this.inCallback = false;
      this.queue.length = 0;
      this.kill();
      this.dropBuffer();
      if (fromCallback) throw err;
      // An internal failure must never escape: treat it as malformed input.
      this.emitError('not-well-formed', 'internal parser error');
    } finally {
      this.busy = false;
    }
  }

  /**
   * Inside the stream root with no element or token begun: everything written so far formed
   * complete elements (framings that carry one element per message check this).
   */
  get betweenElements(): boolean {
    return this.state === S_ROOT_TEXT && this.depth === 0;
  }

  /** Changes limits; takes effect immediately (also for the token being read). */
  setLimits(limits: Partial<XmlLimits>): void {
    if (!limits) return;
    this.limits = {
      maxStanzaBytes: sanitizeLimit(limits.maxStanzaBytes, this.limits.maxStanzaBytes),
      maxDepth: sanitizeLimit(limits.maxDepth, this.limits.maxDepth),
      maxAttributes: sanitizeLimit(limits.maxAttributes, this.limits.maxAttributes),
    };
  }

  /**
   * Stream restart (RFC 6120 §4.3.3): forgets everything and expects an
   * optional XML declaration and a new stream header (white space left over
   * from the old stream may precede both). When called from an
   * event handler during write(), the remaining bytes of the chunk are parsed
   * as the new stream (unless it is called from the `error` handler: the rest
   * of a chunk that contained an error is always discarded).
   */
  reset(): void {
    this.gen++;
    this.state = S_PROLOG;
    this.bomChecked = false;
    this.declAllowed = false;
    this.declPending = true;
    this.restarted = true;
    this.clearTree();
    this.mark = -1;
    this.budgetStart = -1;
    if (!this.busy) {
      this.abort = false;
      if (this.paused && this.keep !== null && this.pos < this.keepLen) {
        // Keep the held input that was never parsed; forget the rest.
        if (this.pos > 0) {
          this.keep.copyWithin(0, this.pos, this.keepLen);
          this.keepLen -= this.pos;
          this.base += this.pos;
          this.pos = 0;
        }
      } else {
        this.dropBuffer();
      }
    }
  }

  /** No more input (connection closed): drops all state; later writes are ignored until reset(). */
  end(): void {
    this.kill();
    this.queue.length = 0;
  }

  // ------------------------------------------------------------ driver

  private feed(chunk: Buffer): void {
    this.abort = false;
    if (this.state === S_DEAD || this.state === S_DONE) return;
    if (this.paused && this.keepLen + chunk.length > this.limits.maxStanzaBytes + PAUSED_SLACK) {
      this.fail('policy-violation', 'too much input while parsing is paused');
      this.dropBuffer();
      return;
    }
    if (this.keepLen > 0) {
      const need = this.keepLen + chunk.length;
      let keep = this.keep as Buffer;
      if (keep.length < need) {
        const grown = Buffer.allocUnsafe(Math.max(need, keep.length * 2));
        keep.copy(grown, 0, 0, this.keepLen);
        keep = this.keep = grown;
      }
      chunk.copy(keep, this.keepLen);
      this.data = keep;
      this.len = need;
    } else {
      this.data = chunk;
      this.len = chunk.length;
    }
    this.run();
    if (this.abort || this.state === S_DEAD || this.state === S_DONE) {
      this.dropBuffer();
      return;
    }
    this.retain();
  }

  /** Keeps the unfinished token's bytes [min(mark, pos), len) for the next write. */
  private retain(): void {
    const len = this.len;
    const from = this.mark >= 0 && this.mark < this.pos ? this.mark : this.pos;
    const n = len - from;
    if (n > 0) {
      if (this.data === this.keep) {
        if (from > 0) this.keep.copyWithin(0, from, len);
      } else {
        if (this.keep === null || this.keep.length < n) {
          this.keep = Buffer.allocUnsafe(Math.max(n * 2, 256));
        }
        this.data.copy(this.keep, 0, from, len);
      }
    } else if (this.keep !== null && this.keep.length > KEEP_RELEASE) {
      this.keep = null;
    }
    this.keepLen = n;
    this.base += from;
    this.pos -= from;
    if (this.mark >= 0) this.mark -= from;
    this.data = EMPTY;
    this.len = 0;
  }

  private dropBuffer(): void {
    this.base += this.len;
    this.data = EMPTY;
    this.len = 0;
    this.pos = 0;
    this.mark = -1;
    this.keepLen = 0;
    if (this.keep !== null && this.keep.length > KEEP_RELEASE) this.keep = null;
  }

  private run(): void {
    const len = this.len;
    for (;;) {
      if (this.abort || this.paused) return;
      let stop = len;
      if (this.budgetStart >= 0) {
        const lim = this.budgetStart + this.limits.maxStanzaBytes - this.base;
        if (lim < stop) stop = lim;
      }
      this.stop = stop;
      if (this.pos >= stop || !this.step()) {
        if (this.abort) return;
        if (stop < len && this.budgetStart >= 0) {
          this.fail(
            'policy-violation',
            this.depth < 0
              ? `stream header exceeds ${this.limits.maxStanzaBytes} bytes`
              : `stanza exceeds ${this.limits.maxStanzaBytes} bytes`,
          );
        }
        return;
      }
    }
  }

  /** Runs the handler of the current state. Returns false when it needs bytes beyond `stop`. */
  private step(): boolean {
    switch (this.state) {
      case S_TEXT:
        return this.sText();
      case S_LT:
        return this.sLt();
      case S_START_NAME:
        return this.sStartName();
      case S_TAG:
        return this.sTag();
      case S_ATTR_NAME:
        return this.sAttrName();
      case S_ATTR_EQ:
        return this.sAttrEq();
      case S_ATTR_QUOTE:
        return this.sAttrQuote();
      case S_ATTR_VALUE:
        return this.sAttrValue();
      case S_AFTER_VALUE:
        return this.sAfterValue();
      case S_EMPTY:
        return this.sEmpty();
      case S_END_NAME:
        return this.sEndName();
      case S_END_WS:
        return this.sEndWs();
      case S_ROOT_TEXT:
        return this.sRootText();
      case S_REF:
        return this.sRef();
      case S_BANG:
        return this.sBang();
      case S_CDATA:
        return this.sCdata();
      case S_PROLOG:
        return this.sProlog();
      case S_PROLOG_WS:
        return this.sPrologWs();
      case S_XMLDECL:
        return this.sXmlDecl();
      case S_DONE:
        this.pos = this.len;
        return false;
      default:
        this.abort = true;
        return false;
    }
  }

  // ---------------------------------------------------------- errors

  private fail(condition: XmlErrorCondition, text: string): false {
    this.kill();
    this.emitError(condition, text);
    return false;
  }

  private kill(): void {
    this.state = S_DEAD;
    this.abort = true;
    this.paused = false;
    this.clearTree();
    this.mark = -1;
    this.budgetStart = -1;
    if (!this.busy) this.dropBuffer();
  }

  private emitError(condition: XmlErrorCondition, text: string): void {
    this.inCallback = true;
    this.events.error(condition, text);
    this.inCallback = false;
  }

  private badChar(i: number): false {
    const b = this.data[i];
    return this.fail(
      'not-well-formed',
      b >= 0x80 ? 'invalid UTF-8 or disallowed character' : `character U+${b.toString(16).padStart(4, '0').toUpperCase()} is not allowed here`,
    );
  }

  private clearTree(): void {
    this.depth = -1;
    this.qnames.length = 0;
    this.nsOf.length = 0;
    this.defNs.length = 0;
    this.prefixes.length = 0;
    this.els.length = 0;
    this.text = '';
    this.val = '';
    this.attrN.length = 0;
    this.attrV.length = 0;
    this.attrCount = 0;
    this.attrSet = null;
    this.sawCR = false;
    this.sawWsInVal = false;
  }

  // ---------------------------------------------------------- prolog

  private sProlog(): boolean {
    const d = this.data;
    let i = this.pos;
    const stop = this.stop;
    if (!this.bomChecked) {
      // A UTF-8 byte order mark may precede the first token (XML 1.0 §4.3.3).
      if (d[i] === 0xef) {
        if (i + 3 > stop) {
          if ((i + 1 < stop && d[i + 1] !== 0xbb) || (i + 2 < stop && d[i + 2] !== 0xbf)) {
            return this.fail('not-well-formed', 'stream must start with <');
          }
          return false;
        }
        if (d[i + 1] === 0xbb && d[i + 2] === 0xbf) i += 3;
      }
      this.bomChecked = true;
      this.pos = i;
      if (i >= stop) return true;
    }
    const b = d[i];
    if (b === LT) {
      this.budgetStart = this.base + i;
      this.declAllowed = this.declPending;
      this.declPending = false;
      this.pos = i + 1;
      this.state = S_LT;
      return true;
    }
    if (CC[b] & C_WS) {
      this.state = S_PROLOG_WS;
      return true;
    }
    return this.fail('not-well-formed', 'stream must start with <');
  }

  private sPrologWs(): boolean {
    const d = this.data;
    const stop = this.stop;
    let i = this.pos;
    while (i < stop && CC[d[i]] & C_WS) i++;
    this.pos = i;
    if (i >= stop) return false;
    if (d[i] !== LT) return this.fail('not-well-formed', 'expected the stream header');
    if (this.budgetStart < 0) this.budgetStart = this.base + i;
    // RFC 6120 §11.5: an XML declaration may open every stream header, restarts included.
    // White space before it is allowed only on a restart: there it is the old stream's
    // white space between elements (e.g. the newline go-sendxmpp writes after </auth>),
    // which the restart hands over to the new stream. At the very start of a connection
    // a declaration must come first (XML 1.0 §2.8).
    this.declAllowed = this.declPending && this.restarted;
    this.declPending = false;
    this.pos = i + 1;
    this.state = S_LT;
    return true;
  }

  /** After '<?' opening a stream's prolog (see sProlog, sPrologWs): only `<?xml …?>` is accepted. */
  private sXmlDecl(): boolean {
    const d = this.data;
    const stop = this.stop;
    const mark = this.mark;
    let i = this.pos;
    for (; i < stop; i++) {
      const b = d[i];
      const off = i - mark;
      if (off < 3) {
        if (b !== 'xml'.charCodeAt(off)) return this.fail('restricted-xml', 'processing instructions are not allowed');
        continue;
      }
      if (off === 3) {
        if (CC[b] & C_WS) continue;
        if (b === QMARK) return this.fail('not-well-formed', 'malformed XML declaration');
        return this.fail('restricted-xml', 'processing instructions are not allowed');
      }
      if (b === GT && d[i - 1] === QMARK) {
        const decl = d.toString('latin1', mark, i - 1);
        const m = XML_DECL_RE.exec(decl);
        if (m === null) return this.fail('not-well-formed', 'malformed XML declaration');
        const enc = m[1] ?? m[2];
        if (enc !== undefined && enc.toLowerCase() !== 'utf-8') {
          return this.fail('unsupported-encoding', `encoding ${enc} is not supported, only UTF-8`);
        }
        this.mark = -1;
        this.pos = i + 1;
        this.state = S_PROLOG_WS;
        return true;
      }
      if (b >= 0x80 || (b < 0x20 && !(CC[b] & C_WS))) {
        return this.fail('not-well-formed', 'malformed XML declaration');
      }
    }
    this.pos = i;
    return false;
  }

  // ------------------------------------------------------------ markup

  /** Just after '<'. */
  private sLt(): boolean {
    const i = this.pos;
    const b = this.data[i];
    const declAllowed = this.declAllowed;
    this.declAllowed = false;
    if (CC[b] & C_NAME_START || b >= 0x80) {
      if (this.depth >= 0 && this.depth + 1 > this.limits.maxDepth) {
        return this.fail('policy-violation', `elements nested deeper than ${this.limits.maxDepth}`);
      }
      this.mark = i;
      this.nonAscii = false;
      this.attrCount = 0;
      this.attrSet = null;
      this.state = S_START_NAME;
      return true;
    }
    if (b === SLASH) {
      if (this.depth < 0) return this.fail('not-well-formed', 'end tag without open element');
      this.pos = i + 1;
      this.mark = i + 1;
      this.nonAscii = false;
      this.state = S_END_NAME;
      return true;
    }
    if (b === BANG) {
      this.pos = i + 1;
      this.bangIdx = 0;
      this.state = S_BANG;
      return true;
    }
    if (b === QMARK) {
      if (declAllowed) {
        this.pos = i + 1;
        this.mark = i + 1;
        this.state = S_XMLDECL;
        return true;
      }
      return this.fail('restricted-xml', 'processing instructions are not allowed');
    }
    return this.fail('not-well-formed', 'invalid character after <');
  }

  /** After '<!': only a CDATA section inside a stanza is acceptable. */
  private sBang(): boolean {
    const d = this.data;
    const stop = this.stop;
    let i = this.pos;
    while (i < stop) {
      const b = d[i];
      if (this.bangIdx === 0) {
        if (b === 0x2d /* - */) return this.fail('restricted-xml', 'comments are not allowed');
        if (b !== 0x5b /* [ */) return this.fail('restricted-xml', 'DTDs and markup declarations are not allowed');
        if (this.depth < 1) return this.fail('not-well-formed', 'CDATA section outside a stanza');
      } else if (b !== CDATA_OPEN.charCodeAt(this.bangIdx)) {
        return this.fail('not-well-formed', 'invalid markup after <![');
      }
      i++;
      if (++this.bangIdx === CDATA_OPEN.length) {
        this.pos = i;
        this.mark = i;
        this.sawCR = false;
        this.state = S_CDATA;
        return true;
      }
    }
    this.pos = i;
    return false;
  }

  /**
   * Scans name bytes from `pos`. Returns the index of the first non-name byte
   * (< stop); -1 when the name runs into `stop` (pos is left at the resume
   * point, never inside a partial UTF-8 sequence); -2 on invalid UTF-8 (pos is
   * left at the offending byte).
   */
  private scanName(): number {
    const d = this.data;
    const stop = this.stop;
    let i = this.pos;
    for (;;) {
      while (i < stop && CC[d[i]] & C_NAME) i++;
      if (i >= stop) {
        this.pos = i;
        return -1;
      }
      if (d[i] < 0x80) return i;
      const n = utf8Seq(d, i, stop);
      if (n > 0) {
        this.nonAscii = true;
        i += n;
      } else {
        this.pos = i;
        return n === 0 ? -1 : -2;
      }
    }
  }

  private takeName(end: number): string {
    const d = this.data;
    const start = this.mark;
    this.mark = -1;
    if (this.nonAscii) return d.toString('utf8', start, end);
    const n = end - start;
    if (n > INTERN_MAX_LEN) return d.toString('latin1', start, end);
    // Element and attribute names repeat constantly: reuse the string from a
    // small direct-mapped cache instead of allocating a new one each time.
    let h = n;
    for (let k = start; k < end; k++) h = (Math.imul(h, 31) + d[k]) | 0;
    const slot = (h ^ (h >>> 11)) & (INTERN_SLOTS - 1);
    const cached = internTable[slot];
    if (cached !== undefined && cached.length === n) {
      let k = 0;
      while (k < n && cached.charCodeAt(k) === d[start + k]) k++;
      if (k === n) return cached;
    }
    const name = d.toString('latin1', start, end);
    internTable[slot] = name;
    return name;
  }

  /** Whether the name bytes [mark, end) equal `name` (ASCII names only). */
  private nameEquals(end: number, name: string): boolean {
    const d = this.data;
    const start = this.mark;
    const n = end - start;
    if (name.length !== n) return false;
    for (let k = 0; k < n; k++) if (name.charCodeAt(k) !== d[start + k]) return false;
    return true;
  }

  private sStartName(): boolean {
    const i = this.scanName();
    if (i < 0) return i === -1 ? false : this.badChar(this.pos);
    const name = this.takeName(i);
    if (!isQName(name, this.nonAscii)) return this.fail('not-well-formed', 'invalid element name');
    this.tagName = name;
    return this.afterTagToken(i);
  }

  /** The byte at `i` ends a start-tag name, attribute value or follows white space. */
  private afterTagToken(i: number): boolean {
    const b = this.data[i];
    if (CC[b] & C_WS) {
      this.pos = i + 1;
      this.state = S_TAG;
      return true;
    }
    if (b === GT) {
      this.pos = i + 1;
      return this.finishStartTag(false);
    }
    if (b === SLASH) {
      this.pos = i + 1;
      this.state = S_EMPTY;
      return true;
    }
    return this.fail('not-well-formed', 'invalid character in start tag');
  }

  private sTag(): boolean {
    const d = this.data;
    const stop = this.stop;
    let i = this.pos;
    while (i < stop && CC[d[i]] & C_WS) i++;
    this.pos = i;
    if (i >= stop) return false;
    const b = d[i];
    if (CC[b] & C_NAME_START || b >= 0x80) {
      this.mark = i;
      this.nonAscii = false;
      this.state = S_ATTR_NAME;
      return true;
    }
    if (b === GT) {
      this.pos = i + 1;
      return this.finishStartTag(false);
    }
    if (b === SLASH) {
      this.pos = i + 1;
      this.state = S_EMPTY;
      return true;
    }
    return this.fail('not-well-formed', 'invalid character in start tag');
  }

  private sAttrName(): boolean {
    const i = this.scanName();
    if (i < 0) return i === -1 ? false : this.badChar(this.pos);
    const name = this.takeName(i);
    if (!isQName(name, this.nonAscii)) return this.fail('not-well-formed', 'invalid attribute name');
    const n = this.attrCount;
    if (n >= this.limits.maxAttributes) {
      return this.fail('policy-violation', `more than ${this.limits.maxAttributes} attributes`);
    }
    // Duplicate check on the qualified name (XML 1.0 "Unique Att Spec").
    if (n < 8) {
      const names = this.attrN;
      for (let k = 0; k < n; k++) {
        if (names[k] === name) return this.fail('not-well-formed', `duplicate attribute ${name}`);
      }
    } else {
      let set = this.attrSet;
      if (set === null) set = this.attrSet = new Set(this.attrN.slice(0, n));
      if (set.has(name)) return this.fail('not-well-formed', `duplicate attribute ${name}`);
      set.add(name);
    }
    this.attrName = name;
    const b = this.data[i];
    this.pos = i + 1;
    if (b === EQ) {
      this.state = S_ATTR_QUOTE;
      return true;
    }
    if (CC[b] & C_WS) {
      this.state = S_ATTR_EQ;
      return true;
    }
    return this.fail('not-well-formed', `attribute ${name} has no value`);
  }

  private sAttrEq(): boolean {
    const d = this.data;
    const stop = this.stop;
    let i = this.pos;
    while (i < stop && CC[d[i]] & C_WS) i++;
    this.pos = i;
    if (i >= stop) return false;
    if (d[i] !== EQ) return this.fail('not-well-formed', `attribute ${this.attrName} has no value`);
    this.pos = i + 1;
    this.state = S_ATTR_QUOTE;
    return true;
  }

  private sAttrQuote(): boolean {
    const d = this.data;
    const stop = this.stop;
    let i = this.pos;
    while (i < stop && CC[d[i]] & C_WS) i++;
    this.pos = i;
    if (i >= stop) return false;
    const b = d[i];
    if (b !== QUOT && b !== APOS) return this.fail('not-well-formed', 'attribute value must be quoted');
    this.quote = b;
    this.val = '';
    this.sawWsInVal = false;
    this.pos = i + 1;
    this.mark = i + 1;
    this.state = S_ATTR_VALUE;
    return true;
  }

  /** Decodes the literal attribute value run [mark, end) with XML white-space normalisation. */
  private takeValueRun(end: number): void {
    if (end > this.mark) {
      let s = this.data.toString('utf8', this.mark, end);
      if (this.sawWsInVal) {
        s = s.replace(/\r\n|[\t\n\r]/g, ' ');
        this.sawWsInVal = false;
      }
      this.val += s;
    }
    this.mark = -1;
  }

  private sAttrValue(): boolean {
    const d = this.data;
    const stop = this.stop;
    const q = this.quote;
    let i = this.pos;
    for (;;) {
      while (i < stop && !(CC[d[i]] & C_ATTR_STOP)) i++;
      if (i >= stop) {
        this.pos = i;
        return false;
      }
      const b = d[i];
      if (b === q) {
        this.takeValueRun(i);
        const n = this.attrCount++;
        this.attrN[n] = this.attrName;
        this.attrV[n] = this.val;
        this.val = '';
        this.pos = i + 1;
        this.state = S_AFTER_VALUE;
        return true;
      }
      if (b === QUOT || b === APOS) {
        i++;
      } else if (b === AMP) {
        this.takeValueRun(i);
        this.pos = i + 1;
        this.mark = i + 1;
        this.refReturn = S_ATTR_VALUE;
        this.state = S_REF;
        return true;
      } else if (b === LT) {
        return this.fail('not-well-formed', "'<' in attribute value");
      } else if (b >= 0x80) {
        const n = utf8Seq(d, i, stop);
        if (n > 0) i += n;
        else if (n === 0) {
          this.pos = i;
          return false;
        } else return this.badChar(i);
      } else if (b === TAB || b === LF || b === CR) {
        this.sawWsInVal = true;
        i++;
      } else {
        return this.badChar(i);
      }
    }
  }

  private sAfterValue(): boolean {
    const i = this.pos;
    const b = this.data[i];
    if (CC[b] & C_WS || b === GT || b === SLASH) return this.afterTagToken(i);
    return this.fail('not-well-formed', 'white space required between attributes');
  }

  private sEmpty(): boolean {
    const i = this.pos;
    if (this.data[i] !== GT) return this.fail('not-well-formed', "expected '>' after '/'");
    this.pos = i + 1;
    return this.finishStartTag(true);
  }

  private sEndName(): boolean {
    const i = this.scanName();
    if (i < 0) return i === -1 ? false : this.badChar(this.pos);
    const expected = this.qnames[this.depth];
    let name: string;
    if (!this.nonAscii && this.nameEquals(i, expected)) {
      name = expected;
      this.mark = -1;
    } else {
      name = this.takeName(i);
    }
    const b = this.data[i];
    if (b === GT) {
      this.pos = i + 1;
      return this.finishEndTag(name);
    }
    if (CC[b] & C_WS) {
      this.tagName = name;
      this.pos = i + 1;
      this.state = S_END_WS;
      return true;
    }
    return this.fail('not-well-formed', 'invalid character in end tag');
  }

  private sEndWs(): boolean {
    const d = this.data;
    const stop = this.stop;
    let i = this.pos;
    while (i < stop && CC[d[i]] & C_WS) i++;
    this.pos = i;
    if (i >= stop) return false;
    if (d[i] !== GT) return this.fail('not-well-formed', 'invalid character in end tag');
    this.pos = i + 1;
    return this.finishEndTag(this.tagName);
  }

  // -------------------------------------------------------------- text

  /** Decodes the literal text run [mark, end) (CRLF / CR become LF) and appends it. */
  private takeTextRun(end: number): void {
    if (end > this.mark) {
      let s = this.data.toString('utf8', this.mark, end);
      if (this.sawCR) {
        s = s.replace(/\r\n?/g, '\n');
        this.sawCR = false;
      }
      this.text += s;
    }
    this.mark = -1;
  }

  private sText(): boolean {
    const d = this.data;
    const stop = this.stop;
    let i = this.pos;
    for (;;) {
      while (i < stop && !(CC[d[i]] & C_TEXT_STOP)) i++;
      if (i >= stop) {
        this.pos = i;
        return false;
      }
      const b = d[i];
      if (b === LT) {
        this.takeTextRun(i);
        this.pos = i + 1;
        this.state = S_LT;
        return true;
      }
      if (b === AMP) {
        this.takeTextRun(i);
        this.pos = i + 1;
        this.mark = i + 1;
        this.refReturn = S_TEXT;
        this.state = S_REF;
        return true;
      }
      if (b === GT) {
        // ']]>' must not appear literally in character data (XML 1.0 §2.4).
        if (i - 2 >= this.mark && d[i - 1] === RSQB && d[i - 2] === RSQB) {
          return this.fail('not-well-formed', "']]>' in character data");
        }
        i++;
      } else if (b >= 0x80) {
        const n = utf8Seq(d, i, stop);
        if (n > 0) i += n;
        else if (n === 0) {
          this.pos = i;
          return false;
        } else return this.badChar(i);
      } else if (b === CR) {
        this.sawCR = true;
        i++;
      } else {
        return this.badChar(i);
      }
    }
  }

  private sCdata(): boolean {
    const d = this.data;
    const stop = this.stop;
    let i = this.pos;
    for (;;) {
      while (i < stop && !(CC[d[i]] & C_TEXT_STOP)) i++;
      if (i >= stop) {
        this.pos = i;
        return false;
      }
      const b = d[i];
      if (b === GT) {
        if (i - 2 >= this.mark && d[i - 1] === RSQB && d[i - 2] === RSQB) {
          this.takeTextRun(i - 2);
          this.pos = i + 1;
          this.mark = i + 1;
          this.state = S_TEXT;
          return true;
        }
        i++;
      } else if (b === LT || b === AMP) {
        i++;
      } else if (b >= 0x80) {
        const n = utf8Seq(d, i, stop);
        if (n > 0) i += n;
        else if (n === 0) {
          this.pos = i;
          return false;
        } else return this.badChar(i);
      } else if (b === CR) {
        this.sawCR = true;
        i++;
      } else {
        return this.badChar(i);
      }
    }
  }

  /** Between stanzas: only white space (keepalives), which is skipped without buffering. */
  private sRootText(): boolean {
    const d = this.data;
    const len = this.len;
    let i = this.pos;
    while (i < len) {
      const b = d[i];
      if (b === 0x20 || b === LF || b === CR || b === TAB) {
        i++;
        continue;
      }
      if (b === LT) {
        this.budgetStart = this.base + i;
        this.pos = i + 1;
        this.state = S_LT;
        return true;
      }
      return this.fail('not-well-formed', 'character data outside a stanza');
    }
    this.pos = i;
    return false;
  }

  /** After '&' (mark = start of the name): `&name;` or `&#…;`. */
  private sRef(): boolean {
    const d = this.data;
    const mark = this.mark;
    const hardEnd = mark + MAX_REF_LEN;
    const lim = this.stop < hardEnd ? this.stop : hardEnd;
    let i = this.pos;
    for (; i < lim; i++) {
      const b = d[i];
      if (b === SEMI) break;
      if (!(b === 0x23 || (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a))) {
        return this.fail('not-well-formed', "'&' must start an entity or character reference");
      }
    }
    if (i >= lim) {
      if (i >= hardEnd) return this.fail('not-well-formed', 'unterminated entity reference');
      this.pos = i;
      return false;
    }
    const name = d.toString('latin1', mark, i);
    const ch = resolveReference(name);
    if (ch === null) {
      return this.fail(
        'not-well-formed',
        name.charCodeAt(0) === 0x23 ? `invalid character reference &${name};` : `undefined entity &${name};`,
      );
    }
    if (this.refReturn === S_TEXT) {
      this.text += ch;
    } else {
      this.val += ch;
    }
    this.pos = i + 1;
    this.mark = i + 1;
    this.state = this.refReturn;
    return true;
  }

  // --------------------------------------------------------- structure

  private finishStartTag(selfClosing: boolean): boolean {
    const parentDepth = this.depth;
    const newDepth = parentDepth + 1;
    const isRoot = newDepth === 0;
    const n = this.attrCount;
    const names = this.attrN;
    const values = this.attrV;
    const parentPrefixes = isRoot ? NO_PREFIXES : this.prefixes[parentDepth];
    let pmap = parentPrefixes;
    let dns = isRoot ? undefined : this.defNs[parentDepth];
    let prefixedAttrs = false;

    // Namespace declarations.
    for (let k = 0; k < n; k++) {
      const q = names[k];
      if (q.charCodeAt(0) === 0x78 /* x */ && q.startsWith('xmlns')) {
        if (q.length === 5) {
          const v = values[k];
          if (v === NS_XML || v === NS_XMLNS) return this.fail('not-well-formed', `cannot use ${v} as default namespace`);
          dns = v === '' ? undefined : v;
          continue;
        }
        if (q.charCodeAt(5) === 0x3a /* : */) {
          const p = q.slice(6);
          const v = values[k];
          if (p === 'xmlns') return this.fail('not-well-formed', 'the xmlns prefix must not be declared');
          if (p === 'xml') {
            if (v !== NS_XML) return this.fail('not-well-formed', 'the xml prefix cannot be rebound');
            continue;
          }
          if (v === '') return this.fail('not-well-formed', `empty namespace for prefix ${p}`);
          if (v === NS_XML || v === NS_XMLNS) return this.fail('not-well-formed', `prefix ${p} cannot be bound to ${v}`);
          if (pmap === parentPrefixes) pmap = new Map(parentPrefixes);
          pmap.set(p, { uri: v, depth: newDepth });
          continue;
        }
      }
      if (q.indexOf(':') >= 0) prefixedAttrs = true;
    }

    // Element name.
    const tagName = this.tagName;
    const c = tagName.indexOf(':');
    let prefix: string | null = null;
    let local = tagName;
    let ns: string | undefined;
    if (c >= 0) {
      prefix = tagName.slice(0, c);
      local = tagName.slice(c + 1);
      if (prefix === 'xmlns') return this.fail('not-well-formed', 'element names must not use the xmlns prefix');
      if (prefix === 'xml') ns = NS_XML;
      else {
        const b = pmap.get(prefix);
        if (b === undefined) {
          return this.fail(isRoot ? 'bad-namespace-prefix' : 'not-well-formed', `undeclared namespace prefix ${prefix}`);
        }
        ns = b.uri;
      }
    } else {
      ns = dns;
    }

    // Prefixed attributes: prefixes must be bound; expanded names must be unique.
    let headerDecls: string[] | null = null;
    if (prefixedAttrs) {
      let expanded: Set<string> | null = null;
      for (let k = 0; k < n; k++) {
        const q = names[k];
        const ac = q.indexOf(':');
        if (ac < 0 || q.startsWith('xmlns:')) continue;
        const p = q.slice(0, ac);
        let uri: string;
        if (p === 'xml') uri = NS_XML;
        else {
          if (p === 'xmlns') return this.fail('not-well-formed', 'attribute names must not use the xmlns prefix');
          const b = pmap.get(p);
          if (b === undefined) {
            return this.fail(isRoot ? 'bad-namespace-prefix' : 'not-well-formed', `undeclared namespace prefix ${p}`);
          }
          uri = b.uri;
          if (b.depth === 0 && !isRoot) (headerDecls ??= []).push(p, uri);
        }
        const key = uri + ' ' + q.slice(ac + 1);
        if (expanded === null) expanded = new Set();
        else if (expanded.has(key)) return this.fail('not-well-formed', `duplicate attribute ${q}`);
        expanded.add(key);
      }
    }

    if (isRoot) {
      const attrs: Record<string, string> = Object.create(null);
      for (let k = 0; k < n; k++) attrs[names[k]] = values[k];
      this.resetTagScratch();
      this.depth = 0;
      this.qnames[0] = tagName;
      this.nsOf[0] = ns;
      this.defNs[0] = dns;
      this.prefixes[0] = pmap;
      this.els[0] = null;
      this.budgetStart = -1;
      this.state = S_ROOT_TEXT;
      const gen = this.gen;
      this.inCallback = true;
      this.events.streamStart({ prefix, localName: local, namespace: ns, defaultNamespace: dns, attrs });
      this.inCallback = false;
      if (selfClosing && gen === this.gen && this.state === S_ROOT_TEXT && !this.abort) {
        this.state = S_DONE;
        this.clearTree();
        this.inCallback = true;
        this.events.streamEnd();
        this.inCallback = false;
      }
      return true;
    }

    if (newDepth === 1 && local === 'stream' && ns === NS_STREAMS) {
      // A new stream header where no restart is due (a restart calls reset() first, so its
      // header is a root again). Waiting for it to end would hang the session: end the
      // stream at once (the condition the streams layer turns into the stream error).
      return this.fail('unsupported-stanza-type', 'a stream header inside an open stream, where no restart is due');
    }

    const attrs: Record<string, string> = Object.create(null);
    if (newDepth === 1) {
      if (ns !== undefined) attrs.xmlns = ns;
    } else if (ns !== this.nsOf[parentDepth]) {
      attrs.xmlns = ns ?? '';
    }
    for (let k = 0; k < n; k++) {
      const q = names[k];
      if (q !== 'xmlns') attrs[q] = values[k];
    }
    if (headerDecls !== null) {
      for (let k = 0; k < headerDecls.length; k += 2) {
        const key = 'xmlns:' + headerDecls[k];
        if (!(key in attrs)) attrs[key] = headerDecls[k + 1];
      }
    }
    this.resetTagScratch();

    const el = new Element(local);
    el.attrs = attrs;
    if (newDepth > 1) {
      const parent = this.els[parentDepth] as Element;
      if (this.text !== '') {
        parent.children.push(this.text);
        this.text = '';
      }
      parent.children.push(el);
      el.parent = parent;
    }
    if (selfClosing) return this.closeElement(el, newDepth);
    this.depth = newDepth;
    this.qnames[newDepth] = tagName;
    this.nsOf[newDepth] = ns;
    this.defNs[newDepth] = dns;
    this.prefixes[newDepth] = pmap;
    this.els[newDepth] = el;
    this.mark = this.pos;
    this.sawCR = false;
    this.state = S_TEXT;
    return true;
  }

  private resetTagScratch(): void {
    // Do not keep (possibly large) attribute values alive after the tag.
    if (this.attrN.length > 64) {
      this.attrN.length = 0;
      this.attrV.length = 0;
    } else {
      for (let k = 0; k < this.attrCount; k++) this.attrV[k] = '';
    }
    this.attrCount = 0;
    this.attrSet = null;
  }

  private finishEndTag(name: string): boolean {
    const depth = this.depth;
    if (name !== this.qnames[depth]) {
      return this.fail('not-well-formed', `end tag </${name}> does not match <${this.qnames[depth]}>`);
    }
    if (depth === 0) {
      this.state = S_DONE;
      this.budgetStart = -1;
      this.clearTree();
      this.inCallback = true;
      this.events.streamEnd();
      this.inCallback = false;
      return true;
    }
    const el = this.els[depth] as Element;
    if (this.text !== '') {
      el.children.push(this.text);
      this.text = '';
    }
    this.els[depth] = null;
    this.depth = depth - 1;
    return this.closeElement(el, depth);
  }

  /** `el` at `elDepth` is complete; the current depth is its parent's. */
  private closeElement(el: Element, elDepth: number): boolean {
    if (elDepth === 1) {
      this.budgetStart = -1;
      this.mark = -1;
      this.state = S_ROOT_TEXT;
      this.inCallback = true;
      this.events.element(el);
      this.inCallback = false;
      return true;
    }
    this.mark = this.pos;
    this.sawCR = false;
    this.state = S_TEXT;
    return true;
  }
}
