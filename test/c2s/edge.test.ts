// The edge: each bad input gets the right stream error and a closed connection, while a
// well-behaved session on the same server keeps working throughout (RFC 6120 §4.9, §11).
import { expect } from 'chai';
import { plainAuth, RawConnection, streamHeader } from '../helpers/raw.js';
import { ScramClient } from '../helpers/scram-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { connect, stopQuietly, xml, type Client } from '../helpers/xmpp-client.js';

const NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';

describe('c2s edge cases over raw sockets', function () {
  let tlsRequired: TestServer;
  let plaintext: TestServer;
  let bystander: Client;

  before(async function () {
    tlsRequired = await startTestServer({ host: '127.0.0.102' });
    plaintext = await startTestServer({
      host: '127.0.0.103',
      config: {
        c2s: { requireTls: false, allowPlaintextAuth: true },
        limits: { stanzaBytes: 20_000, depth: 16 },
      },
    });
    await tlsRequired.addUser('watcher', 'secret-1');
    await plaintext.addUser('raw', 'secret-2');
    await plaintext.addUser('peer', 'secret-3');
    bystander = await connect(tlsRequired, 'watcher', 'secret-1', { resource: 'steady' });
  });

  after(async function () {
    await stopQuietly(bystander);
    await tlsRequired?.stop();
    await plaintext?.stop();
  });

  afterEach(async function () {
    // The well-behaved session never notices what other connections did.
    const pong = await bystander.iqCaller.request(xml('iq', { type: 'get', to: tlsRequired.domain }, xml('ping', { xmlns: 'urn:xmpp:ping' })), 3_000);
    expect(pong.attrs.type).to.equal('result');
  });

  async function expectStreamError(server: TestServer, input: Array<string | Buffer>, condition: string): Promise<RawConnection> {
    const raw = await RawConnection.open(server.host, server.port);
    for (const chunk of input) raw.send(chunk);
    expect(await raw.streamErrorAndClose()).to.equal(condition);
    // RFC 6120 §4.9.1.1: the error comes after our stream header and before our close tag.
    expect(raw.text).to.match(/^<\?xml version='1.0'\?><stream:stream /);
    expect(raw.text).to.match(/<\/stream:stream>$/);
    return raw;
  }

  const header = () => streamHeader(tlsRequired.domain);

  describe('restricted XML (§11)', function () {
    it('refuses a DOCTYPE with restricted-xml', async function () {
      await expectStreamError(tlsRequired, [`<?xml version='1.0'?><!DOCTYPE stream [<!ENTITY x 'y'>]>` + header().replace("<?xml version='1.0'?>", '')], 'restricted-xml');
    });
    it('refuses an entity declaration inside the stream with restricted-xml', async function () {
      await expectStreamError(tlsRequired, [header(), `<!ENTITY lol 'lol'>`], 'restricted-xml');
    });
    it('refuses a processing instruction with restricted-xml', async function () {
      await expectStreamError(tlsRequired, [header(), `<?php echo 1; ?>`], 'restricted-xml');
    });
    it('refuses a comment with restricted-xml', async function () {
      await expectStreamError(tlsRequired, [header(), `<!-- hello -->`], 'restricted-xml');
    });
    it('refuses an unknown entity with not-well-formed', async function () {
      await expectStreamError(tlsRequired, [header(), `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls' a='&bogus;'/>`], 'not-well-formed');
    });
    it('refuses &#0; with not-well-formed', async function () {
      await expectStreamError(tlsRequired, [header(), `<x xmlns='urn:x'>&#0;</x>`], 'not-well-formed');
    });
    it('refuses invalid UTF-8 with not-well-formed', async function () {
      await expectStreamError(tlsRequired, [header(), Buffer.from([0x3c, 0x78, 0x3e, 0xc3, 0x28, 0x3c, 0x2f, 0x78, 0x3e])], 'not-well-formed');
    });
    it('refuses mismatched tags with not-well-formed', async function () {
      await expectStreamError(tlsRequired, [header(), `<a xmlns='urn:x'><b></a>`], 'not-well-formed');
    });
    it('refuses duplicate attributes with not-well-formed', async function () {
      await expectStreamError(tlsRequired, [header(), `<a xmlns='urn:x' id='1' id='2'/>`], 'not-well-formed');
    });
    it('refuses a stream closed inside an unclosed element with not-well-formed', async function () {
      await expectStreamError(tlsRequired, [header(), `<a xmlns='urn:x'><b>`, `</stream:stream>`], 'not-well-formed');
    });
    it('refuses garbage bytes with not-well-formed', async function () {
      await expectStreamError(tlsRequired, [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')], 'not-well-formed');
    });
  });

  describe('stream header (§4.7–§4.8)', function () {
    it('refuses a wrong stream namespace with invalid-namespace', async function () {
      await expectStreamError(tlsRequired, [`<stream:stream xmlns='jabber:client' xmlns:stream='urn:wrong' to='${tlsRequired.domain}' version='1.0'>`], 'invalid-namespace');
    });
    it('refuses a wrong content namespace with invalid-namespace', async function () {
      await expectStreamError(tlsRequired, [streamHeader(tlsRequired.domain).replace("xmlns='jabber:client'", "xmlns='jabber:server'")], 'invalid-namespace');
    });
    it('refuses an unknown host with host-unknown', async function () {
      await expectStreamError(tlsRequired, [streamHeader('elsewhere.example')], 'host-unknown');
    });
    it('refuses a missing version and version 0.9 with unsupported-version', async function () {
      await expectStreamError(tlsRequired, [streamHeader(tlsRequired.domain, { version: null })], 'unsupported-version');
      await expectStreamError(tlsRequired, [streamHeader(tlsRequired.domain, { version: '0.9' })], 'unsupported-version');
    });
    it('closes a client that never finishes its header with connection-timeout', async function () {
      this.timeout(10_000);
      const slow = await startTestServer({ host: '127.0.0.104', config: { limits: { unauthenticatedTimeoutS: 1 } } });
      try {
        const raw = await RawConnection.open(slow.host, slow.port);
        const started = Date.now();
        // Trickle the header, a byte every 200 ms.
        const text = streamHeader(slow.domain);
        let i = 0;
        const trickle = setInterval(() => raw.send(text[i++] ?? ' '), 200);
        try {
          expect(await raw.streamErrorAndClose(5_000)).to.equal('connection-timeout');
        } finally {
          clearInterval(trickle);
        }
        expect(Date.now() - started).to.be.within(900, 3_000);
      } finally {
        await slow.stop();
      }
    });
    it('answers a clean close with a clean close', async function () {
      const raw = await RawConnection.open(tlsRequired.host, tlsRequired.port);
      raw.send(header());
      await raw.waitFor(/<\/stream:features>/);
      raw.send('</stream:stream>');
      await raw.closed;
      expect(raw.text).to.match(/<\/stream:stream>$/);
      expect(raw.text).to.not.match(/stream:error/);
    });
  });

  describe('before authentication', function () {
    it('offers only STARTTLS while TLS is required, and answers <auth> with encryption-required', async function () {
      const raw = await RawConnection.open(tlsRequired.host, tlsRequired.port);
      raw.send(header());
      const features = await raw.waitFor(/<stream:features>.*<\/stream:features>/);
      expect(features).to.match(/<starttls xmlns=.urn:ietf:params:xml:ns:xmpp-tls.><required\/><\/starttls>/);
      expect(features).to.not.match(/mechanisms/);
      expect(features).to.not.match(/compression/);
      raw.send(plainAuth('watcher', 'secret-1'));
      await raw.waitFor(/<failure xmlns=.urn:ietf:params:xml:ns:xmpp-sasl.><encryption-required\/><\/failure>/);
      raw.destroy();
    });
    it('refuses a stanza before authentication with not-authorized', async function () {
      await expectStreamError(tlsRequired, [header(), `<message to='watcher@${tlsRequired.domain}'><body>hi</body></message>`], 'not-authorized');
    });
    it('refuses an element over the pre-authentication size limit with policy-violation', async function () {
      await expectStreamError(tlsRequired, [header(), `<auth xmlns='${NS_SASL}' mechanism='PLAIN'>${'A'.repeat(9_000)}</auth>`], 'policy-violation');
    });
    it('limits unauthenticated connections per address', async function () {
      const crowded = await startTestServer({ host: '127.0.0.105', config: { limits: { unauthenticatedPerIp: 2 } } });
      try {
        const a = await RawConnection.open(crowded.host, crowded.port);
        const b = await RawConnection.open(crowded.host, crowded.port);
        await new Promise((r) => setTimeout(r, 50));
        const c = await RawConnection.open(crowded.host, crowded.port);
        expect(await c.streamErrorAndClose()).to.equal('policy-violation');
        expect(a.ended || b.ended).to.equal(false);
        a.destroy();
        b.destroy();
      } finally {
        await crowded.stop();
      }
    });
  });

  describe('after authentication (plaintext loopback server)', function () {
    async function loggedIn(resource = 'raw'): Promise<RawConnection> {
      const raw = await RawConnection.open(plaintext.host, plaintext.port);
      // Auth, restart and bind pipelined in one TCP write.
      raw.send(
        streamHeader(plaintext.domain) +
          plainAuth('raw', 'secret-2') +
          streamHeader(plaintext.domain) +
          `<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${resource}</resource></bind></iq>`,
      );
      await raw.waitFor(new RegExp(`<jid>raw@${plaintext.domain.replace(/\./g, '\\.')}/${resource}</jid>`));
      return raw;
    }

    it('handles auth, restart and bind pipelined in one write', async function () {
      const raw = await loggedIn();
      expect(raw.text).to.match(/<success xmlns=.urn:ietf:params:xml:ns:xmpp-sasl.\/>/);
      expect(raw.text.match(/<stream:stream /g)).to.have.length(2);
      raw.destroy();
    });

    it('accepts whitespace keepalives and a split UTF-8 character', async function () {
      const raw = await loggedIn();
      const peer = await connect(plaintext, 'peer', 'secret-3', { resource: 'p' });
      try {
        const got = new Promise<string>((resolve) => peer.on('stanza', (el) => el.is('message') && resolve(el.getChildText('body') ?? '')));
        const bytes = Buffer.from(`<message to='peer@${plaintext.domain}/p' type='chat'><body>café 日本 🎉</body></message>`);
        const cut = bytes.indexOf(Buffer.from('日')) + 1; // inside the 3-byte character
        raw.send(' \n ');
        raw.send(bytes.subarray(0, cut));
        await new Promise((r) => setTimeout(r, 30));
        raw.send(bytes.subarray(cut));
        expect(await got).to.equal('café 日本 🎉');
      } finally {
        await stopQuietly(peer);
        raw.destroy();
      }
    });

    it('treats __proto__ and constructor as ordinary attributes', async function () {
      const sender = await loggedIn('sender');
      const receiver = await loggedIn('receiver');
      sender.send(`<message to='raw@${plaintext.domain}/receiver' __proto__='polluted' constructor='c' hasOwnProperty='h'><body>x</body></message>`);
      // The receiver sees them on the wire exactly as ordinary attributes.
      const message = await receiver.waitFor(/<message [^>]*>/);
      expect(message).to.include(`__proto__="polluted"`);
      expect(message).to.include(`constructor="c"`);
      expect(message).to.include(`hasOwnProperty="h"`);
      expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
      sender.destroy();
      receiver.destroy();
    });

    it('refuses a stanza over limits.stanzaBytes with policy-violation', async function () {
      const raw = await loggedIn();
      raw.send(`<message to='peer@${plaintext.domain}'><body>${'x'.repeat(25_000)}</body></message>`);
      expect(await raw.streamErrorAndClose()).to.equal('policy-violation');
    });

    it('refuses nesting deeper than limits.depth with policy-violation', async function () {
      const raw = await loggedIn();
      raw.send(`<message to='peer@${plaintext.domain}'>${'<x>'.repeat(40)}`);
      expect(await raw.streamErrorAndClose()).to.equal('policy-violation');
    });

    it('refuses an unknown top-level element with unsupported-stanza-type', async function () {
      const raw = await loggedIn();
      raw.send(`<foo/>`);
      expect(await raw.streamErrorAndClose()).to.equal('unsupported-stanza-type');
    });

    it('offers the optional legacy session and answers it', async function () {
      const raw = await RawConnection.open(plaintext.host, plaintext.port);
      raw.send(streamHeader(plaintext.domain) + plainAuth('raw', 'secret-2') + streamHeader(plaintext.domain));
      const features = await raw.waitFor(/<stream:features><bind.*?<\/stream:features>/);
      expect(features).to.match(/<session xmlns=.urn:ietf:params:xml:ns:xmpp-session.><optional\/><\/session>/);
      raw.send(`<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq><iq type='set' id='s'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>`);
      await raw.waitFor(/<iq type=.result. id=.s.\/>/);
      raw.destroy();
    });

    it('logs in with SCRAM-SHA-256 using an independent client (RFC 7677)', async function () {
      const raw = await RawConnection.open(plaintext.host, plaintext.port);
      raw.send(streamHeader(plaintext.domain));
      const features = await raw.waitFor(/<\/stream:features>/);
      expect(raw.text).to.match(/<mechanism>SCRAM-SHA-256<\/mechanism>/);
      void features;
      const scram = new ScramClient('sha256', 'raw', 'secret-2');
      raw.send(`<auth xmlns='${NS_SASL}' mechanism='SCRAM-SHA-256'>${Buffer.from(scram.first()).toString('base64')}</auth>`);
      const challenge = await raw.waitFor(/<challenge xmlns=.urn:ietf:params:xml:ns:xmpp-sasl.>([^<]+)<\/challenge>/);
      const serverFirst = Buffer.from(/>([^<]+)</.exec(challenge)![1]!, 'base64').toString();
      const final = await scram.final(serverFirst);
      raw.send(`<response xmlns='${NS_SASL}'>${Buffer.from(final).toString('base64')}</response>`);
      const success = await raw.waitFor(/<success xmlns=.urn:ietf:params:xml:ns:xmpp-sasl.>([^<]+)<\/success>/);
      const serverFinal = Buffer.from(/>([^<]+)</.exec(success)![1]!, 'base64').toString();
      expect(scram.verifyServerFinal(serverFinal)).to.equal(true);
      raw.destroy();
    });

    it('slows down repeated failed logins', async function () {
      this.timeout(15_000);
      const guarded = await startTestServer({
        host: '127.0.0.106',
        config: { c2s: { requireTls: false, allowPlaintextAuth: true }, limits: { authFailuresPerMinute: 2 } },
      });
      try {
        await guarded.addUser('victim', 'right');
        const attempt = async () => {
          const raw = await RawConnection.open(guarded.host, guarded.port);
          const started = Date.now();
          raw.send(streamHeader(guarded.domain) + plainAuth('victim', 'wrong'));
          await raw.waitFor(/<failure xmlns=.urn:ietf:params:xml:ns:xmpp-sasl.><not-authorized\/><\/failure>/, 10_000);
          raw.destroy();
          return Date.now() - started;
        };
        const fast = [await attempt(), await attempt()];
        const slowed = await attempt();
        expect(Math.max(...fast)).to.be.below(400);
        expect(slowed).to.be.at.least(400);
      } finally {
        await guarded.stop();
      }
    });
  });
});
