/**
 * Commands as traces. For each interactive shell: a root span from the
 * moment a command line is entered (readline returns) to the next prompt
 * (readline entered again: the command finished), and below it one span per
 * process the command ran (exec to exit), nested by parentage. TCP connect
 * spans of those processes are placed under their process span through
 * contextFor(pid).
 *
 * Events must be fed in kernel time order (see ReorderBuffer). Anything that
 * comes unexpected still produces a span that says what is missing rather
 * than nothing: an exit whose exec was never seen, a process that outlived
 * its command.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type HrTime, type Span, type Tracer } from '@opentelemetry/api';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { KernelClock } from '../clock';
import type { TraceExecsMode } from '../config';
import type { BashPromptEvent, BashReadlineEvent } from '../decode/bash';
import type { ProcExecEvent, ProcExitEvent, ProcForkEvent } from '../decode/proc';
import { startRecordingSpan } from '../export/finished-span';
import {
  ATTR_PROCESS_COMMAND_ARGS,
  ATTR_PROCESS_COMMAND_LINE,
  ATTR_PROCESS_EXECUTABLE_NAME,
  ATTR_PROCESS_EXECUTABLE_PATH,
  ATTR_PROCESS_EXIT_CODE,
  ATTR_PROCESS_OWNER,
  ATTR_PROCESS_PARENT_PID,
  ATTR_PROCESS_PID,
  ATTR_PROCESS_USER_ID,
} from '../semconv';
import { LruMap } from '../lru';
import { isShared, markShared } from '../shared-arrays';
import type { UserNames } from '../users';
import { asTracerSource, type TracerSource } from '../workload/tracers';
import { REDACTED, type Redactor } from './redact';

export const ATTR_COMMAND_TRUNCATED = 'ebpf_otel.command.truncated';
export const ATTR_COMMAND_LINES = 'ebpf_otel.command.line_count';
export const ATTR_SHELL_TTY = 'ebpf_otel.shell.tty';
export const ATTR_PROCESS_SIGNAL = 'ebpf_otel.process.signal';
export const ATTR_PROCESS_ARGS_TRUNCATED = 'ebpf_otel.process.args_truncated';
export const ATTR_PROCESS_EXEC_SEEN = 'ebpf_otel.process.exec_seen';
export const ATTR_PROCESS_START_SEEN = 'ebpf_otel.process.start_seen';
export const ATTR_PROCESS_EXIT_SEEN = 'ebpf_otel.process.exit_seen';
export const ATTR_PROCESS_TTY = 'ebpf_otel.process.tty';
export const ATTR_PROCESS_EVICTED = 'ebpf_otel.process.evicted';

/** Span name and metric label of a command that ran no program and is no builtin (a typo, a pasted word). */
export const NOT_RUN = 'command_not_run';
/** A multi-line command keeps at most this many bytes (then ebpf_otel.command.truncated). */
export const MAX_COMMAND_BYTES = 16_384;
/** Bounds of the state tables (LRU: the least recently used entry goes, counted). */
export const TABLE_LIMITS = { shells: 1024, procs: 16_384, tombstones: 16_384 } as const;
export type TableName = keyof typeof TABLE_LIMITS;

/** Bash builtins and keywords: a command starting with one is named after it. */
const BUILTINS = new Set(('. : [ [[ alias bg bind break builtin caller case cd command compgen complete compopt continue coproc declare dirs disown echo enable ' +
  'eval exec exit export false fc fg for function getopts hash help history if jobs kill let local logout mapfile popd printf pushd pwd read ' +
  'readarray readonly return select set shift shopt source suspend test time times trap true type typeset ulimit umask unalias unset until wait while { ((').split(' '));

/** How long a finished process's span stays findable for late TCP events. */
const TOMBSTONE_NS = 30_000_000_000n;

interface Command {
  readonly shellPid: number;
  readonly span: Span;
  readonly context: Context;
  lines: string[];
  /** Bytes kept in `lines` (bounded by MAX_COMMAND_BYTES). */
  bytes: number;
  /** The first program the command ran (from the exec event): the span's name. */
  executable: string | undefined;
  /** The most recent direct child of the shell: bash's $? comes from the last process of a pipeline. */
  lastChildPid: number | undefined;
  exitCode: number | undefined;
  truncated: boolean;
}

