/* Messages of the node services (NODE_AM_SVC), as they travel between
 * agents. Every field is fixed-width little-endian (common/wire.h); no host
 * struct is ever sent. A message is a header, then a body whose layout the
 * header's type decides:
 *
 *   header (32 bytes, every message)
 *     0  u16 version   NODE_WIRE_VERSION
 *     2  u16 type      node_msg_type_t
 *     4  u32 count     LAYOUT: changes; LIVE: 1 or -1 as i32; LOAD: the
 *                      sender's guest threads; else 0
 *     8  u64 id        request id, 0 when no reply is wanted
 *    16  i64 arg       ACK: result; SYSCALL: the number; EXIT: status;
 *                      DESCRIBE: a guest address; MOVE: the node
 *    24  i32 tid       SYSCALL, START, LIVE, MIGRATE, MOVED, MOVE
 *    28  i32 vcpu      SYSCALL: the caller's vCPU
 *
 *   SYSCALL    + 6 x u64 arguments                        (80 bytes)
 *   LAYOUT     + count x change {u32 op, i32 prot, i32 flags, u32 0,
 *                u64 start, u64 end}                      (32 + 32 count)
 *   START      + u64 clear_tid, u64 sigmask, registers   (216 + xsave_len)
 *   MIGRATE    + u64 clear_tid, u64 sigmask, u64 robust_list,
 *                u64 robust_len, u64 hold_ns (place.h), u64 sleep_req,
 *                u64 sleep_left_ns (a sleep given up to move), registers
 *                                                        (256 + xsave_len)
 *     registers: {15 general, rip, rflags, rsp, fs, gs: u64 each;
 *                u32 xsave_len, u32 0; then xsave_len bytes of
 *                extended-state image}                 (168 + xsave_len)
 *   LIVE, EXIT, ACK, STATS, MOVED, LOAD, DESCRIBE, STATUS, MOVE, PAUSE,
 *   DRAIN, GIVE, DEPART, BYE, LEAVE, JOINED, CANCEL
 *                                     header only         (32 bytes)
 *   TAKE       + items (NODE_TAKE_*, below)
 *   JOIN       + u32 A, u32 R, A + R bytes (below); JOINED header only
 *   STATUS_REP + NODE_STATUS_WORDS x u64, node_status_t order
 *                                                         (32 + 8 x 19)
 *   STATS_REP  + u32 nvcpus, nhot, ntrace, nthreads, nmig, u32 0; then
 *                nvcpus x vCPU {8 x u64 counters, i32 host cpu}; the
 *                coherence counters (169 x u64); the release memory
 *                model's counters (NODE_WIRE_RC_WORDS x u64,
 *                coh_rc_stats_t order);
 *                SYS_NR_MAX x u64 syscall counts; nhot x hot page; ntrace x fault; nthreads x
 *                thread stack; u64 threads that left, u64 that arrived;
 *                nmig x {i64 tid, u64 departures}
 *
 * Decoders check the length exactly (a short or long message is refused),
 * the version, the type's direction-independent ranges (counts within
 * their limits, vCPU and syscall numbers in range; a START's or MIGRATE's
 * tid positive, FS and GS bases user addresses, register image one this
 * node's CPU can restore, entry_xsave_valid; a MIGRATE's robust list
 * length 0 or 24 and hold within place.h's cap) and never read past the
 * bytes received. What a message means for the receiver (who may send it)
 * is checked by the service that handles it. */
#ifndef CVMM_NODE_NODE_WIRE_H
#define CVMM_NODE_NODE_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "coherence/coh.h"
#include "coherence/coh_trace.h"
#include "common/status.h"
#include "common/wire.h"
#include "core/gmem.h"
#include "core/stats_coh.h"
#include "core/stats_mig.h"
#include "core/sys/sys.h"
#include "core/vm.h"

