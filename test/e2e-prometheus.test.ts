/**
 * Metrics on a real Prometheus (built from its Go module by scripts/build-backends.sh): one agent
 * serves /metrics itself (--metrics-exporter prometheus) and sends the same metrics over OTLP/HTTP to
 * the real Collector, whose prometheus exporter Prometheus scrapes too, with the shipped
 * deploy/prometheus.yml (targets pointed at this test's ports). After a known workload (established
 * and refused connects to ports of this test), the kernel's connect histogram and counters are
 * checked in Prometheus for both paths, and every PromQL expression of the shipped Grafana
 * dashboard (template variables substituted) must parse and return series with the labels its
 * panel shows. Also: the endpoint binds to localhost by default, and a port in use is exit 1.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { execFileSync } from 'node:child_process';
import { startAgent, type AgentRun } from './helpers/agent';
import {
  ensureBackends,
  freePorts,
  repoRoot,
  scrapePrometheus,
  startCollector,
  startPrometheusServer,
  waitFor,
  type CollectorHandle,
  type PrometheusServerHandle,
} from './helpers/backends';
import { connect, freePort, listen, type Listener } from './helpers/net';

const ESTABLISHED = 7;
const REFUSED = 3;

interface ScrapeJob {
  job_name: string;
  static_configs: Array<{ targets: string[] }>;
  [key: string]: unknown;
}

/** The shipped config with the compose host names replaced by this test's loopback ports. */
function shippedConfig(collectorPromPort: number, agentPort: number): string {
  const config = parse(readFileSync(join(repoRoot, 'deploy/prometheus.yml'), 'utf8')) as { global: Record<string, unknown>; scrape_configs: ScrapeJob[] };
  const jobs = config.scrape_configs;
  const collectorJob = jobs.find((j) => j.static_configs.some((s) => s.targets.some((t) => t.startsWith('otel-collector:'))));
  const agentJob = jobs.find((j) => j.static_configs.some((s) => s.targets.some((t) => t.startsWith('agent:'))));
  assert.ok(collectorJob, 'deploy/prometheus.yml scrapes otel-collector');
  assert.ok(agentJob, 'deploy/prometheus.yml scrapes the agent');
  assert.deepEqual(collectorJob.static_configs.flatMap((s) => s.targets), ['otel-collector:8889']);
  assert.deepEqual(agentJob.static_configs.flatMap((s) => s.targets), ['agent:9464']);
  collectorJob.static_configs = [{ targets: [`127.0.0.1:${collectorPromPort}`] }];
  agentJob.static_configs = [{ targets: [`127.0.0.1:${agentPort}`] }];
  // The other jobs (the gateway tier's node-local collectors) have no target in this test.
  config.scrape_configs = [collectorJob, agentJob];
  // The shipped intervals (15 s) made short: the test waits for scrapes, not for minutes.
  config.global = { ...config.global, scrape_interval: '1s', evaluation_interval: '1s' };
  return stringify(config);
}

interface DashboardTarget {
  panel: string;
  expr: string;
  legend: string;
}

function dashboardTargets(): { targets: DashboardTarget[]; variableQueries: string[] } {
  const dashboard = JSON.parse(readFileSync(join(repoRoot, 'deploy/grafana/dashboards/ebpf-otel.json'), 'utf8')) as {
    panels: Array<{ title: string; targets?: Array<{ expr?: string; legendFormat?: string; datasource?: { type?: string } }> }>;
    templating: { list: Array<{ query: { query: string } | string }> };
  };
  const targets: DashboardTarget[] = [];
  for (const panel of dashboard.panels) {
    for (const t of panel.targets ?? []) {
      if (t.expr === undefined) continue;
      targets.push({ panel: panel.title, expr: t.expr, legend: t.legendFormat ?? '' });
    }
  }
  const variableQueries = dashboard.templating.list.map((v) => (typeof v.query === 'string' ? v.query : v.query.query));
  return { targets, variableQueries };
}

/** Grafana's variables as Grafana would send them: $host = All (.*), the rate interval and range. */
function substitute(expr: string): string {
  return expr.replace(/\$__rate_interval/g, '1m').replace(/\$__range/g, '5m').replace(/\$host/g, '.*');
}

