/**
 * Which events become spans. Metrics come from the kernel's own aggregation
 * and stay exact whatever is decided here; what is left out is counted
 * (ebpf_otel.spans.sampled_out by reason).
 *
 * - failures are always candidates (they are what people look for);
 * - successes slower than `slowThresholdNs` are always candidates;
 * - other successes are kept with probability `successRatio`;
 * - then token buckets cap spans at `maxPerSecond` (0: no cap), so a connect
 *   storm cannot drown the exporter. Important spans (failures, slow
 *   connects) and routine ones have a bucket each, so a storm of successes
 *   cannot starve the failures and a port scan cannot starve the successes.
 */
export interface SamplingPolicy {
  successRatio: number;
  slowThresholdNs: bigint;
  maxPerSecond: number;
}

export type SampleDecision = 'keep' | 'ratio' | 'rate_limit';

class TokenBucket {
  private tokens: number;
  private lastRefillMs: number;

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number,
  ) {
    this.tokens = perSecond;
    this.lastRefillMs = now();
  }

  take(): boolean {
    const now = this.now();
    const elapsed = (now - this.lastRefillMs) / 1000;
    this.lastRefillMs = now;
    this.tokens = Math.min(this.perSecond, this.tokens + elapsed * this.perSecond);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export class SpanGate {
  private readonly important: TokenBucket;
  private readonly routine: TokenBucket;

  constructor(
    private readonly policy: SamplingPolicy,
    now: () => number = () => performance.now(),
    private readonly random: () => number = Math.random,
  ) {
    this.important = new TokenBucket(policy.maxPerSecond, now);
    this.routine = new TokenBucket(policy.maxPerSecond, now);
  }

  decide(failed: boolean, durationNs: bigint): SampleDecision {
    const important = failed || durationNs >= this.policy.slowThresholdNs;
    if (!important && this.policy.successRatio < 1 && this.random() >= this.policy.successRatio) return 'ratio';
    if (this.policy.maxPerSecond > 0 && !(important ? this.important : this.routine).take()) return 'rate_limit';
    return 'keep';
  }
}
