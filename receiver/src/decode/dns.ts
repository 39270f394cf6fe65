/**
 * Decoder for struct dns_lookup_event (bpf/dns.h), and the readable names
 * of what the resolver functions return.
 */
import { AF_INET, AF_INET6, formatAddress } from './tcp-connect';
import { checkEventHeader, DecodeError, EventType, readCString, type EventLayout } from './layout';

/** enum dns_func of bpf/dns.h (checked against BTF by test/unit-dns.test.ts, like the enums below). */
export const DnsFunc = {
  Getaddrinfo: 1,
  Gethostbyname: 2,
  Gethostbyname2: 3,
  GethostbynameR: 4,
  Gethostbyname2R: 5,
} as const;

/** The function's name, index = enum dns_func value. */
export const DNS_FUNC_NAMES = [undefined, 'getaddrinfo', 'gethostbyname', 'gethostbyname2', 'gethostbyname_r', 'gethostbyname2_r'] as const;
export type DnsFuncName = Exclude<(typeof DNS_FUNC_NAMES)[number], undefined>;

/** enum dns_lookup_flag (bits of dns_lookup_event.flags). */
export const DnsFlag = {
  NameTruncated: 1 << 0,
  NameUnreadable: 1 << 1,
  MoreAddrs: 1 << 2,
  ResultUnknown: 1 << 3,
  AddrsUnreadable: 1 << 4,
} as const;

/** enum dns_limit. */
export const DnsLimit = { NameMax: 256, AddrMax: 8 } as const;
export const DNS_ADDR_MAX = DnsLimit.AddrMax;
export const DNS_NAME_MAX = DnsLimit.NameMax;

export const DNS_LOOKUP_LAYOUT: EventLayout<
  | 'type' | 'func' | 'start_ns' | 'end_ns' | 'cgroup_id' | 'pid' | 'tid' | 'uid' | 'gid' | 'result' | 'flags'
  | 'addr_count' | 'name_size' | 'comm' | 'addrs' | 'name'
> = {
  struct: 'dns_lookup_event',
  object: 'dns',
  size: 80 + DNS_ADDR_MAX * 20 + DNS_NAME_MAX,
  fields: {
    type: { offset: 0, size: 4 },
    func: { offset: 4, size: 4 },
    start_ns: { offset: 8, size: 8 },
    end_ns: { offset: 16, size: 8 },
    cgroup_id: { offset: 24, size: 8 },
    pid: { offset: 32, size: 4 },
    tid: { offset: 36, size: 4 },
    uid: { offset: 40, size: 4 },
    gid: { offset: 44, size: 4 },
    result: { offset: 48, size: 4 },
    flags: { offset: 52, size: 4 },
    addr_count: { offset: 56, size: 2 },
    name_size: { offset: 58, size: 2 },
    comm: { offset: 64, size: 16 },
    addrs: { offset: 80, size: DNS_ADDR_MAX * 20 },
    name: { offset: 80 + DNS_ADDR_MAX * 20, size: DNS_NAME_MAX },
  },
};

/** struct dns_addr: family (u16), padding (u16), 16 address bytes. */
export const DNS_ADDR_LAYOUT: EventLayout<'family' | 'addr'> = {
  struct: 'dns_addr',
  object: 'dns',
  size: 20,
  fields: { family: { offset: 0, size: 2 }, addr: { offset: 4, size: 16 } },
};

export interface DnsLookupEvent {
  readonly kind: 'dns_lookup';
  readonly func: DnsFuncName;
  /** CLOCK_MONOTONIC nanoseconds. */
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly cgroupId: bigint;
  readonly pid: number;
  readonly tid: number;
  readonly uid: number;
  readonly gid: number;
  /** getaddrinfo's return code (EAI_*) or gethostbyname*'s h_errno; 0: success. */
  readonly result: number;
  readonly flags: number;
  /** The name asked for, as the program passed it. */
  readonly name: string;
  /** Distinct answers in the library's order (at most DNS_ADDR_MAX). */
  readonly addresses: readonly string[];
  readonly comm: string;
}

const F = DNS_LOOKUP_LAYOUT.fields;

export function decodeDnsLookup(buf: Buffer): DnsLookupEvent {
  checkEventHeader(buf, 'dns_lookup_event', DNS_LOOKUP_LAYOUT.size, EventType.DnsLookup);
  const funcId = buf.readUInt32LE(F.func.offset);
  const func = DNS_FUNC_NAMES[funcId];
  if (func === undefined) throw new DecodeError('invalid', `dns_lookup_event: func ${funcId}`);
  const count = buf.readUInt16LE(F.addr_count.offset);
  if (count > DNS_ADDR_MAX) throw new DecodeError('invalid', `dns_lookup_event: ${count} addresses (at most ${DNS_ADDR_MAX})`);
  const nameSize = buf.readUInt16LE(F.name_size.offset);
  if (nameSize >= DNS_NAME_MAX) throw new DecodeError('invalid', `dns_lookup_event: name of ${nameSize} bytes`);
  const addresses: string[] = [];
  for (let i = 0; i < count; i++) {
    const at = F.addrs.offset + i * DNS_ADDR_LAYOUT.size;
    const family = buf.readUInt16LE(at);
    if (family !== AF_INET && family !== AF_INET6) throw new DecodeError('invalid', `dns_lookup_event: address family ${family}`);
    addresses.push(formatAddress(family, buf.subarray(at + 4, at + 20)));
  }
  return {
    kind: 'dns_lookup',
    func,
    startNs: buf.readBigUInt64LE(F.start_ns.offset),
    endNs: buf.readBigUInt64LE(F.end_ns.offset),
    cgroupId: buf.readBigUInt64LE(F.cgroup_id.offset),
    pid: buf.readUInt32LE(F.pid.offset),
    tid: buf.readUInt32LE(F.tid.offset),
    uid: buf.readUInt32LE(F.uid.offset),
    gid: buf.readUInt32LE(F.gid.offset),
    result: buf.readInt32LE(F.result.offset),
    flags: buf.readUInt32LE(F.flags.offset),
    name: buf.toString('utf8', F.name.offset, F.name.offset + nameSize),
    addresses,
    comm: readCString(buf, F.comm.offset, F.comm.size),
  };
}

