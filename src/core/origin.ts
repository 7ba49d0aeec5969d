// Where a stanza entered the router: the rules for `from` differ per origin (RFC 6120 §8.1.2).
import type { ClientSession } from './sessions.js';

export type Origin =
  /** A bound client stream: `from` is stamped with the session's full JID (RFC 6120 §8.1.2.1). */
  | { readonly kind: 'c2s'; readonly session: ClientSession }
  /**
   * A federated stream, with the remote domains it authenticated: the router checks that
   * `from` belongs to one of them and `to` is served here (RFC 6120 §8.1.1.2, §4.9.3).
   */
  | { readonly kind: 's2s'; readonly domains: ReadonlyMap<string, unknown> }
  /**
   * A service of this server with its own stream (an XEP-0114 component): `from` must be in
   * its domain (or a subdomain of it) and `to` is required.
   */
  | { readonly kind: 'service'; readonly domain: string }
  /** The server itself (modules, admin actions): `from` is trusted as given. */
  | { readonly kind: 'local' };

export const LOCAL_ORIGIN: Origin = Object.freeze({ kind: 'local' });
