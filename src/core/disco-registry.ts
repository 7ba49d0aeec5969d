// What the server says about itself and its accounts in service discovery (XEP-0030),
// filled by the modules as they load.
import type { Element } from 'ltx';

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

export class DiscoRegistry {
  readonly hostIdentities: DiscoIdentity[] = [{ category: 'server', type: 'im', name: 'Hearth' }];
  readonly accountIdentities: DiscoIdentity[] = [{ category: 'account', type: 'registered' }];
  private readonly hostFeatureSet = new Set<string>();
  private readonly accountFeatureSet = new Set<string>();
  private readonly hostItemList: DiscoItem[] = [];
  private readonly hostExtensionList: Element[] = [];

  addHostFeature(feature: string): void {
    this.hostFeatureSet.add(feature);
  }

  addAccountFeature(feature: string): void {
    this.accountFeatureSet.add(feature);
  }

  addHostItem(item: DiscoItem): void {
    this.hostItemList.push(item);
  }

  /**
   * XEP-0128: a data form (`<x xmlns='jabber:x:data' type='result'>` with a hidden FORM_TYPE)
   * added to the server's disco#info, such as XEP-0157 contact addresses.
   */
  addHostExtension(form: Element): void {
    this.hostExtensionList.push(form);
  }

  get hostFeatures(): string[] {
    return [...this.hostFeatureSet].sort();
  }

  get accountFeatures(): string[] {
    return [...this.accountFeatureSet].sort();
  }

  get hostItems(): readonly DiscoItem[] {
    return this.hostItemList;
  }

  get hostExtensions(): readonly Element[] {
    return this.hostExtensionList;
  }
}
