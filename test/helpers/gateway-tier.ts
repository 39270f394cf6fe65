// The load-balanced Collector tier for tests: gateways running otel-config/gateway.yaml (plus a
// witness overlay that prints every span they accept), node-local collectors running
// otel-config/agent-collector.yaml or the Kubernetes node-local config, all on loopback ports picked
// at start. The tail sampling processor's probabilistic policy is reproduced here (same hash, same
// threshold) so a test can compute which traces a gateway must keep.

import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  ensureBackends,
  freePorts,
  httpOk,
  launch,
  otelConfigDir,
  parsePrometheusText,
  repoRoot,
  terminate,
  untilReady,
  type ManagedProcess,
  type PrometheusSample,
} from './backends';

export const witnessOverlay = join(repoRoot, 'test', 'fixtures', 'gateway-witness.yaml');

export interface OtelcolHandle {
  name: string;
  logFile: string;
  pid(): number | undefined;
  /** The collector's own metrics (service.telemetry Prometheus reader), parsed. */
  telemetry(): Promise<PrometheusSample[]>;
  /** SIGTERM (graceful: queues drained, pending tail-sampling traces decided). */
  stop(): Promise<void>;
  /** SIGKILL: what a crashed or evicted pod does. */
  kill(): Promise<void>;
}

interface StartOptions {
  name: string;
  configs: string[];
  env: Record<string, string>;
  healthPort: number;
  telemetryPort: number;
  /** Command and arguments put in front of the collector (e.g. a mount namespace). */
  wrapper?: string[];
  dir: string;
}

async function startOtelcol(opts: StartOptions): Promise<OtelcolHandle> {
  const binary = ensureBackends().otelcol;
  const logFile = join(opts.dir, `${opts.name}.log`);
  const args = opts.configs.flatMap((c) => ['--config', c]);
  const [cmd, argv] = opts.wrapper && opts.wrapper.length > 0
    ? [opts.wrapper[0] as string, [...opts.wrapper.slice(1), binary, ...args]]
    : [binary, args];
  const proc: ManagedProcess = launch(cmd, argv, opts.env, logFile);
  await untilReady(opts.name, proc, logFile, () => httpOk(`http://127.0.0.1:${opts.healthPort}/`), 30_000);
  const telemetry = async (): Promise<PrometheusSample[]> => {
    const response = await fetch(`http://127.0.0.1:${opts.telemetryPort}/metrics`, { signal: AbortSignal.timeout(5000) });
    const text = await response.text();
    if (!response.ok) throw new Error(`${opts.name} telemetry: HTTP ${response.status}`);
    return parsePrometheusText(text);
  };
  return {
    name: opts.name,
    logFile,
    pid: () => proc.child.pid,
    telemetry,
    stop: () => terminate(proc),
    kill: async () => {
      proc.child.kill('SIGKILL');
      await terminate(proc);
    },
  };
}

export interface GatewayHandle extends OtelcolHandle {
  /** host:port of its OTLP gRPC receiver. */
  endpoint: string;
  witnessFile: string;
  /** Spans the gateway accepted, before sampling: trace id -> span ids. */
  witnessed(): Map<string, Set<string>>;
}

export interface GatewayOptions {
  name: string;
  /** Jaeger's OTLP gRPC port on 127.0.0.1. */
  tracesPort: number;
  samplePercent: number;
  slowConnectMs: number;
  decisionWait: string;
  /** Loopback address to listen on (default 127.0.0.1) and port (default: a free one). */
  host?: string;
  port?: number;
}

export async function startGateway(opts: GatewayOptions): Promise<GatewayHandle> {
  const dir = mkdtempSync(join(tmpdir(), `ebpf-otel-${opts.name}-`));
  const [picked, health, telemetryPort] = (await freePorts(3)) as [number, number, number];
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? picked;
  const witnessFile = join(dir, 'witness.log');
  writeFileSync(witnessFile, '');
  const handle = await startOtelcol({
    name: opts.name,
    dir,
    configs: [join(otelConfigDir, 'gateway.yaml'), witnessOverlay],
    healthPort: health,
    telemetryPort,
    env: {
      GATEWAY_OTLP_GRPC_ENDPOINT: `${host}:${port}`,
      GATEWAY_HEALTH_ENDPOINT: `127.0.0.1:${health}`,
      GATEWAY_TELEMETRY_HOST: '127.0.0.1',
      GATEWAY_TELEMETRY_PORT: String(telemetryPort),
      GATEWAY_TRACES_ENDPOINT: `127.0.0.1:${opts.tracesPort}`,
      GATEWAY_SAMPLE_PERCENT: String(opts.samplePercent),
      GATEWAY_SLOW_CONNECT_MS: String(opts.slowConnectMs),
      GATEWAY_DECISION_WAIT: opts.decisionWait,
      WITNESS_FILE: witnessFile,
    },
  });
  return { ...handle, endpoint: `${host}:${port}`, witnessFile, witnessed: () => readWitness(witnessFile) };
}

