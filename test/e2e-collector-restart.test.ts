/**
 * End to end with a collector that is not always there: the real agent -> the real OpenTelemetry
 * Collector (OTLP/gRPC, and OTLP/HTTP for the restart case) -> Jaeger v2, where the collector is down when the agent starts, goes away while the
 * agent runs, or stays down long enough for the agent's export buffer to overflow.
 *
 * The agent keeps spans in a bounded buffer per exporter (RetryingSpanExporter behind the SDK's
 * BatchSpanProcessor, receiver/src/export/span-pipeline.ts) and retries with backoff; metrics are cumulative, so the first export after recovery carries every
 * count. Recovery waits for two backoffs (ours, up to 30 s, and grpc-js's reconnect), so the waits
 * here are generous; the outages are kept short so the backoff stays small and the test fast.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { attrs, startAgent, type AgentRun } from './helpers/agent';
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
} from './helpers/backends';
import { connect, freePort, listen, type ConnectRun, type Listener } from './helpers/net';

const RECOVERY_TIMEOUT_MS = 60_000;

/**
 * `--port` keeps other activity on this machine (another test's or a benchmark's connect storm) out
 * of the agent, so buffers and counts hold only what the test made.
 */
function agentArgs(collector: CollectorHandle, port: number, extra: string[] = [], protocol: 'grpc' | 'http/protobuf' = 'grpc'): string[] {
  const endpoint = protocol === 'grpc' ? collector.endpoints.otlpGrpc : collector.endpoints.otlpHttp;
  return ['--otlp-endpoint', endpoint, '--otlp-protocol', protocol, '--probes', 'tcp', '--port', String(port), '--metric-interval-ms', '1000', ...extra];
}

/** tcp connect spans in Jaeger made by the process `run` (one tcpctl invocation). */
async function spansOf(jaeger: JaegerHandle, service: string, since: number, run: ConnectRun): Promise<FlatSpan[]> {
  return flattenSpans(await jaeger.traces(service, since)).filter((s) => s.name === 'tcp connect' && s.attributes['process.pid'] === run.pid);
}

async function waitForSpans(
  jaeger: JaegerHandle,
  service: string,
  since: number,
  run: ConnectRun,
  what: string,
  agent: AgentRun,
  collector: CollectorHandle,
): Promise<FlatSpan[]> {
  try {
    return await waitFor(() => spansOf(jaeger, service, since, run), (s) => s.length >= run.results.length, {
      timeoutMs: RECOVERY_TIMEOUT_MS,
      intervalMs: 500,
      what,
    });
  } catch (err) {
    // Say what the agent and the collector were doing meanwhile.
    const lines = (text: string): string => text.trimEnd().split('\n').filter((l) => !/ events received: /.test(l)).slice(-20).join('\n');
    let collectorLog = '';
    try {
      collectorLog = readFileSync(collector.logFile, 'utf8');
    } catch {
      collectorLog = '(no log)';
    }
    throw new Error(`${(err as Error).message}\nagent stderr:\n${lines(agent.stderr())}\ncollector log:\n${lines(collectorLog)}`);
  }
}

function sameSourcePorts(spans: FlatSpan[], run: ConnectRun): void {
  assert.deepEqual(
    spans.map((s) => s.attributes['network.local.port']).sort(),
    run.results.map((r) => r.sport).sort(),
    'one span per connect, matched by source port',
  );
}

/** The newest value of a cumulative series in the collector's file exporter output. */
function latestValue(points: FlatMetricPoint[], service: string, name: string, match: (a: FlatMetricPoint['attributes']) => boolean): number | undefined {
  let value: number | undefined;
  for (const p of points) {
    if (p.name === name && p.resource['service.name'] === service && match(p.attributes)) value = p.kind === 'histogram' ? p.count : p.value;
  }
  return value;
}

function elapsed(t0: number): string {
  return `${((Date.now() - t0) / 1000).toFixed(1)} s`;
}

// A machine without the backends builds them from source first (minutes; cached afterwards),
// before the suite's own timeout starts.
before(() => {
  ensureBackends();
});

