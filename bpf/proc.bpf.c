// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Process lifecycle: exec (with argv), fork (new processes only) and exit
 * (whole processes only), from the scheduler's BTF tracepoints (no kprobes:
 * not available everywhere). User space rebuilds the process tree from these
 * three events: fork gives parent -> child, exec what the child became, exit
 * how and when it ended.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "proc.h"

#define AGENT_STATS_COUNT PROC_STAT__COUNT
#define E2BIG 7
#define EEXIST 17
#include "agent.bpf.h"
#include "follow.bpf.h"

/* Settings, written by user space between open and load. */
/*
 * 1: report fork, exec and exit of every process (--trace-execs all).
 * 0: only of followed processes (follow.bpf.h); execs are counted either way.
 */
const volatile __u8 follow_all = 1;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} events SEC(".maps");

/*
 * The exec event is built here, not on the 512-byte stack, and only its used
 * part (header + argv bytes) is copied into the ring buffer: most command
 * lines are far shorter than PROC_ARGS_MAX_BYTES.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct proc_exec_event);
} exec_scratch SEC(".maps");

/* Exec counts by executable name (proc.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PROC_EXEC_COUNTS_MAX_ENTRIES);
	__type(key, struct proc_exec_count_key);
	__type(value, __u64);
} exec_counts SEC(".maps");

/* Keep every event layout in the object's BTF for the receiver's layout check. */
const struct proc_exec_event *unused_proc_exec_event __attribute__((unused));
const struct proc_fork_event *unused_proc_fork_event __attribute__((unused));
const struct proc_exit_event *unused_proc_exit_event __attribute__((unused));

/* Counts one exec of `name` (a NUL-terminated basename in `key`). */
static __always_inline void count_exec(struct proc_exec_count_key *key)
{
	__u64 one = 1, *n;
	long err;

	n = bpf_map_lookup_elem(&exec_counts, key);
	if (n) {
		__sync_fetch_and_add(n, 1);
		return;
	}
	err = bpf_map_update_elem(&exec_counts, key, &one, BPF_NOEXIST);
	if (err == 0)
		return;
	if (err == -E2BIG) {
		count(PROC_STAT_EXEC_NAMES_FULL);
		__builtin_memset(key, 0, sizeof(*key));
	}
	/* -EEXIST: another CPU inserted it first. Full: the pre-inserted overflow key. */
	n = bpf_map_lookup_elem(&exec_counts, key);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		count(PROC_STAT_EXEC_NOT_COUNTED);
}

/*
 * Counts the exec of e->filename (`len` bytes before its NUL) by its
 * basename. Written for the verifier: a global function is checked once, on
 * its own, and the scan goes backwards to the first '/' so no value is
 * carried from one iteration to the next (a forward scan remembering the last
 * '/' made the program take 6 s to load, then exceed the verifier's limit).
 */
