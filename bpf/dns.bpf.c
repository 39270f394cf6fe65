// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Name lookups, from uprobes on the C library's resolver functions
 * (glibc's libc.so.6, musl's libc.so): getaddrinfo(), gethostbyname(),
 * gethostbyname2(), gethostbyname_r(), gethostbyname2_r().
 *
 * - Entry (one program per function, it knows its own arguments): the name
 *   and where the answer will be written, kept per thread in `inflight`.
 * - Return (one uretprobe program for all of them): the result, the answers
 *   read from the library's own result (struct addrinfo list or struct
 *   hostent), one DNS_LOOKUP event.
 *
 * Nested calls (glibc's gethostbyname() calls gethostbyname_r() at the same
 * address as the exported one) only deepen the thread's entry: the
 * outermost call is the lookup. A uretprobe only fires for calls entered
 * after it was attached, so a lookup in progress at attach time is not seen
 * (neither its entry nor its return).
 *
 * The structs read here (struct addrinfo, struct hostent, sockaddr_in/in6)
 * have the same layout in glibc and musl on 64-bit Linux.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "dns.h"

#define AGENT_STATS_COUNT DNS_STAT__COUNT
#include "agent.bpf.h"

#define DNS_AF_INET 2
#define DNS_AF_INET6 10
/* Nodes of a getaddrinfo() result list walked (glibc returns one per socket type and address). */
#define DNS_WALK_MAX 32
/*
 * An entry of another thread that had the same id (killed mid-lookup: its
 * return never came) is told apart by the thread's start time. One older
 * than this, of the same thread, is from a call it left without returning
 * (longjmp): replaced as well.
 */
#define DNS_STALE_NS (600ULL * 1000000000ULL)

/* Threads in a resolver call. */
struct dns_inflight {
	__u64 start_ns;
	__u64 thread_start_ns;  /* task->start_time of the calling thread */
	__u64 out_ptr;          /* getaddrinfo: struct addrinfo **; *_r: struct hostent ** */
	__u64 h_errnop;         /* *_r: int * */
	__u64 inner_h_errnop;   /* int * of a nested *_r call */
	__u32 func;             /* enum dns_func */
	__u32 depth;            /* resolver calls of this thread in progress */
	__s32 inner_result;     /* h_errno a nested *_r call returned with */
	__u32 flags;            /* DNS_F_*; DNS_INNER_RESULT */
	__u16 name_size;
	__u16 _pad0;
	__u32 _pad1;
	char name[DNS_NAME_MAX];
};
_Static_assert(sizeof(struct dns_inflight) == 64 + DNS_NAME_MAX, "dns_inflight layout");
/* dns_inflight.flags only: inner_result is set. */
#define DNS_INNER_RESULT (1u << 31)

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);     /* pid_tgid */
	__type(value, struct dns_inflight);
} inflight SEC(".maps");

/* A new in-flight entry is built here (too large for the stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dns_inflight);
} inflight_scratch SEC(".maps");

/*
 * 2 MiB: about 4,200 lookups, 50 ms of a single-thread getaddrinfo() storm
 * of /etc/hosts names (85,000/s measured here, bench/dns-storm.sh): what the
 * reader has to keep up with on a loaded machine before lookups are lost.
 */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 2 * 1024 * 1024);
} events SEC(".maps");

/* Keep the event layout in the object's BTF for the receiver's layout check (the enums: dns.h). */
EBPF_OTEL_BTF_STRUCT(dns_lookup_event)

/* The C library's structs, as far as they are read (x86-64/aarch64 LP64 layout). */
struct libc_addrinfo {
	__s32 ai_flags;
	__s32 ai_family;
	__s32 ai_socktype;
	__s32 ai_protocol;
	__u32 ai_addrlen;
	__u32 _pad0;
	__u64 ai_addr;          /* struct sockaddr * */
	__u64 ai_canonname;
	__u64 ai_next;          /* struct addrinfo * */
};
_Static_assert(sizeof(struct libc_addrinfo) == 48, "struct addrinfo layout");

