/**
 * Decoders for the process lifecycle events of bpf/proc.h: struct
 * proc_exec_event (variable length: the argv tail is not sent),
 * proc_fork_event and proc_exit_event.
 */
import { isAscii } from 'node:buffer';
import { markShared } from '../shared-arrays';
import { ArgvBlockMemo } from './argv-memo';
import { checkEventHeader, DecodeError, EventType, readCString, type EventLayout } from './layout';

/** Mirrors of the limits in bpf/proc.h. */
export const PROC_FILENAME_LEN = 256;
export const PROC_ARGS_MAX_BYTES = 4096;
export const PROC_ARGS_MAX_COUNT = 64;

/** proc_exec_event.flags: enum proc_exec_flag (bpf/proc.h; checked against BTF by test/layout.test.ts). */
export const ProcExecFlag = {
  ArgsTruncated: 1 << 0,
  FilenameTruncated: 1 << 1,
  ArgsUnreadable: 1 << 2,
} as const;

export const PROC_EXEC_LAYOUT: EventLayout<
  | 'type' | 'flags' | 'timestamp_ns' | 'start_ns' | 'cgroup_id' | 'pid' | 'tid' | 'ppid' | 'old_tid' | 'uid' | 'gid'
  | 'session_id' | 'argc' | 'args_size' | 'args_size_total' | 'comm' | 'tty' | 'filename' | 'args'
> = {
  struct: 'proc_exec_event',
  object: 'proc',
  size: 104 + PROC_FILENAME_LEN + PROC_ARGS_MAX_BYTES,
  fields: {
    type: { offset: 0, size: 4 },
    flags: { offset: 4, size: 4 },
    timestamp_ns: { offset: 8, size: 8 },
    start_ns: { offset: 16, size: 8 },
    cgroup_id: { offset: 24, size: 8 },
    pid: { offset: 32, size: 4 },
    tid: { offset: 36, size: 4 },
    ppid: { offset: 40, size: 4 },
    old_tid: { offset: 44, size: 4 },
    uid: { offset: 48, size: 4 },
    gid: { offset: 52, size: 4 },
    session_id: { offset: 56, size: 4 },
    argc: { offset: 60, size: 4 },
    args_size: { offset: 64, size: 4 },
    args_size_total: { offset: 68, size: 4 },
    comm: { offset: 72, size: 16 },
    tty: { offset: 88, size: 16 },
    filename: { offset: 104, size: PROC_FILENAME_LEN },
    args: { offset: 104 + PROC_FILENAME_LEN, size: PROC_ARGS_MAX_BYTES },
  },
};
/** The shortest exec record: everything before args[] (PROC_EXEC_HEADER_SIZE). */
export const PROC_EXEC_HEADER_SIZE = PROC_EXEC_LAYOUT.fields.args.offset;

export const PROC_FORK_LAYOUT: EventLayout<
  'type' | '_pad0' | 'timestamp_ns' | 'cgroup_id' | 'pid' | 'ppid' | 'parent_tid' | 'uid' | 'gid' | '_pad1' | 'comm'
> = {
  struct: 'proc_fork_event',
  object: 'proc',
  size: 64,
  fields: {
    type: { offset: 0, size: 4 },
    _pad0: { offset: 4, size: 4 },
    timestamp_ns: { offset: 8, size: 8 },
    cgroup_id: { offset: 16, size: 8 },
    pid: { offset: 24, size: 4 },
    ppid: { offset: 28, size: 4 },
    parent_tid: { offset: 32, size: 4 },
    uid: { offset: 36, size: 4 },
    gid: { offset: 40, size: 4 },
    _pad1: { offset: 44, size: 4 },
    comm: { offset: 48, size: 16 },
  },
};

export const PROC_EXIT_LAYOUT: EventLayout<
  'type' | 'exit_code' | 'timestamp_ns' | 'start_ns' | 'cgroup_id' | 'pid' | 'tid' | 'ppid' | 'uid' | 'gid' | '_pad0' | 'comm'
> = {
  struct: 'proc_exit_event',
  object: 'proc',
  size: 72,
  fields: {
    type: { offset: 0, size: 4 },
    exit_code: { offset: 4, size: 4 },
    timestamp_ns: { offset: 8, size: 8 },
    start_ns: { offset: 16, size: 8 },
    cgroup_id: { offset: 24, size: 8 },
    pid: { offset: 32, size: 4 },
    tid: { offset: 36, size: 4 },
    ppid: { offset: 40, size: 4 },
    uid: { offset: 44, size: 4 },
    gid: { offset: 48, size: 4 },
    _pad0: { offset: 52, size: 4 },
    comm: { offset: 56, size: 16 },
  },
};

