// PRECIS (RFC 8264) string classes and the RFC 8265 profiles used by XMPP
// addresses (RFC 7622) and SASL: UsernameCaseMapped and OpaqueString.
//
// No Unicode tables are shipped: every property is derived at run time from
// the ICU data built into Node (regex property escapes and
// String.prototype.normalize), so the Unicode version is Node's.
//
// Approximations, all deliberate and listed here once:
//  - The Directionality ("Bidi") Rule of RFC 5893 is NOT applied (JavaScript
//    exposes no Bidi_Class property). UsernameCaseMapped strings containing
//    right-to-left code points are therefore accepted without the bidi check.
//  - CONTEXTJ (RFC 5892 A.1/A.2): ZERO WIDTH NON-JOINER / JOINER are accepted
//    only directly after a virama (Canonical_Combining_Class = 9, detected
//    from canonical reordering, see isVirama). The Joining_Type alternative
//    of A.1 is not available and such strings are rejected.
//  - HasCompat is computed as `NFKC(cp) !== cp` per code point, exactly as
//    RFC 8264 §9.17 defines it; Unassigned is `\p{Cn}` of Node's Unicode.
//  - BackwardCompatible (RFC 8264 §9.7) is empty, as in the RFC.
//  - The stability loop of RFC 8266 §2.1 (re-apply the rules until the output
//    no longer changes, at most three extra rounds) is applied to both
//    profiles as a safety net for idempotence.

export class PrecisError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PrecisError';
  }
}

/** Derived property values of RFC 8264 §8, restricted to what we need. */
const enum Prop {
  PVALID,
  CONTEXTJ,
  CONTEXTO,
  DISALLOWED,
  /** ID_DIS / FREE_PVAL: disallowed in IdentifierClass, valid in FreeformClass. */
  FREE_ONLY,
  UNASSIGNED,
}

// RFC 8264 §9.6 Exceptions (= RFC 5892 §2.6).
const EXCEPTIONS = new Map<number, Prop>([
  // PVALID
  [0x00df, Prop.PVALID],
  [0x03c2, Prop.PVALID],
  [0x06fd, Prop.PVALID],
  [0x06fe, Prop.PVALID],
  [0x0f0b, Prop.PVALID],
  [0x3007, Prop.PVALID],
  // CONTEXTO
  [0x00b7, Prop.CONTEXTO],
  [0x0375, Prop.CONTEXTO],
  [0x05f3, Prop.CONTEXTO],
  [0x05f4, Prop.CONTEXTO],
  [0x30fb, Prop.CONTEXTO],
  // DISALLOWED
  [0x0640, Prop.DISALLOWED],
  [0x07fa, Prop.DISALLOWED],
  [0x302e, Prop.DISALLOWED],
  [0x302f, Prop.DISALLOWED],
  [0x3031, Prop.DISALLOWED],
  [0x3032, Prop.DISALLOWED],
  [0x3033, Prop.DISALLOWED],
  [0x3034, Prop.DISALLOWED],
  [0x3035, Prop.DISALLOWED],
  [0x303b, Prop.DISALLOWED],
]);
for (let cp = 0x0660; cp <= 0x0669; cp++) EXCEPTIONS.set(cp, Prop.CONTEXTO);
for (let cp = 0x06f0; cp <= 0x06f9; cp++) EXCEPTIONS.set(cp, Prop.CONTEXTO);

