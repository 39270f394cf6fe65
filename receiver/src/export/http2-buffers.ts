/**
 * Frees the request bodies OTLP/gRPC leaves behind, at the pace they pile up.
 *
 * Each export request grpc-js frames and writes to its HTTP/2 stream (~280 KB for 512 spans) stays
 * after the call until V8's next full collection: scavenges do not free it, although nothing refers
 * to it any more. Seen against the real Collector (Go's HTTP/2 server) and not against a Node HTTP/2
 * server, and not for the same bytes sent over OTLP/HTTP (HTTP/1.1); the holder is inside Node's
 * http2, not in grpc-js or the exporter. Measured (bench/memory.ts, uncapped connect storm, real
 * Collector): 17–46 MB of such dead array buffers at the peak over gRPC, ~4 MB over HTTP; V8's own
 * full collections, paced by its heap, came about every 1–2 s. Costs ~1–2 ms CPU per 1,000 connects
 * under the storm (README, OTLP memory).
 *
 * The lever that reaches them without patching Node or grpc-js: one full collection each time the
 * array-buffer bytes have grown by `growthBytes` since the last one asked for here (about one a
 * second under the storm). V8 only collects earlier what it would collect later. `gc` is V8's own
 * (`--expose-gc`, switched on at run time for this only, as Jest's --logHeapUsage does); where it
 * cannot be had, the exporter works as before.
 */
import type { ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Array-buffer growth that asks for a full collection: at most one per ~30,000 spans (~60 requests), ~20 ms each. 24 MiB: 142.7 (138.4 – 148.6) MB peak. */
export const HTTP2_BUFFER_GROWTH_BYTES = 16 * 1024 * 1024;

/** Asks V8 for a full collection; resolves once it has run. */
export type FullGc = () => PromiseLike<void>;

/** V8's gc(), async (the collection runs from its own task, not inside the export's callback), or undefined. */
export function v8FullGc(): FullGc | undefined {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    if (typeof gc !== 'function') return undefined;
    return () => (gc as (options: { type: 'major'; execution: 'async' }) => PromiseLike<void>)({ type: 'major', execution: 'async' });
  } catch {
    return undefined;
  }
}

export class Http2BufferCollector {
  /** The lowest array-buffer level seen since the last collection asked for here. */
  private floor: number;
  private pending = false;
  /** Full collections asked for (for tests and diagnostics). */
  requested = 0;

  constructor(
    private readonly gc: FullGc,
    private readonly growthBytes: number = HTTP2_BUFFER_GROWTH_BYTES,
    private readonly arrayBufferBytes: () => number = () => process.memoryUsage().arrayBuffers,
  ) {
    this.floor = arrayBufferBytes();
  }

  /**
   * Called after each export. Growth is counted from the lowest level seen since the last request,
   * not from a reading just after it: V8 frees array buffers on a helper thread and counts them
   * freed a little later (read at once, the next step once began 16 MB too high, and a storm
   * reached 32 MB). Buffers that stay alive raise the floor, so they never make it collect again
   * and again.
   */
  check(): void {
    const now = this.arrayBufferBytes();
    if (now < this.floor) this.floor = now;
    if (this.pending || now - this.floor < this.growthBytes) return;
    this.pending = true;
    this.requested++;
    this.floor = now;
    const done = (): void => { this.pending = false; };
    this.gc().then(done, done);
  }
}

/** The OTLP/gRPC span exporter, with a check of the HTTP/2 buffers after each export. */
export class Http2BufferCollectingExporter implements SpanExporter {
  constructor(
    private readonly inner: SpanExporter,
    private readonly collector: Http2BufferCollector,
  ) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.inner.export(spans, (result) => {
      this.collector.check();
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}
