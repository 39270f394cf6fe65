/**
 * Decoder for struct tcp_connect_event (bpf/tcpconnect.h).
 */
import { checkEventHeader, DecodeError, EventType, readCString, type EventLayout } from './layout';

/** enum tcp_connect_outcome (bpf/tcpconnect.h; checked against BTF by test/layout.test.ts). */
export const TcpOutcome = {
  Established: 0,
  Refused: 1,
  TimedOut: 2,
  HostUnreachable: 3,
  NetworkUnreachable: 4,
  Abandoned: 5,
  OtherError: 6,
} as const;
export type TcpOutcomeId = (typeof TcpOutcome)[keyof typeof TcpOutcome];
export const TCP_OUTCOME_COUNT = 7;

/** Low-cardinality names for enum tcp_connect_outcome, index = value. */
export const TCP_OUTCOME_NAMES = [
  'established',
  'refused',
  'timed_out',
  'host_unreachable',
  'network_unreachable',
  'abandoned',
  'other_error',
] as const;
export type TcpOutcomeName = (typeof TCP_OUTCOME_NAMES)[number];

export const AF_INET = 2;
export const AF_INET6 = 10;

export const TCP_CONNECT_LAYOUT: EventLayout<
  | 'type' | 'outcome' | 'start_ns' | 'end_ns' | 'cgroup_id' | 'pid' | 'tid' | 'uid' | 'gid' | 'sk_err'
  | 'family' | 'sport' | 'dport' | 'saddr' | 'daddr' | 'comm' | 'netns_ino'
> = {
  struct: 'tcp_connect_event',
  object: 'tcpconnect',
  size: 112,
  fields: {
    type: { offset: 0, size: 4 },
    outcome: { offset: 4, size: 4 },
    start_ns: { offset: 8, size: 8 },
    end_ns: { offset: 16, size: 8 },
    cgroup_id: { offset: 24, size: 8 },
    pid: { offset: 32, size: 4 },
    tid: { offset: 36, size: 4 },
    uid: { offset: 40, size: 4 },
    gid: { offset: 44, size: 4 },
    sk_err: { offset: 48, size: 4 },
    family: { offset: 52, size: 2 },
    sport: { offset: 54, size: 2 },
    dport: { offset: 56, size: 2 },
    saddr: { offset: 60, size: 16 },
    daddr: { offset: 76, size: 16 },
    comm: { offset: 92, size: 16 },
    netns_ino: { offset: 108, size: 4 },
  },
};

export interface TcpConnectEvent {
  readonly kind: 'tcp_connect';
  readonly outcome: TcpOutcomeId;
  /** CLOCK_MONOTONIC nanoseconds. */
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly cgroupId: bigint;
  readonly pid: number;
  readonly tid: number;
  readonly uid: number;
  readonly gid: number;
  /** errno of the failed connect, 0 when none. */
  readonly skErr: number;
  /** Address family of the socket (AF_INET or AF_INET6). */
  readonly family: number;
  /** 'ipv4' for AF_INET and for IPv4-mapped addresses on an AF_INET6 socket. */
  readonly networkType: 'ipv4' | 'ipv6';
  readonly localAddress: string;
  readonly localPort: number;
  readonly peerAddress: string;
  readonly peerPort: number;
  readonly comm: string;
  readonly netnsIno: number;
}

const F = TCP_CONNECT_LAYOUT.fields;

