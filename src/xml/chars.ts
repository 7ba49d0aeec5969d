// Byte classes, UTF-8 validation and XML 1.0 character / name rules used by the
// streaming tokenizer (stream-parser.ts). Everything here works on raw bytes so
// the tokenizer can decide on structure before it decodes anything.

/** ASCII byte may start an XML name (letters, '_' and ':'). Bytes >= 0x80 are checked separately. */
export const C_NAME_START = 1;
/** ASCII byte may continue an XML name (name start chars, digits, '-', '.'). */
export const C_NAME = 2;
/** XML white space: space, tab, LF, CR. */
export const C_WS = 4;
/** In character data / CDATA: a byte the fast scan loop must stop at. */
export const C_TEXT_STOP = 8;
/** In an attribute value: a byte the fast scan loop must stop at. */
export const C_ATTR_STOP = 16;

export const CHAR_CLASS: Uint8Array = (() => {
  const t = new Uint8Array(256);
  const set = (from: number, to: number, bits: number): void => {
    for (let b = from; b <= to; b++) t[b] |= bits;
  };
  set(0x41, 0x5a, C_NAME_START | C_NAME); // A-Z
  set(0x61, 0x7a, C_NAME_START | C_NAME); // a-z
  set(0x5f, 0x5f, C_NAME_START | C_NAME); // _
  set(0x3a, 0x3a, C_NAME_START | C_NAME); // :
  set(0x30, 0x39, C_NAME); // 0-9
  set(0x2d, 0x2e, C_NAME); // - .
  for (const b of [0x20, 0x09, 0x0a, 0x0d]) t[b] |= C_WS;
  // Character data: control characters except TAB and LF (CR needs line-end
  // normalisation, the rest are forbidden), markup and every non-ASCII byte.
  set(0x00, 0x08, C_TEXT_STOP);
  set(0x0b, 0x1f, C_TEXT_STOP); // includes CR (0x0d)
  for (const b of [0x3c, 0x26, 0x3e]) t[b] |= C_TEXT_STOP; // < & >
  set(0x80, 0xff, C_TEXT_STOP);
  // Attribute values: all control characters (TAB/LF/CR are normalised to
  // spaces), both quotes, '<', '&' and every non-ASCII byte.
  set(0x00, 0x1f, C_ATTR_STOP);
  for (const b of [0x22, 0x27, 0x3c, 0x26]) t[b] |= C_ATTR_STOP;
  set(0x80, 0xff, C_ATTR_STOP);
  return t;
})();

/**
 * Validates the multi-byte UTF-8 sequence whose lead byte (>= 0x80) is at
 * `buf[i]`, looking no further than `end`.
 *
 * Returns the sequence length (2..4) when it is a well-formed UTF-8 encoding of
 * a character allowed by XML 1.0; 0 when the bytes so far are a valid prefix but
 * the sequence continues past `end` (more input needed); -1 when it is invalid:
 * a stray continuation byte, an overlong form, an encoded surrogate, a code
 * point above U+10FFFF, a lead byte followed by a non-continuation byte, or
 * U+FFFE / U+FFFF.
 */
