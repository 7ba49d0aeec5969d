// Hearth ↔ a real Prosody (Debian's 0.12 package, installed by install-prosody.sh), both
// directions, twice:
//  - dialback: Prosody has a self-signed certificate and trusts only the system CAs; Hearth
//    lists Prosody's domain in s2s.insecureDomains; Server Dialback (XEP-0220) both ways;
//  - EXTERNAL: Prosody has the test CA's certificate for its domain and the CA as its trust
//    store; Hearth trusts the CA; SASL EXTERNAL (XEP-0178) both ways.
// Which mechanism was used is read from Prosody's debug log (mod_saslauth / mod_dialback):
//   outgoing (Prosody → Hearth): "Initiating SASL EXTERNAL with <host>" then "SASL EXTERNAL
//     with <host> succeeded", or "Initiating dialback..." then "sent dialback key";
//   incoming (Hearth → Prosody): "Accepting SASL EXTERNAL identity from <host>", or
//     "asking <host> if key … belongs to them" (Prosody verifying Hearth's dialback key).
import { expect } from 'chai';
import { messageDelivered, presenceUpdateSeen, REMOTE_MS, subscribe } from './helpers/flows.js';
import { authenticatedStreams, HearthServer } from './helpers/hearth.js';
import { getPki } from './helpers/pki.js';
import { ProsodyServer, prosodyInstalled } from './helpers/prosody.js';
import { getRoster, login, logout, trustCertificate, xml, type User } from './helpers/xmpp.js';

const A = 'a.hearth.example';
const P = 'prosody.hearth.example';

for (const mode of ['dialback', 'external'] as const) {
  describe(`federation: Hearth ↔ Prosody 0.12 (${mode === 'dialback' ? 'TLS + Server Dialback' : 'SASL EXTERNAL'})`, function () {
    let a: HearthServer;
    let prosody: ProsodyServer;
    let alice: User | undefined;
    let pat: User | undefined;

    before(async function () {
      this.timeout(180_000);
      if (!prosodyInstalled()) throw new Error('prosody is not installed (federation-tests/install-prosody.sh installs it from Debian’s packages)');
      const pki = await getPki();
      const cert = mode === 'dialback' ? await pki.selfSigned(P) : pki.issued(P);
      prosody = new ProsodyServer({
        name: `prosody-${mode}`,
        domain: P,
        address: '127.0.0.160',
        certFile: cert.certFile,
        keyFile: cert.keyFile,
        cafile: mode === 'external' ? pki.caFile : undefined,
      });
      if (mode === 'dialback') trustCertificate(P, cert.certPem); // pat's client accepts it
      a = await HearthServer.create({
        name: `a-prosody-${mode}`,
        domains: [A],
        address: '127.0.0.151',
        certificates: 'ca',
        routes: { [P]: '127.0.0.160:5269' },
        insecureDomains: mode === 'dialback' ? [P] : [],
      });
      await a.addUser('alice', 'alice-secret');
      await prosody.register('pat', 'pat-secret');
      await Promise.all([a.start(), prosody.start()]);
    });

    after(async function () {
      this.timeout(30_000);
      await Promise.all([logout(alice), logout(pat)]);
      await Promise.all([a?.stop(), prosody?.stop()]);
    });

    it('alice@hearth subscribes to pat@prosody, then pat to alice: roster states and presence both ways', async () => {
      alice = await login({ host: a.address, domain: A, username: 'alice', password: 'alice-secret' });
      pat = await login({ host: '127.0.0.160', domain: P, username: 'pat', password: 'pat-secret' });
      // Hearth → Prosody first (Hearth's outgoing stream), then Prosody → Hearth.
      await subscribe(alice, pat, { userHad: 'none', contactHad: 'none' });
      await subscribe(pat, alice, { userHad: 'from', contactHad: 'to' });
      expect((await getRoster(alice)).get(`pat@${P}`)).to.deep.equal({ subscription: 'both' });
      expect((await getRoster(pat)).get(`alice@${A}`)).to.deep.equal({ subscription: 'both' });
    });

    it('presence changes and messages cross both ways', async () => {
      await presenceUpdateSeen(alice!, pat!);
      await presenceUpdateSeen(pat!, alice!);
      await messageDelivered(alice!, pat!, 'bare');
      await messageDelivered(pat!, alice!, 'bare');
      await messageDelivered(alice!, pat!, 'full');
      await messageDelivered(pat!, alice!, 'full');
    });

    it('iq crosses both ways: each user pings the other server (XEP-0199)', async () => {
      const pong = await alice!.xmpp.iqCaller.request(xml('iq', { type: 'get', to: P }, xml('ping', { xmlns: 'urn:xmpp:ping' })), REMOTE_MS);
      expect(pong.attrs.type).to.equal('result');
      expect(pong.attrs.from).to.equal(P);
      const pongBack = await pat!.xmpp.iqCaller.request(xml('iq', { type: 'get', to: A }, xml('ping', { xmlns: 'urn:xmpp:ping' })), REMOTE_MS);
      expect(pongBack.attrs.type).to.equal('result');
      expect(pongBack.attrs.from).to.equal(A);
    });

    it(`Prosody's log shows ${mode === 'dialback' ? 'dialback' : 'SASL EXTERNAL'} in both directions`, () => {
      const lines = (re: RegExp) => prosody.logLines(re);
      // Both streams were completed (mod_s2s, info).
      expect(lines(new RegExp(`Outgoing s2s connection ${P}->${A} complete`)), 'Prosody → Hearth stream completed').to.not.be.empty;
      expect(lines(new RegExp(`Incoming s2s connection ${A}->${P} complete`)), 'Hearth → Prosody stream completed').to.not.be.empty;
      const outExternal = lines(new RegExp(`SASL EXTERNAL with ${A} succeeded`));
      const outDialback = lines(/Initiating dialback/);
      const inExternal = lines(new RegExp(`Accepting SASL EXTERNAL identity from ${A}`));
      const inDialback = lines(new RegExp(`asking ${A} if key .* belongs to them`));
      if (mode === 'external') {
        expect(outExternal, 'Prosody → Hearth authenticated with SASL EXTERNAL').to.not.be.empty;
        expect(inExternal, 'Hearth → Prosody authenticated with SASL EXTERNAL').to.not.be.empty;
        expect(outDialback, 'no dialback from Prosody').to.be.empty;
        expect(inDialback, 'no dialback from Hearth').to.be.empty;
      } else {
        expect(outDialback, 'Prosody → Hearth used dialback').to.not.be.empty;
        expect(lines(/sent dialback key on outgoing s2s stream/), 'Prosody sent its dialback key').to.not.be.empty;
        expect(inDialback, 'Hearth → Prosody used dialback (Prosody verified Hearth’s key)').to.not.be.empty;
        expect(lines(/Initiating SASL EXTERNAL/), 'Hearth did not offer EXTERNAL to a self-signed Prosody').to.be.empty;
        expect(inExternal, 'no EXTERNAL from Hearth').to.be.empty;
      }
      // Hearth's side of the same streams, as its log reports them.
      const streams = authenticatedStreams(a).filter((s) => s.peer === P);
      for (const direction of ['in', 'out'] as const) {
        const methods = streams.filter((s) => s.direction === direction).map((s) => s.method);
        expect(methods.length, `Hearth: an ${direction}bound stream with Prosody was authenticated`).to.be.at.least(1);
        expect(methods.every((m) => (mode === 'external' ? /EXTERNAL/.test(m) : /dialback/i.test(m))), `Hearth ${direction}bound methods: ${methods.join(', ')}`).to.equal(true);
      }
    });
  });
}
