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
}
