/**
 * Decoder for struct dns_response_event (bpf/dnssock.h): a message received
 * on a DNS client socket, as bytes. What the message says is read by
 * receiver/src/dns/wire.ts.
 */
import { AF_INET, AF_INET6, formatAddress } from './tcp-connect';
import { checkEventHeader, DecodeError, EventType, readCString, type EventLayout } from './layout';

/** enum dnssock_limit of bpf/dnssock.h (checked against BTF by test/layout.test.ts, like the enums below). */
export const DnsSockLimit = { MsgMax: 512, HeaderSize: 12, Port: 53, IdsMax: 4 } as const;
export const DNSSOCK_MSG_MAX = DnsSockLimit.MsgMax;

/** enum dnssock_flag (bits of dns_response_event.flags). */
export const DnsSockFlag = { Cut: 1 << 0 } as const;

export const DNS_RESPONSE_LAYOUT: EventLayout<
  | 'type' | 'flags' | 'send_ns' | 'recv_ns' | 'cgroup_id' | 'pid' | 'tid' | 'uid' | 'gid' | 'family' | 'server_port'
  | 'msg_size' | 'msg_len' | 'server' | 'comm' | 'query_ids' | 'query_id_count' | 'msg'
> = {
  struct: 'dns_response_event',
  object: 'dnssock',
  size: 104 + DNSSOCK_MSG_MAX,
  fields: {
    type: { offset: 0, size: 4 },
    flags: { offset: 4, size: 4 },
    send_ns: { offset: 8, size: 8 },
    recv_ns: { offset: 16, size: 8 },
    cgroup_id: { offset: 24, size: 8 },
    pid: { offset: 32, size: 4 },
    tid: { offset: 36, size: 4 },
    uid: { offset: 40, size: 4 },
    gid: { offset: 44, size: 4 },
    family: { offset: 48, size: 2 },
    server_port: { offset: 50, size: 2 },
    msg_size: { offset: 52, size: 2 },
    msg_len: { offset: 56, size: 4 },
    server: { offset: 60, size: 16 },
    comm: { offset: 76, size: 16 },
    query_ids: { offset: 92, size: 2 * DnsSockLimit.IdsMax },
    query_id_count: { offset: 100, size: 2 },
    msg: { offset: 104, size: DNSSOCK_MSG_MAX },
  },
};

export interface DnsResponseEvent {
  readonly kind: 'dns_response';
  /** CLOCK_MONOTONIC nanoseconds: the first unanswered send on the socket, and this receive. */
  readonly sendNs: bigint;
  readonly recvNs: bigint;
  readonly cgroupId: bigint;
  readonly pid: number;
  readonly tid: number;
  readonly uid: number;
  readonly gid: number;
  /** The DNS server the query went to. */
  readonly server: string;
  readonly serverPort: number;
  /** The message as received (its first DNSSOCK_MSG_MAX bytes: see `cut`); a copy. */
  readonly message: Buffer;
  /** Bytes the receive returned (more than message.length when cut). */
  readonly messageLength: number;
  readonly cut: boolean;
  /** Ids of the socket's last queries; undefined when the kernel could not read them (nothing to match). */
  readonly queryIds: readonly number[] | undefined;
  readonly comm: string;
}

const F = DNS_RESPONSE_LAYOUT.fields;

export function decodeDnsResponse(buf: Buffer): DnsResponseEvent {
  checkEventHeader(buf, 'dns_response_event', DNS_RESPONSE_LAYOUT.size, EventType.DnsResponse);
  const family = buf.readUInt16LE(F.family.offset);
  if (family !== AF_INET && family !== AF_INET6) throw new DecodeError('invalid', `dns_response_event: address family ${family}`);
  const size = buf.readUInt16LE(F.msg_size.offset);
  if (size > DNSSOCK_MSG_MAX) throw new DecodeError('invalid', `dns_response_event: message of ${size} bytes (at most ${DNSSOCK_MSG_MAX})`);
  const flags = buf.readUInt32LE(F.flags.offset);
  const idCount = buf.readUInt16LE(F.query_id_count.offset);
  if (idCount > DnsSockLimit.IdsMax) throw new DecodeError('invalid', `dns_response_event: ${idCount} query ids (at most ${DnsSockLimit.IdsMax})`);
  const queryIds: number[] = [];
  // As on the wire (big-endian), like the id in the message.
  for (let i = 0; i < idCount; i++) queryIds.push(buf.readUInt16BE(F.query_ids.offset + 2 * i));
  return {
    kind: 'dns_response',
    sendNs: buf.readBigUInt64LE(F.send_ns.offset),
    recvNs: buf.readBigUInt64LE(F.recv_ns.offset),
    cgroupId: buf.readBigUInt64LE(F.cgroup_id.offset),
    pid: buf.readUInt32LE(F.pid.offset),
    tid: buf.readUInt32LE(F.tid.offset),
    uid: buf.readUInt32LE(F.uid.offset),
    gid: buf.readUInt32LE(F.gid.offset),
    server: formatAddress(family, buf.subarray(F.server.offset, F.server.offset + 16)),
    serverPort: buf.readUInt16LE(F.server_port.offset),
    // A copy: the record's buffer belongs to the ring buffer reader's batch.
    message: Buffer.from(buf.subarray(F.msg.offset, F.msg.offset + size)),
    messageLength: buf.readUInt32LE(F.msg_len.offset),
    cut: (flags & DnsSockFlag.Cut) !== 0,
    queryIds: idCount > 0 ? queryIds : undefined,
    comm: readCString(buf, F.comm.offset, F.comm.size),
  };
}