struct libc_hostent {
	__u64 h_name;
	__u64 h_aliases;
	__s32 h_addrtype;
	__s32 h_length;
	__u64 h_addr_list;      /* char ** */
};
_Static_assert(sizeof(struct libc_hostent) == 32, "struct hostent layout");

/* Offsets of the address in sockaddr_in (sin_addr) and sockaddr_in6 (sin6_addr). */
#define SIN_ADDR_OFFSET 4
#define SIN6_ADDR_OFFSET 8

static __always_inline void on_entry(__u32 func, const char *name, __u64 out_ptr, __u64 h_errnop)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 now = bpf_ktime_get_ns();
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 thread_start = BPF_CORE_READ(task, start_time);
	struct dns_inflight *cur, *fresh;
	__u32 zero = 0;
	long n;

	if (skip_tgid(pid_tgid >> 32))
		return;
	cur = bpf_map_lookup_elem(&inflight, &pid_tgid);
	if (cur && cur->depth > 0 && cur->thread_start_ns == thread_start && now - cur->start_ns < DNS_STALE_NS) {
		/* Called from inside another resolver call of this thread. */
		cur->depth += 1;
		cur->inner_h_errnop = h_errnop;
		count(DNS_STAT_NESTED);
		return;
	}
	if (!name)
		return; /* getaddrinfo(NULL, service): no name to look up */
	fresh = bpf_map_lookup_elem(&inflight_scratch, &zero);
	if (!fresh)
		return;
	fresh->start_ns = now;
	fresh->thread_start_ns = thread_start;
	fresh->out_ptr = out_ptr;
	fresh->h_errnop = h_errnop;
	fresh->inner_h_errnop = 0;
	fresh->func = func;
	fresh->depth = 1;
	fresh->inner_result = 0;
	fresh->flags = 0;
	fresh->_pad0 = 0;
	fresh->_pad1 = 0;
	n = bpf_probe_read_user_str(fresh->name, sizeof(fresh->name), name);
	if (n <= 0) {
		fresh->name[0] = '\0';
		fresh->name_size = 0;
		fresh->flags |= DNS_F_NAME_UNREADABLE;
	} else {
		fresh->name_size = (__u16)(n - 1);
		if (n == sizeof(fresh->name))
			fresh->flags |= DNS_F_NAME_TRUNCATED;
	}
	if (bpf_map_update_elem(&inflight, &pid_tgid, fresh, BPF_ANY) != 0)
		count(DNS_STAT_INFLIGHT_FULL);
}

/* int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res) */
SEC("uprobe")
int BPF_KPROBE(handle_getaddrinfo, const char *node, const char *service, const void *hints, void *res)
{
	on_entry(DNS_FUNC_GETADDRINFO, node, (__u64)res, 0);
	return 0;
}

/* struct hostent *gethostbyname(const char *name) */
SEC("uprobe")
int BPF_KPROBE(handle_gethostbyname, const char *name)
{
	on_entry(DNS_FUNC_GETHOSTBYNAME, name, 0, 0);
	return 0;
}

/* struct hostent *gethostbyname2(const char *name, int af) */
SEC("uprobe")
int BPF_KPROBE(handle_gethostbyname2, const char *name)
{
	on_entry(DNS_FUNC_GETHOSTBYNAME2, name, 0, 0);
	return 0;
}

/*
 * Arguments past the fifth: Debian's libbpf 1.1 has no PT_REGS_PARM6, and
 * its BPF_KPROBE takes at most five. x86-64 passes the sixth in %r9 and the
 * seventh on the stack, above the return address; arm64 in x5 and x6.
 */
