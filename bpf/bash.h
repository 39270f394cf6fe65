/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Interactive bash: the lines people type (readline) and the moments bash
 * asks for the next one (a prompt: the previous command has finished). The
 * ring buffer layouts shared by bpf/bash.bpf.c and
 * receiver/src/decode/bash.ts (checked against the object's BTF by
 * test/layout.test.ts).
 *
 * What is seen, and how to read it:
 * - Every readline() call is one BASH_PROMPT (at entry) and, when the user
 *   presses Enter, one BASH_READLINE with the line as typed, before history
 *   expansion, aliases or parsing. Lines that never pass through readline
 *   (`bash -c`, scripts, non-interactive shells) are only visible as execs.
 * - An empty line (just Enter) is a BASH_READLINE with line_len 0.
 * - End of input (Ctrl-D on an empty line) is a BASH_READLINE with
 *   BASH_F_EOF and no line: the shell is about to exit (or ignores it with
 *   `ignoreeof`).
 * - A command spanning several lines (an open quote, `for ... do`, a trailing
 *   backslash) arrives as one BASH_READLINE per physical line, each after its
 *   own (PS2) prompt. `command_line` is bash's current_command_line_count at
 *   that moment, when bash exports it: see bash.bpf.c for its meaning. A
 *   bracketed paste of several lines is a single line with '\n' inside.
 * - Lines longer than BASH_LINE_MAX - 1 bytes are cut: BASH_F_TRUNCATED, and
 *   line_len keeps the real length when it is known (rl_end).
 */
#ifndef EBPF_OTEL_BASH_H
#define EBPF_OTEL_BASH_H

#include "common.h"

/*
 * Bytes of a line kept, NUL included (power of two: the verifier bounds the
 * copy with it). A typed command line is almost always far shorter; a pasted
 * script can be longer, and is cut.
 */
#define BASH_LINE_MAX 4096

/* bash_readline_event.flags (bits) */
enum bash_line_flag {
	BASH_F_TRUNCATED = 1u << 0,      /* line longer than line[] could hold */
	BASH_F_EOF = 1u << 1,            /* readline returned NULL (end of input): no line */
	BASH_F_LENGTH_UNKNOWN = 1u << 2, /* rl_end not readable: line_len is what was captured */
	BASH_F_FROM_RETURN = 1u << 3,    /* captured by the readline uretprobe fallback */
	BASH_F_UNREADABLE = 1u << 4,     /* reading the line faulted: no line */
};
EBPF_OTEL_BTF_ENUM(bash_line_flag)

/*
 * A line entered at a readline prompt. Variable length: the record is
 * offsetof(line) + line_size + 1 bytes long (the NUL included), the tail of
 * line[] is not sent.
 */
struct bash_readline_event {
	__u32 type;                     /* EVENT_BASH_READLINE */
	__u32 flags;                    /* BASH_F_* */
	__u64 timestamp_ns;             /* CLOCK_MONOTONIC when Enter was handled */
	__u64 cgroup_id;
	__u32 pid;                      /* tgid of the shell */
	__u32 tid;
	__u32 uid;
	__u32 gid;
	__u32 line_len;                 /* real length in bytes (rl_end), see BASH_F_LENGTH_UNKNOWN */
	__u32 line_size;                /* bytes of line[] sent, NUL not counted (<= BASH_LINE_MAX - 1) */
	__s32 command_line;             /* bash's current_command_line_count, -1 if unknown */
	__u32 _pad0;
	char comm[EBPF_OTEL_COMM_LEN];
	char line[BASH_LINE_MAX];       /* line_size bytes, then NUL */
};
_Static_assert(sizeof(struct bash_readline_event) == 72 + BASH_LINE_MAX, "bash_readline_event layout");
/* Bytes of a bash_readline_event before line[]. */
#define BASH_READLINE_HEADER_SIZE 72

/* readline() was entered: the shell shows a prompt and waits. */
struct bash_prompt_event {
	__u32 type;                     /* EVENT_BASH_PROMPT */
	__u32 _pad0;
	__u64 timestamp_ns;
	__u64 cgroup_id;
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__u32 gid;
	__s32 command_line;             /* 0: a new command (PS1), > 0: continuation (PS2); -1 unknown */
	__u32 _pad1;
	char comm[EBPF_OTEL_COMM_LEN];
};
_Static_assert(sizeof(struct bash_prompt_event) == 64, "bash_prompt_event layout");

/* Indices of the per-CPU `stats` array: the kernel side's own health. */
enum bash_stat {
	BASH_STAT_RINGBUF_DROPS = 0,    /* ring buffer full: event lost */
	BASH_STAT_LINE_UNREADABLE = 1,  /* the line could not be read (event sent without it) */
	BASH_STAT_EVENTS = 2,           /* events submitted */
	BASH_STAT_FOLLOW_FULL = 3,      /* followed-process table full: this shell's commands are not followed */
	BASH_STAT__COUNT = 4,
};
EBPF_OTEL_BTF_ENUM(bash_stat)

/*
 * Settings of bash.bpf.c for a readline in a shared library: exe_globals is a
 * set of these bits (globals located in the shell executable, not in the
 * library), exe_build_id holds up to BASH_BUILD_ID_MAX bytes.
 */
enum bash_global {
	BASH_GLOBAL_RL_LINE_BUFFER = 1u << 0,
	BASH_GLOBAL_RL_END = 1u << 1,
	BASH_GLOBAL_COMMAND_LINE_COUNT = 1u << 2,
};
EBPF_OTEL_BTF_ENUM(bash_global)

enum bash_limit {
	BASH_BUILD_ID_MAX = 20,         /* a GNU build ID (SHA-1) */
};
EBPF_OTEL_BTF_ENUM(bash_limit)

#endif
