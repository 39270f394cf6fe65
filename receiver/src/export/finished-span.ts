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
import { SpanStatusCode, TraceFlags, trace, type AttributeValue, type Attributes, type Context, type HrTime, type Link, type Span, type SpanContext, type SpanKind, type SpanStatus, type TimeInput } from '@opentelemetry/api';
import { hrTime, hrTimeDuration, timeInputToHrTime, type InstrumentationScope } from '@opentelemetry/core';
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
const RANDOM = new RandomIdGenerator();

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
  const ids = childIds(opts.parent);
  if (ids === undefined) return undefined;
  const span = new FinishedSpan(ids.context, ids.parent, opts.name, opts.kind, opts.startTime, opts.endTime,
    opts.attributes, opts.status ?? UNSET, sink.resource, sink.instrumentationScope);
  for (const p of sink.processors) p.onEnd(span);
  return span;
}

/** A new span's context under `parent` (as the SDK's default sampler decides); undefined under an unsampled parent. */
function childIds(parentContext: Context | undefined): { context: SpanContext; parent: SpanContext | undefined } | undefined {
  const parent = parentContext ? trace.getSpanContext(parentContext) : undefined;
  if (parent && trace.isSpanContextValid(parent)) {
    if ((parent.traceFlags & TraceFlags.SAMPLED) === 0) return undefined;
    return { context: { traceId: parent.traceId, spanId: RANDOM.generateSpanId(), traceFlags: TraceFlags.SAMPLED, traceState: parent.traceState }, parent };
  }
  return { context: { traceId: RANDOM.generateTraceId(), spanId: RANDOM.generateSpanId(), traceFlags: TraceFlags.SAMPLED }, parent: undefined };
}

/**
 * A span that stays open for a while (a process, exec to exit; a typed command) and is handed to
 * the span processors as a FinishedSpan when it ends: the api's Span without the SDK's Span.
 *
 * Why: the SDK's Tracer.startSpan copies and checks the attributes twice, and setAttribute once
 * more; for a process's argv (up to 64 words) that was ~9.5 KB of garbage per exec span, a quarter
 * of what the exec pipeline allocated with a 4 KiB argv (sampling heap profile of
 * bench/exec-pipeline.ts). Attributes are taken as given, as for FinishedSpan: callers pass
 * bounded ones (argv is at most 4 KiB and 64 words from the kernel, well inside the agent's span
 * limits). As the SDK's Span: setStatus ignores UNSET and keeps OK, a status message only with
 * ERROR, nothing changes after end(), an end before the start is a zero duration. Process and
 * command spans have no events or links: adding one throws rather than being lost quietly.
 */
export class RecordingSpan implements Span {
  private ended = false;
  private status: SpanStatus = UNSET;

  constructor(
    private readonly sink: SpanSink,
    private readonly context: SpanContext,
    private readonly parentSpanContext: SpanContext | undefined,
    private name: string,
    private readonly kind: SpanKind,
    readonly startTime: HrTime,
    private readonly attributes: Attributes,
  ) {}

  spanContext(): SpanContext {
    return this.context;
  }

  setAttribute(key: string, value: AttributeValue | undefined): this {
    if (!this.ended && value !== undefined) this.attributes[key] = value;
    return this;
  }

  setAttributes(attributes: Attributes): this {
    for (const [key, value] of Object.entries(attributes)) this.setAttribute(key, value);
    return this;
  }

  addEvent(): this {
    throw new Error('RecordingSpan: events are not supported (process and command spans have none)');
  }

  addLink(): this {
    throw new Error('RecordingSpan: links are not supported (process and command spans have none)');
  }

  addLinks(): this {
    throw new Error('RecordingSpan: links are not supported (process and command spans have none)');
  }

  recordException(): void {
    throw new Error('RecordingSpan: exception events are not supported (process and command spans have none)');
  }

  setStatus(status: SpanStatus): this {
    if (this.ended || status.code === SpanStatusCode.UNSET || this.status.code === SpanStatusCode.OK) return this;
    this.status = status.code === SpanStatusCode.ERROR && typeof status.message === 'string' ? { code: status.code, message: status.message } : { code: status.code };
    return this;
  }

  updateName(name: string): this {
    if (!this.ended) this.name = name;
    return this;
  }

  end(endTime?: TimeInput): void {
    if (this.ended) return;
    this.ended = true;
    const span = new FinishedSpan(this.context, this.parentSpanContext, this.name, this.kind, this.startTime,
      endTime === undefined ? hrTime() : timeInputToHrTime(endTime), this.attributes, this.status, this.sink.resource, this.sink.instrumentationScope);
    for (const p of this.sink.processors) p.onEnd(span);
  }

  isRecording(): boolean {
    return !this.ended;
  }
}

export interface RecordingSpanOptions {
  name: string;
  kind: SpanKind;
  startTime: HrTime;
  /** Already bounded: no span limits are applied. The span keeps this object and adds to it. */
  attributes: Attributes;
  parent?: Context;
}

/**
 * Starts a span that `sink`'s processors get when it ends; under an unsampled parent, a
 * non-recording span that carries the parent's context on (as with the SDK's default sampler).
 */
export function startRecordingSpan(sink: SpanSink, opts: RecordingSpanOptions): Span {
  const ids = childIds(opts.parent);
  if (ids === undefined) {
    const parent = trace.getSpanContext(opts.parent as Context) as SpanContext;
    return trace.wrapSpanContext({ traceId: parent.traceId, spanId: RANDOM.generateSpanId(), traceFlags: TraceFlags.NONE, traceState: parent.traceState });
  }
  return new RecordingSpan(sink, ids.context, ids.parent, opts.name, opts.kind, opts.startTime, opts.attributes);
}