/** Parses the debug exporter's "normal" output: one line per span, "<name> <trace id> <span id> ...". */
export function readWitness(file: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  if (!existsSync(file)) return out;
  for (const m of readFileSync(file, 'utf8').matchAll(/ ([0-9a-f]{32}) ([0-9a-f]{16})\b/g)) {
    const traceId = m[1] as string;
    const spans = out.get(traceId) ?? new Set<string>();
    spans.add(m[2] as string);
    out.set(traceId, spans);
  }
  return out;
}

export interface NodeLocalHandle extends OtelcolHandle {
  /** "http://127.0.0.1:P" for the agent's --otlp-endpoint. */
  otlpEndpoint: string;
  /** The agent's metrics, as Prometheus scrapes them from this collector. */
  scrapeMetrics(): Promise<PrometheusSample[]>;
}

export interface NodeLocalOptions {
  name: string;
  config: string;
  /** Extra variables for the config (GATEWAY_ENDPOINTS for the static one, ...). */
  env: Record<string, string>;
  wrapper?: string[];
}

export async function startNodeLocal(opts: NodeLocalOptions): Promise<NodeLocalHandle> {
  const dir = mkdtempSync(join(tmpdir(), `ebpf-otel-${opts.name}-`));
  const [grpc, http, health, telemetryPort, prometheus] = (await freePorts(5)) as [number, number, number, number, number];
  const handle = await startOtelcol({
    name: opts.name,
    dir,
    configs: [opts.config],
    healthPort: health,
    telemetryPort,
    wrapper: opts.wrapper,
    env: {
      OTLP_GRPC_ENDPOINT: `127.0.0.1:${grpc}`,
      OTLP_HTTP_ENDPOINT: `127.0.0.1:${http}`,
      OTELCOL_HEALTH_ENDPOINT: `127.0.0.1:${health}`,
      OTELCOL_TELEMETRY_HOST: '127.0.0.1',
      OTELCOL_TELEMETRY_PORT: String(telemetryPort),
      PROMETHEUS_EXPORTER_ENDPOINT: `127.0.0.1:${prometheus}`,
      ...opts.env,
    },
  });
  const scrapeMetrics = async (): Promise<PrometheusSample[]> => {
    const response = await fetch(`http://127.0.0.1:${prometheus}/metrics`, { signal: AbortSignal.timeout(5000) });
    return parsePrometheusText(await response.text());
  };
  return { ...handle, otlpEndpoint: `http://127.0.0.1:${grpc}`, scrapeMetrics };
}

/** Sum of a metric's samples whose labels include `labels`. */
export function sumOf(samples: PrometheusSample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((acc, s) => acc + s.value, 0);
}

// --- the probabilistic policy of tail_sampling (processor/tailsamplingprocessor/internal/sampling/probabilistic.go)

const FNV64_OFFSET = 0xcbf29ce484222325n;
const FNV64_PRIME = 0x100000001b3n;
const U64 = (1n << 64n) - 1n;

/** FNV-1a, 64 bits (Go's hash/fnv New64a). */
export function fnv1a64(bytes: Uint8Array): bigint {
  let h = FNV64_OFFSET;
  for (const b of bytes) {
    h ^= BigInt(b);
    h = (h * FNV64_PRIME) & U64;
  }
  return h;
}

/**
 * The processor's threshold for a percentage: MaxUint64 * (percent / 100) computed in a 64-bit
 * big.Float (rounded to nearest even at 64 significant bits), then truncated to uint64.
 */
export function probabilisticThreshold(percent: number): bigint {
  const ratio = percent / 100;
  if (!(ratio > 0)) return 0n;
  // ratio as an exact binary fraction: mantissa * 2^exponent.
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, ratio);
  const bits = view.getBigUint64(0);
  const rawExp = Number((bits >> 52n) & 0x7ffn);
  const frac = bits & ((1n << 52n) - 1n);
  const mantissa = rawExp === 0 ? frac : frac | (1n << 52n);
  const exponent = (rawExp === 0 ? 1 : rawExp) - 1075;
  // Exact product (2^64-1) * mantissa, scaled by 2^exponent (negative for ratios below 2^52).
  let num = U64 * mantissa;
  const shift = -exponent; // value = num / 2^shift
  // Round num to 64 significant bits, nearest even.
  const bitLen = num.toString(2).length;
  if (bitLen > 64) {
    const drop = BigInt(bitLen - 64);
    const kept = num >> drop;
    const rest = num - (kept << drop);
    const half = 1n << (drop - 1n);
    let rounded = kept;
    if (rest > half || (rest === half && (kept & 1n) === 1n)) rounded += 1n;
    num = rounded << drop;
  }
  if (shift <= 0) return (num << BigInt(-shift)) > U64 ? U64 : num << BigInt(-shift);
  const value = num >> BigInt(shift);
  return value > U64 ? U64 : value;
}

/** Whether tail_sampling's probabilistic policy keeps this trace (hash <= threshold). */
export function probabilisticKeeps(traceIdHex: string, percent: number, salt: string): boolean {
  const salted = new Uint8Array([...Buffer.from(salt, 'utf8'), ...Buffer.from(traceIdHex, 'hex')]);
  return fnv1a64(salted) <= probabilisticThreshold(percent);
}