interface Shell {
  readonly pid: number;
  command: Command | undefined;
  tty: string | undefined;
}

/** A process being followed; what describes it (pid, user, name) comes with each event. */
interface Proc {
  /** The command it belongs to, if any. */
  command: Command | undefined;
  /** Context its own span (or, before exec, its parent's) gives children. */
  parentContext: Context | undefined;
  span: Span | undefined;
  context: Context | undefined;
  /** When it started, if that was seen. */
  forkNs: bigint | undefined;
  /** The kernel's start time of this process: with the pid, its identity (pids are reused). */
  startNs: bigint | undefined;
}

export interface CommandTracerOptions {
  traceExecs: TraceExecsMode;
  redactor: Redactor;
  users?: UserNames;
  /** Called for every command started (after redaction), for metrics. */
  onCommand?: (name: string) => void;
  onCommandEnd?: (name: string, seconds: number) => void;
  /** Called for every entry a full table evicted. */
  onEvicted?: (table: TableName) => void;
  limits?: Partial<Record<TableName, number>>;
}

export class CommandTracer {
  private readonly shells: LruMap<number, Shell>;
  private readonly procs: LruMap<number, Proc>;
  private readonly tombstones: LruMap<number, { context: Context; exitNs: bigint; untilNs: bigint }>;
  private lastTombstoneSweepNs = 0n;
  /** Time of the newest event, for what an eviction ends. */
  private nowNs = 0n;
  /**
   * Redacted argv by decoded argv: a long argv block seen again decodes to the same shared array
   * (decodeArgvBlock, shared-arrays.ts), whose rules (10–20 µs on 4 KiB) need not run again.
   * Weak: an entry goes with its array, when the decoder's memo has dropped it and no span holds it.
   */
  private readonly redactedArgv = new WeakMap<readonly string[], readonly string[]>();

  private readonly tracers: TracerSource;

  /** `tracer`: one tracer for everything, or the workload's tracer for each event's process. */
  constructor(
    tracer: Tracer | TracerSource,
    private readonly clock: KernelClock,
    private readonly opts: CommandTracerOptions,
  ) {
    this.tracers = asTracerSource(tracer);
    const limit = (t: TableName): number => opts.limits?.[t] ?? TABLE_LIMITS[t];
    this.shells = new LruMap(limit('shells'), (_pid, shell) => {
      this.endCommand(shell, this.nowNs);
      opts.onEvicted?.('shells');
    });
    this.procs = new LruMap(limit('procs'), (_pid, proc) => {
      this.abandon(proc, this.nowNs, ATTR_PROCESS_EVICTED);
      opts.onEvicted?.('procs');
    });
    this.tombstones = new LruMap(limit('tombstones'), () => opts.onEvicted?.('tombstones'));
  }

  // ---- bash ----

  onReadline(e: BashReadlineEvent): void {
    this.nowNs = e.timestampNs;
    const shell = this.shell(e.pid);
    if (e.eof) {
      this.endCommand(shell, e.timestampNs);
      return;
    }
    const continuation = e.commandLine !== undefined && e.commandLine > 0 && shell.command !== undefined;
    if (continuation && shell.command) {
      const command = shell.command;
      // Bounded, and joined once at the end: O(n) in what is kept.
      if (command.bytes + e.line.length + 1 <= MAX_COMMAND_BYTES) {
        command.lines.push(e.line);
        command.bytes += e.line.length + 1;
      } else command.truncated = true;
      command.truncated ||= e.truncated;
      return;
    }
    this.endCommand(shell, e.timestampNs);
    if (e.line.trim() === '') return; // an empty line runs nothing
    const span = this.startSpan(e.pid, e.cgroupId, 'bash', 'bash', this.clock.toHrTime(e.timestampNs), this.shellAttributes(e.pid, e.uid), ROOT_CONTEXT);
    const command: Command = {
      shellPid: e.pid,
      span,
      context: trace.setSpan(ROOT_CONTEXT, span),
      lines: [e.line.slice(0, MAX_COMMAND_BYTES)],
      bytes: Math.min(e.line.length, MAX_COMMAND_BYTES),
      executable: undefined,
      lastChildPid: undefined,
      exitCode: undefined,
      truncated: e.truncated,
    };
    shell.command = command;
  }

