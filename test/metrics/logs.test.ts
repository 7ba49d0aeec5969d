// The log of a started server, read line by line: no password, SASL payload or message body
// at info or above, whatever happens (logins that succeed and fail, accounts created and
// changed through the control socket, messages delivered, stored offline, and lost to a
// database failure); and `log.components` gives one component its own level.
import { expect } from 'chai';
import { Writable } from 'node:stream';
import { sql } from 'kysely';
import { ControlClient } from '../../src/control/client.js';
import { controlSocketPath } from '../../src/core/data-dir.js';
import { createLogger, type LogLevel } from '../../src/core/log.js';
import { startTestServer, type TestServer, type TestServerOptions } from '../helpers/server.js';
import { collectStanzas, connect, delay, stopQuietly, xml, type Client, type Element } from '../helpers/xmpp-client.js';

interface LogLine {
  level: number;
  msg?: string;
  component?: string;
  [key: string]: unknown;
}

/** A pino destination in memory. */
class LogCapture extends Writable {
  private text = '';

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString();
    callback();
  }

  /** Every complete line, raw and parsed (each must be one JSON object). */
  lines(): Array<{ raw: string; line: LogLine }> {
    return this.text
      .split('\n')
      .filter((raw) => raw !== '')
      .map((raw) => ({ raw, line: JSON.parse(raw) as LogLine }));
  }
}

async function startLogged(host: string, level: LogLevel, options: Omit<TestServerOptions, 'host' | 'log'> = {}): Promise<{ ts: TestServer; capture: LogCapture }> {
  const capture = new LogCapture();
  const ts = await startTestServer({ ...options, host, log: createLogger(level, { pretty: false, destination: capture }) });
  return { ts, capture };
}

