// What inbound and outbound server-to-server streams share (RFC 6120 §4): the parser, the
// stream header, stream errors, closing and the idle timer. Each direction adds its own
// negotiation (stream-in.ts, stream-out.ts).
import { randomBytes } from 'node:crypto';
import { escapeXML, type Element } from 'ltx';
import { NS_STREAMS, StreamError } from '../core/errors.js';
import type { StreamTransport, TransportListener } from '../c2s/transport.js';
import type { StreamHeader, XmlErrorCondition, XmlStreamEvents } from '../xml/stream-parser.js';
import { XmlStreamParser } from '../xml/stream-parser.js';
import type { S2sContext } from './context.js';

export const NS_SERVER = 'jabber:server';
export const NS_DIALBACK = 'jabber:server:dialback';
/** XEP-0220 §2.4.1: the dialback stream feature (with error support). */
export const NS_DIALBACK_FEATURE = 'urn:xmpp:features:dialback';

export type ServerStreamState = 'header' | 'open' | 'closing' | 'closed';

class ParserEvents implements XmlStreamEvents {
  constructor(private readonly stream: ServerStream) {}
  streamStart(header: StreamHeader): void {
    this.stream.guard(() => this.stream.onStreamStart(header));
  }
  element(element: Element): void {
    this.stream.guard(() => this.stream.onElement(element));
  }
  streamEnd(): void {
    this.stream.guard(() => this.stream.onStreamEnd());
  }
  error(condition: XmlErrorCondition, text: string): void {
    this.stream.fail(new StreamError(condition, text));
  }
}

export abstract class ServerStream implements TransportListener {
  /** Our stream ID (the one we send in our header); new for every stream restart. */
  id = ServerStream.newId();
  protected state: ServerStreamState = 'header';
  protected parser: XmlStreamParser;
  protected transport: StreamTransport | null = null;
  protected headerSent = false;
  private idleTimer: NodeJS.Timeout | null = null;
  private lastActivity = Date.now();
  readonly since = new Date();

  constructor(protected readonly ctx: S2sContext) {
    this.parser = this.createParser(false);
  }

  static newId(): string {
    return randomBytes(12).toString('base64url');
  }

  /** Log fields that identify this stream. */
  abstract get logFields(): Record<string, unknown>;

  abstract onStreamStart(header: StreamHeader): void;
  abstract onElement(element: Element): void;
  /** Called once when the stream is gone, whatever the reason. */
  protected abstract onClosed(): void;

  get isClosed(): boolean {
    return this.state === 'closing' || this.state === 'closed';
  }

  protected attachTransport(transport: StreamTransport): void {
    this.transport = transport;
    transport.attach(this);
    this.startIdleTimer();
  }

  protected createParser(authenticated: boolean): XmlStreamParser {
    const limits = this.ctx.config.limits;
    return new XmlStreamParser(new ParserEvents(this), {
      maxStanzaBytes: authenticated ? limits.stanzaBytes : limits.preAuthStanzaBytes,
      maxDepth: limits.depth,
      maxAttributes: limits.attributes,
    });
  }

  onTransportData(chunk: Buffer): void {
    this.lastActivity = Date.now();
    this.parser.write(chunk);
  }

  onTransportClose(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.parser.end();
    this.stopIdleTimer();
    this.onClosed();
  }

  /** No input may throw out of the socket handler (design: safety at the edge). */
  guard(work: () => void): void {
    try {
      work();
    } catch (err) {
      if (err instanceof StreamError) {
        this.fail(err);
      } else {
        this.ctx.log.error({ ...this.logFields, err }, 'unexpected error on a server stream');
        this.fail(new StreamError('internal-server-error'));
      }
    }
  }

