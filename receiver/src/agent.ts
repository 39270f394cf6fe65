/**
 * Wires the stages and owns their lifecycle:
 *   kernel programs -> ring buffers (addon) -> decoders -> clock ->
 *   span and metric builders -> OpenTelemetry SDK -> exporters.
 * Shutdown runs in reverse: stop reading, drain, detach, flush, export.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createNoopMeter, trace, type Meter, type Tracer } from '@opentelemetry/api';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { MeterProvider, PeriodicExportingMetricReader, type MetricProducer, type PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { TracerProvider, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { clockPair, libbpfVersion } from '../../addon/lib/index';
import { KernelClock } from './clock';
import { CommandMetrics } from './commands/metrics';
import { createNameRedactor, createRedactor } from './commands/redact';
import { CommandTracer } from './commands/tracer';
import type { AgentConfig, ExporterName, ProbeName } from './config';
import { decodeEvent, eventTimeNs, type EventOf, type KernelEvent } from './decode/index';
import { DecodeError } from './decode/layout';
import { TcpOutcome } from './decode/tcp-connect';
import { DnsLookups } from './dns/lookups';
import { DnsMetrics } from './dns/metrics';
import { PeerNames } from './dns/names';
import { DnsLookupSpanBuilder } from './dns/spans';
import { ConsoleLineExporter, JsonLinesExporter } from './export/console';
import { ResilientMetricExporter } from './export/metrics';
import { BufferedSpanProcessor } from './export/span-pipeline';
import type { Logger } from './log';
import { preflight } from './preflight';
import { ensureTracefs } from './probes/tracefs';
import { BashProbe } from './probes/bash';
import { DnsProbe } from './probes/dns';
import { ProcProbe } from './probes/proc';
import { TcpProbe } from './probes/tcp';
import { ReorderBuffer } from './reorder';
import { buildResource } from './resource';
import { SpanGate } from './sampling';
import {
  ATTR_EXPORTER,
  ATTR_PROBE,
  ATTR_REASON,
  METRIC_DECODE_ERRORS,
  METRIC_EVENTS_LOST,
  METRIC_EVENTS_RECEIVED,
  METRIC_SPANS_DROPPED,
  METRIC_SPANS_EXPORTED,
  METRIC_SPANS_SAMPLED_OUT,
} from './semconv';
import { AgentStats, type ProbeId } from './stats';
import { TcpConnectMetricProducer } from './tcp/metrics';
import { TcpConnectSpanBuilder } from './tcp/spans';
import { UserNames } from './users';

export const AGENT_VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
})();

export function packageRoot(): string {
  // dist/receiver/src/agent.js -> the package root, three levels up.
  return path.resolve(__dirname, '../../..');
}

/** A fatal start-up problem: the message names the problem and the fix. */
export class AgentStartError extends Error {}

interface ProbeHandle {
  id: ProbeId;
  drain(): void;
  close(): void;
  /** Kernel-side loss counters by reason (the probes keep the last values once closed). */
  lost(): KernelLoss[];
}

/** Events a probe lost in the kernel, for one reason (ebpf_otel.events.lost). */
interface KernelLoss {
  readonly probe: ProbeId;
  readonly reason: string;
  readonly count: number;
}

/** How long events wait to be put back in kernel time order across ring buffers. */
const REORDER_WINDOW_NS = 250_000_000n;

export class Agent {
  readonly stats = new AgentStats();
  private readonly probes: ProbeHandle[] = [];
  private tracerProvider: TracerProvider | undefined;
  private meterProvider: MeterProvider | undefined;
  private clock: KernelClock | undefined;
  private statsTimer: NodeJS.Timeout | undefined;
  private clockTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  private commands: CommandTracer | undefined;
  private reorder: ReorderBuffer | undefined;
  /** What tcp_connect events go through: set when the tcp probe loads. */
  private tcp: { gate: SpanGate; spans: TcpConnectSpanBuilder } | undefined;
  private dns: DnsLookups | undefined;
  /** Names connects by what their process resolved (dns probe). */
  private readonly peerNames = new PeerNames();
  private dnsMetrics: DnsMetrics | undefined;

  constructor(
    private readonly config: AgentConfig,
    private readonly log: Logger,
  ) {}

  bpfDir(): string {
    return this.config.bpfDir ?? path.join(packageRoot(), 'build/bpf');
  }