const RE_UNASSIGNED = /^\p{Cn}$/u;
const RE_NONCHARACTER = /^\p{Noncharacter_Code_Point}$/u;
const RE_IGNORABLE = /^[\p{Default_Ignorable_Code_Point}\p{Noncharacter_Code_Point}]$/u;
const RE_CONTROL = /^\p{Cc}$/u;
// LetterDigits (RFC 8264 §9.1): Ll Lu Lo Nd Lm Mn Mc.
const RE_LETTER_DIGITS = /^[\p{Ll}\p{Lu}\p{Lo}\p{Nd}\p{Lm}\p{Mn}\p{Mc}]$/u;
// OtherLetterDigits (§9.18: Lt Nl No Me), Spaces (§9.14: Zs),
// Symbols (§9.15: Sm Sc Sk So), Punctuation (§9.16: Pc Pd Ps Pe Pi Pf Po).
const RE_FREE_ONLY = /^[\p{Lt}\p{Nl}\p{No}\p{Me}\p{Zs}\p{Sm}\p{Sc}\p{Sk}\p{So}\p{P}]$/u;
const RE_GREEK = /^\p{Script=Greek}$/u;
const RE_HEBREW = /^\p{Script=Hebrew}$/u;
const RE_KANA_HAN = /^[\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Han}]$/u;

/** OldHangulJamo (RFC 8264 §9.9): Hangul_Syllable_Type L, V or T. */
function isOldHangulJamo(cp: number): boolean {
  return (
    (cp >= 0x1100 && cp <= 0x11ff) ||
    (cp >= 0xa960 && cp <= 0xa97c) ||
    (cp >= 0xd7b0 && cp <= 0xd7c6) ||
    (cp >= 0xd7cb && cp <= 0xd7fb)
  );
}

// Canonical_Combining_Class is not exposed to JavaScript, but canonical
// reordering in NFD sorts adjacent marks by it. With two reference marks of
// known class (U+3099, ccc 8; U+05B0, ccc 10), a mark has ccc 9 (Virama)
// exactly when it sorts after the first and before the second.
const CCC8 = '\u3099';
const CCC10 = '\u05b0';
const viramaCache = new Map<number, boolean>();
export function isVirama(cp: number): boolean {
  let v = viramaCache.get(cp);
  if (v === undefined) {
    const ch = String.fromCodePoint(cp);
    v =
      ch !== CCC8 &&
      ch !== CCC10 &&
      ch.normalize('NFD') === ch &&
      (CCC10 + ch).normalize('NFD') === ch + CCC10 &&
      (ch + CCC8).normalize('NFD') === CCC8 + ch;
    if (viramaCache.size < 4096) viramaCache.set(cp, v);
  }
  return v;
}

function derivedProperty(cp: number): Prop {
  // §8 algorithm, in order.
  const exc = EXCEPTIONS.get(cp);
  if (exc !== undefined) return exc;
  if (cp >= 0x21 && cp <= 0x7e) return Prop.PVALID; // ASCII7
  if (cp >= 0xd800 && cp <= 0xdfff) return Prop.DISALLOWED; // lone surrogate
  const ch = String.fromCodePoint(cp);
  if (RE_UNASSIGNED.test(ch) && !RE_NONCHARACTER.test(ch)) return Prop.UNASSIGNED;
  if (cp === 0x200c || cp === 0x200d) return Prop.CONTEXTJ; // JoinControl
  if (isOldHangulJamo(cp)) return Prop.DISALLOWED;
  if (RE_IGNORABLE.test(ch)) return Prop.DISALLOWED; // PrecisIgnorableProperties
  if (RE_CONTROL.test(ch)) return Prop.DISALLOWED;
  if (ch.normalize('NFKC') !== ch) return Prop.FREE_ONLY; // HasCompat
  if (RE_LETTER_DIGITS.test(ch)) return Prop.PVALID;
  if (RE_FREE_ONLY.test(ch)) return Prop.FREE_ONLY;
  return Prop.DISALLOWED;
}

const hex = (cp: number): string => 'U+' + cp.toString(16).toUpperCase().padStart(4, '0');