async function waitFor(inbox: Element[], match: (el: Element) => boolean, what: string): Promise<Element> {
  const deadline = Date.now() + 3_000;
  for (;;) {
    const found = inbox.find(match);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got:\n${inbox.map(String).join('\n')}`);
    await delay(10);
  }
}

const INFO = 30;

describe('logs never carry secrets', function () {
  const PASSWORDS = {
    alice: 'Alice-Pw-7f3a9c',
    bob: 'Bob-Pw-51e0d2',
    wrong: 'Wrong-Pw-a8b1c4',
    dave: 'Dave-Pw-0c9e33',
    daveNew: 'Dave-New-Pw-77ab10',
  };
  const BODIES = {
    online: 'Body-4d2f-distinctive',
    offline: 'Offline-Body-9a7e-distinctive',
    lost: 'Lost-Body-3c5d-distinctive',
  };
  let ts: TestServer;
  let capture: LogCapture;
  const clients: Client[] = [];

  before(async function () {
    this.timeout(90_000);
    // Everything down to trace is captured; the assertions pick the levels.
    ({ ts, capture } = await startLogged('127.0.0.141', 'trace'));
    await ts.addUser('alice', PASSWORDS.alice);
    await ts.addUser('bob', PASSWORDS.bob);
    await ts.addUser('carol', 'carol-unused');
  });

  after(async function () {
    await Promise.all(clients.splice(0).map(stopQuietly));
    await ts?.stop();
  });

  it('leaves passwords, SASL payloads and bodies out of every line at info and above', async function () {
    // Accounts through the control socket, as `hearth user add|passwd` does it.
    const control = await ControlClient.connect(controlSocketPath(ts.dataDir));
    expect(control).to.not.equal(null);
    await control!.call('user.add', { jid: `dave@${ts.domain}`, password: PASSWORDS.dave });
    await control!.call('user.passwd', { jid: `dave@${ts.domain}`, password: PASSWORDS.daveNew });
    control!.close();

    // Logins: SCRAM, PLAIN, a wrong password, and the changed password.
    const alice = await connect(ts, 'alice', PASSWORDS.alice, { mechanism: 'SCRAM-SHA-1' });
    const bob = await connect(ts, 'bob', PASSWORDS.bob, { mechanism: 'PLAIN' });
    clients.push(alice, bob);
    const refused = await connect(ts, 'alice', PASSWORDS.wrong, { mechanism: 'PLAIN' }).then(
      () => 'logged in',
      (err: unknown) => String(err),
    );
    expect(refused).to.match(/not-authorized/);
    clients.push(await connect(ts, 'dave', PASSWORDS.daveNew, { mechanism: 'PLAIN' }));

    // A message delivered, one stored offline, and one lost because the database fails.
    const bobInbox = collectStanzas(bob);
    const aliceInbox = collectStanzas(alice);
    await alice.send(xml('message', { to: bob.jid!.toString(), type: 'chat' }, xml('body', {}, BODIES.online)));
    await waitFor(bobInbox, (el) => el.is('message') && el.getChildText('body') === BODIES.online, 'the delivered message');
    await alice.send(xml('message', { to: `carol@${ts.domain}`, type: 'chat' }, xml('body', {}, BODIES.offline)));
    const deadline = Date.now() + 3_000;
    while ((await ts.server.stores.offline.list('carol', ts.domain)).length === 0) {
      if (Date.now() > deadline) throw new Error('the offline message was not stored');
      await delay(20);
    }
    await sql`alter table offline_messages rename to offline_messages_gone`.execute(ts.database.db);
    try {
      await alice.send(xml('message', { to: `carol@${ts.domain}`, type: 'chat', id: 'lost' }, xml('body', {}, BODIES.lost)));
      await waitFor(aliceInbox, (el) => el.attrs.id === 'lost' && el.attrs.type === 'error', 'the error for the lost message');
    } finally {
      await sql`alter table offline_messages_gone rename to offline_messages`.execute(ts.database.db);
    }

    const lines = capture.lines();
    // The scenario did reach the log: logins at info, and the failure at error with its cause.
    expect(lines.filter(({ line }) => line.msg === 'authenticated' && line.level === INFO)).to.have.length(3);
    const failure = lines.find(({ line }) => line.level >= 50 && line.msg === 'hook failed');
    expect(failure, 'the failed offline write is logged').to.not.equal(undefined);
    expect(failure!.raw).to.match(/offline_messages/);

    const plainPayloads = [
      ['alice', PASSWORDS.wrong],
      ['bob', PASSWORDS.bob],
      ['dave', PASSWORDS.daveNew],
    ].map(([user, password]) => Buffer.from(`\0${user}\0${password}`).toString('base64'));
    const secrets = [...Object.values(PASSWORDS), ...Object.values(BODIES), ...plainPayloads];
    for (const { raw, line } of lines) {
      if (line.level < INFO) continue;
      for (const secret of secrets) expect(raw, `a log line at level ${line.level}`).to.not.include(secret);
    }
    // Passwords are not logged at any level, not even debug and trace.
    for (const { raw } of lines) for (const password of Object.values(PASSWORDS)) expect(raw).to.not.include(password);
  });
});

describe('log levels per component (log.components)', function () {
  let ts: TestServer;
  let capture: LogCapture;

  before(async function () {
    this.timeout(90_000);
    // The root logger says warn; the c2s component says debug.
    ({ ts, capture } = await startLogged('127.0.0.142', 'warn', { config: { log: { level: 'warn', components: { c2s: 'debug' } } } }));
    await ts.addUser('erin', 'erin-password');
  });

  after(async function () {
    await ts?.stop();
  });

  it('logs c2s down to debug while everything else stays at warn', async function () {
    const erin = await connect(ts, 'erin', 'erin-password');
    await stopQuietly(erin);
    const lines = capture.lines().map(({ line }) => line);
    expect(lines.some((l) => l.component === 'c2s' && l.level === 20 && l.msg === 'bound')).to.equal(true);
    expect(lines.some((l) => l.component === 'c2s' && l.level === INFO && l.msg === 'authenticated')).to.equal(true);
    // "certificate loaded" is info on the root logger: below its warn.
    expect(lines.filter((l) => l.level < 40 && l.component !== 'c2s')).to.deep.equal([]);
  });
});
