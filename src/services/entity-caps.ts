// XEP-0115 Entity Capabilities 1.6 §6.2, §8.4: what a (hash, ver) pair stands for, learnt by
// asking one entity that claims it (disco#info to its full JID), trusted only when the answer
// hashes to the claim; kept in memory and in the database, asked once per pair at a time.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Element } from 'ltx';
import type { Logger } from 'pino';
import type { CacheCoherence } from '../core/cache-coherence.js';
import { capsHash, capsKey, featuresOf, verificationString, verifiesClaim, type CapsClaim } from '../core/entity-caps.js';
import { NS_DISCO_INFO } from '../core/disco-registry.js';
import type { Jid } from '../core/jid.js';
import { LruMap } from '../core/lru-map.js';
import type { Router } from '../core/router.js';
import type { EntityCapsStore } from '../storage/entity-caps.js';

/** Verified pairs kept in memory (a few hundred clients and versions in practice). */
const MAX_CACHED = 10_000;
/** A pair that could not be verified is not asked about again for this long. */
const RETRY_AFTER_MS = 10 * 60_000;
/** Failed pairs remembered (a client may claim any number of made-up hashes). */
const MAX_FAILED = 10_000;

export type Features = ReadonlySet<string>;

interface Query {
  readonly claim: CapsClaim;
  /** The full JID asked: only its answer counts. */
  readonly entity: string;
  readonly settle: (features: Features | null) => void;
  readonly timer: NodeJS.Timeout;
}

export class EntityCapsService {
  private readonly verified = new LruMap<string, Features>(MAX_CACHED);
  /** Pairs that failed, with the time they may be asked about again. */
  private readonly failed = new Map<string, number>();
  /** Lookups and queries in progress, by pair: one at a time per pair. */
  private readonly pending = new Map<string, Promise<Features | null>>();
  /** Waiters of a pending pair, for an answer that reaches another cluster node. */
  private readonly waiters = new Map<string, (features: Features | null) => void>();
  private readonly queries = new Map<string, Query>();

  constructor(
    private readonly store: EntityCapsStore,
    private readonly router: Router,
    private readonly caches: CacheCoherence,
    private readonly log: Logger,
    /** The server secret (shared by a cluster): query ids are signed with it. */
    private readonly secret: Buffer,
    private readonly timeoutMs = 10_000,
  ) {
    // Another node verified a pair: its row is in the database now.
    caches.onRemoteChange('caps', (key) => {
      const settle = this.waiters.get(key);
      if (settle) void this.load(key).then(settle, () => settle(null));
    });
  }

  /** The features behind a claim when already verified and in memory. */
  known(claim: CapsClaim): Features | undefined {
    return this.verified.get(capsKey(claim));
  }

  /**
   * The features behind `entity`'s claim: from memory, the database, or by asking the entity
   * (from `askFrom`). Null when the claim could not be verified.
   */
  features(claim: CapsClaim, entity: Jid, askFrom: string): Features | null | Promise<Features | null> {
    const known = this.known(claim);
    if (known) return known;
    const key = capsKey(claim);
    const retry = this.failed.get(key);
    if (retry !== undefined) {
      if (retry > Date.now()) return null;
      this.failed.delete(key);
    }
    const pending = this.pending.get(key);
    if (pending) return pending;
    const lookup = this.lookUp(claim, key, entity, askFrom).finally(() => this.pending.delete(key));
    this.pending.set(key, lookup);
    return lookup;
  }

  private async lookUp(claim: CapsClaim, key: string, entity: Jid, askFrom: string): Promise<Features | null> {
    const stored = await this.load(key);
    if (stored) return stored;
    const features = await this.ask(claim, key, entity, askFrom);
    if (!features) {
      this.failed.set(key, Date.now() + RETRY_AFTER_MS);
      if (this.failed.size > MAX_FAILED) this.failed.delete(this.failed.keys().next().value!);
    }
    return features;
  }

  private async load(key: string): Promise<Features | null> {
    const colon = key.indexOf(':');
    const stored = await this.store.get(key.slice(0, colon), key.slice(colon + 1));
    if (!stored) return null;
    const features = new Set(stored);
    this.verified.set(key, features);
    return features;
  }

