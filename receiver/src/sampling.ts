/**
 * Which events become spans. Metrics come from the kernel's own aggregation
 * and stay exact whatever is decided here; what is left out is counted
 * (ebpf_otel.spans.sampled_out by reason).
 *
 * - failures are always candidates (they are what people look for);
 * - successes slower than `slowThresholdNs` are always candidates;
 * - other successes are kept with probability `successRatio`;
 * - then a token bucket caps all spans at `maxPerSecond` (0: no cap), so a
 *   connect storm cannot drown the exporter.
 */
export interface SamplingPolicy {
  successRatio: number;
  slowThresholdNs: bigint;
  maxPerSecond: number;
}

export type SampleDecision = 'keep' | 'ratio' | 'rate_limit';

export class SpanGate {
  private tokens: number;
  private lastRefillMs: number;

  constructor(
    private readonly policy: SamplingPolicy,
    private readonly now: () => number = () => performance.now(),
    private readonly random: () => number = Math.random,
  ) {
    this.tokens = policy.maxPerSecond;
    this.lastRefillMs = now();
  }

  decide(failed: boolean, durationNs: bigint): SampleDecision {
    const important = failed || durationNs >= this.policy.slowThresholdNs;
    if (!important && this.policy.successRatio < 1 && this.random() >= this.policy.successRatio) return 'ratio';
    if (this.policy.maxPerSecond > 0 && !this.takeToken()) return 'rate_limit';
    return 'keep';
  }

  private takeToken(): boolean {
    const now = this.now();
    const elapsed = (now - this.lastRefillMs) / 1000;
    this.lastRefillMs = now;
    this.tokens = Math.min(this.policy.maxPerSecond, this.tokens + elapsed * this.policy.maxPerSecond);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
