/**
 * Gets finished spans to one exporter without losing them silently.
 *
 *   TracerProvider -> BatchSpanProcessor (the SDK's) -> RetryingSpanExporter -> OTLP/console exporter
 *
 * The SDK's BatchSpanProcessor batches; it hands each batch to the exporter once, and the OTLP
 * exporters' own retries last seconds, so a collector that is down for a minute would lose every
 * span. RetryingSpanExporter is the one decorator that keeps the guarantees: it takes each batch
 * into a bounded buffer (the oldest spans go first when it is full, and are counted), retries with
 * exponential backoff, gives every attempt an export timeout (an exporter that never calls back
 * cannot stall it), splits a batch the receiver finds too large and drops (counting) one it can
 * never accept, and delivers what it can within a fixed time at shutdown.
 *
 * One RetryingSpanExporter can serve several TracerProviders: each gets its own processor from
 * batchProcessor(), and the owner shuts the exporter down once, after the providers.
 */
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { BatchSpanProcessor, type ReadableSpan, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace';
import type { ExporterName } from '../config';
import type { Logger } from '../log';
import { classifyExportError, type ExportFailure } from './errors';

export type SpanDropReason = 'buffer_full' | 'shutdown' | 'rejected';

export interface RetryingExporterOptions {
  /** Name used in log lines and counters ("otlp", "console", ...). */
  name: string;
  /** Spans held at most while the exporter fails; the oldest go first. */
  maxBufferedSpans: number;
  maxBatchSize: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** One export attempt that has not called back after this long counts as failed. */
  exportTimeoutMs: number;
  /** Time allowed to deliver what is left at shutdown (every attempt included). */
  shutdownTimeoutMs: number;
  log: Logger;
  onDropped: (count: number, reason: SpanDropReason) => void;
  onExported: (count: number) => void;
}

/** A FIFO of spans with O(1) amortised removal from the front (Array#shift is O(n)). */
class SpanQueue {
  private items: ReadableSpan[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(spans: readonly ReadableSpan[]): void {
    for (const s of spans) this.items.push(s);
  }

  /**
   * Removes and returns up to n spans from the front. The slots taken are let go at once, once they
   * are half the array (amortised O(1)): kept until 1,024 had gone, as before, they held spans that
   * were already exported past two scavenges, and V8 promoted ~30 MB/s of them to old space under
   * a connect storm.
   */
  take(n: number): ReadableSpan[] {
    const out = this.items.slice(this.head, this.head + n);
    this.head += out.length;
    if (this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return out;
  }

  /** Puts spans back at the front (after a failed attempt). */
  unshift(spans: readonly ReadableSpan[]): void {
    this.items = [...spans, ...this.items.slice(this.head)];
    this.head = 0;
  }

  clear(): number {
    const n = this.length;
    this.items = [];
    this.head = 0;
    return n;
  }
}

export class RetryingSpanExporter implements SpanExporter {
  private readonly queue = new SpanQueue();
  /** The batch being exported now (not in the queue). */
  private inFlight: Promise<void> | undefined;
  private inFlightCount = 0;
  private timer: NodeJS.Timeout | undefined;
  private backoffMs: number;
  private batchSize: number;
  private failing: ExportFailure | undefined;
  private firstFailureAt = 0;
  private droppedSinceDelivery = 0;
  private closed = false;
  /** Bumped when shutdown gives up on the attempt in flight: its late answer is then ignored. */
  private generation = 0;
  /** Drops for sizes/validity are logged once until the next delivery (counted every time). */
  private rejectLogged = false;
  private splitLogged = false;
  private shutdownOnce: Promise<void> | undefined;

  constructor(
    private readonly inner: SpanExporter,
    private readonly opts: RetryingExporterOptions,
  ) {
    this.backoffMs = opts.initialBackoffMs;
    this.batchSize = opts.maxBatchSize;
  }

  /** Spans waiting for the exporter, the batch in flight included. */
  get buffered(): number {
    return this.queue.length + this.inFlightCount;
  }

  get isFailing(): boolean {
    return this.failing !== undefined;
  }

  /** Takes the spans over: the result is always success, what happens next is counted. */
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    if (this.closed) {
      this.opts.onDropped(spans.length, 'shutdown');
      done({ code: ExportResultCode.SUCCESS });
      return;
    }
    this.queue.push(spans);
    this.evictOverflow();
    done({ code: ExportResultCode.SUCCESS });
    if (!this.failing) this.schedule(0);
  }

  async forceFlush(): Promise<void> {
    await this.drain(Date.now() + this.opts.shutdownTimeoutMs);
  }

  shutdown(): Promise<void> {
    this.shutdownOnce ??= this.doShutdown();
    return this.shutdownOnce;
  }

  private async doShutdown(): Promise<void> {
    this.closed = true;
    const deadline = Date.now() + this.opts.shutdownTimeoutMs;
    await this.drain(deadline);
    const left = this.queue.clear() + (this.inFlight ? this.inFlightCount : 0);
    if (left > 0) {
      this.opts.log.warn(`${this.opts.name}: ${left} spans could not be delivered before shutdown` +
        (this.failing ? ` (${this.failing.message})` : ''));
      this.opts.onDropped(left, 'shutdown');
      this.inFlightCount = 0;
      this.generation++;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    // The inner exporter's own shutdown (a gRPC channel close) gets what is left of the time.
    await withTimeout(this.inner.shutdown().catch(() => undefined), Math.max(100, deadline - Date.now()));
  }

  private evictOverflow(): void {
    // The batch in flight is not counted: if it fails it comes back to the front, and is then the
    // oldest to go. Memory stays within maxBufferedSpans + one batch.
    const over = this.queue.length - this.opts.maxBufferedSpans;
    if (over <= 0) return;
    const n = this.queue.take(over).length;
    if (n > 0) {
      this.opts.onDropped(n, 'buffer_full');
      this.droppedSinceDelivery += n;
    }
  }

  private schedule(delayMs: number): void {
    // A timer already pending fires soon enough; re-arming it on every batch would starve it when
    // batches come faster than a timer tick (seen in bench/export-pipeline.ts).
    if (this.inFlight || this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.sendAll(this.opts.exportTimeoutMs);
    }, delayMs);
    this.timer.unref();
  }

  /** Sends batches until the queue is empty or an attempt fails; true when empty. */
  private async sendAll(attemptTimeoutMs: number, deadline = Infinity): Promise<boolean> {
    while (this.queue.length > 0 && Date.now() < deadline) {
      if (this.inFlight) return false;
      const failure = await this.sendOne(Math.min(attemptTimeoutMs, deadline - Date.now()));
      if (failure) {
        this.onFailure(failure);
        return false;
      }
    }
    return this.queue.length === 0;
  }

  /** One attempt with one batch; undefined on success (or when the batch had to be dropped). */
  private async sendOne(timeoutMs: number): Promise<ExportFailure | undefined> {
    const batch = this.queue.take(this.batchSize);
    if (batch.length === 0) return undefined;
    let failure: ExportFailure | undefined;
    const generation = this.generation;
    this.inFlightCount = batch.length;
    this.inFlight = (async () => {
      const result = await exportWithTimeout(this.inner, batch, timeoutMs);
      if (generation !== this.generation) return; // already counted as dropped at shutdown
      if (result.code === ExportResultCode.SUCCESS) {
        this.opts.onExported(batch.length);
        this.onSuccess();
        return;
      }
      const f = classifyExportError(result.error, this.opts.name);
      if (f.kind === 'too_large' && batch.length > 1) {
        // Split: each half goes back to the front and is tried on its own.
        if (!this.splitLogged) this.opts.log.warn(`${this.opts.name}: ${f.message}; splitting a batch of ${batch.length} spans`);
        this.splitLogged = true;
        this.queue.unshift(batch);
        this.batchSize = Math.max(1, Math.floor(batch.length / 2));
        return;
      }
      if (f.kind === 'too_large' || f.kind === 'rejected') {
        if (!this.rejectLogged) {
          this.opts.log.warn(`${this.opts.name}: ${f.message}; ${batch.length} spans dropped (the receiver would never accept them;` +
            ' later drops are counted in ebpf_otel.spans.dropped{reason=rejected})');
        }
        this.rejectLogged = true;
        this.opts.onDropped(batch.length, 'rejected');
        return;
      }
      this.queue.unshift(batch);
      failure = f;
    })();
    try {
      await this.inFlight;
    } finally {
      this.inFlight = undefined;
      this.inFlightCount = 0;
    }
    this.evictOverflow();
    return failure;
  }

  private async drain(deadline: number): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.queue.length > 0 || this.inFlight) {
      const left = deadline - Date.now();
      if (left <= 0) return;
      if (this.inFlight) {
        await withTimeout(this.inFlight, left);
        continue;
      }
      if (await this.sendAll(this.opts.exportTimeoutMs, deadline)) return;
      // A failed attempt: wait a little (never past the deadline) and try again.
      await sleep(Math.min(250, Math.max(0, deadline - Date.now())));
    }
  }

  private onFailure(failure: ExportFailure): void {
    if (!this.failing || this.failing.kind !== failure.kind) {
      if (!this.failing) this.firstFailureAt = Date.now();
      const how = failure.kind === 'auth' || failure.kind === 'tls' ? 'error' : 'warn';
      this.opts.log[how](`${this.opts.name}: export failed (${failure.message}); keeping up to ${this.opts.maxBufferedSpans} spans and retrying`);
    }
    this.failing = failure;
    if (this.closed) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.opts.maxBackoffMs, this.backoffMs * 2);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.sendAll(this.opts.exportTimeoutMs);
    }, delay);
    this.timer.unref();
  }

  private onSuccess(): void {
    this.backoffMs = this.opts.initialBackoffMs;
    this.rejectLogged = false;
    this.splitLogged = false;
    if (this.failing) {
      this.failing = undefined;
      const seconds = ((Date.now() - this.firstFailureAt) / 1000).toFixed(1);
      const lost = this.droppedSinceDelivery > 0 ? `; ${this.droppedSinceDelivery} spans were dropped (buffer full)` : '';
      this.opts.log.info(`${this.opts.name}: export recovered after ${seconds}s${lost}`);
    }
    // Counted since the last delivery, not since the failure was noticed: a burst can overflow the
    // buffer before the first export attempt fails.
    this.droppedSinceDelivery = 0;
  }
}

