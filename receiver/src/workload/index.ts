/**
 * Sets up workload identity for the agent: where the cgroup v2 hierarchy is,
 * the cgroup resolver, the service-naming policy, and the per-workload
 * tracers over the agent's span processors. One call from the agent's wiring.
 */
import type { Tracer } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { SpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { statSync } from 'node:fs';
import type { Logger } from '../log';
import type { AgentStats } from '../stats';
import { CgroupResolver } from './cgroups';
import { findCgroup2Root } from './mounts';
import { ServiceNamer, type ServiceNameSource } from './naming';
import { WorkloadTracers } from './tracers';

/** Cgroups, workload providers and processes remembered; beyond, the least recently used go (counted). */
export const MAX_CGROUPS = 4096;
export const MAX_WORKLOADS = 1024;
export const MAX_NAMED_PROCESSES = 8192;

export interface Workloads {
  tracers: WorkloadTracers;
  resolver: CgroupResolver;
  namer: ServiceNamer;
}

export class WorkloadSetupError extends Error {}

export function setUpWorkloads(opts: {
  cgroupRoot: string | undefined;
  serviceNameFrom: readonly ServiceNameSource[];
  agentResource: Resource;
  agentTracer: Tracer;
  processors: readonly SpanProcessor[];
  /** Makes a workload's provider over the shared processors (the agent's span limits). */
  makeProvider?: (resource: Resource, processors: SpanProcessor[]) => TracerProvider;
  kernelNames: (cgroupId: bigint) => string[] | undefined;
  stats: AgentStats;
  log: Logger;
  version: string;
}): Workloads {
  if (opts.cgroupRoot !== undefined && !isDirectory(opts.cgroupRoot)) {
    throw new WorkloadSetupError(`--cgroup-root ${opts.cgroupRoot}: not a directory; give the host's cgroup v2 mount (see \`findmnt -t cgroup2\`)`);
  }
  const root = findCgroup2Root(opts.cgroupRoot);
  if (root === undefined) {
    opts.log.warn('no cgroup v2 mount in /proc/self/mountinfo (cgroup v1 only?): spans get no container.id or k8s.pod.uid; ' +
      'mount cgroup2 or give --cgroup-root if it is mounted elsewhere');
  }
  const resolver = new CgroupResolver({
    root,
    kernelNames: opts.kernelNames,
    maxEntries: MAX_CGROUPS,
    onEvict: () => opts.stats.workloadCacheEvictions.add({ cache: 'cgroups' }),
    onLookupFailure: (reason) => opts.stats.workloadLookupFailures.add({ reason }),
  });
  const namer = new ServiceNamer({
    sources: opts.serviceNameFrom,
    agentServiceName: String(opts.agentResource.attributes['service.name'] ?? 'ebpf-otel'),
    maxEntries: MAX_NAMED_PROCESSES,
    onEnvironFailure: (reason) => opts.stats.workloadLookupFailures.add({ reason }),
  });
  const tracers = new WorkloadTracers({
    agentResource: opts.agentResource,
    agentTracer: opts.agentTracer,
    processors: opts.processors,
    ...(opts.makeProvider ? { makeProvider: opts.makeProvider } : {}),
    resolver,
    namer,
    maxWorkloads: MAX_WORKLOADS,
    instrumentationVersion: opts.version,
    onEvict: () => opts.stats.workloadCacheEvictions.add({ cache: 'providers' }),
  });
  return { tracers, resolver, namer };
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