before(() => {
  ensureBackends();
});

describe('e2e: a real Prometheus scrapes the agent and the collector', { timeout: 300_000 }, () => {
  let collector: CollectorHandle;
  let prometheus: PrometheusServerHandle;
  let agent: AgentRun;
  let listener: Listener;
  let closedPort: number;
  let agentPort: number;
  const service = `e2e-prometheus-${process.pid}`;

  before(async () => {
    collector = await startCollector();
    [agentPort] = await freePorts(1) as [number];
    listener = await listen('127.0.0.1', await freePort());
    closedPort = await freePort();
    prometheus = await startPrometheusServer(shippedConfig(collector.ports.prometheus, agentPort));
    agent = startAgent([
      // The libc source: the lookup below is answered from /etc/hosts, which sends no DNS query (the socket source sees none).
      '--exporter', 'jsonl', '--probes', 'tcp,dns', '--dns-source', 'libc', '--per-peer-metrics',
      '--metrics-exporter', 'prometheus,otlp', '--prometheus-port', String(agentPort),
      '--otlp-protocol', 'http/protobuf', '--otlp-endpoint', collector.endpoints.otlpHttp,
      '--metric-interval-ms', '1000',
    ], { OTEL_SERVICE_NAME: service });
    await agent.waitForStderr(/running/);
    // Only this test's ports: other tests on the machine make connects too.
    await connect('127.0.0.1', listener.port, { count: ESTABLISHED });
    const refused = await connect('127.0.0.1', closedPort, { count: REFUSED });
    assert.ok(refused.results.every((r) => !r.ok));
    // A name lookup through the C library, for the dashboard's DNS panels.
    execFileSync('python3', ['-c', 'import socket; socket.getaddrinfo("localhost", 80)']);
  });

  after(async () => {
    await agent?.stop();
    listener?.stop();
    await prometheus?.stop();
    await collector?.stop();
  });

  it('the agent serves every metric on localhost, host.name and service.name as labels', async () => {
    assert.match(agent.stderr(), new RegExp(`prometheus: metrics at http://localhost:${agentPort}/metrics`));
    const samples = await waitFor(() => scrapePrometheus(agentPort), (s) => s.some((x) => x.name === 'ebpf_otel_tcp_connect_attempts_total' && x.labels['server_port'] === String(closedPort)), { what: 'refused connects on the agent endpoint' });
    const names = new Set(samples.map((s) => s.name));
    for (const name of ['ebpf_otel_tcp_connect_duration_seconds_bucket', 'ebpf_otel_tcp_connect_duration_seconds_count', 'ebpf_otel_tcp_connect_attempts_total',
      'ebpf_otel_events_received_total', 'ebpf_otel_events_lost_total', 'ebpf_otel_spans_exported_total', 'ebpf_otel_spans_dropped_total']) {
      assert.ok(names.has(name), `${name} missing from the agent endpoint (has ${[...names].join(', ')})`);
    }
    const attempt = samples.find((s) => s.name === 'ebpf_otel_tcp_connect_attempts_total');
    assert.equal(attempt?.labels['service_name'], service);
    assert.ok(attempt?.labels['host_name']);
    // Bound to loopback only: not reachable on the machine's other addresses.
    const external = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal);
    if (external) {
      await assert.rejects(fetch(`http://${external.address}:${agentPort}/metrics`, { signal: AbortSignal.timeout(2000) }));
    }
  });

  it('Prometheus has the connect histogram and counters of the workload, from the agent and from the collector', async () => {
    await waitFor(() => prometheus.targets(), (ts) => ts.length === 2 && ts.every((t) => t.health === 'up'), { what: 'both targets up', timeoutMs: 30_000 });
    const jobs = { agent: 'job="ebpf-otel-agent"', collector: `job="${service}"` };
    for (const [path, job] of Object.entries(jobs)) {
      const value = async (expr: string): Promise<number> => Number((await prometheus.query(expr))[0]?.value[1] ?? NaN);
      const sel = (port: number, outcome: string) => `{${job}, server_port="${port}", ebpf_otel_tcp_outcome="${outcome}"}`;
      await waitFor(() => value(`sum(ebpf_otel_tcp_connect_attempts_total${sel(listener.port, 'established')})`), (v) => v === ESTABLISHED,
        { what: `${path}: established attempts = ${ESTABLISHED}`, timeoutMs: 30_000 });
      assert.equal(await value(`sum(ebpf_otel_tcp_connect_attempts_total${sel(closedPort, 'refused')})`), REFUSED, `${path}: refused attempts`);
      assert.equal(await value(`sum(ebpf_otel_tcp_connect_duration_seconds_count${sel(listener.port, 'established')})`), ESTABLISHED, `${path}: histogram count`);
      assert.equal(await value(`sum(ebpf_otel_tcp_connect_duration_seconds_bucket{${job}, server_port="${listener.port}", le="+Inf"})`), ESTABLISHED, `${path}: +Inf bucket`);
      // A loopback connect takes microseconds to a few ms: all of them below 1 s, none below 1 µs.
      const below = (le: string) => value(`sum(ebpf_otel_tcp_connect_duration_seconds_bucket{${job}, server_port="${listener.port}", le="${le}"})`);
      assert.equal(await below('1.073741824'), ESTABLISHED, `${path}: all under ~1 s`);
      assert.equal(await below('1.024e-06'), 0, `${path}: none under ~1 µs`);
      const sum = await value(`sum(ebpf_otel_tcp_connect_duration_seconds_sum${sel(listener.port, 'established')})`);
      assert.ok(sum > 0 && sum < ESTABLISHED, `${path}: duration sum ${sum} s`);
      assert.equal(await value(`sum(ebpf_otel_tcp_connect_attempts_total{${job}, server_port="${closedPort}", error_type="connection_refused"})`), REFUSED);
    }
  });

  it('every PromQL expression of the shipped dashboard parses and returns series with the labels its panel shows', async () => {
    const { targets, variableQueries } = dashboardTargets();
    assert.ok(targets.length >= 10, `only ${targets.length} queries found`);
    // The $host variable: label_values(<metric>, <label>) must find values.
    for (const q of variableQueries) {
      const m = /^label_values\((\w+),\s*(\w+)\)$/.exec(q);
      assert.ok(m, `template query ${q} is not label_values(metric, label)`);
      const series = await prometheus.query(`count by (${m[2]}) (${m[1]})`);
      assert.ok(series.length > 0 && series.every((s) => s.metric[m[2] as string]), `${q}: no values`);
    }
    // Rates need two scrapes after the workload; wait for the first rate query to see data.
    await waitFor(() => prometheus.query(substitute(targets[0]?.expr ?? '')), (r) => r.length > 0, { what: `data for ${targets[0]?.expr}`, timeoutMs: 30_000 });
    const problems: string[] = [];
    for (const t of targets) {
      const expr = substitute(t.expr);
      try {
        const result = await prometheus.query(expr);
        if (result.length === 0) {
          problems.push(`${t.panel}: ${expr} returned no series`);
          continue;
        }
        const labels = [...t.legend.matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1] as string);
        for (const label of labels) {
          if (!result.some((r) => r.metric[label] !== undefined && r.metric[label] !== '')) {
            problems.push(`${t.panel}: ${expr} has no series with label ${label} (legend ${t.legend}); got ${JSON.stringify(result.map((r) => r.metric)).slice(0, 300)}`);
          }
        }
      } catch (err) {
        problems.push(`${t.panel}: ${expr}: ${(err as Error).message}`);
      }
    }
    assert.deepEqual(problems, []);
  });
});

