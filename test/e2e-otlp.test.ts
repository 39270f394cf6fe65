/**
 * OTLP from the real agent to real backends, over both transports:
 * - OTLP/HTTP (http/protobuf) straight to Jaeger (which receives it on its 4318-style port);
 * - TLS with a CA and a client certificate made here with openssl, and a bearer token, against
 *   the real Collector with bearertokenauth and mutual TLS; a wrong token and an unknown CA give a
 *   message naming the cause (not a silent retry);
 * - delta temporality through the real Collector, the kernel's histogram and counters included;
 * - OTLP/gRPC request bodies (written to an HTTP/2 stream, freed only by a full collection) do not
 *   pile up while the agent's exporter sends batch after batch to the real Collector;
 * - shutdown bounded (well under 10 s) with a black-holed collector (accepts, never answers) and
 *   a refusing one, the spans that could not be delivered counted, metric export failures counted.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { parseCommandLine, type AgentConfig } from '../receiver/src/config';
import { createSpanExporter } from '../receiver/src/export/exporters';
import { createLogger } from '../receiver/src/log';
import { attrs, startAgent, type AgentRun } from './helpers/agent';
import {
  ensureBackends,
  flattenSpans,
  readFileExporterTraces,
  repoRoot,
  startCollector,
  startJaeger,
  waitFor,
  type CollectorHandle,
  type JaegerHandle,
  type OtlpMetricsRequest,
} from './helpers/backends';
import { connect, freePort, listen, type Listener } from './helpers/net';

before(() => {
  ensureBackends();
});

let listener: Listener;
before(async () => {
  listener = await listen('127.0.0.1', await freePort());
});
after(() => listener?.stop());

/** Agent flags for a run that only sees this test's connects. */
function tcpOnly(extra: string[]): string[] {
  return ['--probes', 'tcp', '--port', String(listener.port), ...extra];
}

/** tcp connect spans of process `pid` in the collector's traces file. */
function collectorSpans(collector: CollectorHandle, pid: number) {
  return flattenSpans(readFileExporterTraces(collector.tracesFile).flatMap((r) => r.resourceSpans ?? []))
    .filter((s) => s.name === 'tcp connect' && s.attributes['process.pid'] === pid);
}

describe('e2e: OTLP/HTTP to Jaeger', { timeout: 120_000 }, () => {
  let jaeger: JaegerHandle;
  let agent: AgentRun;
  before(async () => { jaeger = await startJaeger(); });
  after(async () => { await agent?.stop(); await jaeger?.stop(); });

  it('spans arrive over http/protobuf (spec path /v1/traces appended to the base endpoint)', async () => {
    const service = `e2e-otlp-http-jaeger-${process.pid}`;
    const since = Date.now() - 1000;
    agent = startAgent(tcpOnly(['--exporter', 'otlp', '--metrics-exporter', 'none']), {
      OTEL_SERVICE_NAME: service,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.endpoints.otlpHttp,
    });
    await agent.waitForStderr(/running/);
    assert.match(agent.stderr(), new RegExp(`exporting spans to otlp \\(http/protobuf ${jaeger.endpoints.otlpHttp}/v1/traces\\)`));
    const run = await connect('127.0.0.1', listener.port, { count: 2 });
    const spans = await waitFor(async () => flattenSpans(await jaeger.traces(service, since)).filter((s) => s.attributes['process.pid'] === run.pid),
      (s) => s.length === 2, { what: 'two spans in Jaeger', timeoutMs: 30_000 });
    assert.deepEqual(spans.map((s) => s.attributes['network.local.port']).sort(), run.results.map((r) => r.sport).sort());
    assert.equal(await agent.stop(), 0);
    assert.match(agent.stderr(), /spans exported: otlp=2/);
  });
});

// --- TLS and bearer token --------------------------------------------------------------------------

interface Pki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  otherCa: string;
}

