import { expect } from 'chai';

import { decodeBase64Strict, encodeBase64 } from '../../src/sasl/base64.js';

describe('decodeBase64Strict', () => {
  it('decodes valid base64 with and without padding', () => {
    expect(decodeBase64Strict('cGVuY2ls')!.toString()).to.equal('pencil');
    expect(decodeBase64Strict('QQ==')!.toString()).to.equal('A');
    expect(decodeBase64Strict('QUI=')!.toString()).to.equal('AB');
    expect(decodeBase64Strict('+/+/')).to.deep.equal(Buffer.from([0xfb, 0xff, 0xbf]));
  });

  it('decodes the empty string to an empty buffer', () => {
    expect(decodeBase64Strict('')).to.deep.equal(Buffer.alloc(0));
  });

  it('rejects a lone "=" (the zero-length initial response marker is the caller\'s business)', () => {
    expect(decodeBase64Strict('=')).to.equal(null);
  });

  it('rejects characters outside the alphabet, whitespace and URL-safe characters', () => {
    for (const s of ['cGVu Y2ls', 'cGVuY2ls\n', ' cGVuY2ls', 'cGVu-2ls', 'cGVu_2ls', 'cGVu*2ls', 'Y2ls\u00e9A==']) {
      expect(decodeBase64Strict(s), JSON.stringify(s)).to.equal(null);
    }
  });

  it('rejects bad padding and bad lengths', () => {
    for (const s of ['QQ', 'QQ=', 'QQ===', 'Q===', 'QQ=A', '=QQ=', 'QQ==QQ==', 'QUJD=', 'cGVuY2l']) {
      expect(decodeBase64Strict(s), s).to.equal(null);
    }
  });

  it('rejects non-canonical encodings (non-zero unused bits)', () => {
    expect(decodeBase64Strict('QR==')).to.equal(null);
    expect(decodeBase64Strict('QUJ=')).to.equal(null);
  });

  it('round-trips with encodeBase64', () => {
    const data = Buffer.from([0, 1, 2, 250, 251, 252, 253]);
    expect(decodeBase64Strict(encodeBase64(data))).to.deep.equal(data);
    expect(encodeBase64(new Uint8Array([104, 105]))).to.equal('aGk=');
  });
});
