/**
 * Attribute and metric names. Stable semantic-convention names are imported
 * from @opentelemetry/semantic-conventions; names still in development there
 * are copied here as constants (the package keeps them in an /incubating
 * entry point that may change); our own live under the `ebpf_otel.` namespace.
 */
export {
  ATTR_ERROR_TYPE,
  ATTR_NETWORK_LOCAL_ADDRESS,
  ATTR_NETWORK_LOCAL_PORT,
  ATTR_NETWORK_PEER_ADDRESS,
  ATTR_NETWORK_PEER_PORT,
  ATTR_NETWORK_TRANSPORT,
  ATTR_NETWORK_TYPE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_SERVICE_NAME,
  ATTR_SERVICE_VERSION,
} from '@opentelemetry/semantic-conventions';

// Development-status semantic conventions (copied, see above).
export const ATTR_PROCESS_PID = 'process.pid';
export const ATTR_PROCESS_PARENT_PID = 'process.parent_pid';
export const ATTR_PROCESS_EXECUTABLE_NAME = 'process.executable.name';
export const ATTR_PROCESS_EXECUTABLE_PATH = 'process.executable.path';
export const ATTR_PROCESS_COMMAND_LINE = 'process.command_line';
export const ATTR_PROCESS_COMMAND_ARGS = 'process.command_args';
export const ATTR_PROCESS_EXIT_CODE = 'process.exit.code';
export const ATTR_PROCESS_USER_ID = 'process.user.id';
export const ATTR_PROCESS_OWNER = 'process.owner';
export const ATTR_THREAD_ID = 'thread.id';
export const ATTR_HOST_NAME = 'host.name';
export const ATTR_HOST_ID = 'host.id';
export const ATTR_OS_TYPE = 'os.type';
export const ATTR_CONTAINER_ID = 'container.id';
export const ATTR_K8S_POD_UID = 'k8s.pod.uid';
export const ATTR_DNS_QUESTION_NAME = 'dns.question.name';
export const ATTR_DNS_ANSWERS = 'dns.answers';

// ebpf-otel's own attributes.
export const ATTR_TCP_OUTCOME = 'ebpf_otel.tcp.outcome';
export const ATTR_TCP_SOCKET_ERROR = 'ebpf_otel.tcp.socket_error';
export const ATTR_CGROUP_ID = 'ebpf_otel.cgroup.id';
export const ATTR_NETNS_INODE = 'ebpf_otel.netns.inode';
export const ATTR_PROBE = 'ebpf_otel.probe';
export const ATTR_REASON = 'ebpf_otel.reason';
export const ATTR_EXPORTER = 'ebpf_otel.exporter';
export const ATTR_CACHE = 'ebpf_otel.cache';
export const ATTR_DNS_FUNCTION = 'ebpf_otel.dns.function';
export const ATTR_DNS_OUTCOME = 'ebpf_otel.dns.outcome';
export const ATTR_DNS_RESULT_CODE = 'ebpf_otel.dns.result_code';
export const ATTR_DNS_ANSWERS_TRUNCATED = 'ebpf_otel.dns.answers_truncated';
export const ATTR_DNS_NAME_TRUNCATED = 'ebpf_otel.dns.name_truncated';
/** Where a lookup was seen: `libc` (the resolver call) or `socket` (the DNS response). */
export const ATTR_DNS_SOURCE = 'ebpf_otel.dns.source';
export const ATTR_DNS_RECORD_TYPE = 'ebpf_otel.dns.record_type';
export const ATTR_DNS_ANSWERS_INCOMPLETE = 'ebpf_otel.dns.answers_incomplete';

// Metric names. There is no stable semantic convention for TCP handshake
// duration yet (a `system.network.tcp.handshake.duration` proposal is open
// upstream), so ours carry our namespace until one lands.
export const METRIC_TCP_CONNECT_DURATION = 'ebpf_otel.tcp.connect.duration';
export const METRIC_TCP_CONNECT_ATTEMPTS = 'ebpf_otel.tcp.connect.attempts';
/** Semantic-convention DNS lookup duration (development status), in seconds. */
export const METRIC_DNS_LOOKUP_DURATION = 'dns.lookup.duration';
export const METRIC_DNS_LOOKUPS = 'ebpf_otel.dns.lookups';
export const METRIC_EVENTS_RECEIVED = 'ebpf_otel.events.received';
export const METRIC_EVENTS_LOST = 'ebpf_otel.events.lost';
export const METRIC_EVENTS_LATE = 'ebpf_otel.events.late';
export const METRIC_DECODE_ERRORS = 'ebpf_otel.decode.errors';
export const METRIC_SPANS_DROPPED = 'ebpf_otel.spans.dropped';
export const METRIC_SPANS_SAMPLED_OUT = 'ebpf_otel.spans.sampled_out';
export const METRIC_SPANS_EXPORTED = 'ebpf_otel.spans.exported';
export const METRIC_WORKLOAD_LOOKUP_FAILURES = 'ebpf_otel.workload.lookup_failures';
export const METRIC_WORKLOAD_CACHE_EVICTIONS = 'ebpf_otel.workload.cache.evictions';
export const METRIC_METRIC_EXPORTS_FAILED = 'ebpf_otel.metric_exports.failed';
export const METRIC_STATE_EVICTED = 'ebpf_otel.state.evicted';
export const ATTR_TABLE = 'ebpf_otel.table';

/** error.type for each failed outcome; the first four are the values semconv uses for socket connects. */
export const ERROR_TYPE_BY_OUTCOME: Readonly<Record<string, string>> = {
  refused: 'connection_refused',
  timed_out: 'timed_out',
  host_unreachable: 'host_unreachable',
  network_unreachable: 'network_unreachable',
  abandoned: 'connection_abandoned',
  other_error: '_OTHER',
};
