// /metrics as Prometheus sees it: the registry of a started server, parsed strictly, moves
// by exactly what clients did (logins, failed logins, messages, offline storage) and counts
// open connections by transport and state.
import { expect } from 'chai';
import tls from 'node:tls';
import { parsePrometheusText, sampleValue, type MetricFamily } from '../helpers/prometheus.js';
import { plainAuth, streamHeader } from '../helpers/raw.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { collectStanzas, connect, delay, stopQuietly, withTimeout, xml, type Client, type Element } from '../helpers/xmpp-client.js';

const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

async function scrape(ts: TestServer): Promise<Map<string, MetricFamily>> {
  return parsePrometheusText(await ts.server.metrics.render());
}

/** Polls the metrics until `check` holds (the server's side of an exchange may lag the client's). */
async function until(ts: TestServer, check: (m: Map<string, MetricFamily>) => boolean, what: string, ms = 3_000): Promise<Map<string, MetricFamily>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const metrics = await scrape(ts);
    if (check(metrics)) return metrics;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${await ts.server.metrics.render()}`);
    await delay(20);
  }
}

async function waitForCount(inbox: Element[], match: (el: Element) => boolean, count: number, ms = 3_000): Promise<Element[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = inbox.filter(match);
    if (found.length >= count) return found;
    if (Date.now() > deadline) throw new Error(`got ${found.length} of ${count} stanzas:\n${inbox.map(String).join('\n')}`);
    await delay(10);
  }
}

const connections = (m: Map<string, MetricFamily>, transport: string, state: string) => sampleValue(m, 'hearth_connections', { transport, state });
const auth = (m: Map<string, MetricFamily>, mechanism: string, result: string) => sampleValue(m, 'hearth_auth_total', { mechanism, result });

/** A direct TLS connection (XEP-0368) speaking raw XML, for what no client library sends. */
class RawTls {
  text = '';
  private constructor(readonly socket: tls.TLSSocket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (this.text += chunk));
    socket.on('error', () => undefined);
  }

  static open(host: string, port: number): Promise<RawTls> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ host, port, servername: 'hearth.example' }, () => resolve(new RawTls(socket)));
      socket.once('error', reject);
    });
  }

  async waitFor(pattern: RegExp): Promise<void> {
    await withTimeout(
      (async () => {
        while (!pattern.test(this.text)) await delay(10);
      })(),
      3_000,
      `${pattern} (got: ${this.text})`,
    );
  }
}

describe('metrics of a running server', function () {
  let ts: TestServer;
  const clients: Client[] = [];
  const raws: RawTls[] = [];

  before(async function () {
    // The first PGlite of a process runs initdb and the migrations: slow on a busy machine.
    this.timeout(90_000);
    ts = await startTestServer({ host: '127.0.0.140', config: { limits: { offlinePerAccount: 1 } } });
    await ts.addUser('alice', 'alice-password');
    await ts.addUser('bob', 'bob-password');
    await ts.addUser('carol', 'carol-password');
  });

  afterEach(async function () {
    await Promise.all(clients.splice(0).map(stopQuietly));
    for (const raw of raws.splice(0)) raw.socket.destroy();
  });

  after(async function () {
    await ts?.stop();
  });

  it('parses strictly and describes the server, its database and its event loop', async function () {
    const m = await scrape(ts);
    expect(ts.server.metrics.contentType).to.match(/^text\/plain; version=0\.0\.4/);
    expect(sampleValue(m, 'hearth_info', { version: '0.1.0' })).to.equal(1);
    // Migrations and account creation ran queries through this server's database.
    expect(m.get('hearth_db_query_duration_seconds')?.type).to.equal('histogram');
    expect(sampleValue(m, 'hearth_db_query_duration_seconds_count')).to.be.greaterThan(0);
    // PGlite has one writer; PostgreSQL's change feed listens once the server is up.
    expect(sampleValue(m, 'hearth_db_change_feed_live')).to.equal(1);
    expect(m.get('nodejs_eventloop_lag_seconds')?.type).to.equal('gauge');
    expect(sampleValue(m, 'nodejs_eventloop_lag_p99_seconds')).to.be.at.least(0);
    for (const name of ['hearth_stanzas_received_total', 'hearth_stanzas_sent_total', 'hearth_routed_stanzas_total', 'hearth_auth_total']) {
      expect(m.get(name)?.type, name).to.equal('counter');
    }
    expect(m.get('hearth_connections')?.type).to.equal('gauge');
  });

  it('counts successful logins by mechanism and a wrong password as a failure', async function () {
    const before = await scrape(ts);
    clients.push(await connect(ts, 'alice', 'alice-password', { mechanism: 'SCRAM-SHA-1' }));
    clients.push(await connect(ts, 'bob', 'bob-password', { mechanism: 'PLAIN', transport: 'direct' }));
    let refused: unknown = null;
    try {
      clients.push(await connect(ts, 'alice', 'not-her-password', { mechanism: 'SCRAM-SHA-1' }));
    } catch (err) {
      refused = err;
    }
    expect(String(refused)).to.match(/not-authorized/);
    const after = await until(ts, (m) => auth(m, 'SCRAM-SHA-1', 'failure') > auth(before, 'SCRAM-SHA-1', 'failure'), 'the failed login');
    expect(auth(after, 'SCRAM-SHA-1', 'success') - auth(before, 'SCRAM-SHA-1', 'success')).to.equal(1);
    expect(auth(after, 'PLAIN', 'success') - auth(before, 'PLAIN', 'success')).to.equal(1);
    expect(auth(after, 'SCRAM-SHA-1', 'failure') - auth(before, 'SCRAM-SHA-1', 'failure')).to.equal(1);
    expect(auth(after, 'PLAIN', 'failure') - auth(before, 'PLAIN', 'failure')).to.equal(0);
    expect(auth(after, 'SCRAM-SHA-256', 'success') - auth(before, 'SCRAM-SHA-256', 'success')).to.equal(0);
  });

  it('counts a mechanism it does not know as "other", never under the name the client sent', async function () {
    const before = await scrape(ts);
    const raw = await RawTls.open(ts.host, ts.directTlsPort);
    raws.push(raw);
    raw.socket.write(streamHeader(ts.domain));
    await raw.waitFor(/<\/stream:features>/);
    raw.socket.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X-INVENTED-1'/>`);
    await raw.waitFor(/<invalid-mechanism\/>/);
    const after = await scrape(ts);
    expect(auth(after, 'other', 'failure') - auth(before, 'other', 'failure')).to.equal(1);
    const mechanisms = after.get('hearth_auth_total')!.samples.map((s) => s.labels.mechanism);
    expect(mechanisms).to.not.include('X-INVENTED-1');
  });

  it('counts open connections by transport and state', async function () {
    const idle = await until(ts, (m) => ['c2s', 'c2s_direct_tls'].every((t) => ['unauthenticated', 'authenticated', 'bound'].every((s) => connections(m, t, s) === 0)), 'no connections');
    expect(connections(idle, 'c2s', 'bound')).to.equal(0);

    clients.push(await connect(ts, 'alice', 'alice-password'));
    clients.push(await connect(ts, 'bob', 'bob-password', { resource: 'one' }));
    clients.push(await connect(ts, 'bob', 'bob-password', { transport: 'direct', resource: 'two' }));
    // Connected, SASL not yet done.
    const raw = await RawTls.open(ts.host, ts.directTlsPort);
    raws.push(raw);
    raw.socket.write(streamHeader(ts.domain));
    await raw.waitFor(/<\/stream:features>/);
    // Authenticated, no resource bound yet (PLAIN over TLS, then a restarted stream).
    const authenticated = await RawTls.open(ts.host, ts.directTlsPort);
    raws.push(authenticated);
    authenticated.socket.write(streamHeader(ts.domain));
    await authenticated.waitFor(/<\/stream:features>/);
    authenticated.socket.write(plainAuth('carol', 'carol-password'));
    await authenticated.waitFor(/<success/);

    const m = await scrape(ts);
    expect(connections(m, 'c2s', 'bound')).to.equal(2);
    expect(connections(m, 'c2s', 'authenticated')).to.equal(0);
    expect(connections(m, 'c2s', 'unauthenticated')).to.equal(0);
    expect(connections(m, 'c2s_direct_tls', 'bound')).to.equal(1);
    expect(connections(m, 'c2s_direct_tls', 'authenticated')).to.equal(1);
    expect(connections(m, 'c2s_direct_tls', 'unauthenticated')).to.equal(1);

    await stopQuietly(clients.pop());
    raw.socket.destroy();
    await until(ts, (n) => connections(n, 'c2s_direct_tls', 'bound') === 0 && connections(n, 'c2s_direct_tls', 'unauthenticated') === 0, 'the closed connections to go');
  });

  it('counts messages received, routed and delivered by kind', async function () {
    const alice = await connect(ts, 'alice', 'alice-password');
    const bob = await connect(ts, 'bob', 'bob-password', { resource: 'desk' });
    clients.push(alice, bob);
    const inbox = collectStanzas(bob);
    const before = await scrape(ts);
    for (let i = 0; i < 5; i++) await alice.send(xml('message', { to: bob.jid!.toString(), type: 'chat' }, xml('body', {}, `hello ${i}`)));
    await waitForCount(inbox, (el) => el.is('message'), 5);
    const after = await until(ts, (m) => sampleValue(m, 'hearth_stanzas_sent_total', { transport: 'c2s', kind: 'message' }) - sampleValue(before, 'hearth_stanzas_sent_total', { transport: 'c2s', kind: 'message' }) >= 5, 'deliveries');
    const delta = (name: string, labels: Record<string, string>) => sampleValue(after, name, labels) - sampleValue(before, name, labels);
    expect(delta('hearth_stanzas_received_total', { transport: 'c2s', kind: 'message' })).to.equal(5);
    expect(delta('hearth_stanzas_sent_total', { transport: 'c2s', kind: 'message' })).to.equal(5);
    expect(delta('hearth_routed_stanzas_total', { kind: 'message' })).to.equal(5);
    expect(delta('hearth_stanzas_received_total', { transport: 'c2s', kind: 'presence' })).to.equal(0);
    expect(delta('hearth_stanza_errors_sent_total', {})).to.equal(0);

    // An iq round trip: one in, one out.
    const iqBefore = await scrape(ts);
    await alice.iqCaller.request(xml('iq', { type: 'get', to: ts.domain }, xml('ping', { xmlns: 'urn:xmpp:ping' })), 3_000);
    const iqAfter = await scrape(ts);
    const iqDelta = (name: string) => sampleValue(iqAfter, name, { transport: 'c2s', kind: 'iq' }) - sampleValue(iqBefore, name, { transport: 'c2s', kind: 'iq' });
    expect(iqDelta('hearth_stanzas_received_total')).to.equal(1);
    expect(iqDelta('hearth_stanzas_sent_total')).to.equal(1);
  });

  it('counts offline queue writes, refusals and their database queries', async function () {
    const alice = await connect(ts, 'alice', 'alice-password');
    clients.push(alice);
    const inbox = collectStanzas(alice);
    const before = await scrape(ts);
    // carol has no session: the first message is stored, the second finds her queue full
    // (limits.offlinePerAccount: 1) and comes back as service-unavailable.
    await alice.send(xml('message', { to: `carol@${ts.domain}`, type: 'chat' }, xml('body', {}, 'first')));
    await until(ts, (m) => sampleValue(m, 'hearth_offline_messages_stored_total') > sampleValue(before, 'hearth_offline_messages_stored_total'), 'the offline write');
    await alice.send(xml('message', { to: `carol@${ts.domain}`, type: 'chat', id: 'second' }, xml('body', {}, 'second')));
    const [bounce] = await waitForCount(inbox, (el) => el.is('message') && el.attrs.type === 'error' && el.attrs.id === 'second', 1);
    expect(bounce!.getChild('error')?.getChild('service-unavailable', NS_STANZAS)).to.not.equal(undefined);
    const after = await until(ts, (m) => sampleValue(m, 'hearth_offline_messages_refused_total') > sampleValue(before, 'hearth_offline_messages_refused_total'), 'the refusal');
    expect(sampleValue(after, 'hearth_offline_messages_stored_total') - sampleValue(before, 'hearth_offline_messages_stored_total')).to.equal(1);
    expect(sampleValue(after, 'hearth_offline_messages_refused_total') - sampleValue(before, 'hearth_offline_messages_refused_total')).to.equal(1);
    expect(sampleValue(after, 'hearth_stanza_errors_sent_total') - sampleValue(before, 'hearth_stanza_errors_sent_total')).to.equal(1);
    // Each offline write is at least one query, and every query lands in the histogram.
    const queries = sampleValue(after, 'hearth_db_query_duration_seconds_count') - sampleValue(before, 'hearth_db_query_duration_seconds_count');
    expect(queries).to.be.at.least(1);
    expect(sampleValue(after, 'hearth_db_query_duration_seconds_bucket', { le: '+Inf' })).to.equal(sampleValue(after, 'hearth_db_query_duration_seconds_count'));
  });
});
