// The logger's safety net: secrets named by their key are censored, and errors lose what
// database drivers attach to them (statement parameters, failing rows) before they are written.
import { expect } from 'chai';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { componentLogger, createLogger, serializeError } from '../../src/core/log.js';

function capture(): { stream: Writable; lines: () => Array<Record<string, unknown>> } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString();
      callback();
    },
  });
  return { stream, lines: () => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('logger', function () {
  it('censors passwords, tokens, authorization headers, bodies and stanzas', function () {
    const { stream, lines } = capture();
    const log = createLogger('info', { pretty: false, destination: stream });
    log.info(
      { password: 'p1', params: { password: 'p2', token: 't1' }, req: { headers: { authorization: 'Bearer t2' } }, body: 'b1', message: { body: 'b2' }, stanza: { name: 'message' }, jid: 'a@b.example' },
      'request',
    );
    const [line] = lines();
    const text = JSON.stringify(line);
    for (const secret of ['p1', 'p2', 't1', 'Bearer t2', 'b1', 'b2', '"name":"message"']) expect(text).to.not.include(secret);
    expect(line!.jid).to.equal('a@b.example');
  });

  it('drops statement parameters and failing rows from errors and the errors they carry', function () {
    const row = Object.assign(new Error('null value in column'), { code: '23502', detail: 'Failing row contains (1, alice, <body>secret</body>).' });
    const driver = Object.assign(new Error('relation does not exist'), { code: '42P01', params: ['alice', '<body>secret</body>'], queryOptions: {} });
    const outer = Object.assign(new AggregateError([row], 'insert failed'), { code: 'X1', original: driver });
    const serialized = serializeError(outer) as Record<string, unknown>;
    expect(JSON.stringify(serialized)).to.not.include('secret');
    expect(serialized.code).to.equal('X1');
    expect(serialized.message).to.equal('insert failed');
    expect((serialized.original as Record<string, unknown>).code).to.equal('42P01');
    expect((serialized.aggregateErrors as Array<Record<string, unknown>>)[0]!.code).to.equal('23502');
    // The errors themselves are left as they were: only the logged copy is scrubbed.
    expect(driver.params).to.deep.equal(['alice', '<body>secret</body>']);
    expect(row.detail).to.match(/^Failing row/);
    // Not an error: passed through untouched.
    const plain = { params: [1] };
    expect(serializeError(plain)).to.equal(plain);
  });

  it('applies the serializer to err and error in log lines', function () {
    const { stream, lines } = capture();
    const log = createLogger('info', { pretty: false, destination: stream });
    log.error({ err: Object.assign(new Error('a'), { params: ['secret-a'] }) }, 'one');
    log.error({ error: Object.assign(new Error('b'), { params: ['secret-b'] }) }, 'two');
    const text = lines().map((l) => JSON.stringify(l)).join('\n');
    expect(text).to.not.include('secret-');
    expect(text).to.include('"message":"a"');
  });

  it('gives a component its own level, in either direction', function () {
    const { stream, lines } = capture();
    const root = pino({ level: 'info' }, stream);
    componentLogger(root, 'c2s', { c2s: 'debug', router: 'error' }).debug('c2s debug');
    componentLogger(root, 'router', { c2s: 'debug', router: 'error' }).warn('router warn');
    componentLogger(root, 'storage', { c2s: 'debug' }).debug('storage debug');
    componentLogger(root, 'storage', { c2s: 'debug' }).info('storage info');
    expect(lines().map((l) => [l.component, l.msg])).to.deep.equal([
      ['c2s', 'c2s debug'],
      ['storage', 'storage info'],
    ]);
  });
});
