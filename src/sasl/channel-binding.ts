// Channel bindings of a TLS connection (RFC 5056), for SCRAM-*-PLUS (RFC 5802 §6) and the
// FAST HT-*-ENDP/-EXPR mechanisms, announced with XEP-0440:
//   tls-exporter          RFC 9266: 32 bytes exported with the label "EXPORTER-Channel-Binding"
//                         and no context; only on TLS 1.3 (on 1.2 it is unsafe without the
//                         extended master secret, RFC 9266 §3).
//   tls-server-end-point  RFC 5929 §4: the hash of our certificate, with the hash of its
//                         signature algorithm (SHA-256 where that is MD5 or SHA-1).
import { createHash } from 'node:crypto';
import type { TLSSocket } from 'node:tls';

export const CHANNEL_BINDING_TYPES = ['tls-exporter', 'tls-server-end-point'] as const;
export type ChannelBindingType = (typeof CHANNEL_BINDING_TYPES)[number];

export interface ChannelBinding {
  /** The types this connection can bind to, in our order of preference. */
  readonly types: readonly ChannelBindingType[];
  /** The binding data of a type, or null when this connection cannot give it. */
  data(type: string): Buffer | null;
}

const EXPORTER_LABEL = 'EXPORTER-Channel-Binding';
const EXPORTER_LENGTH = 32;

/** The channel bindings of a server-side TLS socket (null before the handshake is done). */
export function tlsChannelBinding(socket: TLSSocket): ChannelBinding | null {
  const protocol = socket.getProtocol();
  if (!protocol) return null;
  const types: ChannelBindingType[] = protocol === 'TLSv1.3' ? ['tls-exporter', 'tls-server-end-point'] : ['tls-server-end-point'];
  const cache = new Map<string, Buffer | null>();
  return {
    types,
    data(type) {
      if (!(types as readonly string[]).includes(type)) return null;
      let value = cache.get(type);
      if (value === undefined) {
        value = type === 'tls-exporter' ? exporterData(socket) : endpointData(socket);
        cache.set(type, value);
      }
      return value;
    },
  };
}

function exporterData(socket: TLSSocket): Buffer | null {
  try {
    return socket.exportKeyingMaterial(EXPORTER_LENGTH, EXPORTER_LABEL, Buffer.alloc(0));
  } catch {
    return null;
  }
}

/** Hashes of our certificates by their DER (a handful: one per domain). */
const endpointHashes = new Map<string, Buffer | null>();

function endpointData(socket: TLSSocket): Buffer | null {
  const raw = (socket.getCertificate() as { raw?: Buffer } | null)?.raw;
  if (!raw) return null;
  const key = raw.toString('base64');
  let hash = endpointHashes.get(key);
  if (hash === undefined) {
    const digest = endpointDigest(raw);
    hash = digest ? createHash(digest).update(raw).digest() : null;
    if (endpointHashes.size > 64) endpointHashes.clear();
    endpointHashes.set(key, hash);
  }
  return hash;
}

// Signature algorithm OIDs (DER content bytes, hex) → the hash RFC 5929 §4.1 asks for.
const SIGNATURE_DIGESTS: Record<string, string> = {
  '2a864886f70d010104': 'sha256', // md5WithRSAEncryption → SHA-256
  '2a864886f70d010105': 'sha256', // sha1WithRSAEncryption → SHA-256
  '2a864886f70d01010b': 'sha256',
  '2a864886f70d01010c': 'sha384',
  '2a864886f70d01010d': 'sha512',
  '2a8648ce3d0401': 'sha256', // ecdsa-with-SHA1 → SHA-256
  '2a8648ce3d040302': 'sha256',
  '2a8648ce3d040303': 'sha384',
  '2a8648ce3d040304': 'sha512',
};
const RSASSA_PSS = '2a864886f70d01010a';
// Hash OIDs inside RSASSA-PSS parameters (hashAlgorithm; absent means SHA-1 → SHA-256).
const PSS_HASHES: Array<[string, string]> = [
  ['608648016503040202', 'sha384'],
  ['608648016503040203', 'sha512'],
  ['608648016503040201', 'sha256'],
];

/**
 * The digest for tls-server-end-point from the certificate's signatureAlgorithm (the second
 * element of the Certificate SEQUENCE), or null for algorithms RFC 5929 does not cover
 * (Ed25519, Ed448: no single hash).
 */
export function endpointDigest(der: Buffer): string | null {
  const certificate = readTlv(der, 0);
  if (!certificate || certificate.tag !== 0x30) return null;
  const tbs = readTlv(der, certificate.contentStart);
  if (!tbs) return null;
  const algorithm = readTlv(der, tbs.end);
  if (!algorithm || algorithm.tag !== 0x30) return null;
  const oid = readTlv(der, algorithm.contentStart);
  if (!oid || oid.tag !== 0x06) return null;
  const oidHex = der.subarray(oid.contentStart, oid.end).toString('hex');
  if (oidHex === RSASSA_PSS) {
    const params = der.subarray(oid.end, algorithm.end).toString('hex');
    return PSS_HASHES.find(([hashOid]) => params.includes(hashOid))?.[1] ?? 'sha256';
  }
  return SIGNATURE_DIGESTS[oidHex] ?? null;
}

/** One DER tag-length-value at `offset` (definite lengths only, as DER requires). */
function readTlv(der: Buffer, offset: number): { tag: number; contentStart: number; end: number } | null {
  if (offset + 2 > der.length) return null;
  const tag = der[offset]!;
  let length = der[offset + 1]!;
  let contentStart = offset + 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    if (octets === 0 || octets > 4 || contentStart + octets > der.length) return null;
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + der[contentStart + i]!;
    contentStart += octets;
  }
  const end = contentStart + length;
  return end <= der.length ? { tag, contentStart, end } : null;
}
