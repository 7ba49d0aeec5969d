// XEP-0441 Message Archive Management Preferences 0.2: default always|never|roster and the
// always/never lists, per account, remembered in memory so that the message path can decide
// synchronously whether to archive.
import { Element } from 'ltx';
import { StanzaError } from '../../core/errors.js';
import { tryParseJid, type Jid } from '../../core/jid.js';
import type { ArchiveDefault, ArchivePrefs, ArchiveStore } from '../../storage/index.js';
import { NS_MAM } from './form.js';

/** JIDs per list we keep. */
export const MAX_PREFS_JIDS = 1000;
const MODES = new Set<ArchiveDefault>(['always', 'never', 'roster']);

export function prefsElement(prefs: ArchivePrefs): Element {
  const el = new Element('prefs', { xmlns: NS_MAM, default: prefs.default });
  const always = el.c('always');
  for (const jid of prefs.always) always.c('jid').t(jid);
  const never = el.c('never');
  for (const jid of prefs.never) never.c('jid').t(jid);
  return el;
}

function jidList(parent: Element | undefined): string[] {
  if (!parent) return [];
  const list: string[] = [];
  for (const child of parent.getChildren('jid')) {
    const jid = tryParseJid(child.getText().trim());
    if (!jid) throw new StanzaError('bad-request', `"${child.getText()}" is not a valid JID`);
    const text = jid.toString();
    if (!list.includes(text)) list.push(text);
  }
  if (list.length > MAX_PREFS_JIDS) throw new StanzaError('policy-violation', `at most ${MAX_PREFS_JIDS} JIDs per list`);
  return list;
}

/** Parses an iq set's <prefs/>. */
export function parsePrefs(el: Element): ArchivePrefs {
  const mode = el.attrs.default as ArchiveDefault | undefined;
  if (mode === undefined || !MODES.has(mode)) throw new StanzaError('bad-request', 'default must be always, never or roster');
  const always = jidList(el.getChild('always'));
  const never = jidList(el.getChild('never'));
  // A JID on both lists is never archived (never wins); keep the lists disjoint.
  return { default: mode, always: always.filter((j) => !never.includes(j)), never };
}

/**
 * true/false: archive or not; 'roster': archive when the contact is in the roster. A bare
 * JID on a list matches every resource of it, a full JID only itself.
 */
export function decide(prefs: ArchivePrefs, contact: Jid): boolean | 'roster' {
  if (prefs.never.length > 0 || prefs.always.length > 0) {
    const bare = contact.bareString();
    const full = contact.toString();
    if (prefs.never.includes(bare) || prefs.never.includes(full)) return false;
    if (prefs.always.includes(bare) || prefs.always.includes(full)) return true;
  }
  if (prefs.default === 'roster') return 'roster';
  return prefs.default === 'always';
}

/** The preferences of recently active accounts; others are loaded when needed. */
export class PrefsCache {
  private readonly cache = new Map<string, ArchivePrefs>();
  private readonly loading = new Map<string, Promise<ArchivePrefs>>();

  /** What an account that never set preferences gets (config mam.defaultPolicy). */
  private readonly defaults: ArchivePrefs;

  constructor(
    private readonly store: ArchiveStore,
    defaultPolicy: ArchiveDefault,
    private readonly capacity = 100_000,
  ) {
    this.defaults = Object.freeze({ default: defaultPolicy, always: Object.freeze([]), never: Object.freeze([]) }) as unknown as ArchivePrefs;
  }

  /** The account's preferences when known now, else undefined (then `load`). */
  peek(account: Jid): ArchivePrefs | undefined {
    return this.cache.get(account.bareString());
  }

  load(account: Jid): Promise<ArchivePrefs> {
    const key = account.bareString();
    const known = this.cache.get(key);
    if (known) return Promise.resolve(known);
    let pending = this.loading.get(key);
    if (!pending) {
      pending = this.store.prefs(account.local, account.domain).then(
        (stored) => {
          this.loading.delete(key);
          const prefs = stored ?? this.defaults;
          this.remember(key, prefs);
          return prefs;
        },
        (err: unknown) => {
          this.loading.delete(key);
          throw err;
        },
      );
      this.loading.set(key, pending);
    }
    return pending;
  }

  async set(account: Jid, prefs: ArchivePrefs): Promise<boolean> {
    const stored = await this.store.setPrefs(account.local, account.domain, prefs);
    if (stored) this.remember(account.bareString(), prefs);
    return stored;
  }

  forget(account: Jid): void {
    this.cache.delete(account.bareString());
  }

  private remember(key: string, prefs: ArchivePrefs): void {
    this.cache.delete(key);
    this.cache.set(key, prefs);
    // Oldest first in a Map: drop the least recently loaded.
    while (this.cache.size > this.capacity) this.cache.delete(this.cache.keys().next().value!);
  }
}
