// XEP-0163 §4.3: a PEP service notifies the resources whose presence it has. Contacts on this
// server are in the session registry; for contacts on other servers, the last available
// presence each of their resources sent an account is remembered here (bounded).
import type { Element } from 'ltx';

const MAX_RESOURCES_PER_CONTACT = 50;
const MAX_CONTACTS_PER_ACCOUNT = 5_000;
const MAX_ACCOUNTS = 100_000;

/** Contact bare JID → contact full JID → its last available presence. */
type Contacts = Map<string, Map<string, Element>>;

export class RemotePresence {
  private readonly byAccount = new Map<string, Contacts>();

  /** Records an available presence; returns the one it replaces (undefined: a new resource). */
  available(account: string, contactBare: string, contactFull: string, presence: Element): Element | undefined {
    let contacts = this.byAccount.get(account);
    if (!contacts) {
      if (this.byAccount.size >= MAX_ACCOUNTS) this.byAccount.delete(this.byAccount.keys().next().value!);
      contacts = new Map();
      this.byAccount.set(account, contacts);
    }
    let resources = contacts.get(contactBare);
    if (!resources) {
      if (contacts.size >= MAX_CONTACTS_PER_ACCOUNT) contacts.delete(contacts.keys().next().value!);
      resources = new Map();
      contacts.set(contactBare, resources);
    }
    const previous = resources.get(contactFull);
    resources.delete(contactFull);
    if (resources.size >= MAX_RESOURCES_PER_CONTACT) resources.delete(resources.keys().next().value!);
    resources.set(contactFull, presence);
    return previous;
  }

  unavailable(account: string, contactBare: string, contactFull: string): void {
    const contacts = this.byAccount.get(account);
    const resources = contacts?.get(contactBare);
    if (!contacts || !resources) return;
    if (contactFull === contactBare) resources.clear();
    else resources.delete(contactFull);
    if (resources.size === 0) contacts.delete(contactBare);
    if (contacts.size === 0) this.byAccount.delete(account);
  }

  /** The available resources of one contact that `account` has presence from. */
  of(account: string, contactBare: string): ReadonlyMap<string, Element> | undefined {
    return this.byAccount.get(account)?.get(contactBare);
  }

  forget(account: string): void {
    this.byAccount.delete(account);
  }
}