export interface ProcExecEvent {
  readonly kind: 'proc_exec';
  /** CLOCK_MONOTONIC nanoseconds when the new program was installed. */
  readonly timestampNs: bigint;
  /** CLOCK_MONOTONIC nanoseconds when the process was forked. */
  readonly startNs: bigint;
  readonly cgroupId: bigint;
  readonly pid: number;
  readonly tid: number;
  readonly ppid: number;
  /** The thread that called execve (differs from pid when it was not the leader). */
  readonly oldTid: number;
  readonly uid: number;
  readonly gid: number;
  /** Session id (pid of the session leader), 0 when unknown. */
  readonly sessionId: number;
  /** Controlling terminal as ps(1) names it ("pts/3", "tty1"), undefined without one. */
  readonly tty: string | undefined;
  readonly comm: string;
  /** The path given to execve, not resolved. */
  readonly filename: string;
  readonly filenameTruncated: boolean;
  /** The real argument count; may exceed args.length when argv was cut. */
  readonly argc: number;
  /**
   * At most PROC_ARGS_MAX_COUNT arguments; the last one may be cut when argsTruncated. For a
   * block of ARGV_MEMO_MIN_BYTES or more seen before, an array shared by the events with the
   * same bytes (decodeArgvBlock).
   */
  readonly args: readonly string[];
  /** `args.join('\0')`, as decoded (no join made): the redactor scans argv whole, not word by word. */
  readonly argsText: string;
  /** Some of argv is missing: too many bytes or too many arguments. */
  readonly argsTruncated: boolean;
  /** The kernel could not read argv at all (args is empty). */
  readonly argsUnreadable: boolean;
  /** Real size of argv in bytes (NULs included). */
  readonly argsSizeTotal: number;
}

export interface ProcForkEvent {
  readonly kind: 'proc_fork';
  /** CLOCK_MONOTONIC nanoseconds: the child's start time. */
  readonly timestampNs: bigint;
  readonly cgroupId: bigint;
  /** The new process. */
  readonly pid: number;
  /** Its parent process (real_parent). */
  readonly ppid: number;
  /** The thread of the parent that forked. */
  readonly parentTid: number;
  readonly uid: number;
  readonly gid: number;
  readonly comm: string;
}

/** How a process ended, decoded from the wait(2) status. */
export type ProcTermination =
  | { readonly kind: 'exited'; readonly code: number }
  | { readonly kind: 'signaled'; readonly signal: number; readonly coreDumped: boolean };

export interface ProcExitEvent {
  readonly kind: 'proc_exit';
  readonly timestampNs: bigint;
  readonly startNs: bigint;
  /** timestampNs - startNs: the whole process's lifetime (fork to exit). */
  readonly durationNs: bigint;
  readonly cgroupId: bigint;
  readonly pid: number;
  readonly tid: number;
  readonly ppid: number;
  readonly uid: number;
  readonly gid: number;
  readonly comm: string;
  /** Raw wait(2) status: (code << 8) | signal | 0x80 when a core was dumped. */
  readonly waitStatus: number;
  readonly termination: ProcTermination;
}

/**
 * Splits the NUL-separated argv block. A trailing NUL ends the last argument;
 * without one (cut block) the last argument is partial. Empty arguments are
 * kept ('' is a real argument).
 *
 * One UTF-8 decode of the whole block, then a split on NUL: a decode per
 * argument cost three times as much on a 4 KiB argv (64 calls into the
 * Buffer binding). The result is the same: NUL is never part of a UTF-8
 * sequence, so a sequence cut by one decodes to U+FFFD either way
 * (test/unit-decode-proc.test.ts checks this on random bytes). `text` is the
 * arguments joined with NUL, the decoded block itself unless some were dropped.
 */
export function splitArgs(block: Buffer, maxCount: number = PROC_ARGS_MAX_COUNT): { args: string[]; text: string; dropped: boolean } {
  if (block.length === 0) return { args: [], text: '', dropped: false };
  // ASCII decodes the same either way; latin1 skips UTF-8 decoding (0.4 against 0.65 µs for 4 KiB).
  const decoded = block.toString(isAscii(block) ? 'latin1' : 'utf8');
  const text = block[block.length - 1] === 0 ? decoded.slice(0, -1) : decoded;
  const args = text.split('\0');
  if (args.length <= maxCount) return { args, text, dropped: false };
  args.length = maxCount;
  // The text up to the last argument kept: a slice of the decoded block, not a join of the arguments.
  let kept = maxCount - 1;
  for (const arg of args) kept += arg.length;
  return { args, text: text.slice(0, kept), dropped: true };
}

/** What splitArgs makes of an argv block. */
export interface DecodedArgs {
  readonly args: readonly string[];
  readonly text: string;
  readonly dropped: boolean;
}

/**
 * splitArgs, with long blocks decoded once while they repeat (argv-memo.ts): the same bytes give
 * the same array, marked shared (shared-arrays.ts), which the stages after may keep their work on;
 * a block not (yet) kept gives a fresh array, not marked.
 */
const decodedArgv = new ArgvBlockMemo<DecodedArgs>(splitArgs, ({ args, text, dropped }) => ({ args: markShared(args), text, dropped }));

/** splitArgs, memoised for blocks of ARGV_MEMO_MIN_BYTES or more (argv-memo.ts). */
export function decodeArgvBlock(block: Buffer): DecodedArgs {
  return decodedArgv.get(block);
}

/**
 * The kernel names pseudo-terminals "pts3" (tty->name); /dev and ps(1) say
 * "pts/3". Other names ("tty1", "ttyS0") are the same in both.
 */
