/**
 * Builds the exporters the configuration names, once, so several TracerProviders and one
 * MeterProvider can share them:
 *   spans:   otlp (grpc or http/protobuf), console, jsonl, each behind a RetryingSpanExporter
 *   metrics: otlp (grpc or http/protobuf, cumulative or delta), prometheus (/metrics), console, jsonl
 * TLS files and headers come from the standard OTEL_EXPORTER_OTLP_* variables, which the OTLP
 * exporters read themselves (config.ts checks them at start).
 *
 * Each exporter's package is loaded only when the configuration names it: gRPC, protobuf and the
 * Prometheus server together are ~16 MB of resident memory that a `--exporter jsonl` agent never
 * uses. They are loaded with require(), not import(): import() would take the packages' ESM builds,
 * a second copy of @opentelemetry/core and api next to the CommonJS ones the agent already has.
 */
import {
  ConsoleMetricExporter,
  PeriodicExportingMetricReader,
  type IMetricReader,
  type MetricProducer,
  type PushMetricExporter,
} from '@opentelemetry/sdk-metrics';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import type * as MetricsOtlpGrpc from '@opentelemetry/exporter-metrics-otlp-grpc';
import type * as MetricsOtlpHttp from '@opentelemetry/exporter-metrics-otlp-http';
import type * as MetricsOtlpProto from '@opentelemetry/exporter-metrics-otlp-proto';
import type * as TraceOtlpGrpc from '@opentelemetry/exporter-trace-otlp-grpc';
import type * as TraceOtlpProto from '@opentelemetry/exporter-trace-otlp-proto';
import type { AgentConfig, ExporterName } from '../config';
import type { Logger } from '../log';
import { ConsoleLineExporter, JsonLinesExporter } from './console';
import { Http2BufferCollectingExporter, Http2BufferCollector, v8FullGc } from './http2-buffers';
import { JsonLinesMetricExporter } from './jsonl-metrics';
import { CountingMetricExporter, DeltaMetricProducer } from './metrics';
import type * as Prometheus from './prometheus';
import { RetryingSpanExporter, type SpanDropReason } from './span-pipeline';

/** Time allowed at shutdown to deliver buffered spans; with the metric flush, stop stays well under 10 s. */
export const SPAN_SHUTDOWN_TIMEOUT_MS = 3000;
/** Beyond the OTLP exporter's own timeout (OTEL_EXPORTER_OTLP_TIMEOUT, 10 s), an attempt that has not answered is a failure. */
const SPAN_EXPORT_TIMEOUT_MARGIN_MS = 2000;

export interface SpanExportCounters {
  onDropped: (exporter: ExporterName, count: number, reason: SpanDropReason) => void;
  onExported: (exporter: ExporterName, count: number) => void;
}

export function createSpanExporter(name: ExporterName, config: AgentConfig, log: Logger, counters: SpanExportCounters): RetryingSpanExporter {
  const interactive = name !== 'otlp';
  let inner = innerSpanExporter(name, config);
  if (name === 'otlp' && config.tracesProtocol === 'grpc') {
    connectEarly(inner);
    // Each request written to the HTTP/2 stream waits for V8's next full collection (http2-buffers.ts).
    const gc = v8FullGc();
    if (gc) inner = new Http2BufferCollectingExporter(inner, new Http2BufferCollector(gc));
  }
  return new RetryingSpanExporter(inner, {
    name,
    maxBufferedSpans: config.exportBufferSpans,
    maxBatchSize: interactive ? 256 : 512,
    initialBackoffMs: 1000,
    maxBackoffMs: 30_000,
    exportTimeoutMs: (name === 'otlp' ? config.otlpTracesTimeoutMs : 10_000) + SPAN_EXPORT_TIMEOUT_MARGIN_MS,
    shutdownTimeoutMs: SPAN_SHUTDOWN_TIMEOUT_MS,
    log,
    onDropped: (n, reason) => counters.onDropped(name, n, reason),
    onExported: (n) => counters.onExported(name, n),
  });
}

/**
 * Exports an empty batch at start. The OTLP gRPC exporter makes its channel and connects on its
 * first export: when that is the first batch of a connect storm it took ~200 ms, while ~8,000 spans
 * queued behind it and lived long enough to be promoted (bench/memory.ts, OTLP variant: peak RSS
 * 169 -> 163 MB median, 188 -> 167 MB max over 5 rounds). Now the first storm finds the channel
 * up. The answer is not waited for and not reported: a collector that is down is logged by the
 * first real export, with its retries. Not done over HTTP, which connects per request anyway
 * (there an empty export to a refused port only made the shutdown wait for its retries).
 */
