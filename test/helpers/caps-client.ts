// A client that advertises XEP-0115 capabilities as real clients do: a <c/> in its presence
// and answers to disco#info at node#ver. The hash is computed here, independently of Hearth.
import { createHash } from 'node:crypto';
import { xml, type Client, type Element } from './xmpp-client.js';

export const NS_CAPS = 'http://jabber.org/protocol/caps';
const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';
export const TEST_CAPS_NODE = 'https://hearth.example/test-client';

export interface AdvertisedCaps {
  readonly node: string;
  readonly ver: string;
  /** disco#info queries the client answered for its node#ver. */
  readonly queries: string[];
}

/** XEP-0115 §5.1 for one identity (client/pc) and features, without forms. */
export function capsVer(features: readonly string[], name = 'Hearth tests'): string {
  let s = `client/pc//${name}<`;
  for (const feature of [...new Set(features)].sort()) s += `${feature}<`;
  return createHash('sha1').update(s, 'utf8').digest('base64');
}

/**
 * Answers disco#info for the client's caps node with `features`. `claimedVer` overrides the
 * ver the presence will claim (a wrong hash).
 */
export function advertiseCaps(client: Client, features: readonly string[], claimedVer?: string): AdvertisedCaps {
  const all = [NS_DISCO_INFO, NS_CAPS, ...features];
  const caps = { node: TEST_CAPS_NODE, ver: claimedVer ?? capsVer(all), queries: [] as string[] };
  const callee = (client as unknown as { iqCallee: { get(ns: string, name: string, handler: (ctx: { element: Element; stanza: Element }) => Element): void } }).iqCallee;
  callee.get(NS_DISCO_INFO, 'query', ({ element, stanza }) => {
    caps.queries.push(`${stanza.attrs.from} ${element.attrs.node ?? ''}`);
    return xml(
      'query',
      { xmlns: NS_DISCO_INFO, node: element.attrs.node },
      xml('identity', { category: 'client', type: 'pc', name: 'Hearth tests' }),
      ...[...new Set(all)].map((feature) => xml('feature', { var: feature })),
    );
  });
  return caps;
}

/** An available presence carrying the caps. */
export function capsPresence(caps: AdvertisedCaps, ...children: Element[]): Element {
  return xml('presence', {}, xml('c', { xmlns: NS_CAPS, hash: 'sha-1', node: caps.node, ver: caps.ver }), ...children);
}
