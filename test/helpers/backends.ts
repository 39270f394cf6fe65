// Real trace backends for tests: the OpenTelemetry Collector and Jaeger v2 that
// scripts/build-backends.sh builds from source, started on free loopback ports with the configs in
// otel-config/, plus helpers that read back what arrived (Jaeger HTTP API v3, the collector's file
// exporter output, its Prometheus endpoint).
//
//   const bins = ensureBackends();                       // builds once (minutes), then instant
//   const jaeger = await startJaeger();
//   const collector = await startCollector({ jaeger });   // traces -> jaeger, metrics -> file + Prometheus
//   ...point an OTLP exporter at collector.endpoints.otlpGrpc...
//   const spans = await waitFor(async () => flattenSpans(await jaeger.traces('my-service', since)), s => s.length > 0);
//   await collector.stop(); await jaeger.stop();

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, writeFileSync, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const repoRoot = resolve(__dirname, '..', '..', '..');
export const otelConfigDir = join(repoRoot, 'otel-config');
const buildScript = join(repoRoot, 'scripts', 'build-backends.sh');

export interface BackendBinaries {
  otelcol: string;
  jaeger: string;
  /** Prometheus server (scripts/build-backends.sh builds it with the others). */
  prometheus: string;
}

function parsePaths(stdout: string): BackendBinaries {
  const found = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) found.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  const otelcol = found.get('otelcol');
  const jaeger = found.get('jaeger');
  const prometheus = found.get('prometheus');
  if (otelcol === undefined || jaeger === undefined || prometheus === undefined) {
    throw new Error(`scripts/build-backends.sh printed no otelcol=/jaeger=/prometheus= paths; it printed:\n${stdout}`);
  }
  return { otelcol, jaeger, prometheus };
}

let cachedBinaries: BackendBinaries | undefined;

/**
 * Paths of the collector and Jaeger binaries, building them first when the cache lacks them
 * (a cold build takes several minutes on 2 cores; give the calling test a long timeout).
 */
export function ensureBackends(): BackendBinaries {
  if (cachedBinaries !== undefined) return cachedBinaries;
  const quick = spawnSync('bash', [buildScript, '--print-paths'], { encoding: 'utf8' });
  if (quick.status === 0) {
    cachedBinaries = parsePaths(quick.stdout);
    return cachedBinaries;
  }
  // Progress lines go to our stderr so a slow first run shows what it is doing.
  const build = spawnSync('bash', [buildScript], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 60 * 60 * 1000,
  });
  if (build.status !== 0) {
    throw new Error(
      `scripts/build-backends.sh failed (exit ${build.status ?? build.signal}); its log is in ` +
        `${process.env['EBPF_OTEL_CACHE'] ?? '/var/cache/ebpf-otel'}/logs/. It needs Go >= 1.25 and the Go module proxy.`,
    );
  }
  cachedBinaries = parsePaths(build.stdout);
  return cachedBinaries;
}

/** Free TCP ports on 127.0.0.1, all distinct (held open together while picking). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () =>
      new Promise<import('node:net').Server>((ok, fail) => {
        const server = createServer();
        server.once('error', fail);
        server.listen(0, '127.0.0.1', () => ok(server));
      }),
    ),
  );
  const ports = servers.map((s) => {
    const address = s.address();
    if (address === null || typeof address === 'string') throw new Error('listen on 127.0.0.1:0 gave no port');
    return address.port;
  });
  await Promise.all(servers.map((s) => new Promise<void>((ok) => s.close(() => ok()))));
  return ports;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((ok) => setTimeout(ok, ms));
}

/**
 * Polls `probe` until `done(value)` holds, and returns that value. Throws after `timeoutMs` with the
 * last value (or error) in the message, so a failing test says what it saw.
 */