export function utf8Seq(buf: Uint8Array, i: number, end: number): number {
  const b0 = buf[i];
  if (b0 < 0xc2) return -1; // continuation byte, or overlong lead C0/C1
  if (b0 < 0xe0) {
    if (i + 1 >= end) return 0;
    return (buf[i + 1] & 0xc0) === 0x80 ? 2 : -1;
  }
  if (b0 < 0xf0) {
    if (i + 1 >= end) return 0;
    const b1 = buf[i + 1];
    if (b0 === 0xe0) {
      if (b1 < 0xa0 || b1 > 0xbf) return -1; // overlong
    } else if (b0 === 0xed) {
      if (b1 < 0x80 || b1 > 0x9f) return -1; // surrogates U+D800..U+DFFF
    } else if ((b1 & 0xc0) !== 0x80) {
      return -1;
    }
    if (i + 2 >= end) return 0;
    const b2 = buf[i + 2];
    if ((b2 & 0xc0) !== 0x80) return -1;
    if (b0 === 0xef && b1 === 0xbf && b2 >= 0xbe) return -1; // U+FFFE, U+FFFF
    return 3;
  }
  if (b0 < 0xf5) {
    if (i + 1 >= end) return 0;
    const b1 = buf[i + 1];
    if (b0 === 0xf0) {
      if (b1 < 0x90 || b1 > 0xbf) return -1; // overlong
    } else if (b0 === 0xf4) {
      if (b1 < 0x80 || b1 > 0x8f) return -1; // > U+10FFFF
    } else if ((b1 & 0xc0) !== 0x80) {
      return -1;
    }
    if (i + 2 >= end) return 0;
    if ((buf[i + 2] & 0xc0) !== 0x80) return -1;
    if (i + 3 >= end) return 0;
    if ((buf[i + 3] & 0xc0) !== 0x80) return -1;
    return 4;
  }
  return -1; // F5..FF never appear in UTF-8
}

/** XML 1.0 `Char` production. */
export function isXmlChar(cp: number): boolean {
  return (
    (cp >= 0x20 && cp <= 0xd7ff) ||
    cp === 0x09 ||
    cp === 0x0a ||
    cp === 0x0d ||
    (cp >= 0xe000 && cp <= 0xfffd) ||
    (cp >= 0x10000 && cp <= 0x10ffff)
  );
}

// XML 1.0 (5th edition) NameStartChar / NameChar, without ':' (Namespaces 1.0 NCName).
const NC_START =
  'A-Z_a-z\\u00C0-\\u00D6\\u00D8-\\u00F6\\u00F8-\\u02FF\\u0370-\\u037D\\u037F-\\u1FFF' +
  '\\u200C-\\u200D\\u2070-\\u218F\\u2C00-\\u2FEF\\u3001-\\uD7FF\\uF900-\\uFDCF' +
  '\\uFDF0-\\uFFFD\\u{10000}-\\u{EFFFF}';
const NC_CHAR = NC_START + '\\-.0-9\\u00B7\\u0300-\\u036F\\u203F-\\u2040';
const NCNAME_RE = new RegExp(`^[${NC_START}][${NC_CHAR}]*$`, 'u');

/**
 * Checks that `name` (already known to consist of name bytes, and for ASCII
 * names to start with a name-start byte) is a Namespaces-1.0 QName: NCName or
 * NCName ':' NCName. Names containing non-ASCII characters are checked
 * against the full XML NameStartChar/NameChar tables.
 */
export function isQName(name: string, nonAscii: boolean): boolean {
  const c = name.indexOf(':');
  if (c < 0) return nonAscii ? NCNAME_RE.test(name) : name.length > 0;
  if (c === 0 || c === name.length - 1 || name.indexOf(':', c + 1) >= 0) return false;
  if (nonAscii) return NCNAME_RE.test(name.slice(0, c)) && NCNAME_RE.test(name.slice(c + 1));
  return (CHAR_CLASS[name.charCodeAt(c + 1)] & C_NAME_START) !== 0;
}

/**
 * Resolves the name of an entity or character reference (the text between '&'
 * and ';'). Only the five predefined entities and character references to
 * allowed XML characters are accepted; returns null for anything else.
 */
export function resolveReference(name: string): string | null {
  switch (name) {
    case 'lt':
      return '<';
    case 'gt':
      return '>';
    case 'amp':
      return '&';
    case 'quot':
      return '"';
    case 'apos':
      return "'";
  }
  if (name.charCodeAt(0) !== 0x23 /* # */) return null;
  let cp: number;
  if (name.charCodeAt(1) === 0x78 /* x */) {
    const hex = name.slice(2);
    if (!/^[0-9A-Fa-f]+$/.test(hex)) return null;
    cp = parseInt(hex, 16);
  } else {
    const dec = name.slice(1);
    if (!/^[0-9]+$/.test(dec)) return null;
    cp = parseInt(dec, 10);
  }
  return isXmlChar(cp) ? String.fromCodePoint(cp) : null;
}