/* 1: raw host structs, before wire.h; 2: START with a 512-byte fxsave image
 * only; 3: no GS base in START, no MIGRATE, MOVED or LOAD, no migration
 * counts in STATS_REP; 4: no release-model counters in STATS_REP; 5: no
 * DESCRIBE, STATUS or MOVE; 6: STATUS_REP without the balancer's words,
 * no MOVE of tid 0, vCPU counters in STATS_REP without CPU and run-queue
 * time, no PAUSE, DRAIN, GIVE, TAKE, DEPART, BYE or LEAVE, no pid in
 * STATUS_REP; 7: no JOIN, JOINED or CANCEL; 8: no speed word in
 * STATUS_REP; 9: 15 release-model words in STATS_REP (no fault times by
 * protocol, no hand-over time); 10: 20 of them (no pages given back) */
#define NODE_WIRE_VERSION 11

typedef enum node_msg_type {
	NODE_MSG_SYSCALL = 1, /* node k -> 0: run this syscall for thread tid */
	NODE_MSG_LAYOUT,      /* node 0 -> k: apply these layout changes */
	NODE_MSG_START,       /* creator -> j: start a guest thread */
	NODE_MSG_LIVE,        /* node k -> 0: +1 or -1 live guest thread */
	NODE_MSG_EXIT,        /* node k -> 0: the VM ended on node k */
	NODE_MSG_ACK,         /* reply to SYSCALL, LAYOUT and LIVE(+1) */
	NODE_MSG_STATS,       /* node 0 -> k at the end: send your counters */
	NODE_MSG_STATS_REP,   /* k -> 0: node_stats_t */
	NODE_MSG_MIGRATE,     /* i -> j: guest thread tid goes on here */
	NODE_MSG_MOVED,       /* k -> 0: thread tid left node k */
	NODE_MSG_LOAD,        /* any -> any: the sender's thread count */
	NODE_MSG_DESCRIBE,    /* any -> any: log your protocol state of the
				 guest page at arg (a stuck wait) */
	NODE_MSG_STATUS,      /* node 0 -> k: cvmm ctl status asks (arg 1:
				 with the pages it owns and shares) */
	NODE_MSG_STATUS_REP,  /* k -> 0: node_status_t */
	NODE_MSG_MOVE,        /* node 0 -> k: cvmm ctl migrate: thread tid,
				 if it runs on k, moves to node arg at its
				 next trap point; ACK arg 1 (it will), 2 (it
				 is on node arg), 0 (not on k). tid 0: the
				 balancer's, k's busiest thread moves; ACK
				 arg its tid, 0 none */
	NODE_MSG_PAUSE,       /* node 0 -> k: cvmm ctl pause and resume: arg
				 NODE_PAUSE_*; ACK arg 1 when k is quiet
				 (QUERY), else 0 */
	NODE_MSG_DRAIN,       /* node 0 -> k: cvmm ctl drain: arg, one bit
				 per node, the drained ones; ACK */
	NODE_MSG_GIVE,        /* node 0 -> k, leaving (cvmm ctl remove-node):
				 hand your roles and pages to node arg (TAKE
				 messages); ACK arg the pages sent */
	NODE_MSG_TAKE,        /* leaving k -> heir: arg NODE_TAKE_*, count
				 items (below); ACK */
	NODE_MSG_DEPART,      /* node 0 -> every node but k: node arg left,
				 count its heir; ACK */
	NODE_MSG_BYE,         /* node 0 -> k: you are out, exit 0; ACK */
	NODE_MSG_LEAVE,       /* k -> 0: SIGTERM here, let me leave (cvmm
				 ctl remove-node k); ACK arg -1 when refused
				 (a BYE comes otherwise) */
	NODE_MSG_JOIN,        /* node 0 -> k: node arg joins, connect to it
				 (body below); ACK */
	NODE_MSG_JOINED,      /* node 0 -> k: node arg is in the VM, count
				 the membership epoch; ACK */
	NODE_MSG_CANCEL,      /* k -> 0: thread tid's call (request arg) is
				 to give up: its node is drained; the call's
				 answer comes as usual (-512 when given up) */
	NODE_MSG_TYPES        /* one past the last type */
} node_msg_type_t;