export function decodeTcpConnect(buf: Buffer): TcpConnectEvent {
  checkEventHeader(buf, 'tcp_connect_event', TCP_CONNECT_LAYOUT.size, EventType.TcpConnect);
  const outcome = buf.readUInt32LE(F.outcome.offset);
  if (outcome >= TCP_OUTCOME_COUNT) {
    throw new DecodeError('invalid', `tcp_connect_event: outcome ${outcome}`);
  }
  const family = buf.readUInt16LE(F.family.offset);
  if (family !== AF_INET && family !== AF_INET6) {
    throw new DecodeError('invalid', `tcp_connect_event: address family ${family}`);
  }
  const saddr = buf.subarray(F.saddr.offset, F.saddr.offset + 16);
  const daddr = buf.subarray(F.daddr.offset, F.daddr.offset + 16);
  const mapped = family === AF_INET6 && isV4Mapped(daddr);
  return {
    kind: 'tcp_connect',
    outcome: outcome as TcpOutcomeId,
    startNs: buf.readBigUInt64LE(F.start_ns.offset),
    endNs: buf.readBigUInt64LE(F.end_ns.offset),
    cgroupId: buf.readBigUInt64LE(F.cgroup_id.offset),
    pid: buf.readUInt32LE(F.pid.offset),
    tid: buf.readUInt32LE(F.tid.offset),
    uid: buf.readUInt32LE(F.uid.offset),
    gid: buf.readUInt32LE(F.gid.offset),
    skErr: buf.readInt32LE(F.sk_err.offset),
    family,
    networkType: family === AF_INET || mapped ? 'ipv4' : 'ipv6',
    localAddress: formatAddress(family, saddr),
    localPort: buf.readUInt16LE(F.sport.offset),
    peerAddress: formatAddress(family, daddr),
    peerPort: buf.readUInt16LE(F.dport.offset),
    comm: readCString(buf, F.comm.offset, F.comm.size),
    netnsIno: buf.readUInt32LE(F.netns_ino.offset),
  };
}

/**
 * What the sampling decision needs, read without decoding the rest: at the
 * storm rate nearly every event is sampled out, and a full decode (strings,
 * addresses, a dozen fields) per event was most of the agent's garbage.
 * Throws DecodeError like decodeTcpConnect for a record that is not one.
 */
export function peekTcpConnect(buf: Buffer): { failed: boolean; latencyNs: bigint } {
  checkEventHeader(buf, 'tcp_connect_event', TCP_CONNECT_LAYOUT.size, EventType.TcpConnect);
  return {
    failed: buf.readUInt32LE(F.outcome.offset) !== TcpOutcome.Established,
    latencyNs: buf.readBigUInt64LE(F.end_ns.offset) - buf.readBigUInt64LE(F.start_ns.offset),
  };
}

export function isV4Mapped(addr: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (addr[i] !== 0) return false;
  return addr[10] === 0xff && addr[11] === 0xff;
}

/**
 * Text form of an address as the semantic conventions want it: dotted quad for
 * IPv4 (also for IPv4-mapped IPv6, which is IPv4 on the wire), RFC 5952 for IPv6.
 */
export function formatAddress(family: number, addr: Uint8Array): string {
  if (family === AF_INET) return `${addr[0]}.${addr[1]}.${addr[2]}.${addr[3]}`;
  if (isV4Mapped(addr)) return `${addr[12]}.${addr[13]}.${addr[14]}.${addr[15]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((addr[i] ?? 0) << 8) | (addr[i + 1] ?? 0));
  // Longest run (>= 2) of zero groups becomes "::" (RFC 5952 section 4.2).
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(':');
  const head = hex.slice(0, bestStart).join(':');
  const tail = hex.slice(bestStart + bestLen).join(':');
  return `${head}::${tail}`;
}

/** Parses a dotted quad or IPv6 text into 16 bytes (IPv4 in the first 4). For tests and filters. */
export function parseAddress(text: string): { family: number; bytes: Uint8Array } {
  const out = new Uint8Array(16);
  if (/^\d+\.\d+\.\d+\.\d+$/.test(text)) {
    text.split('.').forEach((p, i) => { out[i] = Number(p); });
    return { family: AF_INET, bytes: out };
  }
  const [headText, tailText] = text.includes('::') ? text.split('::') as [string, string] : [text, undefined];
  const head = headText ? headText.split(':') : [];
  const tail = tailText ? tailText.split(':') : [];
  const groups = tailText === undefined ? head : [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  if (groups.length !== 8) throw new Error(`not an IP address: ${text}`);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return { family: AF_INET6, bytes: out };
}
