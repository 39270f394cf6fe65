/**
 * The `prometheus` metrics exporter: @opentelemetry/exporter-prometheus's reader and HTTP server,
 * with two adjustments so a scrape of the agent gives the same series as a scrape of the
 * Collector's prometheus exporter (the Grafana dashboard queries either):
 * - a unit suffix on the name, as the Collector adds it (ebpf_otel.tcp.connect.duration, unit s ->
 *   ebpf_otel_tcp_connect_duration_seconds_bucket); the JS serializer adds `_total` but no unit;
 * - host.name, service.name and service.instance.id as labels on every series (the Collector's
 *   resource_to_telemetry_conversion), not only on target_info.
 * The kernel-derived metrics arrive through the reader's metricProducers.
 */
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import type { CollectionResult, MetricProducer } from '@opentelemetry/sdk-metrics';

/** OTel unit -> Prometheus name suffix (the Collector's translator, for the units we use). */
const UNIT_SUFFIX: Readonly<Record<string, string>> = { s: 'seconds', ms: 'milliseconds', By: 'bytes', '1': 'ratio' };

export function prometheusName(name: string, unit: string): string {
  const suffix = UNIT_SUFFIX[unit];
  if (!suffix) return name;
  return name.endsWith(`.${suffix}`) || name.endsWith(`_${suffix}`) ? name : `${name}.${suffix}`;
}

export class AgentPrometheusExporter extends PrometheusExporter {
  constructor(opts: { host: string; port: number; metricProducers: MetricProducer[] }) {
    super({
      host: opts.host,
      port: opts.port,
      preventServerStart: true,
      metricProducers: opts.metricProducers,
      withResourceConstantLabels: /^(host\.name|service\.name|service\.instance\.id)$/,
    });
  }

  override async collect(options?: Parameters<PrometheusExporter['collect']>[0]): Promise<CollectionResult> {
    const result = await super.collect(options);
    for (const scope of result.resourceMetrics.scopeMetrics) {
      scope.metrics = scope.metrics.map((metric) => {
        const name = prometheusName(metric.descriptor.name, metric.descriptor.unit);
        return name === metric.descriptor.name ? metric : { ...metric, descriptor: { ...metric.descriptor, name } };
      });
    }
    return result;
  }
}
