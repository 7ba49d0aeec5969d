// Configuration: defaults, bounds, unknown keys named, environment overrides, relative paths.
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig, validateConfig } from '../src/config.js';

function problems(raw: unknown, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    validateConfig(raw, '/srv/hearth', env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('config', function () {
  it('has the contract defaults', function () {
    const config = validateConfig({}, '/srv/hearth', {});
    expect(config.domains).to.deep.equal(['localhost']);
    expect(config.dataDir).to.equal('/srv/hearth/data');
    expect(config.database.url).to.equal(null);
    expect(config.c2s).to.deep.equal({
      listen: ['*:5222'], directTls: ['*:5223'], requireTls: true, allowPlaintextAuth: false,
      smResumeTimeoutS: 300, smMaxUnacked: 10_000, pingIntervalS: 120, pingTimeoutS: 30,
    });
    expect(config.limits).to.deep.equal({
      stanzaBytes: 262144,
      preAuthStanzaBytes: 8192,
      depth: 64,
      attributes: 128,
      unauthenticatedTimeoutS: 30,
      unauthenticatedPerIp: 100,
      authFailuresPerMinute: 5,
      offlinePerAccount: 1000,
      rosterItems: 1000,
      hibernatedPerAccount: 10,
      blocklistItems: 1000,
      csiHeldStanzas: 100,
      vcardPhotoBytes: 131_072,
      pepNodesPerAccount: 256,
      pepItemsPerNode: 1_000,
      pepNodeBytes: 2_097_152,
      pepAccountBytes: 8_388_608,
      mucOccupantsPerRoom: 1_000,
      mucHistoryMessages: 50,
    });
    expect(config.admins).to.deep.equal([]);
    expect(config.muc).to.deep.equal({ enabled: true, subdomain: 'conference', createRooms: 'anyone' });
    expect(config.http).to.deep.equal({
      listen: ['*:5280'], tlsListen: [], publicUrl: null, allowedOrigins: [], webClient: true, trustedProxies: [], boshInactivityS: 60,
    });
    expect(config.components).to.deep.equal({ listen: ['127.0.0.1:5347'], services: {} });
    expect(config.auth.scramIterations).to.equal(4096);
  });

  it('names unknown keys at every level', function () {
    expect(problems({ domain: ['x'] })).to.deep.equal(['domain: unknown key']);
    expect(problems({ c2s: { requireTLS: false } })).to.deep.equal(['c2s.requireTLS: unknown key']);
    expect(problems({ s2s: { route: {} } })).to.deep.equal(['s2s.route: unknown key']);
    expect(problems({ registration: { modes: 'open' } })).to.deep.equal(['registration.modes: unknown key']);
    expect(problems({ muc: { createRoom: 'anyone' } })).to.deep.equal(['muc.createRoom: unknown key']);
  });

  it('checks the registration keys', function () {
    const { registration } = validateConfig({}, '/tmp');
    expect(registration).to.include({ mode: 'closed', perIpPerHour: 5, minPasswordLength: 8, reuseDelayDays: 30 });
    expect(registration.reservedUsernames).to.include.members(['admin', 'root', 'postmaster', 'abuse', 'noreply', 'xmpp']);
    expect(problems({ registration: { mode: 'public' } })[0]).to.match(/^registration\.mode: /);
    expect(problems({ registration: { perIpPerHour: 0 } })[0]).to.match(/^registration\.perIpPerHour: /);
    expect(problems({ registration: { minPasswordLength: 0 } })[0]).to.match(/^registration\.minPasswordLength: /);
    expect(problems({ registration: { reuseDelayDays: -1 } })[0]).to.match(/^registration\.reuseDelayDays: /);
    // Compared with prepared usernames: a name that preparation would change is refused.
    expect(problems({ registration: { reservedUsernames: ['Admin'] } })[0]).to.match(/^registration\.reservedUsernames\[0\]: /);
    expect(problems({ registration: { reservedUsernames: ['a b'] } })[0]).to.match(/^registration\.reservedUsernames\[0\]: /);
    expect(validateConfig({ registration: { mode: 'invite', reservedUsernames: [] } }, '/tmp').registration).to.include({ mode: 'invite' });
  });

  it('checks the group-chat keys (muc, admins)', function () {
    expect(problems({ muc: { createRooms: 'everybody' } })[0]).to.match(/^muc\.createRooms: /);
    expect(problems({ muc: { subdomain: 'not a label' } })[0]).to.match(/^muc\.subdomain: /);
    expect(problems({ admins: ['Admin@Example.org'] })[0]).to.match(/^admins\[0\]: /);
    expect(problems({ admins: ['example.org'] })[0]).to.match(/^admins\[0\]: /);
    expect(problems({ domains: ['example.org', 'conference.example.org'] })).to.deep.equal([
      'muc.subdomain: conference.example.org is one of domains; group chat needs a domain of its own',
    ]);
    expect(problems({ domains: ['example.org', 'conference.example.org'], muc: { enabled: false } })).to.deep.equal([]);
    expect(problems({ domains: ['example.org'], components: { services: { 'conference.example.org': { secret: 's' } } } })).to.deep.equal([
      'components.services.conference.example.org: conference.example.org is the group-chat service (muc.subdomain); give the component another domain or disable muc',
    ]);
  });

  it('checks the client HTTP section: origins, proxies, the public URL', function () {
    expect(problems({ http: { allowedOrigins: ['https://app.example.org', 'http://localhost:8080'] } })).to.deep.equal([]);
    expect(problems({ http: { allowedOrigins: ['https://app.example.org/path'] } })[0]).to.match(/^http\.allowedOrigins\[0\]: expected an origin/);
    expect(problems({ http: { allowedOrigins: ['app.example.org'] } })[0]).to.match(/^http\.allowedOrigins\[0\]: /);
    expect(problems({ http: { trustedProxies: ['10.0.0.0/8', '192.0.2.1', '::1', 'fd00::/8'] } })).to.deep.equal([]);
    expect(problems({ http: { trustedProxies: ['10.0.0.0/33'] } })[0]).to.match(/^http\.trustedProxies\[0\]: expected an IP address/);
    expect(problems({ http: { trustedProxies: ['proxy.example'] } })[0]).to.match(/^http\.trustedProxies\[0\]: /);
    expect(problems({ http: { publicUrl: 'ftp://chat.example.org' } })[0]).to.match(/^http\.publicUrl: /);
    expect(problems({ http: { publicUrl: 'https://chat.example.org' } })).to.deep.equal([]);
  });

  it('names invalid values with the key', function () {
    expect(problems({ limits: { stanzaBytes: 10 } })[0]).to.match(/^limits\.stanzaBytes: /);
    expect(problems({ auth: { scramIterations: 1000 } })[0]).to.match(/^auth\.scramIterations: /);
    expect(problems({ c2s: { listen: ['localhost'] } })[0]).to.match(/^c2s\.listen\[0\]: /);
    expect(problems({ domains: ['Not A Domain'] })[0]).to.match(/^domains\[0\]: /);
    expect(problems({ domains: [] })[0]).to.match(/^domains: /);
    expect(problems({ database: { url: 'mysql://x' } })[0]).to.match(/^database\.url: /);
    expect(problems({ log: { level: 'loud' } })[0]).to.match(/^log\.level: /);
    expect(problems({ s2s: { routes: { 'peer.example': 'nohost' } } })[0]).to.match(/^s2s\.routes\.peer\.example: /);
    expect(problems({ s2s: { insecureDomains: ['Bad Domain'] } })[0]).to.match(/^s2s\.insecureDomains\[0\]: /);
  });

  it('lets DATABASE_URL and HEARTH_LOG_LEVEL win', function () {
    const config = validateConfig({ database: { url: 'postgres://a/b' } }, '/x', { DATABASE_URL: 'postgres://c/d', HEARTH_LOG_LEVEL: 'debug' });
    expect(config.database.url).to.equal('postgres://c/d');
    expect(config.log.level).to.equal('debug');
    expect(problems({}, { HEARTH_LOG_LEVEL: 'loud' })[0]).to.match(/^HEARTH_LOG_LEVEL: /);
  });

  it('takes a log level per component, naming unknown components and levels', function () {
    expect(validateConfig({}, '/x', {}).log.components).to.deep.equal({});
    const config = validateConfig({ log: { level: 'warn', components: { c2s: 'debug', s2s: 'info', storage: 'silent' } } }, '/x', { HEARTH_LOG_LEVEL: 'error' });
    expect(config.log).to.deep.equal({ level: 'error', components: { c2s: 'debug', s2s: 'info', storage: 'silent' } });
    expect(problems({ log: { components: { c2z: 'debug' } } })).to.deep.equal(['log.components.c2z: unknown key']);
    expect(problems({ log: { components: { c2s: 'loud' } } })[0]).to.match(/^log\.components\.c2s: /);
    expect(problems({ log: { components: ['c2s'] } })[0]).to.match(/^log\.components: /);
  });

  it('takes XEP-0157 contact addresses as URIs and the XEP-0092 showOs switch', function () {
    const defaults = validateConfig({}, '/x', {});
    expect(defaults.version).to.deep.equal({ showOs: false });
    expect(defaults.contactAddresses).to.deep.equal({ abuse: [], admin: [], feedback: [], sales: [], security: [], status: [], support: [] });
    const config = validateConfig({
      version: { showOs: true },
      contactAddresses: { abuse: ['mailto:abuse@example.org', 'xmpp:abuse@example.org'], status: ['https://status.example.org/'], sales: ['tel:+1-555-0100'] },
    }, '/x', {});
    expect(config.version.showOs).to.equal(true);
    expect(config.contactAddresses.abuse).to.deep.equal(['mailto:abuse@example.org', 'xmpp:abuse@example.org']);
    expect(config.contactAddresses.status).to.deep.equal(['https://status.example.org/']);
    expect(problems({ contactAddresses: { complaints: [] } })).to.deep.equal(['contactAddresses.complaints: unknown key']);
    expect(problems({ version: { os: true } })).to.deep.equal(['version.os: unknown key']);
    expect(problems({ version: { showOs: 'yes' } })[0]).to.match(/^version\.showOs: /);
    expect(problems({ contactAddresses: { abuse: 'mailto:abuse@example.org' } })[0]).to.match(/^contactAddresses\.abuse: /);
    for (const bad of ['abuse@example.org', 'mailto:', 'mailto:nobody', 'xmpp:', 'xmpp://example.org', 'xmpp:not a jid', 'https://', 'ftp://example.org/', 'javascript:alert(1)', 'mailto:a@b.org\n']) {
      expect(problems({ contactAddresses: { admin: ['xmpp:admin@example.org', bad] } }), bad).to.deep.equal([
        'contactAddresses.admin[1]: expected a mailto:, xmpp:, https:, http: or tel: URI',
      ]);
    }
  });

  it('resolves relative paths against the config file', function () {
    const dir = mkdtempSync(path.join(tmpdir(), 'hearth-config-'));
    const file = path.join(dir, 'hearth.yaml');
    writeFileSync(file, 'dataDir: ./state\ntls:\n  certificates: certs\ns2s:\n  trustedCa: ca.pem\n');
    const { config } = loadConfig(file, {});
    expect(config.dataDir).to.equal(path.join(dir, 'state'));
    expect(config.tls.certificates).to.equal(path.join(dir, 'certs'));
    expect(config.s2s.trustedCa).to.equal(path.join(dir, 'ca.pem'));
  });

  it('reports YAML that does not parse, or is not a mapping', function () {
    const dir = mkdtempSync(path.join(tmpdir(), 'hearth-config-'));
    writeFileSync(path.join(dir, 'a.yaml'), 'domains: [unclosed\n');
    writeFileSync(path.join(dir, 'b.yaml'), '- just\n- a list\n');
    expect(() => loadConfig(path.join(dir, 'a.yaml'), {})).to.throw(ConfigError, /not valid YAML/);
    expect(() => loadConfig(path.join(dir, 'b.yaml'), {})).to.throw(ConfigError, /mapping/);
  });
});
