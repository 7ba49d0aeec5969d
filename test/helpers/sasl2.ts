// A raw-socket SASL2 client (XEP-0388) for tests: SCRAM with and without channel binding,
// the FAST HT mechanisms (draft-schmaus-kitten-sasl-ht), PLAIN; inline Bind 2, FAST and
// resumption requests go in as raw XML. Written from the specifications, sharing no code
// with the server.
import { createHash, createHmac } from 'node:crypto';
import ltx from 'ltx';
import { RawConnection, streamHeader } from './raw.js';
import { ScramClient } from './scram-client.js';
import type { TestServer } from './server.js';

export const NS_SASL2 = 'urn:xmpp:sasl:2';

export type ChannelBindingName = 'tls-exporter' | 'tls-server-end-point';

/** The client side of a channel binding (RFC 9266, RFC 5929 with our SHA-256 test certificate). */
export function clientChannelBinding(raw: RawConnection, type: ChannelBindingName): Buffer {
  const socket = raw.tlsSocket;
  if (type === 'tls-exporter') return socket.exportKeyingMaterial(32, 'EXPORTER-Channel-Binding', Buffer.alloc(0));
  // The test CA's certificates are signed with ecdsa-with-SHA256.
  return createHash('sha256').update(socket.getPeerCertificate().raw).digest();
}

export interface Sasl2Attempt {
  mechanism: string;
  username: string;
  /** The password, or the FAST token for an HT mechanism. */
  secret: string;
  userAgentId?: string;
  /** Raw XML placed inside <authenticate/> after the user agent (bind, request-token, fast, resume). */
  inline?: string;
  /** For -PLUS and HT-*-EXPR/-ENDP: the binding to use; `cbData` replaces its data (a mismatch). */
  cbType?: ChannelBindingName;
  cbData?: Buffer;
  /** SCRAM without -PLUS: "y" claims the client could bind but thinks the server cannot. */
  cbindFlag?: 'n' | 'y';
}

export interface Sasl2Result {
  ok: boolean;
  /** The <success/> or <failure/> element. */
  element: ltx.Element;
  /** SCRAM: the client that ran the exchange (its server-first attributes). */
  scram?: ScramClient;
  /** The server proved it knows the secret (SCRAM v=, HT responder hash). */
  serverVerified: boolean;
}

/** Opens a direct-TLS stream and reads the first features. */
export async function openSasl2Stream(ts: TestServer, options: { maxVersion?: 'TLSv1.2' | 'TLSv1.3' } = {}): Promise<{ raw: RawConnection; features: ltx.Element }> {
  const raw = await RawConnection.openTls(ts.host, ts.directTlsPort, ts.domain, options.maxVersion ? { maxVersion: options.maxVersion } : {});
  raw.send(streamHeader(ts.domain));
  const features = ltx.parse(await raw.waitFor(/<stream:features>[\s\S]*?<\/stream:features>/));
  return { raw, features };
}

/** The next complete top-level element whose name matches, after `mark`. */
export async function nextElement(raw: RawConnection, mark: number, names: string[], ms = 5_000): Promise<{ element: ltx.Element; end: number }> {
  const pattern = new RegExp(`<(${names.join('|')})\\b[^>]*?(/>|>[\\s\\S]*?</\\1>)`);
  const deadline = Date.now() + ms;
  for (;;) {
    const match = pattern.exec(raw.text.slice(mark));
    if (match) return { element: ltx.parse(match[0]), end: mark + match.index + match[0].length };
    if (raw.ended || Date.now() > deadline) throw new Error(`no <${names.join('|')}/> after ${mark}; got: ${raw.text.slice(mark, mark + 600)}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function htHash(token: string, label: string, cb: Buffer): Buffer {
  return createHmac('sha256', Buffer.from(token, 'utf8')).update(label).update(cb).digest();
}

export async function sasl2Authenticate(raw: RawConnection, attempt: Sasl2Attempt): Promise<Sasl2Result> {
  const mark = raw.text.length;
  const cb = attempt.cbType ? (attempt.cbData ?? clientChannelBinding(raw, attempt.cbType)) : Buffer.alloc(0);
  let initial: Buffer;
  let scram: ScramClient | undefined;
  if (attempt.mechanism.startsWith('SCRAM-')) {
    const hash = attempt.mechanism.includes('SHA-256') ? 'sha256' : 'sha1';
    const plus = attempt.mechanism.endsWith('-PLUS');
    scram = new ScramClient(hash, attempt.username, attempt.secret, plus
      ? { cbindFlag: `p=${attempt.cbType!}`, channelBindingData: cb }
      : { cbindFlag: attempt.cbindFlag ?? 'n' });
    initial = Buffer.from(scram.first());
  } else if (attempt.mechanism.startsWith('HT-')) {
    initial = Buffer.concat([Buffer.from(`${attempt.username}\0`), htHash(attempt.secret, 'Initiator', cb)]);
  } else {
    initial = Buffer.from(`\0${attempt.username}\0${attempt.secret}`);
  }
  const userAgent = attempt.userAgentId ? `<user-agent id='${attempt.userAgentId}'><software>hearth-tests</software></user-agent>` : '';
  raw.send(`<authenticate xmlns='${NS_SASL2}' mechanism='${attempt.mechanism}'><initial-response>${initial.toString('base64')}</initial-response>${userAgent}${attempt.inline ?? ''}</authenticate>`);
  let next = await nextElement(raw, mark, ['challenge', 'success', 'failure']);
  if (next.element.name === 'challenge') {
    const serverFirst = Buffer.from(next.element.getText(), 'base64').toString('utf8');
    const final = await scram!.final(serverFirst);
    raw.send(`<response xmlns='${NS_SASL2}'>${Buffer.from(final).toString('base64')}</response>`);
    next = await nextElement(raw, next.end, ['success', 'failure']);
  }
  const element = next.element;
  const ok = element.name === 'success';
  let serverVerified = false;
  if (ok) {
    const data = Buffer.from(element.getChildText('additional-data') ?? '', 'base64');
    if (scram) serverVerified = scram.verifyServerFinal(data.toString('utf8'));
    else if (attempt.mechanism.startsWith('HT-')) serverVerified = data.equals(htHash(attempt.secret, 'Responder', cb));
  }
  return { ok, element, ...(scram ? { scram } : {}), serverVerified };
}

/** XEP-0474 §5.1, computed by the client from what it was shown. */
export function ssdpHash(hash: 'sha1' | 'sha256', mechanisms: string[], channelBindings: string[] | null): string {
  let text = [...mechanisms].sort().join('\u001e');
  if (channelBindings) text += '\u001f' + [...channelBindings].sort().join('\u001e');
  return createHash(hash).update(text).digest('base64');
}

/** Mechanism names of a feature element (<mechanisms/> or <authentication/>). */
export function mechanismsOf(feature: ltx.Element | undefined): string[] {
  return (feature?.getChildren('mechanism') ?? []).map((m) => m.getText());
}

export { streamHeader };
