/**
 * One CLIENT span per TCP connect attempt: starts when the SYN is sent, ends
 * at ESTABLISHED or at the failure. The name stays low-cardinality
 * ("tcp connect"); the peer goes in attributes.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, type Attributes, type Context, type Tracer } from '@opentelemetry/api';
import { constants as osConstants } from 'node:os';
import type { KernelClock } from '../clock';
import { emitFinishedSpan } from '../export/finished-span';
import { TCP_OUTCOME_NAMES, TcpOutcome, type TcpConnectEvent } from '../decode/tcp-connect';
import {
  ATTR_CGROUP_ID,
  ATTR_ERROR_TYPE,
  ATTR_NETNS_INODE,
  ATTR_NETWORK_LOCAL_ADDRESS,
  ATTR_NETWORK_LOCAL_PORT,
  ATTR_NETWORK_PEER_ADDRESS,
  ATTR_NETWORK_PEER_PORT,
  ATTR_NETWORK_TRANSPORT,
  ATTR_NETWORK_TYPE,
  ATTR_PROCESS_EXECUTABLE_NAME,
  ATTR_PROCESS_OWNER,
  ATTR_PROCESS_PID,
  ATTR_PROCESS_USER_ID,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_TCP_OUTCOME,
  ATTR_TCP_SOCKET_ERROR,
  ATTR_THREAD_ID,
  ERROR_TYPE_BY_OUTCOME,
} from '../semconv';
import type { UserNames } from '../users';
import { asTracerSource, type TracerSource } from '../workload/tracers';

export const TCP_CONNECT_SPAN_NAME = 'tcp connect';

const ERRNO_NAMES = new Map<number, string>(
  Object.entries(osConstants.errno).map(([name, value]) => [value, name]),
);

export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}

/** `serverName`: the name the process resolved the peer address from (dns probe), if any. */
export function tcpConnectAttributes(event: TcpConnectEvent, users?: UserNames, serverName?: string): Attributes {
  const outcome = TCP_OUTCOME_NAMES[event.outcome];
  const attributes: Attributes = {
    [ATTR_NETWORK_TRANSPORT]: 'tcp',
    [ATTR_NETWORK_TYPE]: event.networkType,
    [ATTR_NETWORK_PEER_ADDRESS]: event.peerAddress,
    [ATTR_NETWORK_PEER_PORT]: event.peerPort,
    [ATTR_SERVER_ADDRESS]: serverName ?? event.peerAddress,
    [ATTR_SERVER_PORT]: event.peerPort,
    [ATTR_PROCESS_PID]: event.pid,
    [ATTR_THREAD_ID]: event.tid,
    [ATTR_PROCESS_EXECUTABLE_NAME]: event.comm,
    [ATTR_PROCESS_USER_ID]: event.uid,
    [ATTR_TCP_OUTCOME]: outcome,
    [ATTR_CGROUP_ID]: event.cgroupId.toString(),
    [ATTR_NETNS_INODE]: event.netnsIno,
  };
  // The local port is only known once the SYN went out with a bound port; a
  // connect that failed before binding (rare) has none.
  if (event.localPort !== 0) {
    attributes[ATTR_NETWORK_LOCAL_ADDRESS] = event.localAddress;
    attributes[ATTR_NETWORK_LOCAL_PORT] = event.localPort;
  }
  const owner = users?.nameOf(event.uid);
  if (owner !== undefined) attributes[ATTR_PROCESS_OWNER] = owner;
  if (event.outcome !== TcpOutcome.Established) {
    attributes[ATTR_ERROR_TYPE] = ERROR_TYPE_BY_OUTCOME[outcome] ?? '_OTHER';
    if (event.skErr !== 0) attributes[ATTR_TCP_SOCKET_ERROR] = errnoName(event.skErr);
  }
  return attributes;
}

export function tcpConnectStatusMessage(event: TcpConnectEvent): string {
  const peer = event.networkType === 'ipv6' ? `[${event.peerAddress}]:${event.peerPort}` : `${event.peerAddress}:${event.peerPort}`;
  switch (event.outcome) {
    case TcpOutcome.Refused: return `connect to ${peer} refused`;
    case TcpOutcome.TimedOut: return `connect to ${peer} timed out`;
    case TcpOutcome.HostUnreachable: return `host ${peer} unreachable`;
    case TcpOutcome.NetworkUnreachable: return `network unreachable for ${peer}`;
    case TcpOutcome.Abandoned: return `connect to ${peer} closed by the application before it completed`;
    default: return `connect to ${peer} failed: ${errnoName(event.skErr)}`;
  }
}

export class TcpConnectSpanBuilder {
  private readonly tracers: TracerSource;

  /** `tracer`: one tracer for everything, or the workload's tracer for each event's process. */
  constructor(
    tracer: Tracer | TracerSource,
    private readonly clock: KernelClock,
    private readonly users?: UserNames,
  ) {
    this.tracers = asTracerSource(tracer);
  }

  /**
   * Emits the span; `parent` places it under a process span when one is
   * known, `serverName` is the name the process looked the address up by.
   * The span is complete when the event arrives, so it goes to the span processors as a finished
   * span (export/finished-span.ts says why) whenever the tracer source can say where; through the
   * SDK tracer otherwise. Both give the same span (test/unit-spans.test.ts).
   */
  emit(event: TcpConnectEvent, parent?: Context, serverName?: string): void {
    const attributes = tcpConnectAttributes(event, this.users, serverName);
    const startTime = this.clock.toHrTime(event.startNs);
    const endTime = this.clock.toHrTime(event.endNs);
    const failed = event.outcome !== TcpOutcome.Established;
    if (this.tracers.sinkFor) {
      emitFinishedSpan(this.tracers.sinkFor(event.pid, event.cgroupId, event.comm), {
        name: TCP_CONNECT_SPAN_NAME,
        kind: SpanKind.CLIENT,
        startTime,
        endTime,
        attributes,
        status: failed ? { code: SpanStatusCode.ERROR, message: tcpConnectStatusMessage(event) } : undefined,
        parent,
      });
      return;
    }
    const span = this.tracers.tracerFor(event.pid, event.cgroupId, event.comm).startSpan(
      TCP_CONNECT_SPAN_NAME,
      { kind: SpanKind.CLIENT, startTime, attributes },
      parent ?? ROOT_CONTEXT,
    );
    if (failed) span.setStatus({ code: SpanStatusCode.ERROR, message: tcpConnectStatusMessage(event) });
    span.end(endTime);
  }
}
