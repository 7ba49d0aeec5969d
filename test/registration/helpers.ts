// An unauthenticated client stream for in-band registration tests (XEP-0077, XEP-0445): no
// client library here speaks them, so exact XML over a real socket, after STARTTLS (the
// certificate checked against the test CA), the replies parsed with ltx.
import net from 'node:net';
import tls from 'node:tls';
import { parse, type Element } from 'ltx';
/** Where the server's STARTTLS listener is. */
export interface C2sTarget {
  readonly host: string;
  readonly port: number;
  readonly domain: string;
}
import { withTimeout } from '../helpers/xmpp-client.js';

export const NS_REGISTER = 'jabber:iq:register';
export const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

/** What an iq answered: its type, and for an error its condition and text. */
export interface IqOutcome {
  type: string;
  condition: string | null;
  text: string | null;
  element: Element;
}

export class PreAuthClient {
  text = '';
  private closed = false;
  private readonly waiters: Array<() => void> = [];
  private counter = 0;

  private socket: net.Socket | tls.TLSSocket;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.listen(socket);
  }

  private listen(socket: net.Socket): void {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.text += chunk;
      this.notify();
    });
    socket.on('close', () => {
      if (socket !== this.socket) return;
      this.closed = true;
      this.notify();
    });
    socket.on('error', () => undefined);
  }

  /** Connects, negotiates TLS (RFC 6120 §5) and opens the stream again; `features` is what the server offers then. */
  static async open(server: C2sTarget): Promise<{ client: PreAuthClient; features: string }> {
    const plain = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: server.host, port: server.port }, () => resolve(s));
      s.once('error', reject);
    });
    const client = new PreAuthClient(plain);
    client.socket.write(streamHeader(server.domain));
    await client.waitFor(/<\/stream:features>/);
    client.socket.write(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`);
    await client.waitFor(/<proceed [^>]*\/>/);
    plain.removeAllListeners('data');
    const secure = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ socket: plain, servername: server.domain }, () => resolve(s));
      s.once('error', reject);
    });
    client.socket = secure;
    client.text = '';
    client.listen(secure);
    secure.write(streamHeader(server.domain));
    const features = await client.waitFor(/<stream:features>[\s\S]*?<\/stream:features>/);
    return { client, features };
  }

  private notify(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  async waitFor(pattern: RegExp, from = 0, ms = 5_000): Promise<string> {
    return withTimeout(
      new Promise<string>((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(this.text.slice(from));
          if (match) return resolve(match[0]);
          if (this.closed) return reject(new Error(`connection closed without ${pattern}; got: ${this.text.slice(from)}`));
          this.waiters.push(check);
        };
        check();
      }),
      ms,
      `${pattern} (got: ${this.text.slice(-400)})`,
    );
  }

  /** Sends an iq with this payload and returns its answer. */
  async iq(type: 'get' | 'set', payload: string): Promise<IqOutcome> {
    const id = `r${++this.counter}`;
    const from = this.text.length;
    this.socket.write(`<iq type='${type}' id='${id}'>${payload}</iq>`);
    const raw = await this.waitFor(new RegExp(`<iq\\b[^>]*\\bid=["']${id}["'][^>]*?(?:/>|>[\\s\\S]*?</iq>)`), from);
    const element = parse(raw) as Element;
    const error = element.getChild('error');
    const condition = error?.getChildElements().find((c) => c.attrs.xmlns === NS_STANZAS && c.name !== 'text')?.name ?? null;
    const text = error?.getChildText('text', NS_STANZAS) ?? null;
    return { type: element.attrs.type as string, condition, text, element };
  }

  /** XEP-0445 §4: presents an invitation token. */
  preauth(token: string): Promise<IqOutcome> {
    return this.iq('set', `<preauth xmlns='urn:xmpp:pars:0' token='${escape(token)}'/>`);
  }

  /** XEP-0077 §3.1 with the legacy fields. */
  register(username: string, password: string): Promise<IqOutcome> {
    return this.iq('set', `<query xmlns='${NS_REGISTER}'><username>${escape(username)}</username><password>${escape(password)}</password></query>`);
  }

  /** XEP-0077 §4 with the data form (fields by var). */
  registerWithForm(fields: Record<string, string>): Promise<IqOutcome> {
    const body = Object.entries(fields)
      .map(([name, value]) => `<field var='${name}'><value>${escape(value)}</value></field>`)
      .join('');
    return this.iq(
      'set',
      `<query xmlns='${NS_REGISTER}'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>jabber:iq:register</value></field>${body}</x></query>`,
    );
  }

  close(): void {
    this.socket.destroy();
  }
}

function streamHeader(domain: string): string {
  return `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='${domain}' version='1.0'>`;
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;');
}

/** One registration on a fresh connection: preauth first when a token is given. */
export async function registerOnce(server: C2sTarget, username: string, password: string, token?: string): Promise<IqOutcome> {
  const { client } = await PreAuthClient.open(server);
  try {
    if (token !== undefined) {
      const accepted = await client.preauth(token);
      if (accepted.type !== 'result') return accepted;
    }
    return await client.register(username, password);
  } finally {
    client.close();
  }
}
