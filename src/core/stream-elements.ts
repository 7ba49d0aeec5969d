// Top-level elements a bound client may send besides stanzas (nonzas), by namespace: such as
// XEP-0352 <active/>/<inactive/>. Stream management (XEP-0198) is the stream's own.
import type { Element } from 'ltx';
import type { ClientSession } from './sessions.js';

export type StreamElementHandler = (session: ClientSession, element: Element) => void;

export class StreamElementHandlers {
  private readonly handlers = new Map<string, StreamElementHandler>();

  /** One handler per namespace; a second registration is a programming error. */
  register(namespace: string, handler: StreamElementHandler): void {
    if (this.handlers.has(namespace)) throw new Error(`stream element handler already registered for ${namespace}`);
    this.handlers.set(namespace, handler);
  }

  get(namespace: string): StreamElementHandler | undefined {
    return this.handlers.get(namespace);
  }
}
