/**
 * Loads and runs bpf/dnssock.bpf.c: the dns probe's socket source, DNS
 * responses read where sockets send and receive (tp_btf sock_send_length and
 * sock_recv_length, Linux 6.3+). No uprobe, so nothing is written into the
 * processes that map the C library, and no CAP_SYS_ADMIN.
 */
import { readFileSync } from 'node:fs';
import type { DnsSource } from '../config';
import { u32 } from './common';
import { LoadedObjects, LoadedProbe, openAndAttach } from './loaded';

export interface DnsSocketProbeSettings {
  /** Kernel BTF for CO-RE when not /sys/kernel/btf/vmlinux. */
  btfPath?: string | undefined;
  /** Only this process; 0: all. */
  filterTgid: number;
  /** Never this process; 0: none. */
  excludeTgid: number;
}

export interface DnsSocketKernelStats {
  ringbufDrops: bigint;
  unreadable: bigint;
  unsupported: bigint;
  storageFull: bigint;
  events: bigint;
  queries: bigint;
}

/** enum dnssock_stat of bpf/dnssock.h: indices of the per-CPU `stats` array (checked against BTF by test/layout.test.ts). */
export const DnsSockStat = { RingbufDrops: 0, Unreadable: 1, Unsupported: 2, StorageFull: 3, Events: 4, Queries: 5 } as const;
export const DNSSOCK_STAT_COUNT = 6;

/** The tracepoint the receive program attaches to (its sibling sock_send_length came with it, in 6.3). */
export const SOCK_RECV_TRACEPOINT = 'sock_recv_length';
export const DEFAULT_KERNEL_BTF = '/sys/kernel/btf/vmlinux';

/**
 * Whether the kernel has the tracepoints: its BTF names the typedef
 * btf_trace_<name> for every tracepoint, which is what libbpf resolves a
 * tp_btf program by. A look for the name in the BTF string section (a few
 * MB, read once at start).
 */
export function kernelHasSocketTracepoints(btfPath: string = DEFAULT_KERNEL_BTF): boolean {
  // Asked when the source is chosen and again when the probe loads: the file is read once.
  let has = tracepointsByBtf.get(btfPath);
  if (has === undefined) {
    has = btfHasSocketTracepoints(btfPath);
    tracepointsByBtf.set(btfPath, has);
  }
  return has;
}

const tracepointsByBtf = new Map<string, boolean>();

function btfHasSocketTracepoints(btfPath: string): boolean {
  let btf: Buffer;
  try {
    btf = readFileSync(btfPath);
  } catch {
    return false;
  }
  return btf.includes(`\0btf_trace_${SOCK_RECV_TRACEPOINT}\0`);
}

/** The source the dns probe runs with, and why (logged once at start). */
export function chooseDnsSource(requested: DnsSource, btfPath: string = DEFAULT_KERNEL_BTF): { source: 'sockets' | 'libc'; why: string } {
  if (requested === 'sockets') return { source: 'sockets', why: '--dns-source sockets' };
  if (requested === 'libc') return { source: 'libc', why: '--dns-source libc' };
  return kernelHasSocketTracepoints(btfPath)
    ? { source: 'sockets', why: `--dns-source auto: the kernel has the ${SOCK_RECV_TRACEPOINT} tracepoint` }
    : { source: 'libc', why: `--dns-source auto: the kernel has no ${SOCK_RECV_TRACEPOINT} tracepoint (Linux 6.3+), so uprobes in the C library` };
}

export class DnsSocketProbe extends LoadedProbe {
  private constructor(loaded: LoadedObjects) {
    super(loaded);
  }

  /** A BpfError from loading or attaching is thrown as is. */
  static load(bpfDir: string, settings: DnsSocketProbeSettings): DnsSocketProbe {
    if (!kernelHasSocketTracepoints(settings.btfPath)) {
      throw new Error(
        `dns probe: --dns-source sockets needs the tracepoints sock_send_length and sock_recv_length (Linux 6.3+), ` +
          `which this kernel's BTF (${settings.btfPath ?? DEFAULT_KERNEL_BTF}) does not have: use --dns-source libc (uprobes in the C library) or auto`,
      );
    }
    const part = openAndAttach(bpfDir, 'dnssock', settings.btfPath, (object) => {
      object.setGlobal('filter_tgid', u32(settings.filterTgid));
      object.setGlobal('exclude_tgid', u32(settings.excludeTgid));
      object.load();
      // Receive first: a query sent between the two attaches is then still answered into the ring.
      const recv = object.attach('dns_recv');
      try {
        return [recv, object.attach('dns_send')];
      } catch (err) {
        recv.destroy();
        throw err;
      }
    });
    return new DnsSocketProbe(new LoadedObjects([part], DNSSOCK_STAT_COUNT));
  }

  stats(): DnsSocketKernelStats {
    const s = this.loaded.stats();
    const at = (i: number): bigint => s[i] ?? 0n;
    return {
      ringbufDrops: at(DnsSockStat.RingbufDrops),
      unreadable: at(DnsSockStat.Unreadable),
      unsupported: at(DnsSockStat.Unsupported),
      storageFull: at(DnsSockStat.StorageFull),
      events: at(DnsSockStat.Events),
      queries: at(DnsSockStat.Queries),
    };
  }
}