/**
 * error.type values for getaddrinfo()'s EAI_* codes (glibc and musl share
 * them). The C library does not tell an NXDOMAIN from "no such name in
 * /etc/hosts" (both host_not_found), nor a SERVFAIL, a REFUSED or a timeout
 * from each other (all EAI_AGAIN with glibc: temporary_failure; seen with
 * dnsmasq in test/e2e-dns.test.ts).
 */
const EAI_ERRORS: ReadonlyMap<number, string> = new Map([
  [-1, 'bad_flags'], // EAI_BADFLAGS
  [-2, 'host_not_found'], // EAI_NONAME: NXDOMAIN, or unknown to every source
  [-3, 'temporary_failure'], // EAI_AGAIN: SERVFAIL, REFUSED, or no answer in time
  [-4, 'no_recovery'], // EAI_FAIL: a non-recoverable failure
  [-5, 'no_data'], // EAI_NODATA: the name exists, without an address
  [-6, 'family_not_supported'], // EAI_FAMILY
  [-7, 'socktype_not_supported'], // EAI_SOCKTYPE
  [-8, 'service_not_found'], // EAI_SERVICE
  [-9, 'no_address_in_family'], // EAI_ADDRFAMILY
  [-10, 'out_of_memory'], // EAI_MEMORY
  [-11, 'system_error'], // EAI_SYSTEM (errno)
  [-12, 'overflow'], // EAI_OVERFLOW
  [-101, 'canceled'], // EAI_CANCELED
  [-104, 'interrupted'], // EAI_INTR
  [-105, 'idn_encode_failed'], // EAI_IDN_ENCODE
]);

/** error.type values for h_errno (gethostbyname*). */
const H_ERRORS: ReadonlyMap<number, string> = new Map([
  [-1, 'internal_error'], // NETDB_INTERNAL (see errno)
  [1, 'host_not_found'], // HOST_NOT_FOUND
  [2, 'temporary_failure'], // TRY_AGAIN
  [3, 'no_recovery'], // NO_RECOVERY
  [4, 'no_data'], // NO_DATA
]);

/** The name of a resolver error code (EAI_NONAME, HOST_NOT_FOUND, ...), for status messages. */
const CODE_NAMES: ReadonlyMap<string, ReadonlyMap<number, string>> = new Map([
  ['eai', new Map([[-1, 'EAI_BADFLAGS'], [-2, 'EAI_NONAME'], [-3, 'EAI_AGAIN'], [-4, 'EAI_FAIL'], [-5, 'EAI_NODATA'], [-6, 'EAI_FAMILY'], [-7, 'EAI_SOCKTYPE'], [-8, 'EAI_SERVICE'], [-9, 'EAI_ADDRFAMILY'], [-10, 'EAI_MEMORY'], [-11, 'EAI_SYSTEM'], [-12, 'EAI_OVERFLOW'], [-101, 'EAI_CANCELED'], [-104, 'EAI_INTR'], [-105, 'EAI_IDN_ENCODE']])],
  ['h', new Map([[-1, 'NETDB_INTERNAL'], [1, 'HOST_NOT_FOUND'], [2, 'TRY_AGAIN'], [3, 'NO_RECOVERY'], [4, 'NO_DATA']])],
]);

export interface DnsOutcome {
  readonly ok: boolean;
  /** 'success', or the error.type value. */
  readonly outcome: string;
  /** EAI_NONAME, HOST_NOT_FOUND, ... (undefined on success). */
  readonly code?: string;
}

/** What a lookup's result means: success, or a readable error.type. */
export function dnsOutcome(e: Pick<DnsLookupEvent, 'func' | 'result' | 'flags'>): DnsOutcome {
  const eai = e.func === 'getaddrinfo';
  if (e.result === 0 && !(e.flags & DnsFlag.ResultUnknown)) return { ok: true, outcome: 'success' };
  if (!eai && e.flags & DnsFlag.ResultUnknown) return { ok: false, outcome: '_OTHER', code: 'unknown (h_errno not readable)' };
  const table = eai ? EAI_ERRORS : H_ERRORS;
  const code = CODE_NAMES.get(eai ? 'eai' : 'h')?.get(e.result) ?? `${eai ? 'EAI' : 'h_errno'} ${e.result}`;
  return { ok: false, outcome: table.get(e.result) ?? '_OTHER', code };
}

/** True for a name that is an IP literal: getaddrinfo() parses it, no lookup happens. */
export function isNumericHost(name: string): boolean {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) return true;
  return /^[0-9a-fA-F:.]+(%[\w.-]+)?$/.test(name) && name.includes(':');
}
