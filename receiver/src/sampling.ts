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
import { SpanKind, SpanStatusCode, type Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace';

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

  /** `always`: no ratio sampling (only the rate cap), for process and command spans. */
  decide(failed: boolean, durationNs: bigint, always = false): SampleDecision {
    const important = failed || (!always && durationNs >= this.policy.slowThresholdNs);
    if (!important && !always && this.policy.successRatio < 1 && this.random() >= this.policy.successRatio) return 'ratio';
    if (this.policy.maxPerSecond > 0 && !(important ? this.important : this.routine).take()) return 'rate_limit';
    return 'keep';
  }
}

/**
 * Puts process and command spans (kind INTERNAL) through the same SpanGate as
 * TCP spans, decided when they end: failures (status ERROR) take the
 * important budget, the rest the routine one, so a fork storm in a traced
 * shell is capped like a connect storm and cannot crowd connect failures out
 * of the export buffers; typed command roots count as important too. TCP spans (kind CLIENT) were decided before they
 * were made and pass through. The SDK has no sampler that runs at span end,
 * hence this processor.
 */
export class GatedSpanProcessor implements SpanProcessor {
  constructor(
    private readonly gate: SpanGate,
    private readonly inner: readonly SpanProcessor[],
    private readonly onSampledOut: (reason: Exclude<SampleDecision, 'keep'>) => void,
  ) {}

  onStart(span: Span, parentContext: Context): void {
    for (const p of this.inner) p.onStart(span, parentContext);
  }

  onEnd(span: ReadableSpan): void {
    if (span.kind !== SpanKind.CLIENT) {
      // Failures first; a typed command's root span counts as important too (people type at
      // human rates, and it is what the rest of the trace hangs from).
      const typed = span.parentSpanContext === undefined && span.attributes['process.command_line'] !== undefined;
      const decision = this.gate.decide(span.status.code === SpanStatusCode.ERROR || typed, 0n, true);
      if (decision !== 'keep') {
        this.onSampledOut(decision);
        return;
      }
    }
    for (const p of this.inner) p.onEnd(span);
  }

  async forceFlush(): Promise<void> {
    await Promise.all(this.inner.map((p) => p.forceFlush()));
  }

  async shutdown(): Promise<void> {
    await Promise.all(this.inner.map((p) => p.shutdown()));
  }
}
