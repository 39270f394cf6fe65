/**
 * The agent's configuration: command-line flags, each with an EBPF_OTEL_*
 * environment variable, plus the standard OTEL_* variables. Everything is
 * validated here, once; the rest of the agent receives typed values.
 */
import { parseArgs } from 'node:util';

export type ExporterName = 'otlp' | 'console' | 'jsonl';
export type ProbeName = 'tcp' | 'exec' | 'bash' | 'dns';
export type TraceExecsMode = 'all' | 'interactive' | 'none';
export type LogLevelName = 'debug' | 'info' | 'warn' | 'error';

export interface AgentConfig {
  exporters: ExporterName[];
  /** OTLP gRPC endpoint for traces (undefined: http://localhost:4317). */
  otlpEndpoint: string | undefined;
  /** OTLP gRPC endpoint for metrics (undefined: http://localhost:4317). */
  otlpMetricsEndpoint: string | undefined;
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
  /** C libraries whose resolver the dns probe watches (empty: found automatically). */
  libcPaths: string[];
  /** dns.question.name on DNS metrics (high cardinality). */
  dnsMetricNames: boolean;
  redact: boolean;
  redactPatterns: RegExp[];
  durationSeconds: number;
  bpfDir: string | undefined;
  btfPath: string | undefined;
  logLevel: LogLevelName;
  statsIntervalSeconds: number;
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
  { flag: 'otlp-endpoint', type: 'string', arg: 'URL', default: '', help: 'OTLP gRPC endpoint (default: OTEL_EXPORTER_OTLP_ENDPOINT, else http://localhost:4317)' },
  { flag: 'probes', type: 'string', arg: 'LIST', default: 'tcp,exec,bash,dns', help: 'what to watch: tcp (connects), exec (processes), bash (typed commands), dns (name lookups through the C library, names on connects)' },
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
  { flag: 'trace-execs', type: 'string', arg: 'MODE', default: 'interactive', help: 'process spans for: interactive (started from a traced bash), all, none; execs are always counted in metrics' },
  { flag: 'bash', type: 'string', multiple: true, arg: 'PATH', default: '', help: 'bash binary to trace (repeatable; default /bin/bash and /usr/bin/bash)' },
  { flag: 'libc', type: 'string', multiple: true, arg: 'PATH', default: '', help: 'C library whose resolver the dns probe watches (repeatable; default: libc.so.6 from /etc/ld.so.cache, musl, and the C libraries running processes have mapped)' },
  { flag: 'dns-metric-names', type: 'boolean', default: 'false', help: 'add dns.question.name to DNS metrics (high cardinality)' },
  { flag: 'no-redact', type: 'boolean', default: 'false', help: 'do not redact secrets in command lines (default: redacted)' },
  { flag: 'redact-pattern', type: 'string', multiple: true, arg: 'REGEX', default: '', help: 'extra secret pattern to redact in command lines (repeatable)' },
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
    'Usage: ebpf-otel [options]      (as root, or with CAP_BPF, CAP_PERFMON and CAP_SYS_RESOURCE)',
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
    'OTEL_EXPORTER_OTLP_COMPRESSION, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_METRIC_EXPORT_INTERVAL,',
    'OTEL_TRACES_EXPORTER (otlp, console, none), OTEL_LOG_LEVEL.',
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
  if (typeof values.exporter !== 'string' && !env[envName('exporter')] && env.OTEL_TRACES_EXPORTER) {
    exporterText = env.OTEL_TRACES_EXPORTER === 'none' ? '' : env.OTEL_TRACES_EXPORTER;
  }
  const exporters = [...new Set(exporterText.split(',').map((s) => s.trim()).filter(Boolean))].map((e) =>
    oneOf('exporter', e, ['otlp', 'console', 'jsonl'] as const),
  );
  if (exporters.includes('console') && exporters.includes('jsonl')) {
    throw new ConfigError('--exporter: console and jsonl both write to stdout; choose one');
  }

  const probes = [...new Set(raw('probes').split(',').map((s) => s.trim()).filter(Boolean))].map((p) =>
    oneOf('probes', p, ['tcp', 'exec', 'bash', 'dns'] as const),
  );
  if (probes.length === 0) throw new ConfigError('--probes is empty: name at least one of tcp, exec, bash, dns');

  // Traces and metrics endpoints: --otlp-endpoint for both, else the standard
  // variables (signal-specific first). Validated here so a typo is reported at start.
  const endpointFrom = (specific: string): string | undefined => {
    if (raw('otlp-endpoint')) return validateEndpoint(raw('otlp-endpoint'), where('otlp-endpoint'));
    for (const name of [specific, 'OTEL_EXPORTER_OTLP_ENDPOINT']) {
      const value = env[name];
      if (value) return validateEndpoint(value, name);
    }
    return undefined;
  };
  const otlpEndpoint = endpointFrom('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const otlpMetricsEndpoint = endpointFrom('OTEL_EXPORTER_OTLP_METRICS_ENDPOINT');

  const metricIntervalText = raw('metric-interval-ms') || env.OTEL_METRIC_EXPORT_INTERVAL || '60000';
  const metricIntervalMs = Number(metricIntervalText);
  if (!/^\d+$/.test(metricIntervalText.trim()) || metricIntervalMs < 100 || metricIntervalMs > 86_400_000) {
    throw new ConfigError(`metric interval ${JSON.stringify(metricIntervalText)} (--metric-interval-ms or OTEL_METRIC_EXPORT_INTERVAL): expected milliseconds from 100 to 86400000`);
  }

  const redactPatterns = list('redact-pattern').map((p) => {
    try {
      return new RegExp(p, 'g');
    } catch (err) {
      throw new ConfigError(`--redact-pattern ${JSON.stringify(p)} is not a valid regular expression: ${(err as Error).message}`);
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
      otlpEndpoint,
      otlpMetricsEndpoint,
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
      libcPaths: list('libc'),
      dnsMetricNames: bool('dns-metric-names'),
      redact: !bool('no-redact'),
      redactPatterns,
      durationSeconds: num('duration', 0, 31_536_000),
      bpfDir: raw('bpf-dir') || undefined,
      btfPath: raw('btf') || undefined,
      logLevel,
      statsIntervalSeconds: num('stats-interval', 0, 86_400),
    },
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
    throw new ConfigError(`${source}=${JSON.stringify(text)}: the OTLP gRPC exporter takes http:// or https:// (got ${url.protocol})`);
  }
  if (!url.hostname) throw new ConfigError(`${source}=${JSON.stringify(text)} has no host: use e.g. http://localhost:4317`);
  if (url.port && (Number(url.port) < 1 || Number(url.port) > 65535)) {
    throw new ConfigError(`${source}=${JSON.stringify(text)}: port out of range`);
  }
  return withScheme;
}