#if defined(__TARGET_ARCH_x86)
static __always_inline __u64 arg6(struct pt_regs *ctx)
{
	return ctx->r9;
}
static __always_inline __u64 arg7(struct pt_regs *ctx)
{
	__u64 v = 0;

	bpf_probe_read_user(&v, sizeof(v), (const void *)(ctx->sp + 8));
	return v;
}
#elif defined(__TARGET_ARCH_arm64)
static __always_inline __u64 arg6(struct pt_regs *ctx)
{
	return ((struct user_pt_regs *)ctx)->regs[5];
}
static __always_inline __u64 arg7(struct pt_regs *ctx)
{
	return ((struct user_pt_regs *)ctx)->regs[6];
}
#else
#error "dns.bpf.c: arguments 6 and 7 are only located for x86-64 and arm64"
#endif

/*
 * int gethostbyname_r(const char *name, struct hostent *ret, char *buf,
 *                     size_t buflen, struct hostent **result, int *h_errnop)
 */
SEC("uprobe")
int BPF_KPROBE(handle_gethostbyname_r, const char *name, void *ret, void *buf, __u64 buflen, void *result)
{
	on_entry(DNS_FUNC_GETHOSTBYNAME_R, name, (__u64)result, arg6(ctx));
	return 0;
}

/*
 * int gethostbyname2_r(const char *name, int af, struct hostent *ret, char *buf,
 *                      size_t buflen, struct hostent **result, int *h_errnop)
 */
SEC("uprobe")
int BPF_KPROBE(handle_gethostbyname2_r, const char *name)
{
	on_entry(DNS_FUNC_GETHOSTBYNAME2_R, name, arg6(ctx), arg7(ctx));
	return 0;
}

/*
 * Appends an address unless it repeats the previous one (kept in *last);
 * false once addrs[] is full.
 */
static __always_inline bool add_addr(struct dns_lookup_event *e, struct dns_addr *last, __u16 family, const void *src, __u32 len)
{
	__u32 i = e->addr_count;
	struct dns_addr a = { .family = family };
	__u32 *x = (__u32 *)last->addr, *y = (__u32 *)a.addr;

	if (len > sizeof(a.addr))
		len = sizeof(a.addr);
	if (bpf_probe_read_user(a.addr, len & 0x1f, src) != 0) {
		e->flags |= DNS_F_ADDRS_UNREADABLE;
		return true;
	}
	/* Compared as four 4-byte words (no memcmp in BPF; addr[] is 4-byte aligned). */
	if (i > 0 && last->family == family && x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3])
		return true;
	if (i >= DNS_ADDR_MAX) {
		e->flags |= DNS_F_MORE_ADDRS;
		return false;
	}
	e->addrs[i & (DNS_ADDR_MAX - 1)] = a;
	e->addr_count = i + 1;
	*last = a;
	return true;
}

static __always_inline void read_addrinfo_list(struct dns_lookup_event *e, __u64 res_ptr)
{
	struct dns_addr last = {};
	struct libc_addrinfo ai;
	__u64 node = 0;

	if (!res_ptr || bpf_probe_read_user(&node, sizeof(node), (const void *)res_ptr) != 0) {
		e->flags |= DNS_F_ADDRS_UNREADABLE;
		return;
	}
	for (int i = 0; i < DNS_WALK_MAX && node; i++) {
		if (bpf_probe_read_user(&ai, sizeof(ai), (const void *)node) != 0) {
			e->flags |= DNS_F_ADDRS_UNREADABLE;
			return;
		}
		if (ai.ai_addr && ai.ai_family == DNS_AF_INET) {
			if (!add_addr(e, &last, DNS_AF_INET, (const void *)(ai.ai_addr + SIN_ADDR_OFFSET), 4))
				return;
		} else if (ai.ai_addr && ai.ai_family == DNS_AF_INET6) {
			if (!add_addr(e, &last, DNS_AF_INET6, (const void *)(ai.ai_addr + SIN6_ADDR_OFFSET), 16))
				return;
		}
		node = ai.ai_next;
	}
	if (node)
		e->flags |= DNS_F_MORE_ADDRS;
}

