// TLS between servers: our certificate per local domain (client and server side), the
// authorities trusted for peers' certificates (system + s2s.trustedCa), and the check that a
// peer's certificate is valid for its domain (RFC 6120 §13.7.2, RFC 6125 DNS-ID).
import { existsSync, readFileSync } from 'node:fs';
import tls from 'node:tls';
import type { TlsServerOptionsSource } from '../c2s/transport.js';
import { TlsContexts, type CertificatePair } from '../tls/certificates.js';

/** Debian's bundle of the system's trusted authorities. */
const SYSTEM_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/**
 * The system's authorities (Debian's bundle, else the Mozilla set built into Node) plus the
 * operator's extra ones (PEM file), as PEM strings.
 */
export function loadTrustAnchors(trustedCaFile: string | null): string[] {
  const anchors = existsSync(SYSTEM_BUNDLE) ? [readFileSync(SYSTEM_BUNDLE, 'utf8')] : [...tls.rootCertificates];
  if (trustedCaFile) {
    let text: string;
    try {
      text = readFileSync(trustedCaFile, 'utf8');
    } catch (err) {
      throw new Error(`s2s.trustedCa: cannot read ${trustedCaFile}: ${(err as Error).message}`);
    }
    if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`s2s.trustedCa: ${trustedCaFile} holds no PEM certificate`);
    anchors.push(text);
  }
  return anchors;
}

export class PeerTls {
  private contexts: TlsContexts;
  private readonly insecure: ReadonlySet<string>;

  constructor(
    pairs: readonly CertificatePair[],
    private readonly anchors: readonly string[],
    insecureDomains: readonly string[],
  ) {
    this.contexts = new TlsContexts(pairs, { ca: anchors });
    this.insecure = new Set(insecureDomains);
  }

  /** SIGHUP: new certificates for streams secured from now on. */
  replace(pairs: readonly CertificatePair[]): void {
    this.contexts.replace(pairs);
  }

  /** s2s.insecureDomains: the peer's certificate is not checked; dialback still authenticates it. */
  isInsecure(domain: string): boolean {
    return this.insecure.has(domain);
  }

  /** Server side (inbound): our certificate by SNI, and the peer's certificate requested. */
  readonly inbound: TlsServerOptionsSource = {
    serverOptions: () => ({ ...this.contexts.serverOptions(), requestCert: true, rejectUnauthorized: false }),
  };

  /** Client side (outbound): our certificate for `local`, SNI naming the peer. */
  clientOptions(local: string, remote: string): tls.ConnectionOptions {
    return {
      secureContext: this.contexts.forDomain(local),
      servername: remote,
      // Verified by peerIsValidFor(), so that policy (insecureDomains, dialback) decides.
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    };
  }

  /** Whether the peer's certificate chains to a trusted authority and names `domain`. */
  static peerIsValidFor(socket: tls.TLSSocket | null, domain: string): boolean {
    if (!socket) return false;
    const certificate = socket.getPeerCertificate();
    if (!certificate || Object.keys(certificate).length === 0) return false;
    if (!socket.authorized && !serverSideChainVerified(socket)) return false;
    return tls.checkServerIdentity(domain, certificate) === undefined;
  }
}

/**
 * OpenSSL's verdict on a client certificate, for a server-side socket made from a STARTTLS
 * upgrade. Node sets `authorized` only on sockets a tls.Server created; for sockets wrapped
 * directly it leaves the verdict on the handle (the same call tls.Server uses).
 */
function serverSideChainVerified(socket: tls.TLSSocket): boolean {
  const handle = (socket as unknown as { _handle?: { verifyError?: () => Error | null } })._handle;
  if (typeof handle?.verifyError !== 'function') return false;
  return handle.verifyError() === null;
}
