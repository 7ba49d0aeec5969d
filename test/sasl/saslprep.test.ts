import { expect } from 'chai';

import { prepareNonEmpty, saslprep, SaslprepError, trySaslprep } from '../../src/sasl/saslprep.js';

function reason(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof SaslprepError) return err.reason;
    throw err;
  }
  return undefined;
}

describe('SASLprep (RFC 4013)', () => {
  describe('RFC 4013 §3 examples', () => {
    it('#1 maps SOFT HYPHEN to nothing: I<U+00AD>X -> IX', () => {
      expect(saslprep('I\u00ADX')).to.equal('IX');
    });
    it('#2 leaves "user" alone', () => {
      expect(saslprep('user')).to.equal('user');
    });
    it('#3 preserves case: USER -> USER', () => {
      expect(saslprep('USER')).to.equal('USER');
    });
    it('#4 NFKC: <U+00AA> -> a', () => {
      expect(saslprep('\u00AA')).to.equal('a');
    });
    it('#5 NFKC: <U+2168> -> IX', () => {
      expect(saslprep('\u2168')).to.equal('IX');
    });
    it('#6 prohibits <U+0007>', () => {
      expect(reason(() => saslprep('\u0007'))).to.equal('prohibited');
    });
    it('#7 bidi check rejects <U+0627><U+0031>', () => {
      expect(reason(() => saslprep('\u0627\u0031'))).to.equal('bidi');
    });
  });

  it('maps non-ASCII spaces to SPACE and B.1 characters to nothing', () => {
    expect(saslprep('a\u00A0b\u3000c')).to.equal('a b c');
    expect(saslprep('a\u200Bb\uFEFFc\uFE0F')).to.equal('abc');
  });

  it('prohibits controls, private use, non-characters, surrogates, tags and display-changing characters', () => {
    for (const s of ['a\u0000', '\u0085', '\u2028', '\uE000', '\u{F0000}', '\uFDD0', '\uFFFF', '\uD800x', '\u2FF0', '\u200E', '\u202E', '\u{E0001}']) {
      expect(reason(() => saslprep(s, { allowUnassigned: true })), JSON.stringify(s)).to.equal('prohibited');
    }
    expect(reason(() => saslprep('\u007F'))).to.equal('prohibited');
  });

  it('accepts right-to-left strings that start and end with RandALCat and contain no LCat', () => {
    expect(saslprep('\u0627\u0031\u0628')).to.equal('\u0627\u0031\u0628');
    expect(saslprep('\u05D0\u05D1')).to.equal('\u05D0\u05D1');
  });

  it('rejects mixed RandALCat and LCat', () => {
    expect(reason(() => saslprep('\u0627a\u0628'))).to.equal('bidi');
    expect(reason(() => saslprep('\u0031\u0627'))).to.equal('bidi');
  });

  it('unassigned code points: allowed for queries, prohibited for stored strings', () => {
    // U+0378 is unassigned.
    expect(saslprep('a\u0378', { allowUnassigned: true })).to.equal('a\u0378');
    expect(reason(() => saslprep('a\u0378'))).to.equal('unassigned');
  });

  it('has an ASCII fast path that returns the very same string', () => {
    const s = 'pencil ~!@#$%^&*()';
    expect(saslprep(s)).to.equal(s);
  });

  it('normalises composed characters', () => {
    expect(saslprep('e\u0301')).to.equal('\u00E9');
    expect(saslprep('\uFB01')).to.equal('fi');
  });

  it('prepareNonEmpty rejects a result that maps to nothing; trySaslprep returns null on failure', () => {
    expect(reason(() => prepareNonEmpty('\u00AD'))).to.equal('empty');
    expect(saslprep('\u00AD')).to.equal('');
    expect(trySaslprep('\u0007')).to.equal(null);
    expect(trySaslprep('x')).to.equal('x');
  });
});
