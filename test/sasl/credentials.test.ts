import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';

import { expect } from 'chai';

import {
  deriveAllCredentials,
  deriveScramCredential,
  saltedPassword,
  verifyPlainPassword,
} from '../../src/sasl/credentials.js';
import { SaslprepError } from '../../src/sasl/saslprep.js';

async function rejects(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('SCRAM credentials', () => {
  const salt = Buffer.from('QSXCR+Q6sek8bf92', 'base64');

  for (const [mechanism, hash, len] of [
    ['SCRAM-SHA-1', 'sha1', 20],
    ['SCRAM-SHA-256', 'sha256', 32],
  ] as const) {
    it(`${mechanism}: StoredKey and ServerKey follow RFC 5802 §3`, async () => {
      const cred = await deriveScramCredential(mechanism, 'pencil', 4096, salt);
      const salted = pbkdf2Sync('pencil', salt, 4096, len, hash);
      const clientKey = createHmac(hash, salted).update('Client Key').digest();
      expect(cred.mechanism).to.equal(mechanism);
      expect(cred.iterations).to.equal(4096);
      expect(cred.salt).to.deep.equal(salt);
      expect(cred.storedKey).to.deep.equal(createHash(hash).update(clientKey).digest());
      expect(cred.serverKey).to.deep.equal(createHmac(hash, salted).update('Server Key').digest());
      expect(await saltedPassword(mechanism, 'pencil', salt, 4096)).to.deep.equal(salted);
    });
  }

  it('uses a random 16-byte salt by default', async () => {
    const a = await deriveScramCredential('SCRAM-SHA-256', 'pencil', 1);
    const b = await deriveScramCredential('SCRAM-SHA-256', 'pencil', 1);
    expect(a.salt).to.have.length(16);
    expect(a.salt.equals(b.salt)).to.equal(false);
  });

  it('deriveAllCredentials gives both mechanisms with independent salts', async () => {
    const creds = await deriveAllCredentials('pencil', 16);
    expect(creds.map((c) => c.mechanism).sort()).to.deep.equal(['SCRAM-SHA-1', 'SCRAM-SHA-256']);
    expect(creds[0].salt.equals(creds[1].salt)).to.equal(false);
    for (const c of creds) expect(await verifyPlainPassword(c, 'pencil')).to.equal(true);
  });

  it('verifyPlainPassword accepts the right password and rejects others', async () => {
    const cred = await deriveScramCredential('SCRAM-SHA-256', 'pencil', 64);
    expect(await verifyPlainPassword(cred, 'pencil')).to.equal(true);
    expect(await verifyPlainPassword(cred, 'Pencil')).to.equal(false);
    expect(await verifyPlainPassword(cred, '')).to.equal(false);
    expect(await verifyPlainPassword(cred, 'pencil\u0007')).to.equal(false);
  });

  it('SASLprep-equivalent passwords match', async () => {
    const cred = await deriveScramCredential('SCRAM-SHA-1', 'I\u00ADX', 64);
    expect(await verifyPlainPassword(cred, '\u2168')).to.equal(true);
    expect(await verifyPlainPassword(cred, 'IX')).to.equal(true);
  });

  it('refuses passwords that fail SASLprep or prepare to nothing', async () => {
    expect(await rejects(deriveScramCredential('SCRAM-SHA-256', 'a\u0007', 16))).to.be.instanceOf(SaslprepError);
    expect(await rejects(deriveScramCredential('SCRAM-SHA-256', '\u00AD', 16))).to.be.instanceOf(SaslprepError);
    expect(await rejects(deriveAllCredentials('\u0627a', 16))).to.be.instanceOf(SaslprepError);
  });

  it('refuses bad iteration counts', async () => {
    for (const i of [0, -1, 1.5, Number.NaN]) {
      expect(await rejects(deriveScramCredential('SCRAM-SHA-256', 'pencil', i))).to.be.instanceOf(RangeError);
    }
  });
});
