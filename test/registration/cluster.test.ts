// Registration across a cluster: registration.perIpPerHour counts every node's registrations
// from an address (Redis), and an administrator an invitation made on one node is one on the
// others too. Needs PostgreSQL (DATABASE_URL) and Redis; without them the suite is skipped.
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { LocalRegistrationThrottle, REGISTRATION_WINDOW_MS } from '../../src/core/registration-throttle.js';
import { RedisRegistrationThrottle } from '../../src/cluster/registration-throttle.js';
import { openIsolatedDatabase, type IsolatedDatabase } from '../helpers/database.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { collectStanzas, connect, stopQuietly, waitForStanza, xml } from '../helpers/xmpp-client.js';
import { registerOnce } from './helpers.js';

/** A Redis database of these tests' own (the cluster suites use 11), flushed before and after. */
const REDIS_URL = process.env.HEARTH_TEST_REGISTRATION_REDIS_URL ?? 'redis://127.0.0.1:6379/12';
const DOMAIN = 'many.hearth.example';

async function redisReachable(): Promise<Redis | null> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null, connectTimeout: 1_000 });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.flushdb();
    return redis;
  } catch {
    redis.disconnect();
    return null;
  }
}

describe('registration limits in one process', function () {
  it('counts an address\'s registrations over a sliding hour and takes back failed ones', async function () {
    let now = 1_000_000;
    const throttle = new LocalRegistrationThrottle(2, () => now);
    const first = await throttle.take('192.0.2.1');
    expect(first).to.not.equal(null);
    expect(await throttle.take('192.0.2.1')).to.not.equal(null);
    expect(await throttle.take('192.0.2.1')).to.equal(null);
    expect(await throttle.take('192.0.2.2'), 'another address').to.not.equal(null);
    await first!.giveBack();
    expect(await throttle.take('192.0.2.1'), 'a failed registration does not count').to.not.equal(null);
    expect(await throttle.take('192.0.2.1')).to.equal(null);
    now += REGISTRATION_WINDOW_MS;
    expect(await throttle.take('192.0.2.1'), 'an hour later').to.not.equal(null);
  });
});

describe('registration across a cluster', function () {
  this.timeout(60_000);
  let redis: Redis | null = null;
  let database: IsolatedDatabase | null = null;
  const nodes: TestServer[] = [];

  before(async function () {
    redis = process.env.DATABASE_URL ? await redisReachable() : null;
    if (!redis) {
      console.log(`    (skipped: ${process.env.DATABASE_URL ? `no Redis at ${REDIS_URL}` : 'DATABASE_URL is not set (a cluster needs PostgreSQL)'})`);
      this.skip();
    }
    database = await openIsolatedDatabase('postgres');
    for (const host of ['127.0.0.192', '127.0.0.193']) {
      nodes.push(await startTestServer({
        host,
        domain: DOMAIN,
        database: database.database,
        config: { registration: { mode: 'open', perIpPerHour: 2 }, muc: { createRooms: 'admins' }, cluster: { redis: REDIS_URL, ttlS: 2 } },
      }));
    }
  });

  after(async function () {
    for (const node of nodes) await node.stop().catch(() => undefined);
    await database?.dispose();
    await redis?.flushdb().catch(() => undefined);
    redis?.disconnect();
  });

  it('holds perIpPerHour for the whole cluster, not per node', async function () {
    const [a, b] = nodes as [TestServer, TestServer];
    expect((await registerOnce(a, 'one', 'long enough password')).type).to.equal('result');
    expect((await registerOnce(b, 'two', 'long enough password')).type).to.equal('result');
    expect((await registerOnce(a, 'three', 'long enough password')).condition).to.equal('policy-violation');
    expect((await registerOnce(b, 'three', 'long enough password')).condition).to.equal('policy-violation');
  });

  it('takes a slot atomically and gives it back (the Redis counter itself)', async function () {
    const throttle = new RedisRegistrationThrottle(redis!, 1, 'test-node');
    const slot = await throttle.take('198.51.100.7');
    expect(slot).to.not.equal(null);
    const racing = await Promise.all([throttle.take('198.51.100.7'), throttle.take('198.51.100.7')]);
    expect(racing).to.deep.equal([null, null]);
    await slot!.giveBack();
    expect(await new RedisRegistrationThrottle(redis!, 1, 'other-node').take('198.51.100.7'), 'another node sees the slot free').to.not.equal(null);
  });

  it('makes an invited administrator one on every node', async function () {
    const [a, b] = nodes as [TestServer, TestServer];
    const invite = await a.server.services.invites.create({ admin: true });
    expect((await registerOnce(a, 'chief', 'long enough password', invite.token)).type).to.equal('result');
    // The grant reaches the other node over Redis a moment later.
    let created = '';
    for (let attempt = 0; attempt < 20 && created !== 'created'; attempt++) {
      const chief = await connect(b, 'chief', 'long enough password');
      try {
        const inbox = collectStanzas(chief);
        const room = `room${attempt}@conference.${DOMAIN}`;
        await chief.send(xml('presence', { to: `${room}/chief` }, xml('x', { xmlns: 'http://jabber.org/protocol/muc' })));
        const answer = await waitForStanza(inbox, (el) => el.is('presence') && el.attrs.from === `${room}/chief`, 'the room');
        created = answer.attrs.type === 'error' ? answer.getChild('error')!.getChildElements()[0]!.name : 'created';
      } finally {
        await stopQuietly(chief);
      }
    }
    expect(created).to.equal('created');
  });
});
