// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * TCP connect latency and outcome, from the tracepoint inet_sock_set_state,
 * attached as tp_btf (BTF-typed arguments; no kprobes: they are not
 * available everywhere).
 *
 * An active open is CLOSE -> SYN_SENT (in the connecting task: we save who it
 * is), then SYN_SENT -> ESTABLISHED or SYN_SENT -> CLOSE. The completing
 * transition often runs in softirq or a timer, where `current` is whoever was
 * interrupted (pid 0, swapper), so attribution always comes from the state
 * saved at the start. Each completed attempt is aggregated here, exactly,
 * into a latency histogram keyed by (family, port, outcome) and, filters and
 * the span budget permitting, sent to user space as one ring buffer event.
 * The state tests come first: four of the six transitions of a loopback
 * connect are not the client's handshake and cost two compares.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "tcpconnect.h"

#define AGENT_STATS_COUNT TCP_STAT__COUNT
#include "agent.bpf.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6

#define ECONNREFUSED 111
#define ETIMEDOUT 110
#define EHOSTUNREACH 113
#define ENETUNREACH 101
#define E2BIG 7

/* Settings, written by user space between open and load. */
const volatile __u16 filter_dport = 0;       /* only this server port (0: all) */
const volatile __u8 include_loopback = 1;    /* 0: ignore connects to 127/8, ::1 */
const volatile __u8 per_peer_histogram = 0;  /* 1: histogram keyed by peer address too */
const volatile __u8 per_cgroup_histogram = 0; /* 1: histogram keyed by the connecting task's cgroup too */
const volatile __u64 min_latency_ns = 0;     /* successful connects faster than this send no event */
/*
 * Routine events (successes faster than slow_threshold_ns) beyond
 * routine_per_second per CPU and second are counted here and not sent: user
 * space would sample them out anyway (its span cap), and sending them was
 * most of the agent's cost in a connect storm. The histogram counts them.
 */
const volatile __u8 routine_limit = 0;       /* 0: send every routine event */
const volatile __u32 routine_per_second = 0; /* per CPU; 0 with routine_limit: send none */
const volatile __u64 slow_threshold_ns = 0;

struct routine_window {
	__u64 start_ns;
	__u64 sent;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct routine_window);
} routine_windows SEC(".maps");

/*
 * What we know at SYN_SENT, until the attempt ends. Two places:
 * - `inflight`, a direct-mapped table indexed by a hash of the socket
 *   address: the fast path. An array lookup is inlined by the verifier and a
 *   slot is claimed with one compare-and-swap on its tag and released with
 *   one exchange, where a hash map takes a bucket lock and a free-list entry
 *   on insert and again on delete (measured: most of the program's cost per
 *   loopback connect);
 * - when the slot is held by another connect in flight, `inflight_spill`,
 *   storage on the socket itself (BPF_MAP_TYPE_SK_STORAGE, freed with the
 *   socket, limited by memory only).
 * A table alone could be filled by anyone: ~76,000 half-open connects by one
 * user hid every other connect on the host. Socket storage alone costs an
 * allocation per connect (measured: ~0.75 µs of the 1.5 µs the program cost
 * per loopback connect).
 * start_ns == 0 in the spill: nothing in flight.
 */
struct inflight {
	__u64 start_ns;
	__u64 cgroup_id;
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__u32 gid;
	char comm[EBPF_OTEL_COMM_LEN];
};
_Static_assert(sizeof(struct inflight) == 48, "inflight layout");

/* One slot: `sk` is the owner's socket address, 0 when free. */
struct inflight_slot {
	__u64 sk;
	struct inflight start;
};

#define INFLIGHT_SLOT_BITS 16

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << INFLIGHT_SLOT_BITS);
	__type(key, __u32);
	__type(value, struct inflight_slot);
} inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct inflight);
} inflight_spill SEC(".maps");

/*
 * The verifier allows no arithmetic on a socket pointer, and a privileged
 * program may store one in a map: what it loads back is a plain number.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} sk_address SEC(".maps");

static __always_inline __u64 address_of(const struct sock *sk)
{
	__u32 zero = 0;
	volatile __u64 *scratch = bpf_map_lookup_elem(&sk_address, &zero);

	if (!scratch)
		return 0;
	*scratch = (__u64)sk;
	return *scratch;
}

/*
 * A socket's slot: a Fibonacci hash of its address. Freed sockets are
 * reused first by the slab allocator, so a busy connecter keeps landing on
 * the same few slots, which stay in cache (a socket cookie, unique but
 * ever-growing, walked the whole table and cost a cache miss per connect).
 */
