/**
 * End to end: the real agent -> the real OpenTelemetry Collector (built from source, the shipped
 * otel-config/collector-e2e.yaml) -> Jaeger v2, read back through Jaeger's API v3 and the collector's
 * file exporter and Prometheus endpoint.
 *
 * Real connects from a process whose pid we know (tcpctl.py): IPv4 and IPv6 successes, a refusal,
 * and one whose first SYN is dropped by nftables in a network namespace (completes at the ~1 s
 * retransmit). Each span must carry the right attributes and a duration that matches what the
 * connecting process measured; the metrics must count exactly the connects the test made.
 *
 * Every connect goes to one server port P (listeners on 127.0.0.1:P and [::1]:P, a refusal from
 * 127.0.0.2:P, the slow one to P in the namespace), and the agent runs with `--port P`: other
 * activity on the machine (another test, a benchmark's connect storm) cannot crowd out our spans
 * or touch our metric series.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startAgent, type AgentRun } from './helpers/agent';
import {
  ensureBackends,
  flattenMetrics,
  flattenSpans,
  startCollector,
  startJaeger,
  waitFor,
  type CollectorHandle,
  type FlatMetricPoint,
  type FlatSpan,
  type JaegerHandle,
  type PrometheusSample,
} from './helpers/backends';
import { connect, freePort, listen, NetNs, type ConnectRun, type Listener } from './helpers/net';

const SPAN_KIND_CLIENT = 3;
const STATUS_ERROR = 2;

/** One connect the test made, as the connecting process saw it. */
interface Made {
  label: string;
  run: ConnectRun;
  index: number;
  port: number;
  outcome: 'established' | 'refused';
  networkType: 'ipv4' | 'ipv6';
  peer: string;
  local: string;
}

function spanKindNumber(kind: number | string | undefined): number | undefined {
  if (typeof kind === 'number') return kind;
  if (kind === 'SPAN_KIND_CLIENT') return SPAN_KIND_CLIENT;
  return kind === undefined ? undefined : Number.NaN;
}

function statusCodeNumber(code: number | string | undefined): number {
  if (code === undefined) return 0;
  if (typeof code === 'number') return code;
  return code === 'STATUS_CODE_ERROR' ? STATUS_ERROR : code === 'STATUS_CODE_OK' ? 1 : 0;
}

/** Sockets in SYN_SENT towards `port` inside the namespace (from its /proc/net/tcp). */
function synSentTo(ns: NetNs, port: number): number {
  const hexPort = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return ns
    .exec('cat', ['/proc/net/tcp'])
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f[2]?.endsWith(hexPort) === true && f[3] === '02').length;
}

function durationSeconds(span: FlatSpan): number {
  return Number(span.endTimeUnixNano - span.startTimeUnixNano) / 1e9;
}

/** The newest point of each (metric, attributes) series for `service`, file order being time order. */
function latestPoints(points: FlatMetricPoint[], service: string): FlatMetricPoint[] {
  const latest = new Map<string, FlatMetricPoint>();
  for (const p of points) {
    if (p.resource['service.name'] !== service) continue;
    const key = `${p.name} ${JSON.stringify(Object.entries(p.attributes).sort(([a], [b]) => a.localeCompare(b)))}`;
    latest.set(key, p);
  }
  return [...latest.values()];
}

// A machine without the backends builds them from source first (minutes; cached afterwards),
// before the suite's own timeout starts.
before(() => {
  ensureBackends();
});