  async start(): Promise<void> {
    const config = this.config;
    preflight(this.bpfDir(), config.probes, config.btfPath);
    this.log.debug(`libbpf ${libbpfVersion()}`);

    this.clock = new KernelClock(clockPair);
    this.clockTimer = setInterval(() => this.clock?.refresh(), 10_000).unref();

    const resource = await buildResource(AGENT_VERSION);

    // Traces: one buffered processor per exporter, so a slow collector cannot hold the console back.
    const spanProcessors: SpanProcessor[] = [];
    for (const name of config.exporters) {
      const exporter = this.spanExporter(name);
      const interactive = name !== 'otlp';
      const processor = new BufferedSpanProcessor(exporter, {
        name,
        maxBufferedSpans: config.exportBufferSpans,
        maxBatchSize: interactive ? 256 : 512,
        flushIntervalMs: interactive ? 100 : 1000,
        initialBackoffMs: 1000,
        maxBackoffMs: 30_000,
        shutdownTimeoutMs: 5000,
        log: this.log,
        onDropped: (n, reason) => this.stats.spansDropped.add({ exporter: name, reason }, n),
        onExported: (n) => this.stats.spansExported.add({ exporter: name }, n),
      });
      spanProcessors.push(processor);
    }
    this.tracerProvider = new TracerProvider({ resource, spanProcessors });
    const tracer = this.tracerProvider.getTracer('ebpf-otel', AGENT_VERSION);

    // Probes: load and attach everything first, start reading last. A probe
    // that cannot load is fatal only when no probe at all can run.
    const users = new UserNames();
    const producers: MetricProducer[] = [];
    const failures: string[] = [];
    const gate = new SpanGate({
      successRatio: config.sampleSuccessRatio,
      slowThresholdNs: config.slowThresholdNs,
      maxPerSecond: config.maxSpansPerSecond,
    });
    const starters: Array<() => void> = [];

    const loaders: Record<ProbeName, () => () => void> = {
      tcp: () => this.loadTcpProbe(tracer, users, gate, producers),
      exec: () => this.loadExecProbe(),
      bash: () => this.loadBashProbe(),
      dns: () => this.loadDnsProbe(tracer, users),
    };
    for (const name of config.probes) {
      try {
        starters.push(loaders[name]());
      } catch (err) {
        failures.push(`${name}: ${(err as Error).message}`);
      }
    }

    if (this.probes.length === 0) {
      throw new AgentStartError(failures.join('\n') || 'no probe could be started');
    }
    for (const f of failures) this.log.warn(`${f} (continuing without it)`);

    // Metrics: the kernel's aggregates through MetricProducers, our own health as SDK instruments.
    if (config.exporters.includes('otlp')) {
      const exporter = new ResilientMetricExporter(
        new OTLPMetricExporter(config.otlpMetricsEndpoint ? { url: config.otlpMetricsEndpoint } : {}) as PushMetricExporter,
        this.log,
      );
      const reader = new PeriodicExportingMetricReader({
        exporter,
        exportIntervalMillis: config.metricIntervalMs,
        exportTimeoutMillis: Math.min(30_000, config.metricIntervalMs),
        metricProducers: producers,
      });
      this.meterProvider = new MeterProvider({ resource, readers: [reader] });
    }
    const meter = this.meterProvider?.getMeter('ebpf-otel', AGENT_VERSION) ?? createNoopMeter();
    this.registerSelfMetrics(meter);

    this.dnsMetrics = new DnsMetrics(meter, config.dnsMetricNames);
    const commandMetrics = new CommandMetrics(meter);
    this.commands = new CommandTracer(tracer, this.clock, {
      traceExecs: config.traceExecs,
      redactor: createRedactor(config.redact, config.redactPatterns),
      users,
      onCommand: (name) => commandMetrics.command(name),
      onCommandEnd: (name, seconds) => commandMetrics.commandDuration(name, seconds),
      onExec: (name) => commandMetrics.exec(name),
    });
    this.reorder = new ReorderBuffer(REORDER_WINDOW_NS, (err) => this.countDecodeError(err));
    this.sweepTimer = setInterval(() => this.commands?.sweep(process.hrtime.bigint()), 30_000).unref();
    for (const start of starters) start();

    if (config.statsIntervalSeconds > 0) {
      this.statsTimer = setInterval(() => this.log.info(this.summary()), config.statsIntervalSeconds * 1000).unref();
    }
    const where = config.exporters.map((e) => (e === 'otlp' ? `otlp (${config.otlpEndpoint ?? 'http://localhost:4317'})` : e));
    this.log.info(`exporting to ${where.join(', ') || 'nowhere (no exporter)'}`);
  }