static __always_inline struct inflight_slot *inflight_slot_of(__u64 skaddr)
{
	__u32 index = (__u32)((skaddr * 0x9E3779B97F4A7C15ULL) >> (64 - INFLIGHT_SLOT_BITS));

	return bpf_map_lookup_elem(&inflight, &index);
}

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024);
} events SEC(".maps");

/* Keeps the event layout in the object's BTF for the receiver's layout check. */
const struct tcp_connect_event *unused_tcp_connect_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct tcp_hist_key);
	__type(value, struct tcp_hist_value);
} tcp_hist SEC(".maps");

/* A zeroed histogram value to insert from: it is too large for the stack. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tcp_hist_value);
} hist_zero SEC(".maps");

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r, shift;

	r = (v > 0xFFFFFFFFULL) << 5; v >>= r;
	shift = (v > 0xFFFF) << 4; v >>= shift; r |= shift;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

/* Log-linear slot, see tcpconnect.h. */
static __always_inline __u32 hist_slot(__u64 ns)
{
	__u32 msb, slot;

	if (ns < TCP_HIST_SUB_BUCKETS)
		return (__u32)ns;
	msb = log2_u64(ns);
	slot = msb * TCP_HIST_SUB_BUCKETS +
	       (__u32)((ns >> (msb - TCP_HIST_SUB_BITS)) & (TCP_HIST_SUB_BUCKETS - 1));
	if (slot >= TCP_HIST_SLOTS)
		slot = TCP_HIST_SLOTS - 1;
	return slot;
}

static __always_inline bool is_v4_mapped(const __u8 *a)
{
	return a[0] == 0 && a[1] == 0 && a[2] == 0 && a[3] == 0 && a[4] == 0 && a[5] == 0 &&
	       a[6] == 0 && a[7] == 0 && a[8] == 0 && a[9] == 0 && a[10] == 0xff && a[11] == 0xff;
}

/*
 * An address, copied out of the socket with plain loads (the typed pointer
 * of tp_btf; bpf_probe_read_kernel would cost a helper call each):
 * AF_INET in the first 4 bytes, the rest zero.
 */
static __always_inline void copy_addr(__u16 family, __u32 v4, const struct in6_addr *v6, __u8 *out)
{
	__u32 *words = (__u32 *)out;

	if (family == AF_INET) {
		words[0] = v4;
		words[1] = 0;
		words[2] = 0;
		words[3] = 0;
	} else {
		words[0] = v6->in6_u.u6_addr32[0];
		words[1] = v6->in6_u.u6_addr32[1];
		words[2] = v6->in6_u.u6_addr32[2];
		words[3] = v6->in6_u.u6_addr32[3];
	}
}

static __always_inline void peer_of(const struct sock *sk, __u16 family, __u8 *daddr)
{
	copy_addr(family, sk->__sk_common.skc_daddr, &sk->__sk_common.skc_v6_daddr, daddr);
}

static __always_inline bool is_loopback(__u16 family, const __u8 *daddr)
{
	if (family == AF_INET)
		return daddr[0] == 127;
	if (is_v4_mapped(daddr))
		return daddr[12] == 127;
	for (int i = 0; i < 15; i++)
		if (daddr[i] != 0)
			return false;
	return daddr[15] == 1;
}

static __always_inline __u32 outcome_of(int sk_err)
{
	switch (sk_err) {
	case 0:
		return TCP_OUTCOME_ABANDONED;
	case ECONNREFUSED:
		return TCP_OUTCOME_REFUSED;
	case ETIMEDOUT:
		return TCP_OUTCOME_TIMED_OUT;
	case EHOSTUNREACH:
		return TCP_OUTCOME_HOST_UNREACH;
	case ENETUNREACH:
		return TCP_OUTCOME_NET_UNREACH;
	default:
		return TCP_OUTCOME_OTHER_ERROR;
	}
}

/*
 * Counts one attempt. When the key table is full the attempt goes to its
 * (family, outcome) overflow key (dport 0, no peer), which user space
 * inserts before attaching: the counts stay exact whatever the keys.
 */