export function ttyName(kernelName: string): string | undefined {
  if (kernelName === '') return undefined;
  const pts = /^pts(\d+)$/.exec(kernelName);
  return pts ? `pts/${pts[1]}` : kernelName;
}

const X = PROC_EXEC_LAYOUT.fields;

export function decodeProcExec(buf: Buffer): ProcExecEvent {
  checkEventHeader(buf, 'proc_exec_event', PROC_EXEC_HEADER_SIZE, EventType.ProcExec);
  const flags = buf.readUInt32LE(X.flags.offset);
  const argsSize = buf.readUInt32LE(X.args_size.offset);
  if (argsSize > PROC_ARGS_MAX_BYTES) {
    throw new DecodeError('invalid', `proc_exec_event: args_size ${argsSize} exceeds ${PROC_ARGS_MAX_BYTES}`);
  }
  if (buf.length < PROC_EXEC_HEADER_SIZE + argsSize) {
    throw new DecodeError('truncated', `proc_exec_event: ${buf.length} bytes, args_size ${argsSize} needs ${PROC_EXEC_HEADER_SIZE + argsSize}`);
  }
  const { args, text: argsText, dropped } = decodeArgvBlock(buf.subarray(X.args.offset, X.args.offset + argsSize));
  const tty = readCString(buf, X.tty.offset, X.tty.size);
  return {
    kind: 'proc_exec',
    timestampNs: buf.readBigUInt64LE(X.timestamp_ns.offset),
    startNs: buf.readBigUInt64LE(X.start_ns.offset),
    cgroupId: buf.readBigUInt64LE(X.cgroup_id.offset),
    pid: buf.readUInt32LE(X.pid.offset),
    tid: buf.readUInt32LE(X.tid.offset),
    ppid: buf.readUInt32LE(X.ppid.offset),
    oldTid: buf.readUInt32LE(X.old_tid.offset),
    uid: buf.readUInt32LE(X.uid.offset),
    gid: buf.readUInt32LE(X.gid.offset),
    sessionId: buf.readUInt32LE(X.session_id.offset),
    tty: ttyName(tty),
    comm: readCString(buf, X.comm.offset, X.comm.size),
    filename: readCString(buf, X.filename.offset, X.filename.size),
    filenameTruncated: (flags & ProcExecFlag.FilenameTruncated) !== 0,
    argc: buf.readInt32LE(X.argc.offset),
    args,
    argsText,
    argsTruncated: (flags & ProcExecFlag.ArgsTruncated) !== 0 || dropped,
    argsUnreadable: (flags & ProcExecFlag.ArgsUnreadable) !== 0,
    argsSizeTotal: buf.readUInt32LE(X.args_size_total.offset),
  };
}

const K = PROC_FORK_LAYOUT.fields;

export function decodeProcFork(buf: Buffer): ProcForkEvent {
  checkEventHeader(buf, 'proc_fork_event', PROC_FORK_LAYOUT.size, EventType.ProcFork);
  return {
    kind: 'proc_fork',
    timestampNs: buf.readBigUInt64LE(K.timestamp_ns.offset),
    cgroupId: buf.readBigUInt64LE(K.cgroup_id.offset),
    pid: buf.readUInt32LE(K.pid.offset),
    ppid: buf.readUInt32LE(K.ppid.offset),
    parentTid: buf.readUInt32LE(K.parent_tid.offset),
    uid: buf.readUInt32LE(K.uid.offset),
    gid: buf.readUInt32LE(K.gid.offset),
    comm: readCString(buf, K.comm.offset, K.comm.size),
  };
}

/** Decodes a wait(2) status as the kernel stores it in task->exit_code. */
export function decodeWaitStatus(status: number): ProcTermination {
  const signal = status & 0x7f;
  if (signal === 0) return { kind: 'exited', code: (status >> 8) & 0xff };
  return { kind: 'signaled', signal, coreDumped: (status & 0x80) !== 0 };
}

const E = PROC_EXIT_LAYOUT.fields;

export function decodeProcExit(buf: Buffer): ProcExitEvent {
  checkEventHeader(buf, 'proc_exit_event', PROC_EXIT_LAYOUT.size, EventType.ProcExit);
  const timestampNs = buf.readBigUInt64LE(E.timestamp_ns.offset);
  const startNs = buf.readBigUInt64LE(E.start_ns.offset);
  const waitStatus = buf.readUInt32LE(E.exit_code.offset);
  return {
    kind: 'proc_exit',
    timestampNs,
    startNs,
    durationNs: timestampNs > startNs ? timestampNs - startNs : 0n,
    cgroupId: buf.readBigUInt64LE(E.cgroup_id.offset),
    pid: buf.readUInt32LE(E.pid.offset),
    tid: buf.readUInt32LE(E.tid.offset),
    ppid: buf.readUInt32LE(E.ppid.offset),
    uid: buf.readUInt32LE(E.uid.offset),
    gid: buf.readUInt32LE(E.gid.offset),
    comm: readCString(buf, E.comm.offset, E.comm.size),
    waitStatus,
    termination: decodeWaitStatus(waitStatus),
  };
}
