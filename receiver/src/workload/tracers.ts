/**
 * One Resource per workload: spans are created by a TracerProvider whose
 * resource describes the process's workload (service.name by the naming
 * policy, container.id, k8s.pod.uid, and the host attributes of the agent's
 * own resource). All providers feed the same span processors (one export
 * pipeline; the OTLP exporter groups spans by resource), and only the agent's
 * own provider shuts them down. Trace context is independent of providers, so
 * a command whose processes belong to different services stays one trace.
 */
import type { Context, Tracer } from '@opentelemetry/api';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { TracerProvider, type ReadableSpan, type Span, type SpanProcessor } from '@opentelemetry/sdk-trace';
import type { SpanSink } from '../export/finished-span';
import { ATTR_CONTAINER_ID, ATTR_K8S_POD_UID, ATTR_SERVICE_NAME } from '../semconv';
import type { CgroupResolver } from './cgroups';
import type { ServiceNamer } from './naming';

/** What span builders ask for: the tracer for an event's process. */
export interface TracerSource {
  tracerFor(pid: number, cgroupId: bigint, comm: string): Tracer;
  /**
   * Where spans that are finished when made (export/finished-span.ts) go for the same process: the
   * resource and processors of the provider tracerFor() would use. Absent: builders use the tracer.
   */
  sinkFor?(pid: number, cgroupId: bigint, comm: string): SpanSink;
}

/** A plain Tracer as a TracerSource (everything under one resource). */
export function singleTracer(tracer: Tracer): TracerSource {
  return { tracerFor: () => tracer };
}

export function asTracerSource(t: Tracer | TracerSource): TracerSource {
  return 'tracerFor' in t ? t : singleTracer(t);
}

/**
 * Hands spans to a processor it does not own: the agent's provider shuts the
 * real processor down once; a workload provider's shutdown must not. (The SDK
 * has no "shared processor" piece.)
 */
class SharedProcessor implements SpanProcessor {
  constructor(private readonly inner: SpanProcessor) {}
  onStart(span: Span, parentContext: Context): void {
    this.inner.onStart(span, parentContext);
  }
  onEnd(span: ReadableSpan): void {
    this.inner.onEnd(span);
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** Resource attributes that describe the agent, not the workloads it sees. */
const AGENT_ONLY = new Set(['service.name', 'service.version', 'service.instance.id', 'service.namespace']);

export interface WorkloadTracersOptions {
  agentResource: Resource;
  agentTracer: Tracer;
  processors: readonly SpanProcessor[];
  resolver: CgroupResolver;
  namer: ServiceNamer;
  /** Workload providers kept; the least recently used are dropped (their spans are already in the pipeline). */
  maxWorkloads: number;
  instrumentationVersion: string;
  onEvict?: () => void;
  /** Makes a workload's provider over the shared processors (default: a plain TracerProvider). */
  makeProvider?: (resource: Resource, processors: SpanProcessor[]) => TracerProvider;
}

interface Workload {
  tracer: Tracer;
  sink: SpanSink;
}

export class WorkloadTracers implements TracerSource {
  private readonly providers = new Map<string, Workload>();
  /** The most recently used key of `providers` (its last entry). */
  private newest: string | undefined;
  private readonly shared: SpanProcessor[];
  private readonly hostAttributes: Record<string, string | number | boolean>;
  private readonly agentServiceName: string;
  private readonly agent: Workload;

  constructor(private readonly opts: WorkloadTracersOptions) {
    this.shared = opts.processors.map((p) => new SharedProcessor(p));
    this.agent = { tracer: opts.agentTracer, sink: { resource: opts.agentResource, instrumentationScope: this.scope(), processors: opts.processors } };
    this.hostAttributes = {};
    for (const [key, value] of Object.entries(opts.agentResource.attributes)) {
      if (AGENT_ONLY.has(key) || value === undefined) continue;
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') this.hostAttributes[key] = value;
    }
    this.agentServiceName = String(opts.agentResource.attributes[ATTR_SERVICE_NAME] ?? 'ebpf-otel');
  }

  get workloads(): number {
    return this.providers.size;
  }

  tracerFor(pid: number, cgroupId: bigint, comm: string): Tracer {
    return this.workloadFor(pid, cgroupId, comm).tracer;
  }

  sinkFor(pid: number, cgroupId: bigint, comm: string): SpanSink {
    return this.workloadFor(pid, cgroupId, comm).sink;
  }

  private scope(): SpanSink['instrumentationScope'] {
    return { name: 'ebpf-otel', version: this.opts.instrumentationVersion };
  }

  private workloadFor(pid: number, cgroupId: bigint, comm: string): Workload {
    const workload = this.opts.resolver.resolve(cgroupId, pid);
    const serviceName = this.opts.namer.nameFor(pid, comm, workload.containerId !== undefined);
    // A host process named after the agent: the agent's own resource, as before workloads existed.
    if (serviceName === this.agentServiceName && workload.containerId === undefined && workload.podUid === undefined) {
      return this.agent;
    }
    const key = `${serviceName}\u0000${workload.containerId ?? ''}\u0000${workload.podUid ?? ''}`;
    let found = this.providers.get(key);
    if (found !== undefined) {
      // Most recently used last (not re-inserted when it is already: see CgroupResolver.resolve).
      if (key !== this.newest) {
        this.providers.delete(key);
        this.providers.set(key, found);
        this.newest = key;
      }
      return found;
    }
    const attributes: Record<string, string | number | boolean> = { ...this.hostAttributes, [ATTR_SERVICE_NAME]: serviceName };
    if (workload.containerId !== undefined) attributes[ATTR_CONTAINER_ID] = workload.containerId;
    if (workload.podUid !== undefined) attributes[ATTR_K8S_POD_UID] = workload.podUid;
    const resource = resourceFromAttributes(attributes);
    const provider = this.opts.makeProvider?.(resource, this.shared) ?? new TracerProvider({ resource, spanProcessors: this.shared });
    found = {
      tracer: provider.getTracer('ebpf-otel', this.opts.instrumentationVersion),
      sink: { resource, instrumentationScope: this.scope(), processors: this.shared },
    };
    this.providers.set(key, found);
    this.newest = key;
    if (this.providers.size > this.opts.maxWorkloads) {
      const oldest = this.providers.keys().next().value;
      if (oldest !== undefined) this.providers.delete(oldest);
      this.opts.onEvict?.();
    }
    return found;
  }
}