static __always_inline void hist_record(struct tcp_hist_key *key, __u64 latency_ns)
{
	struct tcp_hist_value *value;
	__u32 zero = 0, slot;
	void *zeroed;

	value = bpf_map_lookup_elem(&tcp_hist, key);
	if (!value) {
		zeroed = bpf_map_lookup_elem(&hist_zero, &zero);
		if (!zeroed)
			return;
		if (bpf_map_update_elem(&tcp_hist, key, zeroed, BPF_NOEXIST) == -E2BIG) {
			count(TCP_STAT_HIST_FULL);
			key->dport = 0;
			__builtin_memset(key->daddr, 0, sizeof(key->daddr));
			key->cgroup_id = 0;
			/* Fails when full, harmless: the overflow keys are pre-inserted. */
			bpf_map_update_elem(&tcp_hist, key, zeroed, BPF_NOEXIST);
		}
		value = bpf_map_lookup_elem(&tcp_hist, key);
		if (!value) {
			count(TCP_STAT_HIST_LOST);
			return;
		}
	}
	slot = hist_slot(latency_ns);
	__sync_fetch_and_add(&value->count, 1);
	__sync_fetch_and_add(&value->sum_ns, latency_ns);
	if (slot < TCP_HIST_SLOTS)
		__sync_fetch_and_add(&value->slots[slot], 1);
}

static __always_inline void on_syn_sent(struct sock *sk)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	__u64 skaddr, owner;
	struct inflight *start;
	struct inflight_slot *slot;
	struct task_struct *task;
	const struct cred *cred;
	__u8 daddr[16] __attribute__((aligned(4)));

	if (skip_tgid(tgid))
		return;
	if (filter_dport && bpf_ntohs(sk->__sk_common.skc_dport) != filter_dport)
		return;
	if (!include_loopback) {
		peer_of(sk, sk->__sk_common.skc_family, daddr);
		if (is_loopback(sk->__sk_common.skc_family, daddr))
			return;
	}

	skaddr = address_of(sk);
	slot = inflight_slot_of(skaddr);
	if (!skaddr || !slot)
		return;
	/* The same address still in the slot: the socket that held it is gone. */
	owner = __sync_val_compare_and_swap(&slot->sk, 0, skaddr);
	if (owner == 0 || owner == skaddr) {
		start = &slot->start;
	} else {
		/* Held by another connect in flight (or a pile of half-open ones): on the socket, then. */
		count(TCP_STAT_INFLIGHT_SPILLED);
		start = bpf_sk_storage_get(&inflight_spill, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (!start) {
			count(TCP_STAT_INFLIGHT_FULL); /* out of memory (or the socket's optmem budget) */
			return;
		}
	}
	/*
	 * The task's identity read through its BTF type: plain loads where the
	 * bpf_get_current_{comm,uid_gid,cgroup_id} helpers copy and translate
	 * (the same values: uid/gid as seen from the initial user namespace, the
	 * cgroup v2 id). Nobody reads the slot before the SYN is answered, which
	 * is after this program returns.
	 */
	task = bpf_get_current_task_btf();
	cred = task->cred;
	start->cgroup_id = task->cgroups->dfl_cgrp->kn->id;
	start->pid = tgid;
	start->tid = (__u32)pid_tgid;
	start->uid = cred->uid.val;
	start->gid = cred->gid.val;
	__builtin_memcpy(start->comm, task->comm, sizeof(start->comm));
	start->start_ns = bpf_ktime_get_ns();
}

