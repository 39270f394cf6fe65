/**
 * Wires the stages and owns their lifecycle:
 *   kernel programs -> ring buffers (addon) -> decoders -> clock ->
 *   span and metric builders -> OpenTelemetry SDK -> exporters.
 * Shutdown runs in reverse: stop reading, drain, detach, flush, export.
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { createNoopMeter, trace, type Meter } from '@opentelemetry/api';
import { MeterProvider, type MetricProducer } from '@opentelemetry/sdk-metrics';
import type { Resource } from '@opentelemetry/resources';
import { TracerProvider, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { clockPair, libbpfVersion } from '../../addon/lib/index';
import { KernelClock } from './clock';
import { CommandMetrics } from './commands/metrics';
import { createNameRedactor, createRedactor } from './commands/redact';
import { CommandTracer } from './commands/tracer';
import type { AgentConfig, ProbeName } from './config';
import { decodeEvent, peekEventTime, type EventOf, type KernelEvent } from './decode/index';
import { DecodeError, EventType } from './decode/layout';
import { createMetricReaders, createSpanExporter } from './export/exporters';
import { batchOptionsFor, batchProcessor, type RetryingSpanExporter } from './export/span-pipeline';
import { peekTcpConnect } from './decode/tcp-connect';
import type { Logger } from './log';
import { oldKernelHint, preflight } from './preflight';
import { CAP_SYS_PTRACE, dropAfterAttach } from './privileges';
import { BashProbe } from './probes/bash';
import { DnsProbe } from './probes/dns';
import { chooseDnsSource, DnsSocketProbe } from './probes/dns-socket';
import { DnsLookups } from './dns/lookups';
import { lookupFromResponse } from './dns/responses';
import { DnsMetrics } from './dns/metrics';
import { PeerNames } from './dns/names';
import { DnsLookupSpanBuilder } from './dns/spans';
import { ProcProbe } from './probes/proc';
import { TcpProbe } from './probes/tcp';
import { ReorderBuffer } from './reorder';
import { buildResource } from './resource';
import { GatedSpanProcessor, SpanGate } from './sampling';
import {
  ATTR_EXPORTER,
  ATTR_PROBE,
  ATTR_REASON,
  METRIC_DECODE_ERRORS,
  METRIC_EVENTS_LATE,
  METRIC_EVENTS_LOST,
  METRIC_EVENTS_RECEIVED,
  METRIC_METRIC_EXPORTS_FAILED,
  METRIC_SPANS_DROPPED,
  METRIC_SPANS_EXPORTED,
  METRIC_SPANS_SAMPLED_OUT,
  METRIC_STATE_EVICTED,
  ATTR_TABLE,
  METRIC_WORKLOAD_CACHE_EVICTIONS,
  METRIC_WORKLOAD_LOOKUP_FAILURES,
  ATTR_CACHE,
} from './semconv';
import { AgentStats, type ProbeId } from './stats';
import { TcpConnectMetricProducer } from './tcp/metrics';
import { TcpConnectSpanBuilder } from './tcp/spans';
import { UserNames } from './users';
import { setUpWorkloads, type Workloads } from './workload';
import type { CgroupResolver } from './workload/cgroups';
import type { ServiceNamer } from './workload/naming';
import type { TracerSource } from './workload/tracers';

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
  /** Failed ring buffer reads (the reader threads' own errors). */
  readErrors(): number;
  /** Kernel-side loss counters by reason (the probes keep the last values once closed). */
  lost(): KernelLoss[];
}

/** Events a probe lost in the kernel, for one reason (ebpf_otel.events.lost). */
interface KernelLoss {
  readonly probe: ProbeId;
  readonly reason: string;
  readonly count: number;
}

/** The last metric export at shutdown gets this long (a black-holed collector never answers). */
const METRIC_FLUSH_TIMEOUT_MS = 2000;

/** Waits for `p` at most `ms`; a failure or the timeout is reported, never thrown. */
async function bounded(p: Promise<unknown> | undefined, ms: number, report: (why: string) => void): Promise<void> {
  if (!p) return;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => { timer = setTimeout(() => resolve(`no answer within ${ms / 1000} s`), ms); });
  const why = await Promise.race([p.then(() => undefined, (err: Error) => err.message), timeout]);
  clearTimeout(timer);
  if (why !== undefined) report(why);
}

