// XEP-0388 SASL2, XEP-0386 Bind 2, XEP-0440 channel-binding types, SCRAM-*-PLUS (RFC 5802
// §6 with RFC 9266 and RFC 5929) and XEP-0474 downgrade protection, over raw TLS sockets.
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import type ltx from 'ltx';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { clientChannelBinding, mechanismsOf, nextElement, openSasl2Stream, sasl2Authenticate, ssdpHash } from '../helpers/sasl2.js';
import { RawConnection, streamHeader } from '../helpers/raw.js';
import { ScramClient } from '../helpers/scram-client.js';

const HOST = '127.0.0.190';
const PASSWORD = 'correct horse';

function child(features: ltx.Element, name: string, ns: string): ltx.Element | undefined {
  return features.getChild(name, ns);
}

describe('SASL2 (XEP-0388), channel binding and downgrade protection', function () {
  let ts: TestServer;
  const opened: RawConnection[] = [];

  before(async function () {
    this.timeout(30_000);
    ts = await startTestServer({ host: HOST });
    await ts.addUser('alice', PASSWORD);
    await ts.addUser('bob', PASSWORD);
  });

  afterEach(() => {
    for (const raw of opened.splice(0)) raw.destroy();
  });

  after(async function () {
    this.timeout(20_000);
    await ts?.stop();
  });

  async function open(options: { maxVersion?: 'TLSv1.2' | 'TLSv1.3' } = {}) {
    const stream = await openSasl2Stream(ts, options);
    opened.push(stream.raw);
    return stream;
  }

  it('offers SASL2 with Bind 2, FAST and resumption inline, and the channel-binding types, only after TLS', async function () {
    const plain = await RawConnection.open(ts.host, ts.port);
    opened.push(plain);
    plain.send(streamHeader(ts.domain));
    const before = await plain.waitFor(/<stream:features>[\s\S]*?<\/stream:features>/);
    expect(before).to.not.include('urn:xmpp:sasl:2');
    expect(before).to.not.include('urn:xmpp:sasl-cb:0');

    const { features } = await open();
    const authentication = child(features, 'authentication', 'urn:xmpp:sasl:2')!;
    expect(authentication, 'the SASL2 feature').to.exist;
    expect(mechanismsOf(authentication)).to.include.members(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-1-PLUS', 'SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN']);
    // The same mechanisms as RFC 6120 SASL on this stream.
    expect(mechanismsOf(authentication)).to.deep.equal(mechanismsOf(child(features, 'mechanisms', 'urn:ietf:params:xml:ns:xmpp-sasl')));
    const inline = authentication.getChild('inline')!;
    const bindVars = inline.getChild('bind', 'urn:xmpp:bind:0')!.getChild('inline')!.getChildren('feature').map((f) => f.attrs.var);
    expect(bindVars).to.include.members(['urn:xmpp:carbons:2', 'urn:xmpp:csi:0', 'urn:xmpp:sm:3']);
    expect(mechanismsOf(inline.getChild('fast', 'urn:xmpp:fast:0'))).to.have.members(['HT-SHA-256-EXPR', 'HT-SHA-256-ENDP', 'HT-SHA-256-NONE']);
    expect(inline.getChild('sm', 'urn:xmpp:sm:3')).to.exist;
    const types = child(features, 'sasl-channel-binding', 'urn:xmpp:sasl-cb:0')!.getChildren('channel-binding').map((c) => c.attrs.type);
    expect(types).to.have.members(['tls-exporter', 'tls-server-end-point']);
  });

  it('offers tls-exporter only on TLS 1.3 (RFC 9266 §3)', async function () {
    const { features } = await open({ maxVersion: 'TLSv1.2' });
    const types = child(features, 'sasl-channel-binding', 'urn:xmpp:sasl-cb:0')!.getChildren('channel-binding').map((c) => c.attrs.type);
    expect(types).to.deep.equal(['tls-server-end-point']);
    const fast = child(features, 'authentication', 'urn:xmpp:sasl:2')!.getChild('inline')!.getChild('fast', 'urn:xmpp:fast:0');
    expect(mechanismsOf(fast)).to.have.members(['HT-SHA-256-ENDP', 'HT-SHA-256-NONE']);
  });

  it('authenticates with SCRAM-SHA-256, proves the server, and continues the same stream with new features', async function () {
    const { raw } = await open();
    const result = await sasl2Authenticate(raw, { mechanism: 'SCRAM-SHA-256', username: 'alice', secret: PASSWORD });
    expect(result.ok, result.element.toString()).to.equal(true);
    expect(result.serverVerified, 'server signature').to.equal(true);
    expect(result.element.getChildText('authorization-identifier')).to.equal(`alice@${ts.domain}`);
    // §2.6.1: features follow at once, without a stream restart: resource binding is next.
    const mark = raw.text.indexOf('</success>');
    const features = await nextElement(raw, mark, ['stream:features']);
    expect(features.element.getChild('bind', 'urn:ietf:params:xml:ns:xmpp-bind')).to.exist;
    expect(raw.text.slice(mark)).to.not.include('<stream:stream');
    raw.send(`<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>desk</resource></bind></iq>`);
    await raw.waitFor(new RegExp(`<jid>alice@${ts.domain.replace(/\./g, '\\.')}/desk</jid>`));
  });

  it('refuses a wrong password and an unknown account alike, with SASL2 failures', async function () {
    const { raw } = await open();
    const wrong = await sasl2Authenticate(raw, { mechanism: 'SCRAM-SHA-1', username: 'alice', secret: 'nope' });
    expect(wrong.ok).to.equal(false);
    expect(wrong.element.attrs.xmlns).to.equal('urn:xmpp:sasl:2');
    expect(wrong.element.getChild('not-authorized', 'urn:ietf:params:xml:ns:xmpp-sasl')).to.exist;
    const unknown = await sasl2Authenticate(raw, { mechanism: 'SCRAM-SHA-1', username: 'nobody', secret: 'nope' });
    expect(unknown.element.getChild('not-authorized', 'urn:ietf:params:xml:ns:xmpp-sasl')).to.exist;
    // Still unauthenticated after failures: the client may try again on the same stream.
    const right = await sasl2Authenticate(raw, { mechanism: 'SCRAM-SHA-1', username: 'alice', secret: PASSWORD });
    expect(right.ok).to.equal(true);
  });

  it('fails a mechanism or upgrade that was not offered', async function () {
    const { raw } = await open();
    const bogus = await sasl2Authenticate(raw, { mechanism: 'DIGEST-MD5', username: 'alice', secret: PASSWORD });
    expect(bogus.element.getChild('invalid-mechanism', 'urn:ietf:params:xml:ns:xmpp-sasl')).to.exist;
    const mark = raw.text.length;
    raw.send(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-1' upgrade='SCRAM-SHA-512'><initial-response>${Buffer.from('n,,n=alice,r=abcdef').toString('base64')}</initial-response></authenticate>`);
    const failure = await nextElement(raw, mark, ['failure']);
    expect(failure.element.getChild('invalid-mechanism', 'urn:ietf:params:xml:ns:xmpp-sasl')).to.exist;
  });

  for (const type of ['tls-exporter', 'tls-server-end-point'] as const) {
    it(`binds SCRAM-SHA-256-PLUS and SCRAM-SHA-1-PLUS to the channel with ${type}, and refuses a mismatched binding`, async function () {
      for (const mechanism of ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-1-PLUS']) {
        const { raw } = await open();
        const good = await sasl2Authenticate(raw, { mechanism, username: 'alice', secret: PASSWORD, cbType: type });
        expect(good.ok, `${mechanism}: ${good.element.toString()}`).to.equal(true);
        expect(good.serverVerified).to.equal(true);
      }
      const { raw } = await open();
      // The data of another TLS connection: what an interceptor in the middle would have.
      const other = await open();
      const foreign = clientChannelBinding(other.raw, type);
      expect(foreign.equals(clientChannelBinding(raw, type)), 'two connections, two bindings').to.equal(type === 'tls-server-end-point');
      const forged = await sasl2Authenticate(raw, { mechanism: 'SCRAM-SHA-256-PLUS', username: 'alice', secret: PASSWORD, cbType: type, cbData: Buffer.alloc(32, 7) });
      expect(forged.ok).to.equal(false);
      expect(forged.element.getChild('not-authorized', 'urn:ietf:params:xml:ns:xmpp-sasl')).to.exist;
    });
  }

  it('refuses an intercepted tls-exporter binding (the data of another connection)', async function () {
    const { raw } = await open();
    const other = await open();
    const result = await sasl2Authenticate(raw, {
      mechanism: 'SCRAM-SHA-256-PLUS', username: 'alice', secret: PASSWORD, cbType: 'tls-exporter', cbData: clientChannelBinding(other.raw, 'tls-exporter'),
    });
    expect(result.ok).to.equal(false);
  });

  it('refuses the "y" flag where channel binding was offered: the list was downgraded (RFC 5802 §6)', async function () {
    const { raw } = await open();
    const result = await sasl2Authenticate(raw, { mechanism: 'SCRAM-SHA-256', username: 'alice', secret: PASSWORD, cbindFlag: 'y' });
    expect(result.ok).to.equal(false);
    expect(result.element.getChild('not-authorized', 'urn:ietf:params:xml:ns:xmpp-sasl')).to.exist;
  });

  it('signs the advertised mechanisms and channel bindings with XEP-0474, so a client detects a downgraded list', async function () {
    const { raw, features } = await open();
    const offered = mechanismsOf(child(features, 'authentication', 'urn:xmpp:sasl:2'));
    const types = child(features, 'sasl-channel-binding', 'urn:xmpp:sasl-cb:0')!.getChildren('channel-binding').map((c) => c.attrs.type as string);
    const result = await sasl2Authenticate(raw, { mechanism: 'SCRAM-SHA-256', username: 'alice', secret: PASSWORD });
    expect(result.ok).to.equal(true);
    const h = result.scram!.serverFirstAttributes.get('h');
    expect(h, 'the h attribute').to.be.a('string');
    expect(h).to.equal(ssdpHash('sha256', offered, types));
    // What a client shown a list stripped of the -PLUS mechanisms and channel bindings computes:
    const stripped = ssdpHash('sha256', offered.filter((m) => !m.endsWith('-PLUS')), null);
    expect(stripped).to.not.equal(h);

    // RFC 6120 SASL carries it too, with the SHA-1 hash for SCRAM-SHA-1.
    const legacy = await open();
    const scram = new ScramClient('sha1', 'alice', PASSWORD);
    const mark = legacy.raw.text.length;
    legacy.raw.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>${Buffer.from(scram.first()).toString('base64')}</auth>`);
    const challenge = await nextElement(legacy.raw, mark, ['challenge']);
    await scram.final(Buffer.from(challenge.element.getText(), 'base64').toString());
    const legacyOffered = mechanismsOf(child(legacy.features, 'mechanisms', 'urn:ietf:params:xml:ns:xmpp-sasl'));
    expect(scram.serverFirstAttributes.get('h')).to.equal(ssdpHash('sha1', legacyOffered, types));
  });

  it('binds with Bind 2: a resource from the tag, stable per device, carbons and stream management inline', async function () {
    const device = randomUUID();
    const bind = `<bind xmlns='urn:xmpp:bind:0'><tag>Hearth Tests</tag><enable xmlns='urn:xmpp:carbons:2'/><enable xmlns='urn:xmpp:sm:3' resume='true'/></bind>`;
    const first = await open();
    const one = await sasl2Authenticate(first.raw, { mechanism: 'SCRAM-SHA-256', username: 'alice', secret: PASSWORD, userAgentId: device, inline: bind });
    expect(one.ok, one.element.toString()).to.equal(true);
    const jid = one.element.getChildText('authorization-identifier')!;
    expect(jid).to.match(new RegExp(`^alice@${ts.domain.replace(/\./g, '\\.')}/Hearth Tests/[A-Za-z0-9_-]+$`));
    expect(jid, 'the user-agent id stays private').to.not.include(device);
    const bound = one.element.getChild('bound', 'urn:xmpp:bind:0')!;
    const enabled = bound.getChild('enabled', 'urn:xmpp:sm:3')!;
    expect(enabled.attrs.resume).to.equal('true');
    expect(enabled.attrs.id).to.be.a('string');
    expect(bound.getChild('metadata', 'urn:xmpp:mam:2'), 'archive metadata').to.exist;
    // The features after a Bind 2 success no longer offer binding.
    const features = await nextElement(first.raw, first.raw.text.indexOf('</success>'), ['stream:features']);
    expect(features.element.getChild('bind', 'urn:ietf:params:xml:ns:xmpp-bind')).to.not.exist;
    expect(features.element.getChild('sm', 'urn:xmpp:sm:3')).to.not.exist;

    // Carbons are on: a message bob sends to another resource of alice is copied here.
    const second = await open();
    const other = await sasl2Authenticate(second.raw, { mechanism: 'SCRAM-SHA-256', username: 'alice', secret: PASSWORD, userAgentId: randomUUID(), inline: `<bind xmlns='urn:xmpp:bind:0'><tag>Other</tag></bind>` });
    const otherJid = other.element.getChildText('authorization-identifier')!;
    expect(otherJid).to.not.equal(jid);
    // XEP-0280 copies go to available resources.
    first.raw.send('<presence/>');
    second.raw.send('<presence/>');
    await first.raw.waitFor(new RegExp(`<presence[^>]*from=['"]${otherJid.replace(/[.]/g, '\\.')}['"]`));
    const bobStream = await open();
    await sasl2Authenticate(bobStream.raw, { mechanism: 'SCRAM-SHA-256', username: 'bob', secret: PASSWORD, inline: `<bind xmlns='urn:xmpp:bind:0'/>` });
    bobStream.raw.send(`<message type='chat' to='${otherJid}' id='m1'><body>to the other device</body></message>`);
    await first.raw.waitFor(/<received xmlns=['"]urn:xmpp:carbons:2['"]>[\s\S]*to the other device/);

    // The same device again: the same resource, and the earlier session gives way.
    const again = await open();
    const two = await sasl2Authenticate(again.raw, { mechanism: 'SCRAM-SHA-256', username: 'alice', secret: PASSWORD, userAgentId: device, inline: `<bind xmlns='urn:xmpp:bind:0'><tag>Hearth Tests</tag></bind>` });
    expect(two.element.getChildText('authorization-identifier')).to.equal(jid);
    expect(await first.raw.streamErrorAndClose()).to.equal('conflict');
  });

  it('leaves archived offline messages to the archive on a Bind 2 sign-in (§3.2), and starts the session inactive when asked (CSI)', async function () {
    await ts.addUser('carol', PASSWORD);
    const sender = await open();
    await sasl2Authenticate(sender.raw, { mechanism: 'SCRAM-SHA-256', username: 'bob', secret: PASSWORD, inline: `<bind xmlns='urn:xmpp:bind:0'/>` });
    sender.raw.send(`<message type='chat' to='carol@${ts.domain}' id='away'><body>while you were away</body></message>`);
    const deadline = Date.now() + 5_000;
    while ((await ts.server.stores.offline.list('carol', ts.domain)).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await ts.server.stores.offline.list('carol', ts.domain)).to.have.length(1);

    const carol = await open();
    const result = await sasl2Authenticate(carol.raw, { mechanism: 'SCRAM-SHA-256', username: 'carol', secret: PASSWORD, userAgentId: randomUUID(), inline: `<bind xmlns='urn:xmpp:bind:0'><tag>phone</tag><inactive xmlns='urn:xmpp:csi:0'/></bind>` });
    expect(result.ok, result.element.toString()).to.equal(true);
    // The archive's bounds in <bound/> tell the client where to catch up from.
    const metadata = result.element.getChild('bound', 'urn:xmpp:bind:0')!.getChild('metadata', 'urn:xmpp:mam:2')!;
    expect(metadata.getChild('end')?.attrs.id, 'the archive holds the message').to.be.a('string');
    carol.raw.send(`<presence/><iq type='get' id='ping1'><ping xmlns='urn:xmpp:ping'/></iq>`);
    await carol.raw.waitFor(/id=['"]ping1['"]/);
    expect(carol.raw.text, 'not pushed: the archive has it').to.not.include('while you were away');
    // The queue is emptied by the session-bound hook, which runs beside the stream (on
    // PostgreSQL its read and delete may still be in flight when the ping is answered).
    const emptiedBy = Date.now() + 5_000;
    while ((await ts.server.stores.offline.list('carol', ts.domain)).length > 0 && Date.now() < emptiedBy) await new Promise((r) => setTimeout(r, 20));
    expect(await ts.server.stores.offline.list('carol', ts.domain)).to.deep.equal([]);

    // CSI: inactive from the start, so a presence waits until the client says it is active.
    sender.raw.send(`<presence to='carol@${ts.domain}'><status>hello</status></presence><iq type='get' id='ping2'><ping xmlns='urn:xmpp:ping'/></iq>`);
    await sender.raw.waitFor(/id=['"]ping2['"]/);
    // (No iq to carol here: an answer is urgent, and flushes what was held before it.)
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(carol.raw.text, 'held while inactive').to.not.include('<status>hello</status>');
    carol.raw.send(`<active xmlns='urn:xmpp:csi:0'/>`);
    await carol.raw.waitFor(/<status>hello<\/status>/);
  });

  it('resumes a session inline (XEP-0198 with SASL2), and binds anew when resumption fails', async function () {
    const device = randomUUID();
    const first = await open();
    const one = await sasl2Authenticate(first.raw, { mechanism: 'SCRAM-SHA-256', username: 'bob', secret: PASSWORD, userAgentId: device, inline: `<bind xmlns='urn:xmpp:bind:0'><tag>r</tag><enable xmlns='urn:xmpp:sm:3' resume='true'/></bind>` });
    const jid = one.element.getChildText('authorization-identifier')!;
    const previd = one.element.getChild('bound', 'urn:xmpp:bind:0')!.getChild('enabled', 'urn:xmpp:sm:3')!.attrs.id as string;
    first.raw.send(`<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>`);
    await first.raw.waitFor(/id=['"]p1['"]/);
    first.raw.destroy();
    await new Promise((resolve) => setTimeout(resolve, 200));

    const second = await open();
    const two = await sasl2Authenticate(second.raw, {
      mechanism: 'SCRAM-SHA-256', username: 'bob', secret: PASSWORD, userAgentId: device,
      inline: `<resume xmlns='urn:xmpp:sm:3' previd='${previd}' h='0'/><bind xmlns='urn:xmpp:bind:0'><tag>r</tag></bind>`,
    });
    expect(two.ok, two.element.toString()).to.equal(true);
    const resumed = two.element.getChild('resumed', 'urn:xmpp:sm:3')!;
    expect(resumed.attrs.previd).to.equal(previd);
    expect(resumed.attrs.h).to.equal('1');
    expect(two.element.getChildText('authorization-identifier')).to.equal(jid);
    expect(two.element.getChild('bound', 'urn:xmpp:bind:0'), 'the bind request is ignored').to.not.exist;

    const third = await open();
    const three = await sasl2Authenticate(third.raw, {
      mechanism: 'SCRAM-SHA-256', username: 'bob', secret: PASSWORD,
      inline: `<resume xmlns='urn:xmpp:sm:3' previd='no-such-session' h='0'/><bind xmlns='urn:xmpp:bind:0'><tag>r</tag></bind>`,
    });
    expect(three.ok).to.equal(true);
    expect(three.element.getChild('failed', 'urn:xmpp:sm:3')!.getChild('item-not-found')).to.exist;
    expect(three.element.getChild('bound', 'urn:xmpp:bind:0')).to.exist;
    expect(three.element.getChildText('authorization-identifier')).to.match(/\/r\//);
  });

  it("never resumes another account's session", async function () {
    const first = await open();
    const one = await sasl2Authenticate(first.raw, { mechanism: 'SCRAM-SHA-256', username: 'alice', secret: PASSWORD, inline: `<bind xmlns='urn:xmpp:bind:0'><enable xmlns='urn:xmpp:sm:3' resume='true'/></bind>` });
    const previd = one.element.getChild('bound', 'urn:xmpp:bind:0')!.getChild('enabled', 'urn:xmpp:sm:3')!.attrs.id as string;
    first.raw.destroy();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const thief = await open();
    const attempt = await sasl2Authenticate(thief.raw, { mechanism: 'SCRAM-SHA-256', username: 'bob', secret: PASSWORD, inline: `<resume xmlns='urn:xmpp:sm:3' previd='${previd}' h='0'/>` });
    expect(attempt.ok).to.equal(true);
    expect(attempt.element.getChild('resumed', 'urn:xmpp:sm:3')).to.not.exist;
    expect(attempt.element.getChild('failed', 'urn:xmpp:sm:3')).to.exist;
    expect(attempt.element.getChildText('authorization-identifier')).to.equal(`bob@${ts.domain}`);
  });
});
