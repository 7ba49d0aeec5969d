// Ownership of keyed live state (src/cluster/ownership.ts) against a real Redis: two nodes,
// each with its own connection, whose membership the test writes into `hearth:members`.
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { LocalOwnership, OwnershipUnavailableError, RedisOwnership } from '../../src/cluster/ownership.js';
import { keys } from '../../src/cluster/redis.js';

/** Database 13 is this file's alone: flushed before and after. */
const REDIS_URL = 'redis://127.0.0.1:6379/13';
const A = 'node-a';
const B = 'node-b';

async function redisMissing(): Promise<string | null> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1_000 });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.ping();
    return null;
  } catch {
    return `no Redis at ${REDIS_URL}`;
  } finally {
    redis.disconnect();
  }
}

function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('cluster: ownership of keyed live state', function () {
  this.timeout(30_000);
  let admin: Redis;
  let redisA: Redis;
  let redisB: Redis;
  const opened: RedisOwnership[] = [];

  /** Writes a node's liveness as the membership heartbeat does, on Redis's clock. */
  async function member(node: string, live: boolean): Promise<void> {
    const [seconds, micros] = await admin.time();
    const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    await admin.zadd(keys.members, live ? now + 10_000 : now - 1, node);
  }

  function ownership(redis: Redis, node: string, checkIntervalMs = 0): RedisOwnership {
    const o = new RedisOwnership(redis, node, { checkIntervalMs });
    opened.push(o);
    return o;
  }

  before(async function () {
    const missing = await redisMissing();
    if (missing) {
      console.log(`    (skipped: ${missing})`);
      this.skip();
    }
    admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    redisA = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    redisB = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    await admin.flushdb();
  });

  beforeEach(async () => {
    await admin.flushdb();
    await member(A, true);
    await member(B, true);
  });

  afterEach(async () => {
    for (const o of opened.splice(0)) await o.close();
  });

  after(async () => {
    if (!admin) return;
    await admin.flushdb();
    for (const r of [admin, redisA, redisB]) await r.quit().catch(() => r.disconnect());
  });

  it('lets the first node that asks claim a key nobody owns', async () => {
    const a = ownership(redisA, A);
    expect(a.isMine('muc:room@conference.example.org')).to.equal(false);
    expect(await a.owner('muc:room@conference.example.org')).to.equal(A);
    expect(a.isMine('muc:room@conference.example.org')).to.equal(true);
    expect(a.held()).to.deep.equal(['muc:room@conference.example.org']);
    expect(await admin.get(keys.owner('muc:room@conference.example.org'))).to.equal(A);
    // Bounded: the key carries a safety expiry that the owner's checks refresh.
    expect(await admin.pttl(keys.owner('muc:room@conference.example.org'))).to.be.greaterThan(0);
  });

  it('tells a second node that asks that the first owns the key', async () => {
    const a = ownership(redisA, A);
    const b = ownership(redisB, B);
    expect(await a.owner('room')).to.equal(A);
    expect(await b.owner('room')).to.equal(A);
    expect(b.isMine('room')).to.equal(false);
    expect(a.isMine('room')).to.equal(true);
    expect(await a.owner('room')).to.equal(A);
    expect(await admin.get(keys.owner('room'))).to.equal(A);
  });

  it('moves a key to the node that asks once its owner\'s liveness ended, and the old owner\'s periodic check reports it lost', async () => {
    const a = ownership(redisA, A, 50);
    const b = ownership(redisB, B);
    const lostByA: string[] = [];
    let reported: () => void = () => undefined;
    const lost = new Promise<void>((resolve) => (reported = resolve));
    a.onLost((key) => {
      lostByA.push(key);
      reported();
    });
    expect(await a.owner('room')).to.equal(A);
    expect(await a.owner('other')).to.equal(A);

    // While A lives, its checks find the keys its own.
    await sleep(250);
    expect(lostByA).to.deep.equal([]);
    expect(a.isMine('room')).to.equal(true);

    await member(A, false);
    expect(await b.owner('room')).to.equal(B);
    expect(b.isMine('room')).to.equal(true);
    expect(await admin.get(keys.owner('room'))).to.equal(B);
    // A false death verdict: A's heartbeat resumes, but B holds the key now.
    await member(A, true);

    await within(5_000, 'onLost on the old owner', lost);
    expect(lostByA).to.deep.equal(['room']);
    expect(a.isMine('room')).to.equal(false);
    // The key nobody took over stays A's (A's liveness lapsed, but nobody asked for it).
    expect(a.isMine('other')).to.equal(true);
    expect(await admin.get(keys.owner('other'))).to.equal(A);
    expect(b.isMine('room')).to.equal(true);
  });

  it('reports a key lost at once when owner() finds another node holds it', async () => {
    const a = ownership(redisA, A);
    const b = ownership(redisB, B);
    const lostByA: string[] = [];
    a.onLost((key) => lostByA.push(key));
    await a.owner('room');
    await member(A, false);
    await b.owner('room');
    await member(A, true);
    expect(await a.owner('room')).to.equal(B);
    expect(lostByA).to.deep.equal(['room']);
    expect(a.isMine('room')).to.equal(false);
  });

  it('does nothing when a node that does not own a key releases it', async () => {
    const a = ownership(redisA, A);
    const b = ownership(redisB, B);
    await a.owner('room');
    await b.owner('room');
    await b.release('room');
    expect(await admin.get(keys.owner('room'))).to.equal(A);
    expect(a.isMine('room')).to.equal(true);
    expect(await b.owner('room')).to.equal(A);
  });

  it('frees a key its owner releases, so the next node that asks claims it', async () => {
    const a = ownership(redisA, A);
    const b = ownership(redisB, B);
    const lostByA: string[] = [];
    a.onLost((key) => lostByA.push(key));
    await a.owner('room');
    await a.release('room');
    expect(a.isMine('room')).to.equal(false);
    expect(await admin.exists(keys.owner('room'))).to.equal(0);
    expect(await b.owner('room')).to.equal(B);
    expect(await a.owner('room')).to.equal(B);
    // Giving a key up is not losing it.
    expect(lostByA).to.deep.equal([]);
  });

  it('agrees on one owner per key when two nodes ask for 50 keys at once', async () => {
    const a = ownership(redisA, A);
    const b = ownership(redisB, B);
    const names = Array.from({ length: 50 }, (_, i) => `muc:room${i}@conference.example.org`);
    const asked = names.flatMap((key, i) =>
      // Alternate who asks first, so that both nodes race for the keys.
      i % 2 === 0 ? [a.owner(key), b.owner(key)] : [b.owner(key), a.owner(key)],
    );
    const answers = await Promise.all(asked);
    for (const [i, key] of names.entries()) {
      const [first, second] = [answers[2 * i], answers[2 * i + 1]];
      expect(first, key).to.equal(second);
      expect(await admin.get(keys.owner(key)), key).to.equal(first);
      expect(a.isMine(key) !== b.isMine(key), `${key}: exactly one node holds it`).to.equal(true);
      expect(a.isMine(key) ? A : B, key).to.equal(first);
    }
    expect(a.held().length + b.held().length).to.equal(50);
  });

  it('forgets every key on dropAll and reports each lost; a key still naming the node is claimed again on demand', async () => {
    const a = ownership(redisA, A);
    const lostByA: string[] = [];
    a.onLost((key) => lostByA.push(key));
    for (const key of ['r1', 'r2', 'r3']) await a.owner(key);
    a.dropAll();
    expect(lostByA.sort()).to.deep.equal(['r1', 'r2', 'r3']);
    expect(a.held()).to.deep.equal([]);
    expect(a.isMine('r1')).to.equal(false);
    // A is still live and Redis still names it: asking again claims it (and reloads state).
    expect(await a.owner('r1')).to.equal(A);
    expect(a.isMine('r1')).to.equal(true);
  });

  it('refuses to claim for a node that is not a live member', async () => {
    const b = ownership(redisB, B);
    await member(B, false);
    try {
      await b.owner('room');
      expect.fail('owner() should have rejected');
    } catch (err) {
      expect(err).to.be.instanceOf(OwnershipUnavailableError);
    }
    expect(b.isMine('room')).to.equal(false);
    expect(await admin.exists(keys.owner('room'))).to.equal(0);
    // A key a live node owns is still reported to it.
    const a = ownership(redisA, A);
    await a.owner('held');
    expect(await b.owner('held')).to.equal(A);
  });

  it('claims again on check a held key that vanished from Redis (Redis lost its data)', async () => {
    const a = ownership(redisA, A);
    const lostByA: string[] = [];
    a.onLost((key) => lostByA.push(key));
    await a.owner('room');
    await admin.del(keys.owner('room'));
    expect(await a.check()).to.deep.equal([]);
    expect(await admin.get(keys.owner('room'))).to.equal(A);
    expect(a.isMine('room')).to.equal(true);
    expect(lostByA).to.deep.equal([]);
  });

  it('releases the held keys on close', async () => {
    const a = ownership(redisA, A);
    await a.owner('r1');
    await a.owner('r2');
    await a.close();
    expect(await admin.exists(keys.owner('r1'), keys.owner('r2'))).to.equal(0);
  });
});

describe('cluster: local ownership (no cluster.redis)', () => {
  it('owns every key in the one process and never loses any', async () => {
    const local = new LocalOwnership('solo');
    let lost = 0;
    local.onLost(() => lost++);
    expect(await local.owner('muc:room@conference.example.org')).to.equal('solo');
    expect(local.isMine('anything')).to.equal(true);
    await local.release('anything');
    local.dropAll();
    expect(await local.check()).to.deep.equal([]);
    expect(lost).to.equal(0);
  });
});
