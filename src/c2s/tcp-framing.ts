// RFC 6120 XML stream framing over TCP (plain with STARTTLS, or direct TLS): one long XML
// document whose root is <stream:stream>, parsed by the restricted-XML tokenizer.
import { escapeXML, type Element } from 'ltx';
import { NS_STREAMS, StreamError } from '../core/errors.js';
import { NS_CLIENT } from '../core/stanza.js';
import type { XmlErrorCondition, XmlLimits, XmlStreamEvents, StreamHeader } from '../xml/stream-parser.js';
import { XmlStreamParser } from '../xml/stream-parser.js';
import { tlsChannelBinding, type ChannelBinding } from '../sasl/channel-binding.js';
import type { ClientFraming, FramingEvents, OutgoingHeader } from './framing.js';
import type { StreamTransport, TransportListener } from './transport.js';

/** The namespace faults of a client stream header (RFC 6120 §4.8), or null. */
function headerProblem(header: StreamHeader): StreamError | null {
  if (header.localName !== 'stream') return new StreamError('bad-format', 'the root element must be <stream:stream/>');
  if (header.namespace !== NS_STREAMS) return new StreamError('invalid-namespace', `the stream namespace must be ${NS_STREAMS}`);
  if (header.prefix === null) return new StreamError('bad-namespace-prefix', 'the stream element needs the stream prefix');
  if (header.defaultNamespace !== NS_CLIENT) return new StreamError('invalid-namespace', `the content namespace must be ${NS_CLIENT}`);
  return null;
}

// The framing is the parser's and the transport's listener itself: an idle connection
// carries no extra objects or closures (memory per connection is a design target).
export class TcpFraming implements ClientFraming, XmlStreamEvents, TransportListener {
  private events: FramingEvents | null = null;
  private parser: XmlStreamParser;
  private closeSent = false;

  constructor(
    private readonly transport: StreamTransport,
    private readonly limits: XmlLimits,
    readonly kind: 'c2s' | 'c2s_direct_tls',
  ) {
    this.parser = new XmlStreamParser(this, limits);
    transport.attach(this);
  }

  get remoteAddress(): string {
    return this.transport.remoteAddress;
  }
  get secure(): boolean {
    return this.transport.secure;
  }
  get canStartTls(): boolean {
    return this.transport.canStartTls;
  }
  get pendingBytes(): number {
    return this.transport.pendingBytes;
  }
  probe(): boolean {
    return false;
  }
  channelBinding(): ChannelBinding | null {
    const socket = this.transport.tlsSocket;
    return socket ? tlsChannelBinding(socket) : null;
  }

  attach(events: FramingEvents): void {
    this.events = events;
  }

  // ---- input ----

  onTransportData(chunk: Buffer): void {
    this.events!.onActivity();
    this.parser.write(chunk);
  }

  onTransportClose(): void {
    this.parser.end();
    this.events!.onTransportClose();
  }

  streamStart(header: StreamHeader): void {
    this.events!.onStreamStart(header.attrs, headerProblem(header));
  }

  element(element: Element): void {
    this.events!.onElement(element);
  }

  streamEnd(): void {
    this.events!.onStreamEnd();
  }

  error(condition: XmlErrorCondition, text: string): void {
    this.events!.fail(new StreamError(condition, text));
  }

  // ---- output ----

  openStream(header: OutgoingHeader): void {
    const to = header.to !== undefined ? ` to='${escapeXML(header.to)}'` : '';
    this.transport.write(
      `<?xml version='1.0'?><stream:stream xmlns='${NS_CLIENT}' xmlns:stream='${NS_STREAMS}' id='${header.id}' from='${escapeXML(header.from)}'${to} version='1.0' xml:lang='en'>`,
    );
  }

  writeStanza(stanza: Element | string): void {
    // The stream header declared jabber:client: stanzas go as they are.
    this.transport.write(typeof stanza === 'string' ? stanza : stanza.toString());
  }

  writeFeatures(features: Element): void {
    this.transport.write(features.toString());
  }

  writeElement(xml: string): void {
    this.transport.write(xml);
  }

  flush(): void {
    this.transport.flush();
  }

  closeStream(error: StreamError | null, graceMs: number): void {
    if (!this.closeSent) {
      this.closeSent = true;
      this.transport.write(error ? error.toElement().toString() + '</stream:stream>' : '</stream:stream>');
    }
    if (error) this.parser.end();
    this.transport.end(graceMs);
  }

  expectRestart(maxStanzaBytes: number): void {
    this.parser.reset();
    this.parser.setLimits({ maxStanzaBytes });
  }

  startTls(sni: string): Promise<void> {
    // Anything after <starttls/> in this read is plaintext the client must not have sent.
    this.parser.end();
    return this.transport.startTls(sni).then(() => {
      this.parser = new XmlStreamParser(this, this.limits);
    });
  }

  pauseInput(): void {
    this.parser.pause();
    this.transport.pause();
  }

  resumeInput(): void {
    this.transport.resume();
    this.parser.resume();
  }

  stopInput(): void {
    this.parser.end();
  }

  destroy(): void {
    this.transport.destroy();
  }
}