  private readonly onFramingError = (): void => this.stats.decodeErrors.add({ reason: 'framing' });

  /** Every ring buffer's records: one decoder table, routed on the event's kind. */
  private onRecord(probe: ProbeId): (record: Buffer) => void {
    return (record) => {
      this.stats.eventsReceived.add({ probe });
      this.decode(() => this.route(decodeEvent(record)));
    };
  }

  private route(event: KernelEvent): void {
    switch (event.kind) {
      case 'tcp_connect':
        this.routeTcp(event);
        return;
      case 'proc_exec':
        this.reorder?.push(event.timestampNs, () => this.commands?.onExec(event));
        return;
      case 'proc_fork':
        this.reorder?.push(event.timestampNs, () => this.commands?.onFork(event));
        return;
      case 'proc_exit':
        this.reorder?.push(event.timestampNs, () => {
          this.commands?.onExit(event);
          this.peerNames.forget(event.pid);
        });
        return;
      case 'bash_readline':
        this.reorder?.push(event.timestampNs, () => this.commands?.onReadline(event));
        return;
      case 'bash_prompt':
        this.reorder?.push(event.timestampNs, () => this.commands?.onPrompt(event));
        return;
      case 'dns_lookup':
        if (!this.dns) throw new DecodeError('unknown_type', 'dns_lookup event without the dns probe');
        this.dns.onLookup(event);
        return;
    }
    // A kind added to the decoder table without a route here does not compile.
    const unrouted: never = event;
    throw new DecodeError('unknown_type', `no route for ${(unrouted as KernelEvent).kind}`);
  }

  private routeTcp(event: EventOf<'tcp_connect'>): void {
    const tcp = this.tcp;
    if (!tcp) throw new DecodeError('unknown_type', 'tcp_connect event without the tcp probe');
    // Decided before queueing: what is left out costs nothing more.
    const decision = tcp.gate.decide(event.outcome !== TcpOutcome.Established, event.endNs - event.startNs);
    if (decision !== 'keep') {
      this.stats.spansSampledOut.add({ reason: decision });
      return;
    }
    this.reorder?.push(eventTimeNs(event), () =>
      tcp.spans.emit(event, this.commands?.contextFor(event.pid), this.peerNames.nameFor(event.pid, event.peerAddress, event.startNs)),
    );
  }

  /** Settings every probe gets: the kernel BTF, and never the agent's own activity. */
  private probeBase(): { btfPath: string | undefined; excludeTgid: number } {
    return { btfPath: this.config.btfPath, excludeTgid: process.pid };
  }

  /** Loads and attaches; returns what starts reading. Each loader throws when its probe cannot run. */
  private loadTcpProbe(tracer: Tracer, users: UserNames, gate: SpanGate, producers: MetricProducer[]): () => void {
    const config = this.config;
    // The tracepoint's id is read from tracefs (exec and bash need none).
    ensureTracefs(this.log);
    const probe = TcpProbe.load(this.bpfDir(), {
      ...this.probeBase(),
      filterTgid: config.pid,
      dport: config.port,
      includeLoopback: config.includeLoopback,
      perPeerHistogram: config.perPeerMetrics,
      minLatencyNs: config.minLatencyNs,
    });
    this.addProbe('tcp', probe, () => {
      const s = probe.stats();
      return [
        { probe: 'tcp', reason: 'ringbuf_full', count: Number(s.ringbufDrops) },
        { probe: 'tcp', reason: 'inflight_table_full', count: Number(s.inflightFull) },
      ];
    });
    producers.push(new TcpConnectMetricProducer(probe.histogramSource(), config.histogramBucketsPerOctave));
    this.tcp = { gate, spans: new TcpConnectSpanBuilder(tracer, this.requireClock(), users) };
    this.log.info('tcp: watching TCP connects (tracepoint sock:inet_sock_set_state)');
    return () => probe.start(this.onRecord('tcp'), this.onFramingError);
  }

  private loadExecProbe(): () => void {
    const probe = ProcProbe.load(this.bpfDir(), { ...this.probeBase(), filterTgid: 0 });
    this.addProbe('exec', probe, () => [{ probe: 'exec', reason: 'ringbuf_full', count: Number(probe.stats().ringbufDrops) }]);
    this.log.info('exec: watching process exec, fork and exit (tp_btf sched_process_*)');
    return () => probe.start(this.onRecord('exec'), this.onFramingError);
  }

