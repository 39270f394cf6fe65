/**
 * A span that is finished when it is made: a plain `ReadableSpan` (the SDK's public interface for
 * what span processors and exporters receive), handed straight to the span processors.
 *
 * Why: a TCP connect span is complete when its event arrives (both times, every attribute, the
 * outcome), and the SDK's Tracer.startSpan validates its attributes twice (`cleanAttributes`, one
 * `WeakSet` per attribute value and an `Object.entries` copy each time): ~7.3 KB of garbage of the
 * ~10.7 KB a span cost under the connect storm (sampling heap profile, 38,000 spans/s through the
 * OTLP pipeline). That garbage made V8 scavenge every ~8 ms, so spans waiting ~15-30 ms for their
 * batch were promoted to the old generation; the peak RSS of the uncapped OTLP agent was that old
 * generation filling up between full collections.
 *
 * What the SDK would have done and is done here instead: ids from the SDK's RandomIdGenerator,
 * trace id, trace state and flags from a valid parent, no span under an unsampled parent (the
 * default ParentBased(AlwaysOn) sampler), an end before the start becomes a zero duration. Span
 * limits are not applied: callers pass attributes that are already bounded (a fixed set of
 * numbers and short strings). The spans are not counted by the SDK's own span metrics, which the
 * agent does not enable.
 */
import { SpanStatusCode, TraceFlags, trace, type Attributes, type Context, type HrTime, type Link, type SpanContext, type SpanKind, type SpanStatus } from '@opentelemetry/api';
import { hrTimeDuration, type InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import { RandomIdGenerator, type ReadableSpan, type SpanProcessor, type TimedEvent } from '@opentelemetry/sdk-trace';

/** Where finished spans of one resource go: the processors its TracerProvider has. */
export interface SpanSink {
  readonly resource: Resource;
  readonly instrumentationScope: InstrumentationScope;
  readonly processors: readonly SpanProcessor[];
}

const NO_LINKS: Link[] = [];
const NO_EVENTS: TimedEvent[] = [];
Object.freeze(NO_LINKS);
Object.freeze(NO_EVENTS);
const UNSET: SpanStatus = Object.freeze({ code: SpanStatusCode.UNSET });
const ids = new RandomIdGenerator();

export class FinishedSpan implements ReadableSpan {
  readonly links = NO_LINKS;
  readonly events = NO_EVENTS;
  readonly ended = true;
  readonly droppedAttributesCount = 0;
  readonly droppedEventsCount = 0;
  readonly droppedLinksCount = 0;
  readonly endTime: HrTime;
  readonly duration: HrTime;

  constructor(
    private readonly context: SpanContext,
    readonly parentSpanContext: SpanContext | undefined,
    readonly name: string,
    readonly kind: SpanKind,
    readonly startTime: HrTime,
    endTime: HrTime,
    readonly attributes: Attributes,
    readonly status: SpanStatus,
    readonly resource: Resource,
    readonly instrumentationScope: InstrumentationScope,
  ) {
    const duration = hrTimeDuration(startTime, endTime);
    // As the SDK's Span.end: an end before the start becomes a zero duration.
    if (duration[0] < 0) {
      this.endTime = startTime;
      this.duration = [0, 0];
    } else {
      this.endTime = endTime;
      this.duration = duration;
    }
  }

  spanContext(): SpanContext {
    return this.context;
  }
}

export interface FinishedSpanOptions {
  name: string;
  kind: SpanKind;
  startTime: HrTime;
  endTime: HrTime;
  /** Already bounded: no span limits are applied. */
  attributes: Attributes;
  status?: SpanStatus;
  parent?: Context;
}

/**
 * Makes the span and ends it on `sink`'s processors; returns it, or undefined when its parent is
 * not sampled (no span, as with the SDK's default sampler).
 */
export function emitFinishedSpan(sink: SpanSink, opts: FinishedSpanOptions): FinishedSpan | undefined {
  const parent = opts.parent ? trace.getSpanContext(opts.parent) : undefined;
  let context: SpanContext;
  let parentSpanContext: SpanContext | undefined;
  if (parent && trace.isSpanContextValid(parent)) {
    if ((parent.traceFlags & TraceFlags.SAMPLED) === 0) return undefined;
    context = { traceId: parent.traceId, spanId: ids.generateSpanId(), traceFlags: TraceFlags.SAMPLED, traceState: parent.traceState };
    parentSpanContext = parent;
  } else {
    context = { traceId: ids.generateTraceId(), spanId: ids.generateSpanId(), traceFlags: TraceFlags.SAMPLED };
  }
  const span = new FinishedSpan(context, parentSpanContext, opts.name, opts.kind, opts.startTime, opts.endTime,
    opts.attributes, opts.status ?? UNSET, sink.resource, sink.instrumentationScope);
  for (const p of sink.processors) p.onEnd(span);
  return span;
}