static __always_inline void on_done(struct sock *sk, __u32 outcome, int sk_err)
{
	struct inflight *start;
	struct inflight_slot *slot;
	struct tcp_connect_event *event;
	struct tcp_hist_key key = {};
	__u64 now, latency_ns, skaddr;
	__u16 family, dport;
	__u8 daddr[16] __attribute__((aligned(4)));
	bool spilled = false;

	skaddr = address_of(sk);
	slot = inflight_slot_of(skaddr);
	if (skaddr && slot && slot->sk == skaddr) {
		start = &slot->start;
	} else {
		start = bpf_sk_storage_get(&inflight_spill, sk, 0, 0);
		if (!start || !start->start_ns)
			return; /* began before we attached, or filtered out at SYN_SENT */
		spilled = true;
	}

	now = bpf_ktime_get_ns();
	latency_ns = now - start->start_ns;
	family = sk->__sk_common.skc_family;
	dport = bpf_ntohs(sk->__sk_common.skc_dport);
	peer_of(sk, family, daddr);

	key.family = family;
	if (family == AF_INET6 && is_v4_mapped(daddr))
		key.family = AF_INET; /* an IPv6 socket speaking IPv4 on the wire */
	key.dport = dport;
	key.outcome = outcome;
	if (per_peer_histogram)
		__builtin_memcpy(key.daddr, daddr, 16);
	if (per_cgroup_histogram)
		key.cgroup_id = start->cgroup_id;
	hist_record(&key, latency_ns);

	if (outcome == TCP_OUTCOME_ESTABLISHED && latency_ns < min_latency_ns)
		goto out;
	if (routine_limit && outcome == TCP_OUTCOME_ESTABLISHED && latency_ns < slow_threshold_ns) {
		__u32 zero = 0;
		/* Per CPU: one program run at a time on a CPU, no atomics needed. */
		struct routine_window *w = bpf_map_lookup_elem(&routine_windows, &zero);

		if (w) {
			if (now - w->start_ns >= 1000000000ULL) {
				w->start_ns = now;
				w->sent = 0;
			}
			if (w->sent >= routine_per_second) {
				count(TCP_STAT_ROUTINE_SKIPPED);
				goto out;
			}
			w->sent++;
		}
	}

	event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
	if (!event) {
		count(TCP_STAT_RINGBUF_DROPS);
		goto out;
	}
	event->type = EVENT_TCP_CONNECT;
	event->outcome = outcome;
	event->start_ns = start->start_ns;
	event->end_ns = now;
	event->cgroup_id = start->cgroup_id;
	event->pid = start->pid;
	event->tid = start->tid;
	event->uid = start->uid;
	event->gid = start->gid;
	event->sk_err = sk_err;
	event->family = family;
	/* Not skc_num: at SYN_SENT -> CLOSE the port is released (inet_num = 0) before the tracepoint. */
	event->sport = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	event->dport = dport;
	event->_pad0 = 0;
	__builtin_memcpy(event->daddr, daddr, 16);
	copy_addr(family, sk->__sk_common.skc_rcv_saddr, &sk->__sk_common.skc_v6_rcv_saddr, event->saddr);
	__builtin_memcpy(event->comm, start->comm, sizeof(event->comm));
	event->netns_ino = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	bpf_ringbuf_submit(event, ringbuf_flags(&events));
	count(TCP_STAT_EVENTS);
out:
	if (spilled)
		start->start_ns = 0; /* the storage stays on the socket (freed with it) */
	else
		__sync_lock_test_and_set(&slot->sk, 0); /* an exchange: ordered after the reads above */
}

/*
 * tp_btf: the typed `struct sock *` (per-socket storage needs it), no
 * tracefs, and a cheaper hook than the classic tracepoint (measured floor,
 * bench/RESULTS.md). Of the six transitions of a loopback connect only the
 * client's two matter: the state test comes first and costs two compares.
 */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(inet_sock_set_state, struct sock *sk, int oldstate, int newstate)
{
	if (oldstate == TCP_CLOSE) {
		if (newstate != TCP_SYN_SENT || sk->sk_protocol != IPPROTO_TCP)
			return 0;
		on_syn_sent(sk);
		return 0;
	}
	/*
	 * SYN_RECV: the active side of a simultaneous open ends up here, but so
	 * does every passive open (the server's child socket of each loopback
	 * connect). A child has no struct socket until accept(): skip it before
	 * any map lookup.
	 */
	if (oldstate != TCP_SYN_SENT && (oldstate != TCP_SYN_RECV || !sk->sk_socket))
		return 0;
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	if (newstate == TCP_ESTABLISHED) {
		on_done(sk, TCP_OUTCOME_ESTABLISHED, 0);
	} else if (newstate == TCP_CLOSE) {
		int sk_err = sk->sk_err;

		/*
		 * An ICMP error that arrives while the task holds the socket
		 * lock is parked in sk_err_soft (until the SYN retransmit
		 * gives up, which copies it to sk_err). If the application
		 * closes first, that is still the best "why".
		 */
		if (!sk_err)
			sk_err = sk->sk_err_soft;
		on_done(sk, outcome_of(sk_err), sk_err);
	}
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
