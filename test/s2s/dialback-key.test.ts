// XEP-0185 key generation, checked against the worked example of XEP-0220 §2.2.2.
import { expect } from 'chai';
import { dialbackKey, dialbackKeyMatches } from '../../src/s2s/dialback-key.js';

describe('XEP-0185 dialback keys', function () {
  const secret = Buffer.from('d14lb4ck43v3r');
  const expected = '225cc5aa6a071133249d25fef42ae516fc7a86c523aa1c6980a7f73e784c972d';

  it('derives the key of the XEP-0220 example', function () {
    expect(dialbackKey(secret, 'capulet.example', 'montague.example', '417GAF25')).to.equal(expected);
  });

  it('accepts only the exact key for the same domains and stream', function () {
    expect(dialbackKeyMatches(secret, 'capulet.example', 'montague.example', '417GAF25', `\n  ${expected}\n`)).to.equal(true);
    expect(dialbackKeyMatches(secret, 'montague.example', 'capulet.example', '417GAF25', expected)).to.equal(false);
    expect(dialbackKeyMatches(secret, 'capulet.example', 'montague.example', '417GAF26', expected)).to.equal(false);
    expect(dialbackKeyMatches(Buffer.from('other'), 'capulet.example', 'montague.example', '417GAF25', expected)).to.equal(false);
    expect(dialbackKeyMatches(secret, 'capulet.example', 'montague.example', '417GAF25', expected.slice(0, 10))).to.equal(false);
    expect(dialbackKeyMatches(secret, 'capulet.example', 'montague.example', '417GAF25', '')).to.equal(false);
  });
});
