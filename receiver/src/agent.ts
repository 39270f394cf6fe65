/**
 * Wires the stages and owns their lifecycle:
 *   kernel programs -> ring buffers (addon) -> decoders -> clock ->
 *   span and metric builders -> OpenTelemetry SDK -> exporters.
 * Shutdown runs in reverse: stop reading, drain, detach, flush, export.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { trace, type Meter } from '@opentelemetry/api';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { MeterProvider, PeriodicExportingMetricReader, type MetricProducer, type PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { TracerProvider, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { clockPair, libbpfVersion } from '../../addon/lib/index';
import { KernelClock } from './clock';
import type { AgentConfig, ExporterName } from './config';
import { DecodeError, EventType } from './decode/layout';
import { decodeTcpConnect, TcpOutcome } from './decode/tcp-connect';
import { ConsoleLineExporter, JsonLinesExporter } from './export/console';
import { ResilientMetricExporter } from './export/metrics';
import { BufferedSpanProcessor } from './export/span-pipeline';
import type { Logger } from './log';
import { preflight } from './preflight';
import { ensureTracefs } from './probes/tracefs';
import { TcpProbe } from './probes/tcp';
import { buildResource } from './resource';
import { SpanGate } from './sampling';
import {
  ATTR_PROBE,
  ATTR_REASON,
  METRIC_DECODE_ERRORS,
  METRIC_EVENTS_LOST,
  METRIC_EVENTS_RECEIVED,
  METRIC_SPANS_DROPPED,
  METRIC_SPANS_EXPORTED,
  METRIC_SPANS_SAMPLED_OUT,
} from './semconv';
import { AgentStats, type ProbeId } from './stats';
import { TcpConnectMetricProducer } from './tcp/metrics';
import { TcpConnectSpanBuilder } from './tcp/spans';
import { UserNames } from './users';

export const AGENT_VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
})();

export function packageRoot(): string {
  // dist/receiver/src/agent.js -> the package root, three levels up.
  return path.resolve(__dirname, '../../..');
}

/** A fatal start-up problem: the message names the problem and the fix. */
export class AgentStartError extends Error {}

interface ProbeHandle {
  id: ProbeId;
  drain(): void;
  close(): void;
}

