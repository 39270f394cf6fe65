/**
 * Wraps the OTLP metric exporter so a collector that is down is reported once
 * (and its recovery too) instead of an SDK error every interval. Nothing is
 * lost meanwhile: every metric we export is cumulative, so the next export
 * that succeeds carries all counts since start.
 */
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { AggregationTemporality, type InstrumentType, type PushMetricExporter, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { Logger } from '../log';

export class ResilientMetricExporter implements PushMetricExporter {
  private failing = false;
  private failures = 0;

  constructor(
    private readonly inner: PushMetricExporter,
    private readonly log: Logger,
  ) {}

  export(metrics: ResourceMetrics, done: (result: ExportResult) => void): void {
    this.inner.export(metrics, (result) => {
      if (result.code === ExportResultCode.SUCCESS) {
        if (this.failing) this.log.info(`otlp metrics: export recovered after ${this.failures} failed attempts`);
        this.failing = false;
        this.failures = 0;
      } else {
        this.failures++;
        if (!this.failing) {
          this.failing = true;
          this.log.warn(`otlp metrics: export failed (${result.error?.message.split('\n')[0] ?? 'unknown error'}); the next export carries the cumulative counts`);
        }
      }
      // Always report success to the reader: the failure is handled here, and
      // an error result would only make the SDK log it again.
      done({ code: ExportResultCode.SUCCESS });
    });
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
