import { expect } from 'chai';

import { SaslFailure, type SaslFailureCondition } from '../../src/core/errors.js';
import { deriveScramCredential, type ScramCredential, type ScramMechanismName } from '../../src/sasl/credentials.js';
import { createPlainServer, type SaslServerOptions } from '../../src/sasl/mechanism.js';

type Creds = Map<string, Partial<Record<ScramMechanismName, ScramCredential>>>;

function options(creds: Creds, extra: Partial<SaslServerOptions> = {}): SaslServerOptions & { looked: string[] } {
  const looked: string[] = [];
  return {
    looked,
    lookup: async (username, mechanism) => {
      looked.push(`${username}/${mechanism}`);
      return creds.get(username)?.[mechanism] ?? null;
    },
    normalizeUsername: (raw) => (raw.includes('@') ? null : raw.toLowerCase()),
    serverSecret: Buffer.from('secret'),
    iterations: 64,
    ...extra,
  };
}

async function failure(p: Promise<unknown>): Promise<SaslFailureCondition> {
  try {
    await p;
  } catch (err) {
    if (err instanceof SaslFailure) return err.condition;
    throw err;
  }
  throw new Error('expected a SaslFailure');
}

const msg = (authzid: string, authcid: string, password: string) => Buffer.from(`${authzid}\0${authcid}\0${password}`, 'utf8');