/** A CA, a server certificate for 127.0.0.1/localhost and a client certificate, made with openssl. */
function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-otel-pki-'));
  const f = (name: string): string => join(dir, name);
  const ssl = (...args: string[]): void => { execFileSync('openssl', args, { stdio: 'pipe' }); };
  for (const ca of ['ca', 'other-ca']) {
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=ebpf-otel test ${ca}`, '-keyout', f(`${ca}.key`), '-out', f(`${ca}.pem`));
  }
  const leaf = (name: string, cn: string, ext: string): void => {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`));
    writeFileSync(f(`${name}.ext`), ext);
    ssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', f(`${name}.ext`), '-out', f(`${name}.pem`));
  };
  leaf('server', 'localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  leaf('client', 'ebpf-otel agent', 'extendedKeyUsage=clientAuth\n');
  return { dir, ca: f('ca.pem'), serverCert: f('server.pem'), serverKey: f('server.key'), clientCert: f('client.pem'), clientKey: f('client.key'), otherCa: f('other-ca.pem') };
}

/** A collector that requires TLS with a client certificate and a bearer token on both OTLP receivers. */
function authCollectorConfig(dir: string): string {
  const tls = `
        tls:
          cert_file: \${env:OTELCOL_TLS_CERT}
          key_file: \${env:OTELCOL_TLS_KEY}
          client_ca_file: \${env:OTELCOL_TLS_CLIENT_CA}
        auth:
          authenticator: bearertokenauth`;
  const file = join(dir, 'collector-auth.yaml');
  writeFileSync(file, `
extensions:
  health_check:
    endpoint: 127.0.0.1:\${env:OTELCOL_HEALTH_PORT}
  bearertokenauth:
    token: \${env:OTELCOL_BEARER_TOKEN}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:\${env:OTELCOL_OTLP_GRPC_PORT}${tls}
      http:
        endpoint: 127.0.0.1:\${env:OTELCOL_OTLP_HTTP_PORT}${tls}
exporters:
  file/metrics:
    path: \${env:OTELCOL_METRICS_FILE}
    format: json
    flush_interval: 100ms
  file/traces:
    path: \${env:OTELCOL_TRACES_FILE}
    format: json
    flush_interval: 100ms
service:
  extensions: [health_check, bearertokenauth]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file/traces]
    metrics:
      receivers: [otlp]
      exporters: [file/metrics]
  telemetry:
    metrics:
      level: none
`);
  return file;
}