  private ask(claim: CapsClaim, key: string, entity: Jid, askFrom: string): Promise<Features | null> {
    const nonce = randomBytes(9).toString('base64url');
    const id = `caps-${nonce}-${this.sign(nonce, entity.toString(), claim)}`;
    return new Promise<Features | null>((resolve) => {
      const settle = (features: Features | null) => {
        const query = this.queries.get(id);
        if (query) clearTimeout(query.timer);
        this.queries.delete(id);
        this.waiters.delete(key);
        resolve(features);
      };
      const timer = setTimeout(() => settle(null), this.timeoutMs);
      timer.unref();
      this.queries.set(id, { claim, entity: entity.toString(), settle, timer });
      this.waiters.set(key, settle);
      const iq = new Element('iq', { type: 'get', id, from: askFrom, to: entity.toString() });
      iq.c('query', { xmlns: NS_DISCO_INFO, node: `${claim.node}#${claim.ver}` });
      void this.router.send(iq);
    });
  }

  /**
   * An iq result or error addressed to this server or an account. True when it answered one
   * of our queries. An answer this node did not ask for (the query left from another cluster
   * node) still counts when it verifies the pair its node names.
   */
  handleResponse(stanza: Element, from: Jid): boolean {
    const id = stanza.attrs.id;
    const query = typeof id === 'string' ? this.queries.get(id) : undefined;
    const info = stanza.attrs.type === 'result' ? stanza.getChild('query', NS_DISCO_INFO) : undefined;
    if (!query) {
      if (info) this.verifyUnasked(typeof id === 'string' ? id : undefined, from, info);
      return false;
    }
    if (from.toString() !== query.entity) return false;
    if (!info || !verifiesClaim(query.claim, info)) {
      this.log.info({ entity: query.entity, ver: query.claim.ver }, 'entity capabilities did not verify');
      query.settle(null);
      return true;
    }
    const features = new Set(featuresOf(info));
    this.record(capsKey(query.claim), query.claim, features);
    query.settle(features);
    return true;
  }

  /** A query id names the entity and the claim, signed: only answers to a cluster node's own queries count. */
  private sign(nonce: string, entity: string, claim: CapsClaim): string {
    return createHmac('sha256', this.secret).update(`caps\0${nonce}\0${entity}\0${claim.hash}\0${claim.ver}`).digest('base64url').slice(0, 22);
  }

  /**
   * An answer to a query another cluster node sent (the entity's answer reached this node):
   * recorded when the id is a signed query for that entity and pair and the result verifies.
   */
  private verifyUnasked(id: string | undefined, from: Jid, info: Element): void {
    const parts = typeof id === 'string' ? /^caps-([\w-]{12})-([\w-]{22})$/.exec(id) : null;
    const node = info.attrs.node;
    const hashAt = typeof node === 'string' ? node.lastIndexOf('#') : -1;
    if (!parts || hashAt < 0) return;
    const ver = (node as string).slice(hashAt + 1);
    const s = verificationString(info);
    if (s === null) return;
    for (const hash of ['sha-1', 'sha-256', 'sha-512']) {
      const claim = { hash, node: (node as string).slice(0, hashAt), ver };
      const expected = Buffer.from(this.sign(parts[1]!, from.toString(), claim));
      if (!timingSafeEqual(expected, Buffer.from(parts[2]!))) continue;
      if (capsHash(hash, s) === ver && !this.verified.has(capsKey(claim))) this.record(capsKey(claim), claim, new Set(featuresOf(info)));
      return;
    }
  }

  private record(key: string, claim: CapsClaim, features: Features): void {
    this.verified.set(key, features);
    this.store.put(claim.hash, claim.ver, [...features]).then(
      () => this.caches.changed('caps', key),
      (err: unknown) => this.log.error({ err }, 'storing entity capabilities failed'),
    );
  }

  /** Stops waiting for answers (server shutdown). */
  close(): void {
    for (const query of [...this.queries.values()]) query.settle(null);
  }
}
