// XMPP addresses (JIDs), RFC 7622, with the PRECIS profiles of RFC 8265.
//
//   jid = [ localpart "@" ] domainpart [ "/" resourcepart ]
//
// Localpart: UsernameCaseMapped (RFC 8265 §3.3) plus the eight characters
//   forbidden by RFC 7622 §3.3.1: " & ' / : < > @
// Domainpart: RFC 7622 §3.2. One trailing dot is stripped; an IPv4 address
//   (dotted quad, no leading zeros) or a bracketed IPv6 literal is taken as is
//   (IPv6 hex digits are lowercased; zone ids and IPvFuture are rejected).
//   Otherwise RFC 5895 mapping (lowercase, width mapping, NFC, U+3002 /
//   U+FF0E / U+FF61 as label separators), then IDNA via node:url, stored as
//   U-labels (A-labels in the input are converted). Labels are 1..63 octets
//   in their ASCII form, may not begin or end with '-'.
//   Decisions beyond the RFC:
//     - '_' is accepted in labels (lenient: legacy and internal component
//       hostnames use it; WHATWG/UTS #46 accept it too).
//     - a label with '--' in positions 3-4 other than 'xn--' is accepted.
//     - a domain whose last label is all digits must be a valid IPv4 address.
//     - non-ASCII labels are checked against an approximation of the IDNA2008
//       derived property (see idnaLabelViolation in precis.ts) before
//       url.domainToASCII is asked, because its UTS #46 mapping alone would
//       silently accept (and map) code points that IDNA2008 disallows.
// Resourcepart: OpaqueString (RFC 8265 §4.2).
// Every part is 1..1023 octets of UTF-8 after preparation.
// Where the PRECIS implementation approximates the RFCs (no Bidi Rule, ZWNJ
// only after a virama, ...) is listed at the top of precis.ts.
//
// Printable-ASCII input never touches the Unicode machinery: each part is
// checked with a lookup table in one pass (this runs for every routed stanza).

import { isIPv6 } from 'node:net';
import { domainToASCII, domainToUnicode } from 'node:url';
import { PrecisError, idnaLabelViolation, opaqueString, usernameCaseMapped, widthMap } from './precis.js';

export type JidPart = 'local' | 'domain' | 'resource';

export class JidMalformedError extends Error {
  readonly part?: JidPart;

  constructor(message: string, part?: JidPart) {
    super(part ? `${part}part: ${message}` : message);
    this.name = 'JidMalformedError';
    this.part = part;
  }
}

const MAX_OCTETS = 1023;
const MAX_LABEL = 63;

// --- failure reporting without exceptions (tryParseJid stays cheap) --------

let failMessage = '';
let failPart: JidPart | undefined;

function fail(part: JidPart | undefined, message: string): null {
  failPart = part;
  failMessage = message;
  return null;
}

function lastError(): JidMalformedError {
  return new JidMalformedError(failMessage, failPart);
}

const hex = (c: number): string => 'U+' + c.toString(16).toUpperCase().padStart(4, '0');

function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

// --- ASCII lookup tables ----------------------------------------------------

// Localpart: IdentifierClass ASCII7 is U+0021..U+007E; RFC 7622 §3.3.1
// forbids " & ' / : < > @. Value 2 marks A-Z (needs lowercasing).
const LOCAL_ASCII = new Uint8Array(128);
for (let c = 0x21; c <= 0x7e; c++) LOCAL_ASCII[c] = 1;
for (const ch of '"&\'/:<>@') LOCAL_ASCII[ch.charCodeAt(0)] = 0;
for (let c = 0x41; c <= 0x5a; c++) LOCAL_ASCII[c] = 2;

const FORBIDDEN_LOCAL = /["&'/:<>@]/;

// Domain: 1 = letter/hyphen/underscore, 2 = uppercase letter, 3 = digit.
const DOMAIN_ASCII = new Uint8Array(128);
for (let c = 0x61; c <= 0x7a; c++) DOMAIN_ASCII[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) DOMAIN_ASCII[c] = 2;
for (let c = 0x30; c <= 0x39; c++) DOMAIN_ASCII[c] = 3;
DOMAIN_ASCII[0x2d] = 1; // '-'
DOMAIN_ASCII[0x5f] = 1; // '_' (lenient, see header)

// --- localpart --------------------------------------------------------------

function prepLocal(s: string): string | null {
  const n = s.length;
  if (n === 0) return fail('local', 'empty localpart');
  let upper = false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return prepLocalSlow(s);
    const k = LOCAL_ASCII[c];
    if (k === 0) return fail('local', `character ${hex(c)} is not allowed`);
    if (k === 2) upper = true;
  }
  if (n > MAX_OCTETS) return fail('local', `longer than ${MAX_OCTETS} octets`);
  return upper ? s.toLowerCase() : s;
}

