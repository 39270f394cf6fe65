/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The processes somebody follows, shared by bpf/bash.bpf.c and
 * bpf/proc.bpf.c (one kernel map: the loader hands proc's map to the bash
 * objects, see BpfObject.shareMap). An interactive shell is added by the bash
 * probe at its prompt, in the shell's own context, so its first command's
 * fork cannot outrun user space; children of followed processes are added by
 * proc.bpf.c at fork and removed at exit. Fork and exit of anything else
 * cost one hash lookup and send nothing (an exec storm nobody follows is
 * counted in the kernel, not shipped).
 *
 * Include after agent.bpf.h.
 */
#ifndef EBPF_OTEL_FOLLOW_BPF_H
#define EBPF_OTEL_FOLLOW_BPF_H

/* Live followed processes; a full table is counted by the caller (no eviction). */
#define FOLLOWED_MAX_ENTRIES 65536

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FOLLOWED_MAX_ENTRIES);
	__type(key, __u32);   /* tgid */
	__type(value, __u8);
} followed SEC(".maps");

static __always_inline bool is_followed(__u32 tgid)
{
	return bpf_map_lookup_elem(&followed, &tgid) != NULL;
}

/* 0, or the map update's error (-E2BIG: table full). */
static __always_inline long follow(__u32 tgid)
{
	__u8 one = 1;

	return bpf_map_update_elem(&followed, &tgid, &one, BPF_ANY);
}

#endif
