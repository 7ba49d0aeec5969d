// XEP-0049 private XML that another module keeps in a form of its own (XEP-0402 §5.1: XEP-0048
// bookmarks as PEP items): the private-storage module hands requests for such a namespace to
// the module that registered it.
import type { Element } from 'ltx';
import type { Jid } from './jid.js';

export interface PrivateXmlView {
  /** The element stored under the namespace, as the account reads it. */
  get(account: Jid): Promise<Element>;
  /** Replaces it (throws a StanzaError to refuse). */
  set(account: Jid, element: Element): Promise<void>;
}

export class PrivateXmlViews {
  private readonly views = new Map<string, PrivateXmlView>();

  register(namespace: string, view: PrivateXmlView): void {
    if (this.views.has(namespace)) throw new Error(`a private XML view of ${namespace} is already registered`);
    this.views.set(namespace, view);
  }

  get(namespace: string): PrivateXmlView | undefined {
    return this.views.get(namespace);
  }
}
