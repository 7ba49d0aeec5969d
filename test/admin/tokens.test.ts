// Admin API tokens: shown once, stored only as a SHA-256 digest, found by digest, listable
// with their last use, revocable.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { ServiceError } from '../../src/services/errors.js';
import { TokenService } from '../../src/services/tokens.js';
import { createStores } from '../../src/storage/index.js';
import { eachBackend } from '../helpers/database.js';

async function rejection(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (err) {
    expect(err).to.be.instanceOf(ServiceError);
    return err as ServiceError;
  }
  throw new Error('expected a ServiceError');
}

eachBackend('admin tokens', (getDb) => {
  const service = () => new TokenService(createStores(getDb()).tokens);

  it('creates a long random token, different every time, and authenticates it with its name and scope', async function () {
    const tokens = service();
    const first = await tokens.create({ name: 'deploy' });
    const second = await tokens.create({ name: 'grafana', scope: 'metrics' });
    expect(first).to.include({ name: 'deploy', scope: 'admin' });
    expect(first.token).to.match(/^hearth_[A-Za-z0-9_-]{43}$/);
    expect(second.token).to.not.equal(first.token);
    expect(await tokens.authenticate(first.token)).to.deep.equal({ name: 'deploy', scope: 'admin' });
    expect(await tokens.authenticate(second.token)).to.deep.equal({ name: 'grafana', scope: 'metrics' });
  });

  it('keeps only the SHA-256 digest of a token', async function () {
    const { token } = await service().create({ name: 'stored' });
    const { rows } = await sql<Record<string, unknown>>`select * from admin_tokens`.execute(getDb().db);
    expect(rows).to.have.length(1);
    const stored = Buffer.from(rows[0]!.token_sha256 as Uint8Array);
    expect(stored.equals(createHash('sha256').update(token).digest())).to.equal(true);
    const everything = JSON.stringify(rows, (_key, value: unknown) => (value instanceof Uint8Array ? Buffer.from(value).toString('latin1') : value));
    expect(everything).to.not.contain(token.slice('hearth_'.length, 20));
  });

  it('refuses unknown, altered, malformed and revoked tokens', async function () {
    const tokens = service();
    const { token } = await tokens.create({ name: 'soon-revoked' });
    const altered = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
    for (const candidate of [altered, 'hearth_' + 'x'.repeat(43), '', 'Bearer ' + token, token + ' ', token.toUpperCase()]) {
      expect(await tokens.authenticate(candidate), JSON.stringify(candidate)).to.equal(null);
    }
    expect(await tokens.revoke({ name: 'soon-revoked' })).to.deep.equal({ name: 'soon-revoked' });
    expect(await tokens.authenticate(token)).to.equal(null);
  });

  it('lists tokens by name with their scope, creation and last use', async function () {
    const tokens = service();
    const { token } = await tokens.create({ name: 'b-used' });
    await tokens.create({ name: 'a-unused', scope: 'metrics' });
    const before = await tokens.list();
    expect(before.tokens.map((t) => [t.name, t.scope, t.lastUsedAt])).to.deep.equal([
      ['a-unused', 'metrics', null],
      ['b-used', 'admin', null],
    ]);
    expect(Date.parse(before.tokens[0]!.createdAt)).to.be.within(Date.now() - 60_000, Date.now() + 5_000);
    await tokens.authenticate(token);
    const after = await tokens.list();
    expect(after.tokens[1]!.lastUsedAt).to.be.a('string');
    expect(Date.parse(after.tokens[1]!.lastUsedAt!)).to.be.within(Date.now() - 60_000, Date.now() + 5_000);
    expect(after.tokens[0]!.lastUsedAt).to.equal(null);
  });

  it('names the field at fault: duplicate and invalid names, unknown scopes, unknown tokens', async function () {
    const tokens = service();
    await tokens.create({ name: 'taken' });
    expect(await rejection(tokens.create({ name: 'taken' }))).to.include({ code: 'exists', field: 'name' });
    for (const name of ['', ' spaced', 'with space', 'x'.repeat(65), '-leading', 'slash/y', 42]) {
      expect(await rejection(tokens.create({ name })), JSON.stringify(name)).to.include({ code: 'invalid', field: 'name' });
    }
    expect(await rejection(tokens.create({ name: 'ok', scope: 'root' }))).to.include({ code: 'invalid', field: 'scope' });
    expect(await rejection(tokens.create({ name: 'ok', extra: 1 }))).to.include({ code: 'invalid', field: 'extra' });
    expect(await rejection(tokens.revoke({ name: 'never-was' }))).to.include({ code: 'not-found', field: 'name' });
    expect((await tokens.list()).tokens.map((t) => t.name)).to.deep.equal(['taken']);
  });
});
