// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Interactive bash commands, from uprobes on GNU readline (in bash itself or
 * in the libreadline.so it links).
 *
 * - readline() entry: a prompt (BASH_PROMPT).
 * - readline_internal_teardown() entry: the line just entered, read from the
 *   global rl_line_buffer (BASH_READLINE). Preferred over a uretprobe on
 *   readline(): a uretprobe only fires for calls entered after it was attached,
 *   so it misses the first line typed into a shell that was already waiting
 *   at its prompt; an entry probe on the teardown does not.
 * - readline() return (uretprobe): fallback for builds without a visible
 *   readline_internal_teardown symbol. The loader attaches one of the two
 *   line programs, never both.
 *
 * Globals are found without debug info: user space reads their link-time
 * addresses from the ELF symbol table (receiver/src/probes/bash-target.ts) and passes them
 * here with the link-time address of the probed function. At a uprobe, the
 * instruction pointer is the function's runtime address, so
 * runtime = ip - func_vaddr + var_vaddr for anything in the same module,
 * whatever address ASLR loaded the (PIE) binary or library at.
 *
 * Readline in a shared library (check_exe): the probes then fire in every
 * program that loads libreadline.so (python3, gdb, ...), so only processes
 * whose executable is the shell count, recognised by its GNU build ID read
 * from the process's own mapping of it. Where that mapping is comes from
 * mm->start_code, the runtime address of the executable's first executable
 * segment (exe_text_vaddr at link time). Globals the executable defines are
 * read relative to it: bash's current_command_line_count, and readline's
 * rl_line_buffer/rl_end when bash copy-relocates them (the usual x86-64
 * PIE link: the library then uses the executable's copy and its own stays
 * empty).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "bash.h"

#define AGENT_STATS_COUNT BASH_STAT__COUNT
#include "agent.bpf.h"
#include "follow.bpf.h"

/* Settings, written by user space between open and load. */
/* Link-time addresses (ELF st_value) in the probed module; 0: not found. */
const volatile __u64 readline_vaddr = 0;
const volatile __u64 teardown_vaddr = 0;
const volatile __u64 rl_line_buffer_vaddr = 0;          /* char *rl_line_buffer */
const volatile __u64 rl_end_vaddr = 0;                  /* int rl_end */
const volatile __u64 command_line_count_vaddr = 0;      /* int current_command_line_count (bash) */
/* Readline in a shared library: the shell executable (receiver/src/probes/bash.ts). */
const volatile __u8 follow_shells = 0;        /* 1: add shells to `followed` (shared with the exec probe) */
const volatile __u32 check_exe = 0;             /* 1: only processes running the shell executable */
const volatile __u32 exe_globals = 0;           /* BASH_GLOBAL_* bits: located in the executable */
const volatile __u64 exe_text_vaddr = 0;        /* link-time address of its first executable segment */
const volatile __u64 exe_build_id_vaddr = 0;    /* link-time address of its build ID bytes */
const volatile __u32 exe_build_id_size = 0;     /* <= BASH_BUILD_ID_MAX */
const volatile __u8 exe_build_id[BASH_BUILD_ID_MAX] = {};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* The line event is built here (too large for the stack); only its used part is sent. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bash_readline_event);
} line_scratch SEC(".maps");

/* Keep every event layout in the object's BTF for the receiver's layout check. */
const struct bash_readline_event *unused_bash_readline_event __attribute__((unused));
const struct bash_prompt_event *unused_bash_prompt_event __attribute__((unused));

/*
 * True when the current process is the shell, with the executable's load
 * bias in *exe_bias (0 and true when there is nothing to check: readline is
 * in the shell itself, where the uprobes only fire in its processes).
 */
static __always_inline bool shell_exe_bias(__u64 *exe_bias)
{
	struct task_struct *task;
	__u8 id[BASH_BUILD_ID_MAX];
	__u64 start_code;

	*exe_bias = 0;
	if (!check_exe)
		return true;
	task = (struct task_struct *)bpf_get_current_task();
	start_code = BPF_CORE_READ(task, mm, start_code);
	if (!start_code)
		return false;
	*exe_bias = start_code - exe_text_vaddr;
	if (bpf_probe_read_user(id, sizeof(id), (const void *)(*exe_bias + exe_build_id_vaddr)) != 0)
		return false;
#pragma unroll
	for (int i = 0; i < BASH_BUILD_ID_MAX; i++) {
		if (i < exe_build_id_size && id[i] != exe_build_id[i])
			return false;
	}
	return true;
}

/* The bias to add to a global's link-time address: the executable's or the probed module's. */
static __always_inline __u64 global_bias(__u32 global, __u64 module_bias, __u64 exe_bias)
{
	return (exe_globals & global) ? exe_bias : module_bias;
}

/* Reads an int global of the probed module; -1 when its address is unknown or unreadable. */
static __always_inline __s32 read_int_global(__u64 load_bias, __u64 var_vaddr)
{
	__s32 value;

	if (!var_vaddr)
		return -1;
	if (bpf_probe_read_user(&value, sizeof(value), (const void *)(load_bias + var_vaddr)) != 0)
		return -1;
	return value;
}

/*
 * current_command_line_count: bash counts the lines read for the command
 * being parsed (for `cmdhist`): 0 when readline is entered for a new command,
 * N > 0 when it is entered for the (N+1)th line of one.
 */