/** How long events wait to be put back in kernel time order across ring buffers. */
const REORDER_WINDOW_NS = 250_000_000n;

export class Agent {
  readonly stats = new AgentStats();
  private readonly probes: ProbeHandle[] = [];
  private tracerProvider: TracerProvider | undefined;
  /** Span exporters, shared by every TracerProvider; closed after them. */
  private spanExporters: RetryingSpanExporter[] = [];
  private spanGate: SpanGate | undefined;
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
  /** What dns_lookup events go through: set when the dns probe loads. */
  private dns: DnsLookups | undefined;
  /** Names connects by what their process resolved (dns probe). */
  private readonly peerNames = new PeerNames();
  private dnsMetrics: DnsMetrics | undefined;
  private procProbe: ProcProbe | undefined;
  private namer: ServiceNamer | undefined;
  private healthServer: Server | undefined;
  /** Cgroup ids -> container.id / k8s.pod.uid. */
  private cgroups: CgroupResolver | undefined;
  /** Routine TCP events the kernel counted instead of sending (its share of the span cap). */
  private kernelSampledOut: () => number = () => 0;

  constructor(
    private readonly config: AgentConfig,
    private readonly log: Logger,
  ) {}

  bpfDir(): string {
    return this.config.bpfDir ?? path.join(packageRoot(), 'build/bpf');
  }

