/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What every ebpf-otel program has: the process filter set by user space
 * before load, and a per-CPU array `stats` of __u64 counters (ring buffer
 * drops and other losses; the receiver sums it over CPUs and exports it).
 *
 * Include after vmlinux.h and bpf_helpers.h, with AGENT_STATS_COUNT defined
 * to the number of counters of the program.
 */
#ifndef EBPF_OTEL_AGENT_BPF_H
#define EBPF_OTEL_AGENT_BPF_H

#ifndef AGENT_STATS_COUNT
#error "define AGENT_STATS_COUNT before including agent.bpf.h"
#endif

const volatile __u32 filter_tgid = 0;   /* only this process (0: all) */
const volatile __u32 exclude_tgid = 0;  /* never this process (the agent itself) */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, AGENT_STATS_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void count(__u32 stat)
{
	__u64 *value = bpf_map_lookup_elem(&stats, &stat);

	if (value)
		*value += 1; /* per-CPU slot, programs do not nest on one CPU here: no atomics needed */
}

static __always_inline bool skip_tgid(__u32 tgid)
{
	if (exclude_tgid && tgid == exclude_tgid)
		return true;
	return filter_tgid && tgid != filter_tgid;
}

/*
 * Ring buffer wake-ups. Waking the reader on every event costs the traced
 * task a few microseconds each time (measured: a third of a loopback connect
 * storm's rate). Events are submitted without a wake-up until wakeup_bytes
 * are waiting; the reader also drains on its poll timeout (50 ms), so on a
 * quiet machine events still arrive within that. 0: wake on every event.
 */
const volatile __u32 wakeup_bytes = 64 * 1024;

static __always_inline __u64 ringbuf_flags(void *ringbuf)
{
	if (!wakeup_bytes)
		return 0;
	return bpf_ringbuf_query(ringbuf, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									    : BPF_RB_NO_WAKEUP;
}

#endif