  onPrompt(e: BashPromptEvent): void {
    // A continuation prompt (PS2) means the command is still being typed.
    if (e.commandLine !== undefined && e.commandLine > 0) return;
    const shell = this.shells.get(e.pid);
    if (shell) this.endCommand(shell, e.timestampNs);
  }

  // ---- processes ----

  onFork(e: ProcForkEvent): void {
    this.nowNs = e.timestampNs;
    // A new process with this pid: whatever we held for the pid belongs to a
    // process whose exit was lost.
    const stale = this.procs.peek(e.pid);
    if (stale) {
      this.abandon(stale, e.timestampNs, ATTR_PROCESS_EXIT_SEEN);
      this.procs.delete(e.pid);
    }
    const staleShell = this.shells.peek(e.pid);
    if (staleShell) {
      this.endCommand(staleShell, e.timestampNs);
      this.shells.delete(e.pid);
    }
    this.tombstones.delete(e.pid);
    this.follow(e.pid, e.ppid, e.timestampNs, false);
  }

  /** Ends what is known of a process that will never report its exit. */
  private abandon(proc: Proc, atNs: bigint, reason: typeof ATTR_PROCESS_EXIT_SEEN | typeof ATTR_PROCESS_EVICTED): void {
    if (!proc.span) return;
    proc.span.setAttribute(reason, reason === ATTR_PROCESS_EXIT_SEEN ? false : true);
    proc.span.end(this.clock.toHrTime(atNs));
    proc.span = undefined;
  }

  /** The process we follow under this pid, if it is the same process (same start time). */
  private current(pid: number, startNs: bigint, atNs: bigint): Proc | undefined {
    const proc = this.procs.get(pid);
    if (proc && proc.startNs !== undefined && proc.startNs !== startNs) {
      this.abandon(proc, atNs, ATTR_PROCESS_EXIT_SEEN);
      this.procs.delete(pid);
      return undefined;
    }
    return proc;
  }

  /**
   * Starts following a new process, placed by its parent: under the parent's
   * span, or under the command its parent shell is running. Only what can
   * become a span is followed (in interactive mode: the descendants of traced
   * commands, not every process on the host) unless `always`.
   */
  private follow(pid: number, ppid: number, startNs: bigint, always: boolean): Proc | undefined {
    const parent = this.procs.peek(ppid);
    const shell = this.shells.peek(ppid);
    const command = shell?.command ?? parent?.command;
    if (shell?.command) shell.command.lastChildPid = pid;
    if (command === undefined && this.opts.traceExecs !== 'all' && !always) return undefined;
    const proc: Proc = {
      command,
      parentContext: parent?.context ?? parent?.parentContext ?? shell?.command?.context,
      span: undefined,
      context: undefined,
      forkNs: startNs,
      startNs,
    };
    this.procs.set(pid, proc);
    return proc;
  }