  async start(): Promise<void> {
    const config = this.config;
    // Only when the dns probe runs: choosing its source reads the kernel's BTF.
    const dnsSource = config.probes.includes('dns') ? chooseDnsSource(config.dnsSource, config.btfPath) : undefined;
    preflight(this.bpfDir(), config.probes, config.btfPath, dnsSource?.source);
    this.log.debug(`libbpf ${libbpfVersion()}`);

    this.clock = new KernelClock(clockPair);
    this.clockTimer = setInterval(() => this.clock?.refresh(), 10_000).unref();

    const resource = await buildResource(AGENT_VERSION);

    // Loss counters start at 0 for every known cause, so a dashboard shows 0 rather than no data.
    this.stats.decodeErrors.add({ reason: 'framing' }, 0);
    for (const name of config.exporters) {
      this.stats.spansExported.add({ exporter: name }, 0);
      for (const reason of ['buffer_full', 'shutdown', 'rejected'] as const) this.stats.spansDropped.add({ exporter: name, reason }, 0);
    }
    // Traces: one exporter per destination (buffering and retrying on its own, so a slow collector
    // cannot hold the console back), each fed by the SDK's batch processor.
    this.spanExporters = config.exporters.map((name) => createSpanExporter(name, config, this.log, {
      onDropped: (exporter, n, reason) => this.stats.spansDropped.add({ exporter, reason }, n),
      onExported: (exporter, n) => this.stats.spansExported.add({ exporter }, n),
    }));
    // One sampling budget for every span: TCP spans are decided before they
    // are made, process and command spans when they end (GatedSpanProcessor).
    this.spanGate = new SpanGate({
      successRatio: config.sampleSuccessRatio,
      slowThresholdNs: config.slowThresholdNs,
      maxPerSecond: config.maxSpansPerSecond,
    });
    const gate = this.spanGate;
    const spanProcessor = this.newSpanProcessor();
    this.tracerProvider = this.newTracerProvider(resource, spanProcessor);
    const agentTracer = this.tracerProvider.getTracer('ebpf-otel', AGENT_VERSION);

    // One resource per workload: container.id / k8s.pod.uid from the event's cgroup, service.name by
    // policy; every workload's TracerProvider shares the agent's span processor (one pipeline).
    let workloads: Workloads;
    try {
      workloads = setUpWorkloads({
        cgroupRoot: config.cgroupRoot,
        serviceNameFrom: config.serviceNameFrom,
        agentResource: resource,
        agentTracer,
        processors: [spanProcessor],
        makeProvider: (res, shared) => this.newTracerProvider(res, shared[0]),
        kernelNames: (id) => this.procProbe?.cgroupNames(id),
        stats: this.stats,
        log: this.log,
        version: AGENT_VERSION,
      });
    } catch (err) {
      throw new AgentStartError((err as Error).message);
    }
    this.cgroups = workloads.resolver;
    this.namer = workloads.namer;
    const tracer = workloads.tracers;

    // Probes: load and attach everything first, start reading last. A probe
    // that cannot load is fatal only when no probe at all can run.
    const users = new UserNames();
    const producers: MetricProducer[] = [];
    const failures: string[] = [];
    const starters: Array<() => void> = [];

    const loaders: Record<ProbeName, () => () => void> = {
      tcp: () => this.loadTcpProbe(tracer, users, gate, producers),
      exec: () => this.loadExecProbe(),
      bash: () => this.loadBashProbe(),
      dns: () => this.loadDnsProbe(tracer, users, gate, dnsSource ?? chooseDnsSource(config.dnsSource, config.btfPath)),
    };
    // Fixed order: the bash probe shares the exec probe's map of followed processes.
    const order: ProbeName[] = ['tcp', 'exec', 'bash', 'dns'];
    for (const name of order.filter((p) => config.probes.includes(p))) {
      try {
        starters.push(loaders[name]());
      } catch (err) {
        const hint = oldKernelHint(os.release());
        failures.push(`${name}: ${(err as Error).message}${hint ? `\n  ${hint}` : ''}`);
      }
    }

    if (this.probes.length === 0) {
      throw new AgentStartError(failures.join('\n') || 'no probe could be started');
    }
    for (const f of failures) this.log.warn(`${f} (continuing without it)`);

    // Metrics: the kernel's aggregates through MetricProducers, our own health as SDK instruments,
    // to every metrics exporter, whatever the span exporters are.
    const readers = await createMetricReaders(config, producers, this.log, (exporter, reason) => this.stats.metricExportsFailed.add({ exporter, reason }));
    if (readers.length > 0) this.meterProvider = new MeterProvider({ resource, readers });
    const meter = this.meterProvider?.getMeter('ebpf-otel', AGENT_VERSION) ?? createNoopMeter();
    this.registerSelfMetrics(meter);

    this.dnsMetrics = new DnsMetrics(meter, config.dnsMetricNames);
    const commandMetrics = new CommandMetrics(meter);
    const procProbe = this.procProbe;
    // Every exec on the host, counted in the kernel (spans only for followed processes).
    if (procProbe) commandMetrics.observeExecs(() => procProbe.execCounts());
    this.commands = new CommandTracer(tracer, this.clock, {
      traceExecs: config.traceExecs,
      redactor: createRedactor(config.redact, config.redactPatterns),
      users,
      onCommand: (name) => commandMetrics.command(name),
      onCommandEnd: (name, seconds) => commandMetrics.commandDuration(name, seconds),
      onEvicted: (table) => this.stats.stateEvicted.add({ table }),
    });
    this.reorder = new ReorderBuffer(REORDER_WINDOW_NS, (err) => this.countDecodeError(err));
    this.sweepTimer = setInterval(() => this.commands?.sweep(process.hrtime.bigint()), 30_000).unref();
    for (const start of starters) start();
    // Everything privileged is done: the probes are attached and reading.
    dropAfterAttach(this.log, config.serviceNameFrom.includes('environ')
      ? [{ cap: CAP_SYS_PTRACE, why: 'service names from other processes\' environment (--service-name-from environ)' }]
      : []);

    if (config.healthPort > 0) await this.startHealthServer(config.healthPort);
    if (config.statsIntervalSeconds > 0) {
      this.statsTimer = setInterval(() => this.log.info(this.summary()), config.statsIntervalSeconds * 1000).unref();
    }
    const where = config.exporters.map((e) => (e === 'otlp' ? `otlp (${config.tracesProtocol} ${config.otlpEndpoint})` : e));
    this.log.info(`exporting spans to ${where.join(', ') || 'nowhere (no exporter)'}`);
    const metricsWhere = config.metricsExporters.map((e) => (e === 'otlp'
      ? `otlp (${config.metricsProtocol} ${config.otlpMetricsEndpoint}, ${config.metricsTemporality})`
      : e === 'prometheus' ? `prometheus (${config.prometheusHost}:${config.prometheusPort})` : e));
    this.log.info(`exporting metrics to ${metricsWhere.join(', ') || 'nowhere (no metrics exporter)'}`);
  }