SEC("uprobe")
int BPF_KPROBE(handle_readline_entry)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();
	__u64 load_bias = PT_REGS_IP(ctx) - readline_vaddr;
	struct bash_prompt_event *e;
	__u64 exe_bias;

	if (skip_tgid(pid_tgid >> 32) || !shell_exe_bias(&exe_bias))
		return 0;
	/* A shell at its prompt: what it starts from now on is followed (follow.bpf.h). */
	if (follow_shells && !is_followed(pid_tgid >> 32) && follow(pid_tgid >> 32) != 0)
		count(BASH_STAT_FOLLOW_FULL);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(BASH_STAT_RINGBUF_DROPS);
		return 0;
	}
	e->type = EVENT_BASH_PROMPT;
	e->_pad0 = 0;
	e->timestamp_ns = bpf_ktime_get_ns();
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->uid = (__u32)uid_gid;
	e->gid = uid_gid >> 32;
	e->command_line = readline_vaddr ?
		read_int_global(global_bias(BASH_GLOBAL_COMMAND_LINE_COUNT, load_bias, exe_bias), command_line_count_vaddr) : -1;
	e->_pad1 = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, ringbuf_flags(&events));
	count(BASH_STAT_EVENTS);
	return 0;
}

/* Fills everything but the line; NULL when the event is filtered out. */
static __always_inline struct bash_readline_event *start_line_event(__u64 *exe_bias)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();
	struct bash_readline_event *e;
	__u32 zero = 0;

	if (skip_tgid(pid_tgid >> 32) || !shell_exe_bias(exe_bias))
		return NULL;
	e = bpf_map_lookup_elem(&line_scratch, &zero);
	if (!e)
		return NULL;
	e->type = EVENT_BASH_READLINE;
	e->flags = 0;
	e->timestamp_ns = bpf_ktime_get_ns();
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->uid = (__u32)uid_gid;
	e->gid = uid_gid >> 32;
	e->line_len = 0;
	e->line_size = 0;
	e->command_line = -1;
	e->_pad0 = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->line[0] = '\0';
	return e;
}

/*
 * Copies the NUL-terminated line at `line` into e->line; returns the bytes to
 * send after the header (line + NUL). `real_len` < 0: unknown.
 */
static __always_inline __u32 capture_line(struct bash_readline_event *e, const char *line, __s64 real_len)
{
	long n = bpf_probe_read_user_str(e->line, sizeof(e->line), line);
	__u32 size;

	if (n <= 0) {
		e->line[0] = '\0';
		e->flags |= BASH_F_UNREADABLE;
		count(BASH_STAT_LINE_UNREADABLE);
		return 1;
	}
	size = (__u32)n - 1;
	e->line_size = size;
	if (real_len >= 0) {
		e->line_len = (__u32)real_len;
		if (real_len > size)
			e->flags |= BASH_F_TRUNCATED;
	} else {
		/* A full buffer is a cut line or one of exactly BASH_LINE_MAX - 1 bytes. */
		e->line_len = size;
		e->flags |= BASH_F_LENGTH_UNKNOWN;
		if (n == sizeof(e->line))
			e->flags |= BASH_F_TRUNCATED;
	}
	return (__u32)n;
}

static __always_inline void send_line(struct bash_readline_event *e, __u32 line_bytes)
{
	/* Also here: a shell already waiting at its prompt when we attached was never seen entering readline. */
	if (follow_shells && !is_followed(e->pid) && follow(e->pid) != 0)
		count(BASH_STAT_FOLLOW_FULL);
	line_bytes &= (BASH_LINE_MAX << 1) - 1; /* a bound the verifier tracks */
	if (line_bytes > BASH_LINE_MAX)
		line_bytes = BASH_LINE_MAX;
	if (bpf_ringbuf_output(&events, e, BASH_READLINE_HEADER_SIZE + line_bytes, ringbuf_flags(&events)) != 0) {
		count(BASH_STAT_RINGBUF_DROPS);
		return;
	}
	count(BASH_STAT_EVENTS);
}

/*
 * static char *readline_internal_teardown(int eof): runs once the line is
 * complete, before readline() returns it; rl_line_buffer holds the line and
 * rl_end its length. `eof` is set for end of input.
 */
SEC("uprobe")
int BPF_KPROBE(handle_teardown, int eof)
{
	__u64 load_bias = PT_REGS_IP(ctx) - teardown_vaddr;
	struct bash_readline_event *e;
	const char *line = NULL;
	__u32 line_bytes = 1;
	__u64 exe_bias;

	e = start_line_event(&exe_bias);
	if (!e)
		return 0;
	e->command_line = read_int_global(global_bias(BASH_GLOBAL_COMMAND_LINE_COUNT, load_bias, exe_bias),
					  command_line_count_vaddr);
	if (eof) {
		e->flags |= BASH_F_EOF;
	} else if (!rl_line_buffer_vaddr ||
		   bpf_probe_read_user(&line, sizeof(line),
				       (const void *)(global_bias(BASH_GLOBAL_RL_LINE_BUFFER, load_bias, exe_bias) +
						      rl_line_buffer_vaddr)) != 0 ||
		   !line) {
		e->flags |= BASH_F_UNREADABLE;
		count(BASH_STAT_LINE_UNREADABLE);
	} else {
		line_bytes = capture_line(e, line,
					  read_int_global(global_bias(BASH_GLOBAL_RL_END, load_bias, exe_bias), rl_end_vaddr));
	}
	send_line(e, line_bytes);
	return 0;
}

/*
 * Fallback: char *readline(const char *prompt) returned. NULL is end of
 * input. The return address is in the caller (maybe another module), so no
 * globals can be located here: the length is what was captured.
 */
SEC("uretprobe")
int BPF_KRETPROBE(handle_readline_return, const char *ret)
{
	struct bash_readline_event *e;
	__u32 line_bytes = 1;
	__u64 exe_bias;

	e = start_line_event(&exe_bias);
	if (!e)
		return 0;
	e->flags |= BASH_F_FROM_RETURN;
	if (!ret)
		e->flags |= BASH_F_EOF;
	else
		line_bytes = capture_line(e, ret, -1);
	send_line(e, line_bytes);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
