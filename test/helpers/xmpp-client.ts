// Drives Hearth with an independent client library (@xmpp/client) over real sockets.
import { client, xml, type Client } from '@xmpp/client';
import { WebSocket as WsWebSocket } from 'ws';
import type { Element } from '@xmpp/xml';
import { ensureHostsEntry } from './hosts.js';
import type { TestServer } from './server.js';

export { xml };
export type { Client, Element };

export interface ConnectOptions {
  resource?: string;
  /** 'starttls' (default), 'direct' (XEP-0368 TLS on the direct port) or 'websocket' (RFC 7395). */
  transport?: 'starttls' | 'direct' | 'websocket';
  mechanism?: 'SCRAM-SHA-1' | 'PLAIN';
  /** Sees every top-level element from the server, stream features included, from the start. */
  onElement?: (element: Element) => void;
  /**
   * Sign in with SASL2 and Bind 2 (XEP-0388/0386), as today's clients do, or like an older
   * client (RFC 6120 SASL and binding). Bind 2 makes the resource "<tag>/<id>", so by default a
   * test that asks for an exact resource signs in the older way, and any other with SASL2.
   */
  sasl2?: boolean;
}

/** Hides SASL2 from @xmpp/client (it prefers SASL2 whenever the server offers it). */
export function withoutSasl2(xmpp: Client): void {
  const entity = xmpp as unknown as { _onElement(element: Element): void };
  const original = entity._onElement;
  entity._onElement = function (this: unknown, element: Element) {
    if (element.is('features', 'http://etherx.jabber.org/streams')) {
      element.children = element.children.filter((child) => typeof child === 'string' || !child.is('authentication', 'urn:xmpp:sasl:2'));
    }
    original.call(this, element);
  };
}

/** Logs in and resolves once the resource is bound. */
export async function connect(server: TestServer, username: string, password: string, options: ConnectOptions = {}): Promise<Client> {
  let service = `xmpp://${server.host}:${server.port}`;
  if (options.transport === 'direct') {
    // @xmpp/client checks the certificate against the host it dials (it sends no SNI of the
    // domain), so dial a name under the test CA's *.hearth.example.
    const name = `c2s-${server.host.replace(/\./g, '-')}.hearth.example`;
    ensureHostsEntry(name, server.host);
    service = `xmpps://${name}:${server.directTlsPort}`;
  } else if (options.transport === 'websocket') {
    // @xmpp/websocket uses the platform's WebSocket, which Node 20 lacks.
    (globalThis as { WebSocket?: unknown }).WebSocket ??= WsWebSocket;
    service = `${server.httpUrl.replace(/^http/, 'ws')}/xmpp-websocket`;
  }
  const xmpp = client({
    service,
    domain: server.domain,
    resource: options.resource,
    credentials: async (authenticate: (c: { username: string; password: string }, m: string) => Promise<void>, mechanisms: string[]) => {
      const mechanism = options.mechanism ?? 'SCRAM-SHA-1';
      if (!mechanisms.includes(mechanism)) throw new Error(`server does not offer ${mechanism} (offers ${mechanisms.join(', ')})`);
      await authenticate({ username, password }, mechanism);
    },
  });
  xmpp.reconnect.stop();
  if (!(options.sasl2 ?? options.resource === undefined)) withoutSasl2(xmpp);
  if (options.onElement) xmpp.on('element', options.onElement);
  // Errors surface through start(); keep the emitter from throwing unhandled ones.
  xmpp.on('error', () => undefined);
  try {
    await withTimeout(xmpp.start(), 5_000, `login of ${username}`);
    await smSettled(xmpp);
  } catch (err) {
    // A refused login leaves the socket open otherwise (until the server's timeout).
    await stopQuietly(xmpp);
    throw err;
  }
  return xmpp;
}

/**
 * @xmpp/client resolves start() before <enabled/> (XEP-0198) arrives, and resets its inbound
 * counter when it handles <enabled/>, after any stanza parsed from the same read: it then
 * acknowledges fewer stanzas than it got, and the server rightly resends those. A test waits
 * until stream management is settled before it sends anything.
 */
async function smSettled(xmpp: Client): Promise<void> {
  const sm = (xmpp as unknown as { streamManagement?: { enabled: boolean } }).streamManagement;
  // Hearth always offers XEP-0198; the client sends <enable/> right after binding.
  const deadline = Date.now() + 3_000;
  while (sm && !sm.enabled && Date.now() < deadline) await delay(2);
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

/** The next stanza the client receives that matches. */
export function nextStanza(xmpp: Client, match: (el: Element) => boolean, ms = 3_000): Promise<Element> {
  return withTimeout(
    new Promise<Element>((resolve) => {
      const listener = (el: Element) => {
        if (match(el)) {
          xmpp.removeListener('stanza', listener);
          resolve(el);
        }
      };
      xmpp.on('stanza', listener);
    }),
    ms,
    'a stanza',
  );
}

/** The first stanza in an inbox (collectStanzas) that matches, already there or still to come. */
export async function waitForStanza(inbox: Element[], match: (el: Element) => boolean, what: string, ms = 3_000): Promise<Element> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = inbox.find(match);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got:\n${inbox.map(String).join('\n')}`);
    await delay(10);
  }
}

/** Collects every stanza the client receives, for asserting that nothing else arrived. */
export function collectStanzas(xmpp: Client): Element[] {
  const received: Element[] = [];
  xmpp.on('stanza', (el: Element) => received.push(el));
  return received;
}

/** The stream error condition the server sends before it closes the stream. */
export function nextStreamError(xmpp: Client, ms = 3_000): Promise<string> {
  return withTimeout(
    new Promise<string>((resolve) => {
      xmpp.on('element', (el: Element) => {
        if (el.name === 'stream:error' || el.is('error', 'http://etherx.jabber.org/streams')) {
          const condition = el.children.find((c) => typeof c !== 'string' && c.attrs.xmlns === 'urn:ietf:params:xml:ns:xmpp-streams');
          resolve(typeof condition === 'object' ? condition.name : 'unknown');
        }
      });
    }),
    ms,
    'a stream error',
  );
}

export async function stopQuietly(xmpp: Client | undefined): Promise<void> {
  if (!xmpp) return;
  try {
    await withTimeout(xmpp.stop(), 2_000, 'client stop');
  } catch {
    // already closed
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A round trip through the server (a ping): everything sent before it has been routed. */
export async function roundTrip(client: Client): Promise<void> {
  await client.iqCaller.request(xml('iq', { type: 'get', to: client.jid!.domain }, xml('ping', { xmlns: 'urn:xmpp:ping' })), 3_000);
}

/** A well-behaved client acknowledges roster pushes with a result (RFC 6121 §2.1.6). */
export function acknowledgeRosterPushes(client: Client): Client {
  (client as unknown as { iqCallee: { set(ns: string, name: string, handler: () => boolean): void } }).iqCallee.set('jabber:iq:roster', 'query', () => true);
  return client;
}