export async function waitFor<T>(
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  let last: string = 'nothing yet';
  for (;;) {
    try {
      const value = await probe();
      if (done(value)) return value;
      last = JSON.stringify(value)?.slice(0, 500) ?? String(value);
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${opts.timeoutMs ?? 20_000} ms waiting for ${opts.what ?? 'condition'}; last: ${last}`);
    }
    await sleep(opts.intervalMs ?? 200);
  }
}

// --- processes -----------------------------------------------------------------------------------

const liveChildren = new Set<ChildProcess>();
process.on('exit', () => {
  // A test that throws before stop() must not leave collectors listening after the run.
  for (const child of liveChildren) child.kill('SIGKILL');
});

export interface ManagedProcess {
  child: ChildProcess;
  exited: Promise<number | null>;
  /** Resolves once the child's stdout and stderr are closed too ('exit' can come before them). */
  closed: Promise<void>;
  log: WriteStream;
}

export function launch(binary: string, args: string[], env: Record<string, string>, logFile: string): ManagedProcess {
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(binary, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  liveChildren.add(child);
  const exited = new Promise<number | null>((ok) => {
    child.once('exit', (code) => {
      liveChildren.delete(child);
      ok(code);
    });
    child.once('error', (err) => {
      log.write(`spawn error: ${err.message}\n`);
      liveChildren.delete(child);
      ok(null);
    });
  });
  const closed = new Promise<void>((ok) => {
    child.once('close', () => ok());
    child.once('error', () => ok());
  });
  return { child, exited, closed, log };
}

export async function terminate(proc: ManagedProcess): Promise<void> {
  if (proc.child.exitCode === null && proc.child.signalCode === null) {
    proc.child.kill('SIGTERM');
    const timer = setTimeout(() => proc.child.kill('SIGKILL'), 10_000);
    await proc.exited;
    clearTimeout(timer);
  }
  // Output still in the pipes after 'exit' would be written to an ended log (write after end):
  // wait for the pipes to close (a grandchild could hold them open: not for long), then detach.
  await Promise.race([proc.closed, sleep(2000)]);
  proc.child.stdout?.unpipe(proc.log);
  proc.child.stderr?.unpipe(proc.log);
  if (!proc.log.writableEnded) await new Promise<void>((ok) => proc.log.end(() => ok()));
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Starts `proc` and waits until `ready()` resolves true; fails early if the process exits. */
export async function untilReady(
  name: string,
  proc: ManagedProcess,
  logFile: string,
  ready: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  let exitCode: number | null | undefined;
  void proc.exited.then((code) => (exitCode = code));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exitCode !== undefined) {
      throw new Error(`${name} exited (code ${exitCode}) before it was ready; log ${logFile}:\n${tail(logFile)}`);
    }
    try {
      if (await ready()) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  await terminate(proc);
  throw new Error(`${name} was not ready after ${timeoutMs} ms; log ${logFile}:\n${tail(logFile)}`);
}

export async function httpOk(url: string): Promise<boolean> {
  const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
  await response.arrayBuffer();
  return response.ok;
}

// --- Jaeger --------------------------------------------------------------------------------------

export interface JaegerPorts {
  otlpGrpc: number;
  otlpHttp: number;
  queryHttp: number;
  queryGrpc: number;
  health: number;
}

export interface JaegerHandle {
  ports: JaegerPorts;
  /** otlpGrpc: "http://127.0.0.1:P" (for OTel JS exporters); queryHttp: base URL of UI and API v3. */
  endpoints: { otlpGrpc: string; otlpHttp: string; queryHttp: string };
  logFile: string;
  pid(): number | undefined;
  /** Services Jaeger has stored spans for. */
  services(): Promise<string[]>;
  /** OTLP JSON resourceSpans of the traces of `service` that started at or after `sinceMs` (epoch ms). */
  traces(service: string, sinceMs: number): Promise<OtlpResourceSpans[]>;
  stop(): Promise<void>;
  /** Stops and starts again on the same ports. Memory storage: stored traces are gone afterwards. */
  restart(): Promise<void>;
}

export interface StartJaegerOptions {
  binary?: string;
  config?: string;
  readyTimeoutMs?: number;
}

export async function startJaeger(opts: StartJaegerOptions = {}): Promise<JaegerHandle> {
  const binary = opts.binary ?? ensureBackends().jaeger;
  const config = opts.config ?? join(otelConfigDir, 'jaeger.yaml');
  const [otlpGrpc, otlpHttp, queryHttp, queryGrpc, health] = await freePorts(5) as [number, number, number, number, number];
  const ports: JaegerPorts = { otlpGrpc, otlpHttp, queryHttp, queryGrpc, health };
  const env = {
    JAEGER_OTLP_GRPC_PORT: String(otlpGrpc),
    JAEGER_OTLP_HTTP_PORT: String(otlpHttp),
    JAEGER_QUERY_HTTP_PORT: String(queryHttp),
    JAEGER_QUERY_GRPC_PORT: String(queryGrpc),
    JAEGER_HEALTH_PORT: String(health),
  };
  const logFile = join(mkdtempSync(join(tmpdir(), 'ebpf-otel-jaeger-')), 'jaeger.log');
  const queryBase = `http://127.0.0.1:${queryHttp}`;
  let proc: ManagedProcess;

  const start = async (): Promise<void> => {
    proc = launch(binary, ['--config', config], env, logFile);
    // healthcheckv2 answers 200 on /status once every component is up; the query API may still
    // be binding, so ask it too.
    await untilReady(
      'jaeger',
      proc,
      logFile,
      async () => (await httpOk(`http://127.0.0.1:${health}/status`)) && (await httpOk(`${queryBase}/api/v3/services`)),
      opts.readyTimeoutMs ?? 30_000,
    );
  };
  await start();

  return {
    ports,
    endpoints: {
      otlpGrpc: `http://127.0.0.1:${otlpGrpc}`,
      otlpHttp: `http://127.0.0.1:${otlpHttp}`,
      queryHttp: queryBase,
    },
    logFile,
    pid: () => proc.child.pid,
    services: () => jaegerServices(queryBase),
    traces: (service, sinceMs) => jaegerTraces(queryBase, service, sinceMs),
    stop: () => terminate(proc),
    restart: async () => {
      await terminate(proc);
      await start();
    },
  };
}

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: response.status, body };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** GET /api/v3/services on a Jaeger query base URL ("http://127.0.0.1:P"). */
export async function jaegerServices(queryBase: string): Promise<string[]> {
  const { status, body } = await getJson(`${queryBase}/api/v3/services`);
  if (status !== 200 || !isRecord(body)) throw new Error(`jaeger /api/v3/services: HTTP ${status} ${JSON.stringify(body)}`);
  const services = body['services'];
  return Array.isArray(services) ? services.filter((s): s is string => typeof s === 'string') : [];
}

/**
 * GET /api/v3/traces for one service since `sinceMs` (epoch ms) until now + 1 min. Returns the OTLP
 * JSON resourceSpans of all matching traces ([] when Jaeger found none, which it reports as 404).
 */
export async function jaegerTraces(queryBase: string, service: string, sinceMs: number): Promise<OtlpResourceSpans[]> {
  const params = new URLSearchParams({
    'query.service_name': service,
    'query.start_time_min': new Date(sinceMs).toISOString(),
    'query.start_time_max': new Date(Date.now() + 60_000).toISOString(),
    // Jaeger calls it search depth; without it the memory store refuses the query.
    'query.num_traces': '100',
  });
  const { status, body } = await getJson(`${queryBase}/api/v3/traces?${params.toString()}`);
  if (status === 404) return [];
  if (status !== 200 || !isRecord(body)) throw new Error(`jaeger /api/v3/traces: HTTP ${status} ${JSON.stringify(body)}`);
  // The gRPC gateway wraps the streamed TracesData chunk in {"result": ...}.
  const result = isRecord(body['result']) ? body['result'] : body;
  const resourceSpans = result['resourceSpans'];
  return Array.isArray(resourceSpans) ? (resourceSpans as OtlpResourceSpans[]) : [];
}

// --- Collector -----------------------------------------------------------------------------------

export interface CollectorPorts {
  otlpGrpc: number;
  otlpHttp: number;
  health: number;
  prometheus: number;
  /** Where the collector sends traces (Jaeger's OTLP gRPC port, or an unused port without Jaeger). */
  jaegerOtlpGrpc: number;
}

export interface CollectorHandle {
  ports: CollectorPorts;
  /** URLs for OTel JS exporters: otlpGrpc "http://127.0.0.1:P", otlpHttp "http://127.0.0.1:P". */
  endpoints: { otlpGrpc: string; otlpHttp: string; prometheus: string };
  /** File exporter outputs: one OTLP JSON request per line. */
  metricsFile: string;
  tracesFile: string;
  logFile: string;
  pid(): number | undefined;
  readMetrics(): OtlpMetricsRequest[];
  readTraces(): OtlpTracesRequest[];
  scrapePrometheus(): Promise<PrometheusSample[]>;
  stop(): Promise<void>;
  /** Stops and starts again on the same ports (output files are appended to). */
  restart(): Promise<void>;
}

export interface StartCollectorOptions {
  /** Jaeger to send traces to; or give its OTLP gRPC port. Without either, trace export goes nowhere. */
  jaeger?: JaegerHandle;
  jaegerOtlpGrpcPort?: number;
  binary?: string;
  /** Defaults to otel-config/collector-e2e.yaml; another config gets the same environment variables. */
  config?: string;
  env?: Record<string, string>;
  readyTimeoutMs?: number;
}

export async function startCollector(opts: StartCollectorOptions = {}): Promise<CollectorHandle> {
  const binary = opts.binary ?? ensureBackends().otelcol;
  const config = opts.config ?? join(otelConfigDir, 'collector-e2e.yaml');
  const [otlpGrpc, otlpHttp, health, prometheus, spare] = await freePorts(5) as [number, number, number, number, number];
  const jaegerOtlpGrpc = opts.jaeger?.ports.otlpGrpc ?? opts.jaegerOtlpGrpcPort ?? spare;
  const ports: CollectorPorts = { otlpGrpc, otlpHttp, health, prometheus, jaegerOtlpGrpc };
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-otel-otelcol-'));
  const metricsFile = join(dir, 'metrics.jsonl');
  const tracesFile = join(dir, 'traces.jsonl');
  const logFile = join(dir, 'otelcol.log');
  const env = {
    OTELCOL_OTLP_GRPC_PORT: String(otlpGrpc),
    OTELCOL_OTLP_HTTP_PORT: String(otlpHttp),
    OTELCOL_HEALTH_PORT: String(health),
    OTELCOL_PROMETHEUS_PORT: String(prometheus),
    JAEGER_OTLP_GRPC_PORT: String(jaegerOtlpGrpc),
    OTELCOL_METRICS_FILE: metricsFile,
    OTELCOL_TRACES_FILE: tracesFile,
    ...opts.env,
  };
  let proc: ManagedProcess;
  const start = async (): Promise<void> => {
    proc = launch(binary, ['--config', config], env, logFile);
    await untilReady('otelcol', proc, logFile, () => httpOk(`http://127.0.0.1:${health}/`), opts.readyTimeoutMs ?? 30_000);
  };
  await start();

  return {
    ports,
    endpoints: {
      otlpGrpc: `http://127.0.0.1:${otlpGrpc}`,
      otlpHttp: `http://127.0.0.1:${otlpHttp}`,
      prometheus: `http://127.0.0.1:${prometheus}/metrics`,
    },
    metricsFile,
    tracesFile,
    logFile,
    pid: () => proc.child.pid,
    readMetrics: () => readFileExporterMetrics(metricsFile),
    readTraces: () => readFileExporterTraces(tracesFile),
    scrapePrometheus: () => scrapePrometheus(prometheus),
    stop: () => terminate(proc),
    restart: async () => {
      await terminate(proc);
      await start();
    },
  };
}

/** Validates a config with the real binary (`<binary> validate --config <file>`). */
export function validateConfig(
  binary: string,
  config: string,
  env: Record<string, string> = {},
): { ok: boolean; output: string } {
  const result = spawnSync(binary, ['validate', '--config', config], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
}

// --- OTLP JSON (as the file exporter and Jaeger's API v3 write it) ------------------------------

export interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
  arrayValue?: { values?: OtlpAnyValue[] };
  kvlistValue?: { values?: OtlpKeyValue[] };
  bytesValue?: string;
}
export interface OtlpKeyValue {
  key: string;
  value?: OtlpAnyValue;
}
export interface OtlpResource {
  attributes?: OtlpKeyValue[];
}
export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind?: number | string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes?: OtlpKeyValue[];
  events?: { name: string; timeUnixNano: string; attributes?: OtlpKeyValue[] }[];
  status?: { code?: number | string; message?: string };
}
export interface OtlpResourceSpans {
  resource?: OtlpResource;
  scopeSpans?: { scope?: { name?: string; version?: string }; spans?: OtlpSpan[] }[];
}
export interface OtlpTracesRequest {
  resourceSpans?: OtlpResourceSpans[];
}
export interface OtlpNumberDataPoint {
  attributes?: OtlpKeyValue[];
  timeUnixNano?: string;
  asInt?: string | number;
  asDouble?: number;
}
export interface OtlpHistogramDataPoint {
  attributes?: OtlpKeyValue[];
  timeUnixNano?: string;
  count?: string | number;
  sum?: number;
  bucketCounts?: (string | number)[];
  explicitBounds?: number[];
}
export interface OtlpMetric {
  name: string;
  unit?: string;
  description?: string;
  sum?: { dataPoints?: OtlpNumberDataPoint[]; aggregationTemporality?: number; isMonotonic?: boolean };
  gauge?: { dataPoints?: OtlpNumberDataPoint[] };
  histogram?: { dataPoints?: OtlpHistogramDataPoint[]; aggregationTemporality?: number };
}
export interface OtlpResourceMetrics {
  resource?: OtlpResource;
  scopeMetrics?: { scope?: { name?: string; version?: string }; metrics?: OtlpMetric[] }[];
}
export interface OtlpMetricsRequest {
  resourceMetrics?: OtlpResourceMetrics[];
}

