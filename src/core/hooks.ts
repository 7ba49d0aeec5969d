// Event bus: every hook registered for an event runs, in priority order (higher first),
// unless one stops the event explicitly by returning HOOK_STOP.
import type { Logger } from 'pino';

export const HOOK_STOP = Symbol('hook-stop');
export type HookResult = void | typeof HOOK_STOP;
export type Hook<T> = (event: T) => HookResult | Promise<HookResult>;

interface Registered<T> {
  hook: Hook<T>;
  priority: number;
  order: number;
}

/**
 * A typed hook bus over an event map such as `{ 'session-bound': { session: … } }`.
 * Keys are typed, so a misspelt event name is a compile error.
 */
export class HookBus<Events extends object> {
  private readonly hooks = new Map<keyof Events, Registered<unknown>[]>();
  private counter = 0;

  constructor(private readonly log: Logger) {}

  on<K extends keyof Events>(event: K, hook: Hook<Events[K]>, priority = 0): () => void {
    const list = (this.hooks.get(event) ?? []) as Registered<Events[K]>[];
    const entry: Registered<Events[K]> = { hook, priority, order: this.counter++ };
    list.push(entry);
    list.sort((a, b) => b.priority - a.priority || a.order - b.order);
    this.hooks.set(event, list as Registered<unknown>[]);
    return () => {
      const current = this.hooks.get(event);
      if (!current) return;
      const index = current.indexOf(entry as Registered<unknown>);
      if (index >= 0) current.splice(index, 1);
    };
  }

  /**
   * Runs every hook in order. Returns true when a hook stopped the event.
   * A hook that throws is logged and does not stop the others: one faulty module
   * must not break delivery for everyone.
   */
  async emit<K extends keyof Events>(event: K, payload: Events[K]): Promise<boolean> {
    const list = this.hooks.get(event) as Registered<Events[K]>[] | undefined;
    if (!list || list.length === 0) return false;
    for (const { hook } of [...list]) {
      try {
        const result = await hook(payload);
        if (result === HOOK_STOP) return true;
      } catch (err) {
        this.log.error({ err, event: String(event) }, 'hook failed');
      }
    }
    return false;
  }

  /**
   * Like emit(), but stays synchronous while every hook does: for events on the message
   * path (filters), where a promise per stanza would cost more than the hooks themselves.
   * A hook that returns a promise switches the rest of the run to asynchronous.
   */
  filter<K extends keyof Events>(event: K, payload: Events[K]): boolean | Promise<boolean> {
    const list = this.hooks.get(event) as Registered<Events[K]>[] | undefined;
    if (!list || list.length === 0) return false;
    const snapshot = list.length === 1 ? list : [...list];
    for (let i = 0; i < snapshot.length; i++) {
      let result: HookResult | Promise<HookResult>;
      try {
        result = snapshot[i]!.hook(payload);
      } catch (err) {
        this.log.error({ err, event: String(event) }, 'hook failed');
        continue;
      }
      if (result === HOOK_STOP) return true;
      if (result instanceof Promise) return this.finishAsync(event, payload, snapshot, i, result);
    }
    return false;
  }

  private async finishAsync<K extends keyof Events>(
    event: K, payload: Events[K], list: Registered<Events[K]>[], index: number, pending: Promise<HookResult>,
  ): Promise<boolean> {
    try {
      if ((await pending) === HOOK_STOP) return true;
    } catch (err) {
      this.log.error({ err, event: String(event) }, 'hook failed');
    }
    for (const { hook } of list.slice(index + 1)) {
      try {
        if ((await hook(payload)) === HOOK_STOP) return true;
      } catch (err) {
        this.log.error({ err, event: String(event) }, 'hook failed');
      }
    }
    return false;
  }
}
