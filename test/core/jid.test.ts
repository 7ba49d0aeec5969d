import { expect } from 'chai';
import fc from 'fast-check';
import {
  Jid,
  JidMalformedError,
  makeJid,
  parseJid,
  prepareDomain,
  prepareLocalpart,
  prepareResource,
  tryParseJid,
} from '../../src/core/jid.js';
import { isVirama, opaqueString, usernameCaseMapped } from '../../src/core/precis.js';

type Part = 'local' | 'domain' | 'resource';

function expectMalformed(fn: () => unknown, part?: Part): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected a JidMalformedError').to.be.instanceOf(JidMalformedError);
  if (part !== undefined) expect((caught as JidMalformedError).part).to.equal(part);
}

function parts(j: Jid): [string, string, string] {
  return [j.local, j.domain, j.resource];
}

describe('core/jid', () => {
  describe('RFC 7622 §3.5 Table 1: valid JIDs', () => {
    const valid: Array<[string, string, string, string, string]> = [
      // input, local, domain, resource, description
      ['juliet@example.com', 'juliet', 'example.com', '', 'bare JID'],
      ['juliet@example.com/foo', 'juliet', 'example.com', 'foo', 'full JID'],
      ['juliet@example.com/foo bar', 'juliet', 'example.com', 'foo bar', 'space in resourcepart'],
      ['juliet@example.com/foo@bar', 'juliet', 'example.com', 'foo@bar', "'@' in resourcepart"],
      ['foo\\20bar@example.com', 'foo\\20bar', 'example.com', '', 'XEP-0106 escaped space'],
      ['fussball@example.com', 'fussball', 'example.com', '', 'another bare JID'],
      ['fußball@example.com', 'fußball', 'example.com', '', 'LATIN SMALL LETTER SHARP S'],
      ['π@example.com', 'π', 'example.com', '', 'GREEK SMALL LETTER PI'],
      ['Σ@example.com/foo', 'σ', 'example.com', 'foo', 'GREEK CAPITAL SIGMA is case-mapped'],
      ['σ@example.com/foo', 'σ', 'example.com', 'foo', 'GREEK SMALL SIGMA'],
      ['ς@example.com/foo', 'ς', 'example.com', 'foo', 'GREEK SMALL FINAL SIGMA (toLowerCase keeps it)'],
      ['king@example.com/♚', 'king', 'example.com', '♚', 'BLACK CHESS KING in resourcepart'],
      ['example.com', '', 'example.com', '', 'domainpart only'],
      ['example.com/foobar', '', 'example.com', 'foobar', 'domainpart and resourcepart'],
      ['a.example.com/b@example.net', '', 'a.example.com', 'b@example.net', "'@' after '/' is resource"],
      // RFC 7622 errata 4560: a leading space in a resourcepart is allowed.
      ['juliet@example.com/ foo', 'juliet', 'example.com', ' foo', 'leading space in resourcepart'],
      ['server/resource@foo', '', 'server', 'resource@foo', 'resource containing @'],
      ['server/resource@foo/bar', '', 'server', 'resource@foo/bar', "resource containing '@' and '/'"],
    ];
    for (const [input, local, domain, resource, what] of valid) {
      it(`${what}: ${JSON.stringify(input)}`, () => {
        expect(parts(parseJid(input))).to.deep.equal([local, domain, resource]);
        expect(tryParseJid(input)).to.not.equal(null);
      });
    }
  });

  describe('RFC 7622 §3.5 Table 2 and other invalid JIDs', () => {
    const invalid: Array<[string, Part, string]> = [
      ['"juliet"@example.com', 'local', 'quotation marks in localpart'],
      ['foo bar@example.com', 'local', 'space in localpart'],
      ['juliet@example.com/', 'resource', 'empty resourcepart'],
      ['@example.com/', 'local', 'empty localpart and resourcepart'],
      ['henry\u2163@example.com', 'local', 'ROMAN NUMERAL FOUR (compatibility character)'],
      ['♚@example.com', 'local', 'BLACK CHESS KING in localpart'],
      ['juliet@', 'domain', 'localpart without domainpart'],
      ['/foobar', 'domain', 'resourcepart without domainpart'],
      ['', 'domain', 'empty string'],
      ['@example.com', 'local', 'empty localpart'],
      ['node@/server', 'domain', 'empty domainpart between @ and /'],
      ['@/resource', 'local', 'empty localpart and domainpart'],
      ['/', 'domain', 'lone slash'],
      ['@', 'local', 'lone at'],
      ['user@@host', 'domain', 'double @'],
      ['user@@host/resource', 'domain', 'double @ with resource'],
      ['a@b@c', 'domain', "'@' in domainpart"],
      ['user@exa mple.com', 'domain', 'space in domainpart'],
      ['user@example.com/a\u0001b', 'resource', 'control character in resourcepart'],
      ['user@example.com/a\tb', 'resource', 'tab in resourcepart'],
      ['us\u0001er@example.com', 'local', 'control character in localpart'],
      ['user@example.com/a\u200bb', 'resource', 'ZERO WIDTH SPACE (default ignorable)'],
      ['user@example.com/\ue000', 'resource', 'private use code point'],
      ['user@example.com/\ufdd0', 'resource', 'noncharacter'],
      ['user@example.com/\u0378', 'resource', 'unassigned code point'],
      ['user@example.com/\ud800', 'resource', 'lone surrogate'],
    ];
    for (const [input, part, what] of invalid) {
      it(`${what}: ${JSON.stringify(input)}`, () => {
        expectMalformed(() => parseJid(input), part);
        expect(tryParseJid(input)).to.equal(null);
      });
    }

    it('tryParseJid tolerates non-string input', () => {
      expect(tryParseJid(undefined as unknown as string)).to.equal(null);
      expectMalformed(() => parseJid(null as unknown as string));
    });
  });

  describe('localpart (UsernameCaseMapped + RFC 7622 §3.3.1)', () => {
    it('case-maps the localpart and domainpart but preserves the resourcepart', () => {
      const j = parseJid('Juliet@Example.COM/Balcony');
      expect(j.toString()).to.equal('juliet@example.com/Balcony');
      expect(parts(j)).to.deep.equal(['juliet', 'example.com', 'Balcony']);
      expect(parseJid('juliet@example.com/balcony').equals(j)).to.equal(false);
    });

    const mapped: Array<[string, string, string]> = [
      ['ＪＵＬＩＥＴ', 'juliet', 'fullwidth letters are width-mapped and lowercased'],
      ['ｊｕｌｉｅｔ１２３', 'juliet123', 'fullwidth lowercase and digits'],
      ['e\u0301', '\u00e9', 'NFC composes e + COMBINING ACUTE'],
      ['E\u0301', '\u00e9', 'case mapping then NFC'],
      ['ÉLODIE', 'élodie', 'precomposed uppercase'],
      ['ΟΔΟΣ', 'οδος', 'Unicode toLowerCase applies the final-sigma rule'],
      ['\u0130', 'i\u0307', 'LATIN CAPITAL I WITH DOT ABOVE (toLowerCase)'],
      ['l\u00b7l', 'l\u00b7l', 'MIDDLE DOT between two l (RFC 5892 A.3)'],
      ['\u03b1\u0375\u03b2', '\u03b1\u0375\u03b2', 'KERAIA followed by Greek (A.4)'],
      ['\u05d0\u05f3', '\u05d0\u05f3', 'GERESH after Hebrew (A.5)'],
      ['\u30ab\u30fb\u30ab', '\u30ab\u30fb\u30ab', 'KATAKANA MIDDLE DOT with Katakana (A.7)'],
      ['\u0915\u094d\u200d', '\u0915\u094d\u200d', 'ZWJ after a virama (A.2)'],
      ['\u0661\u0662', '\u0661\u0662', 'Arabic-Indic digits alone (A.8)'],
      ['\u3007', '\u3007', 'IDEOGRAPHIC NUMBER ZERO (exception PVALID)'],
      ['a\\b!#$%*+=?^_`{|}~', 'a\\b!#$%*+=?^_`{|}~', 'all ASCII7 punctuation except the forbidden eight'],
      ['日本語', '日本語', 'CJK'],
      ['пример', 'пример', 'Cyrillic'],
    ];
    for (const [input, output, what] of mapped) {
      it(`${what}: ${JSON.stringify(input)}`, () => {
        expect(prepareLocalpart(input)).to.equal(output);
        expect(parseJid(`${input}@example.com`).local).to.equal(output);
      });
    }

    const rejected: Array<[string, string]> = [
      ['"', 'QUOTATION MARK'],
      ['&', 'AMPERSAND'],
      ["'", 'APOSTROPHE'],
      ['/', 'SOLIDUS'],
      [':', 'COLON'],
      ['<', 'LESS-THAN SIGN'],
      ['>', 'GREATER-THAN SIGN'],
      ['@', 'COMMERCIAL AT'],
      ['\uff20', 'FULLWIDTH COMMERCIAL AT (maps to @)'],
      ['\uff02', 'FULLWIDTH QUOTATION MARK (maps to ")'],
      [' ', 'SPACE'],
      ['\u00a0', 'NO-BREAK SPACE'],
      ['\u3000', 'IDEOGRAPHIC SPACE (width-maps to space)'],
      ['\u2163', 'ROMAN NUMERAL FOUR'],
      ['\u01c5', 'titlecase digraph (compatibility)'],
      ['\ufb00', 'LATIN SMALL LIGATURE FF'],
      ['\u2126', 'OHM SIGN (singleton decomposition)'],
      ['\u265a', 'symbol'],
      ['\u00bf', 'non-ASCII punctuation'],
      ['\u00ad', 'SOFT HYPHEN (default ignorable)'],
      ['\u200d', 'ZWJ without a virama'],
      ['a\u200cb', 'ZWNJ without a virama (Joining_Type rule not implemented)'],
      ['a\u00b7b', 'MIDDLE DOT not between l'],
      ['\u0375a', 'KERAIA not followed by Greek'],
      ['a\u05f3', 'GERESH not after Hebrew'],
      ['a\u30fb', 'KATAKANA MIDDLE DOT without Kana/Han'],
      ['\u0661\u06f1', 'mixed Arabic-Indic digit sets (A.8/A.9)'],
      ['\u0640', 'ARABIC TATWEEL (exception DISALLOWED)'],
      ['\u1100', 'old Hangul jamo'],
      ['\u0007', 'control'],
      ['\ud83d', 'lone surrogate'],
    ];
    for (const [input, what] of rejected) {
      it(`rejects ${what}`, () => {
        expectMalformed(() => prepareLocalpart(input), 'local');
        expectMalformed(() => prepareLocalpart(`x${input}`), 'local');
        expectMalformed(() => makeJid(`x${input}`, 'example.com'), 'local');
        // '/' and '@' delimit parts, so in a JID string they never reach the localpart.
        if (input !== '/' && input !== '@') expectMalformed(() => parseJid(`x${input}@example.com`), 'local');
      });
    }

    it('rejects an empty localpart', () => {
      expectMalformed(() => prepareLocalpart(''), 'local');
    });

    it('counts the 1023-octet limit in UTF-8 octets after preparation', () => {
      expect(prepareLocalpart('a'.repeat(1023))).to.have.length(1023);
      expectMalformed(() => prepareLocalpart('a'.repeat(1024)), 'local');
      expectMalformed(() => parseJid('a'.repeat(1024) + '@example.com'), 'local');
      // 'é' is two octets: 511 * 2 + 1 = 1023, 512 * 2 = 1024.
      expect(prepareLocalpart('é'.repeat(511) + 'a')).to.equal('é'.repeat(511) + 'a');
      expectMalformed(() => prepareLocalpart('é'.repeat(512)), 'local');
      // Measured after NFC: 'e' + U+0301 is three octets, 'é' two.
      expect(prepareLocalpart('e\u0301'.repeat(511) + 'a')).to.equal('é'.repeat(511) + 'a');
      // Measured after width mapping: fullwidth 'Ａ' is three octets, 'a' one.
      expect(prepareLocalpart('Ａ'.repeat(1023))).to.equal('a'.repeat(1023));
    });
  });

  describe('domainpart', () => {
    const mapped: Array<[string, string, string]> = [
      ['EXAMPLE.com', 'example.com', 'ASCII is lowercased'],
      ['example.com.', 'example.com', 'one trailing dot is stripped'],
      ['Example.COM.', 'example.com', 'trailing dot and case'],
      ['ÉXAMPLE.com', 'éxample.com', 'IDN is lowercased and kept as U-label'],
      ['éxample.com.', 'éxample.com', 'IDN with trailing dot'],
      ['xn--xample-9ua.com', 'éxample.com', 'A-label is converted to a U-label'],
      ['XN--XAMPLE-9UA.COM', 'éxample.com', 'uppercase A-label'],
      ['fußball.example', 'fußball.example', 'sharp s is kept (nontransitional)'],
      ['e\u0301xample.com', 'éxample.com', 'NFC'],
      ['münchen\u3002de', 'münchen.de', 'IDEOGRAPHIC FULL STOP is a label separator'],
      ['ＥＸＡＭＰＬＥ．ｃｏｍ', 'example.com', 'fullwidth letters and dot'],
      ['пример.рф', 'пример.рф', 'Cyrillic'],
      ['日本.jp', '日本.jp', 'CJK'],
      ['a_b.example.com', 'a_b.example.com', 'underscore accepted (lenient)'],
      ['a-b.example.com', 'a-b.example.com', 'inner hyphen'],
      ['localhost', 'localhost', 'single label'],
      ['1.example.com', '1.example.com', 'numeric non-final label'],
      ['example.com4', 'example.com4', 'alphanumeric final label'],
      ['192.168.1.1', '192.168.1.1', 'IPv4 literal'],
      ['192.168.1.1.', '192.168.1.1', 'IPv4 literal with trailing dot'],
      ['[::1]', '[::1]', 'IPv6 literal'],
      ['[2001:DB8::1]', '[2001:db8::1]', 'IPv6 literal, hex lowercased'],
      ['[::ffff:192.0.2.1]', '[::ffff:192.0.2.1]', 'IPv4-mapped IPv6 literal'],
    ];
    for (const [input, output, what] of mapped) {
      it(`${what}: ${JSON.stringify(input)}`, () => {
        expect(prepareDomain(input)).to.equal(output);
        expect(parseJid(`user@${input}/r`).domain).to.equal(output);
      });
    }

    const rejected: Array<[string, string]> = [
      ['', 'empty'],
      ['.', 'a lone dot'],
      ['example.com..', 'two trailing dots'],
      ['.example.com', 'leading dot'],
      ['a..b', 'empty label'],
      ['-example.com', 'label starting with hyphen'],
      ['example-.com', 'label ending with hyphen'],
      ['exa mple.com', 'space'],
      ['exa\tmple.com', 'tab'],
      ['a/b', 'slash (only reachable through makeJid)'],
      ['a:5222', 'port'],
      ['a%41.com', 'percent sign'],
      ['a#b', 'hash'],
      ['a*b.com', 'asterisk'],
      ['256.1.1.1', 'IPv4-like with octet > 255'],
      ['01.2.3.4', 'IPv4-like with leading zero'],
      ['1.2.3', 'numeric final label that is no IPv4 address'],
      ['example.123', 'numeric final label'],
      ['example.0x1f', 'hexadecimal final label'],
      ['ü.0x1f', 'hexadecimal final label (IDN)'],
      ['[::1', 'unterminated IPv6 literal'],
      ['[1.2.3.4]', 'IPv4 in brackets'],
      ['[fe80::1%eth0]', 'IPv6 zone id'],
      ['[v1.x]', 'IPvFuture'],
      ['[::1]x', 'garbage after IPv6 literal'],
      ['xn--zz.com', 'invalid A-label'],
      ['xn--a.com', 'invalid A-label'],
      ['\u210c.com', 'BLACK-LETTER CAPITAL H (IDNA2008 disallowed, UTS #46 would map)'],
      ['\u2173.com', 'SMALL ROMAN NUMERAL FOUR'],
      ['\u265a.com', 'symbol'],
      ['\u0640a.com', 'ARABIC TATWEEL'],
      ['a\u200db.com', 'ZWJ without virama'],
      ['ex\u00adample.com', 'SOFT HYPHEN'],
      ['a'.repeat(64) + '.com', 'label of 64 octets'],
      ['ü'.repeat(60) + '.com', 'label over 63 octets in its ASCII form'],
    ];
    for (const [input, what] of rejected) {
      it(`rejects ${what}: ${JSON.stringify(input.length > 40 ? input.slice(0, 40) + '…' : input)}`, () => {
        expectMalformed(() => prepareDomain(input), 'domain');
        expectMalformed(() => makeJid('user', input), 'domain');
      });
    }

    it('accepts 63-octet labels and 1023-octet domainparts, rejects 1024', () => {
      const l63 = 'a'.repeat(63);
      expect(prepareDomain(`${l63}.com`)).to.equal(`${l63}.com`);
      const d1023 = Array.from({ length: 16 }, () => l63).join('.'); // 16*63 + 15
      expect(d1023).to.have.length(1023);
      expect(prepareDomain(d1023)).to.equal(d1023);
      expect(prepareDomain(d1023 + '.')).to.equal(d1023); // trailing dot does not count
      expectMalformed(() => prepareDomain(d1023 + '.a'), 'domain');
      expectMalformed(() => parseJid(`u@${d1023}.a/r`), 'domain');
    });

    it('counts IDN domain length in UTF-8 octets of the U-label form', () => {
      // 'é' + 'a'*58 encodes to 'xn--a…' within 63; 2 octets per é in UTF-8.
      const label = 'é' + 'a'.repeat(50); // 52 octets UTF-8, A-label < 63
      const d = Array.from({ length: 19 }, () => label).join('.'); // 19*52 + 18 = 1006
      expect(Buffer.byteLength(d)).to.equal(1006);
      expect(prepareDomain(d)).to.equal(d);
      const big = d + '.' + 'é'.repeat(8); // + 1 + 16 = 1023
      expect(Buffer.byteLength(big)).to.equal(1023);
      expect(prepareDomain(big)).to.equal(big);
      expectMalformed(() => prepareDomain(big + 'a'), 'domain');
    });
  });

  describe('resourcepart (OpaqueString)', () => {
    const mapped: Array<[string, string, string]> = [
      ['Balcony', 'Balcony', 'case preserved'],
      ['foo bar', 'foo bar', 'ASCII space kept'],
      [' lead', ' lead', 'leading space kept'],
      ['a\u00a0b', 'a b', 'NO-BREAK SPACE mapped to SPACE'],
      ['a\u3000b', 'a b', 'IDEOGRAPHIC SPACE mapped to SPACE'],
      ['a\u2003b', 'a b', 'EM SPACE mapped to SPACE'],
      ['e\u0301', '\u00e9', 'NFC'],
      ['ＡＢ', 'ＡＢ', 'fullwidth is NOT width-mapped'],
      ['\u2163', '\u2163', 'compatibility characters allowed'],
      ['\ufb00', '\ufb00', 'ligature allowed'],
      ['\u01c5', '\u01c5', 'titlecase allowed'],
      ['♚ ♛', '♚ ♛', 'symbols'],
      ['¿qué?', '¿qué?', 'punctuation'],
      ['a/b@c', 'a/b@c', "'/' and '@'"],
      ['"&\'<>:', '"&\'<>:', 'characters forbidden in localparts'],
      ['\ud83d\ude00', '\ud83d\ude00', 'astral symbol (emoji)'],
    ];
    for (const [input, output, what] of mapped) {
      it(`${what}: ${JSON.stringify(input)}`, () => {
        expect(prepareResource(input)).to.equal(output);
        expect(parseJid(`u@example.com/${input}`).resource).to.equal(output);
      });
    }

    const rejected: Array<[string, string]> = [
      ['\u0000', 'NUL'],
      ['a\nb', 'line feed'],
      ['\u007f', 'DEL'],
      ['\u0085', 'C1 control'],
      ['\u2028', 'LINE SEPARATOR (Zl)'],
      ['\u200b', 'ZERO WIDTH SPACE'],
      ['\u200d', 'ZWJ without virama'],
      ['a\u00b7b', 'MIDDLE DOT not between l'],
      ['\ue000', 'private use'],
      ['\ufffe', 'noncharacter'],
      ['\u0378', 'unassigned'],
      ['\udc00', 'lone low surrogate'],
      ['\u0600', 'format character that is not default-ignorable'],
    ];
    for (const [input, what] of rejected) {
      it(`rejects ${what}`, () => {
        expectMalformed(() => prepareResource(input), 'resource');
        expectMalformed(() => makeJid('u', 'example.com', `x${input}`), 'resource');
        expectMalformed(() => parseJid(`u@example.com/x${input}`), 'resource');
      });
    }

    it('rejects an empty resourcepart', () => {
      expectMalformed(() => prepareResource(''), 'resource');
    });

    it('counts the 1023-octet limit in UTF-8 octets', () => {
      expect(prepareResource('r'.repeat(1023))).to.have.length(1023);
      expectMalformed(() => prepareResource('r'.repeat(1024)), 'resource');
      expectMalformed(() => parseJid('u@example.com/' + 'r'.repeat(1024)), 'resource');
      // '♚' is three octets: 341 * 3 = 1023.
      expect(prepareResource('♚'.repeat(341))).to.equal('♚'.repeat(341));
      expectMalformed(() => prepareResource('♚'.repeat(341) + 'a'), 'resource');
      // NO-BREAK SPACE (2 octets) maps to SPACE (1 octet) before counting.
      expect(prepareResource('\u00a0'.repeat(1023))).to.equal(' '.repeat(1023));
    });
  });

  describe('Jid', () => {
    it('toString, bareString and the fields', () => {
      const full = parseJid('juliet@example.com/balcony');
      expect(full.toString()).to.equal('juliet@example.com/balcony');
      expect(`${full}`).to.equal('juliet@example.com/balcony');
      expect(full.bareString()).to.equal('juliet@example.com');
      expect(JSON.stringify({ to: full })).to.equal('{"to":"juliet@example.com/balcony"}');
      const dom = parseJid('example.com/res');
      expect(dom.local).to.equal('');
      expect(dom.bareString()).to.equal('example.com');
      expect(parseJid('example.com').toString()).to.equal('example.com');
    });

    it('toString is the prepared form and is cached', () => {
      const j = parseJid('Juliet@EXAMPLE.com./Balcony');
      expect(j.toString()).to.equal('juliet@example.com/Balcony');
      expect(j.toString()).to.equal(j.toString());
      const input = 'romeo@example.net/orchard';
      expect(parseJid(input).toString()).to.equal(input);
    });

    it('bare and isBare', () => {
      const full = parseJid('juliet@example.com/balcony');
      expect(full.isBare()).to.equal(false);
      const bare = full.bare;
      expect(bare.isBare()).to.equal(true);
      expect(bare.toString()).to.equal('juliet@example.com');
      expect(full.bare).to.equal(bare); // cached: same instance
      expect(bare.bare).to.equal(bare); // a bare JID is its own bare JID
      expect(bare.equals(parseJid('JULIET@example.com'))).to.equal(true);
      expect(parseJid('example.com/x').bare.toString()).to.equal('example.com');
    });

    it('equals compares prepared parts', () => {
      const a = parseJid('Juliet@Example.COM/Balcony');
      expect(a.equals(parseJid('juliet@example.com/Balcony'))).to.equal(true);
      expect(a.equals(parseJid('ＪＵＬＩＥＴ@example.com./Balcony'))).to.equal(true);
      expect(a.equals(a)).to.equal(true);
      expect(a.equals(parseJid('juliet@example.com/balcony'))).to.equal(false);
      expect(a.equals(parseJid('juliet@example.com'))).to.equal(false);
      expect(a.equals(parseJid('romeo@example.com/Balcony'))).to.equal(false);
      expect(a.equals(parseJid('juliet@example.net/Balcony'))).to.equal(false);
      expect(parseJid('Σ@example.com').equals(parseJid('σ@example.com'))).to.equal(true);
      expect(parseJid('ς@example.com').equals(parseJid('σ@example.com'))).to.equal(false);
      expect(parseJid('user@xn--xample-9ua.com').equals(parseJid('user@ÉXAMPLE.COM'))).to.equal(true);
      expect(parseJid('example.com').equals(parseJid('example.com.'))).to.equal(true);
    });

    it('makeJid prepares each part; empty local/resource mean absent', () => {
      const j = makeJid('Juliet', 'Example.COM', 'Balcony');
      expect(parts(j)).to.deep.equal(['juliet', 'example.com', 'Balcony']);
      expect(makeJid('', 'example.com').toString()).to.equal('example.com');
      expect(makeJid('a', 'example.com', '').isBare()).to.equal(true);
      expect(makeJid('', 'example.com', 'r/with@x').toString()).to.equal('example.com/r/with@x');
      expectMalformed(() => makeJid('a/b', 'example.com'), 'local');
      expectMalformed(() => makeJid('a@b', 'example.com'), 'local');
      expectMalformed(() => makeJid('a', ''), 'domain');
      expectMalformed(() => makeJid('a', 'example.com/x'), 'domain');
    });

    it('the constructor prepares like makeJid', () => {
      expect(new Jid('Juliet', 'Example.com', 'R').toString()).to.equal('juliet@example.com/R');
      expectMalformed(() => new Jid('a b', 'example.com'), 'local');
    });

    it('JidMalformedError carries the offending part', () => {
      try {
        parseJid('juliet@example.com/');
        expect.fail('should have thrown');
      } catch (e) {
        expect(e).to.be.instanceOf(JidMalformedError);
        expect(e).to.be.instanceOf(Error);
        expect((e as JidMalformedError).name).to.equal('JidMalformedError');
        expect((e as JidMalformedError).part).to.equal('resource');
        expect((e as Error).message).to.match(/resource/);
      }
    });
  });

  describe('precis helpers', () => {
    it('isVirama recognises Canonical_Combining_Class 9 from canonical ordering', () => {
      for (const cp of [0x094d, 0x09cd, 0x0bcd, 0x0d4d, 0x0e3a, 0x1039, 0x17d2, 0x11046]) {
        expect(isVirama(cp), cp.toString(16)).to.equal(true);
      }
      for (const cp of [0x0301, 0x05b0, 0x3099, 0x0915, 0x61, 0x0300]) {
        expect(isVirama(cp), cp.toString(16)).to.equal(false);
      }
    });

    it('usernameCaseMapped and opaqueString are exported for SASL', () => {
      expect(usernameCaseMapped('ＵＳＥＲ')).to.equal('user');
      expect(opaqueString('pass\u00a0word')).to.equal('pass word');
      expect(opaqueString('Pass')).to.equal('Pass');
      expect(() => usernameCaseMapped('a b')).to.throw();
      expect(() => opaqueString('')).to.throw();
    });
  });

  describe('properties (fast-check)', () => {
    const asciiLocal = fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 12 });
    const unicodeLocal = fc.string({ unit: 'binary', minLength: 1, maxLength: 8 });
    const interestingLocal = fc.constantFrom(
      'Σ',
      'ΟΔΟΣ',
      'ς',
      '\u0130stanbul',
      'ＪＵＬＩＥＴ',
      'e\u0301',
      'ß',
      'ǅ',
      'Ⅳ',
      'l\u00b7l',
      '\u0915\u094d\u200d',
      'ǰ',
      'ᾈ',
      'ΐ',
      '\u1e9e',
      'ﬃ',
      'Å',
      'Å',
    );
    const local = fc.oneof(asciiLocal, unicodeLocal, interestingLocal);

    const ldh = fc.stringMatching(/^[a-zA-Z0-9]([a-zA-Z0-9_-]{0,8}[a-zA-Z0-9])?$/);
    const idnLabel = fc.constantFrom('münchen', 'ÉXAMPLE', 'fußball', 'пример', '日本', 'xn--xample-9ua', 'ＥＸ', 'ΣΊΣΥΦΟΣ');
    const label = fc.oneof({ weight: 4, arbitrary: ldh }, { weight: 1, arbitrary: idnLabel });
    const hostname = fc
      .tuple(fc.array(label, { minLength: 1, maxLength: 4 }), fc.boolean())
      .map(([ls, dot]) => ls.join('.') + (dot ? '.' : ''));
    const domain = fc.oneof(
      { weight: 6, arbitrary: hostname },
      {
        weight: 1,
        arbitrary: fc.constantFrom('192.0.2.1', '[::1]', '[2001:DB8::1]', 'localhost', 'EXAMPLE.COM.', '10.0.0.1.'),
      },
    );
    const resource = fc.oneof(
      fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 16 }),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }),
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }),
    );
    const jidString = fc
      .tuple(fc.option(local, { nil: undefined }), domain, fc.option(resource, { nil: undefined }))
      .map(([l, d, r]) => (l !== undefined ? l + '@' : '') + d + (r !== undefined ? '/' + r : ''));

    it('parsing is idempotent: parseJid(parseJid(s).toString()) equals parseJid(s)', () => {
      let valid = 0;
      fc.assert(
        fc.property(jidString, (s) => {
          const j = tryParseJid(s);
          fc.pre(j !== null);
          valid++;
          const again = parseJid(j.toString());
          expect(again.equals(j), `${JSON.stringify(s)} -> ${JSON.stringify(j.toString())}`).to.equal(true);
          expect(again.toString()).to.equal(j.toString());
          expect(makeJid(j.local, j.domain, j.resource).equals(j)).to.equal(true);
          expect(j.bare.equals(parseJid(j.bareString()))).to.equal(true);
        }),
        { numRuns: 2000 },
      );
      expect(valid).to.be.greaterThan(200);
    });

    it('each prepare function is idempotent on arbitrary strings', () => {
      const any = fc.oneof(
        fc.string({ unit: 'binary', maxLength: 10 }),
        fc.string({ unit: 'grapheme', maxLength: 6 }),
        fc.string({ unit: 'grapheme-ascii', maxLength: 12 }),
      );
      fc.assert(
        fc.property(any, (s) => {
          for (const prep of [prepareLocalpart, prepareResource, prepareDomain]) {
            let p: string;
            try {
              p = prep(s);
            } catch (e) {
              expect(e).to.be.instanceOf(JidMalformedError);
              continue;
            }
            expect(prep(p), `${prep.name}(${JSON.stringify(s)})`).to.equal(p);
          }
        }),
        { numRuns: 3000 },
      );
    });

    it('the ASCII fast path agrees with a reference definition', () => {
      fc.assert(
        fc.property(fc.string({ unit: 'binary-ascii', maxLength: 12 }), (s) => {
          const okLocal = /^[\x21-\x7e]+$/.test(s) && !/["&'/:<>@]/.test(s);
          const local = (() => {
            try {
              return prepareLocalpart(s);
            } catch {
              return null;
            }
          })();
          expect(local).to.equal(okLocal ? s.toLowerCase() : null);
          const okRes = /^[\x20-\x7e]+$/.test(s);
          const res = (() => {
            try {
              return prepareResource(s);
            } catch {
              return null;
            }
          })();
          expect(res).to.equal(okRes ? s : null);
        }),
        { numRuns: 2000 },
      );
    });

    it('tryParseJid never throws', () => {
      fc.assert(
        fc.property(fc.string({ unit: 'binary', maxLength: 30 }), (s) => {
          const j = tryParseJid(s);
          if (j !== null) expect(parseJid(j.toString()).equals(j)).to.equal(true);
        }),
        { numRuns: 2000 },
      );
    });
  });
});
