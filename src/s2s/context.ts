// What a server-to-server stream may use: one shared object per server (a copy per stream
// would cost memory).
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Router } from '../core/router.js';
import type { StanzaTraffic } from '../metrics/counters.js';
import type { PeerTls } from './peer-tls.js';

/** How a peer proved its domain: XEP-0178, XEP-0220, or XEP-0344 (dialback settled by the certificate). */
export type AuthMethod = 'SASL EXTERNAL' | 'dialback' | 'dialback with certificate';

export interface DialbackVerification {
  /** Our domain, which received the key (the Receiving Server's Target Domain). */
  receiving: string;
  /** The domain the peer claims (the Sender Domain), whose servers are asked. */
  originating: string;
  /** The ID of the stream on which the key arrived. */
  streamId: string;
  key: string;
}

export interface S2sContext {
  readonly config: Config;
  readonly log: Logger;
  readonly domains: ReadonlySet<string>;
  readonly router: Router;
  /** XEP-0185: the secret dialback keys derive from (it survives restarts). */
  readonly secret: Buffer;
  readonly tls: PeerTls;
  /** Plain counters of stanzas read and written (metrics; shared by every s2s stream). */
  readonly traffic: StanzaTraffic;
  /** XEP-0220 §2.1.2: asks the Authoritative Server of `originating` whether a key is valid. */
  verifyDialback(request: DialbackVerification): Promise<'valid' | 'invalid' | 'error'>;
}
