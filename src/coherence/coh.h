/* The coherence runtime: the Ivy protocol (proto.h) wired to userfaultfd on
 * the guest view and to the transport (docs/design.md decisions 4 and 5). Only
 * active when the VM spans several nodes.
 *
 * Faults: the guest view is registered MISSING | MINOR | WP with
 * UFFD_FEATURE_SIGBUS, so a guest access to a page that is not valid here
 * raises SIGBUS on the faulting vCPU thread, which serves its own fault
 * (coh_rt_fault): docs/design.md measured 18 us for that against 15 us for a
 * handler thread on the same cpu and 110-160 us on the other cpu, and the
 * SIGBUS mode needs no thread per vCPU. Mapping a valid page is
 * UFFDIO_CONTINUE (read-only replicas with CONTINUE_MODE_WP); invalidation
 * is MADV_DONTNEED on the guest view (the page cache keeps the bytes, the
 * next access faults MINOR); page bytes move by a one-sided get from the
 * owner's agent view into ours; protocol messages are active messages.
 *
 * The agent touches guest data only through the agent view, after
 * coh_rt_acquire made the pages current here (and, for writes, pinned them
 * so they cannot be taken away before coh_rt_release). */
#ifndef CVMM_COHERENCE_COH_H
#define CVMM_COHERENCE_COH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coherence/proto.h"
#include "coherence/rc.h"
#include "common/status.h"
#include "rdma/xp.h"

#define COH_RT_READ_AHEAD_MAX 32

typedef struct coh_rt_cfg {
	xp_t *xp;
	int self, nnodes;
	unsigned am_id;   /* active-message id of protocol messages */
	int memfd;        /* guest physical; offset == guest address */
	uint64_t lo, hi;  /* guest view [lo, hi), page aligned */
	uint64_t delta;   /* agent view address = guest address + delta */
	bool push;        /* owners send the page with the grant (no get) */
	int hold_max_us;  /* holding window cap (proto.h), 0 = off */
	int read_ahead;   /* pages asked for after a sequential read fault,
			     0 = off (at most COH_RT_READ_AHEAD_MAX) */
	/* The release memory model (docs/coherence.md): data pages follow
	 * rc.h, synchronization pages the sequential protocol. */
	bool release;
	unsigned rc_am_id;  /* active-message id of its messages */
	bool race_warn;     /* a data race is logged, not fatal */
	int staleness_ms;   /* writes go home at least this often (0: only
			       at synchronization) */
	int twin_ahead;     /* pages twinned ahead of a write fault (rc.h
			       cfg.twin_ahead; at most RC_TWIN_AHEAD_MAX) */
	uint64_t members;   /* the nodes in at start (bits; 0: all): the
			       release model's broadcasts skip free slots */
	/* The protocol broke (a peer sent an illegal message, a copy failed):
	 * starts ending the VM with one line; may return at once. */
	void (*fatal)(const char *why);
	/* A wait for the page at addr passed 10 s (this node has logged its
	 * state of it): asks the others to log theirs. May be NULL. */
	void (*stuck)(uint64_t addr);
	/* The node playing each manager role (proto.h coh_cfg_t.host): a
	 * free slot's, or a joining node's view after leaves. NULL: node v
	 * plays role v. */
	const uint8_t *host;
	/* True when no guest thread of this node runs (core/vm.h
	 * vm_guest_idle): forwards are not held then. May be NULL. */
	bool (*guest_idle)(void);
} coh_rt_cfg_t;

/* Release memory model counters (relaxed atomics), for --stats. */
typedef struct coh_rc_stats {
	uint64_t fetches, zero_fetches, twins, diffs_sent, diff_bytes;
	uint64_t diffs_applied, acquires, releases, invalidated;
	uint64_t sync_pages, races, notices, fwd_deferred;
	uint64_t promoted; /* pages the sequential protocol handed over */
	uint64_t updated;  /* write notices applied to a copy in place */
	/* guest faults served by the sequential protocol (pages not, or
	 * not yet, data pages: synchronization pages and pages before
	 * promotion) and by the release model's data pages, and their
	 * time in ns */
	uint64_t seq_faults, seq_fault_ns, data_faults, data_fault_ns;
	/* hand-overs that waited for a release (fwd_deferred): the time
	 * from their release's start to the page leaving, in ns */
	uint64_t handover_ns;
	uint64_t demoted; /* promoted pages given back (rc.h "Back to
			     sequential first") */
} coh_rc_stats_t;

