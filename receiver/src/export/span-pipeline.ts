/**
 * Gets finished spans to one exporter without losing them silently.
 *
 * The SDK's BatchSpanProcessor hands a batch to the exporter once: if the
 * collector is down the batch is gone (the OTLP exporter's own retries last
 * seconds). This processor keeps spans in a bounded buffer until the exporter
 * confirms them, retrying with exponential backoff, and counts every span it
 * has to drop (buffer full, shutdown) so the loss shows up in our metrics.
 */
import type { Context } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, Span, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace';
import type { Logger } from '../log';

export interface SpanPipelineOptions {
  /** Name used in log lines ("otlp", "console", ...). */
  name: string;
  /** Spans held at most while the exporter fails; the oldest go first. */
  maxBufferedSpans: number;
  maxBatchSize: number;
  flushIntervalMs: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** Time allowed to deliver what is left at shutdown. */
  shutdownTimeoutMs: number;
  log: Logger;
  onDropped: (count: number, reason: 'buffer_full' | 'shutdown') => void;
  onExported: (count: number) => void;
}

export class BufferedSpanProcessor implements SpanProcessor {
  private buffer: ReadableSpan[] = [];
  private sending = false;
  private failing = false;
  private backoffMs: number;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private firstFailureAt = 0;
  private droppedSinceDelivery = 0;

  constructor(
    private readonly exporter: SpanExporter,
    private readonly opts: SpanPipelineOptions,
  ) {
    this.backoffMs = opts.initialBackoffMs;
  }

  /** Spans waiting for the exporter. */
  get buffered(): number {
    return this.buffer.length;
  }

  get isFailing(): boolean {
    return this.failing;
  }

  onStart(_span: Span, _parentContext: Context): void {}

  onEnd(span: ReadableSpan): void {
    if (this.closed) {
      this.opts.onDropped(1, 'shutdown');
      return;
    }
    if (this.buffer.length >= this.opts.maxBufferedSpans) {
      this.buffer.shift();
      this.opts.onDropped(1, 'buffer_full');
      this.droppedSinceDelivery++;
    }
    this.buffer.push(span);
    if (this.failing) return; // the retry timer is already set
    if (this.buffer.length >= this.opts.maxBatchSize) this.kick(0);
    else this.kick(this.opts.flushIntervalMs);
  }

  async forceFlush(): Promise<void> {
    await this.drain(Date.now() + this.opts.shutdownTimeoutMs);
  }

  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.drain(Date.now() + this.opts.shutdownTimeoutMs);
    if (this.buffer.length > 0) {
      this.opts.log.warn(`${this.opts.name}: ${this.buffer.length} spans could not be delivered before shutdown`);
      this.opts.onDropped(this.buffer.length, 'shutdown');
      this.buffer = [];
    }
    await this.exporter.shutdown().catch(() => undefined);
  }

  private kick(delayMs: number): void {
    if (this.sending) return;
    if (this.timer && delayMs > 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.sendAll();
    }, delayMs);
    this.timer.unref();
  }

  /** Sends batches until the buffer is empty or an export fails. */
  private async sendAll(): Promise<boolean> {
    if (this.sending) return false;
    this.sending = true;
    try {
      while (this.buffer.length > 0) {
        const batch = this.buffer.slice(0, this.opts.maxBatchSize);
        const result = await this.exportBatch(batch);
        if (result.code !== ExportResultCode.SUCCESS) {
          this.onFailure(result.error);
          return false;
        }
        // Drop exactly what was sent: new spans may have been appended, and
        // the oldest may have been evicted while the export was in flight.
        const sent = new Set(batch);
        this.buffer = this.buffer.filter((s) => !sent.has(s));
        this.opts.onExported(batch.length);
        this.onSuccess();
      }
      return true;
    } finally {
      this.sending = false;
    }
  }

  private async drain(deadline: number): Promise<void> {
    while (this.buffer.length > 0 && Date.now() < deadline) {
      while (this.sending && Date.now() < deadline) await sleep(20);
      if (await this.sendAll()) return;
      await sleep(Math.min(500, Math.max(0, deadline - Date.now())));
    }
  }

  private exportBatch(batch: ReadableSpan[]): Promise<ExportResult> {
    return new Promise((resolve) => {
      try {
        this.exporter.export(batch, resolve);
      } catch (error) {
        resolve({ code: ExportResultCode.FAILED, error: error as Error });
      }
    });
  }

  private onFailure(error: Error | undefined): void {
    if (!this.failing) {
      this.failing = true;
      this.firstFailureAt = Date.now();
      this.opts.log.warn(
        `${this.opts.name}: export failed (${describeError(error)}); keeping up to ${this.opts.maxBufferedSpans} spans and retrying`,
      );
    }
    if (this.closed) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.opts.maxBackoffMs, this.backoffMs * 2);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.sendAll();
    }, delay);
    this.timer.unref();
  }

  private onSuccess(): void {
    this.backoffMs = this.opts.initialBackoffMs;
    if (this.failing) {
      this.failing = false;
      const seconds = ((Date.now() - this.firstFailureAt) / 1000).toFixed(1);
      const lost = this.droppedSinceDelivery > 0 ? `; ${this.droppedSinceDelivery} spans were dropped (buffer full)` : '';
      this.opts.log.info(`${this.opts.name}: export recovered after ${seconds}s${lost}`);
    }
    // Counted since the last delivery, not since the failure was noticed: a burst can overflow the
    // buffer before the first export attempt fails.
    this.droppedSinceDelivery = 0;
  }
}

function describeError(error: Error | undefined): string {
  if (!error) return 'unknown error';
  const text = error.message.split('\n')[0] ?? '';
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