function readJsonLines<T>(path: string): T[] {
  if (!existsSync(path)) return [];
  const out: T[] = [];
  // The exporter may be mid-write: a last line without its newline is not complete yet.
  const text = readFileSync(path, 'utf8');
  const complete = text.endsWith('\n') ? text : text.slice(0, text.lastIndexOf('\n') + 1);
  for (const line of complete.split('\n')) {
    if (line.trim() === '') continue;
    out.push(JSON.parse(line) as T);
  }
  return out;
}

/** Parses the collector file exporter's JSON lines (one ExportMetricsServiceRequest each). */
export function readFileExporterMetrics(path: string): OtlpMetricsRequest[] {
  return readJsonLines<OtlpMetricsRequest>(path);
}

/** Parses the collector file exporter's JSON lines (one ExportTraceServiceRequest each). */
export function readFileExporterTraces(path: string): OtlpTracesRequest[] {
  return readJsonLines<OtlpTracesRequest>(path);
}

export type AttributeValue = string | number | boolean | AttributeValue[] | { [key: string]: AttributeValue };

export function anyValue(value: OtlpAnyValue | undefined): AttributeValue {
  if (value === undefined) return '';
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.arrayValue !== undefined) return (value.arrayValue.values ?? []).map(anyValue);
  if (value.kvlistValue !== undefined) return attributesToRecord(value.kvlistValue.values);
  if (value.bytesValue !== undefined) return value.bytesValue;
  return '';
}