/* Per-node counters (relaxed atomics), for --stats. */
typedef struct coh_rt_stats {
	uint64_t read_faults, write_faults;   /* guest faults served */
	uint64_t agent_acquires;              /* pages made valid for the agent */
	uint64_t fetches, bytes_moved;        /* pages copied in (get or push) */
	uint64_t zero_fills;                  /* grants of all-zero pages */
	uint64_t inval_sent, inval_recv;      /* INVALIDATE messages */
	uint64_t msgs_sent[64], msgs_recv[64]; /* per peer (first 64) */
	uint64_t lat_hist[32];                /* fault latency, log2 us */
	uint64_t fault_ns;                    /* total time in guest faults */
} coh_rt_stats_t;

extern coh_rt_stats_t coh_rt_stats;

/* True once coh_rt_start succeeded (multi-node VM). */
extern bool cvmm_coh_on;

/* Creates the protocol state and registers the message handler (call
 * before xp_connect). */
cvmm_status_t coh_rt_init(const coh_rt_cfg_t *cfg);

/* Opens userfaultfd and registers the whole guest view. After this every
 * guest access to a page not valid here faults into coh_rt_fault. */
cvmm_status_t coh_rt_start(void);

/* Serves a guest fault at addr (write: a write access; atomic: by an
 * atomic read-modify-write instruction, counted for --stats) on the calling vCPU
 * thread; returns CVMM_OK when the access can be retried, CVMM_ERR_RANGE
 * when addr is outside the guest view (a real crash). *src: the node the
 * page's bytes came from for this fault, -1 when none moved (the page was
 * here, a zero grant, a coalesced fault) or it is not known. */
cvmm_status_t coh_rt_fault(uint64_t addr, bool write, bool atomic, int *src);

/* Logs (warn) this node's protocol state of the page holding addr: at a
 * wait stuck for 10 s, here or (cfg.stuck) on another node. */
void coh_rt_describe(uint64_t addr);

/* Makes every page of [addr, addr+len) valid here for reading, or (write)
 * exclusive and pinned until coh_rt_release on this thread. */
cvmm_status_t coh_rt_acquire(uint64_t addr, size_t len, bool write);

/* The guest layout as read-ahead needs it (core's gmem registers it):
 * readable(addr, len) is how many bytes from addr are mapped readable; it
 * is called in fault handlers and must not wait (0 when it would). Without
 * it, no read-ahead. */
typedef struct coh_layout {
	size_t (*readable)(uint64_t addr, size_t len);
} coh_layout_t;

void coh_rt_set_layout(const coh_layout_t *layout);

/* The guest's content of [start, end) is being dropped here (munmap,
 * MADV_DONTNEED: the memory file punched): a read-ahead of a page in it
 * still in flight lands as zeros; and, with suppress, no read-ahead goes
 * into it until coh_rt_layout_done. Called with the layout lock held for
 * writing. */
void coh_rt_layout_drop(uint64_t start, uint64_t end, bool suppress);

/* Every node has applied the layout changes seen so far here: the
 * suppressed ranges are free again. */
void coh_rt_layout_done(void);

/* Node 0's loader wrote [start, end) before the guest ran: node 0 owns
 * those pages at first, and every page outside such ranges starts at its
 * manager (proto.h, coh_node_add_image: first touch where it happens).
 * Every node calls it for the same ranges in the same order (gmem's
 * GMEM_CH_IMAGE), before the guest runs. A no-op unless coh_rt_start
 * ran. */
void coh_rt_image(uint64_t start, uint64_t end);

/* Under the release model: [start, end) holds a thread's descriptor and
 * TLS (gmem_set_tls), where other threads take words with atomics next to
 * the thread's plain stores; its pages are never promoted to data pages
 * while the range is mapped (coh_rt_keep_sc_drop: ranges inside [start,
 * end) are forgotten, at munmap). Every node records the same ranges in
 * the same order (gmem's GMEM_CH_TLS). A page promoted before (its
 * address used for data earlier, then unmapped) stays a data page
 * (docs/coherence.md, "Not there yet"). No-ops otherwise. */
void coh_rt_keep_sc(uint64_t start, uint64_t end);
void coh_rt_keep_sc_drop(uint64_t start, uint64_t end);

/* Drops the calling thread's pins (end of a syscall, thread exit). */
void coh_rt_release(void);

/* The release memory model's synchronization points (no-ops in the
 * sequential model and on one node). coh_rt_sync_release: this node's
 * writes to data pages reach their homes (waits for the acks): before a
 * system call, a thread leaving for another node, a clear_tid wake, the
 * answer to a call served for another node. coh_rt_sync_acquire: this
 * node's copies of data pages homed elsewhere are dropped: after a
 * system call, when a thread starts or arrives, before serving a call
 * for another node. */
