// `hearth start --workers 2`: two nodes of one cluster on one machine behind the same ports
// (Node's cluster module hands each new connection to a worker in turn); the primary serves
// the control socket, the admin API and one /metrics for both.
import { expect } from 'chai';
import { parsePrometheusText, sampleValue } from '../test/helpers/prometheus.js';
import { BoshClient } from '../test/helpers/bosh-client.js';
import { stopQuietly, xml } from '../test/helpers/xmpp-client.js';
import {
  chat,
  createDatabase,
  DOMAIN,
  dropDatabase,
  flushRedis,
  isMessage,
  jid,
  login,
  newNode,
  PASSWORD,
  REDIS_URL,
  uniqueName,
  waitFor,
  type HearthNode,
  type Session,
} from './helpers.js';

const USERS = ['wa', 'wb', 'wc', 'wd'];

interface SessionInfo {
  jid: string;
  node: string | null;
}

describe('hearth start --workers 2', function () {
  this.timeout(40_000);
  const database = uniqueName('hearth_cluster_workers');
  let node: HearthNode;
  let token = '';
  const sessions: Session[] = [];

  before(async function () {
    this.timeout(60_000);
    await flushRedis(REDIS_URL);
    const url = createDatabase(database);
    node = newNode({ name: 'w', address: '127.0.0.178', databaseUrl: url, redisUrl: REDIS_URL, workers: 2 });
    node.hearth(['user', 'import'], USERS.map((u) => `${jid(u)} ${PASSWORD}`).join('\n') + '\n');
    token = node.hearth(['token', 'create', '--name', 'workers-test']).stdout.trim();
    await node.start();
  });

  after(async function () {
    this.timeout(60_000);
    await Promise.all(sessions.map((s) => stopQuietly(s.client)));
    await node?.stop();
    dropDatabase(database);
  });

  async function api<T>(path: string): Promise<T> {
    const response = await fetch(`${node.adminUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status, path).to.equal(200);
    return (await response.json()) as T;
  }

  it('spreads clients over both workers, which route to each other; the primary\'s API, CLI and /metrics see both', async () => {
    for (const user of USERS) sessions.push(await login(node, user, 'phone'));
    for (const s of sessions) await s.client.send(xml('presence'));

    const { sessions: listed } = await api<{ sessions: SessionInfo[] }>('/api/v1/sessions');
    expect(listed.map((s) => s.jid).sort()).to.deep.equal(sessions.map((s) => s.full).sort());
    const nodeOf = new Map(listed.map((s) => [s.jid, s.node]));
    expect(new Set(nodeOf.values()).size, 'workers holding sessions').to.equal(2);
    // The primary is a node too (it serves the admin API), without client listeners.
    const stats = await api<{ nodes: Array<{ node: string }> }>('/api/v1/stats');
    expect(stats.nodes).to.have.length(3);
    for (const holder of nodeOf.values()) expect(stats.nodes.map((n) => n.node)).to.include(holder);

    // A user of one worker and a user of the other, both ways.
    const first = sessions[0]!;
    const other = sessions.find((s) => nodeOf.get(s.full) !== nodeOf.get(first.full))!;
    await first.client.send(chat(other.full, 'across workers'));
    expect((await waitFor(other.inbox, isMessage('across workers'), 'one worker to the other')).attrs.from).to.equal(first.full);
    await other.client.send(chat(jid(first.full.split('@')[0]!), 'and back'));
    expect((await waitFor(first.inbox, isMessage('and back'), 'back')).attrs.from).to.equal(other.full);

    // The command line talks to the primary's control socket.
    const cli = node.hearth(['session', 'list']).stdout;
    for (const s of sessions) expect(cli).to.contain(s.full);

    // One /metrics for both workers: their connections summed.
    const families = parsePrometheusText(await (await fetch(`${node.adminUrl}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text());
    const bound = sampleValue(families, 'hearth_connections', { transport: 'c2s', state: 'bound' });
    expect(bound).to.equal(USERS.length);
  });

  it('keeps a BOSH session whose requests arrive over new connections, spread over both workers', async () => {
    // Each request on a fresh connection: the primary hands them to the workers in turn, and
    // the worker not holding the session forwards to the one that does.
    const bosh = new BoshClient(`http://127.0.0.178:5280/http-bind`, DOMAIN, { freshConnections: true });
    const full = await bosh.login('wd', PASSWORD, 'bosh');
    expect(full).to.equal(`${jid('wd')}/bosh`);
    const tag = bosh.sid.slice(bosh.sid.lastIndexOf('.') + 1);
    expect(tag).to.match(/^[A-Za-z0-9_-]{12}$/);
    for (let i = 0; i < 6; i++) {
      const pong = await bosh.send(`<iq xmlns='jabber:client' type='get' id='w${i}'><ping xmlns='urn:xmpp:ping'/></iq>`);
      expect(pong.body?.getChild('iq')?.attrs.type, `ping ${i}`).to.equal('result');
    }
    const listed = await api<{ sessions: Array<SessionInfo & { transport: string }> }>('/api/v1/sessions');
    const session = listed.sessions.find((s) => s.jid === full);
    expect(session?.transport).to.equal('bosh');
    const ended = await bosh.send('', { type: 'terminate' });
    expect(ended.body?.attrs.type).to.equal('terminate');
  });
});