/** OTLP attribute list -> plain object (int64 values become numbers). */
export function attributesToRecord(attributes: OtlpKeyValue[] | undefined): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const kv of attributes ?? []) out[kv.key] = anyValue(kv.value);
  return out;
}

export interface FlatSpan {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  kind: number | string | undefined;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Record<string, AttributeValue>;
  resource: Record<string, AttributeValue>;
  scope: string;
  status: { code?: number | string; message?: string };
  events: { name: string; attributes: Record<string, AttributeValue> }[];
}

/** Every span of some resourceSpans (from Jaeger or the file exporter) with its resource attached. */
export function flattenSpans(resourceSpans: OtlpResourceSpans[]): FlatSpan[] {
  const out: FlatSpan[] = [];
  for (const rs of resourceSpans) {
    const resource = attributesToRecord(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      for (const span of ss.spans ?? []) {
        out.push({
          name: span.name,
          traceId: span.traceId,
          spanId: span.spanId,
          parentSpanId: span.parentSpanId ?? '',
          kind: span.kind,
          startTimeUnixNano: BigInt(span.startTimeUnixNano),
          endTimeUnixNano: BigInt(span.endTimeUnixNano),
          attributes: attributesToRecord(span.attributes),
          resource,
          scope: ss.scope?.name ?? '',
          status: span.status ?? {},
          events: (span.events ?? []).map((e) => ({ name: e.name, attributes: attributesToRecord(e.attributes) })),
        });
      }
    }
  }
  return out;
}

