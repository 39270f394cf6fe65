/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Name lookups through the C library's resolver: getaddrinfo() and the
 * gethostbyname*() family, timed on the calling thread from entry to return.
 * The ring buffer layout shared by bpf/dns.bpf.c and
 * receiver/src/decode/dns.ts (checked against the object's BTF by
 * test/layout.test.ts).
 *
 * What is seen, and how to read it:
 * - One DNS_LOOKUP per outermost resolver call of a thread. A resolver
 *   function called from inside another one (glibc's gethostbyname() calls
 *   gethostbyname_r()) is not a second lookup: the outer call is reported,
 *   with the inner call's h_errno when the outer one has no way to give it.
 * - `result` is what the function reported: getaddrinfo()'s return code (0 or
 *   EAI_*, negative), or for gethostbyname*() the h_errno value (0: found;
 *   HOST_NOT_FOUND 1, TRY_AGAIN 2, NO_RECOVERY 3, NO_DATA 4), see
 *   DNS_F_RESULT_UNKNOWN.
 * - Up to DNS_ADDR_MAX distinct answers, in the order the library returned
 *   them (consecutive repeats, getaddrinfo()'s one entry per socket type, are
 *   folded); DNS_F_MORE_ADDRS when there were more.
 * - Programs that do not call the C library's resolver (statically linked,
 *   Go's pure-Go resolver, their own DNS client) are not seen at all.
 */
#ifndef EBPF_OTEL_DNS_H
#define EBPF_OTEL_DNS_H

#include "common.h"

enum dns_limit {
	DNS_NAME_MAX = 256,     /* bytes of a name kept, NUL included (a DNS name is at most 253 characters) */
	DNS_ADDR_MAX = 8,       /* answers kept per lookup; a power of two: the verifier bounds the index with it */
};
EBPF_OTEL_BTF_ENUM(dns_limit)

/* Which resolver function was called (dns_lookup_event.func). */
enum dns_func {
	DNS_FUNC_GETADDRINFO = 1,
	DNS_FUNC_GETHOSTBYNAME = 2,
	DNS_FUNC_GETHOSTBYNAME2 = 3,
	DNS_FUNC_GETHOSTBYNAME_R = 4,
	DNS_FUNC_GETHOSTBYNAME2_R = 5,
};
EBPF_OTEL_BTF_ENUM(dns_func)

/* dns_lookup_event.flags (bits) */
enum dns_lookup_flag {
	DNS_F_NAME_TRUNCATED = 1u << 0,   /* the name filled name[]: cut */
	DNS_F_NAME_UNREADABLE = 1u << 1,  /* the name could not be read */
	DNS_F_MORE_ADDRS = 1u << 2,       /* more answers than addrs[] holds */
	DNS_F_RESULT_UNKNOWN = 1u << 3,   /* gethostbyname*() failed and h_errno was not readable */
	DNS_F_ADDRS_UNREADABLE = 1u << 4, /* the answer list could not be read (answers incomplete) */
};
EBPF_OTEL_BTF_ENUM(dns_lookup_flag)

struct dns_addr {
	__u16 family;                   /* AF_INET (2) or AF_INET6 (10) */
	__u16 _pad0;
	__u8 addr[16];                  /* IPv4 in the first 4 bytes */
};
_Static_assert(sizeof(struct dns_addr) == 20, "dns_addr layout");

/* A lookup returned. Fixed size. */
struct dns_lookup_event {
	__u32 type;                     /* EVENT_DNS_LOOKUP */
	__u32 func;                     /* enum dns_func */
	__u64 start_ns;                 /* CLOCK_MONOTONIC at entry */
	__u64 end_ns;                   /* CLOCK_MONOTONIC at return */
	__u64 cgroup_id;
	__u32 pid;                      /* tgid */
	__u32 tid;
	__u32 uid;
	__u32 gid;
	__s32 result;                   /* EAI_* (getaddrinfo) or h_errno (gethostbyname*), 0: success */
	__u32 flags;                    /* DNS_F_* */
	__u16 addr_count;               /* entries of addrs[] used (<= DNS_ADDR_MAX) */
	__u16 name_size;                /* bytes of name[] used, NUL not counted */
	__u32 _pad0;
	char comm[EBPF_OTEL_COMM_LEN];
	struct dns_addr addrs[DNS_ADDR_MAX];
	char name[DNS_NAME_MAX];        /* name_size bytes, then NUL */
};
_Static_assert(sizeof(struct dns_lookup_event) == 80 + DNS_ADDR_MAX * 20 + DNS_NAME_MAX, "dns_lookup_event layout");

/* Indices of the per-CPU `stats` array. */
enum dns_stat {
	DNS_STAT_RINGBUF_DROPS = 0,     /* ring buffer full: lookup lost */
	DNS_STAT_INFLIGHT_FULL = 1,     /* no room to track a call in flight: lookup lost */
	DNS_STAT_EVENTS = 2,            /* events submitted */
	DNS_STAT_NESTED = 3,            /* resolver calls made inside another one (not lookups of their own) */
	DNS_STAT__COUNT = 4,
};
EBPF_OTEL_BTF_ENUM(dns_stat)

#endif
