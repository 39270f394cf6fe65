/**
 * Decoders for the interactive bash events of bpf/bash.h: struct
 * bash_readline_event (variable length: the unused tail of the line is not
 * sent) and bash_prompt_event. What each event means (empty lines, end of
 * input, multi-line commands) is described in bpf/bash.h.
 */
import { checkEventHeader, DecodeError, EventType, readCString, type EventLayout } from './layout';

/** Mirror of BASH_LINE_MAX in bpf/bash.h (NUL included). */
export const BASH_LINE_MAX = 4096;

/** bash_readline_event.flags: enum bash_line_flag (bpf/bash.h; checked against BTF by test/layout.test.ts). */
export const BashLineFlag = {
  Truncated: 1 << 0,
  Eof: 1 << 1,
  LengthUnknown: 1 << 2,
  FromReturn: 1 << 3,
  Unreadable: 1 << 4,
} as const;

export const BASH_READLINE_LAYOUT: EventLayout<
  | 'type' | 'flags' | 'timestamp_ns' | 'cgroup_id' | 'pid' | 'tid' | 'uid' | 'gid' | 'line_len' | 'line_size'
  | 'command_line' | '_pad0' | 'comm' | 'line'
> = {
  struct: 'bash_readline_event',
  object: 'bash',
  size: 72 + BASH_LINE_MAX,
  fields: {
    type: { offset: 0, size: 4 },
    flags: { offset: 4, size: 4 },
    timestamp_ns: { offset: 8, size: 8 },
    cgroup_id: { offset: 16, size: 8 },
    pid: { offset: 24, size: 4 },
    tid: { offset: 28, size: 4 },
    uid: { offset: 32, size: 4 },
    gid: { offset: 36, size: 4 },
    line_len: { offset: 40, size: 4 },
    line_size: { offset: 44, size: 4 },
    command_line: { offset: 48, size: 4 },
    _pad0: { offset: 52, size: 4 },
    comm: { offset: 56, size: 16 },
    line: { offset: 72, size: BASH_LINE_MAX },
  },
};
/** The shortest line record: the header and the NUL of an empty line. */
export const BASH_READLINE_HEADER_SIZE = BASH_READLINE_LAYOUT.fields.line.offset;

export const BASH_PROMPT_LAYOUT: EventLayout<
  'type' | '_pad0' | 'timestamp_ns' | 'cgroup_id' | 'pid' | 'tid' | 'uid' | 'gid' | 'command_line' | '_pad1' | 'comm'
> = {
  struct: 'bash_prompt_event',
  object: 'bash',
  size: 64,
  fields: {
    type: { offset: 0, size: 4 },
    _pad0: { offset: 4, size: 4 },
    timestamp_ns: { offset: 8, size: 8 },
    cgroup_id: { offset: 16, size: 8 },
    pid: { offset: 24, size: 4 },
    tid: { offset: 28, size: 4 },
    uid: { offset: 32, size: 4 },
    gid: { offset: 36, size: 4 },
    command_line: { offset: 40, size: 4 },
    _pad1: { offset: 44, size: 4 },
    comm: { offset: 48, size: 16 },
  },
};

export interface BashReadlineEvent {
  readonly kind: 'bash_readline';
  /** CLOCK_MONOTONIC nanoseconds when the line was entered. */
  readonly timestampNs: bigint;
  readonly cgroupId: bigint;
  /** The shell process. */
  readonly pid: number;
  readonly tid: number;
  readonly uid: number;
  readonly gid: number;
  readonly comm: string;
  /** The line as typed ('' for an empty line, end of input or an unreadable line). */
  readonly line: string;
  /** Real length in bytes; equals the captured bytes when lengthKnown is false. */
  readonly lineLength: number;
  /** Only the first BASH_LINE_MAX - 1 bytes are in `line`. */
  readonly truncated: boolean;
  /** Whether lineLength is the real length (rl_end was readable). */
  readonly lengthKnown: boolean;
  /** End of input (Ctrl-D on an empty line): no line, the shell may exit. */
  readonly eof: boolean;
  /** The line could not be read from the shell's memory. */
  readonly unreadable: boolean;
  /** Captured by the readline-return fallback probe (misses a line in progress at attach). */
  readonly fromReturn: boolean;
  /**
   * 0-based index of this line within a multi-line command (0: first line);
   * undefined when the shell's line counter is not available.
   */
  readonly commandLine: number | undefined;
}

