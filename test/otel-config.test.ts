// The configs in otel-config/ checked by the real collector and Jaeger binaries that
// scripts/build-backends.sh builds, and one smoke run of the test loop:
// OTel JS SDK --OTLP gRPC--> collector (collector-e2e.yaml) --OTLP--> Jaeger v2, read back via API v3;
// metrics --> file exporter and Prometheus exporter, read back from both.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';

import { SpanKind } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';

import {
  ensureBackends,
  flattenMetrics,
  flattenSpans,
  otelConfigDir,
  parsePrometheusText,
  startCollector,
  startJaeger,
  validateConfig,
  waitFor,
  type BackendBinaries,
  type CollectorHandle,
  type JaegerHandle,
} from './helpers/backends';

// Values for the variables the test configs require (ports need only be syntactically valid here).
const e2eEnv = {
  OTELCOL_OTLP_GRPC_PORT: '14317',
  OTELCOL_OTLP_HTTP_PORT: '14318',
  OTELCOL_HEALTH_PORT: '13133',
  OTELCOL_PROMETHEUS_PORT: '18889',
  JAEGER_OTLP_GRPC_PORT: '24317',
  OTELCOL_METRICS_FILE: '/tmp/ebpf-otel-validate-metrics.jsonl',
  OTELCOL_TRACES_FILE: '/tmp/ebpf-otel-validate-traces.jsonl',
};
const jaegerEnv = {
  JAEGER_OTLP_GRPC_PORT: '24317',
  JAEGER_OTLP_HTTP_PORT: '24318',
  JAEGER_QUERY_HTTP_PORT: '26686',
  JAEGER_QUERY_GRPC_PORT: '26685',
  JAEGER_HEALTH_PORT: '23133',
};

let bins: BackendBinaries;

before(() => {
  // First run on a machine builds both backends from source (several minutes).
  bins = ensureBackends();
});

