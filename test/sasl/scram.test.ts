import { expect } from 'chai';

import { SaslFailure, type SaslFailureCondition } from '../../src/core/errors.js';
import { deriveScramCredential, type ScramCredential, type ScramMechanismName } from '../../src/sasl/credentials.js';
import {
  createSaslServer,
  createScramServer,
  type SaslServerMechanism,
  type SaslServerOptions,
} from '../../src/sasl/mechanism.js';
import { ScramClient, type ScramClientHash } from '../helpers/scram-client.js';

const ITERATIONS = 4096;
const SECRET = Buffer.from('a server secret for fake salts');

type Users = Map<string, Map<ScramMechanismName, ScramCredential>>;

async function makeUsers(entries: Array<[string, string]>, iterations = 64): Promise<Users> {
  const users: Users = new Map();
  for (const [name, password] of entries) {
    users.set(
      name,
      new Map([
        ['SCRAM-SHA-1', await deriveScramCredential('SCRAM-SHA-1', password, iterations)],
        ['SCRAM-SHA-256', await deriveScramCredential('SCRAM-SHA-256', password, iterations)],
      ]),
    );
  }
  return users;
}

function options(users: Users, extra: Partial<SaslServerOptions> = {}): SaslServerOptions & { looked: string[] } {
  const looked: string[] = [];
  return {
    looked,
    lookup: async (username, mechanism) => {
      looked.push(username);
      return users.get(username)?.get(mechanism) ?? null;
    },
    // Stand-in for JID localpart preparation: lower-case, no "@".
    normalizeUsername: (raw) => (raw.includes('@') ? null : raw.toLowerCase()),
    serverSecret: SECRET,
    iterations: ITERATIONS,
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

const b = (s: string) => Buffer.from(s, 'utf8');

const MECHS: Array<[ScramMechanismName, ScramClientHash]> = [
  ['SCRAM-SHA-1', 'sha1'],
  ['SCRAM-SHA-256', 'sha256'],
];

describe('SCRAM server', () => {
  describe('RFC test vectors', () => {
    it('RFC 5802 §5 SCRAM-SHA-1 example, byte for byte', async () => {
      const salt = Buffer.from('QSXCR+Q6sek8bf92', 'base64');
      const cred = await deriveScramCredential('SCRAM-SHA-1', 'pencil', 4096, salt);
      const server = createScramServer('SCRAM-SHA-1', {
        ...options(new Map([['user', new Map([['SCRAM-SHA-1', cred]])]])),
        nonceFactory: () => '3rfcNHYJY1ZVvWVs7j',
      });
      const first = await server.step(b('n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL'));
      expect(first.challenge!.toString()).to.equal(
        'r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096',
      );
      const final = await server.step(
        b('c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts='),
      );
      expect(final.challenge).to.equal(undefined);
      expect(final.success!.username).to.equal('user');
      expect(final.success!.authzid).to.equal(undefined);
      expect(final.success!.additionalData!.toString()).to.equal('v=rmF9pqV8S7suAoZWja4dJRkFsKQ=');
    });

    it('RFC 7677 §3 SCRAM-SHA-256 example, byte for byte', async () => {
      const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
      const cred = await deriveScramCredential('SCRAM-SHA-256', 'pencil', 4096, salt);
      const server = createScramServer('SCRAM-SHA-256', {
        ...options(new Map([['user', new Map([['SCRAM-SHA-256', cred]])]])),
        nonceFactory: () => '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
      });
      const first = await server.step(b('n,,n=user,r=rOprNGfwEbeRWgbNEkqO'));
      expect(first.challenge!.toString()).to.equal(
        'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
      );
      const final = await server.step(
        b('c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ='),
      );
      expect(final.success!.username).to.equal('user');
      expect(final.success!.additionalData!.toString()).to.equal('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
    });

    it('the test client reproduces the RFC 5802 and RFC 7677 client messages', async () => {
      const c1 = new ScramClient('sha1', 'user', 'pencil', { nonce: 'fyko+d2lbbFgONRv9qkxdawL' });
      expect(c1.first()).to.equal('n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL');
      expect(await c1.final('r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096')).to.equal(
        'c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=',
      );
      expect(c1.verifyServerFinal('v=rmF9pqV8S7suAoZWja4dJRkFsKQ=')).to.equal(true);

      const c2 = new ScramClient('sha256', 'user', 'pencil', { nonce: 'rOprNGfwEbeRWgbNEkqO' });
      c2.first();
      expect(
        await c2.final('r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096'),
      ).to.equal('c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=');
      expect(c2.verifyServerFinal('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=')).to.equal(true);
    });
  });

  for (const [mech, hash] of MECHS) {
    describe(mech, () => {
      let users: Users;
      before(async () => {
        users = await makeUsers([
          ['juliet', 'r0m30myr0m30'],
          ['a,b=c', 'commas'],
        ]);
      });

      async function run(
        client: ScramClient,
        server: SaslServerMechanism,
        tamper: (final: string) => string = (f) => f,
      ) {
        const first = await server.step(b(client.first()));
        const serverFirst = first.challenge!.toString();
        const final = tamper(await client.final(serverFirst));
        const result = server.step(b(final));
        result.catch(() => {}); // awaited later by the caller; avoid an "unhandled rejection" warning meanwhile
        return { serverFirst, result };
      }

      it('succeeds with the right password, and the client verifies the server signature', async () => {
        const client = new ScramClient(hash, 'juliet', 'r0m30myr0m30');
        const server = createScramServer(mech, options(users));
        expect(server.name).to.equal(mech);
        const { result } = await run(client, server);
        const { success } = await result;
        expect(success!.username).to.equal('juliet');
        expect(client.verifyServerFinal(success!.additionalData!.toString())).to.equal(true);
      });

      it('test client: a shared SaltedPassword cache skips PBKDF2 on repeated logins', async () => {
        const cache = new Map<string, Buffer>();
        const opts = options(users);
        for (let i = 0; i < 3; i++) {
          const client = new ScramClient(hash, 'juliet', 'r0m30myr0m30', { saltedPasswordCache: cache });
          const { result } = await run(client, createScramServer(mech, opts));
          expect(client.verifyServerFinal((await result).success!.additionalData!.toString())).to.equal(true);
        }
        expect(cache.size).to.equal(1);
      });

      it('uses a 24-byte random server nonce appended to the client nonce', async () => {
        const client = new ScramClient(hash, 'juliet', 'r0m30myr0m30', { nonce: 'abc' });
        const server = createScramServer(mech, options(users));
        const { serverFirst } = await run(client, server);
        expect(serverFirst).to.match(/^r=abc[A-Za-z0-9+/]{32},s=/);
      });

      it('returns the authzid from the GS2 header without judging it', async () => {
        const client = new ScramClient(hash, 'juliet', 'r0m30myr0m30', { authzid: 'juliet@example.com' });
        const { result } = await run(client, createScramServer(mech, options(users)));
        expect((await result).success!.authzid).to.equal('juliet@example.com');
      });

      it('accepts the "y" channel-binding flag (we do not offer -PLUS)', async () => {
        const client = new ScramClient(hash, 'juliet', 'r0m30myr0m30', { cbindFlag: 'y' });
        const { result } = await run(client, createScramServer(mech, options(users)));
        expect((await result).success!.username).to.equal('juliet');
      });

      it('fails a wrong password with not-authorized, only at the final step', async () => {
        const client = new ScramClient(hash, 'juliet', 'wrong');
        const { result } = await run(client, createScramServer(mech, options(users)));
        expect(await failure(result)).to.equal('not-authorized');
      });

      it('treats an unknown user like a wrong password, with a plausible, stable server-first', async () => {
        const opts = options(users);
        const known = await run(new ScramClient(hash, 'juliet', 'wrong', { nonce: 'n1' }), createScramServer(mech, opts));
        const unknown1 = await run(new ScramClient(hash, 'romeo', 'x', { nonce: 'n1' }), createScramServer(mech, opts));
        const unknown2 = await run(new ScramClient(hash, 'romeo', 'y', { nonce: 'n1' }), createScramServer(mech, opts));
        const other = await run(new ScramClient(hash, 'benvolio', 'x', { nonce: 'n1' }), createScramServer(mech, opts));
        const shape = /^r=n1[A-Za-z0-9+/]{32},s=([A-Za-z0-9+/]{22}==),i=(\d+)$/;
        expect(known.serverFirst).to.match(shape);
        expect(unknown1.serverFirst).to.match(shape);
        const salt = (s: string) => shape.exec(s)![1];
        expect(shape.exec(unknown1.serverFirst)![2]).to.equal(String(ITERATIONS));
        expect(salt(unknown1.serverFirst)).to.equal(salt(unknown2.serverFirst));
        expect(salt(unknown1.serverFirst)).to.not.equal(salt(other.serverFirst));
        expect(await failure(known.result)).to.equal('not-authorized');
        expect(await failure(unknown1.result)).to.equal('not-authorized');
        expect(await failure(unknown2.result)).to.equal('not-authorized');
        expect(await failure(other.result)).to.equal('not-authorized');
      });

      it('gives the same fake salt for names that normalise alike, and treats normalizeUsername null as unknown', async () => {
        const opts = options(users);
        const shape = /,s=([^,]+),/;
        const a = await run(new ScramClient(hash, 'Romeo', 'x'), createScramServer(mech, opts));
        const c = await run(new ScramClient(hash, 'romeo', 'x'), createScramServer(mech, opts));
        expect(shape.exec(a.serverFirst)![1]).to.equal(shape.exec(c.serverFirst)![1]);
        const looked = opts.looked.length;
        const d = await run(new ScramClient(hash, 'juliet@evil', 'r0m30myr0m30'), createScramServer(mech, opts));
        expect(opts.looked.length).to.equal(looked); // no lookup for a name that does not normalise
        expect(d.serverFirst).to.match(/^r=[^,]+,s=[A-Za-z0-9+/]{22}==,i=4096$/);
        expect(await failure(d.result)).to.equal('not-authorized');
        await failure(a.result);
        await failure(c.result);
      });

      it('normalises the username through SASLprep and normalizeUsername before the lookup', async () => {
        const opts = options(users);
        const client = new ScramClient(hash, 'JUL\u00ADIET', 'r0m30myr0m30');
        const { result } = await run(client, createScramServer(mech, opts));
        const { success } = await result;
        expect(opts.looked).to.deep.equal(['juliet']);
        expect(success!.username).to.equal('JULIET'); // SASLprep'd, not yet normalised
      });

      it('decodes =2C and =3D in the username', async () => {
        const opts = options(users);
        const client = new ScramClient(hash, 'a,b=c', 'commas');
        expect(client.first()).to.contain('n=a=2Cb=3Dc,');
        const { result } = await run(client, createScramServer(mech, opts));
        expect((await result).success!.username).to.equal('a,b=c');
        expect(opts.looked).to.deep.equal(['a,b=c']);
      });

      it('rejects any other "=" in the username as malformed-request', async () => {
        for (const name of ['a=2cb', 'a=41', 'a=', '=3', 'x=3d']) {
          const server = createScramServer(mech, options(users));
          expect(await failure(server.step(b(`n,,n=${name},r=abc`))), name).to.equal('malformed-request');
        }
      });

      it('fails a tampered proof with not-authorized', async () => {
        const client = new ScramClient(hash, 'juliet', 'r0m30myr0m30');
        const { result } = await run(client, createScramServer(mech, options(users)), (f) => {
          const [head, proof] = f.split(',p=');
          const bytes = Buffer.from(proof, 'base64');
          bytes[0] ^= 1;
          return `${head},p=${bytes.toString('base64')}`;
        });
        expect(await failure(result)).to.equal('not-authorized');
      });

      it('fails a proof of the wrong length with not-authorized', async () => {
        const client = new ScramClient(hash, 'juliet', 'r0m30myr0m30');
        const { result } = await run(client, createScramServer(mech, options(users)), (f) => f.replace(/,p=.*$/, ',p=AAAA'));
        expect(await failure(result)).to.equal('not-authorized');
      });

      it('fails a channel binding that does not match the GS2 header with not-authorized', async () => {
        // "eSws" is base64("y,,") but the client sent "n,,".  The proof is
        // computed over the message actually sent, so only the channel
        // binding is wrong.
        const client = new ScramClient(hash, 'juliet', 'r0m30myr0m30', { channelBindingOverride: 'y,,' });
        const server = createScramServer(mech, options(users));
        const first = await server.step(b(client.first()));
        const final = await client.final(first.challenge!.toString());
        expect(final.startsWith('c=eSws,')).to.equal(true);
        expect(await failure(server.step(b(final)))).to.equal('not-authorized');
      });

      it('fails a wrong or truncated nonce with not-authorized', async () => {
        for (const tamper of [(n: string) => n.slice(0, -1), (n: string) => n + 'x', (n: string) => n.split('').reverse().join('')]) {
          // The proof is computed over the wrong nonce, so only the nonce check fails.
          const client = new ScramClient(hash, 'juliet', 'r0m30myr0m30', { nonce: 'clientnonce', finalNonceOverride: tamper });
          const { result } = await run(client, createScramServer(mech, options(users)));
          expect(await failure(result)).to.equal('not-authorized');
        }
      });

      it('reports invalid base64 in c= or p= as incorrect-encoding', async () => {
        for (const tamper of [
          (f: string) => f.replace(/,p=/, ',p=!!'),
          (f: string) => f.replace(/,p=(.*)$/, ',p=$1='),
          (f: string) => f.replace(/^c=biws/, 'c=biw'),
          (f: string) => f.replace(/^c=[^,]+/, 'c=eSw s'),
        ]) {
          const client = new ScramClient(hash, 'juliet', 'r0m30myr0m30');
          const { result } = await run(client, createScramServer(mech, options(users)), tamper);
          expect(await failure(result)).to.equal('incorrect-encoding');
        }
      });

      it('reports syntax errors in client-final as malformed-request', async () => {
        for (const tamper of [
          (f: string) => f.replace(/,p=.*$/, ''),
          (f: string) => f.replace(/^c=[^,]+,/, ''),
          (f: string) => f.replace(/,p=/, ',m=x,p='),
          (f: string) => f.replace(/,p=/, ',p=,p='),
          (f: string) => f.replace(/,p=/, ',,p='),
          () => '',
        ]) {
          const client = new ScramClient(hash, 'juliet', 'r0m30myr0m30');
          const { result } = await run(client, createScramServer(mech, options(users)), tamper);
          expect(await failure(result)).to.equal('malformed-request');
        }
      });

      it('ignores unknown optional extensions', async () => {
        const server = createScramServer(mech, options(users));
        const client = new ScramClient(hash, 'juliet', 'r0m30myr0m30', { nonce: 'xyz' });
        client.first();
        const first = await server.step(b('n,,n=juliet,r=xyz,x=whatever'));
        // The client's AuthMessage would differ (it did not send x=), so just
        // check the exchange got past client-first and fails cleanly at the end.
        expect(first.challenge!.toString()).to.match(/^r=xyz/);
        expect(await failure(server.step(b(await client.final(first.challenge!.toString()))))).to.equal('not-authorized');
      });
    });
  }

  describe('client-first parsing and lifecycle', () => {
    let users: Users;
    before(async () => {
      users = await makeUsers([['juliet', 'r0m30myr0m30']]);
    });
    const server = () => createScramServer('SCRAM-SHA-256', options(users));

    it('rejects malformed client-first messages with malformed-request', async () => {
      const cases = [
        'n,,n=juliet',
        'n,,r=abc',
        'n,,r=abc,n=juliet',
        'x,,n=juliet,r=abc',
        'n,b=x,n=juliet,r=abc',
        'n,a=,n=juliet,r=abc',
        'n,,n=,r=abc',
        'n,,n=juliet,r=',
        'n,,n=juliet,r=a,b',
        'n,,n=juliet,r=ab c',
        'n,,n=juliet,r=abc,',
        'n,,n=juliet,r=abc,1=x',
        'n,,n=juliet,r=abc,x=',
        'n,n=juliet,r=abc',
        'n',
        'juliet',
      ];
      for (const c of cases) expect(await failure(server().step(b(c))), c).to.equal('malformed-request');
    });

    it('rejects a mandatory extension (m=) with malformed-request', async () => {
      expect(await failure(server().step(b('n,,m=foo,n=juliet,r=abc')))).to.equal('malformed-request');
      expect(await failure(server().step(b('n,,n=juliet,r=abc,m=foo')))).to.equal('malformed-request');
    });

    it('rejects a channel-binding request (p=) on a non-PLUS mechanism with malformed-request', async () => {
      expect(await failure(server().step(b('p=tls-exporter,,n=juliet,r=abc')))).to.equal('malformed-request');
      expect(await failure(server().step(b('p=tls-unique,a=juliet@example.com,n=juliet,r=abc')))).to.equal(
        'malformed-request',
      );
    });

    it('rejects NUL and invalid UTF-8 with malformed-request', async () => {
      expect(await failure(server().step(b('n,,n=jul\0iet,r=abc')))).to.equal('malformed-request');
      expect(await failure(server().step(Buffer.from([0x6e, 0x2c, 0x2c, 0x6e, 0x3d, 0xc3, 0x28, 0x2c, 0x72, 0x3d, 0x61])))).to.equal(
        'malformed-request',
      );
    });

    it('rejects oversized messages with malformed-request', async () => {
      expect(await failure(server().step(b(`n,,n=juliet,r=${'a'.repeat(5000)}`)))).to.equal('malformed-request');
    });

    it('answers a missing initial response with an empty challenge, then accepts client-first', async () => {
      const s = server();
      const empty = await s.step(null);
      expect(empty.challenge).to.deep.equal(Buffer.alloc(0));
      const client = new ScramClient('sha256', 'juliet', 'r0m30myr0m30');
      const first = await s.step(b(client.first()));
      const final = await s.step(b(await client.final(first.challenge!.toString())));
      expect(client.verifyServerFinal(final.success!.additionalData!.toString())).to.equal(true);
    });

    it('rejects a zero-length initial response, and an empty response after the empty challenge', async () => {
      expect(await failure(server().step(Buffer.alloc(0)))).to.equal('malformed-request');
      const s = server();
      await s.step(null);
      expect(await failure(s.step(Buffer.alloc(0)))).to.equal('malformed-request');
      const s2 = server();
      await s2.step(null);
      expect(await failure(s2.step(null))).to.equal('malformed-request');
    });

    it('rejects any step after success or failure with malformed-request', async () => {
      const s = server();
      const client = new ScramClient('sha256', 'juliet', 'r0m30myr0m30');
      const first = await s.step(b(client.first()));
      await s.step(b(await client.final(first.challenge!.toString())));
      expect(await failure(s.step(b('anything')))).to.equal('malformed-request');
      expect(await failure(s.step(null))).to.equal('malformed-request');

      const f = server();
      expect(await failure(f.step(b('garbage')))).to.equal('malformed-request');
      expect(await failure(f.step(b(new ScramClient('sha256', 'juliet', 'r0m30myr0m30').first())))).to.equal(
        'malformed-request',
      );
    });

    it('rejects a step issued while the previous one is still running', async () => {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const s = createScramServer('SCRAM-SHA-256', {
        ...options(users),
        lookup: async (u, m) => {
          await gate;
          return users.get(u)?.get(m) ?? null;
        },
      });
      const pending = s.step(b('n,,n=juliet,r=abc'));
      expect(await failure(s.step(b('c=biws,r=abc,p=AAAA')))).to.equal('malformed-request');
      release();
      expect((await pending).challenge).to.not.equal(undefined);
    });

    it('turns a failing lookup into temporary-auth-failure', async () => {
      const s = createScramServer('SCRAM-SHA-256', {
        ...options(users),
        lookup: async () => {
          throw new Error('database down');
        },
      });
      expect(await failure(s.step(b('n,,n=juliet,r=abc')))).to.equal('temporary-auth-failure');
    });

    it('turns a credential for the wrong mechanism into temporary-auth-failure', async () => {
      const s = createScramServer('SCRAM-SHA-256', {
        ...options(users),
        lookup: async (u) => users.get(u)?.get('SCRAM-SHA-1') ?? null,
      });
      expect(await failure(s.step(b('n,,n=juliet,r=abc')))).to.equal('temporary-auth-failure');
    });

    it('createSaslServer picks mechanisms by exact name', () => {
      const opts = options(users);
      expect(createSaslServer('SCRAM-SHA-1', opts)!.name).to.equal('SCRAM-SHA-1');
      expect(createSaslServer('SCRAM-SHA-256', opts)!.name).to.equal('SCRAM-SHA-256');
      expect(createSaslServer('PLAIN', opts)!.name).to.equal('PLAIN');
      expect(createSaslServer('scram-sha-1', opts)).to.equal(null);
      expect(createSaslServer('SCRAM-SHA-256-PLUS', opts)!.name).to.equal('SCRAM-SHA-256-PLUS');
      expect(createSaslServer('SCRAM-SHA-512', opts)).to.equal(null);
      expect(createSaslServer('DIGEST-MD5', opts)).to.equal(null);
    });

    it('validates options up front', () => {
      const opts = options(users);
      expect(() => createScramServer('SCRAM-SHA-256', { ...opts, serverSecret: Buffer.alloc(0) })).to.throw(TypeError);
      expect(() => createScramServer('SCRAM-SHA-256', { ...opts, iterations: 0 })).to.throw(RangeError);
      expect(() => createScramServer('SCRAM-SHA-512' as ScramMechanismName, opts)).to.throw(TypeError);
    });
  });
});
