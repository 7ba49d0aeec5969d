// iq dispatch by (type, target, namespace). RFC 6120 §8.2.3: exactly one reply to every
// get/set; exactly one handler answers a key, and none means the router's default reply.
import type { Element } from 'ltx';
import type { Jid } from './jid.js';
import type { Origin } from './origin.js';

export type IqType = 'get' | 'set';
/**
 * host: addressed to a served domain. bare: addressed to an account's bare JID (or no `to`,
 * which RFC 6120 §10.3.3 treats as the sender's own account).
 */
export type IqTarget = 'host' | 'bare';
export type IqKey = `iq-${IqType}/${IqTarget}/${string}`;

export interface IqRequest {
  readonly stanza: Element;
  /** The single child element of the get/set. */
  readonly payload: Element;
  readonly from: Jid;
  readonly to: Jid;
  readonly origin: Origin;
  /** True when the sender addresses its own account (to is absent or its own bare JID). */
  readonly self: boolean;
}

/**
 * Returns the child of the result (or nothing for an empty result), or throws a StanzaError.
 */
export type IqHandler = (request: IqRequest) => Element | null | void | Promise<Element | null | void>;

export function iqKey(type: IqType, target: IqTarget, namespace: string): IqKey {
  return `iq-${type}/${target}/${namespace}`;
}

export class IqHandlers {
  private readonly handlers = new Map<IqKey, IqHandler>();

  /** Registers the one handler for a key; a second registration is a programming error. */
  register(key: IqKey, handler: IqHandler): () => void {
    if (this.handlers.has(key)) throw new Error(`iq handler already registered for ${key}`);
    this.handlers.set(key, handler);
    return () => {
      if (this.handlers.get(key) === handler) this.handlers.delete(key);
    };
  }

  get(key: IqKey): IqHandler | undefined {
    return this.handlers.get(key);
  }
}