  private loadBashProbe(): () => void {
    const config = this.config;
    const shells = config.bashPaths.length > 0 ? config.bashPaths : ['/bin/bash', '/usr/bin/bash'].filter((p) => existsSync(p));
    const probe = BashProbe.load(this.bpfDir(), { ...this.probeBase(), filterTgid: 0, shells });
    this.addProbe('bash', probe, () => {
      const s = probe.stats();
      return [
        { probe: 'bash', reason: 'ringbuf_full', count: Number(s.ringbufDrops) },
        { probe: 'bash', reason: 'line_unreadable', count: Number(s.lineUnreadable) },
      ];
    });
    for (const s of probe.skipped) this.log.warn(`bash: ${s.shell} skipped: ${s.reason}`);
    for (const t of probe.targets) {
      this.log.info(`bash: watching commands typed in ${t.shell}${t.module !== t.shell ? ` (readline in ${t.module})` : ''}` +
        (t.lineProbe === 'return' ? ' (fallback probe: the first line typed into an already waiting shell is missed)' : '') +
        `; used by ${t.runningShells} of the ${t.shellProcesses} shell processes alive now`);
      if (t.runningShells === 0 && t.shellProcesses > 0) {
        this.log.warn(`bash: none of the ${t.shellProcesses} live ${t.shell} processes uses ${t.module}: only shells started from now on will be seen there`);
      }
    }
    return () => probe.start(this.onRecord('bash'), this.onFramingError);
  }

  private loadDnsProbe(tracer: Tracer, users: UserNames): () => void {
    const config = this.config;
    const probe = DnsProbe.load(this.bpfDir(), { ...this.probeBase(), filterTgid: config.pid, libcPaths: config.libcPaths });
    this.addProbe('dns', probe, () => {
      const s = probe.stats();
      return [
        { probe: 'dns', reason: 'ringbuf_full', count: Number(s.ringbufDrops) },
        { probe: 'dns', reason: 'inflight_table_full', count: Number(s.inflightFull) },
      ];
    });
    for (const s of probe.skipped) this.log.warn(`dns: ${s.path} skipped: ${s.reason}`);
    for (const t of probe.targets) {
      this.log.info(`dns: watching ${[...t.functions.keys()].join(', ')} in ${t.path} (${t.via})` +
        (t.missing.length > 0 ? `; not exported there: ${t.missing.join(', ')}` : ''));
    }
    const filterName = createNameRedactor(config.redact, config.redactPatterns);
    this.dns = new DnsLookups({
      names: this.peerNames,
      spans: new DnsLookupSpanBuilder(tracer, this.requireClock(), filterName, users),
      // Its own budget: a lookup storm cannot use up the connects' spans.
      gate: new SpanGate({ successRatio: config.sampleSuccessRatio, slowThresholdNs: config.slowThresholdNs, maxPerSecond: config.maxSpansPerSecond }),
      filterName,
      metrics: () => this.dnsMetrics,
      contextFor: (pid) => this.commands?.contextFor(pid),
      schedule: (timeNs, run) => this.reorder?.push(timeNs, run),
      onSampledOut: (reason) => this.stats.spansSampledOut.add({ reason }),
    });
    return () => probe.start(this.onRecord('dns'), this.onFramingError);
  }

  private requireClock(): KernelClock {
    if (!this.clock) throw new Error('internal: the kernel clock is set up before the probes');
    return this.clock;
  }

  private spanExporter(name: ExporterName): SpanExporter {
    switch (name) {
      case 'otlp':
        return new OTLPTraceExporter(this.config.otlpEndpoint ? { url: this.config.otlpEndpoint } : {});
      case 'console':
        return new ConsoleLineExporter();
      case 'jsonl':
        return new JsonLinesExporter();
    }
  }

  private addProbe(id: ProbeId, probe: { drain(): void; close(): void }, lost: () => KernelLoss[]): void {
    this.probes.push({ id, drain: () => probe.drain(), close: () => probe.close(), lost });
  }

  private kernelLost(): KernelLoss[] {
    return this.probes.flatMap((p) => p.lost());
  }

  /** Runs a decoder; what it cannot read is counted, never fatal. */
  private decode(run: () => void): void {
    try {
      run();
    } catch (err) {
      this.countDecodeError(err);
    }
  }