export interface FlatMetricPoint {
  name: string;
  unit: string;
  kind: 'sum' | 'gauge' | 'histogram' | 'other';
  attributes: Record<string, AttributeValue>;
  resource: Record<string, AttributeValue>;
  /** sum/gauge value; histogram: the sum of observations. */
  value: number;
  /** histogram only */
  count?: number;
  bucketCounts?: number[];
  explicitBounds?: number[];
}

/** Every data point in file exporter output, in file order (later points are newer). */
export function flattenMetrics(requests: OtlpMetricsRequest[]): FlatMetricPoint[] {
  const out: FlatMetricPoint[] = [];
  for (const request of requests) {
    for (const rm of request.resourceMetrics ?? []) {
      const resource = attributesToRecord(rm.resource?.attributes);
      for (const sm of rm.scopeMetrics ?? []) {
        for (const metric of sm.metrics ?? []) {
          const base = { name: metric.name, unit: metric.unit ?? '', resource };
          const numberPoints = metric.sum?.dataPoints ?? metric.gauge?.dataPoints;
          if (numberPoints !== undefined) {
            for (const p of numberPoints) {
              out.push({
                ...base,
                kind: metric.sum !== undefined ? 'sum' : 'gauge',
                attributes: attributesToRecord(p.attributes),
                value: p.asDouble ?? Number(p.asInt ?? 0),
              });
            }
          } else if (metric.histogram !== undefined) {
            for (const p of metric.histogram.dataPoints ?? []) {
              out.push({
                ...base,
                kind: 'histogram',
                attributes: attributesToRecord(p.attributes),
                value: p.sum ?? 0,
                count: Number(p.count ?? 0),
                bucketCounts: (p.bucketCounts ?? []).map(Number),
                explicitBounds: p.explicitBounds ?? [],
              });
            }
          } else {
            out.push({ ...base, kind: 'other', attributes: {}, value: 0 });
          }
        }
      }
    }
  }
  return out;
}

