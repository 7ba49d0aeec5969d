// A strict parser of the Prometheus text exposition format 0.0.4, for asserting what
// /metrics says. Anything a Prometheus server would reject (or that hints at a broken
// exporter: samples before their TYPE, a family split in two, a duplicate series,
// non-cumulative histogram buckets) throws with the line number.

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface MetricFamily {
  readonly name: string;
  help: string | null;
  type: MetricType;
  readonly samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

export class PrometheusParseError extends Error {}

/** Parses an exposition into its families, by family name. */
export function parsePrometheusText(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  const seriesSeen = new Set<string>();
  let current: MetricFamily | null = null;
  const lines = text.split('\n');
  if (lines[lines.length - 1] !== '') throw new PrometheusParseError('the exposition must end with a newline');
  lines.pop();

  lines.forEach((line, index) => {
    const fail = (why: string): never => {
      throw new PrometheusParseError(`line ${index + 1}: ${why}: ${JSON.stringify(line)}`);
    };
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const match = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!match) return; // a plain comment
      const [, keyword, name, rest] = match as unknown as [string, 'HELP' | 'TYPE', string, string];
      if (!METRIC_NAME.test(name)) fail('invalid metric name');
      let family = families.get(name);
      if (family && family !== current) fail(`${name} appears in two places`);
      if (!family) {
        family = { name, help: null, type: 'untyped', samples: [] };
        families.set(name, family);
        current = family;
      }
      if (keyword === 'HELP') {
        if (family.help !== null) fail('second HELP line');
        family.help = unescape(rest, false, fail);
      } else {
        if (family.samples.length > 0) fail('TYPE after samples');
        if (!TYPES.has(rest as MetricType)) fail('unknown metric type');
        family.type = rest as MetricType;
      }
      return;
    }

    const sample = parseSample(line, fail);
    const family = current as MetricFamily | null;
    if (!family || familyOf(sample.name, family) === null) fail(`sample outside the family it belongs to (${family?.name ?? 'none'})`);
    const key = `${sample.name}{${Object.entries(sample.labels).sort().map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`;
    if (seriesSeen.has(key)) fail('duplicate series');
    seriesSeen.add(key);
    if (family!.type === 'counter' && !(sample.value >= 0)) fail('negative counter');
    family!.samples.push(sample);
  });

  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family);
  return families;
}

/** The suffix a sample has within a family ('' for the family itself), or null if foreign. */
function familyOf(sampleName: string, family: MetricFamily): string | null {
  if (sampleName === family.name && family.type !== 'histogram') return '';
  const suffixes = family.type === 'histogram' ? ['_bucket', '_sum', '_count'] : family.type === 'summary' ? ['_sum', '_count'] : [];
  for (const suffix of suffixes) if (sampleName === family.name + suffix) return suffix;
  return null;
}

function parseSample(line: string, fail: (why: string) => never): Sample {
  const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
  if (!nameMatch) fail('a sample must start with a metric name');
  const name = nameMatch![0];
  let rest = line.slice(name.length);
  const labels: Record<string, string> = {};
  if (rest.startsWith('{')) {
    rest = rest.slice(1);
    while (!rest.startsWith('}')) {
      const label = /^([^=]*)="/.exec(rest);
      if (!label || !LABEL_NAME.test(label[1]!)) fail('invalid label name');
      const labelName = label![1]!;
      if (labelName in labels) fail(`label ${labelName} twice`);
      rest = rest.slice(label![0].length);
      let raw = '';
      for (;;) {
        if (rest === '') fail('unterminated label value');
        const c = rest[0]!;
        if (c === '"') break;
        if (c === '\\') {
          raw += rest.slice(0, 2);
          rest = rest.slice(2);
        } else {
          raw += c;
          rest = rest.slice(1);
        }
      }
      labels[labelName] = unescape(raw, true, fail);
      rest = rest.slice(1);
      if (rest.startsWith(',')) rest = rest.slice(1);
      else if (!rest.startsWith('}')) fail('expected , or } after a label');
    }
    rest = rest.slice(1);
  }
  const valueMatch = /^ (\S+)( -?\d+)?$/.exec(rest);
  if (!valueMatch) fail('expected " value [timestamp]" after the name and labels');
  return { name, labels, value: parseValue(valueMatch![1]!, fail) };
}

/** Values as Go's strconv.ParseFloat reads them (what Prometheus uses): NaN and Inf in any case. */
function parseValue(text: string, fail: (why: string) => never): number {
  if (/^nan$/i.test(text)) return Number.NaN;
  const inf = /^([-+]?)inf(inity)?$/i.exec(text);
  if (inf) return inf[1] === '-' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) fail(`invalid value ${text}`);
  return Number(text);
}

/** HELP text escapes \\ and \n; label values also \". */
function unescape(raw: string, quoteAllowed: boolean, fail: (why: string) => never): string {
  return raw.replace(/\\(.?)/g, (_, c: string) => {
    if (c === '\\') return '\\';
    if (c === 'n') return '\n';
    if (c === '"' && quoteAllowed) return '"';
    return fail(`invalid escape \\${c}`);
  });
}

function checkHistogram(family: MetricFamily): void {
  const groups = new Map<string, Sample[]>();
  for (const sample of family.samples) {
    const { le, ...rest } = sample.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    if (sample.name.endsWith('_bucket') && le === undefined) throw new PrometheusParseError(`${family.name}: a bucket without le`);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(sample);
  }
  for (const samples of groups.values()) {
    const buckets = samples.filter((s) => s.name.endsWith('_bucket')).map((s) => ({ le: parseValue(s.labels.le!, (why) => { throw new PrometheusParseError(why); }), value: s.value }));
    buckets.sort((a, b) => a.le - b.le);
    const count = samples.find((s) => s.name === `${family.name}_count`);
    if (buckets.length === 0 || buckets[buckets.length - 1]!.le !== Number.POSITIVE_INFINITY) throw new PrometheusParseError(`${family.name}: no +Inf bucket`);
    if (!count || !samples.some((s) => s.name === `${family.name}_sum`)) throw new PrometheusParseError(`${family.name}: _sum or _count missing`);
    for (let i = 1; i < buckets.length; i++) {
      if (buckets[i]!.value < buckets[i - 1]!.value) throw new PrometheusParseError(`${family.name}: buckets are not cumulative`);
    }
    if (buckets[buckets.length - 1]!.value !== count.value) throw new PrometheusParseError(`${family.name}: the +Inf bucket differs from _count`);
  }
}

/**
 * The value of the one sample named `name` whose labels are exactly `labels`; throws when
 * there is none (a missing series is a failure, not a zero).
 */
export function sampleValue(families: Map<string, MetricFamily>, name: string, labels: Record<string, string> = {}): number {
  const want = JSON.stringify(Object.entries(labels).sort());
  for (const family of families.values()) {
    for (const sample of family.samples) {
      if (sample.name === name && JSON.stringify(Object.entries(sample.labels).sort()) === want) return sample.value;
    }
  }
  throw new Error(`no sample ${name}${JSON.stringify(labels)}`);
}