function connectEarly(exporter: SpanExporter): void {
  try {
    exporter.export([], () => undefined);
  } catch {
    // Reported by the first real export.
  }
}

function innerSpanExporter(name: ExporterName, config: AgentConfig): SpanExporter {
  switch (name) {
    case 'otlp':
      return config.tracesProtocol === 'grpc'
        ? new (require('@opentelemetry/exporter-trace-otlp-grpc') as typeof TraceOtlpGrpc).OTLPTraceExporter({ url: config.otlpEndpoint })
        : new (require('@opentelemetry/exporter-trace-otlp-proto') as typeof TraceOtlpProto).OTLPTraceExporter({ url: config.otlpEndpoint });
    case 'console':
      return new ConsoleLineExporter();
    case 'jsonl':
      return new JsonLinesExporter();
  }
}

function otlpMetricExporter(config: AgentConfig): PushMetricExporter {
  const { AggregationTemporalityPreference: Preference } = require('@opentelemetry/exporter-metrics-otlp-http') as typeof MetricsOtlpHttp;
  const temporality: Record<AgentConfig['metricsTemporality'], MetricsOtlpHttp.AggregationTemporalityPreference> = {
    cumulative: Preference.CUMULATIVE,
    delta: Preference.DELTA,
    lowmemory: Preference.LOWMEMORY,
  };
  const options = { url: config.otlpMetricsEndpoint, temporalityPreference: temporality[config.metricsTemporality] };
  return config.metricsProtocol === 'grpc'
    ? new (require('@opentelemetry/exporter-metrics-otlp-grpc') as typeof MetricsOtlpGrpc).OTLPMetricExporter(options)
    : new (require('@opentelemetry/exporter-metrics-otlp-proto') as typeof MetricsOtlpProto).OTLPMetricExporter(options);
}

/**
 * One reader per metrics exporter. The prometheus server is listening when this resolves; a port
 * in use rejects with a message naming it.
 */
export async function createMetricReaders(
  config: AgentConfig,
  producers: readonly MetricProducer[],
  log: Logger,
  onExportFailed: (exporter: string, reason: string) => void,
): Promise<IMetricReader[]> {
  const readers: IMetricReader[] = [];
  // An export that hangs (a black-holed collector) must not hold the reader, nor the shutdown, long.
  const exportTimeoutMillis = Math.min(10_000, config.metricIntervalMs);
  for (const name of config.metricsExporters) {
    if (name === 'otlp') {
      const exporter = new CountingMetricExporter(otlpMetricExporter(config), 'otlp metrics', log, (reason) => onExportFailed('otlp', reason));
      readers.push(new PeriodicExportingMetricReader({
        exporter,
        exportIntervalMillis: config.metricIntervalMs,
        exportTimeoutMillis,
        // The SDK turns its own instruments into deltas; the kernel's aggregates are converted here.
        metricProducers: config.metricsTemporality === 'delta' ? producers.map((p) => new DeltaMetricProducer(p)) : [...producers],
      }));
    } else if (name === 'console' || name === 'jsonl') {
      readers.push(new PeriodicExportingMetricReader({
        exporter: name === 'console' ? new ConsoleMetricExporter() : new JsonLinesMetricExporter(),
        exportIntervalMillis: config.metricIntervalMs,
        exportTimeoutMillis,
        metricProducers: [...producers],
      }));
    } else {
      const { AgentPrometheusExporter } = require('./prometheus') as typeof Prometheus;
      const reader = new AgentPrometheusExporter({ host: config.prometheusHost, port: config.prometheusPort, metricProducers: [...producers] });
      try {
        await reader.startServer();
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        const where = `${config.prometheusHost}:${config.prometheusPort}`;
        const why = e.code === 'EADDRINUSE'
          ? `port ${config.prometheusPort} is already in use`
          : e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND' ? `no local address ${config.prometheusHost}` : (e.message ?? String(err));
        throw new Error(`prometheus exporter: cannot listen on ${where}: ${why}; choose another with --prometheus-port/OTEL_EXPORTER_PROMETHEUS_PORT or --prometheus-host/OTEL_EXPORTER_PROMETHEUS_HOST`);
      }
      log.info(`prometheus: metrics at http://${config.prometheusHost.includes(':') ? `[${config.prometheusHost}]` : config.prometheusHost}:${config.prometheusPort}/metrics`);
      readers.push(reader);
    }
  }
  return readers;
}
