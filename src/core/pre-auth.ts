// What a client may do on its stream before it authenticates, besides TLS and SASL: in-band
// registration (XEP-0077 §3) and invitation tokens (XEP-0401). A module registers the
// feature it announces and the iq namespaces or top-level elements it answers; the c2s stream
// offers them only where SASL is offered (after TLS when TLS is required).
import type { Element } from 'ltx';

/** The unauthenticated stream, as a pre-authentication handler sees it. */
export interface PreAuthStream {
  /** The served domain the client opened its stream to. */
  readonly domain: string;
  readonly remoteAddress: string;
  readonly secure: boolean;
  /** Per-stream state a handler keeps between requests (an accepted invitation token). */
  readonly state: Map<string, unknown>;
  /** Writes a top-level element (carrying its own xmlns) to the client. */
  writeElement(xml: string): void;
}

/** Answers an iq (type get or set, no `to` or the stream's domain): the reply to send. */
export type PreAuthIqHandler = (iq: Element, stream: PreAuthStream) => Promise<Element>;
/** Handles a top-level element of its namespace; it writes any answer itself. */
export type PreAuthElementHandler = (element: Element, stream: PreAuthStream) => Promise<void>;

export class PreAuthHandlers {
  private readonly iqs = new Map<string, PreAuthIqHandler>();
  private readonly elements = new Map<string, PreAuthElementHandler>();
  private readonly featureSources: Array<(stream: PreAuthStream) => Element | null> = [];

  /** One handler per namespace of the iq's payload; a second registration is a programming error. */
  registerIq(namespace: string, handler: PreAuthIqHandler): void {
    if (this.iqs.has(namespace)) throw new Error(`pre-authentication iq handler already registered for ${namespace}`);
    this.iqs.set(namespace, handler);
  }

  registerElement(namespace: string, handler: PreAuthElementHandler): void {
    if (this.elements.has(namespace)) throw new Error(`pre-authentication element handler already registered for ${namespace}`);
    this.elements.set(namespace, handler);
  }

  /** A stream feature announced beside SASL; null leaves it out for this stream. */
  addFeature(source: (stream: PreAuthStream) => Element | null): void {
    this.featureSources.push(source);
  }

  iq(namespace: string): PreAuthIqHandler | undefined {
    return this.iqs.get(namespace);
  }

  element(namespace: string): PreAuthElementHandler | undefined {
    return this.elements.get(namespace);
  }

  features(stream: PreAuthStream): Element[] {
    const out: Element[] = [];
    for (const source of this.featureSources) {
      const feature = source(stream);
      if (feature) out.push(feature);
    }
    return out;
  }
}