describe('PLAIN server', () => {
  let creds: Creds;
  before(async () => {
    creds = new Map([
      [
        'juliet',
        {
          'SCRAM-SHA-1': await deriveScramCredential('SCRAM-SHA-1', 'r0m30myr0m30', 64),
          'SCRAM-SHA-256': await deriveScramCredential('SCRAM-SHA-256', 'r0m30myr0m30', 64),
        },
      ],
      ['oldtimer', { 'SCRAM-SHA-1': await deriveScramCredential('SCRAM-SHA-1', 'pencil', 64) }],
      ['nine', { 'SCRAM-SHA-256': await deriveScramCredential('SCRAM-SHA-256', 'IX', 64) }],
    ]);
  });

  it('authenticates with the right password (RFC 6120 example payload)', async () => {
    const server = createPlainServer(options(creds));
    expect(server.name).to.equal('PLAIN');
    // "AGp1bGlldAByMG0zMG15cjBtMzA=" from RFC 6120 §6.4.2 / §9.2.
    const result = await server.step(Buffer.from('AGp1bGlldAByMG0zMG15cjBtMzA=', 'base64'));
    expect(result.challenge).to.equal(undefined);
    expect(result.success).to.deep.equal({ username: 'juliet' });
  });

  it('prefers the SCRAM-SHA-256 credential', async () => {
    const opts = options(creds);
    await createPlainServer(opts).step(msg('', 'juliet', 'r0m30myr0m30'));
    expect(opts.looked).to.deep.equal(['juliet/SCRAM-SHA-256']);
  });

  it('falls back to the SCRAM-SHA-1 credential', async () => {
    const opts = options(creds);
    const result = await createPlainServer(opts).step(msg('', 'oldtimer', 'pencil'));
    expect(result.success!.username).to.equal('oldtimer');
    expect(opts.looked).to.deep.equal(['oldtimer/SCRAM-SHA-256', 'oldtimer/SCRAM-SHA-1']);
  });

  it('returns a non-empty authzid as sent', async () => {
    const result = await createPlainServer(options(creds)).step(msg('juliet@example.com', 'juliet', 'r0m30myr0m30'));
    expect(result.success).to.deep.equal({ username: 'juliet', authzid: 'juliet@example.com' });
  });

  it('SASLprep-s the authcid (then normalizeUsername) and the password', async () => {
    const opts = options(creds);
    const result = await createPlainServer(opts).step(msg('', 'N\u00ADine', '\u2168'));
    expect(result.success!.username).to.equal('Nine');
    expect(opts.looked[0]).to.equal('nine/SCRAM-SHA-256');
  });

  it('fails a wrong password with not-authorized', async () => {
    expect(await failure(createPlainServer(options(creds)).step(msg('', 'juliet', 'wrong')))).to.equal('not-authorized');
    expect(await failure(createPlainServer(options(creds)).step(msg('', 'juliet', 'R0m30myr0m30')))).to.equal(
      'not-authorized',
    );
  });

  it('fails an unknown user, or a name normalizeUsername refuses, with not-authorized', async () => {
    expect(await failure(createPlainServer(options(creds)).step(msg('', 'romeo', 'r0m30myr0m30')))).to.equal(
      'not-authorized',
    );
    const opts = options(creds);
    expect(await failure(createPlainServer(opts).step(msg('', 'juliet@x', 'r0m30myr0m30')))).to.equal('not-authorized');
    expect(opts.looked).to.deep.equal([]);
  });

  it('fails a password that does not survive SASLprep with not-authorized', async () => {
    expect(await failure(createPlainServer(options(creds)).step(msg('', 'juliet', 'r0m30\u0007')))).to.equal(
      'not-authorized',
    );
    expect(await failure(createPlainServer(options(creds)).step(msg('', 'juliet', '\u00AD')))).to.equal('not-authorized');
  });

  it('spends PBKDF2 time on unknown users too', async function () {
    this.timeout(30000);
    const iterations = 100_000;
    const slow: Creds = new Map([
      ['juliet', { 'SCRAM-SHA-256': await deriveScramCredential('SCRAM-SHA-256', 'r0m30myr0m30', iterations) }],
    ]);
    const time = async (authcid: string) => {
      const start = process.hrtime.bigint();
      await failure(createPlainServer(options(slow, { iterations })).step(msg('', authcid, 'wrong')));
      return Number(process.hrtime.bigint() - start);
    };
    await time('juliet'); // warm-up
    const known = Math.min(await time('juliet'), await time('juliet'));
    const unknown = Math.min(await time('romeo'), await time('romeo'));
    expect(unknown).to.be.greaterThan(known * 0.3);
  });

  describe('malformed messages', () => {
    const cases: Array<[string, Buffer]> = [
      ['no NUL', Buffer.from('julietpassword')],
      ['one NUL', Buffer.from('juliet\0password')],
      ['three NULs', Buffer.from('\0juliet\0pass\0word')],
      ['empty authcid', msg('', '', 'password')],
      ['empty password', msg('', 'juliet', '')],
      ['empty message', Buffer.alloc(0)],
      ['invalid UTF-8', Buffer.concat([Buffer.from('\0jul'), Buffer.from([0xc3, 0x28]), Buffer.from('\0pw')])],
      ['overlong UTF-8 NUL', Buffer.concat([Buffer.from('\0juliet\0pw'), Buffer.from([0xc0, 0x80])])],
      ['authcid too long', msg('', 'j'.repeat(1025), 'pw')],
      ['password too long', msg('', 'juliet', 'p'.repeat(1025))],
      ['authzid too long', msg('a'.repeat(1025), 'juliet', 'pw')],
    ];
    for (const [name, data] of cases) {
      it(`rejects ${name} with malformed-request`, async () => {
        expect(await failure(createPlainServer(options(creds)).step(data))).to.equal('malformed-request');
      });
    }

    it('accepts fields of exactly 1024 octets', async () => {
      expect(await failure(createPlainServer(options(creds)).step(msg('a'.repeat(1024), 'j'.repeat(1024), 'p'.repeat(1024))))).to.equal(
        'not-authorized',
      );
    });
  });

  describe('lifecycle', () => {
    it('answers a missing initial response with an empty challenge, then takes the message', async () => {
      const server = createPlainServer(options(creds));
      expect((await server.step(null)).challenge).to.deep.equal(Buffer.alloc(0));
      expect((await server.step(msg('', 'juliet', 'r0m30myr0m30'))).success!.username).to.equal('juliet');
    });

    it('rejects a second empty response and a zero-length initial response', async () => {
      const server = createPlainServer(options(creds));
      await server.step(null);
      expect(await failure(server.step(null))).to.equal('malformed-request');
      expect(await failure(createPlainServer(options(creds)).step(Buffer.alloc(0)))).to.equal('malformed-request');
    });

    it('rejects any step after success or failure', async () => {
      const ok = createPlainServer(options(creds));
      await ok.step(msg('', 'juliet', 'r0m30myr0m30'));
      expect(await failure(ok.step(msg('', 'juliet', 'r0m30myr0m30')))).to.equal('malformed-request');
      const bad = createPlainServer(options(creds));
      await failure(bad.step(msg('', 'juliet', 'nope')));
      expect(await failure(bad.step(msg('', 'juliet', 'r0m30myr0m30')))).to.equal('malformed-request');
    });

    it('turns a failing lookup into temporary-auth-failure', async () => {
      const server = createPlainServer(
        options(creds, {
          lookup: async () => {
            throw new Error('database down');
          },
        }),
      );
      expect(await failure(server.step(msg('', 'juliet', 'r0m30myr0m30')))).to.equal('temporary-auth-failure');
    });
  });
});