static __always_inline void read_hostent(struct dns_lookup_event *e, __u64 hostent_ptr)
{
	struct dns_addr last = {};
	struct libc_hostent h;
	__u64 entry;

	if (bpf_probe_read_user(&h, sizeof(h), (const void *)hostent_ptr) != 0 || !h.h_addr_list) {
		e->flags |= DNS_F_ADDRS_UNREADABLE;
		return;
	}
	if (!((h.h_addrtype == DNS_AF_INET && h.h_length == 4) || (h.h_addrtype == DNS_AF_INET6 && h.h_length == 16)))
		return;
	for (int i = 0; i <= DNS_ADDR_MAX; i++) {
		if (bpf_probe_read_user(&entry, sizeof(entry), (const void *)(h.h_addr_list + i * 8)) != 0) {
			e->flags |= DNS_F_ADDRS_UNREADABLE;
			return;
		}
		if (!entry)
			return;
		if (!add_addr(e, &last, (__u16)h.h_addrtype, (const void *)entry, (__u32)h.h_length))
			return;
	}
}

/* Return of any of the functions above (one uretprobe program for all). */
SEC("uretprobe")
int BPF_KRETPROBE(handle_return, __u64 ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();
	struct dns_lookup_event *e;
	struct dns_inflight *cur;
	__u64 hostent_ptr = 0;
	__s32 h_err;

	cur = bpf_map_lookup_elem(&inflight, &pid_tgid);
	if (!cur || cur->depth == 0)
		return 0; /* entered before the probes were attached */
	if (cur->depth > 1) {
		/* A nested call returns: keep its h_errno for the outer one. */
		cur->depth -= 1;
		if (cur->inner_h_errnop &&
		    bpf_probe_read_user(&h_err, sizeof(h_err), (const void *)cur->inner_h_errnop) == 0) {
			cur->inner_result = h_err;
			cur->flags |= DNS_INNER_RESULT;
		}
		cur->inner_h_errnop = 0;
		return 0;
	}

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(DNS_STAT_RINGBUF_DROPS);
		bpf_map_delete_elem(&inflight, &pid_tgid);
		return 0;
	}
	e->type = EVENT_DNS_LOOKUP;
	e->func = cur->func;
	e->start_ns = cur->start_ns;
	e->end_ns = bpf_ktime_get_ns();
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->uid = (__u32)uid_gid;
	e->gid = uid_gid >> 32;
	e->result = 0;
	e->flags = cur->flags & ~DNS_INNER_RESULT;
	e->addr_count = 0;
	e->name_size = cur->name_size;
	e->_pad0 = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	__builtin_memset(e->addrs, 0, sizeof(e->addrs));
	bpf_probe_read_kernel(e->name, sizeof(e->name), cur->name);

	switch (cur->func) {
	case DNS_FUNC_GETADDRINFO:
		e->result = (__s32)ret;
		if (e->result == 0)
			read_addrinfo_list(e, cur->out_ptr);
		break;
	case DNS_FUNC_GETHOSTBYNAME:
	case DNS_FUNC_GETHOSTBYNAME2:
		hostent_ptr = ret;
		if (!hostent_ptr) {
			if (cur->flags & DNS_INNER_RESULT) {
				e->result = cur->inner_result;
			} else {
				e->result = -1;
				e->flags |= DNS_F_RESULT_UNKNOWN;
			}
		}
		break;
	default: /* the *_r functions: *result is the answer, *h_errnop the error */
		if (cur->out_ptr)
			bpf_probe_read_user(&hostent_ptr, sizeof(hostent_ptr), (const void *)cur->out_ptr);
		if (!hostent_ptr) {
			if (cur->h_errnop &&
			    bpf_probe_read_user(&h_err, sizeof(h_err), (const void *)cur->h_errnop) == 0) {
				e->result = h_err;
			} else {
				e->result = -1;
				e->flags |= DNS_F_RESULT_UNKNOWN;
			}
		}
		break;
	}
	if (hostent_ptr)
		read_hostent(e, hostent_ptr);
	bpf_map_delete_elem(&inflight, &pid_tgid);
	bpf_ringbuf_submit(e, ringbuf_flags(&events));
	count(DNS_STAT_EVENTS);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