/* TAKE: arg the kind, count the items after the header:
 *   RECORDS  count x {u64 page, u64 copyset, u8 st, owner, used, plains,
 *            sticky, seeded, first, u8 0}              (24 bytes each)
 *   PAGE     count 1: u64 page, u64 state (coh_state_t: SHARED or
 *            EXCLUSIVE), then the page's bytes         (16 + 4096)
 *   WAITERS  count x {u64 uaddr, u64 id, u32 node, u32 bitset}
 *                                                      (24 bytes each)
 *   RC_PAGE  count 1: a data page of the release model homed at the
 *            leaving node: u64 page, u64 copyset, u64 writers, u64
 *            dropped, u32 version, u32 0, then the master copy's bytes
 *                                                      (40 + 4096) */
enum { NODE_TAKE_RECORDS = 1, NODE_TAKE_PAGE, NODE_TAKE_WAITERS,
       NODE_TAKE_RC_PAGE };
#define NODE_TAKE_ITEM_LEN 24
#define NODE_TAKE_PAGE_LEN (16 + 4096)
#define NODE_TAKE_RC_PAGE_LEN (40 + 4096)
#define NODE_TAKE_MAX 128 /* items in one TAKE */

/* A TAKE's well-formedness: its kind, count and length (CVMM_ERR_PEER). */
cvmm_status_t node_wire_take_check(const void *buf, size_t len);

/* PAUSE's arg. */
enum {
	NODE_PAUSE_RESUME, /* open the gate, wake what waits there */
	NODE_PAUSE_CLOSE,  /* close the gate, kick the guest threads */
	NODE_PAUSE_QUERY,  /* quiet yet? */
	NODE_PAUSE_WHY,    /* log why not (a pause that timed out) */
	NODE_PAUSE_ARGS
};

typedef struct node_hdr {
	uint16_t version;
	uint16_t type;
	uint32_t count;
	uint64_t id;
	int64_t arg;
	int32_t tid;
	int32_t vcpu;
} node_hdr_t;

/* One layout change as LAYOUT carries it (NODE_WIRE_CHANGE_LEN bytes);
 * get refuses one no node could apply (false). */
void node_wire_change_put(wire_w_t *w, const gmem_change_t *c);
bool node_wire_change_get(wire_r_t *r, gmem_change_t *c);

/* JOIN: u32 address length A, u32 key length R, then A bytes of the
 * joiner's worker address and R of its packed memory key; 1 <= A and
 * A, R <= NODE_WIRE_JOIN_BLOB_MAX. */
#define NODE_WIRE_JOIN_FIXED 8
#define NODE_WIRE_JOIN_BLOB_MAX 65536
size_t node_wire_join_encode(const node_hdr_t *h, const void *addr,
			     size_t alen, const void *rkey, size_t rlen,
			     void *buf, size_t cap);
/* Points *addr and *rkey into msg (CVMM_ERR_PEER when malformed). */
cvmm_status_t node_wire_join_decode(const void *msg, size_t len,
				    const void **addr, size_t *alen,
				    const void **rkey, size_t *rlen);


#define NODE_WIRE_HDR_LEN 32
_Static_assert(2 + 2 + 4 + 8 + 8 + 4 + 4 == NODE_WIRE_HDR_LEN,
	       "node message header fields");

#define NODE_WIRE_SYSCALL_LEN (NODE_WIRE_HDR_LEN + 6 * 8)
_Static_assert(NODE_WIRE_SYSCALL_LEN == 80, "node SYSCALL message");

#define NODE_WIRE_CHANGE_LEN 32
_Static_assert(4 + 4 + 4 + 4 + 8 + 8 == NODE_WIRE_CHANGE_LEN,
	       "layout change fields");
#define NODE_WIRE_LAYOUT_MAX 256 /* changes in one LAYOUT message */

/* START: the fixed part, then xsave_len image bytes; NODE_WIRE_START_LEN
 * is the longest START (room for a whole GUEST_XSAVE_MAX image). */