export class Agent {
  readonly stats = new AgentStats();
  private readonly probes: ProbeHandle[] = [];
  private tracerProvider: TracerProvider | undefined;
  private meterProvider: MeterProvider | undefined;
  private readonly processors: Array<{ name: ExporterName; processor: SpanProcessor }> = [];
  private clock: KernelClock | undefined;
  private statsTimer: NodeJS.Timeout | undefined;
  private clockTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly config: AgentConfig,
    private readonly log: Logger,
  ) {}

  bpfDir(): string {
    return this.config.bpfDir ?? path.join(packageRoot(), 'build/bpf');
  }

  async start(): Promise<void> {
    const config = this.config;
    preflight(this.bpfDir(), config.probes, config.btfPath);
    ensureTracefs(this.log);
    this.log.debug(`libbpf ${libbpfVersion()}`);

    this.clock = new KernelClock(clockPair);
    this.clockTimer = setInterval(() => this.clock?.refresh(), 10_000).unref();

    const resource = await buildResource(AGENT_VERSION);

    // Traces: one buffered processor per exporter, so a slow collector cannot hold the console back.
    const spanProcessors: SpanProcessor[] = [];
    for (const name of config.exporters) {
      const exporter = this.spanExporter(name);
      const interactive = name !== 'otlp';
      const processor = new BufferedSpanProcessor(exporter, {
        name,
        maxBufferedSpans: config.exportBufferSpans,
        maxBatchSize: interactive ? 256 : 512,
        flushIntervalMs: interactive ? 100 : 1000,
        initialBackoffMs: 1000,
        maxBackoffMs: 30_000,
        shutdownTimeoutMs: 5000,
        log: this.log,
        onDropped: (n, reason) => this.stats.spansDropped.add(`${name}/${reason}`, n),
        onExported: (n) => this.stats.spansExported.add(name, n),
      });
      this.processors.push({ name, processor });
      spanProcessors.push(processor);
    }
    this.tracerProvider = new TracerProvider({ resource, spanProcessors });
    const tracer = this.tracerProvider.getTracer('ebpf-otel', AGENT_VERSION);

    // Probes. A probe that cannot load is fatal only if it is the only one asked for.
    const users = new UserNames();
    const producers: MetricProducer[] = [];
    const failures: string[] = [];
    const gate = new SpanGate({
      successRatio: config.sampleSuccessRatio,
      slowThresholdNs: config.slowThresholdNs,
      maxPerSecond: config.maxSpansPerSecond,
    });

    if (config.probes.includes('tcp')) {
      try {
        const probe = TcpProbe.load(this.bpfDir(), {
          btfPath: config.btfPath,
          filterTgid: config.pid,
          excludeTgid: process.pid,
          dport: config.port,
          includeLoopback: config.includeLoopback,
          perPeerHistogram: config.perPeerMetrics,
          minLatencyNs: config.minLatencyNs,
        });
        const spans = new TcpConnectSpanBuilder(tracer, this.clock, users);
        producers.push(new TcpConnectMetricProducer(probe.histogramSource(), config.histogramBucketsPerOctave));
        const previousLost = this.stats.kernelLost;
        this.stats.kernelLost = () => {
          const s = probe.stats();
          return [...previousLost(), ['tcp/ringbuf_full', Number(s.ringbufDrops)], ['tcp/inflight_table_full', Number(s.inflightFull)]];
        };
        probe.start(
          (record) => {
            this.stats.eventsReceived.add('tcp');
            try {
              if (record.length >= 4 && record.readUInt32LE(0) !== EventType.TcpConnect) {
                throw new DecodeError('unknown_type', `type ${record.readUInt32LE(0)} on the tcp ring buffer`);
              }
              const event = decodeTcpConnect(record);
              const decision = gate.decide(event.outcome !== TcpOutcome.Established, event.endNs - event.startNs);
              if (decision !== 'keep') {
                this.stats.spansSampledOut.add(decision);
                return;
              }
              spans.emit(event, this.parentFor?.(event.pid, event.tid));
            } catch (err) {
              this.countDecodeError(err);
            }
          },
          () => this.stats.decodeErrors.add('framing'),
        );
        this.probes.push({ id: 'tcp', drain: () => probe.drain(), close: () => probe.close() });
        this.log.info('tcp: watching TCP connects (sock:inet_sock_set_state)');
      } catch (err) {
        failures.push(`tcp: ${(err as Error).message}`);
      }
    }

    if (this.probes.length === 0) {
      throw new AgentStartError(failures.join('\n') || 'no probe could be started');
    }
    for (const f of failures) this.log.warn(`${f} (continuing without it)`);

    // Metrics: the kernel's aggregates through MetricProducers, our own health as SDK instruments.
    if (config.exporters.includes('otlp')) {
      const exporter = new ResilientMetricExporter(
        new OTLPMetricExporter(config.otlpEndpoint ? { url: config.otlpEndpoint } : {}) as PushMetricExporter,
        this.log,
      );
      const reader = new PeriodicExportingMetricReader({
        exporter,
        exportIntervalMillis: config.metricIntervalMs,
        exportTimeoutMillis: Math.min(30_000, config.metricIntervalMs),
        metricProducers: producers,
      });
      this.meterProvider = new MeterProvider({ resource, readers: [reader] });
      this.registerSelfMetrics(this.meterProvider.getMeter('ebpf-otel', AGENT_VERSION));
    }

    if (config.statsIntervalSeconds > 0) {
      this.statsTimer = setInterval(() => this.log.info(this.summary()), config.statsIntervalSeconds * 1000).unref();
    }
    const where = config.exporters.map((e) => (e === 'otlp' ? `otlp (${config.otlpEndpoint ?? process.env.OTEL_EXPORTER_OTLP_ENDPOINT ?? 'http://localhost:4317'})` : e));
    this.log.info(`exporting to ${where.join(', ') || 'nowhere (no exporter)'}`);
  }

  /** Resolves the span a TCP connect belongs under (set by the command tracer when it runs). */
  parentFor: ((pid: number, tid: number) => import('@opentelemetry/api').Context | undefined) | undefined;

  private spanExporter(name: ExporterName): SpanExporter {
    switch (name) {
      case 'otlp':
        return new OTLPTraceExporter(this.config.otlpEndpoint ? { url: this.config.otlpEndpoint } : {});
      case 'console':
        return new ConsoleLineExporter();
      case 'jsonl':
        return new JsonLinesExporter();
    }
  }

  private countDecodeError(err: unknown): void {
    if (err instanceof DecodeError) {
      this.stats.decodeErrors.add(err.reason);
      this.log.debug(`decode error: ${err.message}`);
    } else {
      this.stats.decodeErrors.add('exception');
      this.log.warn(`event handling failed: ${(err as Error).stack ?? String(err)}`);
    }
  }

  private registerSelfMetrics(meter: Meter): void {
    const stats = this.stats;
    meter.createObservableCounter(METRIC_EVENTS_RECEIVED, { description: 'Events received from the kernel', unit: '{event}' })
      .addCallback((r) => { for (const [probe, n] of stats.eventsReceived.entries()) r.observe(n, { [ATTR_PROBE]: probe }); });
    meter.createObservableCounter(METRIC_EVENTS_LOST, { description: 'Events lost in the kernel (ring buffer or tracking table full)', unit: '{event}' })
      .addCallback((r) => {
        for (const [key, n] of stats.kernelLost()) {
          const [probe, reason] = key.split('/');
          r.observe(n, { [ATTR_PROBE]: probe, [ATTR_REASON]: reason });
        }
      });
    meter.createObservableCounter(METRIC_DECODE_ERRORS, { description: 'Kernel records that could not be decoded', unit: '{event}' })
      .addCallback((r) => { for (const [reason, n] of stats.decodeErrors.entries()) r.observe(n, { [ATTR_REASON]: reason }); });
    meter.createObservableCounter(METRIC_SPANS_SAMPLED_OUT, { description: 'Spans not created by the sampling policy', unit: '{span}' })
      .addCallback((r) => { for (const [reason, n] of stats.spansSampledOut.entries()) r.observe(n, { [ATTR_REASON]: reason }); });
    meter.createObservableCounter(METRIC_SPANS_DROPPED, { description: 'Spans created but not delivered (export buffer full, shutdown)', unit: '{span}' })
      .addCallback((r) => {
        for (const [key, n] of stats.spansDropped.entries()) {
          const [exporter, reason] = key.split('/');
          r.observe(n, { 'ebpf_otel.exporter': exporter, [ATTR_REASON]: reason });
        }
      });
    meter.createObservableCounter(METRIC_SPANS_EXPORTED, { description: 'Spans delivered to an exporter', unit: '{span}' })
      .addCallback((r) => { for (const [exporter, n] of stats.spansExported.entries()) r.observe(n, { 'ebpf_otel.exporter': exporter }); });
  }

  summary(): string {
    const s = this.stats;
    const fmt = (entries: Array<[string, number]>): string => (entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(' ') : '0');
    return [
      `events received: ${fmt(s.eventsReceived.entries())}`,
      `lost in kernel: ${fmt(s.kernelLost().filter(([, n]) => n > 0))}`,
      `decode errors: ${fmt(s.decodeErrors.entries())}`,
      `spans sampled out: ${fmt(s.spansSampledOut.entries())}`,
      `spans exported: ${fmt(s.spansExported.entries())}`,
      `spans dropped: ${fmt(s.spansDropped.entries())}`,
    ].join('; ');
  }

  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    if (this.statsTimer) clearInterval(this.statsTimer);
    if (this.clockTimer) clearInterval(this.clockTimer);
    for (const probe of this.probes) {
      try {
        probe.drain();
      } catch (err) {
        this.log.warn(`${probe.id}: draining the ring buffer failed: ${(err as Error).message}`);
      }
    }
    // Metrics are collected while the maps still exist: one last export with the final counts.
    if (this.meterProvider) {
      await this.meterProvider.forceFlush().catch((err: Error) => this.log.warn(`final metric export failed: ${err.message}`));
    }
    for (const probe of [...this.probes].reverse()) {
      try {
        probe.close();
      } catch (err) {
        this.log.warn(`${probe.id}: close failed: ${(err as Error).message}`);
      }
    }
    await this.tracerProvider?.shutdown().catch((err: Error) => this.log.warn(`span export at shutdown failed: ${err.message}`));
    await this.meterProvider?.shutdown().catch(() => undefined);
    trace.disable();
    this.log.info(this.summary());
  }
}

