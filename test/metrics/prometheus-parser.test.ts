// The test's own Prometheus text parser: it must read what a valid exporter writes and
// refuse what Prometheus would refuse, or the metrics tests prove nothing.
import { expect } from 'chai';
import { parsePrometheusText, PrometheusParseError, sampleValue } from '../helpers/prometheus.js';

const VALID = [
  '# HELP requests_total Requests, with a \\\\ and a\\nnewline.',
  '# TYPE requests_total counter',
  'requests_total{path="/a \\"quoted\\"",code="200"} 3',
  'requests_total{path="/b",code="500"} 1 1700000000000',
  '# a comment',
  '',
  '# TYPE lag gauge',
  'lag NaN',
  '# HELP latency_seconds Latency.',
  '# TYPE latency_seconds histogram',
  'latency_seconds_bucket{le="0.1"} 1',
  'latency_seconds_bucket{le="1"} 2',
  'latency_seconds_bucket{le="+Inf"} 3',
  'latency_seconds_sum 4.5',
  'latency_seconds_count 3',
  '',
].join('\n');

function rejects(text: string, why: RegExp): void {
  expect(() => parsePrometheusText(text)).to.throw(PrometheusParseError, why);
}

describe('Prometheus text parser (test helper)', function () {
  it('reads help, types, labels with escapes, timestamps, NaN and histograms', function () {
    const families = parsePrometheusText(VALID);
    expect([...families.keys()]).to.deep.equal(['requests_total', 'lag', 'latency_seconds']);
    expect(families.get('requests_total')!.help).to.equal('Requests, with a \\ and a\nnewline.');
    expect(sampleValue(families, 'requests_total', { path: '/a "quoted"', code: '200' })).to.equal(3);
    expect(sampleValue(families, 'requests_total', { code: '500', path: '/b' })).to.equal(1);
    expect(sampleValue(families, 'lag')).to.be.NaN;
    expect(sampleValue(families, 'latency_seconds_bucket', { le: '+Inf' })).to.equal(3);
    expect(() => sampleValue(families, 'requests_total', { code: '200' })).to.throw(/no sample/);
  });

  it('refuses what Prometheus would refuse', function () {
    rejects('x 1', /newline/);
    rejects('x 1\n', /outside the family/);
    rejects('# TYPE x counter\nx 1\nx 2\n', /duplicate series/);
    rejects('# TYPE x counter\nx -1\n', /negative counter/);
    rejects('# TYPE x gauge\nx{a="1",a="2"} 1\n', /label a twice/);
    rejects('# TYPE x gauge\nx{a="\\q"} 1\n', /invalid escape/);
    rejects('# TYPE x gauge\nx{a="1"} one\n', /invalid value/);
    rejects('# TYPE x gauge\nx{1a="1"} 1\n', /invalid label name/);
    rejects('# TYPE x gauge\nx 1\n# TYPE y gauge\ny 1\n# HELP x again\n', /two places/);
    rejects('# TYPE x gauge\nx 1\n# TYPE x counter\n', /TYPE after samples/);
    rejects('# TYPE x sometimes\n', /unknown metric type/);
    rejects('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n', /not cumulative/);
    rejects('# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n', /no \+Inf bucket/);
    rejects('# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 1\n', /differs from _count/);
  });
});