  onExec(e: ProcExecEvent): void {
    this.nowNs = e.timestampNs;
    const executable = path.basename(e.filename) || e.comm;
    // Fork not seen (before we attached, or lost): place it by its parent.
    const proc = this.current(e.pid, e.startNs, e.timestampNs) ?? this.follow(e.pid, e.ppid, e.startNs, this.shells.has(e.pid));
    if (!proc) return;
    if (this.shells.has(e.pid)) {
      // `exec cmd` in a traced shell: the shell is gone, its command goes on as this process.
      const shell = this.shells.get(e.pid);
      proc.command = shell?.command;
      proc.parentContext = shell?.command?.context;
      this.shells.delete(e.pid);
    }
    if (proc.command && proc.command.executable === undefined) proc.command.executable = executable;
    if (proc.span) {
      // A second exec in the same process: the previous program ends here.
      proc.span.setAttribute(ATTR_PROCESS_EXEC_SEEN, true);
      proc.span.end(this.clock.toHrTime(e.timestampNs));
      proc.parentContext = proc.context;
    }
    if (!this.wantsSpan(proc)) return;
    let args = this.redactedArgv.get(e.args);
    if (args === undefined) {
      args = this.opts.redactor.args(e.args, e.argsText);
      // Shared too: by every span of this command line, and the jsonl exporter keeps its JSON.
      if (isShared(e.args)) this.redactedArgv.set(e.args, markShared(args));
    }
    const attributes: Attributes = {
      [ATTR_PROCESS_PID]: e.pid,
      [ATTR_PROCESS_PARENT_PID]: e.ppid,
      [ATTR_PROCESS_EXECUTABLE_NAME]: executable,
      [ATTR_PROCESS_EXECUTABLE_PATH]: this.opts.redactor.enabled ? (this.opts.redactor.args([e.filename])[0] ?? e.filename) : e.filename,
      [ATTR_PROCESS_COMMAND_ARGS]: args,
      [ATTR_PROCESS_USER_ID]: e.uid,
    };
    const owner = this.opts.users?.nameOf(e.uid);
    if (owner !== undefined) attributes[ATTR_PROCESS_OWNER] = owner;
    if (e.argsTruncated || e.filenameTruncated) attributes[ATTR_PROCESS_ARGS_TRUNCATED] = true;
    if (e.tty) attributes[ATTR_PROCESS_TTY] = e.tty;
    const span = this.startSpan(e.pid, e.cgroupId, e.comm, executable, this.clock.toHrTime(e.timestampNs), attributes, proc.parentContext ?? ROOT_CONTEXT);
    proc.span = span;
    proc.context = trace.setSpan(proc.parentContext ?? ROOT_CONTEXT, span);
  }

  onExit(e: ProcExitEvent): void {
    this.nowNs = e.timestampNs;
    // The late exit of an earlier process that had this pid: nothing of ours.
    const held = this.procs.peek(e.pid);
    if (held?.startNs !== undefined && e.startNs !== 0n && e.startNs < held.startNs) return;
    const shell = this.shells.peek(e.pid);
    if (shell) {
      this.endCommand(shell, e.timestampNs);
      this.shells.delete(e.pid);
    }
    let proc = this.current(e.pid, e.startNs, e.timestampNs);
    const code = e.termination.kind === 'exited' ? e.termination.code : 128 + e.termination.signal;
    if (proc?.command && proc.command.lastChildPid === e.pid) proc.command.exitCode = code;
    if (!proc && this.opts.traceExecs === 'all') {
      // Never saw it start: still report it, and say so.
      proc = { command: undefined, parentContext: this.procs.peek(e.ppid)?.context, span: undefined, context: undefined, forkNs: undefined, startNs: e.startNs };
    }
    if (proc && !proc.span && this.wantsSpan(proc)) {
      // Forked but never exec'd (a subshell), or a start we did not see.
      const startSeen = proc.forkNs !== undefined;
      const attributes: Attributes = {
        [ATTR_PROCESS_PID]: e.pid,
        [ATTR_PROCESS_PARENT_PID]: e.ppid,
        [ATTR_PROCESS_EXECUTABLE_NAME]: e.comm,
        [ATTR_PROCESS_USER_ID]: e.uid,
        [ATTR_PROCESS_EXEC_SEEN]: false,
      };
      if (!startSeen) attributes[ATTR_PROCESS_START_SEEN] = false;
      const owner = this.opts.users?.nameOf(e.uid);
      if (owner !== undefined) attributes[ATTR_PROCESS_OWNER] = owner;
      proc.span = this.startSpan(e.pid, e.cgroupId, e.comm, e.comm, this.clock.toHrTime(proc.forkNs ?? e.startNs), attributes, proc.parentContext ?? ROOT_CONTEXT);
      proc.context = trace.setSpan(proc.parentContext ?? ROOT_CONTEXT, proc.span);
    }
    if (proc?.span) {
      proc.span.setAttribute(ATTR_PROCESS_EXIT_CODE, code);
      if (e.termination.kind === 'signaled') proc.span.setAttribute(ATTR_PROCESS_SIGNAL, e.termination.signal);
      if (code !== 0) {
        proc.span.setStatus({
          code: SpanStatusCode.ERROR,
          message: e.termination.kind === 'signaled' ? `killed by signal ${e.termination.signal}` : `exit code ${code}`,
        });
      }
      proc.span.end(this.clock.toHrTime(e.timestampNs));
    }
    // The tombstone keeps the span's identity, not the span: finished spans (their attributes, up
    // to 4 KiB of argv each) held for TOMBSTONE_NS filled the old generation (the agent's peak RSS
    // under the long-argv exec storm: 169 MB, 108 MB without).
    const spanContext = proc?.context ? trace.getSpanContext(proc.context) : undefined;
    if (spanContext) this.tombstones.set(e.pid, { context: trace.setSpanContext(ROOT_CONTEXT, spanContext), exitNs: e.timestampNs, untilNs: e.timestampNs + TOMBSTONE_NS });
    this.procs.delete(e.pid);
    this.sweepTombstones(e.timestampNs);
  }

