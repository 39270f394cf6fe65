/**
 * Memory a gateway Collector (otel-config/gateway.yaml) needs per trace it holds for its decision:
 * the sizing rule in README "A fleet: node-local Collectors and a gateway tier".
 *
 *   bash scripts/bootstrap.sh test && scripts/node.sh dist/bench/gateway-memory.js [traces] [rounds]
 *
 * Each round starts a fresh gateway with a decision wait far longer than the round, sends `traces`
 * command-shaped traces (1 command span, 4 process spans, 5 connect spans, with the agent's
 * attributes) over OTLP gRPC, waits until the gateway reports them all in memory
 * (otelcol_processor_tail_sampling_sampling_traces_on_memory), and reads the Go heap in use
 * (otelcol_process_runtime_heap_alloc_bytes) and the process RSS (VmRSS) before and after.
 * Prints one line per round and the median (min – max).
 */
import { readFileSync } from 'node:fs';

import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';

import { freePorts, waitFor } from '../test/helpers/backends';
import { startGateway, sumOf } from '../test/helpers/gateway-tier';

const SPANS_PER_TRACE = 10;

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

async function sendTraces(endpoint: string, count: number): Promise<void> {
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'bench-gateway', 'host.name': 'bench-host', 'host.arch': 'amd64', 'os.type': 'linux' }),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter({ url: `http://${endpoint}` }),
        maxQueueSize: 100_000,
        maxExportBatchSize: 2000,
        scheduledDelayMillis: 100,
      }),
    ],
  });
  const tracer = provider.getTracer('bench-gateway');
  for (let i = 0; i < count; i++) {
    const root = tracer.startSpan('curl', {
      attributes: { 'process.command_line': `curl -s https://service-${i % 50}.internal/api/v1/items?page=${i}`, 'process.pid': 1000 + (i % 30000), 'process.owner': 'alice', 'process.user.id': 1000, 'process.exit.code': 0, 'ebpf_otel.shell.tty': 'pts/3' },
    });
    const rootCtx = trace.setSpan(context.active(), root);
    for (let p = 0; p < 4; p++) {
      const proc = tracer.startSpan('curl', {
        attributes: { 'process.pid': 2000 + p, 'process.parent_pid': 1000, 'process.executable.name': 'curl', 'process.executable.path': '/usr/bin/curl', 'process.command_args': ['curl', '-s', `https://service-${i % 50}.internal/api/v1/items`], 'process.exit.code': 0, 'process.owner': 'alice' },
      }, rootCtx);
      const procCtx = trace.setSpan(rootCtx, proc);
      if (p === 0) {
        for (let c = 0; c < 5; c++) {
          const tcp = tracer.startSpan('tcp connect', {
            kind: SpanKind.CLIENT,
            attributes: { 'network.transport': 'tcp', 'network.type': 'ipv4', 'network.peer.address': `10.0.${c}.7`, 'network.peer.port': 443, 'server.address': `10.0.${c}.7`, 'server.port': 443, 'network.local.address': '10.0.0.2', 'network.local.port': 40000 + c, 'process.pid': 2000, 'thread.id': 2000, 'process.executable.name': 'curl', 'ebpf_otel.tcp.outcome': 'established' },
          }, procCtx);
          tcp.setStatus({ code: SpanStatusCode.UNSET });
          tcp.end();
        }
      }
      proc.end();
    }
    root.end();
    if (i % 500 === 499) await provider.forceFlush();
  }
  await provider.forceFlush();
  await provider.shutdown();
}

function stats(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] as number;
  return `${median.toFixed(0)} (${(sorted[0] as number).toFixed(0)} – ${(sorted[sorted.length - 1] as number).toFixed(0)})`;
}

async function main(): Promise<void> {
  const traces = Number(process.argv[2] ?? 20_000);
  const rounds = Number(process.argv[3] ?? 3);
  const heapPerTrace: number[] = [];
  const rssPerTrace: number[] = [];
  const baseRss: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const [nowhere] = (await freePorts(1)) as [number];
    const gw = await startGateway({ name: `bench-gateway-${r}`, tracesPort: nowhere, samplePercent: 10, slowConnectMs: 100, decisionWait: '600s' });
    const pid = gw.pid() as number;
    const heap = async (): Promise<number> => sumOf(await gw.telemetry(), 'otelcol_process_runtime_heap_alloc_bytes');
    const heap0 = await heap();
    const rss0 = rssBytes(pid);
    await sendTraces(gw.endpoint, traces);
    await waitFor(gw.telemetry, (t) => sumOf(t, 'otelcol_processor_tail_sampling_sampling_traces_on_memory') >= traces, { timeoutMs: 120_000, what: `${traces} traces in the gateway's memory` });
    // The heap gauge is sampled by the collector every few seconds: wait for a reading above the start.
    const heap1 = await waitFor(heap, (h) => h > heap0 + traces * 1000, { timeoutMs: 60_000, what: 'a heap reading with the traces' });
    const rss1 = rssBytes(pid);
    heapPerTrace.push((heap1 - heap0) / traces);
    rssPerTrace.push((rss1 - rss0) / traces);
    baseRss.push(rss0 / 1e6);
    console.log(`round ${r + 1}: ${traces} traces x ${SPANS_PER_TRACE} spans held; heap +${((heap1 - heap0) / 1e6).toFixed(1)} MB, RSS ${(rss0 / 1e6).toFixed(0)} -> ${(rss1 / 1e6).toFixed(0)} MB`);
    await gw.kill();
  }
  console.log(`gateway at rest: RSS ${stats(baseRss)} MB`);
  console.log(`per trace held (${SPANS_PER_TRACE} spans): Go heap ${stats(heapPerTrace)} bytes, RSS ${stats(rssPerTrace)} bytes; median (min – max) of ${rounds} rounds`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
