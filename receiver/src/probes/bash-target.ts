/**
 * Where the bash probes attach: which file holds a shell's readline (the
 * shell itself or a shared libreadline), the link-time addresses of the
 * functions and globals bpf/bash.bpf.c needs, and which of those globals the
 * shell executable holds instead (copy relocations). Also which readline
 * running shells really mapped, so a probe placed on a file no running
 * shell uses is reported rather than silently idle.
 */
import { ElfError, probedFunction, readElf, type ElfBuildId, type ElfFile, type ProbedFunction } from '../elf';
import { fileIdentity, mappedFiles, processesRunning, resolveLibrary, type LibrarySearch } from './libraries';

/** The globals the bash probe reads. */
export type ReadlineGlobal = 'rlLineBuffer' | 'rlEnd' | 'commandLineCount';

/**
 * The shell executable, when readline is in a shared library: the probes
 * there fire in every program that loads the library (python3, gdb, ...);
 * the kernel side keeps only processes whose executable carries this build
 * ID, and finds the executable's load bias from where the kernel mapped its
 * first executable segment (mm->start_code).
 */
export interface ShellExecutable {
  /** Link-time address of the lowest executable PT_LOAD segment. */
  readonly textVaddr: number;
  readonly buildId: ElfBuildId;
}

export interface ReadlineFound {
  readonly kind: 'found';
  readonly shell: string;
  /** The file the probes attach to: the shell itself or its libreadline.so. */
  readonly module: string;
  readonly inExecutable: boolean;
  readonly readline: ProbedFunction;
  /** Absent: use the readline uretprobe fallback (misses a line already being typed). */
  readonly teardown?: ProbedFunction;
  /** Link-time addresses of globals in `module`; absent when not found there. */
  readonly rlLineBuffer?: number;
  readonly rlEnd?: number;
  /** bash's current_command_line_count (in the shell executable). */
  readonly commandLineCount?: number;
  /** Present when readline is in a shared library (see ShellExecutable). */
  readonly executable?: ShellExecutable;
  /**
   * Globals above whose address is in the shell executable rather than in
   * `module`: bash's own, and readline variables the executable defines
   * itself (copy relocations: the dynamic linker binds the library to the
   * executable's copy and the library's own stays unused). Empty when
   * readline is in the executable.
   */
  readonly globalsInExecutable: readonly ReadlineGlobal[];
}

export interface ReadlineSkipped {
  readonly kind: 'skipped';
  readonly shell: string;
  readonly reason: string;
}

export type ReadlineResolution = ReadlineFound | ReadlineSkipped;

function objectAddress(elf: ElfFile, name: string): number | undefined {
  const symbol = elf.symbols.get(name);
  return symbol && symbol.kind === 'object' && symbol.value !== 0 ? symbol.value : undefined;
}

/**
 * Where the readline probes of a shell go: in the shell binary (Debian's bash
 * links readline statically) or in the libreadline it loads, found the way
 * the dynamic linker finds it (probes/libraries.ts). A shell without
 * readline, or a path that is not an ELF binary, is `skipped` with the
 * reason; nothing here throws for an unusable shell.
 */
export function resolveReadline(shell: string, search: LibrarySearch = {}): ReadlineResolution {
  const executable = readShell(shell);
  if (!('path' in executable)) return executable;
  if (probedFunction(executable, 'readline')) return probesFor(shell, executable, executable);
  for (const name of executable.needed) {
    const libPath = resolveLibrary(name, executable, search);
    if (!libPath) continue;
    let lib: ElfFile;
    try {
      lib = readElf(libPath);
    } catch {
      continue;
    }
    if (probedFunction(lib, 'readline')) return probesFor(shell, executable, lib);
  }
  const libs = executable.needed.length > 0 ? executable.needed.join(', ') : 'none';
  return {
    kind: 'skipped',
    shell,
    reason: `${shell} has no readline function, neither in itself nor in its libraries (${libs}): built without readline or stripped, its commands are only visible as execs`,
  };
}

/**
 * The probes for a shell whose readline is in `library`, a file a running
 * shell process has mapped (what it really loaded: another LD_LIBRARY_PATH,
 * an upgraded library still mapped by old shells).
 */
export function readlineIn(shell: string, library: string): ReadlineResolution {
  const executable = readShell(shell);
  if (!('path' in executable)) return executable;
  let lib: ElfFile;
  try {
    lib = readElf(library);
  } catch (err) {
    return { kind: 'skipped', shell, reason: `${library}: ${(err as Error).message}` };
  }
  if (!probedFunction(lib, 'readline')) return { kind: 'skipped', shell, reason: `${library} has no readline function` };
  return probesFor(shell, executable, lib);
}

