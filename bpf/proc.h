/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Process lifecycle events (exec, fork, exit): the ring buffer layouts shared
 * by bpf/proc.bpf.c and receiver/src/decode/proc.ts (checked against the
 * object's BTF by test/layout.test.ts).
 *
 * Pids are as the initial pid namespace sees them (what bpf_get_current_pid_tgid
 * returns): `pid` is the process (tgid), `tid` the thread. Times are
 * CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns, task->start_time).
 */
#ifndef EBPF_OTEL_PROC_H
#define EBPF_OTEL_PROC_H

#include "common.h"

/*
 * Bytes of the exec'd path kept (bprm->filename, as given to execve, not
 * resolved), NUL included. Longer paths are cut and flagged.
 */
#define PROC_FILENAME_LEN 256

/*
 * Bytes of argv kept: the block mm->arg_start..mm->arg_end, NUL-separated
 * strings exactly as the kernel copied them for the new program. Never read
 * past arg_end: the environment follows it in memory (secrets). 4 KiB covers
 * typical command lines; longer ones are cut (flagged, the real size kept in
 * args_size_total). Must be a power of two (the verifier bounds the read with a
 * mask).
 */
#define PROC_ARGS_MAX_BYTES 4096
/*
 * At most this many arguments are reported; the user side stops splitting
 * there (argc keeps the real count). Counting in the kernel would need a
 * per-byte loop, so the limit is applied by the decoder.
 */
enum proc_limit {
	PROC_ARGS_MAX_COUNT = 64,
};
EBPF_OTEL_BTF_ENUM(proc_limit)

/* Bytes of the controlling terminal's kernel name (tty->name: "pts3", "tty1"), NUL included. */
#define PROC_TTY_LEN 16

/* proc_exec_event.flags (bits) */
enum proc_exec_flag {
	PROC_EXEC_F_ARGS_TRUNCATED = 1u << 0,     /* argv longer than PROC_ARGS_MAX_BYTES */
	PROC_EXEC_F_FILENAME_TRUNCATED = 1u << 1, /* path longer than PROC_FILENAME_LEN - 1 */
	PROC_EXEC_F_ARGS_UNREADABLE = 1u << 2,    /* the argv read faulted: args empty */
};
EBPF_OTEL_BTF_ENUM(proc_exec_flag)

/*
 * A successful execve/execveat (sched_process_exec fires after the point of no
 * return, so failed execs never appear). Variable length: the record is
 * offsetof(args) + args_size bytes long, the tail of args[] is not sent.
 */
struct proc_exec_event {
	__u32 type;                     /* EVENT_PROC_EXEC */
	__u32 flags;                    /* PROC_EXEC_F_* */
	__u64 timestamp_ns;             /* when the new program was installed */
	__u64 start_ns;                 /* process start (fork), task->start_time */
	__u64 cgroup_id;                /* cgroup v2 id of the task */
	__u32 pid;                      /* tgid */
	__u32 tid;                      /* == pid after exec (de_thread) */
	__u32 ppid;                     /* real_parent's tgid */
	__u32 old_tid;                  /* thread that called execve (differs from tid if not the leader) */
	__u32 uid;                      /* real uid (init user namespace) */
	__u32 gid;
	__u32 session_id;               /* session leader's pid (setsid), 0 if unknown */
	__s32 argc;                     /* real argument count (bprm->argc) */
	__u32 args_size;                /* bytes of args[] sent (<= PROC_ARGS_MAX_BYTES) */
	__u32 args_size_total;          /* arg_end - arg_start: the real argv size */
	char comm[EBPF_OTEL_COMM_LEN];  /* the new program's comm (basename, 15 chars) */
	char tty[PROC_TTY_LEN];         /* controlling terminal, kernel name ("pts3"), "" if none */
	char filename[PROC_FILENAME_LEN];
	char args[PROC_ARGS_MAX_BYTES]; /* NUL-separated argv, args_size bytes valid */
};
_Static_assert(sizeof(struct proc_exec_event) == 104 + PROC_FILENAME_LEN + PROC_ARGS_MAX_BYTES,
	       "proc_exec_event layout");
/* Bytes of a proc_exec_event before args[]: the smallest record. */
#define PROC_EXEC_HEADER_SIZE (104 + PROC_FILENAME_LEN)

/*
 * A new process (fork, vfork, clone without CLONE_THREAD). New threads are not
 * reported: they show up as `tid` of the events of their process.
 */
struct proc_fork_event {
	__u32 type;                     /* EVENT_PROC_FORK */
	__u32 _pad0;
	__u64 timestamp_ns;             /* == the child's start_ns */
	__u64 cgroup_id;                /* of the parent at fork time */
	__u32 pid;                      /* the child (its tgid == its tid) */
	__u32 ppid;                     /* child's real_parent tgid (CLONE_PARENT: the grandparent) */
	__u32 parent_tid;               /* thread that called fork/clone */
	__u32 uid;
	__u32 gid;
	__u32 _pad1;
	char comm[EBPF_OTEL_COMM_LEN];  /* the parent's comm, inherited by the child */
};
_Static_assert(sizeof(struct proc_fork_event) == 64, "proc_fork_event layout");

/*
 * A whole process ended: sent by its last exiting thread (the one that takes
 * signal->live to 0), not per thread.
 */
struct proc_exit_event {
	__u32 type;                     /* EVENT_PROC_EXIT */
	__u32 exit_code;                /* wait(2) status: (code << 8) | signal | 0x80 core */
	__u64 timestamp_ns;             /* exit time */
	__u64 start_ns;                 /* process start (fork), from the group leader */
	__u64 cgroup_id;
	__u32 pid;                      /* tgid */
	__u32 tid;                      /* the last thread to exit */
	__u32 ppid;                     /* real_parent tgid at exit */
	__u32 uid;
	__u32 gid;
	__u32 _pad0;
	char comm[EBPF_OTEL_COMM_LEN];
};
_Static_assert(sizeof(struct proc_exit_event) == 72, "proc_exit_event layout");

/*
 * Execs counted in the kernel, by executable name: the basename of the path
 * given to execve (bprm->filename), cut to PROC_EXEC_NAME_LEN - 1 bytes.
 * Every exec on the host is counted here, whether or not anybody follows
 * the process. When the table is full the exec is counted under the
 * overflow key (an empty name), which user space inserts before attaching.
 */
#define PROC_EXEC_NAME_LEN 64
#define PROC_EXEC_COUNTS_MAX_ENTRIES 1024

struct proc_exec_count_key {
	char name[PROC_EXEC_NAME_LEN];
};
_Static_assert(sizeof(struct proc_exec_count_key) == 64, "proc_exec_count_key layout");

/* Indices of the per-CPU `stats` array: the kernel side's own health. */
enum proc_stat {
	PROC_STAT_RINGBUF_DROPS = 0,    /* ring buffer full: event lost */
	PROC_STAT_ARGS_UNREADABLE = 1,  /* argv read faulted (event sent without args) */
	PROC_STAT_EVENTS = 2,           /* events submitted */
	PROC_STAT_FOLLOW_FULL = 3,      /* followed-process table full: a followed process's child is not followed */
	PROC_STAT_EXEC_NAMES_FULL = 4,  /* exec-count table full: counted under the overflow key */
	PROC_STAT_EXEC_NOT_COUNTED = 5, /* no overflow key either: exec not counted (never, once pre-inserted) */
	PROC_STAT_EXIT_NOT_RECORDED = 6,/* follow_all: exit dedup table refused the insert: exit not reported */
	PROC_STAT__COUNT = 7,
};
EBPF_OTEL_BTF_ENUM(proc_stat)

#endif