function prepLocalSlow(s: string): string | null {
  let out: string;
  try {
    out = usernameCaseMapped(s);
  } catch (e) {
    if (e instanceof PrecisError) return fail('local', e.message);
    throw e;
  }
  const m = FORBIDDEN_LOCAL.exec(out);
  if (m !== null) return fail('local', `character ${hex(m[0].charCodeAt(0))} is not allowed`);
  if (utf8Length(out) > MAX_OCTETS) return fail('local', `longer than ${MAX_OCTETS} octets`);
  return out;
}

// --- resourcepart -----------------------------------------------------------

function prepResource(s: string): string | null {
  const n = s.length;
  if (n === 0) return fail('resource', 'empty resourcepart');
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return prepResourceSlow(s);
    if (c < 0x20 || c === 0x7f) return fail('resource', `character ${hex(c)} is not allowed`);
  }
  if (n > MAX_OCTETS) return fail('resource', `longer than ${MAX_OCTETS} octets`);
  return s;
}

function prepResourceSlow(s: string): string | null {
  let out: string;
  try {
    out = opaqueString(s);
  } catch (e) {
    if (e instanceof PrecisError) return fail('resource', e.message);
    throw e;
  }
  if (utf8Length(out) > MAX_OCTETS) return fail('resource', `longer than ${MAX_OCTETS} octets`);
  return out;
}

// --- domainpart -------------------------------------------------------------

const HEX_TLD = /^0x[0-9a-f]*$/i;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

function isXnLabel(s: string, start: number, end: number): boolean {
  return (
    end - start >= 4 &&
    (s.charCodeAt(start) | 0x20) === 0x78 && // x
    (s.charCodeAt(start + 1) | 0x20) === 0x6e && // n
    s.charCodeAt(start + 2) === 0x2d &&
    s.charCodeAt(start + 3) === 0x2d
  );
}

/** LDH label shape on [start, end): 1..63 octets, no leading/trailing hyphen. */
function labelProblem(s: string, start: number, end: number): string | null {
  const len = end - start;
  if (len === 0) return 'empty label';
  if (len > MAX_LABEL) return `label longer than ${MAX_LABEL} octets`;
  if (s.charCodeAt(start) === 0x2d || s.charCodeAt(end - 1) === 0x2d) return 'label begins or ends with a hyphen';
  return null;
}

function prepDomain(input: string): string | null {
  const n = input.length;
  if (n === 0) return fail('domain', 'empty domainpart');
  if (input.charCodeAt(0) === 0x5b) return prepIpLiteral(input);
  let upper = false;
  let xn = false;
  let start = 0; // start of the current label
  let digits = true; // current label is all digits so far
  let lastDigits = false; // previous label was all digits
  let lastStart = 0; // start of the last non-empty label
  let prevStart = 0;
  for (let i = 0; i < n; i++) {
    const c = input.charCodeAt(i);
    if (c === 0x2e) {
      const p = labelProblem(input, start, i);
      if (p !== null) return fail('domain', p);
      if (!xn && isXnLabel(input, start, i)) xn = true;
      lastDigits = digits;
      digits = true;
      prevStart = start;
      start = i + 1;
      continue;
    }
    if (c >= 0x80) return prepDomainSlow(input, false);
    const k = DOMAIN_ASCII[c];
    if (k === 0) return fail('domain', `character ${hex(c)} is not allowed`);
    if (k !== 3) {
      digits = false;
      if (k === 2) upper = true;
    }
  }
  let end = n;
  if (start === n) {
    // One trailing dot: stripped (RFC 7622 §3.2). A second one would have
    // produced an empty label above.
    end = n - 1;
    digits = lastDigits;
    lastStart = prevStart;
  } else {
    lastStart = start;
    const p = labelProblem(input, start, n);
    if (p !== null) return fail('domain', p);
    if (!xn && isXnLabel(input, start, n)) xn = true;
  }
  if (end > MAX_OCTETS) return fail('domain', `longer than ${MAX_OCTETS} octets`);
  let out = end === n ? input : input.slice(0, end);
  if (digits) {
    return IPV4.test(out) ? out : fail('domain', 'numeric top-level label but not an IPv4 address');
  }
  if (input.charCodeAt(lastStart) === 0x30 && HEX_TLD.test(out.slice(lastStart))) {
    // The WHATWG host parser reads such a name as an IPv4 address: reject it
    // here too so that ASCII and internationalised names behave alike.
    return fail('domain', 'hexadecimal top-level label');
  }
  if (upper) out = out.toLowerCase();
  if (xn) return prepDomainSlow(out, true); // A-labels become U-labels
  return out;
}

