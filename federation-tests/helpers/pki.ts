// The federation tests' own certificate authority: made once per run into a temporary
// folder, with a certificate per test domain (RFC 6125 / XEP-0178: the domain as a DNS
// subjectAltName, usable for TLS server and client authentication, so SASL EXTERNAL is
// really exercised between servers), and self-signed certificates that no one trusts.
//
// The folder is named in HEARTH_FEDERATION_PKI so that every module instance (mocha's root
// hook, the test files, child processes such as the benchmark) uses the same CA.
import { webcrypto } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import 'reflect-metadata'; // @peculiar/x509 (through tsyringe) needs the Reflect metadata API
import * as x509 from '@peculiar/x509';

type CreateParams = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>;
const crypto = webcrypto as unknown as CreateParams[1];
x509.cryptoProvider.set(crypto!);
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** Every domain the test CA issues a certificate for. c.hearth.example is deliberately absent. */
export const CA_DOMAINS = [
  'a.hearth.example',
  'b.hearth.example',
  'prosody.hearth.example',
  'evil.hearth.example',
  // failure paths: peers that start only after a first attempt failed
  'closed.hearth.example',
  'silent.hearth.example',
  // resolution through /etc/hosts
  'hosts.hearth.example',
  // the s2s benchmark
  'bench-a.hearth.example',
  'bench-b.hearth.example',
] as const;

export interface Issued {
  domain: string;
  /** Leaf then CA, PEM. */
  certPem: string;
  keyPem: string;
  certFile: string;
  keyFile: string;
  /** A folder holding only <domain>.crt and <domain>.key, for Hearth's tls.certificates. */
  folder: string;
}

export interface Pki {
  dir: string;
  caPem: string;
  caFile: string;
  issued(domain: string): Issued;
  /** A self-signed certificate for the domain (no CA vouches for it), made on first use. */
  selfSigned(domain: string): Promise<Issued>;
}

function pemKey(der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`;
}

function serial(): string {
  // Positive, 16 bytes.
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1');
}

function leafExtensions(domain: string): x509.Extension[] {
  return [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
    // RFC 6125 DNS-ID. XEP-0178 §3.2 also names an XmppAddr id-on-xmppAddr otherName;
    // the DNS-ID is what both Hearth and Prosody check.
    new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: domain }]),
  ];
}

function writeIssued(dir: string, domain: string, certPem: string, keyPem: string): Issued {
  const folder = path.join(dir, domain);
  mkdirSync(folder, { recursive: true });
  const certFile = path.join(folder, `${domain}.crt`);
  const keyFile = path.join(folder, `${domain}.key`);
  writeFileSync(certFile, certPem);
  writeFileSync(keyFile, keyPem, { mode: 0o600 });
  return { domain, certPem, keyPem, certFile, keyFile, folder };
}

function readIssued(dir: string, domain: string): Issued {
  const folder = path.join(dir, domain);
  const certFile = path.join(folder, `${domain}.crt`);
  const keyFile = path.join(folder, `${domain}.key`);
  if (!existsSync(certFile)) throw new Error(`the test CA issued no certificate for ${domain} (${certFile})`);
  return { domain, certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8'), certFile, keyFile, folder };
}

async function generate(dir: string): Promise<void> {
  const now = Date.now();
  const notBefore = new Date(now - 3_600_000);
  const notAfter = new Date(now + 30 * 24 * 3_600_000);
  const caKeys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: 'CN=Hearth Federation Test CA',
    notBefore,
    notAfter,
    signingAlgorithm: ALG,
    keys: caKeys as never,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey as never),
    ],
  });
  const caPem = ca.toString('pem') + '\n';
  writeFileSync(path.join(dir, 'ca.crt'), caPem);
  for (const domain of CA_DOMAINS) {
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=${domain}`,
      issuer: ca.subject,
      notBefore,
      notAfter,
      signingAlgorithm: ALG,
      publicKey: keys.publicKey as never,
      signingKey: caKeys.privateKey as never,
      extensions: [...leafExtensions(domain), await x509.AuthorityKeyIdentifierExtension.create(ca)],
    });
    writeIssued(dir, domain, leaf.toString('pem') + '\n' + caPem, pemKey(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)));
  }
  writeFileSync(path.join(dir, 'complete'), new Date().toISOString() + '\n');
}

async function makeSelfSigned(dir: string, domain: string): Promise<Issued> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${domain}`,
    notBefore: new Date(Date.now() - 3_600_000),
    notAfter: new Date(Date.now() + 30 * 24 * 3_600_000),
    signingAlgorithm: ALG,
    keys: keys as never,
    extensions: leafExtensions(domain),
  });
  return writeIssued(path.join(dir, 'self-signed'), domain, cert.toString('pem') + '\n', pemKey(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)));
}

function open(dir: string): Pki {
  const caFile = path.join(dir, 'ca.crt');
  return {
    dir,
    caFile,
    caPem: readFileSync(caFile, 'utf8'),
    issued: (domain) => readIssued(dir, domain),
    async selfSigned(domain) {
      const existing = path.join(dir, 'self-signed');
      if (existsSync(path.join(existing, domain, `${domain}.crt`))) return readIssued(existing, domain);
      return makeSelfSigned(dir, domain);
    },
  };
}

let current: Promise<Pki> | null = null;

/** The run's PKI: the one named in HEARTH_FEDERATION_PKI, else a new one (named there). */
export function getPki(): Promise<Pki> {
  current ??= (async () => {
    const named = process.env.HEARTH_FEDERATION_PKI;
    if (named && existsSync(path.join(named, 'complete'))) return open(named);
    const dir = mkdtempSync(path.join(tmpdir(), 'hearth-federation-pki-'));
    await generate(dir);
    process.env.HEARTH_FEDERATION_PKI = dir;
    return open(dir);
  })();
  return current;
}

/** Removes the run's PKI folder if this process made it. */
export function removePki(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