#define NODE_WIRE_REGS_LEN (20 * 8 + 4 + 4)
#define NODE_WIRE_START_FIXED (NODE_WIRE_HDR_LEN + 8 + 8 + NODE_WIRE_REGS_LEN)
_Static_assert(NODE_WIRE_START_FIXED == 216, "node START message");
#define NODE_WIRE_START_LEN (NODE_WIRE_START_FIXED + GUEST_XSAVE_MAX)

/* MIGRATE: the same after five words. */
#define NODE_WIRE_MIGRATE_FIXED (NODE_WIRE_HDR_LEN + 7 * 8 + NODE_WIRE_REGS_LEN)
_Static_assert(NODE_WIRE_MIGRATE_FIXED == 256, "node MIGRATE message");
#define NODE_WIRE_MIGRATE_LEN (NODE_WIRE_MIGRATE_FIXED + GUEST_XSAVE_MAX)

/* What a MIGRATE carries besides the registers. */
typedef struct node_migrate {
	uint64_t clear_tid, sigmask;
	uint64_t robust_list, robust_len;
	uint64_t hold_ns;   /* the thread's least residence where it goes */
	/* a sleep given up to move (vthread_t): its req and what is left,
	 * both 0 or both set */
	uint64_t sleep_req, sleep_left_ns;
} node_migrate_t;

/* STATS_REP parts. */
#define NODE_WIRE_VCPU_LEN (8 * 8 + 4)
_Static_assert(sizeof(vcpu_stats_t) == 8 * 8, "vcpu_stats_t: 8 counters");
#define NODE_WIRE_COH_WORDS (8 + 64 + 64 + 32 + 1)
_Static_assert(sizeof(coh_rt_stats_t) == NODE_WIRE_COH_WORDS * 8,
	       "coh_rt_stats_t: every counter travels");
#define NODE_WIRE_RC_WORDS 21
_Static_assert(sizeof(coh_rc_stats_t) == NODE_WIRE_RC_WORDS * 8,
	       "coh_rc_stats_t: every counter travels");
#define NODE_WIRE_HOT_LEN (8 + 4 + 4 + 4 + 4 * COH_TRACE_NODES)
#define NODE_WIRE_EV_LEN (8 + 8 + 4)
#define NODE_WIRE_THREAD_LEN (3 * 8)
#define NODE_WIRE_MIG_LEN (2 * 8)

/* One node's counters for node 0's --stats: its vCPUs' times, coherence
 * counters, release-model counters (stats_rc.h), syscall counts, hottest
 * pages, fault sample (coh_trace.h), the stacks of the threads it created
 * and its migrations (stats_mig.h). */
typedef struct node_stats {
	uint32_t nvcpus, nhot, ntrace, nthreads, nmig;
	vcpu_stats_t vc[CVMM_MAX_VCPUS]; /* only this node's vCPUs count */
	int32_t pu[CVMM_MAX_VCPUS];      /* their host cpus */
	coh_rt_stats_t coh;
	coh_rc_stats_t rc;               /* zeros in the sequential model */
	uint64_t sys[SYS_NR_MAX];
	coh_trace_page_t hot[STATS_HOT_TOP];
	coh_trace_ev_t trace[COH_TRACE_SAMPLE];
	stats_thread_t threads[STATS_THREADS_MAX];
	uint64_t mig_out, mig_in;         /* threads that left, arrived */
	stats_mig_t mig[STATS_MIG_MAX];   /* departures per thread */
} node_stats_t;

