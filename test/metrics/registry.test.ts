// The Metrics registry on its own: sources read at scrape time, plain counters turned into
// Prometheus samples, nothing shared between two servers' registries.
import { expect } from 'chai';
import { AuthCounters, StanzaCounts } from '../../src/metrics/counters.js';
import { Metrics, type FederationStreams } from '../../src/metrics/metrics.js';
import { parsePrometheusText, sampleValue } from '../helpers/prometheus.js';

async function scrape(metrics: Metrics) {
  return parsePrometheusText(await metrics.render());
}

describe('Metrics registry', function () {
  it('reports federation streams per direction and domain, as they are when scraped', async function () {
    const metrics = new Metrics({ version: 'test' });
    let streams: FederationStreams = { incoming: { 'a.example': 2, 'b.example': 1 }, outgoing: { 'a.example': 1 } };
    metrics.setFederationSource(() => streams);
    let m = await scrape(metrics);
    expect(sampleValue(m, 'hearth_s2s_streams', { direction: 'incoming', domain: 'a.example' })).to.equal(2);
    expect(sampleValue(m, 'hearth_s2s_streams', { direction: 'incoming', domain: 'b.example' })).to.equal(1);
    expect(sampleValue(m, 'hearth_s2s_streams', { direction: 'outgoing', domain: 'a.example' })).to.equal(1);
    expect(sampleValue(m, 'hearth_connections', { transport: 's2s_in', state: 'authenticated' })).to.equal(3);
    expect(sampleValue(m, 'hearth_connections', { transport: 's2s_out', state: 'authenticated' })).to.equal(1);

    // A domain whose streams closed disappears rather than staying at its last value.
    streams = { incoming: { 'b.example': 1 }, outgoing: {} };
    m = await scrape(metrics);
    expect(() => sampleValue(m, 'hearth_s2s_streams', { direction: 'incoming', domain: 'a.example' })).to.throw(/no sample/);
    expect(sampleValue(m, 'hearth_connections', { transport: 's2s_out', state: 'authenticated' })).to.equal(0);
  });

  it('adds connection sources that report the same transport', async function () {
    const metrics = new Metrics({ version: 'test' });
    metrics.addConnectionSource(() => ({ websocket: { bound: 2 } }));
    metrics.addConnectionSource(() => ({ websocket: { bound: 3, unauthenticated: 1 } }));
    const m = await scrape(metrics);
    expect(sampleValue(m, 'hearth_connections', { transport: 'websocket', state: 'bound' })).to.equal(5);
    expect(sampleValue(m, 'hearth_connections', { transport: 'websocket', state: 'unauthenticated' })).to.equal(1);
  });

  it('turns plain counters into counters, per transport and kind', async function () {
    const metrics = new Metrics({ version: 'test' });
    const c2s = metrics.stanzaTraffic('c2s');
    expect(metrics.stanzaTraffic('c2s')).to.equal(c2s);
    const s2s = metrics.stanzaTraffic('s2s');
    c2s.received.add('message');
    c2s.received.add('message');
    c2s.sent.add('presence');
    s2s.received.add('iq');
    s2s.received.add('stream:features'); // not a stanza: not counted
    const router = { routed: { message: 7, presence: 0, iq: 3 }, errorsSent: 2 };
    metrics.watchRouter(router);
    let m = await scrape(metrics);
    expect(sampleValue(m, 'hearth_stanzas_received_total', { transport: 'c2s', kind: 'message' })).to.equal(2);
    expect(sampleValue(m, 'hearth_stanzas_received_total', { transport: 'c2s', kind: 'iq' })).to.equal(0);
    expect(sampleValue(m, 'hearth_stanzas_sent_total', { transport: 'c2s', kind: 'presence' })).to.equal(1);
    expect(sampleValue(m, 'hearth_stanzas_received_total', { transport: 's2s', kind: 'iq' })).to.equal(1);
    expect(sampleValue(m, 'hearth_routed_stanzas_total', { kind: 'message' })).to.equal(7);
    expect(sampleValue(m, 'hearth_stanza_errors_sent_total')).to.equal(2);
    router.routed.message += 5;
    m = await scrape(metrics);
    expect(sampleValue(m, 'hearth_routed_stanzas_total', { kind: 'message' })).to.equal(12);
  });

  it('gives modules named counters, one per name', async function () {
    const metrics = new Metrics({ version: 'test' });
    const counter = metrics.counter('hearth_widgets_total', 'Widgets.');
    expect(metrics.counter('hearth_widgets_total', 'Widgets.')).to.equal(counter);
    counter.inc();
    counter.inc(2);
    const m = await scrape(metrics);
    expect(m.get('hearth_widgets_total')?.help).to.equal('Widgets.');
    expect(sampleValue(m, 'hearth_widgets_total')).to.equal(3);
    expect(() => metrics.counter('not a metric name', 'x')).to.throw();
  });

  it('times database queries in seconds and counts failed ones', async function () {
    const metrics = new Metrics({ version: 'test' });
    metrics.observeQuery(0.2, false); // 0.2 ms
    metrics.observeQuery(30, true); // 30 ms
    const m = await scrape(metrics);
    expect(sampleValue(m, 'hearth_db_query_duration_seconds_count')).to.equal(2);
    expect(sampleValue(m, 'hearth_db_query_duration_seconds_bucket', { le: '0.00025' })).to.equal(1);
    expect(sampleValue(m, 'hearth_db_query_duration_seconds_bucket', { le: '0.025' })).to.equal(1);
    expect(sampleValue(m, 'hearth_db_query_duration_seconds_bucket', { le: '0.05' })).to.equal(2);
    expect(sampleValue(m, 'hearth_db_query_duration_seconds_sum')).to.be.closeTo(0.0302, 1e-9);
    expect(sampleValue(m, 'hearth_db_query_errors_total')).to.equal(1);
  });

  it('keeps two servers apart, sharing only the process figures', async function () {
    const one = new Metrics({ version: 'test' });
    const two = new Metrics({ version: 'test' });
    one.auth.record('PLAIN', true);
    expect(sampleValue(await scrape(one), 'hearth_auth_total', { mechanism: 'PLAIN', result: 'success' })).to.equal(1);
    expect(sampleValue(await scrape(two), 'hearth_auth_total', { mechanism: 'PLAIN', result: 'success' })).to.equal(0);
    expect((await scrape(two)).has('process_cpu_user_seconds_total')).to.equal(true);
    // prom-client's global registry stays empty: nothing of Hearth leaks there.
    const { register } = await import('prom-client');
    expect(register.getMetricsAsArray()).to.have.length(0);
  });
});

describe('plain counters', function () {
  it('count stanzas by kind and ignore other elements', function () {
    const counts = new StanzaCounts();
    for (const name of ['message', 'iq', 'iq', 'presence', 'starttls', 'stream:error']) counts.add(name);
    expect({ ...counts }).to.deep.equal({ message: 1, presence: 1, iq: 2 });
  });

  it('count authentications under known mechanism names only', function () {
    const auth = new AuthCounters(['SCRAM-SHA-1', 'PLAIN']);
    auth.record('PLAIN', false);
    auth.record('X-MADE-UP', false);
    auth.record(null, false);
    auth.record('SCRAM-SHA-1', true);
    expect(Object.fromEntries(auth.entries())).to.deep.equal({
      'SCRAM-SHA-1': { success: 1, failure: 0 },
      PLAIN: { success: 0, failure: 1 },
      other: { success: 0, failure: 2 },
    });
  });
});