function prepIpLiteral(input: string): string | null {
  let end = input.length;
  if (input.charCodeAt(end - 1) === 0x2e) end--;
  if (end < 3 || input.charCodeAt(end - 1) !== 0x5d) return fail('domain', 'malformed IP literal');
  const inner = input.slice(1, end - 1);
  // net.isIPv6 accepts zone ids ("fe80::1%eth0"); RFC 3986 IP-literal does not.
  if (inner.includes('%') || !isIPv6(inner)) return fail('domain', 'malformed IPv6 literal');
  return '[' + inner.toLowerCase() + ']';
}

const RE_LABEL_SEPARATORS = /[\u3002\uff0e\uff61]/g;
const RE_ALL_DIGITS = /^\d+$/;
const RE_NON_ASCII = /[^\x00-\x7f]/;

// Internationalised domains are few per deployment but, once hosted, appear
// in every stanza, and the IDNA path costs a few microseconds. Successful
// results are memoised in a small bounded map (oldest entry evicted first).
const IDN_CACHE_MAX = 256;
const idnCache = new Map<string, string>();

function prepDomainSlow(input: string, fromAsciiPath: boolean): string | null {
  const hit = idnCache.get(input);
  if (hit !== undefined) return hit;
  const out = prepDomainIdna(input, fromAsciiPath);
  if (out !== null && input.length <= MAX_LABEL * 4) {
    if (idnCache.size >= IDN_CACHE_MAX) idnCache.delete(idnCache.keys().next().value as string);
    idnCache.set(input, out);
  }
  return out;
}

function prepDomainIdna(input: string, fromAsciiPath: boolean): string | null {
  // RFC 5895 mapping: lowercase, width mapping, NFC, label separators.
  let s = widthMap(input.toLowerCase()).normalize('NFC').replace(RE_LABEL_SEPARATORS, '.');
  if (s.endsWith('.')) s = s.slice(0, -1);
  if (s.length === 0) return fail('domain', 'empty domainpart');
  // Mapping may have produced pure ASCII (fullwidth input): use the strict
  // ASCII rules, which also recognise IPv4 addresses.
  if (!fromAsciiPath && !RE_NON_ASCII.test(s)) return prepDomain(s);

  for (const label of s.split('.')) {
    if (label.length === 0) return fail('domain', 'empty label');
    const bad = idnaLabelViolation(label);
    if (bad !== null) return fail('domain', bad);
  }
  // Every ASCII character is now a letter, digit, '-', '_' or '.', so the
  // WHATWG host parser behind domainToASCII cannot truncate or reinterpret.
  const ascii = domainToASCII(s);
  if (ascii === '') return fail('domain', 'not a valid internationalized domain name');
  const uni = domainToUnicode(ascii);
  if (uni === '') return fail('domain', 'not a valid internationalized domain name');

  let start = 0;
  for (let i = 0; i <= ascii.length; i++) {
    if (i === ascii.length || ascii.charCodeAt(i) === 0x2e) {
      const p = labelProblem(ascii, start, i);
      if (p !== null) return fail('domain', p);
      start = i + 1;
    }
  }
  // A-labels from the input were only decoded above: check what they hold.
  const labels = uni.split('.');
  for (const label of labels) {
    const bad = idnaLabelViolation(label);
    if (bad !== null) return fail('domain', bad);
  }
  const tld = labels[labels.length - 1];
  if (RE_ALL_DIGITS.test(tld) || HEX_TLD.test(tld)) {
    return fail('domain', 'numeric top-level label but not an IPv4 address');
  }
  if (utf8Length(uni) > MAX_OCTETS) return fail('domain', `longer than ${MAX_OCTETS} octets`);
  return uni;
}

// --- Jid --------------------------------------------------------------------

const TRUSTED = Symbol('Jid.trusted');

/** An XMPP address whose parts are already prepared (immutable). */
export class Jid {
  /** '' when absent. */
  readonly local: string;
  readonly domain: string;
  /** '' when absent. */
  readonly resource: string;
  private _str: string | undefined;
  private _bare: Jid | undefined;

