/**
 * The agent's configuration: command-line flags, each with an EBPF_OTEL_*
 * environment variable, plus the standard OTEL_* variables. Everything is
 * validated here, once; the rest of the agent receives typed values.
 */
import { accessSync, constants as fsConstants } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseServiceNameSources, type ServiceNameSource } from './workload/naming';
import { compileUserPattern, type UserPattern } from './commands/patterns';

export type ExporterName = 'otlp' | 'console' | 'jsonl';
export type MetricsExporterName = 'otlp' | 'prometheus' | 'console' | 'jsonl';
export type OtlpProtocol = 'grpc' | 'http/protobuf';
export type TemporalityPreference = 'cumulative' | 'delta' | 'lowmemory';
export type ProbeName = 'tcp' | 'exec' | 'bash' | 'dns';
/** Where the dns probe sees lookups: DNS responses at the socket, or the C library's resolver calls; auto picks sockets when the kernel has them. */
export type DnsSource = 'auto' | 'sockets' | 'libc';
export type TraceExecsMode = 'all' | 'interactive' | 'none';
export type LogLevelName = 'debug' | 'info' | 'warn' | 'error';

export interface AgentConfig {
  exporters: ExporterName[];
  /** OTLP endpoint for traces, final URL (path /v1/traces included for http/protobuf). */
  otlpEndpoint: string;
  /** OTLP endpoint for metrics, final URL (path /v1/metrics included for http/protobuf). */
  otlpMetricsEndpoint: string;
  tracesProtocol: OtlpProtocol;
  metricsProtocol: OtlpProtocol;
  /** Where metrics go (empty: nowhere). */
  metricsExporters: MetricsExporterName[];
  /** Prometheus /metrics endpoint, for the prometheus metrics exporter. */
  prometheusHost: string;
  prometheusPort: number;
  /** OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE, for the otlp metrics exporter. */
  metricsTemporality: TemporalityPreference;
  /** OTEL_EXPORTER_OTLP_TRACES_TIMEOUT / OTEL_EXPORTER_OTLP_TIMEOUT (the OTLP exporters read it too). */
  otlpTracesTimeoutMs: number;
  probes: ProbeName[];
  pid: number;
  port: number;
  minLatencyNs: bigint;
  includeLoopback: boolean;
  perPeerMetrics: boolean;
  histogramBucketsPerOctave: 1 | 2 | 4;
  sampleSuccessRatio: number;
  slowThresholdNs: bigint;
  maxSpansPerSecond: number;
  exportBufferSpans: number;
  metricIntervalMs: number;
  traceExecs: TraceExecsMode;
  bashPaths: string[];
  /** Where the dns probe sees lookups ('auto' is resolved at start, from the kernel's BTF). */
  dnsSource: DnsSource;
  /** C libraries whose resolver the dns probe watches (empty: found automatically); implies the libc source. */
  libcPaths: string[];
  /** dns.question.name on DNS metrics (high cardinality). */
  dnsMetricNames: boolean;
  redact: boolean;
  /** Compiled for linear-time matching (RE2 syntax). */
  redactPatterns: UserPattern[];
  durationSeconds: number;
  bpfDir: string | undefined;
  btfPath: string | undefined;
  logLevel: LogLevelName;
  statsIntervalSeconds: number;
  /** Service-naming policy: sources of service.name, in order (workload/naming.ts). */
  serviceNameFrom: ServiceNameSource[];
  /** The cgroup v2 hierarchy (undefined: found in /proc/self/mountinfo). */
  cgroupRoot: string | undefined;
  /** Connect metrics broken down by container (cgroup key in the kernel histogram). */
  perContainerMetrics: boolean;
  /** Port of the liveness endpoint GET /healthz (0: none). */
  healthPort: number;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

interface OptionSpec {
  flag: string;
  type: 'string' | 'boolean';
  multiple?: boolean;
  short?: string;
  /** Placeholder shown in --help. */
  arg?: string;
  default: string;
  help: string;
}

/** Every flag, in --help order. The environment variable is EBPF_OTEL_ + the flag in UPPER_SNAKE. */
export const OPTIONS: readonly OptionSpec[] = [
  { flag: 'exporter', type: 'string', arg: 'LIST', default: 'otlp,console', help: 'where spans go, comma-separated: otlp, console (live table on stdout), jsonl (one JSON object per span on stdout)' },
  { flag: 'otlp-endpoint', type: 'string', arg: 'URL', default: '', help: 'OTLP endpoint for traces and metrics; for http/protobuf the base URL, /v1/traces and /v1/metrics are appended (default: OTEL_EXPORTER_OTLP_ENDPOINT, else http://localhost:4317 for grpc, http://localhost:4318 for http/protobuf)' },
  { flag: 'otlp-protocol', type: 'string', arg: 'PROTO', default: '', help: 'OTLP transport: grpc or http/protobuf (default: OTEL_EXPORTER_OTLP_{TRACES,METRICS}_PROTOCOL, OTEL_EXPORTER_OTLP_PROTOCOL, else grpc)' },
  { flag: 'metrics-exporter', type: 'string', arg: 'LIST', default: '', help: 'where metrics go, comma-separated: otlp, prometheus (a /metrics endpoint), console, jsonl (a JSON line per data point, with the jsonl spans), none (default: OTEL_METRICS_EXPORTER, else otlp when the span exporters include otlp, else the span exporter: console or jsonl)' },
  { flag: 'prometheus-host', type: 'string', arg: 'HOST', default: '', help: 'address the prometheus exporter listens on (default: OTEL_EXPORTER_PROMETHEUS_HOST, else localhost; 0.0.0.0 exposes it to the network)' },
  { flag: 'prometheus-port', type: 'string', arg: 'PORT', default: '', help: 'port of the prometheus exporter (default: OTEL_EXPORTER_PROMETHEUS_PORT, else 9464)' },
  { flag: 'probes', type: 'string', arg: 'LIST', default: 'tcp,exec,bash,dns', help: 'what to watch: tcp (connects), exec (processes), bash (typed commands), dns (name lookups, names on connects)' },
  { flag: 'pid', type: 'string', arg: 'PID', default: '0', help: 'only connects from this process (0: all)' },
  { flag: 'port', type: 'string', arg: 'PORT', default: '0', help: 'only connects to this server port (0: all)' },
  { flag: 'min-latency-ms', type: 'string', arg: 'MS', default: '0', help: 'no span for successful connects faster than this (metrics still count them)' },
  { flag: 'no-loopback', type: 'boolean', default: 'false', help: 'ignore connects to 127.0.0.0/8 and ::1 (spans and metrics)' },
  { flag: 'per-peer-metrics', type: 'boolean', default: 'false', help: 'add network.peer.address to connect metrics (high cardinality)' },
  { flag: 'histogram-buckets-per-octave', type: 'string', arg: 'N', default: '2', help: 'connect-duration histogram resolution: 1, 2 or 4 buckets per power of two' },
  { flag: 'sample-success', type: 'string', arg: 'RATIO', default: '1', help: 'share of fast successful connects that become spans (0..1); failures and slow connects are always kept' },
  { flag: 'slow-threshold-ms', type: 'string', arg: 'MS', default: '100', help: 'connects at least this slow are always kept as spans' },
  { flag: 'max-spans-per-second', type: 'string', arg: 'N', default: '1000', help: 'cap on spans per second, for important (failures, slow connects) and routine spans each (0: no cap); what is cut is counted in ebpf_otel.spans.sampled_out' },
  { flag: 'export-buffer-spans', type: 'string', arg: 'N', default: '20000', help: 'spans held per exporter while it cannot deliver (oldest dropped and counted beyond)' },
  { flag: 'metric-interval-ms', type: 'string', arg: 'MS', default: '', help: 'metric export interval (default: OTEL_METRIC_EXPORT_INTERVAL, else 60000)' },
  { flag: 'per-container-metrics', type: 'boolean', default: 'false', help: 'add container.id to connect metrics (one series per container; bounded in the kernel, overflow folded and counted)' },
  { flag: 'service-name-from', type: 'string', arg: 'LIST', default: 'container,agent', help: 'service.name of a process\'s spans, first that applies: environ (its OTEL_SERVICE_NAME; keeps CAP_SYS_PTRACE after start-up), container (executable name, in a container), exe (executable name), agent (the agent\'s own)' },
  { flag: 'cgroup-root', type: 'string', arg: 'DIR', default: '', help: 'the cgroup v2 mount of the host (default: found in /proc/self/mountinfo)' },
  { flag: 'health-port', type: 'string', arg: 'PORT', default: '0', help: 'serve GET /healthz on this port (all interfaces) for liveness probes (0: off)' },
  { flag: 'trace-execs', type: 'string', arg: 'MODE', default: 'interactive', help: 'process spans for: interactive (started from a traced bash), all, none; execs are always counted in metrics' },
  { flag: 'bash', type: 'string', multiple: true, arg: 'PATH', default: '', help: 'bash binary to trace (repeatable; default /bin/bash and /usr/bin/bash)' },
  { flag: 'dns-source', type: 'string', arg: 'SOURCE', default: 'auto', help: 'where the dns probe sees lookups: sockets (DNS responses to every program, Linux 6.3+), libc (the C library\'s resolver calls, uprobes: /etc/hosts names too), auto (sockets when the kernel has them, else libc; libc when --libc is given)' },
  { flag: 'libc', type: 'string', multiple: true, arg: 'PATH', default: '', help: 'C library whose resolver the dns probe watches, with the libc source (repeatable; default: libc.so.6 from /etc/ld.so.cache, musl, and the C libraries running processes have mapped)' },
  { flag: 'dns-metric-names', type: 'boolean', default: 'false', help: 'add dns.question.name to DNS metrics (high cardinality)' },
  { flag: 'no-redact', type: 'boolean', default: 'false', help: 'do not redact secrets in command lines (default: redacted)' },
  { flag: 'redact-pattern', type: 'string', multiple: true, arg: 'REGEX', default: '', help: 'extra secret pattern to redact in command lines and argv (repeatable; RE2 syntax, matched in linear time)' },
  { flag: 'duration', type: 'string', arg: 'SECONDS', default: '0', help: 'stop after this many seconds (0: run until SIGINT/SIGTERM)' },
  { flag: 'stats-interval', type: 'string', arg: 'SECONDS', default: '0', help: 'log event/drop counters every N seconds (0: only at exit)' },
  { flag: 'btf', type: 'string', arg: 'PATH', default: '', help: 'kernel BTF used for CO-RE relocations (default /sys/kernel/btf/vmlinux; for kernels without BTF: a matching BTF file)' },
  { flag: 'bpf-dir', type: 'string', arg: 'DIR', default: '', help: 'where the compiled BPF objects are (default: build/bpf of the install)' },
  { flag: 'log-level', type: 'string', arg: 'LEVEL', default: 'info', help: 'debug, info, warn or error (also OTEL_LOG_LEVEL)' },
  { flag: 'help', type: 'boolean', short: 'h', default: 'false', help: 'show this help' },
  { flag: 'version', type: 'boolean', short: 'V', default: 'false', help: 'show the version' },
];

export function envName(flag: string): string {
  return `EBPF_OTEL_${flag.replace(/-/g, '_').toUpperCase()}`;
}

export function helpText(version: string): string {
  const lines = [
    `ebpf-otel ${version}: TCP connects, bash commands and processes seen with eBPF, exported as OpenTelemetry spans and metrics.`,
    '',
    'Usage: ebpf-otel [options]      (as root, or with CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN for uprobes (bash, --dns-source libc) and, not as root, CAP_DAC_READ_SEARCH; dropped once attached)',
    '',
    'Options (each also read from the environment variable shown):',
  ];
  for (const o of OPTIONS) {
    const left = `  ${o.short ? `-${o.short}, ` : ''}--${o.flag}${o.arg ? ` ${o.arg}` : ''}`;
    const def = o.type === 'string' && o.default ? ` [default: ${o.default}]` : '';
    const env = o.flag === 'help' || o.flag === 'version' ? '' : `  (${envName(o.flag)})`;
    lines.push(`${left.padEnd(40)} ${o.help}${def}${env}`);
  }
  lines.push(
    '',
    'Standard OpenTelemetry variables: OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS,',
    'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, OTEL_EXPORTER_OTLP_TIMEOUT,',
    'OTEL_EXPORTER_OTLP_PROTOCOL (+ _TRACES_/_METRICS_ variants), OTEL_EXPORTER_OTLP_CERTIFICATE,',
    'OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE, OTEL_EXPORTER_OTLP_CLIENT_KEY (+ per-signal variants),',
    'OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE (cumulative, delta, lowmemory),',
    'OTEL_EXPORTER_OTLP_COMPRESSION, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_METRIC_EXPORT_INTERVAL,',
    'OTEL_TRACES_EXPORTER (otlp, console, none), OTEL_METRICS_EXPORTER (otlp, prometheus, console, none),',
    'OTEL_EXPORTER_PROMETHEUS_HOST, OTEL_EXPORTER_PROMETHEUS_PORT, OTEL_LOG_LEVEL.',
  );
  return `${lines.join('\n')}\n`;
}

export type ParsedCommand = { kind: 'help' } | { kind: 'version' } | { kind: 'run'; config: AgentConfig };

type Env = Readonly<Record<string, string | undefined>>;

export function parseCommandLine(argv: readonly string[], env: Env = process.env): ParsedCommand {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {};
  for (const o of OPTIONS) {
    options[o.flag] = { type: o.type, ...(o.multiple ? { multiple: true } : {}), ...(o.short ? { short: o.short } : {}) };
  }
  let values: Record<string, string | boolean | Array<string | boolean> | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new ConfigError(`${(err as Error).message.replace(/\. To specify a positional.*$/s, '')}. See --help for the options.`);
  }
  if (values.help === true) return { kind: 'help' };
  if (values.version === true) return { kind: 'version' };