describe('e2e: agent -> collector -> Jaeger, TCP connects', { timeout: 180_000 }, () => {
  const service = `e2e-tcp-${process.pid}-${Date.now()}`;
  let jaeger: JaegerHandle;
  let collector: CollectorHandle;
  let agent: AgentRun;
  let v4: Listener;
  let v6: Listener;
  let netns: NetNs;
  let nsListener: Listener;
  let port: number;
  const made: Made[] = [];
  let since = 0;
  let spans: FlatSpan[] = [];

  before(async () => {
    jaeger = await startJaeger();
    collector = await startCollector({ jaeger });
    port = await freePort();
    v4 = await listen('127.0.0.1', port);
    v6 = await listen('::1', port);
    netns = NetNs.create('e2etcp');
    nsListener = await listen('127.0.0.1', port, netns.name);

    since = Date.now() - 1000;
    agent = startAgent(
      ['--exporter', 'otlp,jsonl', '--otlp-endpoint', collector.endpoints.otlpGrpc, '--probes', 'tcp', '--port', String(port), '--metric-interval-ms', '1000'],
      { OTEL_SERVICE_NAME: service },
    );
    await agent.waitForStderr(/running/);

    const record = (label: string, run: ConnectRun, rest: Omit<Made, 'label' | 'run' | 'index'>): void => {
      run.results.forEach((_, index) => made.push({ label, run, index, ...rest }));
    };
    const v4Made = { port, outcome: 'established', networkType: 'ipv4', peer: '127.0.0.1', local: '127.0.0.1' } as const;
    record('ipv4', await connect('127.0.0.1', port, { count: 3 }), v4Made);
    record('ipv6', await connect('::1', port, { count: 2 }), { ...v4Made, networkType: 'ipv6', peer: '::1', local: '::1' });
    // The listener is bound to 127.0.0.1 only: 127.0.0.2 answers with a reset.
    record('refused', await connect('127.0.0.2', port), { ...v4Made, outcome: 'refused', peer: '127.0.0.2' });

    // First SYN dropped: the rule goes once the socket sits in SYN_SENT (python can take a while to
    // start on a busy machine), and the retransmit at ~1 s gets through.
    const removeRule = netns.dropSyns(port);
    const slow = connect('127.0.0.1', port, { netns: netns.name });
    try {
      await waitFor(() => Promise.resolve(synSentTo(netns, port)), (n) => n > 0, { timeoutMs: 20_000, intervalMs: 20, what: 'a connect in SYN_SENT' });
    } finally {
      removeRule();
    }
    record('syn-retransmit', await slow, v4Made);

    for (const m of made) {
      const r = m.run.results[m.index];
      assert.ok(r !== undefined);
      assert.equal(r.ok, m.outcome === 'established', `${m.label}: connect result ${JSON.stringify(r)}`);
      assert.ok(r.sport > 0, `${m.label}: the connecting process knows its local port`);
    }
    const slowResult = made.find((m) => m.label === 'syn-retransmit')?.run.results[0];
    assert.ok(slowResult !== undefined && slowResult.seconds > 0.8 && slowResult.seconds < 2.5, `dropped first SYN took ${slowResult?.seconds} s`);
  });

  after(async () => {
    await agent?.stop();
    v4?.stop();
    v6?.stop();
    nsListener?.stop();
    netns?.dispose();
    await collector?.stop();
    await jaeger?.stop();
  });

  function spanFor(m: Made): FlatSpan | undefined {
    const r = m.run.results[m.index];
    return spans.find(
      (s) => s.attributes['process.pid'] === m.run.pid && s.attributes['network.local.port'] === r?.sport && s.attributes['server.port'] === m.port,
    );
  }

  it('every connect arrives in Jaeger as one span', async () => {
    spans = await waitFor(
      async () => flattenSpans(await jaeger.traces(service, since)).filter((s) => s.name === 'tcp connect'),
      (found) => made.every((m) => found.some((s) => s.attributes['process.pid'] === m.run.pid && s.attributes['network.local.port'] === m.run.results[m.index]?.sport)),
      { timeoutMs: 30_000, what: `spans of ${made.length} connects in Jaeger` },
    );
    const ours = spans.filter((s) => made.some((m) => m.run.pid === s.attributes['process.pid']));
    assert.equal(ours.length, made.length, 'one span per connect, no duplicates');
    assert.equal(new Set(ours.map((s) => s.spanId)).size, ours.length);
  });

  it('spans carry kind, status, attributes and resource', () => {
    const uid = process.getuid?.();
    for (const m of made) {
      const span = spanFor(m);
      assert.ok(span, `${m.label}: span found`);
      const r = m.run.results[m.index];
      const a = span.attributes;
      assert.equal(span.name, 'tcp connect');
      assert.equal(spanKindNumber(span.kind), SPAN_KIND_CLIENT, `${m.label}: kind CLIENT`);
      assert.equal(span.parentSpanId, '', `${m.label}: a root span (no command tracing here)`);
      assert.equal(a['network.transport'], 'tcp');
      assert.equal(a['network.type'], m.networkType, m.label);
      assert.equal(a['network.peer.address'], m.peer);
      assert.equal(a['network.peer.port'], m.port);
      assert.equal(a['server.address'], m.peer);
      assert.equal(a['server.port'], m.port);
      assert.equal(a['network.local.address'], m.local, m.label);
      assert.equal(a['network.local.port'], r?.sport);
      assert.equal(a['process.pid'], m.run.pid);
      assert.equal(a['thread.id'], m.run.pid, 'single-threaded python: the main thread');
      assert.equal(a['process.executable.name'], 'python3');
      assert.equal(a['process.user.id'], uid);
      assert.equal(a['process.owner'], 'root');
      assert.equal(a['ebpf_otel.tcp.outcome'], m.outcome, m.label);
      if (m.outcome === 'refused') {
        assert.equal(statusCodeNumber(span.status.code), STATUS_ERROR, `${m.label}: status ERROR`);
        assert.match(span.status.message ?? '', /refused/);
        assert.equal(a['error.type'], 'connection_refused');
        assert.equal(a['ebpf_otel.tcp.socket_error'], 'ECONNREFUSED');
      } else {
        assert.equal(statusCodeNumber(span.status.code), 0, `${m.label}: status UNSET`);
        assert.equal(a['error.type'], undefined);
        assert.equal(a['ebpf_otel.tcp.socket_error'], undefined);
      }
      assert.equal(span.resource['service.name'], service);
      assert.equal(typeof span.resource['host.name'], 'string');
      assert.notEqual(span.resource['host.name'], '');
      assert.equal(typeof span.resource['host.id'], 'string');
      assert.equal(span.resource['os.type'], 'linux');
      // Wall-clock placement: inside the test's window (kernel clock converted).
      const startMs = Number(span.startTimeUnixNano / 1_000_000n);
      assert.ok(startMs >= since && startMs <= Date.now(), `${m.label}: start ${new Date(startMs).toISOString()} in the test window`);
    }
  });

  it('span durations match the latency the connecting process measured', (t) => {
    for (const m of made) {
      const span = spanFor(m);
      assert.ok(span);
      const measured = m.run.results[m.index]?.seconds ?? NaN;
      const seen = durationSeconds(span);
      t.diagnostic(`${m.label}: span ${(seen * 1000).toFixed(3)} ms, connect() ${(measured * 1000).toFixed(3)} ms`);
      // The kernel sees SYN-sent -> established inside the connect() call the process timed: never
      // longer than the call (plus clock granularity), shorter by the syscall and python overhead.
      assert.ok(seen > 0, `${m.label}: positive duration`);
      assert.ok(seen <= measured + 0.002, `${m.label}: span ${seen} s longer than the connect() call ${measured} s`);
      assert.ok(measured - seen < 0.05, `${m.label}: span ${seen} s vs connect() ${measured} s`);
    }
    const slow = made.find((m) => m.label === 'syn-retransmit');
    assert.ok(slow);
    const slowSpan = spanFor(slow);
    assert.ok(slowSpan);
    const d = durationSeconds(slowSpan);
    assert.ok(d > 0.9 && d < 2.5, `dropped first SYN: span of ${d} s (first retransmit at ~1 s)`);
  });

  /** "established/ipv4" etc.: the key of one metric series (all connects share the server port). */
  const seriesKey = (outcome: unknown, networkType: unknown): string => `${String(outcome)}/${String(networkType)}`;

  it('collector metrics count exactly the test connects; sums and buckets match the spans', async (t) => {
    const expected = new Map<string, { count: number; durations: number[] }>();
    for (const m of made) {
      const key = seriesKey(m.outcome, m.networkType);
      const e = expected.get(key) ?? { count: 0, durations: [] };
      const span = spanFor(m);
      assert.ok(span);
      e.count++;
      e.durations.push(durationSeconds(span));
      expected.set(key, e);
    }
    const ofOurs = (points: FlatMetricPoint[], name: string): FlatMetricPoint[] =>
      points.filter((p) => p.name === name && p.attributes['server.port'] === port);
    const countsMatch = (points: FlatMetricPoint[]): boolean => {
      const hist = ofOurs(points, 'ebpf_otel.tcp.connect.duration');
      return [...expected].every(([key, e]) =>
        hist.some((p) => seriesKey(p.attributes['ebpf_otel.tcp.outcome'], p.attributes['network.type']) === key && p.count === e.count),
      );
    };
    const t0 = Date.now();
    const latest = await waitFor(
      async () => latestPoints(flattenMetrics(collector.readMetrics()), service),
      countsMatch,
      { timeoutMs: 20_000, what: 'connect histograms with the test counts in the file exporter output' },
    );
    t.diagnostic(`metrics complete in the file exporter ${Date.now() - t0} ms after the spans were in Jaeger`);

    const hist = ofOurs(latest, 'ebpf_otel.tcp.connect.duration');
    const attempts = ofOurs(latest, 'ebpf_otel.tcp.connect.attempts');
    assert.equal(hist.length, expected.size, `one histogram series per outcome and family: ${JSON.stringify(hist.map((p) => p.attributes))}`);
    assert.equal(attempts.length, expected.size, 'one attempts series per outcome and family');
    for (const p of hist) {
      const key = seriesKey(p.attributes['ebpf_otel.tcp.outcome'], p.attributes['network.type']);
      const e = expected.get(key);
      assert.ok(e, `unexpected series ${key}`);
      assert.equal(p.kind, 'histogram');
      assert.equal(p.unit, 's');
      assert.equal(p.count, e.count, key);
      assert.equal(p.attributes['network.transport'], 'tcp');
      if (key.startsWith('refused/')) assert.equal(p.attributes['error.type'], 'connection_refused');
      else assert.equal(p.attributes['error.type'], undefined);
      // The same kernel timestamps are behind spans and histogram: the sums agree to the nanosecond.
      const spanSum = e.durations.reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(p.value - spanSum) < 1e-8, `${key}: histogram sum ${p.value} s vs spans ${spanSum} s`);
      // And every span lands in the bucket the histogram counted it in. Kernel slots include their
      // lower bound (receiver/src/tcp/metrics.ts): bucket i holds [bounds[i-1], bounds[i]).
      const bounds = p.explicitBounds ?? [];
      const fromSpans = new Array<number>(bounds.length + 1).fill(0);
      for (const d of e.durations) {
        const i = bounds.filter((b) => b <= d).length;
        fromSpans[i] = (fromSpans[i] ?? 0) + 1;
      }
      assert.deepEqual(p.bucketCounts, fromSpans, `${key}: bucket counts vs span durations ${JSON.stringify(e.durations)}`);
      const match = attempts.find((a) => seriesKey(a.attributes['ebpf_otel.tcp.outcome'], a.attributes['network.type']) === key);
      assert.equal(match?.value, e.count, `${key}: attempts`);
      assert.equal(match?.kind, 'sum');
    }

    // Health: every kernel event decoded, nothing lost or dropped.
    const health = (name: string): FlatMetricPoint[] => latest.filter((p) => p.name === name);
    const received = health('ebpf_otel.events.received').find((p) => p.attributes['ebpf_otel.probe'] === 'tcp');
    assert.equal(received?.value, made.length, 'events received: --port keeps only ours');
    assert.equal(health('ebpf_otel.events.lost').reduce((sum, p) => sum + p.value, 0), 0);
    assert.equal(health('ebpf_otel.decode.errors').reduce((sum, p) => sum + p.value, 0), 0);
    assert.equal(health('ebpf_otel.spans.dropped').reduce((sum, p) => sum + p.value, 0), 0);
    assert.equal(health('ebpf_otel.spans.sampled_out').reduce((sum, p) => sum + p.value, 0), 0);
  });

  it('the Prometheus endpoint shows the same counts', async () => {
    const byKey = new Map<string, number>();
    for (const m of made) byKey.set(seriesKey(m.outcome, m.networkType), (byKey.get(seriesKey(m.outcome, m.networkType)) ?? 0) + 1);
    const samples = await waitFor(
      () => collector.scrapePrometheus(),
      (all) => all.some((s) => s.name.startsWith('ebpf_otel_tcp_connect_duration') && s.labels['service_name'] === service),
      { timeoutMs: 10_000, what: 'connect duration series on the Prometheus endpoint' },
    );
    const ours = samples.filter((s) => s.labels['service_name'] === service && s.labels['server_port'] === String(port));
    const names = [...new Set(ours.map((s) => s.name))].join(', ');
    for (const [key, count] of byKey) {
      const [outcome, networkType] = key.split('/');
      const inSeries = (s: PrometheusSample): boolean => s.labels['ebpf_otel_tcp_outcome'] === outcome && s.labels['network_type'] === networkType;
      const histCount = ours.find((s) => s.name === 'ebpf_otel_tcp_connect_duration_seconds_count' && inSeries(s));
      assert.equal(histCount?.value, count, `${key}: _count (names seen: ${names})`);
      const infBucket = ours.find((s) => s.name === 'ebpf_otel_tcp_connect_duration_seconds_bucket' && s.labels['le'] === '+Inf' && inSeries(s));
      assert.equal(infBucket?.value, count, `${key}: le="+Inf" bucket`);
      const attemptsSample = ours.find((s) => /^ebpf_otel_tcp_connect_attempts.*_total$/.test(s.name) && inSeries(s));
      assert.equal(attemptsSample?.value, count, `${key}: attempts (names seen: ${names})`);
    }
  });

  it('the agent reports no loss at exit', async () => {
    assert.equal(await agent.stop(), 0);
    assert.match(agent.stderr(), /spans dropped: 0/);
    assert.match(agent.stderr(), /decode errors: 0/);
    assert.doesNotMatch(agent.stderr(), /export failed/);
  });
});
