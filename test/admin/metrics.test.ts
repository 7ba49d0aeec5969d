// GET /metrics over the admin listener, as Prometheus scrapes it: with an admin token or a
// metrics-only token, in the Prometheus text format, and counters that move when clients
// and the admin API make traffic.
import { expect } from 'chai';
import { parsePrometheusText, sampleValue, type MetricFamily } from '../helpers/prometheus.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { collectStanzas, connect, delay, roundTrip, stopQuietly, xml, type Client, type Element } from '../helpers/xmpp-client.js';

const HOST = '127.0.0.133';
const DOMAIN = 'metrics.hearth.example';
const PASSWORD = 'metrics-secret';

describe('GET /metrics on the admin listener', function () {
  let ts: TestServer;
  let adminToken: string;
  let metricsToken: string;
  const clients: Client[] = [];

  before(async function () {
    this.timeout(60_000);
    ts = await startTestServer({ host: HOST, domain: DOMAIN });
    adminToken = (await ts.server.services.tokens.create({ name: 'ops' })).token;
    metricsToken = (await ts.server.services.tokens.create({ name: 'prometheus', scope: 'metrics' })).token;
    await ts.addUser('reader', PASSWORD);
  });

  afterEach(async function () {
    await Promise.all(clients.splice(0).map(stopQuietly));
  });

  after(async function () {
    await ts?.stop();
  });

  async function scrape(token: string): Promise<Map<string, MetricFamily>> {
    const response = await fetch(`${ts.adminUrl}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).to.equal(200);
    expect(response.headers.get('content-type')).to.match(/^text\/plain; version=0\.0\.4/);
    return parsePrometheusText(await response.text());
  }

  it('answers both token scopes in the Prometheus text format, and nobody without a token', async function () {
    for (const token of [adminToken, metricsToken]) {
      const families = await scrape(token);
      expect(families.get('hearth_routed_stanzas_total')?.type).to.equal('counter');
      expect(families.get('hearth_auth_total')?.type).to.equal('counter');
      expect(families.get('hearth_info')?.samples[0]?.labels.version).to.be.a('string');
    }
    expect((await fetch(`${ts.adminUrl}/metrics`)).status).to.equal(401);
    expect((await fetch(`${ts.adminUrl}/metrics`, { headers: { authorization: `Bearer ${metricsToken}x` } })).status).to.equal(401);
  });

  it('moves its counters when traffic flows', async function () {
    const before = await scrape(metricsToken);
    const client = await connect(ts, 'reader', PASSWORD, { resource: 'r', mechanism: 'PLAIN' });
    clients.push(client);
    const inbox: Element[] = collectStanzas(client);
    await client.send(xml('presence'));
    await roundTrip(client);
    const sent = await fetch(`${ts.adminUrl}/api/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ to: `reader@${DOMAIN}`, body: 'counted' }),
    });
    expect(sent.status).to.equal(200);
    for (let i = 0; i < 100 && !inbox.some((el) => el.is('message')); i++) await delay(10);
    expect(inbox.some((el) => el.is('message')), 'the message arrived').to.equal(true);

    const after = await scrape(metricsToken);
    const routed = (m: Map<string, MetricFamily>, kind: string) => sampleValue(m, 'hearth_routed_stanzas_total', { kind });
    expect(routed(after, 'message') - routed(before, 'message')).to.be.at.least(1);
    expect(routed(after, 'presence') - routed(before, 'presence')).to.be.at.least(1);
    expect(routed(after, 'iq') - routed(before, 'iq')).to.be.at.least(1);
    const logins = (m: Map<string, MetricFamily>) => sampleValue(m, 'hearth_auth_total', { mechanism: 'PLAIN', result: 'success' });
    expect(logins(after) - logins(before)).to.equal(1);
  });

  it('stops answering a metrics token once it is revoked', async function () {
    const { token } = await ts.server.services.tokens.create({ name: 'short-lived', scope: 'metrics' });
    await scrape(token);
    await ts.server.services.tokens.revoke({ name: 'short-lived' });
    expect((await fetch(`${ts.adminUrl}/metrics`, { headers: { authorization: `Bearer ${token}` } })).status).to.equal(401);
  });
});