/** RFC 5892 Appendix A context rules; `cps` is the whole string. */
function contextAllows(cps: number[], i: number): boolean {
  const cp = cps[i];
  const before = i > 0 ? cps[i - 1] : -1;
  const after = i + 1 < cps.length ? cps[i + 1] : -1;
  switch (cp) {
    case 0x200c: // ZWNJ (A.1): Joining_Type alternative not implemented
    case 0x200d: // ZWJ (A.2)
      return before >= 0 && isVirama(before);
    case 0x00b7: // MIDDLE DOT (A.3): between two 'l'
      return before === 0x6c && after === 0x6c;
    case 0x0375: // GREEK KERAIA (A.4)
      return after >= 0 && RE_GREEK.test(String.fromCodePoint(after));
    case 0x05f3: // HEBREW GERESH (A.5)
    case 0x05f4: // HEBREW GERSHAYIM (A.6)
      return before >= 0 && RE_HEBREW.test(String.fromCodePoint(before));
    case 0x30fb: // KATAKANA MIDDLE DOT (A.7)
      return cps.some((c) => c !== 0x30fb && RE_KANA_HAN.test(String.fromCodePoint(c)));
    default:
      if (cp >= 0x0660 && cp <= 0x0669) return !cps.some((c) => c >= 0x06f0 && c <= 0x06f9); // A.8
      if (cp >= 0x06f0 && cp <= 0x06f9) return !cps.some((c) => c >= 0x0660 && c <= 0x0669); // A.9
      return false;
  }
}

/**
 * Checks a string against a PRECIS string class (RFC 8264 §4.2 / §4.3).
 * Returns null when every code point is allowed, else a reason.
 */
export function classViolation(s: string, freeform: boolean): string | null {
  const cps: number[] = [];
  for (const ch of s) cps.push(ch.codePointAt(0)!);
  for (let i = 0; i < cps.length; i++) {
    const cp = cps[i];
    if (cp >= 0x21 && cp <= 0x7e) continue; // fast: ASCII7
    if (cp === 0x20) {
      if (freeform) continue;
      return 'space (U+0020) is not allowed';
    }
    const p = derivedProperty(cp);
    switch (p) {
      case Prop.PVALID:
        continue;
      case Prop.FREE_ONLY:
        if (freeform) continue;
        return `${hex(cp)} is not allowed in an identifier`;
      case Prop.CONTEXTJ:
      case Prop.CONTEXTO:
        if (contextAllows(cps, i)) continue;
        return `${hex(cp)} is not allowed in this context`;
      case Prop.UNASSIGNED:
        return `${hex(cp)} is unassigned`;
      default:
        return `${hex(cp)} is disallowed`;
    }
  }
  return null;
}

/** Mapping target of a <wide>/<narrow> code point, or -1 (UAX #11 decomposition). */
function widthTarget(cp: number): number {
  if (cp === 0x3000) return 0x20;
  if (cp < 0xff01 || cp > 0xffee) return -1;
  if (cp <= 0xff5e) return cp - 0xfee0; // fullwidth ASCII
  // Halfwidth Hangul maps to the compatibility jamo (U+3131...), which NFKC
  // would decompose further, so it is computed rather than normalised.
  if (cp === 0xffa0) return 0x3164;
  if (cp >= 0xffa1 && cp <= 0xffbe) return 0x3131 + (cp - 0xffa1);
  if (cp >= 0xffc2 && cp <= 0xffc7) return 0x314f + (cp - 0xffc2);
  if (cp >= 0xffca && cp <= 0xffcf) return 0x3155 + (cp - 0xffca);
  if (cp >= 0xffd2 && cp <= 0xffd7) return 0x315b + (cp - 0xffd2);
  if (cp >= 0xffda && cp <= 0xffdc) return 0x3161 + (cp - 0xffda);
  if (cp === 0xffe3) return 0x00af; // FULLWIDTH MACRON (NFKC would go further)
  const k = String.fromCodePoint(cp).normalize('NFKC');
  return k.length === 1 && k.charCodeAt(0) !== cp ? k.charCodeAt(0) : -1;
}

const RE_WIDTH = /[\u3000\uff01-\uffee]/;
const RE_WIDTH_G = /[\u3000\uff01-\uffee]/g;

