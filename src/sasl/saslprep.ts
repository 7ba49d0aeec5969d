// SASLprep (RFC 4013), the stringprep (RFC 3454) profile used for SASL
// user names and passwords.
//
// Steps (RFC 4013 §2, RFC 3454 §3–§6):
//   1. Map: non-ASCII spaces (C.1.2) -> U+0020; "commonly mapped to nothing"
//      (B.1) -> removed.  U+200B ZERO WIDTH SPACE is listed in both tables; we
//      apply B.1 first, so it is removed (it has no width to preserve).
//   2. Normalise with Unicode NFKC.
//   3. Prohibit C.1.2, C.2.1, C.2.2, C.3, C.4, C.5, C.6, C.7, C.8, C.9.
//   4. Bidi check (RFC 3454 §6).
//   5. Unassigned code points (A.1): allowed for "queries", prohibited for
//      "stored strings".
//
// Approximations (documented deliberately):
//   * Tables B.1, C.* and D.1 are exact copies of RFC 3454 (Unicode 3.2).
//   * NFKC uses the runtime's Unicode version (String.prototype.normalize),
//     not Unicode 3.2.  For every code point assigned in 3.2 the results are
//     the same (Unicode normalisation stability policy).
//   * "Unassigned" means unassigned in the runtime's Unicode version
//     (\p{Cn}), not table A.1 of Unicode 3.2.  This is more permissive than
//     RFC 3454 for characters added after 3.2 (e.g. most emoji), which is what
//     users expect of passwords today.
//   * D.1 (RandALCat) is exact, extended with letters of right-to-left scripts
//     encoded after Unicode 3.2.  D.2 (LCat) is approximated with Unicode
//     properties: letters, spacing marks, letter numbers and private use, plus
//     numbers/symbols/punctuation that belong to a specific (non-Common,
//     non-Inherited) left-to-right script.  Against the exact Unicode 3.2 D.2
//     table this differs on about 1.6k symbol code points (Braille, APL,
//     enclosed CJK numbers, ...), none of them letters.
//
// Which semantics we use:
//   * Passwords: "stored strings" (RFC 5802 §2.2 says Normalize() treats the
//     password as a stored string).  They are prepared the same way when the
//     credential is created and when a PLAIN password is checked.
//   * Usernames: "queries" (RFC 5802 §5.1), i.e. unassigned code points are
//     allowed; the JID localpart preparation done by the caller decides the
//     rest.

/** 'empty' is only raised by prepareNonEmpty(): RFC 4616 §2 / RFC 5802 §5.1 fail on an empty result. */
export type SaslprepFailureReason = 'prohibited' | 'bidi' | 'unassigned' | 'empty';

export class SaslprepError extends Error {
  readonly reason: SaslprepFailureReason;
  readonly codePoint?: number;

  constructor(reason: SaslprepFailureReason, codePoint?: number) {
    super(
      codePoint === undefined
        ? `SASLprep failed: ${reason}`
        : `SASLprep failed: ${reason} (U+${codePoint.toString(16).toUpperCase().padStart(4, '0')})`,
    );
    this.name = 'SaslprepError';
    this.reason = reason;
    this.codePoint = codePoint;
  }
}

export interface SaslprepOptions {
  /** true: "query" semantics (unassigned code points allowed). Default false ("stored string"). */
  allowUnassigned?: boolean;
}

/** Printable ASCII: nothing to map, NFKC-stable, nothing prohibited, no RandALCat. */
const PRINTABLE_ASCII = /^[\x20-\x7E]*$/;

/** RFC 3454 B.1: commonly mapped to nothing. */
const MAPPED_TO_NOTHING = /[\u00AD\u034F\u1806\u180B-\u180D\u200B-\u200D\u2060\uFE00-\uFE0F\uFEFF]/gu;

