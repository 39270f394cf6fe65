/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * TCP active-open tracking: the layout of the ring buffer event and of the
 * in-kernel aggregation maps. Single source of truth for
 * receiver/src/decode/tcp-connect.ts (checked against BTF by a test).
 */
#ifndef EBPF_OTEL_TCPCONNECT_H
#define EBPF_OTEL_TCPCONNECT_H

#include "common.h"

/* Why a connect ended. Order is part of the ABI with the receiver. */
enum tcp_connect_outcome {
	TCP_OUTCOME_ESTABLISHED = 0,
	TCP_OUTCOME_REFUSED = 1,        /* sk_err ECONNREFUSED (RST in reply to SYN) */
	TCP_OUTCOME_TIMED_OUT = 2,      /* sk_err ETIMEDOUT (SYN retries exhausted) */
	TCP_OUTCOME_HOST_UNREACH = 3,   /* sk_err EHOSTUNREACH */
	TCP_OUTCOME_NET_UNREACH = 4,    /* sk_err ENETUNREACH */
	TCP_OUTCOME_ABANDONED = 5,      /* closed in SYN_SENT with no error (app gave up) */
	TCP_OUTCOME_OTHER_ERROR = 6,    /* any other sk_err, kept in the event */
	TCP_OUTCOME__COUNT = 7,
};
EBPF_OTEL_BTF_ENUM(tcp_connect_outcome)

struct tcp_connect_event {
	__u32 type;             /* EVENT_TCP_CONNECT */
	__u32 outcome;          /* enum tcp_connect_outcome */
	__u64 start_ns;         /* CLOCK_MONOTONIC at CLOSE->SYN_SENT */
	__u64 end_ns;           /* CLOCK_MONOTONIC at the completing transition */
	__u64 cgroup_id;        /* of the connecting task, taken at SYN_SENT */
	__u32 pid;              /* tgid of the connecting task (not softirq's current) */
	__u32 tid;
	__u32 uid;
	__u32 gid;
	__s32 sk_err;           /* socket error at SYN_SENT->CLOSE, 0 otherwise */
	__u16 family;           /* AF_INET (2) or AF_INET6 (10) */
	__u16 sport;            /* host byte order */
	__u16 dport;            /* host byte order */
	__u16 _pad0;
	__u8 saddr[16];         /* AF_INET: first 4 bytes */
	__u8 daddr[16];
	char comm[EBPF_OTEL_COMM_LEN];
	__u32 netns_ino;        /* network namespace inode of the socket */
};
_Static_assert(sizeof(struct tcp_connect_event) == 112, "tcp_connect_event layout");

/*
 * Latency histogram: log-linear, TCP_HIST_SUB_BUCKETS per power of two of
 * nanoseconds. Slot for v ns (v >= 1): msb = floor(log2 v);
 * slot = msb * SUB + ((v >> (msb - SUB_BITS)) & (SUB - 1)) for msb >= SUB_BITS,
 * slot = v for smaller v (exact). Slot s covers
 * [lower(s), lower(s+1)) with lower(msb*SUB + j) = 2^msb * (1 + j/SUB).
 * Values at or past the last slot land in the last slot.
 */
enum tcp_hist {
	TCP_HIST_SUB_BITS = 2,
	TCP_HIST_SUB_BUCKETS = 1 << TCP_HIST_SUB_BITS,
	TCP_HIST_SLOTS = 40 * TCP_HIST_SUB_BUCKETS, /* up to 2^40 ns ~ 18 min */
};
EBPF_OTEL_BTF_ENUM(tcp_hist)

struct tcp_hist_key {
	__u16 family;
	__u16 dport;            /* 0 when the port table overflowed */
	__u32 outcome;
	__u8 daddr[16];         /* all zero unless per-peer histograms are enabled */
};
_Static_assert(sizeof(struct tcp_hist_key) == 24, "tcp_hist_key layout");

struct tcp_hist_value {
	__u64 count;
	__u64 sum_ns;
	__u64 slots[TCP_HIST_SLOTS];
};

/* Indices of the per-CPU `stats` array (agent.bpf.h): the kernel side's own health. */
enum tcp_stat {
	TCP_STAT_RINGBUF_DROPS = 0,   /* bpf_ringbuf_reserve failed: event lost */
	TCP_STAT_INFLIGHT_FULL = 1,   /* hash full and no socket storage (out of memory): connect not tracked */
	TCP_STAT_HIST_FULL = 2,       /* histogram key table full: folded into the overflow key (still counted) */
	TCP_STAT_EVENTS = 3,          /* events submitted */
	TCP_STAT_HIST_LOST = 4,       /* no overflow key either: connect not counted (never, once pre-inserted) */
	TCP_STAT_ROUTINE_SKIPPED = 5, /* fast success over the per-second span budget: counted, not sent */
	TCP_STAT_INFLIGHT_SPILLED = 6,/* in-flight hash full: kept on the socket instead (slower, still tracked) */
	TCP_STAT__COUNT = 7,
};
EBPF_OTEL_BTF_ENUM(tcp_stat)

#endif