function readShell(shell: string): ElfFile | ReadlineSkipped {
  try {
    return readElf(shell);
  } catch (err) {
    const reason = err instanceof ElfError ? err.message : `cannot read ${shell}: ${(err as Error).message}`;
    return { kind: 'skipped', shell, reason };
  }
}

/** The probes and globals for readline in `module` (the shell executable itself, or a library it loads). */
function probesFor(shell: string, executable: ElfFile, module: ElfFile): ReadlineFound {
  const readline = probedFunction(module, 'readline');
  if (!readline) throw new Error(`internal: ${module.path} has no readline`);
  const inExecutable = module === executable;
  const teardown = probedFunction(module, 'readline_internal_teardown');
  const shellExecutable = inExecutable ? undefined : shellExecutableOf(executable);
  const globalsInExecutable: ReadlineGlobal[] = [];
  /**
   * A global as the dynamic linker binds it: the executable's exported
   * definition first (for bash's own variable, any definition in it), then
   * the module's. One in the executable is only usable with `shellExecutable`.
   */
  const locate = (global: ReadlineGlobal, name: string, ownVariable: boolean): number | undefined => {
    const inExe = objectAddress(executable, name);
    const exported = executable.symbols.get(name)?.table === 'dynsym';
    if (inExecutable || inExe === undefined || (!exported && !ownVariable)) {
      return ownVariable && !inExecutable ? undefined : objectAddress(module, name);
    }
    if (!shellExecutable) return undefined;
    globalsInExecutable.push(global);
    return inExe;
  };
  const rlLineBuffer = locate('rlLineBuffer', 'rl_line_buffer', false);
  const rlEnd = locate('rlEnd', 'rl_end', false);
  const commandLineCount = locate('commandLineCount', 'current_command_line_count', true);
  return {
    kind: 'found',
    shell,
    module: module.path,
    inExecutable,
    readline,
    // The teardown probe reads the line from rl_line_buffer: useless without it.
    ...(teardown && rlLineBuffer !== undefined ? { teardown, rlLineBuffer } : {}),
    ...(rlEnd !== undefined ? { rlEnd } : {}),
    ...(commandLineCount !== undefined ? { commandLineCount } : {}),
    ...(shellExecutable ? { executable: shellExecutable } : {}),
    globalsInExecutable: globalsInExecutable.filter((g) => g !== 'rlLineBuffer' || teardown !== undefined),
  };
}

/** Undefined without a build ID: the shell's processes could not be told apart. */
function shellExecutableOf(executable: ElfFile): ShellExecutable | undefined {
  const text = executable.segments.filter((s) => s.executable).sort((a, b) => a.vaddr - b.vaddr)[0];
  if (!text || !executable.buildId) return undefined;
  return { textVaddr: text.vaddr, buildId: executable.buildId };
}

/** The readline modules running processes of `shell` have mapped, by file identity. */
export interface RunningShells {
  /** Pids running the shell executable. */
  readonly pids: readonly number[];
  /** File identity of each readline module -> a path to it and the pids using it. */
  readonly modules: ReadonlyMap<string, { readonly path: string; readonly pids: readonly number[] }>;
}

/**
 * Which readline each running process of `shell` uses: the executable when
 * it holds readline, else the first mapped library that defines it. Processes
 * we cannot read are left out.
 */
export function runningShells(shell: string): RunningShells {
  const pids: number[] = [];
  const modules = new Map<string, { path: string; pids: number[] }>();
  const hasReadline = new Map<string, boolean>();
  const defines = (file: string, identity: string): boolean => {
    let known = hasReadline.get(identity);
    if (known === undefined) {
      try {
        known = probedFunction(readElf(file), 'readline') !== undefined;
      } catch {
        known = false;
      }
      hasReadline.set(identity, known);
    }
    return known;
  };
  for (const pid of processesRunning(shell)) {
    const files = mappedFiles(pid);
    if (files.length === 0) continue; // exited meanwhile
    pids.push(pid);
    for (const mapped of files) {
      let identity: string;
      try {
        identity = fileIdentity(mapped.path);
      } catch {
        continue;
      }
      if (!defines(mapped.path, identity)) continue;
      const entry = modules.get(identity) ?? { path: mapped.path, pids: [] };
      entry.pids.push(pid);
      modules.set(identity, entry);
      break;
    }
  }
  return { pids, modules };
}