describe('e2e: the collector goes away and comes back', { timeout: 300_000 }, () => {
  let jaeger: JaegerHandle;
  let listener: Listener;
  const agents: AgentRun[] = [];
  const collectors: CollectorHandle[] = [];

  before(async () => {
    jaeger = await startJaeger();
    listener = await listen('127.0.0.1', await freePort());
  });

  after(async () => {
    for (const a of agents) await a.stop();
    for (const c of collectors) await c.stop();
    listener?.stop();
    await jaeger?.stop();
  });

  it('collector down when the agent starts: spans made meanwhile arrive once it is up', async (t) => {
    const service = `e2e-late-collector-${process.pid}-${Date.now()}`;
    const since = Date.now() - 1000;
    // Started and stopped at once: its ports are known, and nothing listens on them.
    const collector = await startCollector({ jaeger });
    collectors.push(collector);
    await collector.stop();

    const agent = startAgent(['--exporter', 'otlp,jsonl', ...agentArgs(collector, listener.port)], { OTEL_SERVICE_NAME: service });
    agents.push(agent);
    await agent.waitForStderr(/running/);
    const ok = await connect('127.0.0.1', listener.port, { count: 3 });
    await agent.waitForJson((s) => attrs(s)['process.pid'] === ok.pid);

    const t0 = Date.now();
    await agent.waitForStderr(/otlp: export failed/, RECOVERY_TIMEOUT_MS);
    t.diagnostic(`export failure reported ${elapsed(t0)} after the connects`);
    assert.equal(agent.child.exitCode, null, 'the agent keeps running without a collector');

    const t1 = Date.now();
    await collector.restart();
    const okSpans = await waitForSpans(jaeger, service, since, ok, 'spans made while the collector was down', agent, collector);
    t.diagnostic(`spans in Jaeger ${elapsed(t1)} after the collector started`);
    sameSourcePorts(okSpans, ok);
    await agent.waitForStderr(/otlp: export recovered after [\d.]+s/, RECOVERY_TIMEOUT_MS);

    // Cumulative metrics: the counts from the outage arrive with the first export that succeeds.
    const attempts = (port: number, outcome: string) => () =>
      Promise.resolve(latestValue(flattenMetrics(collector.readMetrics()), service, 'ebpf_otel.tcp.connect.attempts',
        (a) => a['server.port'] === port && a['ebpf_otel.tcp.outcome'] === outcome));
    await waitFor(attempts(listener.port, 'established'), (v) => v === 3, { timeoutMs: RECOVERY_TIMEOUT_MS, what: 'established attempts = 3' });

    // And what happens after recovery goes straight through.
    const later = await connect('127.0.0.1', listener.port);
    const t2 = Date.now();
    sameSourcePorts(await waitForSpans(jaeger, service, since, later, 'a span made after recovery', agent, collector), later);
    t.diagnostic(`a span made after recovery reached Jaeger in ${elapsed(t2)}`);

    assert.equal(await agent.stop(), 0);
    assert.match(agent.stderr(), /spans dropped: 0/);
  });

  for (const protocol of ['grpc', 'http/protobuf'] as const) {
  it(`${protocol}: collector restarted while the agent runs: spans made during the outage arrive`, async (t) => {
    const service = `e2e-restarted-collector-${protocol.replace('/', '-')}-${process.pid}-${Date.now()}`;
    const since = Date.now() - 1000;
    const collector = await startCollector({ jaeger });
    collectors.push(collector);
    const agent = startAgent(['--exporter', 'otlp,jsonl', ...agentArgs(collector, listener.port, [], protocol)], { OTEL_SERVICE_NAME: service });
    agents.push(agent);
    await agent.waitForStderr(/running/);

    const before = await connect('127.0.0.1', listener.port, { count: 2 });
    sameSourcePorts(await waitForSpans(jaeger, service, since, before, 'spans before the outage', agent, collector), before);

    await collector.stop();
    const during = await connect('127.0.0.1', listener.port, { count: 4 });
    await agent.waitForJson((s) => attrs(s)['process.pid'] === during.pid);
    const t0 = Date.now();
    await agent.waitForStderr(/otlp: export failed/, RECOVERY_TIMEOUT_MS);
    t.diagnostic(`export failure reported ${elapsed(t0)} after the connects`);
    assert.equal(agent.child.exitCode, null, 'the agent keeps running');
    // Jaeger must not have them yet: they are still in the agent's buffer.
    assert.equal((await spansOf(jaeger, service, since, during)).length, 0);

    const t1 = Date.now();
    await collector.restart();
    sameSourcePorts(await waitForSpans(jaeger, service, since, during, 'spans made during the outage', agent, collector), during);
    t.diagnostic(`outage spans in Jaeger ${elapsed(t1)} after the collector restarted`);
    await agent.waitForStderr(/otlp: export recovered after [\d.]+s\n/, RECOVERY_TIMEOUT_MS);
    await waitFor(
      () => Promise.resolve(latestValue(flattenMetrics(collector.readMetrics()), service, 'ebpf_otel.tcp.connect.attempts',
        (a) => a['server.port'] === listener.port && a['ebpf_otel.tcp.outcome'] === 'established')),
      (v) => v === 6,
      { timeoutMs: RECOVERY_TIMEOUT_MS, what: 'established attempts = 6 after the restart' },
    );

    // Exactly once: nothing from before the outage was sent twice.
    assert.equal((await spansOf(jaeger, service, since, before)).length, before.results.length);
    assert.equal(await agent.stop(), 0);
    assert.match(agent.stderr(), /spans dropped: 0/);
  });
  }

  for (const protocol of ['grpc', 'http/protobuf'] as const) {
  it(`${protocol}: buffer overflow while the collector is down: at most the buffer arrives, the drops are counted`, async (t) => {
    const service = `e2e-overflow-${protocol.replace('/', '-')}-${process.pid}-${Date.now()}`;
    const since = Date.now() - 1000;
    const collector = await startCollector({ jaeger });
    collectors.push(collector);
    await collector.stop();

    // Only otlp: a jsonl exporter would have a 5-span buffer too.
    const agent = startAgent(
      ['--exporter', 'otlp', ...agentArgs(collector, listener.port, ['--export-buffer-spans', '5', '--stats-interval', '1'], protocol)],
      { OTEL_SERVICE_NAME: service },
    );
    agents.push(agent);
    await agent.waitForStderr(/running/);
    const burst = await connect('127.0.0.1', listener.port, { count: 20 });
    assert.ok(burst.results.every((r) => r.ok));
    // The agent's periodic summary shows the drops before anything can be delivered.
    await agent.waitForStderr(/spans dropped: otlp\/buffer_full=15\b/, 20_000);
    await agent.waitForStderr(/otlp: export failed/, RECOVERY_TIMEOUT_MS);

    const t1 = Date.now();
    await collector.restart();
    await agent.waitForStderr(/otlp: export recovered after [\d.]+s; 15 spans were dropped \(buffer full\)/, RECOVERY_TIMEOUT_MS);
    const arrived = await waitForSpans(jaeger, service, since, { pid: burst.pid, results: burst.results.slice(-5) }, 'the 5 buffered spans', agent, collector);
    t.diagnostic(`buffered spans in Jaeger ${elapsed(t1)} after the collector started`);
    // A sentinel connect after recovery (the agent only watches this port): once its span is in Jaeger,
    // any span beyond the buffer would be there too.
    const sentinel = await connect('127.0.0.1', listener.port);
    await waitForSpans(jaeger, service, since, sentinel, 'the sentinel span', agent, collector);
    const all = await spansOf(jaeger, service, since, burst);
    assert.equal(all.length, 5, `the buffer holds 5 spans; ${all.length} arrived`);
    // The oldest go first: what is left are the last five connects.
    assert.deepEqual(
      all.map((s) => s.attributes['network.local.port']).sort(),
      burst.results.slice(-5).map((r) => r.sport).sort(),
    );
    assert.ok(arrived.length >= 5);

    const dropped = await waitFor(
      () => Promise.resolve(latestValue(flattenMetrics(collector.readMetrics()), service, 'ebpf_otel.spans.dropped',
        (a) => a['ebpf_otel.exporter'] === 'otlp' && a['ebpf_otel.reason'] === 'buffer_full')),
      (v) => v !== undefined && v >= 15,
      { timeoutMs: RECOVERY_TIMEOUT_MS, what: 'ebpf_otel.spans.dropped{otlp, buffer_full} >= 15 at the collector' },
    );
    assert.equal(dropped, 15, 'exactly the 15 spans beyond the buffer');
    // The kernel counted all 20 (and the sentinel) in the histogram regardless of what happened to the spans.
    await waitFor(
      () => Promise.resolve(latestValue(flattenMetrics(collector.readMetrics()), service, 'ebpf_otel.tcp.connect.duration',
        (a) => a['server.port'] === listener.port && a['ebpf_otel.tcp.outcome'] === 'established')),
      (v) => v === 21,
      { timeoutMs: 10_000, what: 'connect histogram count = 20 + 1 sentinel' },
    );
    const exported = latestValue(flattenMetrics(collector.readMetrics()), service, 'ebpf_otel.spans.exported', (a) => a['ebpf_otel.exporter'] === 'otlp');
    assert.ok(exported === undefined || exported <= 6, `spans exported ${exported} (5 buffered, 1 sentinel)`);

    assert.equal(await agent.stop(), 0);
  });
  }
});
