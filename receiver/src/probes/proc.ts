/**
 * Loads and runs bpf/proc.bpf.c: process exec, fork and exit events.
 */
import { BPF_NOEXIST, type BpfObject } from '../../../addon/lib/index';
import type { EventLayout } from '../decode/layout';
import { LoadedObjects, LoadedProbe, openAndAttach, type AttachedObject } from './loaded';
import { u32, u8 } from './common';

/** bpf/proc.h PROC_EXEC_NAME_LEN: bytes of an exec-count key (a NUL-terminated basename). */
export const PROC_EXEC_NAME_LEN = 64;

/** The key of the kernel's exec counts (bpf/proc.h struct proc_exec_count_key), checked by test/layout.test.ts. */
export const PROC_EXEC_COUNT_KEY_LAYOUT: EventLayout<'name'> = {
  struct: 'proc_exec_count_key',
  object: 'proc',
  size: PROC_EXEC_NAME_LEN,
  fields: { name: { offset: 0, size: PROC_EXEC_NAME_LEN } },
};

export interface ProcProbeSettings {
  /** Kernel BTF for CO-RE when not /sys/kernel/btf/vmlinux. */
  btfPath?: string | undefined;
  /** Only this process (forks: the children it makes); 0: all. */
  filterTgid: number;
  /** Never this process (the agent itself); 0: none. */
  excludeTgid: number;
  /**
   * true: fork, exec and exit of every process. false: only of followed
   * processes (interactive shells and what they start, bpf/follow.bpf.h).
   * Execs are counted in the kernel either way.
   */
  followAll: boolean;
  /**
   * Nothing will ever be followed (no bash probe to add shells, not followAll):
   * fork and exit programs are not even attached; execs are still counted.
   */
  followNothing?: boolean | undefined;
}

export interface ProcKernelStats {
  ringbufDrops: bigint;
  argsUnreadable: bigint;
  events: bigint;
  followFull: bigint;
  execNamesFull: bigint;
  execNotCounted: bigint;
  exitNotRecorded: bigint;
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
export const ProcStat = { RingbufDrops: 0, ArgsUnreadable: 1, Events: 2, FollowFull: 3, ExecNamesFull: 4, ExecNotCounted: 5, ExitNotRecorded: 6 } as const;
export const PROC_STAT_COUNT = 7;

const PROGRAMS = ['handle_exec', 'handle_fork', 'handle_exit'] as const;

/**
 * When the exec programs wake the reader (bpf/agent.bpf.h wakeup_bytes): once a quarter of the
 * ring waits, not the default 64 KiB. An exec record carries up to 4 KiB of argv, so 64 KiB was
 * 15 long-argv execs: ~110 wake-ups a second under the exec storm (each one the reader thread, a
 * drain, a hand-over to the JavaScript thread), where short records wait for the 50 ms poll. A
 * quarter of the 1 MiB ring is ~58 long-argv execs (~30 wake-ups a second at the storm's rate)
 * and leaves three quarters for the time the reader takes to drain.
 */
function procWakeupBytes(object: BpfObject): number {
  const ring = object.maps().find((m) => m.name === 'events');
  return Math.floor((ring?.maxEntries ?? 1024 * 1024) / 4);
}

export class ProcProbe extends LoadedProbe {
  private lastExecCounts: Array<[string, bigint]> = [];

  private constructor(loaded: LoadedObjects) {
    super(loaded);
  }

  /** The BPF object, for probes that share its `followed` map (the bash probe). */
  get object(): BpfObject {
    return (this.loaded.parts[0] as AttachedObject).object;
  }

  static load(bpfDir: string, settings: ProcProbeSettings): ProcProbe {
    const part = openAndAttach(bpfDir, 'proc', settings.btfPath, (object) => {
      object.setGlobal('filter_tgid', u32(settings.filterTgid));
      object.setGlobal('exclude_tgid', u32(settings.excludeTgid));
      object.setGlobal('follow_all', u8(settings.followAll));
      object.setGlobal('wakeup_bytes', u32(procWakeupBytes(object)));
      const programs = settings.followNothing && !settings.followAll ? (['handle_exec'] as const) : PROGRAMS;
      for (const program of PROGRAMS) if (!(programs as readonly string[]).includes(program)) object.setAutoload(program, false);
      object.load();
      // The overflow key (empty name): execs still counted when the name table is full.
      object.map('exec_counts').update(Buffer.alloc(PROC_EXEC_COUNT_KEY_LAYOUT.size), Buffer.alloc(8), BPF_NOEXIST);
      // tp_btf programs: attached by their SEC() name, no tracefs needed.
      return programs.map((program) => object.attach(program));
    });
    return new ProcProbe(new LoadedObjects([part], PROC_STAT_COUNT));
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
      followFull: s[ProcStat.FollowFull] ?? 0n,
      execNamesFull: s[ProcStat.ExecNamesFull] ?? 0n,
      execNotCounted: s[ProcStat.ExecNotCounted] ?? 0n,
      exitNotRecorded: s[ProcStat.ExitNotRecorded] ?? 0n,
    };
  }

  /**
   * Execs counted in the kernel, by executable name ('' is the overflow key:
   * names that found the table full). After close() the last values read.
   */
  execCounts(): Array<[string, bigint]> {
    if (this.loaded.closed) return this.lastExecCounts;
    try {
      this.lastExecCounts = this.object.map('exec_counts').entries().map(([key, value]): [string, bigint] => {
        const end = key.indexOf(0);
        return [key.toString('utf8', 0, end < 0 ? key.length : end), value.readBigUInt64LE(0)];
      });
    } catch {
      // keep the last values: this runs from metric callbacks
    }
    return this.lastExecCounts;
  }

  /** Keeps the last exec counts for the final collection. */
  override close(): void {
    if (!this.loaded.closed) this.execCounts();
    super.close();
  }
}