  /** Prepares each part like makeJid (throws JidMalformedError). */
  constructor(local: string, domain: string, resource?: string);
  constructor(local: string, domain: string, resource = '', trusted?: symbol, str?: string) {
    if (trusted !== TRUSTED) {
      const l = local === '' ? '' : prepLocal(local);
      if (l === null) throw lastError();
      const d = prepDomain(domain);
      if (d === null) throw lastError();
      const r = resource === '' ? '' : prepResource(resource);
      if (r === null) throw lastError();
      local = l;
      domain = d;
      resource = r;
      str = undefined;
    }
    this.local = local;
    this.domain = domain;
    this.resource = resource;
    this._str = str;
    this._bare = undefined;
  }

  /** The bare JID (no resource); `this` when already bare. Cached. */
  get bare(): Jid {
    if (this.resource === '') return this;
    let b = this._bare;
    if (b === undefined) {
      b = this._bare = new TrustedJid(this.local, this.domain, '', TRUSTED, undefined);
    }
    return b;
  }

  isBare(): boolean {
    return this.resource === '';
  }

  /** 'local@domain/resource'. Cached. */
  toString(): string {
    let s = this._str;
    if (s === undefined) {
      s = this.local === '' ? this.domain : this.local + '@' + this.domain;
      if (this.resource !== '') s += '/' + this.resource;
      this._str = s;
    }
    return s;
  }

  /** 'local@domain', or 'domain'. */
  bareString(): string {
    return this.resource === '' ? this.toString() : this.bare.toString();
  }

  equals(other: Jid): boolean {
    return (
      this === other ||
      (other instanceof Jid &&
        this.domain === other.domain &&
        this.local === other.local &&
        this.resource === other.resource)
    );
  }

  toJSON(): string {
    return this.toString();
  }
}

type TrustedCtor = new (
  local: string,
  domain: string,
  resource: string,
  trusted: symbol,
  str: string | undefined,
) => Jid;
const TrustedJid = Jid as unknown as TrustedCtor;

// --- parsing ----------------------------------------------------------------

function parse(input: string): Jid | null {
  if (typeof input !== 'string') return fail(undefined, 'not a string');
  const n = input.length;
  const slash = input.indexOf('/');
  let at = input.indexOf('@');
  if (slash >= 0 && at > slash) at = -1; // '@' in the resourcepart
  const domEnd = slash < 0 ? n : slash;

  let localRaw = '';
  let local = '';
  if (at >= 0) {
    if (at === 0) return fail('local', 'empty localpart');
    localRaw = input.slice(0, at);
    const l = prepLocal(localRaw);
    if (l === null) return null;
    local = l;
  }

  const domainRaw = input.slice(at + 1, domEnd);
  const domain = prepDomain(domainRaw);
  if (domain === null) return null;

  let resourceRaw = '';
  let resource = '';
  if (slash >= 0) {
    if (slash === n - 1) return fail('resource', 'empty resourcepart');
    resourceRaw = input.slice(slash + 1);
    const r = prepResource(resourceRaw);
    if (r === null) return null;
    resource = r;
  }

  // Already canonical (the usual case): the input is the string form.
  const str = local === localRaw && domain === domainRaw && resource === resourceRaw ? input : undefined;
  return new TrustedJid(local, domain, resource, TRUSTED, str);
}

/** Parses and prepares a JID string. Throws JidMalformedError. */
export function parseJid(input: string): Jid {
  const j = parse(input);
  if (j === null) throw lastError();
  return j;
}

/** Like parseJid, but returns null for a malformed JID. */
export function tryParseJid(input: string): Jid | null {
  return parse(input);
}

/**
 * Builds a JID from separate parts, preparing each. '' local or resource
 * means absent. Throws JidMalformedError.
 */
export function makeJid(local: string, domain: string, resource = ''): Jid {
  return new Jid(local, domain, resource);
}

/** UsernameCaseMapped + RFC 7622 §3.3.1; also used for SASL usernames. */
export function prepareLocalpart(s: string): string {
  const r = prepLocal(s);
  if (r === null) throw lastError();
  return r;
}

export function prepareDomain(s: string): string {
  const r = prepDomain(s);
  if (r === null) throw lastError();
  return r;
}

export function prepareResource(s: string): string {
  const r = prepResource(s);
  if (r === null) throw lastError();
  return r;
}