/** Width Mapping Rule (RFC 8264 §5.2.1, RFC 8265 §3.3.1): <wide>/<narrow> to their decomposition. */
export function widthMap(s: string): string {
  if (!RE_WIDTH.test(s)) return s;
  return s.replace(RE_WIDTH_G, (ch) => {
    const t = widthTarget(ch.charCodeAt(0));
    return t < 0 ? ch : String.fromCharCode(t);
  });
}

const RE_NON_ASCII_SPACE_G = /(?! )\p{Zs}/gu;

function stabilize(s: string, once: (s: string) => string): string {
  let cur = once(s);
  for (let i = 0; i < 3; i++) {
    const next = once(cur);
    if (next === cur) return cur;
    cur = next;
  }
  throw new PrecisError('string does not stabilise under the PRECIS rules');
}

function usernameRound(s: string): string {
  // Preparation (RFC 8265 §3.3.2): width mapping, then IdentifierClass.
  const mapped = widthMap(s);
  const bad = classViolation(mapped, false);
  if (bad !== null) throw new PrecisError(bad);
  // Enforcement (§3.3.3): case mapping (Unicode toLowerCase), NFC.
  // Directionality Rule: not applied (see header).
  return mapped.toLowerCase().normalize('NFC');
}

/**
 * PRECIS UsernameCaseMapped profile (RFC 8265 §3.3): enforcement.
 * Throws PrecisError. ASCII-only input takes a fast path.
 */
export function usernameCaseMapped(s: string): string {
  if (s.length === 0) throw new PrecisError('empty string');
  let upper = false;
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) {
      ascii = false;
      break;
    }
    if (c <= 0x20 || c === 0x7f) throw new PrecisError(`${hex(c)} is not allowed in an identifier`);
    if (c >= 0x41 && c <= 0x5a) upper = true;
  }
  if (ascii) return upper ? s.toLowerCase() : s;
  const out = stabilize(s, usernameRound);
  // The class is checked on the input (preparation); re-check the output so
  // that whatever we return is itself valid (case mapping / NFC could, in
  // principle, introduce a code point outside the class).
  const bad = classViolation(out, false);
  if (bad !== null) throw new PrecisError(bad);
  if (out.length === 0) throw new PrecisError('empty string');
  return out;
}

function opaqueRound(s: string): string {
  // Preparation (RFC 8265 §4.2.2): FreeformClass.
  const bad = classViolation(s, true);
  if (bad !== null) throw new PrecisError(bad);
  // Enforcement (§4.2.3): non-ASCII spaces to U+0020, NFC. No width or case
  // mapping, no directionality rule.
  return s.replace(RE_NON_ASCII_SPACE_G, ' ').normalize('NFC');
}

/**
 * PRECIS OpaqueString profile (RFC 8265 §4.2): enforcement. Used for XMPP
 * resourceparts and for passwords. Throws PrecisError.
 */
export function opaqueString(s: string): string {
  if (s.length === 0) throw new PrecisError('empty string');
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) {
      ascii = false;
      break;
    }
    if (c < 0x20 || c === 0x7f) throw new PrecisError(`${hex(c)} is disallowed`);
  }
  if (ascii) return s;
  const out = stabilize(s, opaqueRound);
  const bad = classViolation(out, true);
  if (bad !== null) throw new PrecisError(bad);
  if (out.length === 0) throw new PrecisError('empty string');
  return out;
}

/**
 * Code point check for a non-ASCII domain label after RFC 5895 mapping, as an
 * approximation of the IDNA2008 derived property (RFC 5892): the same
 * algorithm as IdentifierClass (which RFC 8264 derives from it) with
 * "Unstable" approximated by HasCompat, since input is already lowercased.
 * ASCII must be letters, digits, hyphen (and, leniently, underscore).
 * Returns null when allowed, else a reason.
 */
export function idnaLabelViolation(label: string): string | null {
  for (let i = 0; i < label.length; i++) {
    const c = label.charCodeAt(i);
    if (c >= 0x80) continue;
    if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f)) {
      return `${hex(c)} is not allowed in a domain label`;
    }
  }
  return classViolation(label, false);
}
