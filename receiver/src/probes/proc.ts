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
    return new ProcProbe(new LoadedObjects([part], 3));
  }

  /** Starts delivering raw event records; `onFramingError` is called when a batch cannot be split. */
  start(onRecord: (record: Buffer) => void, onFramingError: () => void): void {
    this.loaded.start(onRecord, onFramingError);
  }

  /** Failed ring buffer reads: records that may have been lost in the reader. */
  readErrors(): number {
    return this.loaded.readErrors();
  }

  /** Drains what is in the ring buffer now (at shutdown). */
  drain(): void {
    this.loaded.drain();
  }

  stats(): ProcKernelStats {
    const [ringbufDrops = 0n, argsUnreadable = 0n, events = 0n] = this.loaded.stats();
    return { ringbufDrops, argsUnreadable, events };
  }

  close(): void {
    this.loaded.close();
  }
}