describe('otel-config validates with the real binaries', () => {
  it('every file in otel-config/ is covered by a check below', () => {
    const files = readdirSync(otelConfigDir).filter((f) => f.endsWith('.yaml')).sort();
    // agent-collector.yaml and gateway.yaml (the gateway tier) are checked in e2e-gateway-tier.test.ts.
    assert.deepEqual(files, ['agent-collector.yaml', 'builder-config.yaml', 'collector-e2e.yaml', 'collector.yaml', 'gateway.yaml', 'jaeger.yaml']);
  });

  it('collector.yaml (the user config) is valid with its defaults', () => {
    const result = validateConfig(bins.otelcol, join(otelConfigDir, 'collector.yaml'));
    assert.ok(result.ok, result.output);
  });

  it('collector.yaml is valid with every endpoint overridden by environment', () => {
    const result = validateConfig(bins.otelcol, join(otelConfigDir, 'collector.yaml'), {
      OTELCOL_HEALTH_ENDPOINT: '127.0.0.1:23133',
      OTLP_GRPC_ENDPOINT: '127.0.0.1:24317',
      OTLP_HTTP_ENDPOINT: '127.0.0.1:24318',
      JAEGER_ENDPOINT: 'localhost:14317',
      JAEGER_INSECURE: 'false',
      TEMPO_ENDPOINT: 'tempo.example:4317',
      TEMPO_INSECURE: 'true',
      PROMETHEUS_EXPORTER_ENDPOINT: '127.0.0.1:9464',
      OTELCOL_LOG_LEVEL: 'debug',
    });
    assert.ok(result.ok, result.output);
  });

  it('collector.yaml rejects a bad override (validate really checks)', () => {
    const result = validateConfig(bins.otelcol, join(otelConfigDir, 'collector.yaml'), { JAEGER_ENDPOINT: 'jaeger:notaport' });
    assert.equal(result.ok, false);
    assert.match(result.output, /otlp_grpc\/jaeger/);
  });

  it('collector-e2e.yaml is valid with its variables set', () => {
    const result = validateConfig(bins.otelcol, join(otelConfigDir, 'collector-e2e.yaml'), e2eEnv);
    assert.ok(result.ok, result.output);
  });

  it('collector-e2e.yaml fails without its variables (no silent defaults)', () => {
    const unset = Object.fromEntries(Object.keys(e2eEnv).map((k) => [k, '']));
    const result = validateConfig(bins.otelcol, join(otelConfigDir, 'collector-e2e.yaml'), unset);
    assert.equal(result.ok, false);
    assert.match(result.output, /path must be non-empty|invalid port/);
  });

  it('jaeger.yaml is valid with its variables set', () => {
    const result = validateConfig(bins.jaeger, join(otelConfigDir, 'jaeger.yaml'), jaegerEnv);
    assert.ok(result.ok, result.output);
  });

  it('the built collector has every component builder-config.yaml lists', () => {
    // `otelcol components` of 0.148 leaves out every component that also has a deprecated alias
    // (otlp_grpc/otlp, otlp_http/otlphttp, k8s_attributes/k8sattributes), so the proof is a config
    // that uses each of them, checked by the binary itself.
    const dir = mkdtempSync(join(tmpdir(), 'ebpf-otel-components-'));
    const config = join(dir, 'all.yaml');
    writeFileSync(
      config,
      [
        'extensions:',
        '  health_check: {endpoint: "127.0.0.1:13133"}',
        '  bearertokenauth: {token: "t"}',
        'receivers:',
        '  otlp: {protocols: {grpc: {endpoint: "127.0.0.1:4317"}}}',
        'processors:',
        '  batch: {}',
        '  memory_limiter: {check_interval: 1s, limit_mib: 100}',
        '  groupbyattrs: {keys: [container.id]}',
        '  k8sattributes: {passthrough: true}',
        '  tail_sampling: {policies: [{name: all, type: always_sample}]}',
        'exporters:',
        '  otlp_grpc: {endpoint: "127.0.0.1:4317"}',
        '  otlp_http: {endpoint: "http://127.0.0.1:4318"}',
        '  debug: {}',
        `  file: {path: "${join(dir, 'out.jsonl')}"}`,
        '  prometheus: {endpoint: "127.0.0.1:8889"}',
        '  loadbalancing: {protocol: {otlp: {tls: {insecure: true}}}, resolver: {static: {hostnames: ["127.0.0.1:4317"]}}}',
        'service:',
        '  extensions: [health_check, bearertokenauth]',
        '  pipelines:',
        '    traces: {receivers: [otlp], processors: [memory_limiter, k8sattributes, groupbyattrs, tail_sampling, batch], exporters: [otlp_grpc, otlp_http, debug, file, loadbalancing]}',
        '    metrics: {receivers: [otlp], processors: [batch], exporters: [prometheus]}',
        '',
      ].join('\n'),
    );
    const result = validateConfig(bins.otelcol, config);
    assert.ok(result.ok, result.output);
  });
});

