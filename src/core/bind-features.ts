// XEP-0386 Bind 2: features a client may enable inline, in the same round trip as signing in
// and binding (carbons, CSI; stream management is the c2s stream's own), and what modules add
// to the <bound/> answer (the XEP-0313 archive metadata).
import type { Element } from 'ltx';
import type { ClientSession } from './sessions.js';

/** Marks a session bound with Bind 2 (XEP-0386 §3.2: its offline messages come from the archive). */
export const BIND2_FLAG = 'bind2';

/** Applies one child of <bind/> to the new session; returns what goes into <bound/>, if anything. */
export type BindInlineHandler = (session: ClientSession, request: Element) => Element | null | Promise<Element | null>;

export class BindFeatures {
  private readonly inline = new Map<string, { feature: string; handler: BindInlineHandler }>();
  private readonly boundSources: Array<(session: ClientSession) => Promise<Element | null>> = [];

  /**
   * `namespace`: of the request elements inside <bind/>; `feature`: the var announced in the
   * Bind 2 <inline/> list (§3.1). One handler per namespace.
   */
  registerInline(namespace: string, feature: string, handler: BindInlineHandler): void {
    if (this.inline.has(namespace)) throw new Error(`Bind 2 inline feature already registered for ${namespace}`);
    this.inline.set(namespace, { feature, handler });
  }

  /** Something every <bound/> answer carries (§3.2: the archive's metadata). */
  addBoundInfo(source: (session: ClientSession) => Promise<Element | null>): void {
    this.boundSources.push(source);
  }

  /** The vars of the inline features modules registered. */
  get features(): string[] {
    return [...this.inline.values()].map((entry) => entry.feature);
  }

  handler(namespace: string): BindInlineHandler | undefined {
    return this.inline.get(namespace)?.handler;
  }

  async boundInfo(session: ClientSession): Promise<Element[]> {
    const parts = await Promise.all(this.boundSources.map((source) => source(session)));
    return parts.filter((part): part is Element => part !== null);
  }
}
