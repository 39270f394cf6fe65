/**
 * The agent's own health counters, exported as ebpf_otel.* metrics and
 * logged at exit: what came in, what could not be decoded, what was left
 * out on purpose (sampling) and what was lost (kernel drops, export buffer).
 *
 * Keyed by the attributes they are exported with (an object, never a joined
 * string), so nothing is split back apart. Hand-written rather than SDK
 * counters because the summary at exit reads them back, which the SDK's
 * instruments do not allow.
 */
export type Attributes<N extends string> = { readonly [K in N]: string };

export class Counter<N extends string> {
  private readonly values = new Map<string, [Attributes<N>, number]>();

  add(attributes: Attributes<N>, n = 1): void {
    const key = JSON.stringify(Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    const entry = this.values.get(key);
    if (entry) entry[1] += n;
    else this.values.set(key, [{ ...attributes }, n]);
  }

  /** The count for attributes matching all of `where` (summed). */
  get(where: Partial<Attributes<N>> = {}): number {
    let sum = 0;
    for (const [attributes, n] of this.values.values()) {
      if (Object.entries(where).every(([k, v]) => attributes[k as N] === v)) sum += n;
    }
    return sum;
  }

  entries(): Array<[Attributes<N>, number]> {
    return [...this.values.values()].map(([a, n]) => [a, n]);
  }

  total(): number {
    return this.get();
  }
}

export type ProbeId = 'tcp' | 'exec' | 'bash' | 'dns';

export class AgentStats {
  /** Records received from the kernel, by probe. */
  readonly eventsReceived = new Counter<'probe'>();
  /** Records that could not be decoded, by reason. */
  readonly decodeErrors = new Counter<'reason'>();
  /** Spans not created by policy, by reason (ratio, rate_limit, min_latency...). */
  readonly spansSampledOut = new Counter<'reason'>();
  /** Spans lost after creation, by exporter and reason. */
  readonly spansDropped = new Counter<'exporter' | 'reason'>();
  /** Metric exports that failed, by exporter and cause (transient, auth, tls, too_large, rejected). */
  readonly metricExportsFailed = new Counter<'exporter' | 'reason'>();
  /** Spans delivered, by exporter. */
  readonly spansExported = new Counter<'exporter'>();
  /** Workload lookups that found nothing (cgroup unknown, process gone, environ unreadable), by reason. */
  readonly workloadLookupFailures = new Counter<'reason'>();
  /** Entries evicted from the bounded workload caches, by cache (cgroups, providers). */
  readonly workloadCacheEvictions = new Counter<'cache'>();
  /** Entries evicted from the agent's full state tables, by table (procs, shells, tombstones). */
  readonly stateEvicted = new Counter<'table'>();
}