describe('smoke: SDK -> collector -> Jaeger, metrics -> file and Prometheus', () => {
  let jaeger: JaegerHandle | undefined;
  let collector: CollectorHandle | undefined;

  before(async () => {
    jaeger = await startJaeger();
    collector = await startCollector({ jaeger });
  });

  after(async () => {
    await collector?.stop();
    await jaeger?.stop();
  });

  async function sendSpan(service: string, spanName: string): Promise<void> {
    const provider = new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': service }),
      spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: collector!.endpoints.otlpGrpc }) })],
    });
    const span = provider.getTracer('otel-config.test').startSpan(spanName, {
      kind: SpanKind.CLIENT,
      attributes: { 'server.address': '127.0.0.1', 'server.port': 5432, 'ebpf_otel.test': true },
    });
    span.end();
    await provider.forceFlush();
    await provider.shutdown();
  }

  it('a span sent to the collector is stored by Jaeger and readable through API v3', async () => {
    const service = `smoke-${randomUUID().slice(0, 8)}`;
    const since = Date.now() - 1000;
    await sendSpan(service, 'tcp.connect');

    const spans = await waitFor(
      async () => flattenSpans(await jaeger!.traces(service, since)),
      (s) => s.length > 0,
      { what: `span of ${service} in Jaeger`, timeoutMs: 20_000 },
    );
    assert.equal(spans.length, 1);
    const span = spans[0]!;
    assert.equal(span.name, 'tcp.connect');
    assert.equal(span.resource['service.name'], service);
    assert.equal(span.attributes['server.port'], 5432);
    assert.equal(span.attributes['ebpf_otel.test'], true);
    assert.match(span.traceId, /^[0-9a-f]{32}$/);
    assert.ok((await jaeger!.services()).includes(service));

    // The same span also reached the file exporter.
    const fromFile = await waitFor(
      async () => flattenSpans(collector!.readTraces().flatMap((r) => r.resourceSpans ?? [])),
      (s) => s.some((x) => x.resource['service.name'] === service),
      { what: 'span in the traces file' },
    );
    assert.equal(fromFile.find((x) => x.resource['service.name'] === service)?.traceId, span.traceId);
  });

  it('metrics reach the file exporter and the Prometheus endpoint with Prometheus names', async () => {
    const service = `smoke-metrics-${randomUUID().slice(0, 8)}`;
    const reader = new PeriodicExportingMetricReader({
      exporter: new OTLPMetricExporter({ url: collector!.endpoints.otlpGrpc }),
      exportIntervalMillis: 60_000,
    });
    const provider = new MeterProvider({ resource: resourceFromAttributes({ 'service.name': service }), readers: [reader] });
    const meter = provider.getMeter('otel-config.test');
    meter.createHistogram('tcp.connect.duration', { unit: 's' }).record(0.0025, { 'tcp.connect.outcome': 'success' });
    meter.createCounter('ebpf_otel.events.received').add(3, { 'ebpf_otel.event.type': 'tcp_connect' });
    await provider.forceFlush();
    await provider.shutdown();

    const points = await waitFor(
      async () => flattenMetrics(collector!.readMetrics()).filter((p) => p.resource['service.name'] === service),
      (p) => p.length >= 2,
      { what: 'metrics in the metrics file' },
    );
    const duration = points.find((p) => p.name === 'tcp.connect.duration');
    assert.equal(duration?.kind, 'histogram');
    assert.equal(duration?.count, 1);
    assert.equal(duration?.unit, 's');
    const received = points.find((p) => p.name === 'ebpf_otel.events.received');
    assert.equal(received?.kind, 'sum');
    assert.equal(received?.value, 3);

    const samples = await waitFor(
      async () => (await collector!.scrapePrometheus()).filter((s) => s.labels['service_name'] === service),
      (s) => s.some((x) => x.name === 'ebpf_otel_events_received_total'),
      { what: 'metrics on the Prometheus endpoint' },
    );
    const names = new Set(samples.map((s) => s.name));
    for (const name of ['tcp_connect_duration_seconds_bucket', 'tcp_connect_duration_seconds_count', 'ebpf_otel_events_received_total']) {
      assert.ok(names.has(name), `${name} missing; have ${[...names].join(', ')}`);
    }
    const count = samples.find((s) => s.name === 'tcp_connect_duration_seconds_count');
    assert.equal(count?.value, 1);
    assert.equal(count?.labels['tcp_connect_outcome'], 'success');
  });

  it('after Jaeger restarts on the same ports the collector delivers again', async () => {
    await jaeger!.restart();
    const service = `smoke-restart-${randomUUID().slice(0, 8)}`;
    const since = Date.now() - 1000;
    await sendSpan(service, 'after-restart');
    const spans = await waitFor(
      async () => flattenSpans(await jaeger!.traces(service, since)),
      (s) => s.length > 0,
      { what: 'span after Jaeger restart', timeoutMs: 30_000 },
    );
    assert.equal(spans[0]?.name, 'after-restart');
  });
});

describe('parsePrometheusText', () => {
  it('reads names, escaped label values, special values and skips comments', () => {
    const samples = parsePrometheusText(
      [
        '# HELP x_total help',
        '# TYPE x_total counter',
        'x_total{a="1",b="say \\"hi\\"",c="back\\\\slash"} 3',
        'up 1 1700000000000',
        'h_bucket{le="+Inf"} +Inf',
        'empty{} 0.5',
        '',
      ].join('\n'),
    );
    assert.deepEqual(samples, [
      { name: 'x_total', labels: { a: '1', b: 'say "hi"', c: 'back\\slash' }, value: 3 },
      { name: 'up', labels: {}, value: 1 },
      { name: 'h_bucket', labels: { le: '+Inf' }, value: Infinity },
      { name: 'empty', labels: {}, value: 0.5 },
    ]);
  });
});