  /**
   * The span a TCP connect (or anything else) of `pid` belongs under.
   * `startedNs`: when the connect began. A finished process only claims what
   * it started before its exit: a later connect under the same pid is a new
   * process's (pid reuse), whose fork the kernel may not report at all
   * (processes nobody follows are filtered there).
   */
  contextFor(pid: number, startedNs?: bigint): Context | undefined {
    const proc = this.procs.peek(pid);
    if (proc) return proc.context ?? proc.parentContext;
    const tombstone = this.tombstones.peek(pid);
    if (!tombstone || (startedNs !== undefined && startedNs > tombstone.exitNs)) return undefined;
    return tombstone.context;
  }

  /**
   * Ends what the kernel will never report: processes and shells that are
   * gone without an exit event (lost in a full ring buffer), so nothing
   * stays open or in memory forever. Called periodically.
   */
  sweep(nowNs: bigint, alive: (pid: number) => boolean = (pid) => existsSync(`/proc/${pid}`)): void {
    for (const [pid, proc] of this.procs) {
      if (alive(pid)) continue;
      if (proc.span) {
        proc.span.setAttribute(ATTR_PROCESS_EXIT_SEEN, false);
        proc.span.end(this.clock.toHrTime(nowNs));
      }
      this.procs.delete(pid);
    }
    for (const [pid, shell] of this.shells) {
      if (alive(pid)) continue;
      this.endCommand(shell, nowNs);
      this.shells.delete(pid);
    }
    this.sweepTombstones(nowNs);
  }

  /** Ends whatever is still open (shutdown). */
  close(nowNs: bigint): void {
    for (const shell of this.shells.values()) this.endCommand(shell, nowNs);
    for (const proc of this.procs.values()) {
      if (proc.span) {
        proc.span.setAttribute('ebpf_otel.process.running_at_shutdown', true);
        proc.span.end(this.clock.toHrTime(nowNs));
      }
    }
    this.procs.clear();
    this.shells.clear();
  }

  /** Open commands and tracked processes, for diagnostics and tests. */
  get size(): { shells: number; procs: number; tombstones: number } {
    return { shells: this.shells.size, procs: this.procs.size, tombstones: this.tombstones.size };
  }

  /**
   * A span of the event's workload, handed to the span processors when it ends (RecordingSpan:
   * export/finished-span.ts says why), or from the tracer when the source has no sink.
   */
  private startSpan(pid: number, cgroupId: bigint, comm: string, name: string, startTime: HrTime, attributes: Attributes, parent: Context): Span {
    const sink = this.tracers.sinkFor?.(pid, cgroupId, comm);
    if (sink) return startRecordingSpan(sink, { name, kind: SpanKind.INTERNAL, startTime, attributes, parent });
    return this.tracers.tracerFor(pid, cgroupId, comm).startSpan(name, { kind: SpanKind.INTERNAL, startTime, attributes }, parent);
  }

  private wantsSpan(proc: Proc): boolean {
    if (this.opts.traceExecs === 'none') return false;
    if (this.opts.traceExecs === 'all') return true;
    return proc.command !== undefined;
  }

