// Registry of bound client sessions (RFC 6120 §7). An interface, so that a
// cluster-wide registry can replace the local one without touching the router.
import type { Element } from 'ltx';
import type { Jid } from './jid.js';
import type { StreamError } from './errors.js';

/** What the router and modules may know about, and do with, a bound client session. */
export interface ClientSession {
  /** Unique among the sessions of one node. */
  readonly id: string;
  /** The cluster node holding the session, or null for this process. */
  readonly node: string | null;
  /** Full JID once bound. */
  readonly jid: Jid;
  readonly remoteAddress: string;
  readonly secure: boolean;
  /** How the client is connected: 'c2s', 'c2s_direct_tls', 'websocket' or 'bosh'. */
  readonly transport: string;
  readonly since: Date;
  /** RFC 6121 §4.7.2.3: the priority of the last available presence (0 when none). */
  priority: number;
  /** RFC 6121 §4.2: true between initial available presence and unavailable presence. */
  available: boolean;
  /** The last available presence broadcast by this resource (RFC 6121 §4.4.2), or null. */
  presence: Element | null;
  /**
   * When this resource sent its initial presence, as a server-wide sequence number (0 while
   * unavailable). Two contacts coming online at once exchange presence exactly once: the
   * later one does the exchange.
   */
  availableSeq: number;
  /** RFC 6121 §2.1.6: an interested resource (it asked for the roster) gets roster pushes. */
  rosterRequested: boolean;
  /**
   * Per-resource switches that other sessions' routing reads (XEP-0280 carbons: "carbons").
   * Changed through SessionRegistry.changed(), which tells the rest of a cluster.
   */
  readonly flags: Set<string>;
  /**
   * RFC 6121 §4.6: addresses this resource sent directed available presence to, outside its
   * presence subscriptions; they get its unavailable presence when it goes offline.
   */
  directedPresence: Set<string> | null;
  /**
   * XEP-0198: the id a client resumes this session with, or null when it is not resumable. A
   * cluster node resumes a session of another node through it (src/cluster/handover.ts).
   */
  readonly resumptionId: string | null;
  /**
   * Hands a stanza to the client through the delivery filters (blocking, CSI), then stream
   * management; never throws.
   */
  deliver(stanza: Element): void;
  /**
   * Sends a stanza past the delivery filters (a filter passing on what it held): counted by
   * stream management, written to the stream, or queued while the session is hibernated.
   */
  write(stanza: Element): void;
  /** Ends the stream, with a stream error when given. */
  close(error?: StreamError): void;
}

export interface SessionRegistry {
  /**
   * Binds a session to its full JID. RFC 6120 §7.7.2.2: when the resource is taken,
   * Hearth lets the new session win; the displaced one is returned so the caller can
   * end it with a `conflict` stream error.
   */
  bind(session: ClientSession): ClientSession | undefined;
  unbind(session: ClientSession): boolean;
  get(fullJid: Jid): ClientSession | undefined;
  /** All sessions of an account, by bare JID string. */
  ofAccount(bareJid: string): ClientSession[];
  /** Every session, on every node of a cluster. */
  all(): IterableIterator<ClientSession>;
  readonly size: number;
  /** The sessions this process holds (their streams are here). */
  local(): IterableIterator<ClientSession>;
  readonly localSize: number;
  /**
   * A bound session's routing state changed: presence, priority, availability, roster
   * interest, flags. On an initial presence it gets its `availableSeq`; the promise (a
   * cluster has to order it among every node's) settles once it has.
   */
  changed(session: ClientSession, initialPresence?: boolean): Promise<void> | void;
}

export class LocalSessionRegistry implements SessionRegistry {
  private readonly accounts = new Map<string, Map<string, ClientSession>>();
  private count = 0;
  /** Orders initial presences server-wide (ClientSession.availableSeq). */
  private availableSeq = 0;

  get size(): number {
    return this.count;
  }

  get localSize(): number {
    return this.count;
  }

  changed(session: ClientSession, initialPresence = false): void {
    if (initialPresence) session.availableSeq = ++this.availableSeq;
  }

  local(): IterableIterator<ClientSession> {
    return this.all();
  }

  bind(session: ClientSession): ClientSession | undefined {
    const bare = session.jid.bareString();
    let resources = this.accounts.get(bare);
    if (!resources) {
      resources = new Map();
      this.accounts.set(bare, resources);
    }
    const previous = resources.get(session.jid.resource);
    resources.set(session.jid.resource, session);
    if (!previous) this.count++;
    return previous !== session ? previous : undefined;
  }

  unbind(session: ClientSession): boolean {
    const bare = session.jid.bareString();
    const resources = this.accounts.get(bare);
    if (!resources || resources.get(session.jid.resource) !== session) return false;
    resources.delete(session.jid.resource);
    this.count--;
    if (resources.size === 0) this.accounts.delete(bare);
    return true;
  }

  get(fullJid: Jid): ClientSession | undefined {
    return this.accounts.get(fullJid.bareString())?.get(fullJid.resource);
  }

  ofAccount(bareJid: string): ClientSession[] {
    const resources = this.accounts.get(bareJid);
    return resources ? [...resources.values()] : [];
  }

  *all(): IterableIterator<ClientSession> {
    for (const resources of this.accounts.values()) yield* resources.values();
  }
}
