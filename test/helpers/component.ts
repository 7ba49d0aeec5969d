// An XEP-0114 component written with @xmpp/component, for tests: connect, wait for stanzas, stop.
import { component, type Component } from '@xmpp/component';
import type { TestServer } from './server.js';
import { delay, type Element } from './xmpp-client.js';

export type { Component };

/** Connects a component to `server`'s component port; resolves once the handshake succeeded. */
export async function startComponent(server: TestServer, domain: string, password: string): Promise<Component> {
  const bot = component({ service: `xmpp://${server.host}:${server.componentPort}`, domain, password });
  bot.reconnect.stop();
  bot.on('error', () => undefined);
  await Promise.race([
    bot.start(),
    new Promise((_, reject) => setTimeout(() => reject(new Error('component start timed out')), 5_000)),
  ]);
  return bot;
}

export async function stopComponent(bot: Component): Promise<void> {
  await Promise.race([bot.stop().catch(() => undefined), delay(1_000)]);
}

/** The next stanza a component receives that matches. */
export function componentReceives(bot: Component, match: (el: Element) => boolean, ms = 3_000): Promise<Element> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the component received nothing matching')), ms);
    const listener = (el: Element) => {
      if (!match(el)) return;
      clearTimeout(timer);
      bot.removeListener('stanza', listener);
      resolve(el);
    };
    bot.on('stanza', listener);
  });
}
