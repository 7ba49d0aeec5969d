// Who has administrator rights inside XMPP (room creation with muc.createRooms: admins, …):
// the static `admins` of the configuration, and the accounts an invitation minted with
// --admin made administrators, stored in the database (server_admins). Checks are
// synchronous (they sit on stanza paths), so the granted ones are kept in memory: loaded at
// start, added to on a grant, dropped with their account; in a cluster every node reads a
// grant another node announces.
import type { CacheCoherence } from './cache-coherence.js';
import type { Jid } from './jid.js';
import type { ServerAdminStore } from '../storage/server-admins.js';

/** What an administrator check needs (the group-chat service takes this). */
export interface AdminCheck {
  /** Whether this bare JID is an administrator. */
  has(bareJid: string): boolean;
}

export class ServerAdmins implements AdminCheck {
  private readonly configured: ReadonlySet<string>;
  private readonly granted = new Set<string>();

  constructor(
    configured: readonly string[],
    private readonly store: ServerAdminStore,
    private readonly caches: CacheCoherence,
  ) {
    this.configured = new Set(configured);
    caches.onRemoteChange('server-admins', (bareJid) => void this.reread(bareJid));
  }

  /** Reads the granted administrators (at start). */
  async load(): Promise<void> {
    for (const jid of await this.store.list()) this.granted.add(jid);
  }

  has(bareJid: string): boolean {
    return this.configured.has(bareJid) || this.granted.has(bareJid);
  }

  /** Makes an existing account an administrator, here and on every node. */
  async grant(account: Jid): Promise<boolean> {
    if (!(await this.store.grant(account.local, account.domain))) return false;
    this.granted.add(account.bareString());
    this.caches.changed('server-admins', account.bareString());
    return true;
  }

  /** The account was deleted: its grant went with it (the database cascades). */
  forget(account: Jid): void {
    if (this.granted.delete(account.bareString())) this.caches.changed('server-admins', account.bareString());
  }

  private async reread(bareJid: string): Promise<void> {
    const at = bareJid.lastIndexOf('@');
    if (at <= 0) return;
    try {
      if (await this.store.has(bareJid.slice(0, at), bareJid.slice(at + 1))) this.granted.add(bareJid);
      else this.granted.delete(bareJid);
    } catch {
      // The database did not answer: keep what we knew; the next change reads it again.
    }
  }
}