describe('metrics without a collector, and bad input', { timeout: 60_000 }, () => {
  let server: Server | undefined;
  after(() => { server?.close(); });

  it('console metrics with jsonl spans: the kernel histogram and the health counters on stdout', async () => {
    const listener = await listen('127.0.0.1', await freePort());
    const agent = startAgent(['--exporter', 'jsonl', '--probes', 'tcp', '--port', String(listener.port), '--metrics-exporter', 'console', '--metric-interval-ms', '300']);
    try {
      await agent.waitForStderr(/exporting metrics to console/);
      await connect('127.0.0.1', listener.port);
      // The SDK's ConsoleMetricExporter prints each metric as a JS object.
      await waitFor(() => Promise.resolve(agent.stdout()), (out) => new RegExp(`'server\\.port': ${listener.port}`).test(out), { what: 'the connect in the console metrics' });
      for (const name of ['ebpf_otel.tcp.connect.duration', 'ebpf_otel.tcp.connect.attempts', 'ebpf_otel.events.lost', 'ebpf_otel.spans.dropped']) {
        assert.ok(agent.stdout().includes(`name: '${name}'`), `${name} missing from the console metrics`);
      }
      assert.equal(await agent.stop(), 0);
    } finally {
      listener.stop();
      await agent.stop();
    }
  });

  it('jsonl alone, no metrics flag: metric lines (the kernel histogram, the loss counters) next to the spans', async () => {
    const listener = await listen('127.0.0.1', await freePort());
    const agent = startAgent(['--exporter', 'jsonl', '--probes', 'tcp', '--port', String(listener.port), '--metric-interval-ms', '300']);
    try {
      await agent.waitForStderr(/exporting metrics to jsonl/);
      await connect('127.0.0.1', listener.port);
      const attempts = await waitFor(
        () => Promise.resolve(agent.metricLines()),
        (lines) => lines.some((l) => l.metric === 'ebpf_otel.tcp.connect.attempts' && (l.attributes as Record<string, unknown>)['server.port'] === listener.port),
        { what: 'the connect in the jsonl metrics' },
      );
      const names = new Set(attempts.map((l) => l.metric));
      for (const name of ['ebpf_otel.tcp.connect.duration', 'ebpf_otel.events.lost', 'ebpf_otel.spans.dropped']) {
        assert.ok(names.has(name), `${name} missing from the jsonl metrics`);
      }
      const duration = attempts.find((l) => l.metric === 'ebpf_otel.tcp.connect.duration' && (l.attributes as Record<string, unknown>)['server.port'] === listener.port);
      assert.equal(duration?.type, 'histogram');
      assert.ok(Array.isArray(duration?.counts) && Array.isArray(duration?.bounds), 'a histogram line has its buckets');
      // The span line is still there, and told apart.
      await agent.waitForJson((span) => span.name === 'tcp connect');
      assert.equal(await agent.stop(), 0);
    } finally {
      listener.stop();
      await agent.stop();
    }
  });

  it('console alone, no metrics flag: the metrics on the console too', async () => {
    const agent = startAgent(['--exporter', 'console', '--probes', 'tcp', '--metric-interval-ms', '300']);
    try {
      await agent.waitForStderr(/exporting metrics to console/);
      await waitFor(() => Promise.resolve(agent.stdout()), (out) => out.includes("name: 'ebpf_otel.events.lost'"), { what: 'the loss counters on the console' });
      assert.equal(await agent.stop(), 0);
    } finally {
      await agent.stop();
    }
  });

  it('a port already in use: a message naming it and the fix, exit 1', async () => {
    const port = await freePort();
    server = createServer();
    await new Promise<void>((resolve) => server?.listen(port, 'localhost', resolve));
    const agent = startAgent(['--exporter', 'jsonl', '--probes', 'tcp', '--metrics-exporter', 'prometheus'], { OTEL_EXPORTER_PROMETHEUS_PORT: String(port) });
    assert.equal(await agent.exited, 1);
    assert.match(agent.stderr(), new RegExp(`prometheus exporter: cannot listen on localhost:${port}: port ${port} is already in use; choose another with --prometheus-port/OTEL_EXPORTER_PROMETHEUS_PORT`));
  });

  it('an unknown metrics exporter or protocol: exit 2 naming the variable', async () => {
    const a = startAgent([], { OTEL_METRICS_EXPORTER: 'prometheus,graphite' });
    assert.equal(await a.exited, 2);
    assert.match(a.stderr(), /OTEL_METRICS_EXPORTER="prometheus,graphite": unknown metrics exporter "graphite"/);
    const b = startAgent([], { OTEL_EXPORTER_OTLP_PROTOCOL: 'http' });
    assert.equal(await b.exited, 2);
    assert.match(b.stderr(), /OTEL_EXPORTER_OTLP_PROTOCOL="http": unknown OTLP protocol; expected one of grpc, http\/protobuf/);
  });
});
