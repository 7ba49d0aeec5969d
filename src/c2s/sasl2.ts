// The wire format of XEP-0388 (SASL2) with its inline features — XEP-0386 Bind 2, XEP-0484
// FAST, XEP-0198 resumption — and XEP-0440's channel-binding announcement. The exchange
// itself runs in the c2s stream (stream.ts); this file reads requests and builds elements.
import { createHmac, randomBytes } from 'node:crypto';
import { Element } from 'ltx';
import { NS_SASL, type SaslFailure } from '../core/errors.js';
import { prepareResource } from '../core/jid.js';
import { LruMap } from '../core/lru-map.js';
import type { ChannelBinding } from '../sasl/channel-binding.js';
import { fastChannelBinding, FAST_MECHANISMS, type FastMechanismName } from '../sasl/ht.js';
import { NS_SM } from './stream-management.js';

export const NS_SASL2 = 'urn:xmpp:sasl:2';
export const NS_BIND2 = 'urn:xmpp:bind:0';
export const NS_FAST = 'urn:xmpp:fast:0';
export const NS_SASL_CB = 'urn:xmpp:sasl-cb:0';

/** Longest user-agent id and Bind 2 tag we take (both end up in keys or a resource). */
const MAX_USER_AGENT_ID = 256;
const MAX_TAG = 64;

export interface Sasl2Request {
  mechanism: string | undefined;
  /** §2.3: null when absent; '' for an empty <initial-response/> (a zero-length response). */
  initialResponse: string | null;
  /** XEP-0388 §2.3 user-agent id: stable per client installation (FAST, Bind 2 resources). */
  userAgentId: string | null;
  /** The 'upgrade' attribute: a mechanism to upgrade to (we offer none). */
  upgrade: string | undefined;
  bind: Element | null;
  resume: { previd: string; h: string | undefined } | null;
  /** XEP-0484 §4.4: authenticating with a token (and perhaps invalidating it). */
  fast: { invalidate: boolean } | null;
  /** XEP-0484 §4.2: the FAST mechanism the client wants a token for. */
  requestToken: string | null;
}

export function parseAuthenticate(element: Element): Sasl2Request {
  const request: Sasl2Request = {
    mechanism: element.attrs.mechanism,
    initialResponse: null,
    userAgentId: null,
    upgrade: element.attrs.upgrade,
    bind: null,
    resume: null,
    fast: null,
    requestToken: null,
  };
  for (const child of element.getChildElements()) {
    const ns = child.attrs.xmlns;
    if (child.name === 'initial-response' && (ns === undefined || ns === NS_SASL2)) {
      request.initialResponse = child.getText().trim();
    } else if (child.name === 'user-agent' && (ns === undefined || ns === NS_SASL2)) {
      const id = child.attrs.id;
      if (id && id.length <= MAX_USER_AGENT_ID) request.userAgentId = id;
    } else if (child.name === 'bind' && ns === NS_BIND2) {
      request.bind = child;
    } else if (child.name === 'resume' && ns === NS_SM) {
      request.resume = { previd: child.attrs.previd ?? '', h: child.attrs.h };
    } else if (child.name === 'fast' && ns === NS_FAST) {
      request.fast = { invalidate: child.attrs.invalidate === 'true' || child.attrs.invalidate === '1' };
    } else if (child.name === 'request-token' && ns === NS_FAST) {
      request.requestToken = child.attrs.mechanism ?? '';
    }
  }
  return request;
}

/** §2.6.2: a SASL condition of RFC 6120 §6.5, and an optional text. */
export function sasl2Failure(failure: SaslFailure): string {
  const element = new Element('failure', { xmlns: NS_SASL2 });
  element.c(failure.condition, { xmlns: NS_SASL });
  if (failure.text) element.c('text').t(failure.text);
  return element.toString();
}

/** The FAST mechanisms this connection can run: -EXPR/-ENDP only with their binding. */
export function fastMechanisms(channelBinding: ChannelBinding | null): FastMechanismName[] {
  return FAST_MECHANISMS.filter((name) => {
    const type = fastChannelBinding(name);
    return type === null || (channelBinding?.types as readonly string[] | undefined)?.includes(type) === true;
  });
}

/**
 * The <authentication/> feature (§2.1) with its inline features: Bind 2 with what can be
 * enabled with it (XEP-0386 §3.1), FAST (XEP-0484 §4.1), and XEP-0198 resumption.
 */
export function authenticationFeature(mechanisms: readonly string[], fast: readonly string[], bindInline: readonly string[]): Element {
  const feature = new Element('authentication', { xmlns: NS_SASL2 });
  for (const name of mechanisms) feature.c('mechanism').t(name);
  const inline = feature.c('inline');
  const bind = inline.c('bind', { xmlns: NS_BIND2 }).c('inline');
  for (const name of bindInline) bind.c('feature', { var: name });
  if (fast.length > 0) {
    const element = inline.c('fast', { xmlns: NS_FAST });
    for (const name of fast) element.c('mechanism').t(name);
  }
  inline.c('sm', { xmlns: NS_SM });
  return feature;
}

/** XEP-0440 §3: the channel-binding types this connection supports. */
export function channelBindingFeature(channelBinding: ChannelBinding): Element {
  const feature = new Element('sasl-channel-binding', { xmlns: NS_SASL_CB });
  for (const type of channelBinding.types) feature.c('channel-binding', { type });
  return feature;
}

/**
 * XEP-0386 §3.3: "<tag>/<id>". With a user-agent id the id part is a keyed hash of the account,
 * the user-agent id and the tag: the same device gets the same resource on every sign-in
 * (and replaces its previous session), and the user-agent id itself is never exposed.
 */
export function bind2Resource(secret: Buffer, account: string, userAgentId: string | null, tagText: string | null): string {
  let tag = '';
  if (tagText !== null) {
    try {
      tag = prepareResource(tagText.trim());
    } catch {
      tag = '';
    }
    if (tag.length > MAX_TAG) tag = '';
  }
  const id = userAgentId === null ? randomBytes(9).toString('base64url') : deviceResourceId(secret, `${account}\u0000${userAgentId}\u0000${tag}`);
  return tag === '' ? id : `${tag}/${id}`;
}

/** Devices whose resource id is remembered, per server secret: a device reconnects often. */
const MAX_REMEMBERED_DEVICES = 50_000;
const deviceResourceIds = new WeakMap<Buffer, LruMap<string, string>>();

function deviceResourceId(secret: Buffer, device: string): string {
  let known = deviceResourceIds.get(secret);
  if (!known) deviceResourceIds.set(secret, (known = new LruMap(MAX_REMEMBERED_DEVICES)));
  let id = known.get(device);
  if (id === undefined) {
    id = createHmac('sha256', secret).update(device, 'utf8').digest('base64url').slice(0, 12);
    known.set(device, id);
  }
  return id;
}
