// The load generator's connections over WebSocket (RFC 7395) and BOSH (XEP-0124/0206): the
// same XMPP as over TCP, framed for the web. Each delivers the server's elements as bytes to
// the generator's scanner, so the rest of c2s-load.ts does not know how it is connected.
import http from 'node:http';
import { WebSocket } from 'ws';

export interface IoEvents {
  connected(): void;
  data(chunk: Buffer): void;
  closed(): void;
  error(kind: string): void;
}

/** A connection: elements out, bytes in. */
export interface Io {
  /** Sends the elements written this turn. */
  send(elements: string[]): void;
  /** Opens the XML stream, or restarts it after SASL success (RFC 6120 §6.4.6). */
  openStream(domain: string, restart: boolean): void;
  /** Closes the stream politely; the connection follows. */
  closeStream(): void;
  destroy(): void;
}

const NS_FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';
const NS_HTTPBIND = 'http://jabber.org/protocol/httpbind';
const NS_XBOSH = 'urn:xmpp:xbosh';

/** Stanzas standing alone (a WebSocket message, a BOSH body's child) name their namespace. */
function qualify(element: string): string {
  const m = /^<(message|presence|iq)(?=[ />])/.exec(element);
  if (!m || /^<[a-z]+ [^>]*xmlns=/.test(element)) return element;
  return `<${m[1]} xmlns='jabber:client'${element.slice(m[0].length)}`;
}

export class WebSocketIo implements Io {
  private readonly ws: WebSocket;
  private closing = false;

  constructor(url: string, private readonly events: IoEvents) {
    this.ws = new WebSocket(url, 'xmpp', { perMessageDeflate: false });
    this.ws.on('open', () => events.connected());
    this.ws.on('message', (data: Buffer) => events.data(data));
    this.ws.on('close', () => events.closed());
    this.ws.on('error', (err: NodeJS.ErrnoException) => events.error(err.code ?? 'websocket-error'));
  }

  send(elements: string[]): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    for (const element of elements) this.ws.send(qualify(element));
  }

  openStream(domain: string): void {
    this.send([`<open xmlns='${NS_FRAMING}' to='${domain}' version='1.0'/>`]);
  }

  closeStream(): void {
    if (this.closing) return;
    this.closing = true;
    this.send([`<close xmlns='${NS_FRAMING}'/>`]);
    setTimeout(() => this.ws.close(1000), 50).unref();
  }

  destroy(): void {
    this.ws.terminate();
  }
}

/**
 * A BOSH session with hold=1: one request always held by the server (the poll), and a second
 * one whenever there is something to send (which releases the first). Responses are handled
 * in rid order, as XEP-0124 §14.2 requires of clients.
 */
export class BoshIo implements Io {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  private sid = '';
  private rid = 1 + Math.floor(Math.random() * 1e9);
  private inflight = 0;
  private readonly queue: string[] = [];
  private restartPending = false;
  private terminating = false;
  private dead = false;
  /** Responses by rid, handed on in order. */
  private readonly answered = new Map<number, string>();
  private nextToHandle = 0;
  private domain = '';

  constructor(private readonly url: string, private readonly events: IoEvents) {
    setImmediate(() => events.connected());
  }

  send(elements: string[]): void {
    for (const element of elements) this.queue.push(qualify(element));
    this.pump();
  }

  openStream(domain: string, restart: boolean): void {
    this.domain = domain;
    if (restart) {
      this.restartPending = true;
      this.pump();
      return;
    }
    const rid = this.rid++;
    this.nextToHandle = rid;
    this.post(rid, `<body xmlns='${NS_HTTPBIND}' rid='${rid}' to='${domain}' wait='60' hold='1' ver='1.6' xml:lang='en' xmpp:version='1.0' xmlns:xmpp='${NS_XBOSH}'/>`);
  }

  private pump(): void {
    if (this.sid === '' || this.dead) return;
    while (this.inflight < 2) {
      const rid = this.rid;
      if (this.restartPending) {
        this.restartPending = false;
        this.rid++;
        this.post(rid, `<body xmlns='${NS_HTTPBIND}' rid='${rid}' sid='${this.sid}' to='${this.domain}' xml:lang='en' xmpp:restart='true' xmlns:xmpp='${NS_XBOSH}'/>`);
      } else if (this.queue.length > 0 || this.terminating) {
        const payload = this.queue.splice(0).join('');
        this.rid++;
        const type = this.terminating ? " type='terminate'" : '';
        this.post(rid, `<body xmlns='${NS_HTTPBIND}' rid='${rid}' sid='${this.sid}'${type}>${payload}</body>`);
        if (this.terminating) return;
      } else if (this.inflight === 0) {
        this.rid++;
        this.post(rid, `<body xmlns='${NS_HTTPBIND}' rid='${rid}' sid='${this.sid}'/>`);
      } else {
        return;
      }
    }
  }

  private post(rid: number, body: string): void {
    this.inflight++;
    const request = http.request(this.url, { method: 'POST', agent: this.agent, headers: { 'Content-Type': 'text/xml; charset=utf-8', 'Content-Length': Buffer.byteLength(body) } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        this.inflight--;
        this.answered.set(rid, Buffer.concat(chunks).toString('utf8'));
        this.handleInOrder();
        this.pump();
      });
    });
    request.on('error', (err: NodeJS.ErrnoException) => {
      this.inflight--;
      if (!this.dead) this.events.error(err.code ?? 'http-error');
      this.finish();
    });
    request.end(body);
  }

  private handleInOrder(): void {
    for (let text = this.answered.get(this.nextToHandle); text !== undefined; text = this.answered.get(this.nextToHandle)) {
      this.answered.delete(this.nextToHandle);
      this.nextToHandle++;
      const start = /^<body[^>]*>/.exec(text);
      if (!start) {
        this.events.error('bosh-bad-response');
        return this.finish();
      }
      if (this.sid === '') {
        const sid = /\ssid=['"]([^'"]+)['"]/.exec(start[0]);
        if (!sid) {
          this.events.error('bosh-no-sid');
          return this.finish();
        }
        this.sid = sid[1]!;
      }
      const selfClosed = start[0].endsWith('/>');
      const inner = selfClosed ? '' : text.slice(start[0].length, text.lastIndexOf('</body>'));
      if (inner !== '') this.events.data(Buffer.from(inner, 'utf8'));
      if (/\stype=['"]terminate['"]/.test(start[0])) return this.finish();
    }
  }

  private finish(): void {
    if (this.dead) return;
    this.dead = true;
    this.agent.destroy();
    this.events.closed();
  }

  closeStream(): void {
    if (this.terminating || this.dead) return;
    this.terminating = true;
    this.pump();
    setTimeout(() => this.finish(), 2_000).unref();
  }

  destroy(): void {
    this.finish();
  }
}
