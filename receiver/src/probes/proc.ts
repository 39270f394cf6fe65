/**
 * Loads and runs bpf/proc.bpf.c: process exec, fork and exit events.
 */
import type { EventLayout } from '../decode/layout';
import { LoadedObjects, openAndAttach } from './loaded';
import { u32 } from './common';

export interface ProcProbeSettings {
  /** Kernel BTF for CO-RE when not /sys/kernel/btf/vmlinux. */
  btfPath?: string | undefined;
  /** Only this process (forks: the children it makes); 0: all. */
  filterTgid: number;
  /** Never this process (the agent itself); 0: none. */
  excludeTgid: number;
}

export interface ProcKernelStats {
  ringbufDrops: bigint;
  argsUnreadable: bigint;
  events: bigint;
}

/** Mirrors of bpf/proc.h (struct proc_cgroup_names, the value of the `cgroup_names` map). */
export const PROC_CGROUP_NAME_LEN = 128;
export const PROC_CGROUP_NAME_LEVELS = 3;
export const PROC_CGROUP_NAMES_LAYOUT: EventLayout<'names'> = {
  struct: 'proc_cgroup_names',
  object: 'proc',
  size: PROC_CGROUP_NAME_LEN * PROC_CGROUP_NAME_LEVELS,
  fields: { names: { offset: 0, size: PROC_CGROUP_NAME_LEN * PROC_CGROUP_NAME_LEVELS } },
};
/** Indices of the `stats` counters (enum proc_stat in bpf/proc.h; checked against BTF by test/layout.test.ts). */
export const ProcStat = { RingbufDrops: 0, ArgsUnreadable: 1, Events: 2 } as const;
export const PROC_STAT_COUNT = 3;

const PROGRAMS = ['handle_exec', 'handle_fork', 'handle_exit'] as const;

export class ProcProbe {
  private constructor(private readonly loaded: LoadedObjects) {}

  static load(bpfDir: string, settings: ProcProbeSettings): ProcProbe {
    const part = openAndAttach(bpfDir, 'proc', settings.btfPath, (object) => {
      object.setGlobal('filter_tgid', u32(settings.filterTgid));
      object.setGlobal('exclude_tgid', u32(settings.excludeTgid));
      object.load();
      // tp_btf programs: attached by their SEC() name, no tracefs needed.
      return PROGRAMS.map((program) => object.attach(program));
    });
    return new ProcProbe(new LoadedObjects([part], PROC_STAT_COUNT));
  }

  /** Starts delivering raw event records; `onFramingError` is called when a batch cannot be split. */
  start(onRecord: (record: Buffer) => void, onFramingError: () => void): void {
    this.loaded.start(onRecord, onFramingError);
  }

  /** Drains what is in the ring buffer now (at shutdown). */
  drain(): void {
    this.loaded.drain();
  }

  /**
   * The kernfs names the kernel recorded for a cgroup v2 id at exec or fork
   * (leaf first, up to three levels; bpf/proc.h struct proc_cgroup_names), or
   * undefined when it has none (never seen, evicted, or the probe is closed).
   */
  cgroupNames(cgroupId: bigint): string[] | undefined {
    if (this.loaded.closed) return undefined;
    const part = this.loaded.parts[0];
    if (!part) return undefined;
    const key = Buffer.alloc(8);
    key.writeBigUInt64LE(cgroupId);
    let value: Buffer | null;
    try {
      value = part.object.map('cgroup_names').lookup(key);
    } catch {
      return undefined;
    }
    if (!value || value.length < PROC_CGROUP_NAME_LEN * PROC_CGROUP_NAME_LEVELS) return undefined;
    const names: string[] = [];
    for (let i = 0; i < PROC_CGROUP_NAME_LEVELS; i++) {
      const slot = value.subarray(i * PROC_CGROUP_NAME_LEN, (i + 1) * PROC_CGROUP_NAME_LEN);
      const end = slot.indexOf(0);
      // A name that fills the slot was cut: keep it out (no attributes rather than wrong ones).
      if (end < 0) return names.length > 0 ? names : undefined;
      names.push(slot.toString('utf8', 0, end));
    }
    return names;
  }

  stats(): ProcKernelStats {
    const s = this.loaded.stats();
    return {
      ringbufDrops: s[ProcStat.RingbufDrops] ?? 0n,
      argsUnreadable: s[ProcStat.ArgsUnreadable] ?? 0n,
      events: s[ProcStat.Events] ?? 0n,
    };
  }

  close(): void {
    this.loaded.close();
  }
}
