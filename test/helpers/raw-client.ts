// A bound client stream over a raw socket, for stream management tests: exact bytes in and
// out, no client library deciding when to acknowledge.
import { expect } from 'chai';
import { plainAuth, RawConnection, streamHeader } from './raw.js';
import { delay } from './xmpp-client.js';

/** The password every RawClient account uses. */
export const PASSWORD = 'sm-secret';
const NS_SM = 'urn:xmpp:sm:3';

interface Target {
  readonly host: string;
  readonly port: number;
  readonly domain: string;
}

/** A client stream over a raw socket, logged in and bound. */
export class RawClient {
  /** Where the server's counting starts: what it sent after <enable/>. */
  enabledAt = 0;

  constructor(
    readonly raw: RawConnection,
    readonly jid: string,
  ) {}

  /** Connects, authenticates (PLAIN over plaintext: a loopback test server) and binds, or resumes. */
  static async login(server: Target, user: string, options: { resource?: string; resume?: { previd: string; h: number } } = {}): Promise<{ client: RawClient | null; reply: string; raw: RawConnection }> {
    const raw = await RawConnection.open(server.host, server.port);
    raw.send(streamHeader(server.domain));
    await raw.waitFor(/<\/stream:features>/);
    raw.send(plainAuth(user, PASSWORD));
    await raw.waitFor(/<success[^>]*\/>|<success[^>]*>[^<]*<\/success>/);
    const mark = raw.text.length;
    raw.send(streamHeader(server.domain).replace("<?xml version='1.0'?>", ''));
    await raw.waitFor(/<\/stream:features>[\s\S]*<\/stream:features>/);
    expect(raw.text.slice(mark)).to.match(/<sm xmlns=['"]urn:xmpp:sm:3['"]\/>/);
    if (options.resume) {
      const before = raw.text.length;
      raw.send(`<resume xmlns='${NS_SM}' previd='${options.resume.previd}' h='${options.resume.h}'/>`);
      const reply = await waitAfter(raw, before, /<resumed [^>]*\/>|<failed [\s\S]*?<\/failed>|<failed [^>]*\/>/);
      const client = reply.startsWith('<resumed') ? new RawClient(raw, '') : null;
      return { client, reply, raw };
    }
    const before = raw.text.length;
    raw.send(`<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${options.resource ?? 'phone'}</resource></bind></iq>`);
    const bound = await waitAfter(raw, before, /<jid>([^<]+)<\/jid>/);
    return { client: new RawClient(raw, /<jid>([^<]+)<\/jid>/.exec(bound)![1]!), reply: bound, raw };
  }

  /** Sends and returns the next match after this point. */
  async request(data: string, pattern: RegExp, ms = 3_000): Promise<string> {
    const before = this.raw.text.length;
    this.raw.send(data);
    return waitAfter(this.raw, before, pattern, ms);
  }

  async enable(resume = true): Promise<{ id: string | null; element: string }> {
    this.enabledAt = this.raw.text.length;
    const element = await this.request(`<enable xmlns='${NS_SM}'${resume ? " resume='true'" : ''}/>`, /<enabled [^>]*\/>|<failed [\s\S]*?<\/failed>/);
    const id = /id=['"]([^'"]+)['"]/.exec(element)?.[1] ?? null;
    return { id, element };
  }

  /** The h the server reports. */
  async serverH(): Promise<number> {
    const a = await this.request(`<r xmlns='${NS_SM}'/>`, /<a xmlns='urn:xmpp:sm:3' h='(\d+)'\/>/);
    return Number(/h='(\d+)'/.exec(a)![1]);
  }

  /** Messages with a body received so far, by id, in order. */
  messageIds(): string[] {
    return [...this.raw.text.matchAll(/<message [^>]*id="([^"]+)"/g)].map((m) => m[1]!);
  }

  /** Stanzas the server sent since stream management was enabled (h, counted by hand). */
  stanzaCount(since = this.enabledAt): number {
    return (this.raw.text.slice(since).match(/<(message|presence|iq)[ >]/g) ?? []).length;
  }
}

export async function waitAfter(raw: RawConnection, from: number, pattern: RegExp, ms = 3_000): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const match = pattern.exec(raw.text.slice(from));
    if (match) return match[0];
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; got: ${raw.text.slice(from).slice(-600)}`);
    if (raw.ended) throw new Error(`connection closed without ${pattern}; got: ${raw.text.slice(from).slice(-600)}`);
    await delay(5);
  }
}

