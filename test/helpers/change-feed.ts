// A change feed a test drives by hand (src/storage/change-feed.ts): other writers' notices,
// and the feed going down and up, for the caches that listen to it.
import { ChangeListeners, type ChangeFeed, type ChangeKind } from '../../src/storage/change-feed.js';

/** A feed the test drives: notices of other writers' changes, and going down and up. */
export function manualFeed() {
  const listeners = new ChangeListeners();
  let live = true;
  const feed: ChangeFeed = {
    get live() {
      return live;
    },
    onChange: (kind, listener) => listeners.onChange(kind, listener),
    onResync: (listener) => listeners.onResync(listener),
    async close() {},
  };
  return {
    feed,
    notify: (kind: ChangeKind, username: string, domain: string) => listeners.changed(kind, username, domain),
    setLive(next: boolean) {
      live = next;
      listeners.resync();
    },
  };
}
