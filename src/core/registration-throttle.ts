// How many accounts one address may register in-band without an invitation per hour
// (registration.perIpPerHour). A registration takes a slot before the account is created and
// gives it back when creation fails, so that concurrent attempts cannot exceed the limit.
// This process's counts live here; a cluster counts in Redis (src/cluster/registration-throttle.ts).

export const REGISTRATION_WINDOW_MS = 60 * 60 * 1000;
/** Addresses remembered at most, so that a flood of addresses cannot exhaust memory. */
const MAX_ADDRESSES = 100_000;

/** One registration's place in its address's hourly count. */
export interface RegistrationSlot {
  /** The registration failed after all: it does not count. */
  giveBack(): Promise<void>;
}

export interface RegistrationThrottle {
  /** A slot for one more registration from this address, or null when its hour is full. */
  take(address: string): Promise<RegistrationSlot | null>;
}

/** One process's counts, in memory. */
export class LocalRegistrationThrottle implements RegistrationThrottle {
  /** Per address: when each counted registration happened, oldest first. */
  private readonly taken = new Map<string, number[]>();

  constructor(
    private readonly perHour: number,
    private readonly now: () => number = Date.now,
  ) {}

  async take(address: string): Promise<RegistrationSlot | null> {
    return this.takeNow(address);
  }

  /** take(), synchronously (the cluster's throttle falls back on it when Redis fails). */
  takeNow(address: string): RegistrationSlot | null {
    const now = this.now();
    let times = this.recent(address, now);
    if (times.length >= this.perHour) return null;
    if (times.length === 0) {
      if (this.taken.size >= MAX_ADDRESSES) this.sweep(now);
      times = [];
      this.taken.set(address, times);
    }
    times.push(now);
    return {
      giveBack: async () => {
        const list = this.taken.get(address);
        const index = list?.indexOf(now) ?? -1;
        if (list && index >= 0) list.splice(index, 1);
      },
    };
  }

  private recent(address: string, now: number): number[] {
    const times = this.taken.get(address);
    if (!times) return [];
    const cutoff = now - REGISTRATION_WINDOW_MS;
    while (times.length > 0 && times[0]! <= cutoff) times.shift();
    if (times.length === 0) this.taken.delete(address);
    return times;
  }

  private sweep(now: number): void {
    for (const address of [...this.taken.keys()]) this.recent(address, now);
    if (this.taken.size < MAX_ADDRESSES) return;
    // Still full: forget the oldest half rather than grow without bound.
    let drop = this.taken.size / 2;
    for (const address of this.taken.keys()) {
      if (drop-- <= 0) break;
      this.taken.delete(address);
    }
  }
}
