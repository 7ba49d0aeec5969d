// The Prometheus registry of one server (prom-client, text format for GET /metrics).
//
// Nothing on the routing path touches prom-client: transports, the router and modules count
// in plain integer fields (src/metrics/counters.ts, Router.stats), and the collect()
// callbacks below copy those into Prometheus values when the registry is scraped.
// Connection and stream gauges are computed at scrape time from their owners.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RouterStats } from '../core/router.js';
import { SUPPORTED_MECHANISMS } from '../sasl/mechanism.js';
import { AuthCounters, PlainCounter, StanzaTraffic } from './counters.js';

/** transport → state → open connections, e.g. { c2s: { unauthenticated: 1, bound: 20 } }. */
export type ConnectionCounts = Readonly<Record<string, Readonly<Record<string, number>>>>;

/** Authenticated server-to-server streams per remote domain. */
export interface FederationStreams {
  incoming: Record<string, number>;
  outgoing: Record<string, number>;
}

/** What a module may count (through its context): plain counters, no labels. */
export interface ModuleMetrics {
  /** A counter named `name` (hearth_…_total); the same name gives the same counter. */
  counter(name: string, help: string): PlainCounter;
  /** A gauge named `name` whose value `read` gives when scraped (no work between scrapes). */
  gauge(name: string, help: string, read: () => number): void;
}

export interface MetricsOptions {
  /** Reported as hearth_info{version}. */
  version: string;
}

const STANZA_KINDS = ['message', 'presence', 'iq'] as const;

/** Seconds; queries on PGlite take tens of microseconds, on a remote PostgreSQL milliseconds. */
const QUERY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

let processRegistry: Registry | null = null;

/**
 * The process's own figures (CPU, memory, heap, GC, handles, event-loop lag): prom-client's
 * default collectors. Their observers (an event-loop delay histogram, a GC performance
 * observer) cannot be stopped, so they are created once per process and shared by every
 * Metrics in it (tests start many servers in one process).
 */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry, eventLoopMonitoringPrecision: 10 });
  }
  return processRegistry;
}

export class Metrics implements ModuleMetrics {
  /** This server's registry (not prom-client's global one), holding the process figures too. */
  readonly registry: Registry = Registry.merge([processMetrics()]);
  readonly contentType: string;
  /** SASL outcomes by mechanism, counted by the client streams. */
  readonly auth = new AuthCounters(SUPPORTED_MECHANISMS);

  private readonly traffic = new Map<string, StanzaTraffic>();
  private readonly connectionSources: Array<() => ConnectionCounts> = [];
  private federationSource: (() => FederationStreams) | null = null;
  private router: RouterStats | null = null;
  private readonly moduleCounters = new Map<string, PlainCounter>();
  private readonly queryDuration: Histogram;
  private queryErrors = 0;