  /**
   * A TracerProvider for `resource`: its own batch processors feeding the shared span exporters (several
   * providers, e.g. one per workload resource, share the exporters, their buffers and their drop
   * counters), behind the one sampling budget, with bounds on what one span can hold.
   */
  newTracerProvider(resource: Resource, processor: SpanProcessor = this.newSpanProcessor()): TracerProvider {
    return new TracerProvider({
      resource,
      spanProcessors: [processor],
      // Bounds on what one span can hold, whatever a local user puts in argv or a line.
      spanLimits: { attributeCountLimit: 64, attributeValueLengthLimit: 16_384, eventCountLimit: 16, linkCountLimit: 4 },
    });
  }

  /** Batch processors feeding the shared span exporters, behind the one sampling budget. */
  private newSpanProcessor(): SpanProcessor {
    if (!this.spanGate) throw new Error('internal: the span gate is made before any TracerProvider');
    const batches = this.spanExporters.map((exporter, i) => batchProcessor(exporter, batchOptionsFor(this.config.exporters[i])));
    return new GatedSpanProcessor(this.spanGate, batches, (reason) => this.stats.spansSampledOut.add({ reason }));
  }

  /** GET /healthz: 200 while the agent runs (its probes attached), 503 once it is stopping. */
  private startHealthServer(port: number): Promise<void> {
    const server = createServer((req, res) => {
      const healthy = this.stopping === undefined && this.probes.length > 0;
      if (req.url !== '/healthz') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(healthy ? 200 : 503, { 'content-type': 'text/plain' }).end(healthy ? 'ok\n' : 'stopping\n');
    });
    this.healthServer = server;
    return new Promise((resolve, reject) => {
      server.once('error', (err) => reject(new AgentStartError(`--health-port ${port}: ${err.message} (choose a free port, or 0 for none)`)));
      server.listen(port, () => {
        server.unref();
        resolve();
      });
    });
  }

  private readonly onFramingError = (): void => this.stats.decodeErrors.add({ reason: 'framing' });

  /**
   * Every ring buffer's records: one decoder table, routed on the event's kind. Records wait in the
   * reorder buffer as bytes and are decoded when released (what waits there stays off the heap);
   * DNS lookups and responses are handled on arrival (DnsLookups schedules what must wait itself).
   */
  private onRecord(probe: ProbeId): (record: Buffer) => void {
    return (record) => {
      this.stats.eventsReceived.add({ probe });
      this.decode(() => {
        const { type, timeOffset } = peekEventTime(record);
        if (type === EventType.DnsLookup || type === EventType.DnsResponse) {
          this.route(decodeEvent(record));
          return;
        }
        // TCP: sampled before decoding, from two fields: at the storm rate nearly every event is
        // left out, and a full decode per event was most of the agent's garbage.
        if (type === EventType.TcpConnect && this.tcp) {
          const { failed, latencyNs } = peekTcpConnect(record);
          const decision = this.tcp.gate.decide(failed, latencyNs);
          if (decision !== 'keep') {
            this.stats.spansSampledOut.add({ reason: decision });
            return;
          }
        }
        this.reorder?.pushRecord(record, timeOffset, this.onOrderedRecord);
      });
    };
  }

  /** A record released by the reorder buffer, in kernel time order (a decode error is counted there). */
  private readonly onOrderedRecord = (record: Buffer): void => this.route(decodeEvent(record));