  private shell(pid: number): Shell {
    let shell = this.shells.get(pid);
    if (!shell) {
      shell = { pid, command: undefined, tty: ttyOf(pid) };
      this.shells.set(pid, shell);
    }
    return shell;
  }

  private shellAttributes(pid: number, uid: number): Attributes {
    const attributes: Attributes = { [ATTR_PROCESS_PID]: pid, [ATTR_PROCESS_USER_ID]: uid };
    const owner = this.opts.users?.nameOf(uid);
    if (owner !== undefined) attributes[ATTR_PROCESS_OWNER] = owner;
    const tty = this.shells.peek(pid)?.tty;
    if (tty) attributes[ATTR_SHELL_TTY] = tty;
    return attributes;
  }

  /**
   * Names the command after the program it ran (from the exec event), or the
   * builtin it starts with; never after a typed word, which may be a pasted
   * secret. A line that ran nothing and that bash did not find (exit 127)
   * is hidden whole for the same reason.
   */
  private describeCommand(command: Command): string {
    const text = this.opts.redactor.line(command.lines.join('\n'));
    const first = commandName(text);
    const name = command.executable ?? (BUILTINS.has(first) ? first : NOT_RUN);
    const hidden = command.executable === undefined && command.exitCode === 127;
    command.span.updateName(name);
    command.span.setAttribute(ATTR_PROCESS_COMMAND_LINE, hidden ? REDACTED : text);
    if (command.lines.length > 1) command.span.setAttribute(ATTR_COMMAND_LINES, command.lines.length);
    if (command.truncated) command.span.setAttribute(ATTR_COMMAND_TRUNCATED, true);
    return name;
  }

  private endCommand(shell: Shell, atNs: bigint): void {
    const command = shell.command;
    if (!command) return;
    shell.command = undefined;
    const name = this.describeCommand(command);
    if (command.exitCode !== undefined) {
      command.span.setAttribute(ATTR_PROCESS_EXIT_CODE, command.exitCode);
      if (command.exitCode !== 0) command.span.setStatus({ code: SpanStatusCode.ERROR, message: `exit code ${command.exitCode}` });
    }
    const end = this.clock.toHrTime(atNs);
    command.span.end(end);
    const start = (command.span as unknown as { startTime?: [number, number] }).startTime;
    this.opts.onCommand?.(name);
    if (start) this.opts.onCommandEnd?.(name, end[0] - start[0] + (end[1] - start[1]) / 1e9);
  }

  private sweepTombstones(nowNs: bigint): void {
    if (nowNs - this.lastTombstoneSweepNs < 1_000_000_000n) return;
    this.lastTombstoneSweepNs = nowNs;
    // Oldest first: stop at the first one still valid.
    for (const [pid, t] of this.tombstones) {
      if (t.untilNs >= nowNs) break;
      this.tombstones.delete(pid);
    }
  }
}

/** The first word that is not a variable assignment: `FOO=1 make -j` -> make (used to recognise builtins). */
export function commandName(line: string): string {
  const words = line.trim().split(/\s+/);
  for (const w of words) {
    if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(w)) continue;
    const name = w.replace(/^[({!]+/, '').replace(/["']/g, '');
    if (name) return path.basename(name).slice(0, 64);
  }
  return 'bash';
}

/**
 * The controlling terminal of a process, from tty_nr in /proc/PID/stat:
 * readable without privileges (the agent holds none once attached), unlike
 * /proc/PID/fd, which needs ptrace access to the shell.
 */
export function ttyOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return ttyFromDevice(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[4]));
  } catch {
    return undefined;
  }
}

/** tty_nr (the kernel's encoded dev_t) as ps(1) names it: pts/N, ttyN, ttySN. */
export function ttyFromDevice(dev: number): string | undefined {
  if (!Number.isInteger(dev) || dev <= 0) return undefined;
  const major = (dev >> 8) & 0xfff;
  const minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
  if (major >= 136 && major <= 143) return `pts/${(major - 136) * 256 + minor}`;
  if (major === 4) return minor < 64 ? `tty${minor}` : `ttyS${minor - 64}`;
  return undefined;
}