  constructor(options: MetricsOptions) {
    this.contentType = this.registry.contentType;
    const registers = [this.registry];

    new Gauge({
      name: 'hearth_info',
      aggregator: 'first',
      help: 'Always 1; the version of the running server is a label.',
      labelNames: ['version'],
      registers,
    }).set({ version: options.version }, 1);

    const self = this;
    new Gauge({
      name: 'hearth_connections',
      help: 'Open connections by transport (c2s, c2s_direct_tls, s2s_in, s2s_out) and state.',
      labelNames: ['transport', 'state'],
      registers,
      collect() {
        this.reset();
        for (const source of self.connectionSources) {
          for (const [transport, states] of Object.entries(source())) {
            for (const [state, count] of Object.entries(states)) this.inc({ transport, state }, count);
          }
        }
        const federation = self.federationSource?.();
        if (federation) {
          // A stream counts once it has authenticated a domain (an incoming stream that proved
          // several counts once per domain); the per-domain figures are in hearth_s2s_streams.
          this.set({ transport: 's2s_in', state: 'authenticated' }, sum(federation.incoming));
          this.set({ transport: 's2s_out', state: 'authenticated' }, sum(federation.outgoing));
        }
      },
    });

    new Gauge({
      name: 'hearth_s2s_streams',
      help: 'Authenticated server-to-server streams by direction (incoming, outgoing) and remote domain.',
      labelNames: ['direction', 'domain'],
      registers,
      collect() {
        this.reset();
        const federation = self.federationSource?.();
        if (!federation) return;
        for (const [domain, count] of Object.entries(federation.incoming)) this.set({ direction: 'incoming', domain }, count);
        for (const [domain, count] of Object.entries(federation.outgoing)) this.set({ direction: 'outgoing', domain }, count);
      },
    });

    for (const [direction, help] of [
      ['received', 'Stanzas read from client and server streams, by transport and kind.'],
      ['sent', 'Stanzas written to client and server streams, by transport and kind.'],
    ] as const) {
      new Counter({
        name: `hearth_stanzas_${direction}_total`,
        help,
        labelNames: ['transport', 'kind'],
        registers,
        collect() {
          this.reset();
          for (const [transport, traffic] of self.traffic) {
            const counts = traffic[direction];
            for (const kind of STANZA_KINDS) this.inc({ transport, kind }, counts[kind]);
          }
        },
      });
    }

    new Counter({
      name: 'hearth_routed_stanzas_total',
      help: 'Stanzas the router handled (from clients, servers and the server itself), by kind.',
      labelNames: ['kind'],
      registers,
      collect() {
        this.reset();
        const stats = self.router;
        for (const kind of STANZA_KINDS) this.inc({ kind }, stats ? stats.routed[kind] : 0);
      },
    });

    new Counter({
      name: 'hearth_stanza_errors_sent_total',
      help: 'Stanza error replies the router generated (RFC 6120 §8.3).',
      registers,
      collect() {
        this.reset();
        this.inc(self.router?.errorsSent ?? 0);
      },
    });

    new Counter({
      name: 'hearth_auth_total',
      help: 'Completed SASL authentications by mechanism and result (success, failure).',
      labelNames: ['mechanism', 'result'],
      registers,
      collect() {
        this.reset();
        for (const [mechanism, counts] of self.auth.entries()) {
          this.inc({ mechanism, result: 'success' }, counts.success);
          this.inc({ mechanism, result: 'failure' }, counts.failure);
        }
      },
    });

    this.queryDuration = new Histogram({
      name: 'hearth_db_query_duration_seconds',
      help: 'Duration of database queries, failed ones included.',
      buckets: QUERY_BUCKETS,
      registers,
    });
    new Counter({
      name: 'hearth_db_query_errors_total',
      help: 'Database queries that failed.',
      registers,
      collect() {
        this.reset();
        this.inc(self.queryErrors);
      },
    });
  }

  /** The counters of one transport ("c2s", "s2s", …), shared by all its streams. */
  stanzaTraffic(transport: string): StanzaTraffic {
    let traffic = this.traffic.get(transport);
    if (!traffic) {
      traffic = new StanzaTraffic();
      this.traffic.set(transport, traffic);
    }
    return traffic;
  }

  /** Connections are counted by their owner when scraped (listeners know their streams). */
  addConnectionSource(source: () => ConnectionCounts): void {
    this.connectionSources.push(source);
  }

  /** Federation streams per domain, read when scraped (hearth_s2s_streams, hearth_connections). */
  setFederationSource(source: (() => FederationStreams) | null): void {
    this.federationSource = source;
  }

  /** The router's plain counters (hearth_routed_stanzas_total). */
  watchRouter(stats: RouterStats): void {
    this.router = stats;
  }

  /** One database query done (Database.observeQueries). */
  observeQuery(durationMs: number, failed: boolean): void {
    this.queryDuration.observe(durationMs / 1000);
    if (failed) this.queryErrors++;
  }

  counter(name: string, help: string): PlainCounter {
    const existing = this.moduleCounters.get(name);
    if (existing) return existing;
    const plain = new PlainCounter();
    // Registered first: a name that is not a valid metric name (or taken) throws here.
    new Counter({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(plain.value);
      },
    });
    this.moduleCounters.set(name, plain);
    return plain;
  }

  gauge(name: string, help: string, read: () => number): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  /** The Prometheus text exposition of every metric (contentType names its format). */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}

function sum(counts: Record<string, number>): number {
  let total = 0;
  for (const count of Object.values(counts)) total += count;
  return total;
}