export interface BatchOptions {
  maxBatchSize: number;
  /** How long a span waits for more to fill a batch. */
  scheduledDelayMs: number;
}

/**
 * The batch processor's settings by exporter. OTLP: 512 spans or 1 s (requests to a collector).
 * console and jsonl: 256 spans or 20 ms. They write to a local stream, where waiting longer
 * saves little (50 writes a second at most), and a span that waits survives V8's scavenges:
 * with 100 ms, at the exec storm's rate (a scavenge every 50–90 ms), nearly every exec span was
 * promoted to the old generation with its argv, 8.3 KB per exec with a 4 KiB argv against 0.7 KB
 * with 20 ms (bench/exec-pipeline.ts with --trace-gc-nvp); scavenge pauses fell from ~46 to ~6 µs
 * per exec.
 */
export function batchOptionsFor(exporter: ExporterName): BatchOptions {
  return exporter === 'otlp' ? { maxBatchSize: 512, scheduledDelayMs: 1000 } : { maxBatchSize: 256, scheduledDelayMs: 20 };
}

/**
 * The SDK's BatchSpanProcessor in front of a shared RetryingSpanExporter. Its queue only holds
 * spans for one scheduling delay (the exporter takes every batch at once), and shutting the
 * processor down leaves the shared exporter open for the other providers: its owner closes it.
 */
