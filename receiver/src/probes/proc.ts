/**
 * Loads and runs bpf/proc.bpf.c: process exec, fork and exit events.
 */
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
