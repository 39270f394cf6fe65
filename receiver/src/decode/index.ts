/**
 * One table from the record's `__u32 type` (enum event_type, bpf/common.h) to
 * its decoder. Every ring buffer record goes through decodeEvent(); the agent
 * routes the result on `kind`, and the tests decode with the same table.
 *
 * Adding an event type:
 *   1. bpf/: the value in enum event_type (common.h), the struct in the
 *      probe's header (fixed-width fields, padding written out,
 *      _Static_assert), kept in BTF with EBPF_OTEL_BTF_STRUCT(name);
 *   2. receiver/src/decode/<probe>.ts: the EventLayout and a decoder
 *      returning an event with a unique `kind`;
 *   3. the value in EventType (layout.ts) and one entry in DECODERS below;
 *   4. a `case` for the new kind in Agent.route() (the compiler insists).
 * test/layout.test.ts then checks the enum value and the layout against the
 * object's BTF without further edits.
 */
import { BASH_PROMPT_LAYOUT, BASH_READLINE_LAYOUT, decodeBashPrompt, decodeBashReadline } from './bash';
import { decodeDnsLookup, DNS_LOOKUP_LAYOUT } from './dns';
import { decodeDnsResponse, DNS_RESPONSE_LAYOUT } from './dns-response';
import { DecodeError, EventType, type EventLayout, type EventTypeId } from './layout';
import { decodeProcExec, decodeProcExit, decodeProcFork, PROC_EXEC_LAYOUT, PROC_EXIT_LAYOUT, PROC_FORK_LAYOUT } from './proc';
import { decodeTcpConnect, TCP_CONNECT_LAYOUT } from './tcp-connect';

export interface DecoderEntry<E extends { readonly kind: string }> {
  /** The struct's layout (checked against BTF by test/layout.test.ts). */
  readonly layout: EventLayout;
  /** Throws a DecodeError for a record it cannot read. */
  readonly decode: (record: Buffer) => E;
}

export const DECODERS = {
  [EventType.TcpConnect]: { layout: TCP_CONNECT_LAYOUT, decode: decodeTcpConnect },
  [EventType.ProcExec]: { layout: PROC_EXEC_LAYOUT, decode: decodeProcExec },
  [EventType.ProcExit]: { layout: PROC_EXIT_LAYOUT, decode: decodeProcExit },
  [EventType.ProcFork]: { layout: PROC_FORK_LAYOUT, decode: decodeProcFork },
  [EventType.BashReadline]: { layout: BASH_READLINE_LAYOUT, decode: decodeBashReadline },
  [EventType.BashPrompt]: { layout: BASH_PROMPT_LAYOUT, decode: decodeBashPrompt },
  [EventType.DnsLookup]: { layout: DNS_LOOKUP_LAYOUT, decode: decodeDnsLookup },
  [EventType.DnsResponse]: { layout: DNS_RESPONSE_LAYOUT, decode: decodeDnsResponse },
} as const satisfies { readonly [T in EventTypeId]: DecoderEntry<{ readonly kind: string }> };

/** Every event the kernel sends, discriminated by `kind`. */
export type KernelEvent = ReturnType<(typeof DECODERS)[EventTypeId]['decode']>;
export type KernelEventKind = KernelEvent['kind'];
/** The event of one kind, e.g. EventOf<'proc_exec'>. */
export type EventOf<K extends KernelEventKind> = Extract<KernelEvent, { readonly kind: K }>;

function isEventType(type: number): type is EventTypeId {
  return Object.prototype.hasOwnProperty.call(DECODERS, type);
}

/** Decodes any ring buffer record; throws a DecodeError for one it cannot read. */
export function decodeEvent(record: Buffer): KernelEvent {
  if (record.length < 4) throw new DecodeError('truncated', `record of ${record.length} bytes has no type`);
  const type = record.readUInt32LE(0);
  if (!isEventType(type)) throw new DecodeError('unknown_type', `record type ${type}`);
  return DECODERS[type].decode(record);
}

/**
 * A decoder that keeps only the given kinds (undefined for the others), for
 * readers that want part of a ring buffer, such as the tests.
 */
export function decodeKinds<K extends KernelEventKind>(...kinds: K[]): (record: Buffer) => EventOf<K> | undefined {
  const wanted = new Set<KernelEventKind>(kinds);
  return (record) => {
    const event = decodeEvent(record);
    return wanted.has(event.kind) ? (event as EventOf<K>) : undefined;
  };
}

/** Kernel CLOCK_MONOTONIC time of the event, in the order it happened (a connect and a lookup count at their end). */
export function eventTimeNs(event: KernelEvent): bigint {
  switch (event.kind) {
    case 'tcp_connect':
    case 'dns_lookup':
      return event.endNs;
    case 'dns_response':
      return event.recvNs;
    default:
      return event.timestampNs;
  }
}

/** Where each record keeps the time eventTimeNs() gives its decoded event (a u64, little-endian). */
const EVENT_TIME_FIELD: { readonly [T in EventTypeId]: { readonly offset: number } } = {
  [EventType.TcpConnect]: TCP_CONNECT_LAYOUT.fields.end_ns,
  [EventType.ProcExec]: PROC_EXEC_LAYOUT.fields.timestamp_ns,
  [EventType.ProcExit]: PROC_EXIT_LAYOUT.fields.timestamp_ns,
  [EventType.ProcFork]: PROC_FORK_LAYOUT.fields.timestamp_ns,
  [EventType.BashReadline]: BASH_READLINE_LAYOUT.fields.timestamp_ns,
  [EventType.BashPrompt]: BASH_PROMPT_LAYOUT.fields.timestamp_ns,
  [EventType.DnsLookup]: DNS_LOOKUP_LAYOUT.fields.end_ns,
  [EventType.DnsResponse]: DNS_RESPONSE_LAYOUT.fields.recv_ns,
};

/**
 * The record's type and the offset of its time, read without decoding it (so it can wait to be
 * put in time order as bytes). Throws a DecodeError for a record too short to hold its header or
 * of an unknown type; the rest is checked when it is decoded.
 */
export function peekEventTime(record: Buffer): { type: EventTypeId; timeOffset: number } {
  if (record.length < 4) throw new DecodeError('truncated', `record of ${record.length} bytes has no type`);
  const type = record.readUInt32LE(0);
  if (!isEventType(type)) throw new DecodeError('unknown_type', `record type ${type}`);
  const timeOffset = EVENT_TIME_FIELD[type].offset;
  // Exec and readline records carry only the used part of their struct: the decoder checks the size.
  if (record.length < timeOffset + 8) {
    throw new DecodeError('truncated', `${DECODERS[type].layout.struct}: ${record.length} bytes, too short for its time`);
  }
  return { type, timeOffset };
}