export function batchProcessor(exporter: RetryingSpanExporter, opts: BatchOptions): SpanProcessor {
  const shared: SpanExporter = {
    export: (spans, done) => exporter.export(spans, done),
    shutdown: async () => undefined,
    forceFlush: () => exporter.forceFlush(),
  };
  return new BatchSpanProcessor({
    exporter: shared,
    maxExportBatchSize: opts.maxBatchSize,
    // The exporter's buffer is the bound that matters; this one must never drop first.
    maxQueueSize: Math.max(opts.maxBatchSize * 64, 65_536),
    scheduledDelayMillis: opts.scheduledDelayMs,
    exportTimeoutMillis: 1000,
  });
}

// The timers below are not unref'd: they are bounded, and a shutdown waiting on them must not
// see the event loop end under it. The backoff timers above are unref'd.
function exportWithTimeout(exporter: SpanExporter, batch: ReadableSpan[], timeoutMs: number): Promise<ExportResult> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (r: ExportResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const timer = setTimeout(() => finish({
      code: ExportResultCode.FAILED,
      error: Object.assign(new Error(`no answer within ${(Math.max(0, timeoutMs) / 1000).toFixed(1)} s`), { code: 'EXPORT_TIMEOUT' }),
    }), Math.max(0, timeoutMs));
    try {
      exporter.export(batch, finish);
    } catch (error) {
      finish({ code: ExportResultCode.FAILED, error: error as Error });
    }
  });
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), Math.max(0, ms));
    p.then((v) => { clearTimeout(timer); resolve(v); }, () => { clearTimeout(timer); resolve(undefined); });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