  /** RFC 6120 §4.8: the header must be a jabber:server stream of XMPP 1.0. */
  protected checkHeader(header: StreamHeader): void {
    if (header.localName !== 'stream') throw new StreamError('bad-format', 'the root element must be <stream:stream/>');
    if (header.namespace !== NS_STREAMS) throw new StreamError('invalid-namespace', `the stream namespace must be ${NS_STREAMS}`);
    if (header.prefix === null) throw new StreamError('bad-namespace-prefix', 'the stream element needs the stream prefix');
    if (header.defaultNamespace !== NS_SERVER) throw new StreamError('invalid-namespace', `the content namespace must be ${NS_SERVER}`);
    const match = header.attrs.version ? /^(\d+)\.(\d+)$/.exec(header.attrs.version) : null;
    if (!match || Number(match[1]) < 1) throw new StreamError('unsupported-version', 'XMPP 1.0 is required');
  }

  protected writeHeader(attrs: { from?: string; to?: string; id?: string }): void {
    if (this.headerSent || !this.transport) return;
    this.headerSent = true;
    let text = `<?xml version='1.0'?><stream:stream xmlns='${NS_SERVER}' xmlns:stream='${NS_STREAMS}' xmlns:db='${NS_DIALBACK}'`;
    if (attrs.from) text += ` from='${escapeXML(attrs.from)}'`;
    if (attrs.to) text += ` to='${escapeXML(attrs.to)}'`;
    if (attrs.id) text += ` id='${escapeXML(attrs.id)}'`;
    this.transport.write(text + ` version='1.0' xml:lang='en'>`);
  }

  /** A header for streams that must answer before they know better (errors before the header). */
  protected abstract ensureHeader(): void;

  protected write(text: string): void {
    this.transport?.write(text);
  }

  /** Marks traffic, so the idle timer does not close a busy stream. */
  protected touch(): void {
    this.lastActivity = Date.now();
  }

  onStreamEnd(): void {
    if (this.state === 'closed') return;
    if (this.state !== 'closing') this.write('</stream:stream>');
    this.state = 'closing';
    this.stopIdleTimer();
    this.transport?.end(0);
    this.onClosing();
  }

  /** Ends the stream cleanly (§4.4), or with a stream error. */
  close(error?: StreamError): void {
    if (error) {
      this.fail(error);
      return;
    }
    if (this.isClosed) return;
    this.ensureHeader();
    this.write('</stream:stream>');
    this.state = 'closing';
    this.stopIdleTimer();
    this.onClosing();
    if (this.transport) this.transport.end(2_000);
    else this.onTransportClose();
  }

  /** §4.9.1: send the error, close the stream, close the connection. */
  fail(error: StreamError): void {
    if (this.isClosed) return;
    this.ctx.log.debug({ ...this.logFields, condition: error.condition, text: error.text }, 's2s stream error');
    if (this.transport) {
      this.ensureHeader();
      this.write(error.toElement().toString() + '</stream:stream>');
    }
    this.state = 'closing';
    this.parser.end();
    this.stopIdleTimer();
    this.onClosing(error);
    if (this.transport) this.transport.end(1_000);
    else this.onTransportClose();
  }

  /** The stream is ending (our side decided); subclasses settle what depends on it. */
  protected onClosing(_error?: StreamError): void {}

  /**
   * Closes the stream once s2s.idleTimeoutS passes without traffic. One timer per stream,
   * re-armed for the moment the stream would become idle (not reset per stanza: that would
   * cost more than the check).
   */
  private startIdleTimer(): void {
    const idleMs = this.ctx.config.s2s.idleTimeoutS * 1000;
    const check = () => {
      this.idleTimer = null;
      if (this.isClosed) return;
      const idleFor = Date.now() - this.lastActivity;
      if (idleFor >= idleMs && this.idleCloseAllowed()) {
        this.ctx.log.debug(this.logFields, 'closing idle s2s stream');
        this.close();
        return;
      }
      // Busy (an exchange in progress) streams are looked at again a little later.
      this.idleTimer = setTimeout(check, idleFor >= idleMs ? 1_000 : idleMs - idleFor);
      this.idleTimer.unref();
    };
    this.idleTimer = setTimeout(check, idleMs);
    this.idleTimer.unref();
  }

  /** Whether the stream may be closed for idleness now (no exchange in progress). */
  protected idleCloseAllowed(): boolean {
    return true;
  }

  private stopIdleTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }
}

