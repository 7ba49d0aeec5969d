// Plain counters the hot path increments. Hearth routes a few hundred thousand stanzas a
// second: a Prometheus label lookup (hashing a label set into a map) per stanza would cost
// more than the routing itself, so traffic is counted in integer fields and turned into
// Prometheus samples only when /metrics is scraped (src/metrics/metrics.ts).

/** Stanzas of each kind (RFC 6120 §8: message, presence, iq). */
export class StanzaCounts {
  message = 0;
  presence = 0;
  iq = 0;

  /** Counts one stanza by its element name; anything else is not a stanza and not counted. */
  add(name: string): void {
    if (name === 'message') this.message++;
    else if (name === 'presence') this.presence++;
    else if (name === 'iq') this.iq++;
  }
}

/** Stanzas one transport (c2s, s2s, websocket…) read from and wrote to its streams. */
export class StanzaTraffic {
  readonly received = new StanzaCounts();
  readonly sent = new StanzaCounts();
}

/** A counter without labels, for modules (e.g. offline messages stored). */
export class PlainCounter {
  value = 0;

  inc(by = 1): void {
    this.value += by;
  }
}

/**
 * SASL outcomes per mechanism. The mechanism name comes from the client's <auth/>: an
 * unknown name is counted as "other", so a client cannot create label values (and with
 * them unbounded memory in the registry) by inventing mechanisms.
 */
export class AuthCounters {
  private readonly byMechanism = new Map<string, { success: number; failure: number }>();

  constructor(mechanisms: readonly string[]) {
    for (const name of [...mechanisms, 'other']) this.byMechanism.set(name, { success: 0, failure: 0 });
  }

  record(mechanism: string | null | undefined, success: boolean): void {
    const counts = (mechanism ? this.byMechanism.get(mechanism) : undefined) ?? this.byMechanism.get('other')!;
    if (success) counts.success++;
    else counts.failure++;
  }

  entries(): IterableIterator<[string, { readonly success: number; readonly failure: number }]> {
    return this.byMechanism.entries();
  }
}
