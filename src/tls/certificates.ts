// TLS certificates per served domain: from the operator's folder (tls.certificates), or a
// self-signed pair generated once into the data directory so a first start needs nothing.
import { webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import tls from 'node:tls';
import 'reflect-metadata'; // @peculiar/x509 (through tsyringe) needs the Reflect metadata API
import * as x509 from '@peculiar/x509';

export interface CertificatePair {
  domain: string;
  certPem: string;
  keyPem: string;
  /** Where it came from, for the operator's log. */
  source: string;
  selfSigned: boolean;
}

function toPem(label: string, der: ArrayBuffer): string {
  const base64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${base64}\n-----END ${label}-----\n`;
}

/** A self-signed ECDSA P-256 certificate for a domain, valid ten years. */
export async function generateSelfSigned(domain: string): Promise<{ certPem: string; keyPem: string }> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  type CreateParams = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>;
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(notBefore.getTime() + 10 * 365 * 24 * 3600 * 1000);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1'),
      name: `CN=${domain}`,
      notBefore,
      notAfter,
      signingAlgorithm: algorithm,
      keys: keys as unknown as CreateParams[0]['keys'],
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension([
          { type: 'dns', value: domain },
          { type: 'dns', value: `*.${domain}` },
        ]),
      ],
    },
    webcrypto as unknown as CreateParams[1],
  );
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { certPem: cert.toString('pem') + '\n', keyPem: toPem('PRIVATE KEY', pkcs8) };
}

/** Candidate file pairs for a domain in an operator's folder. */
function candidates(folder: string, domain: string): Array<[string, string]> {
  return [
    [path.join(folder, `${domain}.crt`), path.join(folder, `${domain}.key`)],
    [path.join(folder, `${domain}.pem`), path.join(folder, `${domain}.key`)],
    // certbot's live/<domain>/ layout
    [path.join(folder, domain, 'fullchain.pem'), path.join(folder, domain, 'privkey.pem')],
  ];
}

async function checkPair(domain: string, certPem: string, keyPem: string, source: string): Promise<void> {
  try {
    tls.createSecureContext({ cert: certPem, key: keyPem });
  } catch (err) {
    throw new Error(`tls.certificates: ${source}: certificate and key do not form a usable pair (${(err as Error).message})`);
  }
  const cert = new NodeX509(certPem);
  if (!cert.checkHost(domain)) {
    throw new Error(`tls.certificates: ${source}: certificate is not valid for ${domain}`);
  }
}

/**
 * Loads (or generates) one certificate per domain. With an operator folder every domain
 * must have a pair there; without one, a self-signed pair is created once in
 * `<dataDir>/certs` and reused on later starts.
 */
export async function loadCertificates(
  domains: readonly string[],
  folder: string | null,
  dataDir: string,
  /** Domains whose certificate may be missing from the folder: then one is generated (component domains). */
  generatedIfMissing: readonly string[] = [],
): Promise<CertificatePair[]> {
  const pairs: CertificatePair[] = [];
  for (const domain of [...domains, ...generatedIfMissing]) {
    if (folder) {
      const found = candidates(folder, domain).find(([cert, key]) => existsSync(cert) && existsSync(key));
      if (found) {
        const [certPem, keyPem] = await Promise.all([readFile(found[0], 'utf8'), readFile(found[1], 'utf8')]);
        await checkPair(domain, certPem, keyPem, found[0]);
        pairs.push({ domain, certPem, keyPem, source: found[0], selfSigned: false });
        continue;
      }
      if (!generatedIfMissing.includes(domain)) {
        throw new Error(`tls.certificates: no certificate for ${domain} in ${folder} (expected ${domain}.crt and ${domain}.key)`);
      }
    }
    const dir = path.join(dataDir, 'certs');
    const certFile = path.join(dir, `${domain}.crt`);
    const keyFile = path.join(dir, `${domain}.key`);
    if (existsSync(certFile) && existsSync(keyFile)) {
      const [certPem, keyPem] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
      pairs.push({ domain, certPem, keyPem, source: certFile, selfSigned: true });
      continue;
    }
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const generated = await generateSelfSigned(domain);
    await writeFile(keyFile, generated.keyPem, { mode: 0o600 });
    await chmod(keyFile, 0o600);
    await writeFile(certFile, generated.certPem);
    pairs.push({ domain, ...generated, source: certFile, selfSigned: true });
  }
  return pairs;
}

/** TLS 1.2+ (contract), one secure context per domain chosen by SNI. */
export class TlsContexts {
  private contexts = new Map<string, tls.SecureContext>();
  private fallback: tls.SecureContext | null = null;
  private fallbackPair: CertificatePair | null = null;

  /**
   * `ca`: authorities trusted for the peer's certificate, for contexts that verify one
   * (federation: client certificates on inbound streams, server certificates outbound).
   */
  constructor(
    pairs: readonly CertificatePair[],
    private readonly options: { ca?: readonly string[] } = {},
  ) {
    this.replace(pairs);
  }

  /** Swaps in new certificates (SIGHUP); streams already secured keep theirs. */
  replace(pairs: readonly CertificatePair[]): void {
    const next = new Map<string, tls.SecureContext>();
    for (const pair of pairs) {
      const ca = this.options.ca ? [...this.options.ca] : undefined;
      next.set(pair.domain, tls.createSecureContext({ cert: pair.certPem, key: pair.keyPem, ca, minVersion: 'TLSv1.2' }));
    }
    this.contexts = next;
    this.fallback = pairs.length > 0 ? next.get(pairs[0]!.domain) ?? null : null;
    this.fallbackPair = pairs[0] ?? null;
  }

  /** The context for a domain (exact, then parent domain for subdomains), else the first. */
  forDomain(domain: string | undefined): tls.SecureContext {
    if (domain) {
      const lower = domain.toLowerCase();
      const exact = this.contexts.get(lower);
      if (exact) return exact;
      const dot = lower.indexOf('.');
      if (dot > 0) {
        const parent = this.contexts.get(lower.slice(dot + 1));
        if (parent) return parent;
      }
    }
    if (!this.fallback) throw new Error('no TLS certificate loaded');
    return this.fallback;
  }

  /**
   * Options for a TLS server or server-side TLSSocket. Clients that send no SNI (those that
   * connect by IP address) get the first domain's certificate.
   */
  serverOptions(): tls.TlsOptions {
    return {
      secureContext: this.forDomain(undefined),
      cert: this.fallbackPair?.certPem,
      key: this.fallbackPair?.keyPem,
      ca: this.options.ca ? [...this.options.ca] : undefined,
      SNICallback: (servername, callback) => callback(null, this.forDomain(servername)),
      minVersion: 'TLSv1.2',
    };
  }
}