/* One node's state now, for cvmm ctl status (node/ctl_server.h). */
typedef struct node_status {
	uint64_t vcpus;          /* the VM's vCPUs that live on this node */
	uint64_t threads;        /* guest threads running here now */
	uint64_t read_faults, write_faults; /* coherence faults served */
	uint64_t fault_ns;       /* time guest threads spent in them */
	uint64_t resident;       /* guest pages with a copy here */
	uint64_t guest_ns, coherence_ns, sys_ns, idle_ns; /* vCPU times */
	uint64_t mig_out, mig_in; /* threads that left, arrived */
	/* the balancer's (core/balance.h) */
	uint64_t run_ns, wait_ns; /* guest threads on a CPU, waiting for one */
	uint64_t cores;           /* host cores its vCPUs run on */
	uint64_t cores_idle_ns;   /* their idle time, summed */
	uint64_t owned, shared;   /* guest pages it owns, read-only copies
				     (coh_rt_pages) */
	uint64_t pid;             /* its agent's process id */
	uint64_t speed;           /* its core's speed (balance_speed_probe) */
} node_status_t;
#define NODE_STATUS_WORDS 20
#define NODE_STATUS_CORES_MAX 65536 /* more is a malformed reply */
_Static_assert(sizeof(node_status_t) == NODE_STATUS_WORDS * 8,
	       "node_status_t: every word travels");
#define NODE_WIRE_STATUS_LEN (NODE_WIRE_HDR_LEN + NODE_STATUS_WORDS * 8)

size_t node_wire_status_encode(const node_hdr_t *h, const node_status_t *s,
			       void *buf, size_t cap);
cvmm_status_t node_wire_status_decode(const void *buf, size_t len,
				      node_status_t *s);

/* Encoded size of a STATS_REP with these counts. */
size_t node_wire_stats_len(const node_stats_t *s);

/* Largest encoded message (a STATS_REP at its limits). */
size_t node_wire_max_len(void);

/* Encoders: write the message into buf (cap bytes) and return its length,
 * or 0 when it does not fit or a count is over its limit. h->version is
 * set here; h->count is set for LAYOUT. */
size_t node_wire_hdr_encode(const node_hdr_t *h, void *buf, size_t cap);
size_t node_wire_syscall_encode(const node_hdr_t *h, const uint64_t a[6],
				void *buf, size_t cap);
size_t node_wire_layout_encode(const node_hdr_t *h, const gmem_change_t *c,
			       unsigned n, void *buf, size_t cap);
size_t node_wire_start_encode(const node_hdr_t *h, uint64_t clear_tid,
			      uint64_t sigmask, const guest_regs_t *regs,
			      void *buf, size_t cap);
size_t node_wire_migrate_encode(const node_hdr_t *h, const node_migrate_t *m,
				const guest_regs_t *regs, void *buf,
				size_t cap);
size_t node_wire_stats_encode(const node_hdr_t *h, const node_stats_t *s,
			      void *buf, size_t cap);

/* Decodes the header of a message of len bytes: CVMM_ERR_PEER when it is
 * short, of another version or of an unknown type. Header-only types
 * (LIVE, EXIT, ACK, STATS, MOVED, LOAD, DESCRIBE, STATUS, MOVE, PAUSE,
 * DRAIN) are
 * complete when this succeeds and len is
 * NODE_WIRE_HDR_LEN. */
cvmm_status_t node_wire_hdr_decode(const void *buf, size_t len,
				   node_hdr_t *h);

/* Body decoders, given the whole message: CVMM_ERR_PEER unless the length
 * is exactly right and every range holds; outputs written only on
 * success. */
cvmm_status_t node_wire_syscall_decode(const void *buf, size_t len,
				       uint64_t a[6]);
/* c has room for NODE_WIRE_LAYOUT_MAX changes; *n gets their number. */
cvmm_status_t node_wire_layout_decode(const void *buf, size_t len,
				      gmem_change_t *c, unsigned *n);
cvmm_status_t node_wire_start_decode(const void *buf, size_t len,
				     uint64_t *clear_tid, uint64_t *sigmask,
				     guest_regs_t *regs);
cvmm_status_t node_wire_migrate_decode(const void *buf, size_t len,
				       node_migrate_t *m, guest_regs_t *regs);
cvmm_status_t node_wire_stats_decode(const void *buf, size_t len,
				     node_stats_t *s);

/* Decodes any message completely (header and body) and discards it:
 * CVMM_OK when a receiver would accept its form, CVMM_ERR_PEER when not,
 * CVMM_ERR_NOMEM when scratch memory ran out. For the fuzzer and tests. */
cvmm_status_t node_wire_check(const void *buf, size_t len);

#endif
