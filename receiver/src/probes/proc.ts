/**
 * Loads and runs bpf/proc.bpf.c: process exec, fork and exit events.
 */
import path from 'node:path';
import { BpfObject, type BpfLink, type RingBufferReader } from '../../../addon/lib/index';
import { forEachRecord, readPerCpuCounters, u32 } from './common';

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
  private readonly links: BpfLink[] = [];
  private reader: RingBufferReader | undefined;
  private closed = false;

  private constructor(private readonly object: BpfObject) {}

  static load(bpfDir: string, settings: ProcProbeSettings): ProcProbe {
    const object = BpfObject.open(path.join(bpfDir, 'proc.bpf.o'), settings.btfPath ? { btfCustomPath: settings.btfPath } : {});
    try {
      object.setGlobal('filter_tgid', u32(settings.filterTgid));
      object.setGlobal('exclude_tgid', u32(settings.excludeTgid));
      object.load();
      const probe = new ProcProbe(object);
      // tp_btf programs: attached by their SEC() name, no tracefs needed.
      for (const program of PROGRAMS) probe.links.push(object.attach(program));
      return probe;
    } catch (err) {
      object.close();
      throw err;
    }
  }

  /** Starts delivering raw event records; `onFramingError` is called when a batch cannot be split. */
  start(onRecord: (record: Buffer) => void, onFramingError: () => void): void {
    this.reader = this.object.openRingBuffer('events', (batch, count) => {
      if (!forEachRecord(batch, count, onRecord)) onFramingError();
    });
  }

  /** Drains what is in the ring buffer now (at shutdown). */
  drain(): void {
    this.reader?.consume();
  }

  stats(): ProcKernelStats {
    const [ringbufDrops = 0n, argsUnreadable = 0n, events = 0n] = readPerCpuCounters(this.object.map('stats'), 3);
    return { ringbufDrops, argsUnreadable, events };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.reader?.close();
    for (const link of this.links.reverse()) link.destroy();
    this.object.close();
  }
}