  /** Handles a decoded event; every kind but dns_lookup and dns_response arrives here in kernel time order. */
  private route(event: KernelEvent): void {
    switch (event.kind) {
      case 'tcp_connect':
        this.routeTcp(event);
        return;
      case 'proc_exec':
        this.commands?.onExec(event);
        return;
      case 'proc_fork':
        this.commands?.onFork(event);
        return;
      case 'proc_exit':
        this.commands?.onExit(event);
        this.namer?.forget(event.pid);
        this.peerNames.forget(event.pid);
        return;
      case 'bash_readline':
        this.commands?.onReadline(event);
        return;
      case 'bash_prompt':
        this.commands?.onPrompt(event);
        return;
      case 'dns_lookup':
        if (!this.dns) throw new DecodeError('unknown_type', 'dns_lookup event without the dns probe');
        this.dns.onLookup(event);
        return;
      case 'dns_response': {
        if (!this.dns) throw new DecodeError('unknown_type', 'dns_response event without the dns probe');
        // Anyone can send anything to a DNS client socket: a message that is not a DNS response, or not
        // to a query the socket sent, is counted.
        const result = lookupFromResponse(event);
        if (!result.ok) {
          throw new DecodeError(result.why === 'unmatched' ? 'dns_unmatched' : 'dns_malformed', `dns_response to pid ${event.pid} (a socket that queried ${event.server}): ${result.reason}`);
        }
        this.dns.onLookup(result.lookup);
        return;
      }
    }
    // A kind added to the decoder table without a route here does not compile.
    const unrouted: never = event;
    throw new DecodeError('unknown_type', `no route for ${(unrouted as KernelEvent).kind}`);
  }

  private routeTcp(event: EventOf<'tcp_connect'>): void {
    const tcp = this.tcp;
    if (!tcp) throw new DecodeError('unknown_type', 'tcp_connect event without the tcp probe');
    // Sampled already (onRecord), before decoding; in time order already (reorder buffer).
    tcp.spans.emit(event, this.commands?.contextFor(event.pid, event.startNs), this.peerNames.nameFor(event.pid, event.peerAddress, event.startNs));
  }

  /** Settings every probe gets: the kernel BTF, and never the agent's own activity. */
  private probeBase(): { btfPath: string | undefined; excludeTgid: number } {
    return { btfPath: this.config.btfPath, excludeTgid: process.pid };
  }

  /** Loads and attaches; returns what starts reading. Each loader throws when its probe cannot run. */
  private loadTcpProbe(tracer: TracerSource, users: UserNames, gate: SpanGate, producers: MetricProducer[]): () => void {
    const config = this.config;
    const probe = TcpProbe.load(this.bpfDir(), {
      ...this.probeBase(),
      filterTgid: config.pid,
      dport: config.port,
      includeLoopback: config.includeLoopback,
      perPeerHistogram: config.perPeerMetrics,
      perCgroupHistogram: config.perContainerMetrics,
      minLatencyNs: config.minLatencyNs,
      ...kernelRoutineBudget(config.maxSpansPerSecond, config.sampleSuccessRatio),
      slowThresholdNs: config.slowThresholdNs,
    });
    this.kernelSampledOut = () => Number(probe.stats().routineSkipped);
    this.addProbe('tcp', probe, () => {
      const s = probe.stats();
      return [
        { probe: 'tcp', reason: 'ringbuf_full', count: Number(s.ringbufDrops) },
        { probe: 'tcp', reason: 'inflight_storage_unavailable', count: Number(s.inflightFull) },
        { probe: 'tcp', reason: 'histogram_not_counted', count: Number(s.histLost) },
        // Counted all the same, under the overflow key (no server.port): the port detail is what is lost.
        { probe: 'tcp', reason: 'histogram_keys_full', count: Number(s.histFull) },
      ];
    });
    producers.push(new TcpConnectMetricProducer(probe.histogramSource(), config.histogramBucketsPerOctave, undefined,
      config.perContainerMetrics ? (cgroupId) => this.cgroups?.resolve(cgroupId, 0) ?? {} : undefined));
    this.tcp = { gate, spans: new TcpConnectSpanBuilder(tracer, this.requireClock(), users) };
    this.log.info('tcp: watching TCP connects (tp_btf inet_sock_set_state)');
    return () => probe.start(this.onRecord('tcp'), this.onFramingError);
  }