// --- Prometheus ----------------------------------------------------------------------------------

export interface PrometheusSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text exposition format (comments skipped). */
export function parsePrometheusText(text: string): PrometheusSample[] {
  const samples: PrometheusSample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const nameMatch = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
    if (nameMatch === null) continue;
    const name = nameMatch[1] as string;
    let rest = line.slice(name.length);
    const labels: Record<string, string> = {};
    if (rest.startsWith('{')) {
      let i = 1;
      for (;;) {
        while (rest[i] === ' ' || rest[i] === ',') i++;
        if (rest[i] === '}') {
          i++;
          break;
        }
        const eq = rest.indexOf('=', i);
        if (eq < 0 || rest[eq + 1] !== '"') throw new Error(`bad Prometheus label in: ${line}`);
        const key = rest.slice(i, eq).trim();
        let value = '';
        let j = eq + 2;
        for (; j < rest.length && rest[j] !== '"'; j++) {
          if (rest[j] === '\\') {
            j++;
            value += rest[j] === 'n' ? '\n' : (rest[j] ?? '');
          } else {
            value += rest[j];
          }
        }
        labels[key] = value;
        i = j + 1;
      }
      rest = rest.slice(i);
    }
    const valueText = rest.trim().split(/\s+/)[0] ?? '';
    samples.push({ name, labels, value: valueText === '+Inf' ? Infinity : valueText === '-Inf' ? -Infinity : Number(valueText) });
  }
  return samples;
}