  const raw = (flag: string): string => {
    const v = values[flag];
    if (typeof v === 'string') return v;
    if (typeof v === 'boolean') return String(v);
    const e = env[envName(flag)];
    if (e !== undefined && e !== '') return e;
    return OPTIONS.find((o) => o.flag === flag)?.default ?? '';
  };
  const list = (flag: string): string[] => {
    const v = values[flag];
    if (Array.isArray(v)) return v.map(String);
    const e = env[envName(flag)];
    // Paths are comma-separated; patterns may contain commas, so one per line.
    return e ? e.split(flag === 'redact-pattern' ? '\n' : ',').filter(Boolean) : [];
  };
  const bool = (flag: string): boolean => {
    const text = raw(flag).toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(text)) return true;
    if (['0', 'false', 'no', 'off', ''].includes(text)) return false;
    throw new ConfigError(`${envName(flag)}=${text} is not a boolean: use true or false`);
  };
  const where = (flag: string): string => (typeof values[flag] === 'string' ? `--${flag}` : env[envName(flag)] ? envName(flag) : `--${flag}`);
  const int = (flag: string, min: number, max: number): number => {
    const text = raw(flag).trim();
    const n = Number(text);
    if (!/^-?\d+$/.test(text) || n < min || n > max) {
      throw new ConfigError(`${where(flag)} ${JSON.stringify(text)}: expected a whole number from ${min} to ${max}`);
    }
    return n;
  };
  const num = (flag: string, min: number, max: number): number => {
    const text = raw(flag).trim();
    const n = Number(text);
    if (text === '' || !Number.isFinite(n) || n < min || n > max) {
      throw new ConfigError(`${where(flag)} ${JSON.stringify(text)}: expected a number from ${min} to ${max}`);
    }
    return n;
  };
  const oneOf = <T extends string>(flag: string, text: string, allowed: readonly T[]): T => {
    if (!(allowed as readonly string[]).includes(text)) {
      throw new ConfigError(`${where(flag)} ${JSON.stringify(text)}: expected one of ${allowed.join(', ')}`);
    }
    return text as T;
  };

  // --exporter, else OTEL_TRACES_EXPORTER (otlp, console, none), else the default.
  let exporterText = raw('exporter');
  const fromOtelVariable = typeof values.exporter !== 'string' && !env[envName('exporter')] && !!env.OTEL_TRACES_EXPORTER;
  if (fromOtelVariable) {
    exporterText = env.OTEL_TRACES_EXPORTER === 'none' ? '' : env.OTEL_TRACES_EXPORTER ?? '';
  }
  const spanExporterNames = ['otlp', 'console', 'jsonl'] as const;
  const exporters = [...new Set(exporterText.split(',').map((s) => s.trim()).filter(Boolean))].map((e) => {
    if (fromOtelVariable && !(spanExporterNames as readonly string[]).includes(e)) {
      throw new ConfigError(`OTEL_TRACES_EXPORTER=${JSON.stringify(exporterText)}: unknown span exporter ${JSON.stringify(e)}; expected a comma list of ${spanExporterNames.join(', ')} or none`);
    }
    return oneOf('exporter', e, spanExporterNames);
  });
  if (exporters.includes('console') && exporters.includes('jsonl')) {
    throw new ConfigError('--exporter: console and jsonl both write to stdout; choose one');
  }

  const probes = [...new Set(raw('probes').split(',').map((s) => s.trim()).filter(Boolean))].map((p) =>
    oneOf('probes', p, ['tcp', 'exec', 'bash', 'dns'] as const),
  );
  if (probes.length === 0) throw new ConfigError('--probes is empty: name at least one of tcp, exec, bash, dns');

  const exporting = resolveExport(raw, where, env, exporters);
  const metricIntervalText = raw('metric-interval-ms') || env.OTEL_METRIC_EXPORT_INTERVAL || '60000';
  const metricIntervalMs = Number(metricIntervalText);
  if (!/^\d+$/.test(metricIntervalText.trim()) || metricIntervalMs < 100 || metricIntervalMs > 86_400_000) {
    throw new ConfigError(`metric interval ${JSON.stringify(metricIntervalText)} (--metric-interval-ms or OTEL_METRIC_EXPORT_INTERVAL): expected milliseconds from 100 to 86400000`);
  }

  const redactPatterns = list('redact-pattern').map((p) => {
    try {
      return compileUserPattern(p);
    } catch (err) {
      throw new ConfigError(`--redact-pattern ${JSON.stringify(p)} refused: ${(err as Error).message}`);
    }
  });

  const logText = (typeof values['log-level'] === 'string' ? values['log-level'] : env[envName('log-level')] ?? env.OTEL_LOG_LEVEL ?? 'info').toLowerCase();
  const logLevel = oneOf('log-level', logText === 'warning' ? 'warn' : logText === 'verbose' || logText === 'all' ? 'debug' : logText, ['debug', 'info', 'warn', 'error'] as const);

  const perOctave = int('histogram-buckets-per-octave', 1, 4);
  if (perOctave === 3) throw new ConfigError('--histogram-buckets-per-octave 3: expected 1, 2 or 4');

  return {
    kind: 'run',
    config: {
      exporters,
      ...exporting,
      probes,
      pid: int('pid', 0, 4_194_304),
      port: int('port', 0, 65535),
      minLatencyNs: BigInt(Math.round(num('min-latency-ms', 0, 3_600_000) * 1e6)),
      includeLoopback: !bool('no-loopback'),
      perPeerMetrics: bool('per-peer-metrics'),
      histogramBucketsPerOctave: perOctave as 1 | 2 | 4,
      sampleSuccessRatio: num('sample-success', 0, 1),
      slowThresholdNs: BigInt(Math.round(num('slow-threshold-ms', 0, 3_600_000) * 1e6)),
      maxSpansPerSecond: int('max-spans-per-second', 0, 10_000_000),
      exportBufferSpans: int('export-buffer-spans', 1, 10_000_000),
      metricIntervalMs,
      traceExecs: oneOf('trace-execs', raw('trace-execs'), ['all', 'interactive', 'none'] as const),
      bashPaths: list('bash'),
      ...dnsSourceAndLibcs(oneOf('dns-source', raw('dns-source'), ['auto', 'sockets', 'libc'] as const), list('libc'), where),
      dnsMetricNames: bool('dns-metric-names'),
      redact: !bool('no-redact'),
      redactPatterns,
      durationSeconds: num('duration', 0, 31_536_000),
      bpfDir: raw('bpf-dir') || undefined,
      btfPath: raw('btf') || undefined,
      logLevel,
      statsIntervalSeconds: num('stats-interval', 0, 86_400),
      serviceNameFrom: (() => {
        try {
          return parseServiceNameSources(raw('service-name-from'));
        } catch (err) {
          throw new ConfigError(`${where('service-name-from')} ${JSON.stringify(raw('service-name-from'))}: ${(err as Error).message}`);
        }
      })(),
      cgroupRoot: raw('cgroup-root') || undefined,
      perContainerMetrics: bool('per-container-metrics'),
      healthPort: int('health-port', 0, 65535),
    },
  };
}