  private loadExecProbe(): () => void {
    // Fork, exec and exit of processes nobody follows are filtered out in the kernel unless every process gets a span.
    const probe = ProcProbe.load(this.bpfDir(), {
      ...this.probeBase(),
      filterTgid: 0,
      followAll: this.config.traceExecs === 'all',
      // Without the bash probe nothing adds a shell: no fork or exit program at all.
      followNothing: !this.config.probes.includes('bash'),
    });
    this.procProbe = probe;
    this.addProbe('exec', probe, () => {
      const s = probe.stats();
      return [
        { probe: 'exec', reason: 'ringbuf_full', count: Number(s.ringbufDrops) },
        { probe: 'exec', reason: 'args_unreadable', count: Number(s.argsUnreadable) },
        { probe: 'exec', reason: 'follow_table_full', count: Number(s.followFull) },
        { probe: 'exec', reason: 'exit_not_recorded', count: Number(s.exitNotRecorded) },
        { probe: 'exec', reason: 'exec_not_counted', count: Number(s.execNotCounted) },
        // Counted all the same, as process.executable.name=_other: the name is what is lost.
        { probe: 'exec', reason: 'exec_names_full', count: Number(s.execNamesFull) },
      ];
    });
    this.log.info('exec: watching process exec, fork and exit (tp_btf sched_process_*)');
    return () => probe.start(this.onRecord('exec'), this.onFramingError);
  }

