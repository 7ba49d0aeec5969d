// RFC 7395 framing: every WebSocket text message is one complete XML element — <open/>,
// <close/> (urn:ietf:params:xml:ns:xmpp-framing), a stanza or a nonza — that parses by
// itself. Messages are fed to one restricted-XML tokenizer per connection inside a synthetic
// stream root, so limits, namespaces and errors are exactly those of TCP streams.
import type { TLSSocket } from 'node:tls';
import { tlsChannelBinding, type ChannelBinding } from '../../sasl/channel-binding.js';
import type { Duplex } from 'node:stream';
import { escapeXML, type Element } from 'ltx';
import type { WebSocket } from 'ws';
import { qualifiedStanza, type ClientFraming, type FramingEvents, type OutgoingHeader } from '../../c2s/framing.js';
import { NS_STREAMS, StreamError } from '../../core/errors.js';
import { NS_CLIENT } from '../../core/stanza.js';
import type { XmlErrorCondition, XmlLimits, XmlStreamEvents } from '../../xml/stream-parser.js';
import { XmlStreamParser } from '../../xml/stream-parser.js';

export const NS_FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';

/**
 * The root every message is parsed inside. jabber:client is its default namespace, so a
 * stanza sent without xmlns (against §3.3.3, but seen in the wild) still means a stanza.
 */
const ROOT = Buffer.from(`<stream:stream xmlns='${NS_CLIENT}' xmlns:stream='${NS_STREAMS}'>`);

/** Held unparsed while input is paused (an asynchronous SASL step), beyond one stanza. */
const PAUSED_SLACK = 1024 * 1024;

/** How long the client has to answer our WebSocket close frame. */
const CLOSE_HANDSHAKE_MS = 2_000;

const FRAMING = Symbol('hearth.websocket-framing');
type OwnedSocket = WebSocket & { [FRAMING]?: WebSocketFraming };

// Shared listener functions (no closures per connection; memory per session is a target).
function onMessage(this: OwnedSocket, data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
  this[FRAMING]?.received(data, isBinary);
}
function onPong(this: OwnedSocket): void {
  this[FRAMING]?.alive();
}
function onClose(this: OwnedSocket): void {
  this[FRAMING]?.closedBySocket();
}
function onError(this: OwnedSocket): void {
  this.terminate();
}

/**
 * Connections with output waiting: written once per event-loop turn, every element a frame
 * of its own (RFC 7395 §3.3.3) in one buffer and one socket write.
 */
const dirty = new Set<WebSocketFraming>();
let flushScheduled = false;
function flushDirty(): void {
  flushScheduled = false;
  for (const framing of dirty) framing.flush();
  dirty.clear();
}

/**
 * RFC 6455 §5.2 text frames, unmasked (server to client), for `messages` in one buffer. The
 * ws package frames each send() apart (two buffers each); under load this is the cheaper way.
 */
function textFrames(messages: readonly string[]): Buffer {
  let size = 0;
  const lengths = new Array<number>(messages.length);
  for (let i = 0; i < messages.length; i++) {
    const length = Buffer.byteLength(messages[i]!, 'utf8');
    lengths[i] = length;
    size += length + (length < 126 ? 2 : length < 65536 ? 4 : 10);
  }
  const buffer = Buffer.allocUnsafe(size);
  let offset = 0;
  for (let i = 0; i < messages.length; i++) {
    const length = lengths[i]!;
    buffer[offset++] = 0x81; // FIN, text
    if (length < 126) {
      buffer[offset++] = length;
    } else if (length < 65536) {
      buffer[offset++] = 126;
      buffer.writeUInt16BE(length, offset);
      offset += 2;
    } else {
      buffer[offset++] = 127;
      buffer.writeUInt32BE(0, offset);
      buffer.writeUInt32BE(length, offset + 4);
      offset += 8;
    }
    offset += buffer.write(messages[i]!, offset, 'utf8');
  }
  return buffer;
}

