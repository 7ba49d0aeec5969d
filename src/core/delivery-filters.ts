// Synchronous filters every stanza passes on its way into a client session, before stream
// management counts it: blocking drops, client state indication holds (XEP-0191, XEP-0352).
import type { Element } from 'ltx';
import type { ClientSession } from './sessions.js';

/**
 * Returns true when it took the stanza: dropped it, or holds it to pass on later through
 * `session.write()` (which skips the filters).
 */
export type DeliveryFilter = (session: ClientSession, stanza: Element) => boolean;

export class DeliveryFilters {
  private list: { filter: DeliveryFilter; priority: number }[] = [];
  /** The filters in order, as a plain array read on every delivery. */
  private ordered: DeliveryFilter[] = [];

  /** Higher priority runs first (blocking before CSI: nothing blocked is ever held). */
  add(filter: DeliveryFilter, priority = 0): () => void {
    const entry = { filter, priority };
    this.list.push(entry);
    this.list.sort((a, b) => b.priority - a.priority);
    this.ordered = this.list.map((e) => e.filter);
    return () => {
      this.list = this.list.filter((e) => e !== entry);
      this.ordered = this.list.map((e) => e.filter);
    };
  }

  /** True when a filter took the stanza. */
  take(session: ClientSession, stanza: Element): boolean {
    const filters = this.ordered;
    for (let i = 0; i < filters.length; i++) if (filters[i]!(session, stanza)) return true;
    return false;
  }
}
