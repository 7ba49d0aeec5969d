// What the server says about itself and its accounts in service discovery (XEP-0030),
// filled by the modules as they load.
import { clone, Element } from 'ltx';
import type { Jid } from './jid.js';

export const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';
export const NS_DISCO_ITEMS = 'http://jabber.org/protocol/disco#items';

export interface DiscoIdentity {
  readonly category: string;
  readonly type: string;
  readonly name?: string;
}

export interface DiscoItem {
  readonly jid: string;
  readonly name?: string;
  readonly node?: string;
}

/**
 * The nodes of an account (XEP-0163: its PEP nodes), as one asker may see them. info()
 * returns the <query/> for a node, or null when the node does not exist for the asker.
 */
export interface AccountNodes {
  items(account: Jid, asker: Jid): Promise<DiscoItem[]>;
  info(account: Jid, node: string, asker: Jid): Promise<Element | null>;
}

/** A disco#info <query/> (§3.1), with XEP-0128 extension forms after identities and features. */
export function discoInfoElement(node: string | undefined, identities: readonly DiscoIdentity[], features: readonly string[], extensions: readonly Element[] = []): Element {
  const query = new Element('query', node ? { xmlns: NS_DISCO_INFO, node } : { xmlns: NS_DISCO_INFO });
  for (const identity of identities) {
    query.c('identity', { category: identity.category, type: identity.type, name: identity.name });
  }
  for (const feature of features) query.c('feature', { var: feature });
  // Copies: a reply owns its children.
  for (const form of extensions) query.cnode(clone(form));
  return query;
}

export class DiscoRegistry {
  readonly hostIdentities: DiscoIdentity[] = [{ category: 'server', type: 'im', name: 'Hearth' }];
  readonly accountIdentities: DiscoIdentity[] = [{ category: 'account', type: 'registered' }];
  private readonly hostFeatureSet = new Set<string>();
  private readonly accountFeatureSet = new Set<string>();
  /** Items with the served domain they belong to (undefined: every domain). */
  private readonly hostItemList: Array<{ item: DiscoItem; domain: string | undefined }> = [];
  private readonly hostExtensionList: Element[] = [];
  /** Answer the server's own disco#info for a node (XEP-0115 §6.2: node#ver), or null. */
  private readonly hostInfoNodes: Array<(node: string) => Element | null> = [];
  /** The module answering for accounts' nodes (PEP), if one is loaded. */
  accountNodes: AccountNodes | null = null;

  addHostFeature(feature: string): void {
    this.hostFeatureSet.add(feature);
  }

  addAccountFeature(feature: string): void {
    this.accountFeatureSet.add(feature);
  }

  /** An item of the server's disco#items: of one served domain, or of every one. */
  addHostItem(item: DiscoItem, domain?: string): void {
    this.hostItemList.push({ item, domain });
  }

  /**
   * XEP-0128: a data form (`<x xmlns='jabber:x:data' type='result'>` with a hidden FORM_TYPE)
   * added to the server's disco#info, such as XEP-0157 contact addresses.
   */
  addHostExtension(form: Element): void {
    this.hostExtensionList.push(form);
  }

  /** Answers the server's disco#info for the nodes it knows (the whole <query/>), null for others. */
  addHostInfoNodes(info: (node: string) => Element | null): void {
    this.hostInfoNodes.push(info);
  }

  hostInfoNode(node: string): Element | null {
    for (const info of this.hostInfoNodes) {
      const query = info(node);
      if (query) return query;
    }
    return null;
  }

  /** The server's own disco#info <query/> (XEP-0030 §3.1). */
  hostInfo(node?: string): Element {
    return discoInfoElement(node, this.hostIdentities, this.hostFeatures, this.hostExtensions);
  }

  get hostFeatures(): string[] {
    return [...this.hostFeatureSet].sort();
  }

  get accountFeatures(): string[] {
    return [...this.accountFeatureSet].sort();
  }

  /** The items of one served domain's disco#items. */
  hostItems(domain: string): DiscoItem[] {
    return this.hostItemList.filter((entry) => entry.domain === undefined || entry.domain === domain).map((entry) => entry.item);
  }

  get hostExtensions(): readonly Element[] {
    return this.hostExtensionList;
  }
}
