// How a client stream is framed on the wire. The stream/session state machine
// (ClientStream) speaks only to this interface; TCP (RFC 6120 XML stream), WebSocket
// (RFC 7395) and BOSH (XEP-0124/0206) each turn their wire format into these calls, so
// SASL, binding, stream management and every module behave the same on all three.
import type { Element } from 'ltx';
import type { StreamError } from '../core/errors.js';
import type { ChannelBinding } from '../sasl/channel-binding.js';
import { NS_CLIENT } from '../core/stanza.js';

/** What a framing reports to the stream above it. */
export interface FramingEvents {
  /**
   * The client opened (or restarted) its stream: the header's attributes (to, from,
   * version, xml:lang). `problem` is a framing-level fault of the header (wrong element or
   * namespace), reported after our own header went out (RFC 6120 §4.9.1.1).
   */
  onStreamStart(attrs: Readonly<Record<string, string | undefined>>, problem: StreamError | null): void;
  /** A complete top-level element, `xmlns` set to its namespace. */
  onElement(element: Element): void;
  /** The client closed its stream. */
  onStreamEnd(): void;
  /** The input broke the framing (malformed XML, a size limit): the stream fails with it. */
  fail(error: StreamError): void;
  /** The connection (or, for BOSH, the session's last request) is gone. */
  onTransportClose(): void;
  /** Input arrived (data or, for BOSH, a request): the peer is alive. */
  onActivity(): void;
}

/** Our stream header: the attributes of <stream:stream>, <open/> or the BOSH session. */
export interface OutgoingHeader {
  id: string;
  from: string;
  to?: string;
}

export interface ClientFraming {
  /** For metrics and logs: 'c2s', 'c2s_direct_tls', 'websocket', 'bosh'. */
  readonly kind: string;
  readonly remoteAddress: string;
  /** Encrypted to the client, or trusted as such (loopback, a TLS-terminating proxy). */
  readonly secure: boolean;
  readonly canStartTls: boolean;
  /** Bytes (or stanza text) written but not yet taken by the client. */
  readonly pendingBytes: number;
  /**
   * The TLS channel bindings of the connection (SCRAM-*-PLUS, FAST -ENDP/-EXPR), when TLS ends
   * here on one connection for the whole stream; null otherwise (a TLS-terminating proxy, BOSH).
   */
  channelBinding(): ChannelBinding | null;
  /**
   * Checks that a silent client is still there by the framing's own means (a WebSocket
   * ping; BOSH needs none, its requests are the sign of life): false when the stream must
   * ask at the XMPP level. An answer arrives as onActivity().
   */
  probe(): boolean;
  attach(events: FramingEvents): void;
  /** Sends our stream header (once per stream and restart). */
  openStream(header: OutgoingHeader): void;
  /**
   * A jabber:client stanza: an element without xmlns, or its serialisation. Framings whose
   * elements stand alone add the namespace.
   */
  writeStanza(stanza: Element | string): void;
  /** <stream:features/>. */
  writeFeatures(features: Element): void;
  /** Any other element, carrying its own xmlns (SASL, STARTTLS, stream management). */
  writeElement(xml: string): void;
  /** Writes queued output now. */
  flush(): void;
  /**
   * Ends the stream: the stream error (if any) and the closing of the stream, once; then the
   * connection closes after `graceMs` unless the client closes first.
   */
  closeStream(error: StreamError | null, graceMs: number): void;
  /** RFC 6120 §6.4.6: after SASL success the client opens a new stream; stanzas may be larger. */
  expectRestart(maxStanzaBytes: number): void;
  /** RFC 6120 §5.4.3.3 (TCP only): TLS after <proceed/>, then a fresh stream. */
  startTls(sni: string): Promise<void>;
  /** Holds further input unread (an asynchronous SASL or resumption step). */
  pauseInput(): void;
  resumeInput(): void;
  /** No more input is read (the stream is over). */
  stopInput(): void;
  destroy(): void;
}

/**
 * A stanza serialised with xmlns='jabber:client', for framings whose elements stand alone
 * (WebSocket messages, BOSH bodies). An element gets the attribute for the time of its
 * serialisation (synchronous: nothing else sees it); text is rewritten.
 */
export function qualifiedStanza(stanza: Element | string): string {
  if (typeof stanza === 'string') return qualifyStanza(stanza);
  if (stanza.attrs.xmlns !== undefined) return stanza.toString();
  stanza.attrs.xmlns = NS_CLIENT;
  try {
    return stanza.toString();
  } finally {
    delete stanza.attrs.xmlns;
  }
}

/**
 * `<message …>` → `<message xmlns='jabber:client' …>`, unless its start tag names a namespace.
 */
export function qualifyStanza(xml: string): string {
  const tagEnd = xml.indexOf('>');
  const startTag = tagEnd < 0 ? xml : xml.slice(0, tagEnd);
  if (startTag.includes(" xmlns='") || startTag.includes(' xmlns="')) return xml;
  let i = 1;
  while (i < xml.length) {
    const c = xml.charCodeAt(i);
    if (c === 0x20 || c === 0x3e || c === 0x2f) break;
    i++;
  }
  return `${xml.slice(0, i)} xmlns='${NS_CLIENT}'${xml.slice(i)}`;
}
