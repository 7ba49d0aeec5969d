// go-sendxmpp (Debian's package) as a second real client, next to @xmpp/client: it logs in
// over STARTTLS and over direct TLS (XEP-0368), verifying Hearth's certificate against the
// test CA, and sends a message that an @xmpp/client user receives. Its restarted stream after
// SASL begins with an XML declaration, right after a newline it wrote behind </auth>
// (issue 9: Hearth used to close that stream with restricted-xml).
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { startTestServer, type TestServer } from '../test/helpers/server.js';
import { collectStanzas, connect, roundTrip, stopQuietly, waitForStanza, xml, type Client, type Element } from '../test/helpers/xmpp-client.js';

const HOST = '127.0.0.109';
const CA = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures', 'tls', 'ca.crt');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('go-sendxmpp against Hearth', function () {
  let server: TestServer;
  let home: string;
  let receiver: Client | undefined;
  let inbox: Element[];

  before(async function () {
    const version = spawnSync('go-sendxmpp', ['--version'], { encoding: 'utf8' });
    if (version.status !== 0) {
      throw new Error('go-sendxmpp is not installed: run clients-tests/install-go-sendxmpp.sh (npm run test:clients does)');
    }
    // An empty home: no sendxmpprc of the machine's user is read.
    home = await mkdtemp(path.join(tmpdir(), 'hearth-go-sendxmpp-'));
    server = await startTestServer({ host: HOST });
    await server.addUser('sender', 'sender-secret-1');
    await server.addUser('receiver', 'receiver-secret-1');
    receiver = await connect(server, 'receiver', 'receiver-secret-1', { resource: 'inbox' });
    inbox = collectStanzas(receiver);
    // Available, so that messages to the bare JID are delivered, not stored offline (RFC 6121 §8.5.2).
    await receiver.send(xml('presence'));
    await roundTrip(receiver);
  });

  after(async function () {
    await stopQuietly(receiver);
    await server?.stop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  /** go-sendxmpp ARGS with the message on stdin; asynchronous, since the server runs in this process. */
  function goSendxmpp(args: string[], message: string): Promise<Run> {
    return new Promise((resolve) => {
      const child = execFile(
        'go-sendxmpp',
        args,
        {
          encoding: 'utf8',
          timeout: 30_000,
          // Go reads its trusted roots from SSL_CERT_FILE: the test CA only, so the
          // certificate is really verified (no --no-tls-verify).
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, SSL_CERT_FILE: CA },
        },
        (_err, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }),
      );
      child.stdin!.end(message + '\n');
    });
  }

  /** -j gives the server's address, so go-sendxmpp needs no DNS (SRV) lookup. */
  function loginArgs(options: { directTls: boolean; password?: string }): string[] {
    const port = options.directTls ? server.directTlsPort : server.port;
    return [
      ...(options.directTls ? ['--tls'] : []),
      '--username',
      `sender@${server.domain}`,
      '--password',
      options.password ?? 'sender-secret-1',
      '--jserver',
      `${HOST}:${port}`,
      '--timeout',
      '15',
    ];
  }

  async function sendAndReceive(directTls: boolean, body: string): Promise<Element> {
    const run = await goSendxmpp([...loginArgs({ directTls }), `receiver@${server.domain}`], body);
    expect(run.stderr, 'go-sendxmpp reported an error').to.equal('');
    expect(run.code).to.equal(0);
    const message = await waitForStanza(inbox, (el) => el.is('message') && el.getChildText('body') === body, `the message "${body}"`, 5_000);
    expect(message.attrs.from).to.match(new RegExp(`^sender@${server.domain.replace(/\./g, '\\.')}/.+`));
    expect(message.attrs.to).to.match(new RegExp(`^receiver@${server.domain.replace(/\./g, '\\.')}`));
    return message;
  }

  it('logs in over STARTTLS and sends a message that an @xmpp/client user receives', async function () {
    const message = await sendAndReceive(false, 'hello over STARTTLS');
    expect(message.attrs.type).to.equal('chat');
  });

  it('logs in over direct TLS (XEP-0368) and sends a message', async function () {
    await sendAndReceive(true, 'hello over direct TLS');
  });

  it('delivers markup characters and non-ASCII text intact', async function () {
    await sendAndReceive(false, `<b>&amp; "quotes" 'apos' café 日本 🎉</b>`);
  });

  it('is refused with a wrong password, and nothing is delivered', async function () {
    const before = inbox.length;
    const run = await goSendxmpp([...loginArgs({ directTls: false, password: 'wrong-password' }), `receiver@${server.domain}`], 'must not arrive');
    expect(run.code).to.not.equal(0);
    // SASL failure (RFC 6120 §6.5.10), as go-sendxmpp reports it.
    expect(run.stderr).to.match(/auth failure: not-authorized/);
    await new Promise((r) => setTimeout(r, 300));
    expect(inbox.slice(before).filter((el) => el.is('message'))).to.deep.equal([]);
  });
});