export class WebSocketFraming implements ClientFraming, XmlStreamEvents {
  readonly kind = 'websocket';
  private events: FramingEvents | null = null;
  private readonly parser: XmlStreamParser;
  /** The element parsed from the current message, acted on once the whole message parsed. */
  private parsed: Element | null = null;
  /** The current message held more than one element (§3.3.3 allows exactly one). */
  private extraElement = false;
  private paused = false;
  private held: Buffer[] | null = null;
  private heldBytes = 0;
  private closeSent = false;
  /** Elements written this turn, not yet framed. */
  private pending: string[] | null = null;
  /** The framing broke (an XML error): nothing more is parsed. */
  private failed = false;
  private closed = false;
  private endTimer: NodeJS.Timeout | null = null;
  private maxStanzaBytes: number;

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Duplex,
    readonly remoteAddress: string,
    readonly secure: boolean,
    limits: XmlLimits,
    /** TLS straight from the client (not through a proxy): its channel bindings. */
    private readonly tls: TLSSocket | null = null,
  ) {
    this.maxStanzaBytes = limits.maxStanzaBytes;
    this.parser = new XmlStreamParser(this, limits);
    this.parser.write(ROOT);
    const owned = ws as OwnedSocket;
    owned[FRAMING] = this;
    ws.on('message', onMessage);
    ws.on('pong', onPong);
    ws.on('close', onClose);
    ws.on('error', onError);
  }

  get canStartTls(): boolean {
    return false;
  }

  channelBinding(): ChannelBinding | null {
    return this.tls ? tlsChannelBinding(this.tls) : null;
  }

  get pendingBytes(): number {
    return this.socket.writableLength;
  }

  attach(events: FramingEvents): void {
    this.events = events;
  }

  // ---- input ----

  received(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
    if (this.closed || this.failed) return;
    this.events!.onActivity();
    if (isBinary) {
      // §3.2: XMPP travels in text messages only.
      this.events!.fail(new StreamError('bad-format', 'XMPP over WebSocket uses text messages (RFC 7395 §3.2)'));
      return;
    }
    const message = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    if (this.paused) {
      this.heldBytes += message.length;
      if (this.heldBytes > this.maxStanzaBytes + PAUSED_SLACK) {
        this.events!.fail(new StreamError('policy-violation', 'too much input while the previous step is pending'));
        return;
      }
      (this.held ??= []).push(message);
      return;
    }
    this.parse(message);
  }

  /** Parses one message whole, then acts on its element: a message that is not exactly one element is refused before any of it is acted on. */
  private parse(message: Buffer): void {
    this.parsed = null;
    this.extraElement = false;
    this.parser.write(message);
    if (this.closed || this.failed) return;
    const element = this.parsed as Element | null;
    this.parsed = null;
    if (this.extraElement || !this.parser.betweenElements) {
      this.failed = true;
      this.parser.end();
      this.events!.fail(new StreamError('bad-format', 'each WebSocket message must hold exactly one complete XML element (RFC 7395 §3.3.3)'));
      return;
    }
    if (element === null) return; // white space only
    if (element.attrs.xmlns === NS_FRAMING) {
      if (element.name === 'open') return this.events!.onStreamStart(element.attrs, null);
      if (element.name === 'close') return this.events!.onStreamEnd();
    }
    this.events!.onElement(element);
  }

  alive(): void {
    this.events?.onActivity();
  }

  closedBySocket(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.endTimer) clearTimeout(this.endTimer);
    this.parser.end();
    this.held = null;
    this.pending = null;
    dirty.delete(this);
    this.events!.onTransportClose();
  }

  streamStart(): void {
    // The synthetic root: the client's stream opens with <open/>.
  }

  element(element: Element): void {
    if (this.parsed !== null) this.extraElement = true;
    else this.parsed = element;
  }

  streamEnd(): void {
    // A </stream:stream> in a message: RFC 7395 closes with <close/>, never this.
    this.failed = true;
    this.events!.fail(new StreamError('bad-format', 'close the stream with <close/> (RFC 7395 §3.6)'));
  }

  error(condition: XmlErrorCondition, text: string): void {
    this.failed = true;
    this.events!.fail(new StreamError(condition, text));
  }

  // ---- output ----

  private send(xml: string): void {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return;
    if (this.pending === null) {
      this.pending = [xml];
      dirty.add(this);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushDirty);
      }
    } else {
      this.pending.push(xml);
    }
  }

  openStream(header: OutgoingHeader): void {
    const to = header.to !== undefined ? ` to='${escapeXML(header.to)}'` : '';
    this.send(`<open xmlns='${NS_FRAMING}' id='${header.id}' from='${escapeXML(header.from)}'${to} version='1.0' xml:lang='en'/>`);
  }

  writeStanza(stanza: Element | string): void {
    this.send(qualifiedStanza(stanza));
  }

  writeFeatures(features: Element): void {
    // §3.3.3: each message parses alone, so the stream prefix is declared on the element.
    features.attrs['xmlns:stream'] = NS_STREAMS;
    this.send(features.toString());
  }

  writeElement(xml: string): void {
    this.send(xml);
  }

  flush(): void {
    const pending = this.pending;
    if (pending === null) return;
    this.pending = null;
    dirty.delete(this);
    // Frames go straight to the socket: ws's own frames (pings, the close) are written
    // synchronously too, and each is preceded by a flush, so the order holds.
    if (!this.closed && this.ws.readyState === this.ws.OPEN) this.socket.write(textFrames(pending));
  }

  closeStream(error: StreamError | null, graceMs: number): void {
    if (!this.closeSent) {
      this.closeSent = true;
      if (error) {
        const element = error.toElement();
        element.attrs['xmlns:stream'] = NS_STREAMS;
        this.send(element.toString());
      }
      // §3.6: <close/>; the WebSocket connection closes once the client answers it.
      this.send(`<close xmlns='${NS_FRAMING}'/>`);
    }
    if (error) this.parser.end();
    this.flush();
    if (this.closed) return;
    if (graceMs <= 0) {
      this.closeConnection();
      return;
    }
    if (this.endTimer) return;
    this.endTimer = setTimeout(() => this.closeConnection(), graceMs);
    this.endTimer.unref();
  }

  /** The WebSocket closing handshake, bounded: a client that does not answer it is cut off. */
  private closeConnection(): void {
    this.flush();
    this.ws.close(1000);
    if (this.endTimer) clearTimeout(this.endTimer);
    this.endTimer = setTimeout(() => this.ws.terminate(), CLOSE_HANDSHAKE_MS);
    this.endTimer.unref();
  }

  expectRestart(maxStanzaBytes: number): void {
    // The client's next message is a new <open/>; nothing else to reset between messages.
    this.maxStanzaBytes = maxStanzaBytes;
    this.parser.setLimits({ maxStanzaBytes });
  }

  startTls(): Promise<void> {
    return Promise.reject(new Error('WebSocket streams have no STARTTLS'));
  }

  probe(): boolean {
    this.flush();
    if (this.ws.readyState === this.ws.OPEN) this.ws.ping();
    return true;
  }

  pauseInput(): void {
    this.paused = true;
    this.ws.pause();
  }

  resumeInput(): void {
    if (!this.paused) return;
    this.paused = false;
    // Messages that arrived meanwhile, in order, until one of them pauses input again.
    while (!this.paused && !this.closed && !this.failed && this.held !== null && this.held.length > 0) {
      const message = this.held.shift()!;
      this.heldBytes -= message.length;
      this.parse(message);
    }
    if (this.held?.length === 0) this.held = null;
    if (!this.closed) this.ws.resume();
  }

  stopInput(): void {
    this.parser.end();
    this.held = null;
  }

  destroy(): void {
    this.pending = null;
    dirty.delete(this);
    this.ws.terminate();
  }
}
