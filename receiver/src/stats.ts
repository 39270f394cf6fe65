/**
 * The agent's own health counters, exported as ebpf_otel.* metrics and
 * logged at exit: what came in, what could not be decoded, what was left
 * out on purpose (sampling) and what was lost (kernel drops, export buffer).
 */
export class Counter<K extends string> {
  private readonly values = new Map<K, number>();

  add(key: K, n = 1): void {
    this.values.set(key, (this.values.get(key) ?? 0) + n);
  }

  get(key: K): number {
    return this.values.get(key) ?? 0;
  }

  entries(): Array<[K, number]> {
    return [...this.values.entries()];
  }

  total(): number {
    let sum = 0;
    for (const v of this.values.values()) sum += v;
    return sum;
  }
}

export type ProbeId = 'tcp' | 'exec' | 'bash' | 'dns';

export class AgentStats {
  /** Records received from the kernel, by probe. */
  readonly eventsReceived = new Counter<ProbeId>();
  /** Records that could not be decoded, by reason. */
  readonly decodeErrors = new Counter<string>();
  /** Spans not created by policy, by reason (ratio, rate_limit, min_latency...). */
  readonly spansSampledOut = new Counter<string>();
  /** Spans lost after creation, by "exporter/reason". */
  readonly spansDropped = new Counter<string>();
  /** Spans delivered, by exporter. */
  readonly spansExported = new Counter<string>();
}