/** RFC 3454 C.1.2: non-ASCII space characters. */
const NON_ASCII_SPACE = /[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/gu;

/** RFC 3454 C.1.2, C.2.1, C.2.2, C.3, C.4, C.5, C.6, C.7, C.8, C.9 (union). */
const PROHIBITED = new RegExp(
  '[' +
    // C.1.2 non-ASCII space
    '\\u00A0\\u1680\\u2000-\\u200B\\u202F\\u205F\\u3000' +
    // C.2.1 ASCII control
    '\\u0000-\\u001F\\u007F' +
    // C.2.2 non-ASCII control
    '\\u0080-\\u009F\\u06DD\\u070F\\u180E\\u200C\\u200D\\u2028\\u2029\\u2060-\\u2063\\u206A-\\u206F' +
    '\\uFEFF\\uFFF9-\\uFFFC\\u{1D173}-\\u{1D17A}' +
    // C.3 private use
    '\\uE000-\\uF8FF\\u{F0000}-\\u{FFFFD}\\u{100000}-\\u{10FFFD}' +
    // C.4 non-character code points
    '\\uFDD0-\\uFDEF\\uFFFE\\uFFFF' +
    '\\u{1FFFE}\\u{1FFFF}\\u{2FFFE}\\u{2FFFF}\\u{3FFFE}\\u{3FFFF}\\u{4FFFE}\\u{4FFFF}' +
    '\\u{5FFFE}\\u{5FFFF}\\u{6FFFE}\\u{6FFFF}\\u{7FFFE}\\u{7FFFF}\\u{8FFFE}\\u{8FFFF}' +
    '\\u{9FFFE}\\u{9FFFF}\\u{AFFFE}\\u{AFFFF}\\u{BFFFE}\\u{BFFFF}\\u{CFFFE}\\u{CFFFF}' +
    '\\u{DFFFE}\\u{DFFFF}\\u{EFFFE}\\u{EFFFF}\\u{FFFFE}\\u{FFFFF}\\u{10FFFE}\\u{10FFFF}' +
    // C.5 surrogate codes (lone surrogates in a JS string)
    '\\uD800-\\uDFFF' +
    // C.6 inappropriate for plain text
    '\\uFFF9-\\uFFFD' +
    // C.7 inappropriate for canonical representation
    '\\u2FF0-\\u2FFB' +
    // C.8 change display properties or deprecated
    '\\u0340\\u0341\\u200E\\u200F\\u202A-\\u202E\\u206A-\\u206F' +
    // C.9 tagging characters
    '\\u{E0001}\\u{E0020}-\\u{E007F}' +
    ']',
  'u',
);

/** Code points unassigned in the runtime's Unicode version. */
const UNASSIGNED = /\p{Cn}/u;

/** RFC 3454 D.1 exactly (bidi R or AL in Unicode 3.2). */
const D1 =
  '\\u05BE\\u05C0\\u05C3\\u05D0-\\u05EA\\u05F0-\\u05F4\\u061B\\u061F\\u0621-\\u063A\\u0640-\\u064A' +
  '\\u066D-\\u066F\\u0671-\\u06D5\\u06DD\\u06E5\\u06E6\\u06FA-\\u06FE\\u0700-\\u070D\\u0710' +
  '\\u0712-\\u072C\\u0780-\\u07A5\\u07B1\\u200F\\uFB1D\\uFB1F-\\uFB28\\uFB2A-\\uFB36\\uFB38-\\uFB3C' +
  '\\uFB3E\\uFB40\\uFB41\\uFB43\\uFB44\\uFB46-\\uFBB1\\uFBD3-\\uFD3D\\uFD50-\\uFD8F\\uFD92-\\uFDC7' +
  '\\uFDF0-\\uFDFC\\uFE70-\\uFE74\\uFE76-\\uFEFC';

/** Scripts written right to left (all encoded by Unicode 14). */
const RTL_SCRIPTS = [
  'Hebrew', 'Arabic', 'Syriac', 'Thaana', 'Nko', 'Samaritan', 'Mandaic', 'Adlam', 'Hanifi_Rohingya',
  'Mende_Kikakui', 'Cypriot', 'Phoenician', 'Imperial_Aramaic', 'Old_South_Arabian',
  'Old_North_Arabian', 'Avestan', 'Inscriptional_Parthian', 'Inscriptional_Pahlavi',
  'Psalter_Pahlavi', 'Old_Turkic', 'Kharoshthi', 'Lydian', 'Meroitic_Cursive',
  'Meroitic_Hieroglyphs', 'Nabataean', 'Palmyrene', 'Hatran', 'Manichaean', 'Old_Hungarian',
  'Sogdian', 'Old_Sogdian', 'Elymaic', 'Chorasmian', 'Yezidi', 'Old_Uyghur',
];
const RTL_SCRIPT = new RegExp('[' + RTL_SCRIPTS.map((s) => `\\p{Script=${s}}`).join('') + ']', 'u');
const D1_CLASS = new RegExp('[' + D1 + ']', 'u');
const LETTER = /\p{L}/u;
const STRONG_L_CANDIDATE = /[\p{L}\p{Mc}\p{Nl}\p{Co}]/u;
const NUM_SYM_PUNCT = /[\p{N}\p{S}\p{P}]/u;
const NEUTRAL_SCRIPT = /[\p{Script=Common}\p{Script=Inherited}]/u;

function isRandAL(ch: string): boolean {
  return D1_CLASS.test(ch) || (LETTER.test(ch) && RTL_SCRIPT.test(ch));
}

function isL(ch: string): boolean {
  if (RTL_SCRIPT.test(ch) || D1_CLASS.test(ch)) return false;
  if (STRONG_L_CANDIDATE.test(ch)) return true;
  return NUM_SYM_PUNCT.test(ch) && !NEUTRAL_SCRIPT.test(ch);
}

/**
 * Prepare `input` with SASLprep.  Throws SaslprepError on prohibited output,
 * a failed bidi check or (unless allowUnassigned) an unassigned code point.
 * The result may be the empty string; callers decide whether that is allowed.
 */
export function saslprep(input: string, options: SaslprepOptions = {}): string {
  if (PRINTABLE_ASCII.test(input)) return input;

  if (!options.allowUnassigned) {
    for (const ch of input) {
      if (UNASSIGNED.test(ch)) throw new SaslprepError('unassigned', ch.codePointAt(0));
    }
  }

  // 1. Mapping (B.1 before C.1.2, see header comment about U+200B).
  const mapped = input.replace(MAPPED_TO_NOTHING, '').replace(NON_ASCII_SPACE, ' ');

  // 2. Normalisation.
  const normalized = mapped.normalize('NFKC');

  // 3. Prohibited output.  4. Bidi.
  let hasRandAL = false;
  let hasL = false;
  for (const ch of normalized) {
    if (PROHIBITED.test(ch)) throw new SaslprepError('prohibited', ch.codePointAt(0));
    if (isRandAL(ch)) hasRandAL = true;
    else if (isL(ch)) hasL = true;
  }
  if (hasRandAL) {
    if (hasL) throw new SaslprepError('bidi');
    const chars = Array.from(normalized);
    if (!isRandAL(chars[0]) || !isRandAL(chars[chars.length - 1])) {
      throw new SaslprepError('bidi');
    }
  }
  return normalized;
}

/** saslprep() that returns null instead of throwing. */
export function trySaslprep(input: string, options?: SaslprepOptions): string | null {
  try {
    return saslprep(input, options);
  } catch (err) {
    if (err instanceof SaslprepError) return null;
    throw err;
  }
}

/** saslprep() that also rejects an empty result (RFC 4616 §2, RFC 5802 §5.1). */
export function prepareNonEmpty(input: string, options?: SaslprepOptions): string {
  const out = saslprep(input, options);
  if (out.length === 0) throw new SaslprepError('empty');
  return out;
}
