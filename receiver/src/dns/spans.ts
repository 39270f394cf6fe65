/**
 * One CLIENT span per name lookup: from the resolver function's entry to its
 * return on the calling thread (libc source), or from the query's first send
 * to the response on the socket (socket source). The name stays
 * low-cardinality ("dns lookup"); the name asked for goes in
 * dns.question.name.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, type Attributes, type Context, type Tracer } from '@opentelemetry/api';
import type { KernelClock } from '../clock';
import { DnsFlag } from '../decode/dns';
import { lookupOutcome, type DnsLookup } from './lookups';
import {
  ATTR_CGROUP_ID,
  ATTR_DNS_ANSWERS,
  ATTR_DNS_ANSWERS_INCOMPLETE,
  ATTR_DNS_ANSWERS_TRUNCATED,
  ATTR_DNS_FUNCTION,
  ATTR_DNS_NAME_TRUNCATED,
  ATTR_DNS_QUESTION_NAME,
  ATTR_DNS_RECORD_TYPE,
  ATTR_DNS_RESULT_CODE,
  ATTR_DNS_SOURCE,
  ATTR_ERROR_TYPE,
  ATTR_NETWORK_PEER_ADDRESS,
  ATTR_NETWORK_PEER_PORT,
  ATTR_NETWORK_TRANSPORT,
  ATTR_PROCESS_EXECUTABLE_NAME,
  ATTR_PROCESS_OWNER,
  ATTR_PROCESS_PID,
  ATTR_PROCESS_USER_ID,
  ATTR_THREAD_ID,
} from '../semconv';
import type { UserNames } from '../users';
import { asTracerSource, type TracerSource } from '../workload/tracers';

export const DNS_LOOKUP_SPAN_NAME = 'dns lookup';

/** Rewrites a name before it leaves the agent (user redaction patterns); identity by default. */
export type NameFilter = (name: string) => string;

export function dnsLookupAttributes(event: DnsLookup, name: string, users?: UserNames): Attributes {
  const outcome = lookupOutcome(event);
  const attributes: Attributes = {
    [ATTR_DNS_QUESTION_NAME]: name,
    ...(event.kind === 'dns_lookup'
      ? { [ATTR_DNS_SOURCE]: 'libc', [ATTR_DNS_FUNCTION]: event.func }
      : {
          [ATTR_DNS_SOURCE]: 'socket',
          [ATTR_DNS_RECORD_TYPE]: event.recordType,
          [ATTR_NETWORK_PEER_ADDRESS]: event.server,
          [ATTR_NETWORK_PEER_PORT]: event.serverPort,
          [ATTR_NETWORK_TRANSPORT]: 'udp',
        }),
    [ATTR_PROCESS_PID]: event.pid,
    [ATTR_THREAD_ID]: event.tid,
    [ATTR_PROCESS_EXECUTABLE_NAME]: event.comm,
    [ATTR_PROCESS_USER_ID]: event.uid,
    [ATTR_CGROUP_ID]: event.cgroupId.toString(),
  };
  if (event.addresses.length > 0) attributes[ATTR_DNS_ANSWERS] = [...event.addresses];
  if (event.flags & DnsFlag.MoreAddrs) attributes[ATTR_DNS_ANSWERS_TRUNCATED] = true;
  if (event.flags & DnsFlag.NameTruncated) attributes[ATTR_DNS_NAME_TRUNCATED] = true;
  if (event.kind === 'dns_response_lookup' && event.answersIncomplete) attributes[ATTR_DNS_ANSWERS_INCOMPLETE] = true;
  if (!outcome.ok) {
    attributes[ATTR_ERROR_TYPE] = outcome.outcome;
    if (outcome.code !== undefined) attributes[ATTR_DNS_RESULT_CODE] = outcome.code;
  }
  const owner = users?.nameOf(event.uid);
  if (owner !== undefined) attributes[ATTR_PROCESS_OWNER] = owner;
  return attributes;
}

export class DnsLookupSpanBuilder {
  private readonly tracers: TracerSource;

  /** `tracer`: one tracer for everything, or the workload's tracer for each event's process. */
  constructor(
    tracer: Tracer | TracerSource,
    private readonly clock: KernelClock,
    private readonly filterName: NameFilter = (n) => n,
    private readonly users?: UserNames,
  ) {
    this.tracers = asTracerSource(tracer);
  }

  /** Emits the span; `parent` places it under a process span when one is known. */
  emit(event: DnsLookup, parent?: Context): void {
    const name = this.filterName(event.name);
    const span = this.tracers.tracerFor(event.pid, event.cgroupId, event.comm).startSpan(
      DNS_LOOKUP_SPAN_NAME,
      { kind: SpanKind.CLIENT, startTime: this.clock.toHrTime(event.startNs), attributes: dnsLookupAttributes(event, name, this.users) },
      parent ?? ROOT_CONTEXT,
    );
    const outcome = lookupOutcome(event);
    if (!outcome.ok) span.setStatus({ code: SpanStatusCode.ERROR, message: `lookup of ${name} failed: ${outcome.outcome} (${outcome.code ?? ''})` });
    span.end(this.clock.toHrTime(event.endNs));
  }
}