  private loadBashProbe(): () => void {
    const config = this.config;
    const shells = config.bashPaths.length > 0 ? config.bashPaths : ['/bin/bash', '/usr/bin/bash'].filter((p) => existsSync(p));
    const probe = BashProbe.load(this.bpfDir(), { ...this.probeBase(), filterTgid: 0, shells, followedFrom: this.procProbe?.object });
    this.addProbe('bash', probe, () => {
      const s = probe.stats();
      return [
        { probe: 'bash', reason: 'ringbuf_full', count: Number(s.ringbufDrops) },
        { probe: 'bash', reason: 'line_unreadable', count: Number(s.lineUnreadable) },
        { probe: 'bash', reason: 'follow_table_full', count: Number(s.followFull) },
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

  private loadDnsProbe(tracer: TracerSource, users: UserNames, gate: SpanGate, source: { source: 'sockets' | 'libc'; why: string }): () => void {
    const config = this.config;
    const probe = source.source === 'sockets' ? this.loadDnsSocketSource(source.why) : this.loadDnsLibcSource(source.why);
    const filterName = createNameRedactor(config.redact, config.redactPatterns);
    this.dns = new DnsLookups({
      names: this.peerNames,
      spans: new DnsLookupSpanBuilder(tracer, this.requireClock(), filterName, users),
      // The one sampling budget (CLIENT spans are decided before they are made).
      gate,
      filterName,
      metrics: () => this.dnsMetrics,
      contextFor: (pid, startedNs) => this.commands?.contextFor(pid, startedNs),
      schedule: (timeNs, run) => this.reorder?.push(timeNs, run),
      onSampledOut: (reason) => this.stats.spansSampledOut.add({ reason }),
    });
    return () => probe.start(this.onRecord('dns'), this.onFramingError);
  }

  /** The dns probe's socket source: DNS responses read at the socket (tp_btf, no uprobes). */
  private loadDnsSocketSource(why: string): DnsSocketProbe {
    const probe = DnsSocketProbe.load(this.bpfDir(), { ...this.probeBase(), filterTgid: this.config.pid });
    this.addProbe('dns', probe, () => {
      const s = probe.stats();
      return [
        { probe: 'dns', reason: 'ringbuf_full', count: Number(s.ringbufDrops) },
        { probe: 'dns', reason: 'buffer_unreadable', count: Number(s.unreadable) },
        { probe: 'dns', reason: 'unsupported_receive', count: Number(s.unsupported) },
        { probe: 'dns', reason: 'socket_storage_full', count: Number(s.storageFull) },
      ];
    });
    this.log.info(`dns: source sockets (${why}): DNS responses to every program's UDP queries to port 53, read at the socket (tp_btf sock_send_length, sock_recv_length; no uprobes)`);
    return probe;
  }

  /** The dns probe's libc source: uprobes on the resolver functions of the C libraries found. */
  private loadDnsLibcSource(why: string): DnsProbe {
    const config = this.config;
    const probe = DnsProbe.load(this.bpfDir(), { ...this.probeBase(), filterTgid: config.pid, libcPaths: config.libcPaths });
    this.addProbe('dns', probe, () => {
      const s = probe.stats();
      return [
        { probe: 'dns', reason: 'ringbuf_full', count: Number(s.ringbufDrops) },
        { probe: 'dns', reason: 'inflight_table_full', count: Number(s.inflightFull) },
      ];
    });
    this.log.info(`dns: source libc (${config.libcPaths.length > 0 ? '--libc' : why}): the C library's resolver calls (uprobes)`);
    for (const s of probe.skipped) this.log.warn(`dns: ${s.path} skipped: ${s.reason}`);
    for (const t of probe.targets) {
      this.log.info(`dns: watching ${[...t.functions.keys()].join(', ')} in ${t.path} (${t.via})` +
        (t.missing.length > 0 ? `; not exported there: ${t.missing.join(', ')}` : ''));
    }
    return probe;
  }

  private requireClock(): KernelClock {
    if (!this.clock) throw new Error('internal: the kernel clock is set up before the probes');
    return this.clock;
  }

  private addProbe(id: ProbeId, probe: { drain(): void; close(): void; readErrors(): number }, lost: () => KernelLoss[]): void {
    this.probes.push({ id, drain: () => probe.drain(), close: () => probe.close(), readErrors: () => probe.readErrors(), lost });
  }

  /** Every kernel-side loss, the ring buffer readers' errors included. */
  private kernelLost(): KernelLoss[] {
    return this.probes.flatMap((p): KernelLoss[] => [...p.lost(), { probe: p.id, reason: 'reader_error', count: p.readErrors() }]);
  }

  /** Sampled out by user space, by reason, and by the kernel's share of the cap (`kernel_rate_limit`). */
  private sampledOut(): Array<[{ reason: string }, number]> {
    return [...this.stats.spansSampledOut.entries(), [{ reason: 'kernel_rate_limit' }, this.kernelSampledOut()]];
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
    meter.createObservableCounter(METRIC_EVENTS_LOST, { description: 'Events lost or degraded in the kernel and its readers, by reason', unit: '{event}' })
      .addCallback((r) => {
        for (const { probe, reason, count } of this.kernelLost()) r.observe(count, { [ATTR_PROBE]: probe, [ATTR_REASON]: reason });
      });
    meter.createObservableCounter(METRIC_EVENTS_LATE, { description: 'Events that arrived after later ones were handled (out of kernel time order)', unit: '{event}' })
      .addCallback((r) => r.observe(this.reorder?.late ?? 0));
    meter.createObservableCounter(METRIC_DECODE_ERRORS, { description: 'Kernel records that could not be decoded', unit: '{event}' })
      .addCallback((r) => { for (const [{ reason }, n] of stats.decodeErrors.entries()) r.observe(n, { [ATTR_REASON]: reason }); });
    meter.createObservableCounter(METRIC_SPANS_SAMPLED_OUT, { description: 'Spans not created by the sampling policy', unit: '{span}' })
      .addCallback((r) => { for (const [{ reason }, n] of this.sampledOut()) r.observe(n, { [ATTR_REASON]: reason }); });
    meter.createObservableCounter(METRIC_SPANS_DROPPED, { description: 'Spans created but not delivered (export buffer full, shutdown)', unit: '{span}' })
      .addCallback((r) => {
        for (const [{ exporter, reason }, n] of stats.spansDropped.entries()) r.observe(n, { [ATTR_EXPORTER]: exporter, [ATTR_REASON]: reason });
      });
    meter.createObservableCounter(METRIC_METRIC_EXPORTS_FAILED, { description: 'Metric exports that failed, by exporter and cause', unit: '{export}' })
      .addCallback((r) => {
        for (const [{ exporter, reason }, n] of stats.metricExportsFailed.entries()) r.observe(n, { [ATTR_EXPORTER]: exporter, [ATTR_REASON]: reason });
      });
    meter.createObservableCounter(METRIC_STATE_EVICTED, { description: 'Entries evicted from full state tables (process, shell, finished-process), oldest first', unit: '{entry}' })
      .addCallback((r) => { for (const [{ table }, n] of stats.stateEvicted.entries()) r.observe(n, { [ATTR_TABLE]: table }); });
    meter.createObservableCounter(METRIC_WORKLOAD_LOOKUP_FAILURES, { description: 'Workload lookups that found nothing (the span keeps the host or agent resource)', unit: '{lookup}' })
      .addCallback((r) => { for (const [{ reason }, n] of stats.workloadLookupFailures.entries()) r.observe(n, { [ATTR_REASON]: reason }); });
    meter.createObservableCounter(METRIC_WORKLOAD_CACHE_EVICTIONS, { description: 'Entries evicted from the bounded cgroup and workload caches', unit: '{entry}' })
      .addCallback((r) => { for (const [{ cache }, n] of stats.workloadCacheEvictions.entries()) r.observe(n, { [ATTR_CACHE]: cache }); });
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
      `decode errors: ${fmt(s.decodeErrors.entries().filter(([, n]) => n > 0))}`,
      `spans sampled out: ${fmt(this.sampledOut().filter(([, n]) => n > 0))}`,
      `spans exported: ${fmt(s.spansExported.entries())}`,
      `spans dropped: ${fmt(s.spansDropped.entries().filter(([, n]) => n > 0))}`,
      `metric exports failed: ${fmt(s.metricExportsFailed.entries().filter(([, n]) => n > 0))}`,
      `state evicted: ${fmt(s.stateEvicted.entries())}`,
      `workload lookup failures: ${fmt(s.workloadLookupFailures.entries())}`,
      `workload cache evictions: ${fmt(s.workloadCacheEvictions.entries())}`,
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
    this.healthServer?.close();
    for (const probe of this.probes) {
      try {
        probe.drain();
      } catch (err) {
        this.log.warn(`${probe.id}: draining the ring buffer failed: ${(err as Error).message}`);
      }
    }
    this.reorder?.close();
    this.commands?.close(process.hrtime.bigint());
    // Every step that waits on a collector is bounded, so stopping stays well under a container
    // runtime's 10 s grace whatever the collector does (black-holed, refusing, slow): the span
    // exporters deliver what they can within SPAN_SHUTDOWN_TIMEOUT_MS (3 s) and count the rest,
    // while the last metric export (2 s at most) runs alongside.
    const spansDone = (async () => {
      // Providers first (their batch processors hand what they hold to the shared exporters).
      await bounded(this.tracerProvider?.shutdown(), 1000, (why) => this.log.warn(`span processors at shutdown: ${why}`));
      await Promise.all(this.spanExporters.map((e) => e.shutdown()));
    })();
    // Metrics are collected while the maps still exist: one last export with the final counts.
    if (this.meterProvider) {
      await bounded(this.meterProvider.forceFlush(), METRIC_FLUSH_TIMEOUT_MS, (why) => this.log.warn(`final metric export failed: ${why}`));
    }
    for (const probe of [...this.probes].reverse()) {
      try {
        probe.close();
      } catch (err) {
        this.log.warn(`${probe.id}: close failed: ${(err as Error).message}`);
      }
    }
    await spansDone;
    await bounded(this.meterProvider?.shutdown(), 1000, () => undefined);
    trace.disable();
    this.log.info(this.summary());
  }
}


/**
 * The kernel's budget for routine TCP events (fast successes), per CPU and
 * second, so that what it sends is never less than the span cap can keep:
 * the cap divided by the share of successes kept (all of them are sent when
 * nothing caps them, none when none are kept).
 */
export function kernelRoutineBudget(maxSpansPerSecond: number, successRatio: number): { routinePerSecond?: number } {
  if (successRatio <= 0) return { routinePerSecond: 0 };
  if (maxSpansPerSecond <= 0) return {};
  return { routinePerSecond: Math.ceil(maxSpansPerSecond / successRatio) };
}
