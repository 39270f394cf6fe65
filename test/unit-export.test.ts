/**
 * The export pipeline in memory: the SDK's BatchSpanProcessor in front of RetryingSpanExporter
 * (buffer, backoff, export timeout, split/drop of what the receiver never accepts, bounded
 * shutdown), the error classification, delta conversion of the kernel's cumulative aggregates, and
 * the exporter settings parsed from flags and the standard variables. Tests wait for the fake
 * exporter's calls, never for time.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ValueType } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPExporterError } from '@opentelemetry/otlp-exporter-base';
import { emptyResource } from '@opentelemetry/resources';
import { AggregationTemporality, DataPointType, type CollectionResult, type Histogram, type MetricProducer, type PushMetricExporter, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { TracerProvider, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace';
import { ConfigError, parseCommandLine, type AgentConfig } from '../receiver/src/config';
import { classifyExportError } from '../receiver/src/export/errors';
import { Http2BufferCollectingExporter, Http2BufferCollector, v8FullGc } from '../receiver/src/export/http2-buffers';
import { CountingMetricExporter, DeltaMetricProducer } from '../receiver/src/export/metrics';
import { prometheusName } from '../receiver/src/export/prometheus';
import { batchProcessor, RetryingSpanExporter, type RetryingExporterOptions, type SpanDropReason } from '../receiver/src/export/span-pipeline';
import { createLogger } from '../receiver/src/log';

type Answer = (result: ExportResult) => void;

/** An exporter whose every call the test answers by hand (or never). */
class ScriptedExporter implements SpanExporter {
  readonly calls: Array<{ spans: ReadableSpan[]; answer: Answer }> = [];
  private waiters: Array<() => void> = [];
  shutdowns = 0;

  export(spans: ReadableSpan[], answer: Answer): void {
    this.calls.push({ spans, answer });
    for (const w of this.waiters.splice(0)) w();
  }

  async shutdown(): Promise<void> {
    this.shutdowns++;
  }

  /** Resolves with call number `n` (0-based) once it has been made. */
  async call(n: number): Promise<{ spans: ReadableSpan[]; answer: Answer }> {
    // The pipeline's timers are unref'd (they must not keep the agent alive): hold the loop open
    // while the test waits for the call.
    const keepAlive = setInterval(() => undefined, 60_000);
    try {
      while (this.calls.length <= n) await new Promise<void>((resolve) => this.waiters.push(resolve));
    } finally {
      clearInterval(keepAlive);
    }
    return this.calls[n] as { spans: ReadableSpan[]; answer: Answer };
  }
}

function pipeline(inner: SpanExporter, overrides: Partial<RetryingExporterOptions> = {}) {
  const logs: string[] = [];
  const dropped = new Map<SpanDropReason, number>();
  let exported = 0;
  const exporter = new RetryingSpanExporter(inner, {
    name: 'otlp',
    maxBufferedSpans: 5,
    maxBatchSize: 100,
    initialBackoffMs: 1,
    maxBackoffMs: 2,
    exportTimeoutMs: 60_000,
    shutdownTimeoutMs: 2000,
    log: createLogger('info', (l) => logs.push(l)),
    onDropped: (n, reason) => dropped.set(reason, (dropped.get(reason) ?? 0) + n),
    onExported: (n) => { exported += n; },
    ...overrides,
  });
  const provider = new TracerProvider({ spanProcessors: [batchProcessor(exporter, { maxBatchSize: 100, scheduledDelayMs: 1 })] });
  const tracer = provider.getTracer('t');
  const spans = (names: string[]): void => { for (const n of names) tracer.startSpan(n).end(); };
  return { exporter, provider, spans, logs, dropped, exported: () => exported };
}

const names = (spans: ReadableSpan[]): string[] => spans.map((s) => s.name);
const unavailable = (): Error => Object.assign(new Error('14 UNAVAILABLE: No connection established'), { code: 14, details: 'No connection established' });