/** --libc names libraries for the libc source: with auto it chooses that source, with sockets it contradicts it. */
function dnsSourceAndLibcs(dnsSource: DnsSource, libcPaths: string[], where: (flag: string) => string): Pick<AgentConfig, 'dnsSource' | 'libcPaths'> {
  if (libcPaths.length > 0 && dnsSource === 'sockets') {
    throw new ConfigError(`${where('libc')} names C libraries to probe, but ${where('dns-source')} is sockets: use --dns-source libc (or auto), or leave --libc out`);
  }
  return { dnsSource: libcPaths.length > 0 ? 'libc' : dnsSource, libcPaths };
}

type ExportSettings = Pick<AgentConfig,
  'otlpEndpoint' | 'otlpMetricsEndpoint' | 'tracesProtocol' | 'metricsProtocol' | 'metricsExporters' |
  'prometheusHost' | 'prometheusPort' | 'metricsTemporality' | 'otlpTracesTimeoutMs'>;

const PROTOCOLS = ['grpc', 'http/protobuf'] as const;

/**
 * Exporter settings from flags and the standard variables: flag, then EBPF_OTEL_*, then the
 * signal-specific OTEL_* variable, then the general one, then the spec's default.
 */
function resolveExport(
  raw: (flag: string) => string,
  where: (flag: string) => string,
  env: Env,
  spanExporters: readonly ExporterName[],
): ExportSettings {
  const otel = (name: string): string | undefined => {
    const v = env[name]?.trim();
    return v ? v : undefined;
  };

  // Protocols.
  const protocolFor = (signal: 'TRACES' | 'METRICS'): OtlpProtocol => {
    let source = where('otlp-protocol');
    let text = raw('otlp-protocol');
    if (!text) {
      for (const name of [`OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`, 'OTEL_EXPORTER_OTLP_PROTOCOL']) {
        if (otel(name)) { source = name; text = otel(name) as string; break; }
      }
    }
    if (!text) return 'grpc';
    const value = text.toLowerCase();
    if (value === 'http/json') {
      throw new ConfigError(`${source}=${text}: OTLP over http/json is not supported; use http/protobuf or grpc`);
    }
    if (!(PROTOCOLS as readonly string[]).includes(value)) {
      throw new ConfigError(`${source}=${JSON.stringify(text)}: unknown OTLP protocol; expected one of ${PROTOCOLS.join(', ')}`);
    }
    return value as OtlpProtocol;
  };
  const tracesProtocol = protocolFor('TRACES');
  const metricsProtocol = protocolFor('METRICS');

  // Endpoints: a base URL gets the signal's path for http/protobuf; a signal-specific URL is used as is.
  const endpointFor = (signal: 'TRACES' | 'METRICS', protocol: OtlpProtocol): string => {
    const path = signal === 'TRACES' ? 'v1/traces' : 'v1/metrics';
    const withPath = (base: string): string => (protocol === 'grpc' ? base : `${base.replace(/\/+$/, '')}/${path}`);
    if (raw('otlp-endpoint')) return withPath(validateEndpoint(raw('otlp-endpoint'), where('otlp-endpoint')));
    const specific = `OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`;
    if (otel(specific)) return validateEndpoint(otel(specific) as string, specific);
    if (otel('OTEL_EXPORTER_OTLP_ENDPOINT')) return withPath(validateEndpoint(otel('OTEL_EXPORTER_OTLP_ENDPOINT') as string, 'OTEL_EXPORTER_OTLP_ENDPOINT'));
    return protocol === 'grpc' ? 'http://localhost:4317' : `http://localhost:4318/${path}`;
  };

  // Metrics exporters: --metrics-exporter / EBPF_OTEL_METRICS_EXPORTER, else OTEL_METRICS_EXPORTER,
  // else where the spans go: otlp, else jsonl or console on stdout, so the kernel's losses are
  // exported as metrics whatever the run (none only when asked for).
  let metricsSource = where('metrics-exporter');
  let metricsText = raw('metrics-exporter');
  if (!metricsText && otel('OTEL_METRICS_EXPORTER')) {
    metricsSource = 'OTEL_METRICS_EXPORTER';
    metricsText = otel('OTEL_METRICS_EXPORTER') as string;
  }
  if (!metricsText) metricsText = spanExporters.includes('otlp') ? 'otlp' : spanExporters.includes('jsonl') ? 'jsonl' : 'console';
  const names = [...new Set(metricsText.split(',').map((m) => m.trim().toLowerCase()).filter(Boolean))];
  const allowed = ['otlp', 'prometheus', 'console', 'jsonl', 'none'];
  for (const n of names) {
    if (!allowed.includes(n)) {
      throw new ConfigError(`${metricsSource}=${JSON.stringify(metricsText)}: unknown metrics exporter ${JSON.stringify(n)}; expected a comma list of ${allowed.join(', ')}`);
    }
  }
  if (names.includes('none') && names.length > 1) {
    throw new ConfigError(`${metricsSource}=${JSON.stringify(metricsText)}: "none" cannot be combined with other exporters`);
  }
  const metricsExporters = names.filter((n): n is MetricsExporterName => n !== 'none');

  // Prometheus endpoint (spec defaults: localhost:9464).
  const prometheusHost = raw('prometheus-host') || otel('OTEL_EXPORTER_PROMETHEUS_HOST') || 'localhost';
  const portSource = raw('prometheus-port') ? where('prometheus-port') : 'OTEL_EXPORTER_PROMETHEUS_PORT';
  const portText = raw('prometheus-port') || otel('OTEL_EXPORTER_PROMETHEUS_PORT') || '9464';
  const prometheusPort = Number(portText);
  if (!/^\d+$/.test(portText) || prometheusPort < 1 || prometheusPort > 65535) {
    throw new ConfigError(`${portSource}=${JSON.stringify(portText)}: expected a port from 1 to 65535`);
  }

  const temporalityText = (otel('OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE') ?? 'cumulative').toLowerCase();
  if (!['cumulative', 'delta', 'lowmemory'].includes(temporalityText)) {
    throw new ConfigError(`OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=${JSON.stringify(temporalityText)}: expected cumulative, delta or lowmemory`);
  }

  let otlpTracesTimeoutMs = 10_000;
  for (const name of ['OTEL_EXPORTER_OTLP_TRACES_TIMEOUT', 'OTEL_EXPORTER_OTLP_TIMEOUT']) {
    const text = otel(name);
    if (text === undefined) continue;
    if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 600_000) {
      throw new ConfigError(`${name}=${JSON.stringify(text)}: expected milliseconds from 1 to 600000`);
    }
    otlpTracesTimeoutMs = Number(text);
    break;
  }

  // TLS files and headers are read by the OTLP exporters themselves; check them here so a typo is
  // reported at start, naming the variable, instead of a warning and a plaintext/unauthenticated retry.
  const usesOtlp = spanExporters.includes('otlp') || metricsExporters.includes('otlp');
  if (usesOtlp) {
    for (const signal of ['', 'TRACES_', 'METRICS_']) {
      for (const kind of ['CERTIFICATE', 'CLIENT_CERTIFICATE', 'CLIENT_KEY']) {
        const name = `OTEL_EXPORTER_OTLP_${signal}${kind}`;
        const file = otel(name);
        if (file === undefined) continue;
        try {
          accessSync(file, fsConstants.R_OK);
        } catch (err) {
          throw new ConfigError(`${name}=${file}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); give the path of a PEM file`);
        }
      }
      const cert = otel(`OTEL_EXPORTER_OTLP_${signal}CLIENT_CERTIFICATE`);
      const key = otel(`OTEL_EXPORTER_OTLP_${signal}CLIENT_KEY`);
      if ((cert === undefined) !== (key === undefined)) {
        throw new ConfigError(`OTEL_EXPORTER_OTLP_${signal}CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_${signal}CLIENT_KEY go together: set both or neither`);
      }
      const headers = otel(`OTEL_EXPORTER_OTLP_${signal}HEADERS`);
      if (headers !== undefined) {
        for (const pair of headers.split(',')) {
          const eq = pair.indexOf('=');
          if (eq <= 0 || !pair.slice(0, eq).trim()) {
            // The value may be a secret: name the variable and the position, not the text.
            throw new ConfigError(`OTEL_EXPORTER_OTLP_${signal}HEADERS: expected key=value pairs separated by commas (e.g. Authorization=Bearer%20<token>); a pair has no "key="`);
          }
        }
      }
    }
  }

  return {
    tracesProtocol,
    metricsProtocol,
    otlpEndpoint: endpointFor('TRACES', tracesProtocol),
    otlpMetricsEndpoint: endpointFor('METRICS', metricsProtocol),
    metricsExporters,
    prometheusHost,
    prometheusPort,
    metricsTemporality: temporalityText as TemporalityPreference,
    otlpTracesTimeoutMs,
  };
}

/** The OTLP exporter wants a URL; a bare host:port is accepted and given http://. */
export function validateEndpoint(text: string, source: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new ConfigError(`${source}=${JSON.stringify(text)} is not a URL: use e.g. http://localhost:4317`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${source}=${JSON.stringify(text)}: the OTLP exporter takes http:// or https:// (got ${url.protocol})`);
  }
  if (!url.hostname) throw new ConfigError(`${source}=${JSON.stringify(text)} has no host: use e.g. http://localhost:4317`);
  if (url.port && (Number(url.port) < 1 || Number(url.port) > 65535)) {
    throw new ConfigError(`${source}=${JSON.stringify(text)}: port out of range`);
  }
  return withScheme;
}
