/**
 * The span export pipeline alone (no kernel, no root): spans ended on a TracerProvider go through
 * the SDK's BatchSpanProcessor into RetryingSpanExporter, then to an exporter that either takes
 * every batch at once (healthy) or fails every attempt (a collector that is down: the buffer fills,
 * then every new batch evicts the oldest spans). Reports the agent-side CPU per span, median and
 * spread over rounds.
 *
 *   node dist/bench/export-pipeline.js [--rounds 5] [--spans 200000]
 *
 * Sample output (see bench/RESULTS.md for the recorded run):
 *   healthy   1.9 µs/span median (1.8 – 2.3) over 5 rounds, 200000 spans per round
 */
import { ExportResultCode } from '@opentelemetry/core';
import { TracerProvider, type SpanExporter } from '@opentelemetry/sdk-trace';
import { batchProcessor, RetryingSpanExporter } from '../receiver/src/export/span-pipeline';
import { createLogger } from '../receiver/src/log';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} takes a positive number`);
  return v;
}

const ROUNDS = arg('rounds', 5);
const SPANS = arg('spans', 200_000);
const BUFFER = 20_000;

async function round(healthy: boolean): Promise<{ cpuNsPerSpan: number; delivered: number; dropped: number }> {
  let delivered = 0;
  let dropped = 0;
  const inner: SpanExporter = {
    export: (spans, done) => {
      if (healthy) {
        delivered += spans.length;
        done({ code: ExportResultCode.SUCCESS });
      } else {
        done({ code: ExportResultCode.FAILED, error: new Error('14 UNAVAILABLE: No connection established') });
      }
    },
    shutdown: async () => undefined,
  };
  const exporter = new RetryingSpanExporter(inner, {
    name: 'bench',
    maxBufferedSpans: BUFFER,
    maxBatchSize: 512,
    initialBackoffMs: 60_000, // one failed attempt, then no retry during the round
    maxBackoffMs: 60_000,
    exportTimeoutMs: 10_000,
    shutdownTimeoutMs: 100,
    log: createLogger('error'),
    onDropped: (n) => { dropped += n; },
    onExported: () => undefined,
  });
  const provider = new TracerProvider({ spanProcessors: [batchProcessor(exporter, { maxBatchSize: 512, scheduledDelayMs: 1000 })] });
  const tracer = provider.getTracer('bench');
  const before = process.cpuUsage();
  for (let i = 0; i < SPANS; i++) {
    const span = tracer.startSpan('tcp connect', { attributes: { 'server.port': i & 0xffff, 'process.pid': 4242 } });
    span.end();
    // Let the batch processor and the exporter run as they would between ring buffer reads.
    if ((i & 1023) === 1023) await new Promise((resolve) => setImmediate(resolve));
  }
  await provider.forceFlush();
  const used = process.cpuUsage(before);
  await provider.shutdown();
  await exporter.shutdown();
  return { cpuNsPerSpan: ((used.user + used.system) * 1000) / SPANS, delivered, dropped };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

async function main(): Promise<void> {
  const results: Record<'healthy' | 'collector down', number[]> = { healthy: [], 'collector down': [] };
  let check = '';
  for (let r = 0; r < ROUNDS; r++) {
    // Alternate the order so neither variant always runs on a warmer heap.
    const order: boolean[] = r % 2 === 0 ? [true, false] : [false, true];
    for (const healthy of order) {
      const res = await round(healthy);
      results[healthy ? 'healthy' : 'collector down'].push(res.cpuNsPerSpan);
      if (r === 0) check += ` ${healthy ? 'healthy' : 'down'}: delivered ${res.delivered}, dropped ${res.dropped};`;
    }
  }
  for (const [name, values] of Object.entries(results)) {
    const us = (ns: number): string => (ns / 1000).toFixed(1);
    process.stdout.write(`${name.padEnd(15)} ${us(median(values))} µs/span median (${us(Math.min(...values))} – ${us(Math.max(...values))}) over ${ROUNDS} rounds, ${SPANS} spans per round, buffer ${BUFFER}\n`);
  }
  process.stdout.write(`first round:${check}\n`);
}

void main();