describe('e2e: TLS, client certificates and a bearer token against the real Collector', { timeout: 240_000 }, () => {
  const token = `test-token-${process.pid}-${Date.now()}`;
  let pki: Pki;
  let collector: CollectorHandle;
  const agents: AgentRun[] = [];
  const https = (url: string): string => url.replace('http://', 'https://');

  before(async () => {
    pki = makePki();
    collector = await startCollector({
      config: authCollectorConfig(pki.dir),
      env: { OTELCOL_TLS_CERT: pki.serverCert, OTELCOL_TLS_KEY: pki.serverKey, OTELCOL_TLS_CLIENT_CA: pki.ca, OTELCOL_BEARER_TOKEN: token },
    });
  });
  after(async () => {
    for (const a of agents) await a.stop();
    await collector?.stop();
  });

  const tlsEnv = (protocol: string): NodeJS.ProcessEnv => ({
    OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
    OTEL_EXPORTER_OTLP_ENDPOINT: https(protocol === 'grpc' ? collector.endpoints.otlpGrpc : collector.endpoints.otlpHttp),
    OTEL_EXPORTER_OTLP_CERTIFICATE: pki.ca,
    OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: pki.clientCert,
    OTEL_EXPORTER_OTLP_CLIENT_KEY: pki.clientKey,
    OTEL_EXPORTER_OTLP_HEADERS: `Authorization=Bearer ${token}`,
  });

  for (const protocol of ['grpc', 'http/protobuf']) {
    it(`${protocol}: spans and metrics arrive with the CA, the client certificate and the token`, async () => {
      const service = `e2e-tls-${protocol.replace('/', '-')}-${process.pid}`;
      const agent = startAgent(tcpOnly(['--exporter', 'otlp', '--metric-interval-ms', '500']), { OTEL_SERVICE_NAME: service, ...tlsEnv(protocol) });
      agents.push(agent);
      await agent.waitForStderr(/running/);
      const run = await connect('127.0.0.1', listener.port, { count: 2 });
      await waitFor(() => Promise.resolve(collectorSpans(collector, run.pid).length), (n) => n === 2, { what: `2 spans over ${protocol} with TLS`, timeoutMs: 30_000 });
      await waitFor(() => Promise.resolve(JSON.stringify(collector.readMetrics())), (text) => text.includes(service) && text.includes('ebpf_otel.tcp.connect.attempts'),
        { what: `metrics over ${protocol} with TLS`, timeoutMs: 30_000 });
      assert.equal(await agent.stop(), 0);
      assert.doesNotMatch(agent.stderr(), /export failed/);
    });

    it(`${protocol}: a wrong token is reported as such, not retried silently`, async () => {
      const agent = startAgent(tcpOnly(['--exporter', 'otlp', '--metric-interval-ms', '500']), {
        ...tlsEnv(protocol), OTEL_EXPORTER_OTLP_HEADERS: 'Authorization=Bearer wrong-token',
      });
      agents.push(agent);
      await agent.waitForStderr(/running/);
      await connect('127.0.0.1', listener.port);
      await agent.waitForStderr(/error: otlp: export failed \(the collector refused the credentials .*check the token in OTEL_EXPORTER_OTLP_HEADERS/, 30_000);
      await agent.waitForStderr(/error: otlp metrics: export failed \(the collector refused the credentials/, 30_000);
      assert.equal(await agent.stop(), 0);
      assert.match(agent.stderr(), /metric exports failed: otlp\/auth=\d+/);
    });

    it(`${protocol}: no client certificate where the collector requires one is reported as a TLS problem`, async () => {
      const env = tlsEnv(protocol);
      delete env['OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE'];
      delete env['OTEL_EXPORTER_OTLP_CLIENT_KEY'];
      const agent = startAgent(tcpOnly(['--exporter', 'otlp', '--metrics-exporter', 'none']), env);
      agents.push(agent);
      await agent.waitForStderr(/running/);
      await connect('127.0.0.1', listener.port);
      await agent.waitForStderr(/error: otlp: export failed \(TLS handshake with the collector failed: .*OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE/, 30_000);
      assert.equal(await agent.stop(), 0);
    });

    it(`${protocol}: a collector certificate from an unknown CA is reported as a TLS problem`, async () => {
      const agent = startAgent(tcpOnly(['--exporter', 'otlp', '--metrics-exporter', 'none']), { ...tlsEnv(protocol), OTEL_EXPORTER_OTLP_CERTIFICATE: pki.otherCa });
      agents.push(agent);
      await agent.waitForStderr(/running/);
      await connect('127.0.0.1', listener.port);
      await agent.waitForStderr(/error: otlp: export failed \(TLS handshake with the collector failed: .*set OTEL_EXPORTER_OTLP_CERTIFICATE to the CA/, 30_000);
      assert.equal(await agent.stop(), 0);
    });
  }
});

// --- delta temporality -----------------------------------------------------------------------------

describe('e2e: delta temporality through the real Collector', { timeout: 120_000 }, () => {
  let collector: CollectorHandle;
  let agent: AgentRun;
  before(async () => { collector = await startCollector(); });
  after(async () => { await agent?.stop(); await collector?.stop(); });

  it('every metric is delta, the kernel histogram and counters included, and the deltas add up to the workload', async () => {
    const service = `e2e-delta-${process.pid}`;
    agent = startAgent(tcpOnly(['--exporter', 'jsonl', '--metrics-exporter', 'otlp', '--otlp-endpoint', collector.endpoints.otlpGrpc, '--metric-interval-ms', '500']), {
      OTEL_SERVICE_NAME: service,
      OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'delta',
    });
    await agent.waitForStderr(/running/);
    const first = await connect('127.0.0.1', listener.port, { count: 3 });
    await agent.waitForJson((s) => attrs(s)['process.pid'] === first.pid);
    // A second batch in a later interval: the deltas must not count the first one twice.
    const metricsOf = (): Array<{ name: string; temporality: number | undefined; port: unknown; value: number }> => {
      const out: Array<{ name: string; temporality: number | undefined; port: unknown; value: number }> = [];
      for (const req of collector.readMetrics() as OtlpMetricsRequest[]) {
        for (const rm of req.resourceMetrics ?? []) {
          if (!JSON.stringify(rm.resource?.attributes ?? []).includes(service)) continue;
          for (const sm of rm.scopeMetrics ?? []) {
            for (const m of sm.metrics ?? []) {
              const temporality = m.sum?.aggregationTemporality ?? m.histogram?.aggregationTemporality;
              for (const p of m.sum?.dataPoints ?? []) {
                const port = p.attributes?.find((a) => a.key === 'server.port')?.value?.intValue;
                out.push({ name: m.name, temporality, port: port === undefined ? undefined : Number(port), value: Number(p.asInt ?? p.asDouble ?? 0) });
              }
              for (const p of m.histogram?.dataPoints ?? []) {
                const port = p.attributes?.find((a) => a.key === 'server.port')?.value?.intValue;
                out.push({ name: m.name, temporality, port: port === undefined ? undefined : Number(port), value: Number(p.count ?? 0) });
              }
            }
          }
        }
      }
      return out;
    };
    const total = (name: string): number => metricsOf().filter((m) => m.name === name && m.port === listener.port).reduce((a, m) => a + m.value, 0);
    await waitFor(() => Promise.resolve(total('ebpf_otel.tcp.connect.attempts')), (v) => v === 3, { what: 'deltas of the first batch = 3', timeoutMs: 30_000 });
    const second = await connect('127.0.0.1', listener.port, { count: 2 });
    await agent.waitForJson((s) => attrs(s)['process.pid'] === second.pid);
    await waitFor(() => Promise.resolve(total('ebpf_otel.tcp.connect.attempts')), (v) => v === 5, { what: 'deltas add up to 5', timeoutMs: 30_000 });
    await waitFor(() => Promise.resolve(total('ebpf_otel.tcp.connect.duration')), (v) => v === 5, { what: 'histogram deltas add up to 5', timeoutMs: 30_000 });
    const all = metricsOf();
    const names = new Set(all.map((m) => m.name));
    for (const name of ['ebpf_otel.tcp.connect.attempts', 'ebpf_otel.tcp.connect.duration', 'ebpf_otel.events.received', 'ebpf_otel.spans.exported']) {
      assert.ok(names.has(name), `${name} missing`);
    }
    const notDelta = all.filter((m) => m.temporality !== 1);
    assert.deepEqual([...new Set(notDelta.map((m) => `${m.name}:${m.temporality}`))], [], 'every sum and histogram is DELTA (1)');
    assert.equal(await agent.stop(), 0);
  });
});

// --- batches the collector can never accept -------------------------------------------------------

describe('e2e: batches larger than the collector accepts (OTLP/HTTP)', { timeout: 120_000 }, () => {
  const collectors: CollectorHandle[] = [];
  const agents: AgentRun[] = [];
  after(async () => {
    for (const a of agents) await a.stop();
    for (const c of collectors) await c.stop();
  });

  /** A collector whose OTLP/HTTP receiver refuses bodies over `maxBytes` (it answers 400 "request body too large"). */
  async function smallCollector(maxBytes: number): Promise<CollectorHandle> {
    const dir = mkdtempSync(join(tmpdir(), 'ebpf-otel-small-'));
    const file = join(dir, 'collector-small.yaml');
    writeFileSync(file, `
extensions:
  health_check:
    endpoint: 127.0.0.1:\${env:OTELCOL_HEALTH_PORT}
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:\${env:OTELCOL_OTLP_HTTP_PORT}
        max_request_body_size: ${maxBytes}
exporters:
  file/traces:
    path: \${env:OTELCOL_TRACES_FILE}
    format: json
    flush_interval: 100ms
service:
  extensions: [health_check]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file/traces]
  telemetry:
    metrics:
      level: none
`);
    const c = await startCollector({ config: file });
    collectors.push(c);
    return c;
  }

  it('a batch too large is split until it fits: every span arrives', async () => {
    const collector = await smallCollector(16_384);
    const agent = startAgent(tcpOnly(['--exporter', 'otlp', '--metrics-exporter', 'none', '--otlp-protocol', 'http/protobuf', '--otlp-endpoint', collector.endpoints.otlpHttp]));
    agents.push(agent);
    await agent.waitForStderr(/running/);
    const run = await connect('127.0.0.1', listener.port, { count: 80 });
    await waitFor(() => Promise.resolve(collectorSpans(collector, run.pid).length), (n) => n === 80, { what: '80 spans at the collector', timeoutMs: 60_000 });
    assert.equal(await agent.stop(), 0);
    assert.match(agent.stderr(), /otlp: the collector refused a request as too large \(HTTP 400 .*request body too large\); splitting a batch of \d+ spans/);
    assert.match(agent.stderr(), /spans dropped: 0/);
    assert.match(agent.stderr(), /spans exported: otlp=80\b/);
  });

  it('a single span larger than the limit is dropped and counted, not retried forever', async () => {
    const collector = await smallCollector(64);
    const agent = startAgent(tcpOnly(['--exporter', 'otlp', '--metrics-exporter', 'none', '--otlp-protocol', 'http/protobuf', '--otlp-endpoint', collector.endpoints.otlpHttp, '--stats-interval', '1']));
    agents.push(agent);
    await agent.waitForStderr(/running/);
    await connect('127.0.0.1', listener.port, { count: 4 });
    await agent.waitForStderr(/spans dropped: otlp\/rejected=4\b/, 60_000);
    assert.match(agent.stderr(), /1 spans dropped \(the receiver would never accept them; later drops are counted/);
    assert.equal(agent.stderr().match(/would never accept them/g)?.length, 1, 'logged once, counted every time');
    assert.equal(await agent.stop(), 0);
    assert.doesNotMatch(agent.stderr(), /could not be delivered before shutdown/, 'nothing left to retry at shutdown');
  });
});

// --- bounded shutdown ------------------------------------------------------------------------------

describe('e2e: shutdown is bounded whatever the collector does', { timeout: 120_000 }, () => {
  let hole: Server;
  let holePort: number;
  const held: Socket[] = [];
  let received = 0;

  before(async () => {
    // Accepts and never answers: reads everything, writes nothing.
    hole = createServer((socket) => {
      held.push(socket);
      socket.on('data', (d) => { received += d.length; });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => hole.listen(0, '127.0.0.1', resolve));
    holePort = (hole.address() as { port: number }).port;
  });
  after(() => {
    for (const s of held) s.destroy();
    hole?.close();
  });

  for (const protocol of ['grpc', 'http/protobuf']) {
    it(`${protocol}: a black-holed collector: the agent stops in well under 10 s and counts what it could not deliver`, async (t) => {
      const before = received;
      const agent = startAgent(tcpOnly(['--exporter', 'otlp', '--otlp-protocol', protocol, '--otlp-endpoint', `http://127.0.0.1:${holePort}`, '--metric-interval-ms', '1000']));
      await agent.waitForStderr(/running/);
      await connect('127.0.0.1', listener.port, { count: 3 });
      // The export is out (bytes reached the hole) and will never be answered.
      await waitFor(() => Promise.resolve(received), (n) => n > before, { what: 'the agent writing to the black hole' });
      const t0 = Date.now();
      const code = await agent.stop();
      const seconds = (Date.now() - t0) / 1000;
      t.diagnostic(`stopped in ${seconds.toFixed(1)} s`);
      assert.equal(code, 0);
      assert.ok(seconds < 8, `shutdown took ${seconds} s`);
      assert.match(agent.stderr(), /otlp: 3 spans could not be delivered before shutdown/);
      assert.match(agent.stderr(), /spans dropped: otlp\/shutdown=3/);
    });
  }

  it('a refusing collector: bounded too; failed metric exports are counted', async (t) => {
    const closed = await freePort();
    const agent = startAgent(tcpOnly(['--exporter', 'otlp', '--otlp-endpoint', `http://127.0.0.1:${closed}`, '--otlp-protocol', 'http/protobuf', '--metric-interval-ms', '200']));
    await agent.waitForStderr(/running/);
    await connect('127.0.0.1', listener.port, { count: 2 });
    await agent.waitForStderr(/warn: otlp: export failed \(ECONNREFUSED/, 30_000);
    await agent.waitForStderr(/warn: otlp metrics: export failed \(ECONNREFUSED.*the next export carries the cumulative counts/, 30_000);
    const t0 = Date.now();
    assert.equal(await agent.stop(), 0);
    const seconds = (Date.now() - t0) / 1000;
    t.diagnostic(`stopped in ${seconds.toFixed(1)} s`);
    assert.ok(seconds < 8, `shutdown took ${seconds} s`);
    assert.match(agent.stderr(), /spans dropped: otlp\/shutdown=2/);
    assert.match(agent.stderr(), /metric exports failed: otlp\/transient=\d+/);
  });
});

describe('e2e: OTLP/gRPC request bodies do not pile up (real Collector)', { timeout: 120_000 }, () => {
  let collector: CollectorHandle;
  before(async () => { collector = await startCollector({ config: join(repoRoot, 'bench/collector-bench.yaml') }); });
  after(async () => { await collector?.stop(); });

  it("400 batches of 512 spans through the agent's gRPC exporter: array buffers stay within one growth step of where they began", async (t) => {
    const parsed = parseCommandLine(['--exporter', 'otlp', '--otlp-endpoint', collector.endpoints.otlpGrpc], {});
    assert.equal(parsed.kind, 'run');
    const config = (parsed as { config: AgentConfig }).config;
    let exported = 0;
    let dropped = 0;
    let onExported = (): void => undefined;
    const exporter = createSpanExporter('otlp', config, createLogger('warn'), {
      onDropped: (_name, n) => { dropped += n; },
      onExported: (_name, n) => { exported += n; onExported(); },
    });
    // One batch of connect-shaped spans, sent again and again: each export serializes it anew.
    const batch: ReadableSpan[] = [];
    const provider = new TracerProvider({ spanProcessors: [{ onStart: () => undefined, onEnd: (s) => { batch.push(s); }, forceFlush: async () => undefined, shutdown: async () => undefined }] });
    const tracer = provider.getTracer('e2e-http2-buffers');
    for (let i = 0; i < 512; i++) {
      tracer.startSpan('tcp connect', { attributes: { 'server.address': '127.0.0.1', 'server.port': 1024 + i, 'network.peer.address': '127.0.0.1', 'process.pid': 4242, 'process.executable.name': 'connect_storm' } }).end();
    }
    const base = process.memoryUsage().arrayBuffers;
    let peak = base;
    const batches = 400;
    for (let i = 1; i <= batches; i++) {
      const delivered = new Promise<void>((resolve) => { onExported = resolve; });
      exporter.export(batch, () => undefined);
      await delivered;
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    }
    await exporter.shutdown();
    const grownMb = (peak - base) / 1048576;
    t.diagnostic(`array buffers grew by at most ${grownMb.toFixed(1)} MB over ${batches} exports (${(batches * 512).toLocaleString('en-US')} spans)`);
    assert.equal(exported, batches * 512);
    assert.equal(dropped, 0);
    // Measured: 8.6 MB with the full collections of http2-buffers.ts, 34.1 MB without them (the
    // ~110 MB of request bodies then wait for V8's own full collections).
    assert.ok(grownMb < 24, `array buffers grew by ${grownMb.toFixed(1)} MB`);
  });
});