describe('RetryingSpanExporter behind the SDK BatchSpanProcessor', () => {
  it('keeps spans while the exporter fails, drops the oldest beyond the buffer (counted), delivers the rest in order', async () => {
    const inner = new ScriptedExporter();
    const p = pipeline(inner);
    p.spans(['s0', 's1', 's2']);
    const first = await inner.call(0);
    assert.deepEqual(names(first.spans), ['s0', 's1', 's2']);
    // While the first attempt is out, more spans arrive; the buffer (5) counts the batch in flight.
    p.spans(['s3', 's4', 's5', 's6', 's7']);
    await p.provider.forceFlush();
    first.answer({ code: ExportResultCode.FAILED, error: unavailable() });
    const second = await inner.call(1);
    assert.deepEqual(names(second.spans), ['s3', 's4', 's5', 's6', 's7']);
    assert.equal(p.dropped.get('buffer_full'), 3, 's0..s2 went first');
    assert.ok(p.logs.some((l) => /warn: otlp: export failed \(14 UNAVAILABLE/.test(l)), p.logs.join(''));
    second.answer({ code: ExportResultCode.SUCCESS });
    await p.exporter.shutdown();
    assert.equal(p.exported(), 5);
    assert.ok(p.logs.some((l) => /otlp: export recovered after [\d.]+s; 3 spans were dropped \(buffer full\)/.test(l)), p.logs.join(''));
    assert.equal(inner.shutdowns, 1);
  });

  it('an exporter that never answers: the attempt times out and is retried; shutdown gives up in bounded time and counts the loss', async () => {
    const inner = new ScriptedExporter();
    const p = pipeline(inner, { exportTimeoutMs: 50, shutdownTimeoutMs: 300 });
    p.spans(['a', 'b']);
    await inner.call(0); // never answered
    const retry = await inner.call(1); // the timeout made it a failure, and the backoff retried
    assert.deepEqual(names(retry.spans), ['a', 'b']);
    assert.ok(p.logs.some((l) => /export failed \(otlp: the collector did not answer: no answer within 0\.1 s\)/.test(l)), p.logs.join(''));
    await p.provider.shutdown();
    await p.exporter.shutdown();
    assert.equal(p.dropped.get('shutdown'), 2);
    assert.ok(p.logs.some((l) => /2 spans could not be delivered before shutdown/.test(l)));
  });

  it('a batch the receiver finds too large is split; a single span still too large is dropped and counted', async () => {
    const inner = new ScriptedExporter();
    const p = pipeline(inner, { maxBufferedSpans: 100 });
    const tooLarge = (): ExportResult => ({ code: ExportResultCode.FAILED, error: new OTLPExporterError('Payload Too Large', 413) });
    p.spans(['big', 'ok1', 'ok2', 'ok3']);
    (await inner.call(0)).answer(tooLarge());
    const half = await inner.call(1);
    assert.deepEqual(names(half.spans), ['big', 'ok1']);
    half.answer(tooLarge());
    const one = await inner.call(2);
    assert.deepEqual(names(one.spans), ['big']);
    one.answer(tooLarge());
    const rest = await inner.call(3);
    assert.deepEqual(names(rest.spans), ['ok1']);
    rest.answer({ code: ExportResultCode.SUCCESS });
    // The smaller batch size stays: one span per attempt from now on.
    const c4 = await inner.call(4);
    assert.deepEqual(names(c4.spans), ['ok2']);
    c4.answer({ code: ExportResultCode.SUCCESS });
    const c5 = await inner.call(5);
    assert.deepEqual(names(c5.spans), ['ok3']);
    c5.answer({ code: ExportResultCode.SUCCESS });
    await p.exporter.shutdown();
    assert.equal(p.dropped.get('rejected'), 1);
    assert.equal(p.exported(), 3);
  });

  it('a batch rejected as invalid is dropped and counted, never retried', async () => {
    const inner = new ScriptedExporter();
    const p = pipeline(inner);
    p.spans(['bad']);
    (await inner.call(0)).answer({ code: ExportResultCode.FAILED, error: Object.assign(new Error('3 INVALID_ARGUMENT: bad span'), { code: 3 }) });
    p.spans(['good']);
    const next = await inner.call(1);
    assert.deepEqual(names(next.spans), ['good']);
    next.answer({ code: ExportResultCode.SUCCESS });
    await p.exporter.shutdown();
    assert.equal(p.dropped.get('rejected'), 1);
    assert.ok(p.logs.some((l) => /rejected the data as invalid.*1 spans dropped/.test(l)));
  });

  it('spans arriving back to back are delivered as they come, nothing overflows (no starved timer)', async () => {
    let delivered = 0;
    const healthy: SpanExporter = {
      export: (spans, done) => { delivered += spans.length; done({ code: ExportResultCode.SUCCESS }); },
      shutdown: async () => undefined,
    };
    const p = pipeline(healthy, { maxBufferedSpans: 5000, maxBatchSize: 512 });
    // Like a busy ring buffer: bursts of spans, the event loop turning between bursts.
    for (let burst = 0; burst < 50; burst++) {
      p.spans(Array.from({ length: 1024 }, (_, i) => `s${i}`));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await p.provider.forceFlush();
    await p.exporter.shutdown();
    assert.equal(p.dropped.get('buffer_full') ?? 0, 0);
    assert.equal(delivered, 50 * 1024);
  });

  it('one exporter serves several providers; shutting a provider down leaves it open', async () => {
    const inner = new ScriptedExporter();
    const p = pipeline(inner);
    const other = new TracerProvider({ spanProcessors: [batchProcessor(p.exporter, { maxBatchSize: 10, scheduledDelayMs: 1 })] });
    other.getTracer('o').startSpan('from-other').end();
    await other.shutdown();
    (await inner.call(0)).answer({ code: ExportResultCode.SUCCESS });
    assert.equal(inner.shutdowns, 0);
    p.spans(['from-first']);
    const c = await inner.call(1);
    assert.deepEqual(names(c.spans), ['from-first']);
    c.answer({ code: ExportResultCode.SUCCESS });
    await p.provider.shutdown();
    await p.exporter.shutdown();
    assert.equal(inner.shutdowns, 1);
    assert.equal(p.exported(), 2);
  });
});

describe('classifyExportError', () => {
  const cases: Array<[string, unknown, string, RegExp]> = [
    ['grpc unauthenticated', Object.assign(new Error('16 UNAUTHENTICATED: missing or empty authorization header'), { code: 16 }), 'auth', /OTEL_EXPORTER_OTLP_HEADERS/],
    ['http 401', new OTLPExporterError('Unauthorized', 401, '{"code":16}'), 'auth', /HTTP 401.*OTEL_EXPORTER_OTLP_HEADERS/],
    ['http unknown CA', Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }), 'tls', /OTEL_EXPORTER_OTLP_CERTIFICATE/],
    ['grpc unknown CA', Object.assign(new Error('14 UNAVAILABLE: No connection established. Last error: Error: self-signed certificate in certificate chain'), { code: 14 }), 'tls', /CA that signed/],
    ['grpc too large', Object.assign(new Error('8 RESOURCE_EXHAUSTED: grpc: received message larger than max (5000000 vs. 4194304)'), { code: 8 }), 'too_large', /larger than/],
    ['http 413', new OTLPExporterError('Payload Too Large', 413), 'too_large', /413/],
    ['http 400', new OTLPExporterError('Bad Request', 400, 'proto: cannot parse'), 'rejected', /HTTP 400.*cannot parse/],
    ['collector body too large', new OTLPExporterError('Bad Request', 400, '\b\u0003\u0012\u001chttp: request body too large'), 'too_large', /HTTP 400 http: request body too large/],
    ['grpc invalid', Object.assign(new Error('3 INVALID_ARGUMENT: x'), { code: 3 }), 'rejected', /invalid/],
    ['refused', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4318'), { code: 'ECONNREFUSED' }), 'transient', /ECONNREFUSED/],
    ['grpc down', Object.assign(new Error('14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED'), { code: 14 }), 'transient', /UNAVAILABLE/],
    ['http 503', new OTLPExporterError('Service Unavailable', 503), 'transient', /503/],
  ];
  for (const [what, error, kind, message] of cases) {
    it(what, () => {
      const f = classifyExportError(error, 'otlp');
      assert.equal(f.kind, kind);
      assert.match(f.message, message);
    });
  }
});

describe('CountingMetricExporter', () => {
  it('reports a failed export as failed, counts it by cause, logs once per outage and the recovery', async () => {
    const results: ExportResult[] = [
      { code: ExportResultCode.FAILED, error: Object.assign(new Error('16 UNAUTHENTICATED: bad token'), { code: 16 }) },
      { code: ExportResultCode.FAILED, error: Object.assign(new Error('16 UNAUTHENTICATED: bad token'), { code: 16 }) },
      { code: ExportResultCode.SUCCESS },
    ];
    const inner: PushMetricExporter = {
      export: (_m, done) => done(results.shift() as ExportResult),
      forceFlush: async () => undefined,
      shutdown: async () => undefined,
    };
    const logs: string[] = [];
    const failed: string[] = [];
    const exporter = new CountingMetricExporter(inner, 'otlp metrics', createLogger('info', (l) => logs.push(l)), (reason) => failed.push(reason));
    const once = () => new Promise<ExportResult>((resolve) => exporter.export({ resource: emptyResource(), scopeMetrics: [] } as ResourceMetrics, resolve));
    assert.equal((await once()).code, ExportResultCode.FAILED);
    assert.equal((await once()).code, ExportResultCode.FAILED);
    assert.equal((await once()).code, ExportResultCode.SUCCESS);
    assert.deepEqual(failed, ['auth', 'auth']);
    assert.equal(logs.filter((l) => /error: otlp metrics: export failed \(the collector refused the credentials/.test(l)).length, 1);
    assert.ok(logs.some((l) => /info: otlp metrics: export recovered after 2 failed attempts/.test(l)));
  });
});

describe('DeltaMetricProducer', () => {
  it('turns cumulative sums and histograms into deltas per series, and starts over when the source resets', async () => {
    let total = 5;
    let counts = [1, 2, 0];
    const source: MetricProducer = {
      collect: async (): Promise<CollectionResult> => ({
        errors: [],
        resourceMetrics: {
          resource: emptyResource(),
          scopeMetrics: [{
            scope: { name: 'k' },
            metrics: [
              {
                descriptor: { name: 'attempts', description: '', unit: '', valueType: ValueType.INT },
                aggregationTemporality: AggregationTemporality.CUMULATIVE,
                dataPointType: DataPointType.SUM,
                isMonotonic: true,
                dataPoints: [{ startTime: [1, 0], endTime: [10 + total, 0], attributes: { port: 80 }, value: total }],
              },
              {
                descriptor: { name: 'duration', description: '', unit: 's', valueType: ValueType.DOUBLE },
                aggregationTemporality: AggregationTemporality.CUMULATIVE,
                dataPointType: DataPointType.HISTOGRAM,
                dataPoints: [{
                  startTime: [1, 0], endTime: [10 + total, 0], attributes: { port: 80 },
                  value: { buckets: { boundaries: [1, 2], counts }, count: counts.reduce((a, b) => a + b, 0), sum: total, min: 0.5, max: 1.5 },
                }],
              },
            ],
          }],
        },
      }),
    };
    const delta = new DeltaMetricProducer(source);
    const read = async () => {
      const [sum, hist] = (await delta.collect()).resourceMetrics.scopeMetrics[0]?.metrics ?? [];
      return { sum, hist };
    };
    let r = await read();
    assert.equal(r.sum?.aggregationTemporality, AggregationTemporality.DELTA);
    assert.equal(r.sum?.dataPoints[0]?.value, 5);
    total = 8;
    counts = [2, 4, 1];
    r = await read();
    assert.equal(r.sum?.dataPoints[0]?.value, 3);
    assert.deepEqual(r.sum?.dataPoints[0]?.startTime, [15, 0], 'a delta starts where the last one ended');
    const h = r.hist?.dataPoints[0]?.value as Histogram;
    assert.equal(r.hist?.aggregationTemporality, AggregationTemporality.DELTA);
    assert.deepEqual(h.buckets.counts, [1, 2, 1]);
    assert.equal(h.count, 4);
    assert.equal(h.sum, 3);
    assert.equal(h.min, undefined, 'the interval extremes are unknown');
    total = 2; // the source restarted
    r = await read();
    assert.equal(r.sum?.dataPoints[0]?.value, 2);
  });
});

describe('prometheusName', () => {
  it('adds the unit suffix the Collector adds', () => {
    assert.equal(prometheusName('ebpf_otel.tcp.connect.duration', 's'), 'ebpf_otel.tcp.connect.duration.seconds');
    assert.equal(prometheusName('ebpf_otel.command.duration_seconds', 's'), 'ebpf_otel.command.duration_seconds');
    assert.equal(prometheusName('ebpf_otel.events.lost', '{event}'), 'ebpf_otel.events.lost');
  });
});

describe('exporter settings', () => {
  const run = (argv: string[], env: Record<string, string> = {}): AgentConfig => {
    const parsed = parseCommandLine(argv, env);
    assert.equal(parsed.kind, 'run');
    return (parsed as { config: AgentConfig }).config;
  };
  const fails = (argv: string[], env: Record<string, string>, message: RegExp): void => {
    assert.throws(() => parseCommandLine(argv, env), (err: unknown) => err instanceof ConfigError && message.test(err.message));
  };

  it('defaults: grpc on 4317, metrics to otlp when spans go there, prometheus on localhost:9464, cumulative', () => {
    const c = run([]);
    assert.equal(c.tracesProtocol, 'grpc');
    assert.equal(c.otlpEndpoint, 'http://localhost:4317');
    assert.deepEqual(c.metricsExporters, ['otlp']);
    assert.equal(c.prometheusHost, 'localhost');
    assert.equal(c.prometheusPort, 9464);
    assert.equal(c.metricsTemporality, 'cumulative');
    // No collector: the metrics go where the spans go, so losses are exported whatever the run.
    assert.deepEqual(run(['--exporter', 'console']).metricsExporters, ['console']);
    assert.deepEqual(run(['--exporter', 'jsonl']).metricsExporters, ['jsonl']);
    assert.deepEqual(run(['--exporter', 'otlp,jsonl']).metricsExporters, ['otlp']);
    assert.deepEqual(run(['--exporter', 'jsonl', '--metrics-exporter', 'none']).metricsExporters, []);
  });

  it('http/protobuf: spec ports and paths; a base endpoint gets the signal path, a signal endpoint is used as is', () => {
    const c = run([], { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' });
    assert.equal(c.otlpEndpoint, 'http://localhost:4318/v1/traces');
    assert.equal(c.otlpMetricsEndpoint, 'http://localhost:4318/v1/metrics');
    const d = run([], { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf', OTEL_EXPORTER_OTLP_ENDPOINT: 'https://gw:443/otlp/', OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://m:9/x' });
    assert.equal(d.otlpEndpoint, 'https://gw:443/otlp/v1/traces');
    assert.equal(d.otlpMetricsEndpoint, 'http://m:9/x');
    const e = run(['--otlp-protocol', 'grpc'], { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf', OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/protobuf' });
    assert.equal(e.metricsProtocol, 'grpc', 'the flag wins');
    const f = run([], { OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' });
    assert.deepEqual([f.tracesProtocol, f.metricsProtocol], ['http/protobuf', 'grpc']);
  });

  it('metrics exporters by OTEL_METRICS_EXPORTER or the flag, whatever the span exporters are', () => {
    assert.deepEqual(run(['--exporter', 'console'], { OTEL_METRICS_EXPORTER: 'prometheus,console' }).metricsExporters, ['prometheus', 'console']);
    assert.deepEqual(run(['--metrics-exporter', 'none']).metricsExporters, []);
    const p = run(['--metrics-exporter', 'prometheus'], { OTEL_EXPORTER_PROMETHEUS_HOST: '0.0.0.0', OTEL_EXPORTER_PROMETHEUS_PORT: '9999' });
    assert.deepEqual([p.prometheusHost, p.prometheusPort], ['0.0.0.0', 9999]);
    assert.equal(run([], { OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'Delta' }).metricsTemporality, 'delta');
    assert.equal(run([], { OTEL_EXPORTER_OTLP_TIMEOUT: '30000' }).otlpTracesTimeoutMs, 30_000);
  });

  it('bad values name the variable', () => {
    fails([], { OTEL_TRACES_EXPORTER: 'zipkin' }, /^OTEL_TRACES_EXPORTER="zipkin": unknown span exporter "zipkin"/);
    fails([], { OTEL_METRICS_EXPORTER: 'otlp,statsd' }, /^OTEL_METRICS_EXPORTER="otlp,statsd": unknown metrics exporter "statsd"/);
    fails(['--metrics-exporter', 'zipkin'], {}, /^--metrics-exporter="zipkin": unknown metrics exporter/);
    fails([], { OTEL_EXPORTER_OTLP_PROTOCOL: 'udp' }, /^OTEL_EXPORTER_OTLP_PROTOCOL="udp": unknown OTLP protocol/);
    fails([], { OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/json' }, /^OTEL_EXPORTER_OTLP_METRICS_PROTOCOL=http\/json: OTLP over http\/json is not supported/);
    fails(['--otlp-protocol', 'quic'], {}, /^--otlp-protocol="quic"/);
    fails([], { OTEL_EXPORTER_PROMETHEUS_PORT: '99999' }, /^OTEL_EXPORTER_PROMETHEUS_PORT="99999"/);
    fails([], { OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'sometimes' }, /TEMPORALITY_PREFERENCE/);
    fails([], { OTEL_EXPORTER_OTLP_CERTIFICATE: '/nonexistent/ca.pem' }, /^OTEL_EXPORTER_OTLP_CERTIFICATE=\/nonexistent\/ca.pem: cannot read the file \(ENOENT\)/);
    fails([], { OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: '/etc/hostname' }, /CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY go together/);
    fails([], { OTEL_EXPORTER_OTLP_HEADERS: 'Bearer abc' }, /^OTEL_EXPORTER_OTLP_HEADERS: expected key=value pairs/);
    fails([], { OTEL_EXPORTER_OTLP_TIMEOUT: '10s' }, /^OTEL_EXPORTER_OTLP_TIMEOUT="10s": expected milliseconds/);
  });
});

describe('Http2BufferCollector (full collections for the buffers HTTP/2 writes leave)', () => {
  /** A fake heap: array-buffer bytes set by the test, a gc() that frees down to `live` when the test says so. */
  function fakeHeap(start: number) {
    const heap = { bytes: start, live: 0, gcs: 0, finish: () => undefined as void };
    const gc = (): PromiseLike<void> => {
      heap.gcs++;
      return new Promise<void>((resolve) => { heap.finish = () => { heap.bytes = heap.live; resolve(); }; });
    };
    return { heap, gc };
  }

  it('asks for one full collection per growth step above the lowest level since the last one', async () => {
    const { heap, gc } = fakeHeap(1_000);
    const collector = new Http2BufferCollector(gc, 10_000, () => heap.bytes);
    heap.bytes = 10_999;
    collector.check();
    assert.equal(heap.gcs, 0, 'below start + growth');
    heap.bytes = 11_000;
    collector.check();
    collector.check();
    assert.equal(heap.gcs, 1, 'one at a time while it runs');
    heap.live = 11_000; // V8 counts what it freed a little later: just after the collection, nothing has gone yet
    heap.finish();
    await Promise.resolve();
    collector.check();
    assert.equal(heap.gcs, 1);
    heap.bytes = 3_000; // counted freed now; 3,000 still alive (a request in flight)
    collector.check();
    heap.bytes = 12_999;
    collector.check();
    assert.equal(heap.gcs, 1, 'the next step is counted from 3,000: live buffers do not make it collect again and again');
    heap.bytes = 13_000;
    collector.check();
    assert.equal(heap.gcs, 2);
    assert.equal(collector.requested, 2);
  });

  it('a failed collection does not stop later ones', async () => {
    let gcs = 0;
    let bytes = 0;
    const collector = new Http2BufferCollector(() => { gcs++; return Promise.reject(new Error('no')); }, 100, () => bytes);
    bytes = 100;
    collector.check();
    await new Promise((resolve) => setImmediate(resolve));
    bytes = 200;
    collector.check();
    assert.equal(gcs, 2);
  });

  it('the exporter passes every result through and checks after each export', async () => {
    const inner = new ScriptedExporter();
    let checks = 0;
    const exporter = new Http2BufferCollectingExporter(inner, { check: () => { checks++; } } as unknown as Http2BufferCollector);
    const results: ExportResult[] = [];
    exporter.export([], (r) => results.push(r));
    const call = await inner.call(0);
    assert.equal(checks, 0, 'not before the answer');
    call.answer({ code: ExportResultCode.FAILED, error: new Error('down') });
    assert.deepEqual(results.map((r) => r.code), [ExportResultCode.FAILED]);
    assert.equal(checks, 1);
    await exporter.shutdown();
    assert.equal(inner.shutdowns, 1);
  });

  it("V8's gc() is reachable at run time (setFlagsFromString('--expose-gc'), then runInNewContext('gc'))", async () => {
    const gc = v8FullGc();
    assert.ok(gc);
    await gc();
  });
});
