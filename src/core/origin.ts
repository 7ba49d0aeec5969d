// Where a stanza entered the router: the rules for `from` differ per origin (RFC 6120 §8.1.2).
import type { ClientSession } from './sessions.js';

export type Origin =
  /** A bound client stream: `from` is stamped with the session's full JID (RFC 6120 §8.1.2.1). */
  | { readonly kind: 'c2s'; readonly session: ClientSession }
  /**
   * A federated stream that authenticated `remoteDomain` (RFC 6120 §8.1.2.2): the stream
   * already checked that `from` belongs to it and `to` is served here.
   */
  | { readonly kind: 's2s'; readonly remoteDomain: string }
  /** The server itself (modules, admin actions): `from` is trusted as given. */
  | { readonly kind: 'local' };

export const LOCAL_ORIGIN: Origin = Object.freeze({ kind: 'local' });
