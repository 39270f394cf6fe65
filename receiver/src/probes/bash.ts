/**
 * Loads and runs bpf/bash.bpf.c on each distinct readline a set of shells
 * uses. One BPF object per probed file (and, for a shared libreadline, per
 * shell binary using it): the link-time addresses it is given
 * (receiver/src/elf.ts) belong to that file. Shells that cannot be probed are
 * reported as skipped, with the reason, and the rest still run.
 */
import * as fs from 'node:fs';
import type { BpfLink, BpfObject } from '../../../addon/lib/index';
import { BUILD_ID_MAX, resolveReadline, type ReadlineFound, type ReadlineGlobal } from '../elf';
import { u32, u64, u8 } from './common';
import { LoadedObjects, openAndAttach, type AttachedObject } from './loaded';

export interface BashProbeSettings {
  /** Kernel BTF for CO-RE when not /sys/kernel/btf/vmlinux. */
  btfPath?: string | undefined;
  /** Shell binaries to watch; symlinks and hard links to one file are probed once. */
  shells: readonly string[];
  /** Only this shell process; 0: all. */
  filterTgid: number;
  /** Never this process; 0: none. */
  excludeTgid: number;
  /** Library directories for a readline in a shared library (default: elf.ts's list). */
  libraryDirs?: readonly string[];
  /**
   * The loaded exec probe's object: shells are then added to its `followed`
   * map at their prompt (bpf/follow.bpf.h). Without it the bash objects keep
   * a map of their own that nothing reads.
   */
  followedFrom?: BpfObject | undefined;
}

export interface BashProbeTarget {
  readonly shell: string;
  readonly module: string;
  /** 'teardown': every line; 'return': the fallback, which misses a line being typed at attach. */
  readonly lineProbe: 'teardown' | 'return';
}

export interface BashSkipped {
  readonly shell: string;
  readonly reason: string;
}

export interface BashKernelStats {
  ringbufDrops: bigint;
  lineUnreadable: bigint;
  events: bigint;
  followFull: bigint;
}

/** exe_globals bits of bpf/bash.bpf.c (BASH_GLOBAL_*). */
const GLOBAL_BITS: Record<ReadlineGlobal, number> = { rlLineBuffer: 1 << 0, rlEnd: 1 << 1, commandLineCount: 1 << 2 };

/** Identity of the file a uprobe lands on (uprobes are per inode). */
function fileIdentity(file: string): string {
  const stat = fs.statSync(file);
  return `${stat.dev}:${stat.ino}`;
}

export class BashProbe {
  private readonly loaded: LoadedObjects;

  private constructor(
    attached: AttachedObject[],
    readonly targets: readonly BashProbeTarget[],
    readonly skipped: readonly BashSkipped[],
  ) {
    this.loaded = new LoadedObjects(attached, 4);
  }

  /**
   * Probes every shell that can be probed. Throws only when none can (the
   * error lists each shell's reason); a BpfError from loading is thrown as is.
   */
  static load(bpfDir: string, settings: BashProbeSettings): BashProbe {
    const skipped: BashSkipped[] = [];
    const found = new Map<string, ReadlineFound>();
    for (const shell of settings.shells) {
      const resolution = settings.libraryDirs ? resolveReadline(shell, settings.libraryDirs) : resolveReadline(shell);
      if (resolution.kind === 'skipped') {
        skipped.push({ shell, reason: resolution.reason });
        continue;
      }
      // A shared libreadline is probed once per shell binary using it (by build ID: copies are one binary).
      const executable = resolution.executable ? `/${resolution.executable.buildId.bytes.toString('hex')}` : '';
      const id = `${fileIdentity(resolution.module)}${executable}`;
      if (!found.has(id)) found.set(id, resolution);
    }
    if (found.size === 0) {
      const reasons = skipped.map((s) => `  ${s.shell}: ${s.reason}`).join('\n');
      throw new Error(`bash probe: no shell to probe\n${reasons || '  (no shells configured)'}`);
    }

    const attached: AttachedObject[] = [];
    const targets: BashProbeTarget[] = [];
    try {
      for (const target of found.values()) {
        attached.push(BashProbe.attachOne(bpfDir, settings, target));
        targets.push({ shell: target.shell, module: target.module, lineProbe: target.teardown ? 'teardown' : 'return' });
      }
    } catch (err) {
      new LoadedObjects(attached, 4).close();
      throw err;
    }
    return new BashProbe(attached, targets, skipped);
  }

  private static attachOne(bpfDir: string, settings: BashProbeSettings, target: ReadlineFound): AttachedObject {
    return openAndAttach(bpfDir, 'bash', settings.btfPath, (object) => {
      object.setGlobal('filter_tgid', u32(settings.filterTgid));
      object.setGlobal('exclude_tgid', u32(settings.excludeTgid));
      object.setGlobal('readline_vaddr', u64(target.readline.vaddr));
      object.setGlobal('teardown_vaddr', u64(target.teardown?.vaddr ?? 0));
      object.setGlobal('rl_line_buffer_vaddr', u64(target.rlLineBuffer ?? 0));
      object.setGlobal('rl_end_vaddr', u64(target.rlEnd ?? 0));
      object.setGlobal('command_line_count_vaddr', u64(target.commandLineCount ?? 0));
      if (target.executable) {
        // Readline in a shared library: keep only the shell's own processes (see bash.bpf.c).
        const buildId = Buffer.alloc(BUILD_ID_MAX);
        target.executable.buildId.bytes.copy(buildId);
        object.setGlobal('check_exe', u32(1));
        object.setGlobal('exe_globals', u32(target.globalsInExecutable.reduce((bits, g) => bits | GLOBAL_BITS[g], 0)));
        object.setGlobal('exe_text_vaddr', u64(target.executable.textVaddr));
        object.setGlobal('exe_build_id_vaddr', u64(target.executable.buildId.vaddr));
        object.setGlobal('exe_build_id_size', u32(target.executable.buildId.bytes.length));
        object.setGlobal('exe_build_id', buildId);
      }
      // Only the line program in use is loaded.
      object.setAutoload(target.teardown ? 'handle_readline_return' : 'handle_teardown', false);
      if (settings.followedFrom) {
        object.shareMap('followed', settings.followedFrom);
        object.setGlobal('follow_shells', u8(true));
      }
      object.load();
      const links: BpfLink[] = [];
      const at = (program: string, fileOffset: number, retprobe: boolean): void => {
        links.push(object.attachUprobe(program, { binaryPath: target.module, offset: fileOffset, retprobe }));
      };
      at('handle_readline_entry', target.readline.fileOffset, false);
      if (target.teardown) at('handle_teardown', target.teardown.fileOffset, false);
      else at('handle_readline_return', target.readline.fileOffset, true);
      return links;
    });
  }

  /** Starts delivering raw event records of every probed file. */
  start(onRecord: (record: Buffer) => void, onFramingError: () => void): void {
    this.loaded.start(onRecord, onFramingError);
  }

  /** Failed ring buffer reads: records that may have been lost in the reader. */
  readErrors(): number {
    return this.loaded.readErrors();
  }

  drain(): void {
    this.loaded.drain();
  }

  /** Summed over every probed file (the last values read once closed). */
  stats(): BashKernelStats {
    const [ringbufDrops = 0n, lineUnreadable = 0n, events = 0n, followFull = 0n] = this.loaded.stats();
    return { ringbufDrops, lineUnreadable, events, followFull };
  }

  close(): void {
    this.loaded.close();
  }
}
