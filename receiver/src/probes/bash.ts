/**
 * Loads and runs bpf/bash.bpf.c on each distinct readline a set of shells
 * uses: the one the dynamic linker would load for a new shell, and any other
 * one running shells have mapped. One BPF object per probed file (and, for a
 * shared libreadline, per shell binary using it): the link-time addresses it
 * is given (probes/bash-target.ts) belong to that file. Shells that cannot be
 * probed are reported as skipped, with the reason, and the rest still run.
 */
import type { BpfLink, BpfObject } from '../../../addon/lib/index';
import { readlineIn, resolveReadline, runningShells, type ReadlineFound, type ReadlineGlobal } from './bash-target';
import { fileIdentity, type LibrarySearch } from './libraries';
import { u32, u64, u8 } from './common';
import { LoadedObjects, LoadedProbe, openAndAttach, type AttachedObject } from './loaded';

export interface BashProbeSettings {
  /** Kernel BTF for CO-RE when not /sys/kernel/btf/vmlinux. */
  btfPath?: string | undefined;
  /** Shell binaries to watch; symlinks and hard links to one file are probed once. */
  shells: readonly string[];
  /** Only this shell process; 0: all. */
  filterTgid: number;
  /** Never this process; 0: none. */
  excludeTgid: number;
  /** How a shared libreadline is searched for (default: as the system's dynamic linker does). */
  librarySearch?: LibrarySearch;
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
  /** Running processes of `shell` that use this readline when the probe attached. */
  readonly runningShells: number;
  /** Running processes of `shell` in all (some may use another readline, probed separately). */
  readonly shellProcesses: number;
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

/** Indices of the `stats` counters (enum bash_stat in bpf/bash.h; checked against BTF by test/layout.test.ts). */
export const BashStat = { RingbufDrops: 0, LineUnreadable: 1, Events: 2, FollowFull: 3 } as const;
export const BASH_STAT_COUNT = 4;

/** exe_globals bits (enum bash_global in bpf/bash.h). */
export const BashGlobal = { RlLineBuffer: 1 << 0, RlEnd: 1 << 1, CommandLineCount: 1 << 2 } as const;
/** Sizes (enum bash_limit in bpf/bash.h): exe_build_id holds BuildIdMax bytes. */
export const BashLimit = { BuildIdMax: 20 } as const;

const GLOBAL_BITS: Record<ReadlineGlobal, number> = {
  rlLineBuffer: BashGlobal.RlLineBuffer,
  rlEnd: BashGlobal.RlEnd,
  commandLineCount: BashGlobal.CommandLineCount,
};

export class BashProbe extends LoadedProbe {

  private constructor(
    attached: AttachedObject[],
    readonly targets: readonly BashProbeTarget[],
    readonly skipped: readonly BashSkipped[],
  ) {
    super(new LoadedObjects(attached, BASH_STAT_COUNT));
  }

  /**
   * Probes every shell that can be probed. Throws only when none can (the
   * error lists each shell's reason); a BpfError from loading is thrown as is.
   */
  static load(bpfDir: string, settings: BashProbeSettings): BashProbe {
    const skipped: BashSkipped[] = [];
    const found = new Map<string, { target: ReadlineFound; running: number; processes: number }>();
    const add = (target: ReadlineFound, running: number, processes: number): void => {
      // A shared libreadline is probed once per shell binary using it (by build ID: copies are one binary).
      const executable = target.executable ? `/${target.executable.buildId.bytes.toString('hex')}` : '';
      const id = `${fileIdentity(target.module)}${executable}`;
      const seen = found.get(id);
      if (seen) seen.running = Math.max(seen.running, running); // the same file and binary under another path
      else found.set(id, { target, running, processes });
    };
    for (const shell of settings.shells) {
      const resolution = resolveReadline(shell, settings.librarySearch);
      if (resolution.kind === 'skipped') {
        skipped.push({ shell, reason: resolution.reason });
        continue;
      }
      // What running shells really loaded (another LD_LIBRARY_PATH, an old library still mapped).
      const running = runningShells(shell);
      const resolvedId = fileIdentity(resolution.module);
      add(resolution, running.modules.get(resolvedId)?.pids.length ?? 0, running.pids.length);
      for (const [id, module] of running.modules) {
        if (id === resolvedId) continue;
        const other = readlineIn(shell, module.path);
        if (other.kind === 'found') add(other, module.pids.length, running.pids.length);
        else skipped.push({ shell, reason: `running shells (pid ${module.pids.join(', ')}) use ${module.path}: ${other.reason}` });
      }
    }
    if (found.size === 0) {
      const reasons = skipped.map((s) => `  ${s.shell}: ${s.reason}`).join('\n');
      throw new Error(`bash probe: no shell to probe\n${reasons || '  (no shells configured)'}`);
    }

    const attached: AttachedObject[] = [];
    const targets: BashProbeTarget[] = [];
    try {
      for (const { target, running, processes } of found.values()) {
        attached.push(BashProbe.attachOne(bpfDir, settings, target));
        targets.push({
          shell: target.shell,
          module: target.module,
          lineProbe: target.teardown ? 'teardown' : 'return',
          runningShells: running,
          shellProcesses: processes,
        });
      }
    } catch (err) {
      new LoadedObjects(attached, BASH_STAT_COUNT).close();
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
        const buildId = Buffer.alloc(BashLimit.BuildIdMax);
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

  /** Summed over every probed file (the last values read once closed). */
  stats(): BashKernelStats {
    const s = this.loaded.stats();
    return {
      ringbufDrops: s[BashStat.RingbufDrops] ?? 0n,
      lineUnreadable: s[BashStat.LineUnreadable] ?? 0n,
      events: s[BashStat.Events] ?? 0n,
      followFull: s[BashStat.FollowFull] ?? 0n,
    };
  }

}
