/**
 * What both dns end-to-end suites (the libc source and the socket source)
 * do the same way: the real Jaeger and Collector, a listener to connect to,
 * the agent exporting to both jsonl and the Collector; dnsctl.py in the lab;
 * a curl command typed into a real bash (tmux) in the lab's namespace, its
 * trace read back from Jaeger: line -> curl -> dns lookup + tcp connect.
 */
import path from 'node:path';
import { startAgent, type AgentRun } from './agent';
import { flattenSpans, startCollector, startJaeger, waitFor, type CollectorHandle, type FlatSpan, type JaegerHandle } from './backends';
import type { DnsLab } from './dns-lab';
import { freePort, listen, type Listener } from './net';
import { TmuxShell } from './tmux';

export interface DnsBackends {
  readonly jaeger: JaegerHandle;
  readonly collector: CollectorHandle;
  /** Listens on every 127.x.y.z: each name of a lab can have its own address. */
  readonly listener: Listener;
  readonly port: number;
}

export async function startDnsBackends(): Promise<DnsBackends> {
  const jaeger = await startJaeger();
  const collector = await startCollector({ jaeger });
  const port = await freePort();
  return { jaeger, collector, port, listener: await listen('0.0.0.0', port) };
}

/** The agent as both suites run it: every probe, spans to jsonl and the Collector, metrics each second. */
export async function startDnsAgent(backends: DnsBackends, service: string, extraArgs: readonly string[]): Promise<AgentRun> {
  const agent = startAgent(
    [
      '--exporter', 'otlp,jsonl',
      '--otlp-endpoint', backends.collector.endpoints.otlpGrpc,
      '--probes', 'tcp,exec,bash,dns',
      '--trace-execs', 'interactive',
      '--port', String(backends.port),
      '--max-spans-per-second', '0',
      '--metric-interval-ms', '1000',
      ...extraArgs,
    ],
    { OTEL_SERVICE_NAME: service },
  );
  await agent.waitForStderr(/running/);
  return agent;
}

/** Stops what startDnsAgent and startDnsBackends started (each may be missing: a failed start). */
export async function stopDnsBackends(agent: AgentRun | undefined, backends: DnsBackends | undefined, lab: DnsLab | undefined): Promise<void> {
  await agent?.stop();
  backends?.listener.stop();
  lab?.stop();
  await backends?.collector.stop();
  await backends?.jaeger.stop();
}

const DNSCTL = path.resolve(__dirname, '../../../test/helpers/dnsctl.py');

/** One lookup as dnsctl.py saw it: t0/t1 are CLOCK_MONOTONIC ns around getaddrinfo(). */
export interface LookupResult {
  name: string;
  tid: number;
  t0: number;
  t1: number;
  ok: boolean;
  error: number | null;
  addrs: string[];
  sport: number | null;
}
export interface DnsctlRun {
  pid: number;
  results: LookupResult[];
}

/** Runs dnsctl.py with `args` in the lab's namespace. */
export async function dnsctl(lab: DnsLab, ...args: string[]): Promise<DnsctlRun> {
  return JSON.parse((await lab.run(['python3', DNSCTL, ...args])).stdout) as DnsctlRun;
}

export interface TypedTrace {
  /** The command's span and its whole trace. */
  readonly root: FlatSpan;
  readonly trace: readonly FlatSpan[];
  readonly curl: FlatSpan | undefined;
  readonly lookup: FlatSpan;
  readonly connect: FlatSpan;
  /** The trace's parent links, for assertion messages. */
  readonly shape: string;
}

/**
 * Types `curl http://<name>:<port>/` into a bash started in the lab's namespace after the probes are
 * attached (as a login would), and waits for its trace in Jaeger with a connect and a lookup that
 * `isLookup` accepts.
 */
export async function typedCurlTrace(opts: {
  lab: DnsLab;
  jaeger: JaegerHandle;
  agent: AgentRun;
  service: string;
  since: number;
  name: string;
  port: number;
  isLookup: (span: FlatSpan) => boolean;
}): Promise<TypedTrace> {
  const [cmd, ...rest] = opts.lab.wrap(['bash', '--norc', '--noprofile']);
  const shell = TmuxShell.start('dns-typed', [cmd, ...rest].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' '));
  try {
    await shell.waitForPrompt();
    const command = `curl -s -o /dev/null --max-time 10 http://${opts.name}:${opts.port}/; echo done-$((6*7))`;
    shell.type(command);
    await shell.waitFor(/done-42/);
    const spans = await waitFor(
      async () => flattenSpans(await opts.jaeger.traces(opts.service, opts.since)),
      (all) => {
        const root = all.find((s) => s.attributes['process.command_line'] === command);
        return root !== undefined && all.some((s) => s.traceId === root.traceId && s.name === 'tcp connect') &&
          all.some((s) => s.traceId === root.traceId && s.name === 'dns lookup' && opts.isLookup(s));
      },
      { timeoutMs: 30_000, intervalMs: 500, what: 'the typed command\'s trace with its dns lookup and connect' },
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nagent stderr:\n${opts.agent.stderr().slice(-3000)}`);
    });
    const root = spans.find((s) => s.attributes['process.command_line'] === command) as FlatSpan;
    const trace = spans.filter((s) => s.traceId === root.traceId);
    return {
      root,
      trace,
      curl: trace.find((s) => s.name === 'curl' && s.parentSpanId === root.spanId),
      lookup: trace.find((s) => s.name === 'dns lookup' && opts.isLookup(s)) as FlatSpan,
      connect: trace.find((s) => s.name === 'tcp connect') as FlatSpan,
      shape: trace.map((s) => `${s.spanId} <- ${s.parentSpanId || '(root)'} ${s.name}`).join('\n'),
    };
  } finally {
    shell.kill();
  }
}