export interface BashPromptEvent {
  readonly kind: 'bash_prompt';
  /** CLOCK_MONOTONIC nanoseconds when readline was entered. */
  readonly timestampNs: bigint;
  readonly cgroupId: bigint;
  readonly pid: number;
  readonly tid: number;
  readonly uid: number;
  readonly gid: number;
  readonly comm: string;
  /** 0: a new command (PS1), > 0: continuation line (PS2); undefined when unknown. */
  readonly commandLine: number | undefined;
}

function commandLine(buf: Buffer, offset: number): number | undefined {
  const value = buf.readInt32LE(offset);
  return value < 0 ? undefined : value;
}

const L = BASH_READLINE_LAYOUT.fields;

export function decodeBashReadline(buf: Buffer): BashReadlineEvent {
  checkEventHeader(buf, 'bash_readline_event', BASH_READLINE_HEADER_SIZE, EventType.BashReadline);
  const flags = buf.readUInt32LE(L.flags.offset);
  const lineSize = buf.readUInt32LE(L.line_size.offset);
  if (lineSize >= BASH_LINE_MAX) {
    throw new DecodeError('invalid', `bash_readline_event: line_size ${lineSize} exceeds ${BASH_LINE_MAX - 1}`);
  }
  if (buf.length < BASH_READLINE_HEADER_SIZE + lineSize) {
    throw new DecodeError(
      'truncated',
      `bash_readline_event: ${buf.length} bytes, line_size ${lineSize} needs ${BASH_READLINE_HEADER_SIZE + lineSize}`,
    );
  }
  return {
    kind: 'bash_readline',
    timestampNs: buf.readBigUInt64LE(L.timestamp_ns.offset),
    cgroupId: buf.readBigUInt64LE(L.cgroup_id.offset),
    pid: buf.readUInt32LE(L.pid.offset),
    tid: buf.readUInt32LE(L.tid.offset),
    uid: buf.readUInt32LE(L.uid.offset),
    gid: buf.readUInt32LE(L.gid.offset),
    comm: readCString(buf, L.comm.offset, L.comm.size),
    line: buf.toString('utf8', L.line.offset, L.line.offset + lineSize),
    lineLength: buf.readUInt32LE(L.line_len.offset),
    truncated: (flags & BashLineFlag.Truncated) !== 0,
    lengthKnown: (flags & BashLineFlag.LengthUnknown) === 0,
    eof: (flags & BashLineFlag.Eof) !== 0,
    unreadable: (flags & BashLineFlag.Unreadable) !== 0,
    fromReturn: (flags & BashLineFlag.FromReturn) !== 0,
    commandLine: commandLine(buf, L.command_line.offset),
  };
}

const P = BASH_PROMPT_LAYOUT.fields;

export function decodeBashPrompt(buf: Buffer): BashPromptEvent {
  checkEventHeader(buf, 'bash_prompt_event', BASH_PROMPT_LAYOUT.size, EventType.BashPrompt);
  return {
    kind: 'bash_prompt',
    timestampNs: buf.readBigUInt64LE(P.timestamp_ns.offset),
    cgroupId: buf.readBigUInt64LE(P.cgroup_id.offset),
    pid: buf.readUInt32LE(P.pid.offset),
    tid: buf.readUInt32LE(P.tid.offset),
    uid: buf.readUInt32LE(P.uid.offset),
    gid: buf.readUInt32LE(P.gid.offset),
    comm: readCString(buf, P.comm.offset, P.comm.size),
    commandLine: commandLine(buf, P.command_line.offset),
  };
}
