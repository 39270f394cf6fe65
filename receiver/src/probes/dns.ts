/**
 * Loads and runs bpf/dns.bpf.c: uprobes on the resolver functions of every C
 * library found (receiver/src/probes/libc.ts). One BPF object for all of
 * them: the programs need nothing file-specific. Libraries that cannot be
 * probed are reported as skipped, with the reason, and the rest still run.
 */
import type { BpfLink } from '../../../addon/lib/index';
import { u32 } from './common';
import { findLibcs, mappedLibcCandidates, systemLibcCandidates, type LibcSkipped, type LibcTarget, type ResolverFunction } from './libc';
import { LoadedObjects, LoadedProbe, openAndAttach } from './loaded';

export interface DnsProbeSettings {
  /** Kernel BTF for CO-RE when not /sys/kernel/btf/vmlinux. */
  btfPath?: string | undefined;
  /** Only this process; 0: all. */
  filterTgid: number;
  /** Never this process; 0: none. */
  excludeTgid: number;
  /** C libraries to probe; empty: the system's and those running processes have mapped. */
  libcPaths: readonly string[];
}

export interface DnsKernelStats {
  ringbufDrops: bigint;
  inflightFull: bigint;
  events: bigint;
  nested: bigint;
}

/** enum dns_stat of bpf/dns.h: indices of the per-CPU `stats` array (checked against BTF by test/layout.test.ts). */
export const DnsStat = { RingbufDrops: 0, InflightFull: 1, Events: 2, Nested: 3 } as const;
export const DNS_STAT_COUNT = 4;

const ENTRY_PROGRAMS: Readonly<Record<ResolverFunction, string>> = {
  getaddrinfo: 'handle_getaddrinfo',
  gethostbyname: 'handle_gethostbyname',
  gethostbyname2: 'handle_gethostbyname2',
  gethostbyname_r: 'handle_gethostbyname_r',
  gethostbyname2_r: 'handle_gethostbyname2_r',
};

export class DnsProbe extends LoadedProbe {
  private constructor(
    loaded: LoadedObjects,
    readonly targets: readonly LibcTarget[],
    readonly skipped: readonly LibcSkipped[],
  ) {
    super(loaded);
  }

  /** Throws when no C library can be probed (the error lists why); a BpfError from loading is thrown as is. */
  static load(bpfDir: string, settings: DnsProbeSettings): DnsProbe {
    const search =
      settings.libcPaths.length > 0
        ? findLibcs(settings.libcPaths.map((p) => ({ path: p, via: 'configured' })), true)
        : findLibcs([...systemLibcCandidates(), ...mappedLibcCandidates()]);
    if (search.targets.length === 0) {
      const reasons = search.skipped.map((s) => `  ${s.path}: ${s.reason}`).join('\n');
      throw new Error(
        `dns probe: no C library with resolver functions found\n${reasons || '  (no libc.so.6 in /etc/ld.so.cache or the library directories, no musl, none mapped by a running process)'}` +
          '\n  name it with --libc PATH',
      );
    }
    const targets: LibcTarget[] = [];
    const skipped: LibcSkipped[] = [...search.skipped];
    const part = openAndAttach(bpfDir, 'dns', settings.btfPath, (object) => {
      object.setGlobal('filter_tgid', u32(settings.filterTgid));
      object.setGlobal('exclude_tgid', u32(settings.excludeTgid));
      object.load();
      const links: BpfLink[] = [];
      // One library that cannot be probed (a container's, gone since it was found) does not stop the others.
      for (const target of search.targets) {
        const mine: BpfLink[] = [];
        try {
          for (const [fn, offset] of target.functions) {
            // Return probe first: a call already running when the entry probe lands could otherwise
            // leave an entry whose return is never seen, and fold the thread's next lookups into it.
            mine.push(object.attachUprobe('handle_return', { binaryPath: target.path, offset, retprobe: true }));
            mine.push(object.attachUprobe(ENTRY_PROGRAMS[fn], { binaryPath: target.path, offset, retprobe: false }));
          }
          links.push(...mine);
          targets.push(target);
        } catch (err) {
          for (const link of mine.reverse()) link.destroy();
          skipped.push({ path: target.path, reason: `attaching the uprobes failed: ${(err as Error).message.split('\n')[0] ?? ''}` });
        }
      }
      if (targets.length === 0) {
        throw new Error(`dns probe: no C library could be probed\n${skipped.map((s) => `  ${s.path}: ${s.reason}`).join('\n')}`);
      }
      return links;
    });
    return new DnsProbe(new LoadedObjects([part], DNS_STAT_COUNT), targets, skipped);
  }

  stats(): DnsKernelStats {
    const s = this.loaded.stats();
    const at = (i: number): bigint => s[i] ?? 0n;
    return { ringbufDrops: at(DnsStat.RingbufDrops), inflightFull: at(DnsStat.InflightFull), events: at(DnsStat.Events), nested: at(DnsStat.Nested) };
  }

}