  private countDecodeError(err: unknown): void {
    if (err instanceof DecodeError) {
      this.stats.decodeErrors.add({ reason: err.reason });
      this.log.debug(`decode error: ${err.message}`);
    } else {
      this.stats.decodeErrors.add({ reason: 'exception' });
      this.log.warn(`event handling failed: ${(err as Error).stack ?? String(err)}`);
    }
  }

  private registerSelfMetrics(meter: Meter): void {
    const stats = this.stats;
    meter.createObservableCounter(METRIC_EVENTS_RECEIVED, { description: 'Events received from the kernel', unit: '{event}' })
      .addCallback((r) => { for (const [{ probe }, n] of stats.eventsReceived.entries()) r.observe(n, { [ATTR_PROBE]: probe }); });
    meter.createObservableCounter(METRIC_EVENTS_LOST, { description: 'Events lost in the kernel (ring buffer or tracking table full)', unit: '{event}' })
      .addCallback((r) => {
        for (const { probe, reason, count } of this.kernelLost()) r.observe(count, { [ATTR_PROBE]: probe, [ATTR_REASON]: reason });
      });
    meter.createObservableCounter(METRIC_DECODE_ERRORS, { description: 'Kernel records that could not be decoded', unit: '{event}' })
      .addCallback((r) => { for (const [{ reason }, n] of stats.decodeErrors.entries()) r.observe(n, { [ATTR_REASON]: reason }); });
    meter.createObservableCounter(METRIC_SPANS_SAMPLED_OUT, { description: 'Spans not created by the sampling policy', unit: '{span}' })
      .addCallback((r) => { for (const [{ reason }, n] of stats.spansSampledOut.entries()) r.observe(n, { [ATTR_REASON]: reason }); });
    meter.createObservableCounter(METRIC_SPANS_DROPPED, { description: 'Spans created but not delivered (export buffer full, shutdown)', unit: '{span}' })
      .addCallback((r) => {
        for (const [{ exporter, reason }, n] of stats.spansDropped.entries()) r.observe(n, { [ATTR_EXPORTER]: exporter, [ATTR_REASON]: reason });
      });
    meter.createObservableCounter(METRIC_SPANS_EXPORTED, { description: 'Spans delivered to an exporter', unit: '{span}' })
      .addCallback((r) => { for (const [{ exporter }, n] of stats.spansExported.entries()) r.observe(n, { [ATTR_EXPORTER]: exporter }); });
  }

  summary(): string {
    const s = this.stats;
    const fmt = (entries: Array<[Readonly<Record<string, string>>, number]>): string =>
      entries.length ? entries.map(([attrs, v]) => `${Object.values(attrs).join('/')}=${v}`).join(' ') : '0';
    const lost = this.kernelLost().filter((l) => l.count > 0).map((l): [Record<string, string>, number] => [{ probe: l.probe, reason: l.reason }, l.count]);
    return [
      `events received: ${fmt(s.eventsReceived.entries())}`,
      `lost in kernel: ${fmt(lost)}`,
      `late events: ${this.reorder?.late ?? 0}`,
      `decode errors: ${fmt(s.decodeErrors.entries())}`,
      `spans sampled out: ${fmt(s.spansSampledOut.entries())}`,
      `spans exported: ${fmt(s.spansExported.entries())}`,
      `spans dropped: ${fmt(s.spansDropped.entries())}`,
    ].join('; ');
  }

  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    if (this.statsTimer) clearInterval(this.statsTimer);
    if (this.clockTimer) clearInterval(this.clockTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const probe of this.probes) {
      try {
        probe.drain();
      } catch (err) {
        this.log.warn(`${probe.id}: draining the ring buffer failed: ${(err as Error).message}`);
      }
    }
    this.reorder?.close();
    this.commands?.close(process.hrtime.bigint());
    // Metrics are collected while the maps still exist: one last export with the final counts.
    if (this.meterProvider) {
      await this.meterProvider.forceFlush().catch((err: Error) => this.log.warn(`final metric export failed: ${err.message}`));
    }
    for (const probe of [...this.probes].reverse()) {
      try {
        probe.close();
      } catch (err) {
        this.log.warn(`${probe.id}: close failed: ${(err as Error).message}`);
      }
    }
    await this.tracerProvider?.shutdown().catch((err: Error) => this.log.warn(`span export at shutdown failed: ${err.message}`));
    await this.meterProvider?.shutdown().catch(() => undefined);
    trace.disable();
    this.log.info(this.summary());
  }
}

