/**
 * Metric export pieces around the SDK's readers:
 * - CountingMetricExporter wraps a push exporter (OTLP): every failed export is counted (exported as
 *   ebpf_otel.metric_exports.failed) and reported to the reader as the failure it is; the log says
 *   once that exports fail, with the cause, and once that they recovered. With cumulative
 *   temporality nothing is lost meanwhile (the next export that succeeds carries all counts since
 *   start); with delta, the points of a failed export are lost, and counted.
 * - DeltaMetricProducer turns a MetricProducer's cumulative sums and histograms (the kernel's
 *   aggregates) into deltas, for a reader whose exporter asked for delta temporality: the SDK does
 *   that for its own instruments but passes a producer's data through as it is.
 */
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import {
  AggregationTemporality,
  DataPointType,
  InstrumentType,
  type MetricCollectOptions,
  type CollectionResult,
  type DataPoint,
  type Histogram,
  type MetricData,
  type MetricProducer,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import type { HrTime } from '@opentelemetry/api';
import type { Logger } from '../log';
import { classifyExportError } from './errors';

export class CountingMetricExporter implements PushMetricExporter {
  private failing = false;
  private failuresInRow = 0;

  constructor(
    private readonly inner: PushMetricExporter,
    private readonly name: string,
    private readonly log: Logger,
    private readonly onFailed: (reason: string) => void,
  ) {}

  export(metrics: ResourceMetrics, done: (result: ExportResult) => void): void {
    let settled = false;
    const finish = (result: ExportResult): void => {
      if (settled) return;
      settled = true;
      if (result.code === ExportResultCode.SUCCESS) {
        if (this.failing) this.log.info(`${this.name}: export recovered after ${this.failuresInRow} failed attempts`);
        this.failing = false;
        this.failuresInRow = 0;
      } else {
        const failure = classifyExportError(result.error, this.name);
        this.onFailed(failure.kind);
        this.failuresInRow++;
        if (!this.failing) {
          this.failing = true;
          const lossNote = this.selectAggregationTemporality(InstrumentType.COUNTER) === AggregationTemporality.DELTA
            ? 'the points of each failed export are lost (delta temporality) and counted'
            : 'the next export carries the cumulative counts';
          this.log[failure.kind === 'auth' || failure.kind === 'tls' ? 'error' : 'warn'](`${this.name}: export failed (${failure.message}); ${lossNote}`);
        }
      }
      done(result);
    };
    try {
      this.inner.export(metrics, finish);
    } catch (error) {
      finish({ code: ExportResultCode.FAILED, error: error as Error });
    }
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  selectAggregationTemporality(instrumentType: InstrumentType): AggregationTemporality {
    return this.inner.selectAggregationTemporality?.(instrumentType) ?? AggregationTemporality.CUMULATIVE;
  }
}

interface Previous {
  endTime: HrTime;
  value: number | Histogram;
}

function seriesKey(scope: string, metric: string, attributes: DataPoint<unknown>['attributes']): string {
  const entries = Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `${scope}\u0000${metric}\u0000${JSON.stringify(entries)}`;
}

export class DeltaMetricProducer implements MetricProducer {
  private readonly previous = new Map<string, Previous>();

  constructor(private readonly inner: MetricProducer) {}

  async collect(options?: MetricCollectOptions): Promise<CollectionResult> {
    const result = await this.inner.collect(options);
    for (const scope of result.resourceMetrics.scopeMetrics) {
      scope.metrics = scope.metrics.map((m) => this.toDelta(scope.scope.name, m));
    }
    return result;
  }

  private toDelta(scope: string, metric: MetricData): MetricData {
    if (metric.aggregationTemporality !== AggregationTemporality.CUMULATIVE) return metric;
    const name = metric.descriptor.name;
    if (metric.dataPointType === DataPointType.SUM && metric.isMonotonic) {
      const dataPoints = metric.dataPoints.map((p) => {
        const key = seriesKey(scope, name, p.attributes);
        const prev = this.previous.get(key);
        this.previous.set(key, { endTime: p.endTime, value: p.value });
        const prevValue = typeof prev?.value === 'number' ? prev.value : 0;
        // A smaller total means the source restarted: the whole value is new.
        const reset = prev === undefined || p.value < prevValue;
        return { ...p, startTime: reset ? p.startTime : prev.endTime, value: reset ? p.value : p.value - prevValue };
      });
      return { ...metric, aggregationTemporality: AggregationTemporality.DELTA, dataPoints };
    }
    if (metric.dataPointType === DataPointType.HISTOGRAM) {
      const dataPoints = metric.dataPoints.map((p) => {
        const key = seriesKey(scope, name, p.attributes);
        const prev = this.previous.get(key);
        this.previous.set(key, { endTime: p.endTime, value: p.value });
        const before = prev !== undefined && typeof prev.value !== 'number' ? prev.value : undefined;
        const sameBuckets = before !== undefined &&
          before.buckets.boundaries.length === p.value.buckets.boundaries.length && before.count <= p.value.count;
        if (!sameBuckets || prev === undefined) {
          return { ...p, value: { buckets: p.value.buckets, count: p.value.count, sum: p.value.sum } };
        }
        const value: Histogram = {
          buckets: {
            boundaries: p.value.buckets.boundaries,
            counts: p.value.buckets.counts.map((c, i) => c - (before.buckets.counts[i] ?? 0)),
          },
          count: p.value.count - before.count,
          // min/max of the interval are unknown: left out.
          sum: (p.value.sum ?? 0) - (before.sum ?? 0),
        };
        return { ...p, startTime: prev.endTime, value };
      });
      return { ...metric, aggregationTemporality: AggregationTemporality.DELTA, dataPoints };
    }
    return metric;
  }
}
