// The server's hook events. Keys are typed: a misspelt event is a compile error.
import type { Element } from 'ltx';
import type { Jid } from './jid.js';
import type { ClientSession } from './sessions.js';

export interface ServerEvents {
  /** A client session bound its resource (RFC 6120 §7). */
  'session-bound': { session: ClientSession };
  /** A bound client session ended, for whatever reason. */
  'session-closed': { session: ClientSession };
  /** A client sent presence without `to` (RFC 6121 §4.2, §4.4), after the core recorded it. */
  'presence-broadcast': { session: ClientSession; stanza: Element };
  /**
   * A chat/normal message to a local account found no available resource
   * (RFC 6121 §8.5.2.2). A hook that takes charge (offline storage) returns HOOK_STOP;
   * otherwise the sender gets service-unavailable.
   */
  'message-undelivered': { stanza: Element; from: Jid; to: Jid };
}