__noinline int count_exec_of(struct proc_exec_event *e, __u32 len)
{
	struct proc_exec_count_key key = {};
	__u32 base = 0;

	if (!e)
		return 0;
	if (len > PROC_FILENAME_LEN - 1)
		len = PROC_FILENAME_LEN - 1;
	for (__u32 i = 1; i <= PROC_FILENAME_LEN - 1; i++) {
		if (i > len)
			break;
		if (e->filename[(len - i) & (PROC_FILENAME_LEN - 1)] == '/') {
			base = len - i + 1;
			break;
		}
	}
	bpf_probe_read_kernel_str(key.name, sizeof(key.name), &e->filename[base & (PROC_FILENAME_LEN - 1)]);
	count_exec(&key);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();
	__u32 tgid = pid_tgid >> 32;
	__u32 zero = 0;
	struct proc_exec_event *e;
	struct mm_struct *mm;
	struct tty_struct *tty;
	struct pid *session;
	unsigned long arg_start, arg_end;
	const char *filename;
	__u64 total;
	__u32 len;
	char last;
	long n;

	if (skip_tgid(tgid))
		return 0;
	e = bpf_map_lookup_elem(&exec_scratch, &zero);
	if (!e)
		return 0;

	/*
	 * The path as given to execve, then its basename: the exec count's key.
	 * A path of exactly PROC_FILENAME_LEN - 1 bytes fills the buffer as a cut
	 * one does: look at the byte after the kept part to tell them apart.
	 */
	e->flags = 0;
	filename = BPF_CORE_READ(bprm, filename);
	n = bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), filename);
	if (n < 0)
		e->filename[0] = '\0';
	else if (n == sizeof(e->filename) &&
		 bpf_probe_read_kernel(&last, 1, filename + sizeof(e->filename) - 1) == 0 && last)
		e->flags |= PROC_EXEC_F_FILENAME_TRUNCATED;
	count_exec_of(e, n > 0 ? (__u32)n - 1 : 0);

	/* Nobody follows this process: counted, not shipped. */
	if (!follow_all && !is_followed(tgid))
		return 0;

	e->type = EVENT_PROC_EXEC;
	e->timestamp_ns = bpf_ktime_get_ns();
	e->start_ns = BPF_CORE_READ(task, start_time);
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->pid = tgid;
	e->tid = (__u32)pid_tgid;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->old_tid = old_pid;
	e->uid = (__u32)uid_gid;
	e->gid = uid_gid >> 32;
	session = BPF_CORE_READ(task, signal, pids[PIDTYPE_SID]);
	e->session_id = session ? BPF_CORE_READ(session, numbers[0].nr) : 0;
	e->argc = BPF_CORE_READ(bprm, argc);
	bpf_get_current_comm(e->comm, sizeof(e->comm));

	e->tty[0] = '\0';
	tty = BPF_CORE_READ(task, signal, tty);
	if (tty)
		BPF_CORE_READ_STR_INTO(&e->tty, tty, name);

	/*
	 * argv: bounded by arg_end, never a fixed-size read from arg_start (the
	 * environment follows argv). The pages were just written by the exec and
	 * are resident, so the non-faulting read works.
	 */
	mm = BPF_CORE_READ(task, mm);
	arg_start = BPF_CORE_READ(mm, arg_start);
	arg_end = BPF_CORE_READ(mm, arg_end);
	total = arg_end > arg_start ? arg_end - arg_start : 0;
	e->args_size_total = total > 0xffffffffULL ? 0xffffffffU : (__u32)total;
	len = total > PROC_ARGS_MAX_BYTES ? PROC_ARGS_MAX_BYTES : (__u32)total;
	if (total > PROC_ARGS_MAX_BYTES)
		e->flags |= PROC_EXEC_F_ARGS_TRUNCATED;
	/* Re-derive the bound in a form the verifier tracks (len <= 4096). */
	len &= (PROC_ARGS_MAX_BYTES << 1) - 1;
	if (len > PROC_ARGS_MAX_BYTES)
		len = PROC_ARGS_MAX_BYTES;
	if (len && bpf_probe_read_user(e->args, len, (const void *)arg_start) != 0) {
		e->flags |= PROC_EXEC_F_ARGS_UNREADABLE;
		count(PROC_STAT_ARGS_UNREADABLE);
		len = 0;
	}
	e->args_size = len;

	if (bpf_ringbuf_output(&events, e, PROC_EXEC_HEADER_SIZE + len, ringbuf_flags(&events)) != 0) {
		count(PROC_STAT_RINGBUF_DROPS);
		return 0;
	}
	count(PROC_STAT_EVENTS);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();
	struct proc_fork_event *e;
	__u32 child_pid = BPF_CORE_READ(child, pid);

	/* A new thread shares its creator's tgid; only new processes count. */
	if (BPF_CORE_READ(child, tgid) != child_pid)
		return 0;
	if (skip_tgid(pid_tgid >> 32))
		return 0;
	if (!follow_all) {
		/* One lookup for the forks nobody follows; a followed parent's child is followed too. */
		if (!is_followed(pid_tgid >> 32))
			return 0;
		if (follow(child_pid) != 0)
			count(PROC_STAT_FOLLOW_FULL); /* still reported: user space sees it start */
	}

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(PROC_STAT_RINGBUF_DROPS);
		return 0;
	}
	e->type = EVENT_PROC_FORK;
	e->_pad0 = 0;
	e->timestamp_ns = BPF_CORE_READ(child, start_time);
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->pid = child_pid;
	e->ppid = BPF_CORE_READ(child, real_parent, tgid);
	e->parent_tid = (__u32)pid_tgid;
	e->uid = (__u32)uid_gid;
	e->gid = uid_gid >> 32;
	e->_pad1 = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, ringbuf_flags(&events));
	count(PROC_STAT_EVENTS);
	return 0;
}

/*
 * Processes whose exit was already reported. Two threads of one process
 * exiting at the same instant can both see signal->live == 0; the insert
 * with BPF_NOEXIST is atomic, so exactly one of them reports the exit. The
 * start time in the key tells a reused pid apart; LRU keeps it bounded.
 */
struct exit_key {
	__u32 tgid;
	__u32 _pad;
	__u64 start_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct exit_key);
	__type(value, __u8);
} exited SEC(".maps");

/*
 * do_exit() decrements signal->live before this tracepoint: the thread that
 * took it to zero is the last one, and the process is over. (Since 6.16 the
 * tracepoint also passes that as `group_dead`; reading `live` works on older
 * kernels too. Two threads exiting at the same instant can both read 0 after
 * both decrements: the `exited` map keeps the second one out.)
 */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *task)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();
	__u32 tgid = pid_tgid >> 32;
	struct proc_exit_event *e;
	struct exit_key key = {};
	__u8 seen = 1;
	long err;

	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	if (skip_tgid(tgid))
		return 0;
	key.tgid = tgid;
	if (!follow_all) {
		/* Not followed: nothing to report. The delete succeeds for one thread only. */
		if (bpf_map_delete_elem(&followed, &tgid) != 0)
			return 0;
		key.start_ns = BPF_CORE_READ(task, group_leader, start_time);
	} else {
		key.start_ns = BPF_CORE_READ(task, group_leader, start_time);
		err = bpf_map_update_elem(&exited, &key, &seen, BPF_NOEXIST);
		if (err == -EEXIST)
			return 0; /* another thread of this process reported it */
		if (err != 0) {
			count(PROC_STAT_EXIT_NOT_RECORDED);
			return 0;
		}
	}

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(PROC_STAT_RINGBUF_DROPS);
		return 0;
	}
	e->type = EVENT_PROC_EXIT;
	e->exit_code = BPF_CORE_READ(task, exit_code);
	e->timestamp_ns = bpf_ktime_get_ns();
	e->start_ns = key.start_ns;
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->pid = tgid;
	e->tid = (__u32)pid_tgid;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->uid = (__u32)uid_gid;
	e->gid = uid_gid >> 32;
	e->_pad0 = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, ringbuf_flags(&events));
	count(PROC_STAT_EVENTS);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
