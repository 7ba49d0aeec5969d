// A first start needs nothing: a self-signed certificate per domain is generated into the
// data directory, served over direct TLS and STARTTLS, and reused on the next start.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { loadCertificates } from '../../src/tls/certificates.js';
import { startTestServer } from '../helpers/server.js';

function peerCertificate(host: string, port: number, servername: string): Promise<tls.PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, servername, rejectUnauthorized: false }, () => {
      const cert = socket.getPeerCertificate();
      expect(socket.getProtocol()).to.match(/^TLSv1\.[23]$/);
      socket.destroy();
      resolve(cert);
    });
    socket.once('error', reject);
  });
}

describe('certificates', function () {
  it('generates a self-signed certificate per domain on first start and serves it by SNI', async function () {
    const server = await startTestServer({ host: '127.0.0.108', domain: 'one.example', extraDomains: ['two.example'], testCa: false });
    try {
      const one = await peerCertificate(server.host, server.directTlsPort, 'one.example');
      const two = await peerCertificate(server.host, server.directTlsPort, 'two.example');
      expect(one.subjectaltname).to.include('DNS:one.example');
      expect(two.subjectaltname).to.include('DNS:two.example');
      const onDisk = readFileSync(path.join(server.dataDir, 'certs', 'one.example.crt'), 'utf8');
      // Reused, not regenerated, on the next load.
      const again = await loadCertificates(['one.example'], null, server.dataDir);
      expect(again[0]!.certPem).to.equal(onDisk);
      expect(new (await import('node:crypto')).X509Certificate(onDisk).fingerprint256).to.equal(one.fingerprint256);
    } finally {
      await server.stop();
    }
  });

  it('refuses an operator folder without a certificate for a served domain, naming the key', async function () {
    let error: Error | null = null;
    try {
      await loadCertificates(['missing.example'], '/nonexistent-folder', '/tmp');
    } catch (err) {
      error = err as Error;
    }
    expect(error?.message).to.match(/^tls\.certificates: no certificate for missing\.example/);
  });
});
