/**
 * The `jsonl` metrics exporter: one JSON object per data point, on stdout
 * with the jsonl spans, so a run with no collector still exports its metrics
 * (the kernel's losses among them) to whatever reads that stream. A metric
 * line has a "metric" key, a span line a "traceId": `jq 'select(.metric)'`.
 *
 * Written here because the SDK has no line-oriented metric exporter (its
 * ConsoleMetricExporter prints multi-line JS objects for humans).
 */
import { ExportResultCode, hrTimeToMilliseconds, type ExportResult } from '@opentelemetry/core';
import {
  AggregationTemporality,
  DataPointType,
  type ExponentialHistogram,
  type Histogram,
  type MetricData,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import { neutralizeJson, stdoutWrite, type Write } from './console';

const TYPE_NAMES: Readonly<Record<DataPointType, string>> = {
  [DataPointType.HISTOGRAM]: 'histogram',
  [DataPointType.EXPONENTIAL_HISTOGRAM]: 'exponential_histogram',
  [DataPointType.GAUGE]: 'gauge',
  [DataPointType.SUM]: 'sum',
};

/** The JSON forms of one metric's data points (one line each). */
export function metricToJson(metric: MetricData, resource: Record<string, unknown>): Array<Record<string, unknown>> {
  const { descriptor } = metric;
  const common = {
    metric: descriptor.name,
    unit: descriptor.unit || undefined,
    type: TYPE_NAMES[metric.dataPointType],
    temporality: metric.aggregationTemporality === AggregationTemporality.DELTA ? 'delta' : 'cumulative',
    monotonic: metric.dataPointType === DataPointType.SUM ? metric.isMonotonic : undefined,
  };
  return metric.dataPoints.map((point) => {
    const times = {
      startTime: new Date(hrTimeToMilliseconds(point.startTime)).toISOString(),
      time: new Date(hrTimeToMilliseconds(point.endTime)).toISOString(),
    };
    let value: Record<string, unknown>;
    if (metric.dataPointType === DataPointType.HISTOGRAM) {
      const h = point.value as Histogram;
      value = { count: h.count, sum: h.sum, min: h.min, max: h.max, bounds: h.buckets.boundaries, counts: h.buckets.counts };
    } else if (metric.dataPointType === DataPointType.EXPONENTIAL_HISTOGRAM) {
      const h = point.value as ExponentialHistogram;
      value = { count: h.count, sum: h.sum, min: h.min, max: h.max, scale: h.scale, zeroCount: h.zeroCount, positive: h.positive, negative: h.negative };
    } else {
      value = { value: point.value as number };
    }
    return { ...common, ...times, attributes: point.attributes, ...value, resource };
  });
}

export class JsonLinesMetricExporter implements PushMetricExporter {
  constructor(private readonly write: Write = stdoutWrite) {}

  export(metrics: ResourceMetrics, done: (result: ExportResult) => void): void {
    const resource = metrics.resource.attributes;
    let out = '';
    for (const scope of metrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        for (const line of metricToJson(metric, resource)) out += `${neutralizeJson(JSON.stringify(line))}\n`;
      }
    }
    if (out) this.write(out);
    done({ code: ExportResultCode.SUCCESS });
  }

  async forceFlush(): Promise<void> {}

  async shutdown(): Promise<void> {}
}