void coh_rt_sync_release(void);
void coh_rt_sync_acquire(void);
/* As coh_rt_sync_acquire before serving another node's call: the agent's
 * own, which no guest thread here synchronizes with (race detection). */
void coh_rt_serve_acquire(void);

/* Fills *out from this node's release-model protocol (zeros when off). */
void coh_rt_rc_stats(coh_rc_stats_t *out);

/* No guest thread of this node runs (all wait in calls): ends this node's
 * holds at once (proto.h, coh_hold_release). A no-op on one node or with
 * holds off. */
void coh_rt_idle(void);

/* The guest pages this node holds, for cvmm ctl status: *owned the ones
 * it owns (writable: EXCLUSIVE under the sequential protocol, or data
 * pages of the release model homed here), *shared read-only copies of
 * the sequential protocol's. Walks the memfd's resident pages. */
void coh_rt_pages(uint64_t *owned, uint64_t *shared);

/* ---- a node leaving (cvmm ctl remove-node, node/svc_leave.c) --------------
 * The runtime side of proto.h's "a node leaving", at a quiet point only:
 * records of manager role v played here; a record taken over; the pages
 * this node holds (SHARED or EXCLUSIVE, resident in its memfd), with
 * their bytes; a page taken over (its bytes written here unless this node
 * has a valid copy); and leaving node k's roles and copies given to h. */
cvmm_status_t coh_rt_role_records(uint32_t v,
				  void (*fn)(void *ctx, uint64_t page,
					     const coh_record_t *r),
				  void *ctx);
cvmm_status_t coh_rt_take_record(uint32_t v, uint64_t page,
				 const coh_record_t *r);
/* fn(ctx, page, state, bytes); false from fn stops the walk (then false) */
bool coh_rt_held_pages(bool (*fn)(void *ctx, uint64_t page, int state,
				  const void *bytes),
		       void *ctx);
cvmm_status_t coh_rt_take_page(uint64_t page, int state, const void *bytes);
cvmm_status_t coh_rt_depart(uint32_t k, uint32_t h);
/* The release model's part (rc.h "membership"; no-ops under the
 * sequential one): this node's own release, complete (the leaving node,
 * before its hand-over); the data pages homed here with their master
 * copies, to fn (false from fn stops the walk: then false); such a page
 * taken over from node from (homed here, PROMOTED in the sequential
 * protocol's records); node k joined (broadcasts reach it). */
void coh_rt_release_all(void);
bool coh_rt_rc_homes(bool (*fn)(void *ctx, const rc_home_rec_t *r,
				const void *bytes),
		     void *ctx);
cvmm_status_t coh_rt_take_rc_home(uint32_t from, const rc_home_rec_t *r,
				  const void *bytes);
cvmm_status_t coh_rt_join(uint32_t k);

/* ---- a node joining (node/join.c) -------------------------------------------
 * What a joining node must know of the layout besides the mappings, in the
 * order the nodes learnt it: node 0's image ranges (coh_rt_image) and the
 * ranges kept sequentially consistent (coh_rt_keep_sc), as byte ranges
 * [r[i][0], r[i][1]); at most cap of each, the count returned. */
unsigned coh_rt_images(uint64_t (*r)[2], unsigned cap);
unsigned coh_rt_kept(uint64_t (*r)[2], unsigned cap);

/* ---- pausing (cvmm ctl pause, node/svc_pause.c) ---------------------------
 * While this node is paused, a thread about to start a coherence
 * operation (a fault, an agent access to guest memory, a futex call across
 * nodes: coh_rt_gate_enter) waits at the node's gate; operations already
 * started finish, and message handlers keep serving other nodes. Guest
 * threads park at their trap points (core) with coh_rt_pause_wait. The
 * state is this module's so that one node without coherence pauses too. */
void coh_rt_pause(bool on);
bool coh_rt_paused(void);
/* Blocks the calling thread until the node is no longer paused. */
void coh_rt_pause_wait(void);
/* Around an operation that may send coherence or futex messages; nested
 * calls on one thread count once. */
void coh_rt_gate_enter(void);
void coh_rt_gate_exit(void);
/* Nothing of this node's coherence is in flight: no thread inside the
 * gate, and neither protocol nor the futex service awaits a message. When
 * something is, false with what into why. */
bool coh_rt_quiet(char *why, size_t len);

#endif