/** GET http://127.0.0.1:<port>/metrics (the collector's Prometheus exporter), parsed. */
export async function scrapePrometheus(port: number): Promise<PrometheusSample[]> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) });
  const text = await response.text();
  if (!response.ok) throw new Error(`scrape 127.0.0.1:${port}/metrics: HTTP ${response.status} ${text.slice(0, 200)}`);
  return parsePrometheusText(text);
}

// --- Prometheus server ---------------------------------------------------------------------------

export interface PrometheusServerHandle {
  port: number;
  logFile: string;
  /** GET /api/v1/query: the result vector, or throws with Prometheus' error (a parse error included). */
  query(expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  /** Scrape targets with their health ("up") and last error. */
  targets(): Promise<Array<{ job: string; health: string; lastError: string; scrapeUrl: string }>>;
  stop(): Promise<void>;
}

/** Starts the Prometheus that scripts/build-backends.sh builds, with `configYaml`, on a free loopback port. */
export async function startPrometheusServer(configYaml: string, opts: { readyTimeoutMs?: number } = {}): Promise<PrometheusServerHandle> {
  const binary = ensureBackends().prometheus;
  const [port] = await freePorts(1) as [number];
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-otel-prometheus-'));
  const configFile = join(dir, 'prometheus.yml');
  writeFileSync(configFile, configYaml);
  const logFile = join(dir, 'prometheus.log');
  const proc = launch(binary, [
    `--config.file=${configFile}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
  ], {}, logFile);
  const base = `http://127.0.0.1:${port}`;
  await untilReady('prometheus', proc, logFile, () => httpOk(`${base}/-/ready`), opts.readyTimeoutMs ?? 30_000);
  const api = async (path: string): Promise<unknown> => {
    const { status, body } = await getJson(`${base}${path}`);
    if (!isRecord(body) || body['status'] !== 'success') {
      throw new Error(`prometheus ${path}: HTTP ${status} ${JSON.stringify(body).slice(0, 500)}`);
    }
    return body['data'];
  };
  return {
    port,
    logFile,
    query: async (expr) => {
      const data = await api(`/api/v1/query?${new URLSearchParams({ query: expr }).toString()}`);
      if (!isRecord(data) || data['resultType'] !== 'vector' || !Array.isArray(data['result'])) {
        throw new Error(`prometheus query ${expr}: not a vector: ${JSON.stringify(data).slice(0, 300)}`);
      }
      return data['result'] as Array<{ metric: Record<string, string>; value: [number, string] }>;
    },
    targets: async () => {
      const data = await api('/api/v1/targets?state=active');
      const active = isRecord(data) && Array.isArray(data['activeTargets']) ? data['activeTargets'] as Array<Record<string, unknown>> : [];
      return active.map((t) => ({
        job: String((t['labels'] as Record<string, unknown> | undefined)?.['job'] ?? ''),
        health: String(t['health'] ?? ''),
        lastError: String(t['lastError'] ?? ''),
        scrapeUrl: String(t['scrapeUrl'] ?? ''),
      }));
    },
    stop: () => terminate(proc),
  };
}
