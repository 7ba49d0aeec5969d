// Stream restarts and stream headers over raw sockets (issue 9, "two stream bugs"):
// RFC 6120 §11.5 lets an XML declaration open every stream header, including the restart
// after SASL (§6.4.6), even when the client's previous write ended in white space, as
// go-sendxmpp's `</auth>\n` does; any other processing instruction stays restricted-xml
// (§11.1); a second stream header where no restart is due ends the stream at once with
// unsupported-stanza-type instead of leaving the session waiting for it to end.
import { expect } from 'chai';
import { plainAuth, RawConnection, streamHeader } from '../helpers/raw.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const HOST = '127.0.0.109';
const NS_BIND = 'urn:ietf:params:xml:ns:xmpp-bind';
const NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';

describe('c2s stream restarts and stream headers over raw sockets', function () {
  let server: TestServer;
  const open: RawConnection[] = [];

  before(async function () {
    server = await startTestServer({ host: HOST, config: { c2s: { requireTls: false, allowPlaintextAuth: true } } });
    await server.addUser('alice', 'secret-alice');
  });

  afterEach(function () {
    for (const c of open.splice(0)) c.destroy();
  });

  after(async function () {
    await server?.stop();
  });

  async function connect(): Promise<RawConnection> {
    const c = await RawConnection.open(server.host, server.port);
    open.push(c);
    return c;
  }

  /** The header go-sendxmpp writes: a declaration, the header, a newline. */
  const header = (decl = "<?xml version='1.0'?>") => streamHeader(server.domain).replace("<?xml version='1.0'?>", decl) + '\n';
  const bind = (resource: string) => `<iq type='set' id='bind1'><bind xmlns='${NS_BIND}'><resource>${resource}</resource></bind></iq>`;
  const boundJid = (resource: string) => new RegExp(`<jid>alice@${server.domain.replace(/\./g, '\\.')}/${resource}</jid>`);

  /** Header, features, <auth/> followed by a newline in the same write, <success/>. */
  async function authenticated(): Promise<RawConnection> {
    const c = await connect();
    c.send(header());
    await c.waitFor(/<\/stream:features>/);
    c.send(plainAuth('alice', 'secret-alice') + '\n');
    await c.waitFor(/<success xmlns=.urn:ietf:params:xml:ns:xmpp-sasl.\/>/);
    return c;
  }

  /** Waits for the server to end the stream and returns the condition and how long it took. */
  async function streamError(c: RawConnection, sentAt: number): Promise<{ condition: string | null; ms: number }> {
    const condition = await c.streamErrorAndClose(3_000);
    const ms = Date.now() - sentAt;
    // §4.9.1.1: the error comes inside our stream, which is then closed.
    expect(c.text).to.match(/<\/stream:error><\/stream:stream>$/);
    return { condition, ms };
  }

  describe('an XML declaration opening the restarted stream (RFC 6120 §11.5)', function () {
    it('logs in when the restart after SASL begins with a declaration, as go-sendxmpp does', async function () {
      const c = await authenticated();
      c.send(header());
      const features = await c.waitFor(/<stream:features><bind[\s\S]*?<\/stream:features>/);
      expect(features).to.include(`xmlns="${NS_BIND}"`);
      c.send(bind('restart'));
      await c.waitFor(boundJid('restart'));
      expect(c.text).to.not.match(/stream:error/);
      // The session works: a ping to the server is answered.
      c.send(`<iq type='get' id='p1' to='${server.domain}'><ping xmlns='urn:xmpp:ping'/></iq>`);
      await c.waitFor(/<iq [^>]*id="p1"[^>]*type="result"|<iq [^>]*type="result"[^>]*id="p1"/);
    });

    it('logs in with the declaration (encoding UTF-8, standalone) split across writes', async function () {
      const c = await authenticated();
      const restart = header(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>`);
      // Cut inside "<?xml", inside the pseudo-attributes and right before "?>".
      const cuts = [0, 3, 9, 30, restart.indexOf('?>'), restart.length];
      for (let k = 1; k < cuts.length; k++) {
        c.send(restart.slice(cuts[k - 1], cuts[k]));
        await new Promise((r) => setTimeout(r, 20));
      }
      await c.waitFor(/<stream:features><bind[\s\S]*?<\/stream:features>/);
      c.send(bind('split'));
      await c.waitFor(boundJid('split'));
    });

    it('logs in with auth, newline, declaration, restart and bind pipelined in one write', async function () {
      const c = await connect();
      c.send(header() + plainAuth('alice', 'secret-alice') + '\n' + header() + bind('pipelined'));
      await c.waitFor(boundJid('pipelined'));
      expect(c.text.match(/<stream:stream /g)).to.have.length(2);
    });

    it('refuses a non-UTF-8 encoding declared on the restart with unsupported-encoding', async function () {
      const c = await authenticated();
      const sentAt = Date.now();
      c.send(header("<?xml version='1.0' encoding='ISO-8859-1'?>"));
      expect((await streamError(c, sentAt)).condition).to.equal('unsupported-encoding');
    });
  });

  describe('processing instructions anywhere else (RFC 6120 §11.1)', function () {
    const cases: Array<[string, () => string]> = [
      ['another processing instruction opening the restart', () => `<?xml-stylesheet href='a.xsl'?>` + header('')],
      ['a second declaration opening the restart', () => `<?xml version='1.0'?>` + header()],
      ['a declaration after the restarted header', () => header() + `<?xml version='1.0'?>`],
      ['a processing instruction inside a stanza of the restarted stream', () => header() + `<iq type='get' id='x'><?php echo 1; ?></iq>`],
    ];
    for (const [what, input] of cases) {
      it(`refuses ${what} with restricted-xml`, async function () {
        const c = await authenticated();
        const sentAt = Date.now();
        c.send(input());
        expect((await streamError(c, sentAt)).condition).to.equal('restricted-xml');
      });
    }

    it('refuses a declaration in the middle of a bound session with restricted-xml', async function () {
      const c = await authenticated();
      c.send(header() + bind('middle'));
      await c.waitFor(boundJid('middle'));
      const sentAt = Date.now();
      c.send(`\n<?xml version='1.0'?>`);
      expect((await streamError(c, sentAt)).condition).to.equal('restricted-xml');
    });

    it('refuses a declaration after white space at the very start of a connection with restricted-xml', async function () {
      const c = await connect();
      const sentAt = Date.now();
      c.send('\n' + header());
      expect((await streamError(c, sentAt)).condition).to.equal('restricted-xml');
    });
  });

  describe('a second stream header where no restart is due', function () {
    async function expectEndedAtOnce(c: RawConnection, second: string): Promise<void> {
      const sentAt = Date.now();
      c.send(second);
      const { condition, ms } = await streamError(c, sentAt);
      expect(condition).to.equal('unsupported-stanza-type');
      expect(ms, 'the connection closes within a second').to.be.below(1_000);
    }

    it('ends the stream at once with unsupported-stanza-type before authentication', async function () {
      const c = await connect();
      c.send(header());
      await c.waitFor(/<\/stream:features>/);
      await expectEndedAtOnce(c, streamHeader(server.domain).replace("<?xml version='1.0'?>", ''));
    });

    it('ends a bound session at once with unsupported-stanza-type', async function () {
      const c = await authenticated();
      c.send(header() + bind('second'));
      await c.waitFor(boundJid('second'));
      await expectEndedAtOnce(c, `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='${server.domain}' version='1.0'>`);
    });

    it('ends the stream at once when the second header is self-closed or uses another prefix', async function () {
      const a = await connect();
      a.send(header());
      await a.waitFor(/<\/stream:features>/);
      await expectEndedAtOnce(a, `<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>`);
      const b = await connect();
      b.send(header());
      await b.waitFor(/<\/stream:features>/);
      await expectEndedAtOnce(b, `<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:client' to='${server.domain}' version='1.0'>`);
    });

    it('ends an inbound s2s stream at once with unsupported-stanza-type too', async function () {
      const port = server.server.s2s.bound[0]!.port;
      const c = await RawConnection.open(server.host, port);
      open.push(c);
      const s2sHeader = `<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='peer.example' to='${server.domain}' version='1.0'>`;
      c.send(s2sHeader);
      await c.waitFor(/<\/stream:features>/);
      await expectEndedAtOnce(c, s2sHeader.replace("<?xml version='1.0'?>", ''));
    });
  });
});
