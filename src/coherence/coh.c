/* The coherence runtime (coh.h): proto.c's ops on userfaultfd and xp, the
 * fault loop run by faulting vCPU threads and by the agent's own accesses,
 * and per-thread pins.
 *
 * A thread that needs a page loops on coh_fault: READY (the protocol mapped
 * it), FETCH (this thread copies the page from the owner with a one-sided
 * get, then coh_fetch_done installs it and confirms to the manager) or
 * WAIT (another request for the page is in flight: sleep on the page's
 * wait-queue word until ops->notify bumps it). Handlers never block: all
 * gets are made by the threads that need the page. With cfg.push the
 * owner sends its copy with the grant instead, and the handler of the
 * grant installs it (no get, no FETCH). */
#include "coherence/coh.h"
#include "coherence/coh_trace.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "coherence/dfutex.h"
#include "coherence/diff.h"
#include "coherence/proto.h"
#include "coherence/proto_wire.h"
#include "coherence/rc.h"
#include "coherence/walk.h"
#include "common/clock.h"
#include "common/log.h"

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef UFFDIO_CONTINUE_MODE_WP
#define UFFDIO_CONTINUE_MODE_WP (1ULL << 1) /* Linux 6.6, not in older headers */
#endif

#define WQ_BUCKETS 256
#define WAIT_SLICE_NS 100000000L /* re-check a waited page every 100 ms */
#define WAIT_WARN_NS  10000000000UL
#define WAIT_SPIN_NS  300000L /* progress the transport, then sleep */

bool cvmm_coh_on;
coh_rt_stats_t coh_rt_stats;

#define HOLD_IDLE_NS 100000000L /* the hold timer's sleep with no hold */

/* A sequence word that a waiter sleeps on until it moves (wq_sleep) and
 * a notifier bumps (wq_bump), with a count of sleepers so that a bump
 * makes a futex call only when someone sleeps. */
typedef struct wq_word {
	uint32_t seq;
	uint32_t waiters;
} wq_word_t;

static struct {
	coh_rt_cfg_t cfg;
	coh_node_t *node;
	int uffd;
	uint32_t hold_seq; /* bumped (and woken) when a hold is armed */
	/* the release memory model (cfg.release): data pages */
	rc_node_t *rc;
	bool rc_armed;     /* node 0's image is declared: homes are known */
	wq_word_t acks;    /* bumped when diffs are acked */
	uint64_t fwd_deferred;
	uint64_t handover_ns;
	/* faults served by the sequential protocol [0] and as data pages
	 * [1]: counts and ns */
	uint64_t model_faults[2], model_fault_ns[2];
	unsigned races_warned;
} rt = { .uffd = -1 };

/* A sync page must not leave this node while a write made before the
 * access that released it is still only here (rc.h). Making a data copy
 * dirty (a write fault) holds the gate for reading; handing a sync page
 * on checks rc_clean and runs the forward under the gate held for
 * writing, so no first write can slip in between the check and the page
 * leaving. A handler never waits for the gate: when it cannot take it,
 * or the node has something to release, the forward goes to the
 * release thread (rt_rel_main), which releases first. */
static pthread_rwlock_t rc_gate = PTHREAD_RWLOCK_INITIALIZER;
static __thread unsigned gate_w; /* this thread's nested write holds */
static __thread bool gate_r;     /* this thread holds it for reading */

#define RELQ_MAX 4096
#define RELQ_BATCH 256 /* forwards run after one release */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	coh_msg_t m[RELQ_MAX];
	unsigned head, len;
} relq = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

/* Wait queues: one word per bucket of pages, bumped by notify. */
static wq_word_t wq[WQ_BUCKETS];

/* The node the last pushed copy of a page came from (-1: a zero grant, no
 * bytes), per wait-queue bucket (a grant's handler may run on another
 * thread than the faulting one, which reads it back in coh_rt_fault). A
 * later push to the bucket overwrites it: then the fault reports no
 * source. */
static struct {
	uint64_t page;
	int from;
} pushed_from[WQ_BUCKETS];

/* The calling thread's pins, and whether it is the agent (not a guest
 * fault): the agent needs the page valid, not mapped in the guest view. */
#define RC_PIN (1ull << 63) /* a pins[] entry of the release model */
/* Sequential first (rc.h): write requests by plain stores after which a
 * page becomes a data page (docs/coherence.md has the measurements). */
#define RC_PROMOTE_AFTER 2
/* Back to sequential first (rc.h): diffs in a row from one node alone
 * after which a data page's home gives it back, to be promoted again at
 * that node (radix on 4 nodes: 18.6 -> 14.2 s; at 4, barnes and is on 4
 * nodes ran 27% and 47% slower: docs/performance.md). */
#define RC_DEMOTE_AFTER 32
static __thread uint64_t *pins;
static __thread unsigned npins, pins_cap;
static __thread bool agent_access;
/* The page this thread last mapped in the guest view (+ 1, 0: none) and
 * whether read-only: a grant handled by the faulting thread itself maps
 * the page, and the fault's READY then need not map it again (a
 * CONTINUE that finds it mapped, and a write-protect, ~5-10 us). */
static __thread uint64_t mapped_page;
static __thread bool mapped_wp;

/* Read-ahead and write-ahead (docs/coherence.md, "Read-ahead" and "First
 * touch"): the guest layout, the registry of pages asked for ahead, and
 * each thread's windows.
 *
 * A layout change that drops pages (munmap, DONTNEED) is applied on each
 * node in turn, so for a while some copies are dropped and some not. The
 * guest's own faults in that window are its race with its own call; a
 * read-ahead must not make one: bytes it fetched from an owner that had
 * not dropped yet would outlive the drop here. So a read-ahead registers
 * its pages before asking (ra_set); a drop applied meanwhile marks them
 * to land as zeros; and a node that dropped a range asks no read-ahead
 * into it (ra_off) until every node has applied the change (node 0: the
 * publication is over; the others: node 0 sends the next change only
 * after all applied this one). */
static const coh_layout_t *layout;

#define RA_SET 256
#define RA_OFF 32
static pthread_mutex_t ra_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	uint64_t page; /* + 1; 0: free */
	bool zero;     /* a drop passed it: land as zeros */
} ra_set[RA_SET];
static struct {
	uint64_t start, end;
} ra_off[RA_OFF];
static unsigned ra_count; /* pages in ra_set */
static unsigned ra_noff;
static bool ra_off_all; /* ra_off overflowed */
/* A thread's walks of faults (walk.h): reads and writes have one each. */
static __thread walk_t ra_w, wa_w;
/* This thread's last write fault was a first touch (a fresh page:
 * initial here, or granted as zeros): write-ahead may follow. */
static __thread bool wa_fresh;

/* The send buffer of this thread (messages of one batch, pages pushed),
 * and whether a send from it is in progress: xp_am_send progresses the
 * transport until the message is out, which may run handlers on this
 * thread whose own batches must not overwrite (or realloc) the bytes
 * still being sent. */
static __thread uint8_t *tx_buf;
static __thread size_t tx_cap;
static __thread bool tx_busy;

static void stat_add(uint64_t *p, uint64_t v)
{
	__atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}

static uint64_t page_addr(uint64_t page)
{
	return page << CVMM_PAGE_SHIFT;
}

static void *agent_ptr(uint64_t page)
{
	return (void *)(uintptr_t)(page_addr(page) + rt.cfg.delta);
}

/* Pages whose agent-view mapping exists (the agent copied through it)
 * since their content was last dropped: a copy out of or into them is a
 * memcpy; into any other page it goes through the memory file (pread,
 * pwrite: the agent view would take a page fault first, ~15 us on a VM
 * against ~2 us for the call). A hint only: two pages share a bit, and
 * a drop the hint misses costs a fault, never a wrong byte (both ways
 * reach the same memory file). */
#define AV_BITS (1u << 20)
static uint64_t av_mapped[AV_BITS / 64];

static bool av_is(uint64_t page)
{
	uint64_t b = page % AV_BITS;

	return __atomic_load_n(&av_mapped[b / 64], __ATOMIC_RELAXED) >>
		       (b % 64) & 1;
}

static void av_set(uint64_t page)
{
	uint64_t b = page % AV_BITS;

	if (!av_is(page))
		__atomic_fetch_or(&av_mapped[b / 64], 1ull << (b % 64),
				  __ATOMIC_RELAXED);
}

/* Pages [first, end) are dropped from the memory file (punched). */
static void av_clear(uint64_t first, uint64_t end)
{
	if (end - first >= AV_BITS) {
		for (unsigned w = 0; w < AV_BITS / 64; w++)
			__atomic_store_n(&av_mapped[w], 0, __ATOMIC_RELAXED);
		return;
	}
	for (uint64_t q = first; q < end; q++) {
		uint64_t b = q % AV_BITS;

		__atomic_fetch_and(&av_mapped[b / 64], ~(1ull << (b % 64)),
				   __ATOMIC_RELAXED);
	}
}

static unsigned wq_index(uint64_t page)
{
	return (unsigned)((page * 0x9e3779b97f4a7c15UL) >> 56);
}

/* Forgets page's registration; true when it must land as zeros. */
static bool ra_forget_locked(uint64_t page)
{
	for (unsigned i = 0; i < RA_SET; i++)
		if (ra_set[i].page == page + 1) {
			ra_set[i].page = 0;
			ra_count--;
			return ra_set[i].zero;
		}
	return false;
}

static void ra_forget(uint64_t page)
{
	pthread_mutex_lock(&ra_mu);
	ra_forget_locked(page);
	pthread_mutex_unlock(&ra_mu);
}

/* Forgets ahead[0..k), registered and never asked. */
static void ra_forget_all(const uint64_t *ahead, unsigned k)
{
	for (unsigned j = 0; j < k; j++)
		ra_forget(ahead[j]);
}

/* ---- ops ----------------------------------------------------------------- */

static cvmm_status_t rt_zero_local(uint64_t page);

/* Our copy of page into buf: through the agent view where it is mapped
 * (av_is), else read from the memory file (the guest wrote the page
 * through its own view). */
static void page_copy_out(uint64_t page, void *buf)
{
	if (av_is(page)) {
		memcpy(buf, agent_ptr(page), CVMM_PAGE_SIZE);
	} else if (pread(rt.cfg.memfd, buf, CVMM_PAGE_SIZE,
			 (off_t)page_addr(page)) != CVMM_PAGE_SIZE) {
		memcpy(buf, agent_ptr(page), CVMM_PAGE_SIZE);
		av_set(page);
	}
}

/* data into our copy of page, the same way round. */
static void page_copy_in(uint64_t page, const void *data)
{
	if (av_is(page)) {
		memcpy(agent_ptr(page), data, CVMM_PAGE_SIZE);
	} else if (pwrite(rt.cfg.memfd, data, CVMM_PAGE_SIZE,
			  (off_t)page_addr(page)) != CVMM_PAGE_SIZE) {
		memcpy(agent_ptr(page), data, CVMM_PAGE_SIZE);
		av_set(page);
	}
}

/* Encodes m[0..k) back to back into buf (their coh_wire_len in all), a
 * pushing grant with our copy of the page after it (it cannot change
 * before the requester confirms, proto.c), and counts the transport
 * message to dst. Returns the length. */
static size_t encode_msgs(uint32_t dst, const coh_msg_t *m, unsigned k,
			  uint8_t *buf)
{
	size_t len = 0;

	for (unsigned i = 0; i < k; i++) {
		coh_wire_encode(&m[i], buf + len);
		if (m[i].flags & COH_FLAG_PAGE)
			page_copy_out(m[i].page, buf + len + COH_WIRE_LEN);
		len += coh_wire_len(&m[i]);
		if (m[i].type == COH_MSG_INVALIDATE)
			stat_add(&coh_rt_stats.inval_sent, 1);
	}
	if (dst < 64)
		stat_add(&coh_rt_stats.msgs_sent[dst], 1);
	return len;
}

/* A message to a node already found lost is dropped without a word: the
 * loss is reported once, by node.c, which ends the job (or the job is
 * ending and the peer left first: its agents leave in some order). */
static cvmm_status_t sent(uint32_t dst, cvmm_status_t st)
{
	if (st == CVMM_ERR_PEER && xp_peer_lost(rt.cfg.xp, (int)dst))
		return CVMM_OK;
	return st;
}

/* One message. 4 KiB on the stack: vCPU threads run this on their
 * 256 KiB signal stacks. */
static cvmm_status_t rt_send(void *ctx, uint32_t dst, const coh_msg_t *m)
{
	uint8_t buf[COH_WIRE_LEN + CVMM_PAGE_SIZE];

	return sent(dst, xp_am_send(rt.cfg.xp, (int)dst, rt.cfg.am_id, buf,
				    encode_msgs(dst, m, 1, buf)));
}

/* The messages of one step to dst as one transport message. */
static cvmm_status_t rt_send_many(void *ctx, uint32_t dst, const coh_msg_t *m,
				  unsigned k)
{
	size_t len, need = 0;
	bool nested = tx_busy; /* a handler inside our own send: a buffer
				  of its own */
	uint8_t *buf = NULL;
	cvmm_status_t st;

	for (unsigned i = 0; i < k; i++)
		need += coh_wire_len(&m[i]);
	if (!nested && need > tx_cap) {
		buf = realloc(tx_buf, need);
		if (!buf)
			return CVMM_ERR_NOMEM;
		tx_buf = buf;
		tx_cap = need;
	}
	buf = nested ? malloc(need) : tx_buf;
	if (!buf)
		return CVMM_ERR_NOMEM;
	len = encode_msgs(dst, m, k, buf);
	tx_busy = true;
	st = sent(dst, xp_am_send(rt.cfg.xp, (int)dst, rt.cfg.am_id, buf,
				  len));
	tx_busy = nested;
	if (nested)
		free(buf);
	return st;
}

/* A grant pushed the page: into our copy (not mapped in the guest view). */
static cvmm_status_t rt_put_page(void *ctx, uint64_t page, uint32_t from,
				 const void *data)
{
	unsigned i = wq_index(page);
	cvmm_status_t st = CVMM_OK;

	/* The read-ahead check and the copy under ra_mu: a drop here marks
	 * the page (under ra_mu) before it punches the file, so the copy
	 * lands either as zeros or before the punch, never after it. */
	pthread_mutex_lock(&ra_mu);
	if (ra_count && ra_forget_locked(page))
		data = NULL; /* dropped here while it was on its way */
	if (!data) { /* the owner's copy is all zeros */
		st = rt_zero_local(page);
	} else {
		memcpy(agent_ptr(page), data, CVMM_PAGE_SIZE);
		av_set(page);
	}
	pthread_mutex_unlock(&ra_mu);
	__atomic_store_n(&pushed_from[i].from, data ? (int)from : -1,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&pushed_from[i].page, page, __ATOMIC_RELEASE);
	if (!data) {
		stat_add(&coh_rt_stats.zero_fills, 1);
		return st;
	}
	stat_add(&coh_rt_stats.fetches, 1);
	stat_add(&coh_rt_stats.bytes_moved, CVMM_PAGE_SIZE);
	coh_trace_copy(page, (int)from);
	return CVMM_OK;
}

static cvmm_status_t rt_invalidate(void *ctx, uint64_t page)
{
	if (mapped_page == page + 1)
		mapped_page = 0;
	/* raw syscall: UCX's memory hooks would see (and scan) every madvise */
	if (syscall(SYS_madvise, (void *)(uintptr_t)page_addr(page), CVMM_PAGE_SIZE,
		    MADV_DONTNEED) != 0)
		log_warn("invalidating guest page 0x%lx: %m", page_addr(page));
	return CVMM_OK;
}

static int uffd_continue(uint64_t addr, bool wp)
{
	struct uffdio_continue c = {
		.range = { .start = addr, .len = CVMM_PAGE_SIZE },
		.mode = wp ? UFFDIO_CONTINUE_MODE_WP : 0,
	};

	return ioctl(rt.uffd, UFFDIO_CONTINUE, &c) == 0 ? 0 : -errno;
}

/* Write-protects (wp) or unprotects pages [page, page + count) of the
 * guest view in one call. */
static int uffd_protect_run(uint64_t page, uint64_t count, bool wp)
{
	struct uffdio_writeprotect w = {
		.range = { .start = page_addr(page),
			   .len = count * CVMM_PAGE_SIZE },
		.mode = wp ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	return ioctl(rt.uffd, UFFDIO_WRITEPROTECT, &w) == 0 ? 0 : -errno;
}

static int uffd_protect(uint64_t addr, bool wp)
{
	return uffd_protect_run(addr >> CVMM_PAGE_SHIFT, 1, wp);
}

/* Maps page in the guest view: read-only (write-protected) for SHARED,
 * writable for EXCLUSIVE. A page never written here has no page-cache page
 * for CONTINUE to map: allocate a zeroed one first (fallocate keeps any
 * existing bytes). Already mapped: just set the write protection. */
static cvmm_status_t rt_install(void *ctx, uint64_t page, coh_state_t st)
{
	uint64_t a = page_addr(page);
	bool wp = st != COH_EXCLUSIVE;
	int r = uffd_continue(a, wp);

	if (r == -EFAULT || r == -ENOENT) {
		if (fallocate(rt.cfg.memfd, FALLOC_FL_KEEP_SIZE, (off_t)a,
			      (off_t)CVMM_PAGE_SIZE) == 0)
			r = uffd_continue(a, wp);
	}
	if (r == -EEXIST)
		r = uffd_protect(a, wp);
	/* -EAGAIN: the mapping changed under us; the access faults again. */
	if (r != 0 && r != -EAGAIN)
		log_debug("mapping guest page 0x%lx: %s", a, strerror(-r));
	mapped_page = r == 0 ? page + 1 : 0;
	mapped_wp = wp;
	return CVMM_OK;
}

/* rc_ops_t.protect: pages [first, first + count), mapped writable,
 * become read-only in one call. */
static cvmm_status_t rc_protect(void *ctx, uint64_t first, uint64_t count)
{
	mapped_page = 0;
	return uffd_protect_run(first, count, true) == 0 ? CVMM_OK
							 : CVMM_ERR_IO;
}

/* rc_ops_t.unprotect: pages [first, first + count), mapped read-only,
 * become writable in one call. */
static cvmm_status_t rc_unprotect(void *ctx, uint64_t first, uint64_t count)
{
	mapped_page = 0;
	return uffd_protect_run(first, count, false) == 0 ? CVMM_OK
							  : CVMM_ERR_IO;
}

/* The owner's copy becomes read-only. It is usually mapped (the owner's
 * threads wrote it): write-protect it directly rather than try a CONTINUE
 * that fails with EEXIST first (install's order, right for a page that
 * arrives). A page not mapped here gets a write-protect marker and its
 * next access faults and maps it (CONTINUE), as for any SHARED page. */
static cvmm_status_t rt_downgrade(void *ctx, uint64_t page)
{
	int r = uffd_protect(page_addr(page), true);

	mapped_page = 0;
	if (r == 0)
		return CVMM_OK;
	return rt_install(ctx, page, COH_SHARED);
}

/* The faulting access needs the page mapped as st; the agent does not.
 * Skipped when this thread has just mapped it so: had anything unmapped
 * it since (a layout change drops pages without a protocol step), the
 * access only faults once more and maps it then. */
static cvmm_status_t rt_map(void *ctx, uint64_t page, coh_state_t st)
{
	bool skip = mapped_page == page + 1 &&
		    mapped_wp == (st != COH_EXCLUSIVE);

	mapped_page = 0;
	if (agent_access || skip)
		return CVMM_OK;
	return rt_install(ctx, page, st);
}

/* A hole in the memfd reads as zeros: nothing to copy (~1 us lseek
 * against ~20 us for a 4 KiB get over tcp). */
static bool rt_is_zero(void *ctx, uint64_t page)
{
	off_t off = (off_t)page_addr(page);

	return lseek(rt.cfg.memfd, off, SEEK_DATA) != off;
}

/* Our (stale) copy becomes zeros: the owner's is. */
static cvmm_status_t rt_zero_local(uint64_t page)
{
	av_clear(page, page + 1);
	if (fallocate(rt.cfg.memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)page_addr(page), (off_t)CVMM_PAGE_SIZE) != 0) {
		log_error("zeroing guest page 0x%lx: %m", page_addr(page));
		return CVMM_ERR_IO;
	}
	return CVMM_OK;
}

static void wq_bump(wq_word_t *w)
{
	__atomic_fetch_add(&w->seq, 1, __ATOMIC_RELEASE);
	if (__atomic_load_n(&w->waiters, __ATOMIC_ACQUIRE))
		syscall(SYS_futex, &w->seq, FUTEX_WAKE_PRIVATE, INT_MAX, NULL,
			NULL, 0);
}

/* Waits for w to move from seq, or a slice. Progresses the transport
 * here for a while first: the answer is usually a few hops away, and
 * handling it on this thread saves the progress thread's wake-up of this
 * one. Then sleeps. */
static void wq_sleep(wq_word_t *w, uint32_t seq)
{
	struct timespec ts = { 0, WAIT_SLICE_NS };

	if (xp_progress_until(rt.cfg.xp, &w->seq, seq, WAIT_SPIN_NS))
		return;
	__atomic_fetch_add(&w->waiters, 1, __ATOMIC_ACQ_REL);
	syscall(SYS_futex, &w->seq, FUTEX_WAIT_PRIVATE, seq, &ts, NULL, 0);
	__atomic_fetch_sub(&w->waiters, 1, __ATOMIC_RELEASE);
}

static void rt_notify(void *ctx, uint64_t page)
{
	unsigned i = wq_index(page);

	wq_bump(&wq[i]);
}

/* ---- holds ---------------------------------------------------------------- */

static uint64_t rt_now_ns(void *ctx)
{
	return cvmm_now_ns();
}

static bool rt_guest_idle(void *ctx)
{
	return rt.cfg.guest_idle && rt.cfg.guest_idle();
}

/* A new hold: the timer thread re-reads the earliest deadline. Under the
 * protocol's lock: a futex wake, no wait. */
static void rt_hold_armed(void *ctx, uint64_t deadline)
{
	__atomic_fetch_add(&rt.hold_seq, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &rt.hold_seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Ends holds when they are due (no handler may sleep, so a thread of its
 * own sleeps until the earliest deadline or a new hold). */
static void *rt_hold_main(void *arg)
{
	prctl(PR_SET_TIMERSLACK, 1000UL); /* 1 us, not the default 50 */
	for (;;) {
		uint32_t seq = __atomic_load_n(&rt.hold_seq, __ATOMIC_ACQUIRE);
		uint64_t next, now;
		struct timespec ts = { 0, HOLD_IDLE_NS };
		cvmm_status_t st = coh_hold_tick(rt.node, &next);

		if (st != CVMM_OK) {
			rt.cfg.fatal("coherence: ending a hold failed");
			return NULL;
		}
		now = cvmm_now_ns();
		if (next != UINT64_MAX) {
			if (next <= now)
				continue;
			if (next - now < (uint64_t)HOLD_IDLE_NS)
				ts.tv_nsec = (long)(next - now);
		}
		syscall(SYS_futex, &rt.hold_seq, FUTEX_WAIT_PRIVATE, seq, &ts,
			NULL, 0);
	}
	return NULL;
}

static void rt_refused(void *ctx, uint64_t page)
{
	ra_forget(page); /* nothing will land */
}

/* The sequential protocol hands a page to the release model. */
static void rt_to_data(void *ctx, uint64_t page, uint32_t home)
{
	if (rc_to_data(rt.rc, page, home) != CVMM_OK)
		rt.cfg.fatal("coherence: handing a page to the release model "
			     "failed");
}

/* glibc's thread arenas (malloc.c, "heap_info") start at an address
 * aligned to HEAP_MAX_SIZE, 64 MiB on x86-64, with the arena's header
 * there: its mutex is the first word after heap_info, next to the bins
 * and the first chunks, which every thread freeing into the arena (its
 * tcache) writes plainly. Such a page can move twice by plain stores and
 * become a data page before anyone is seen taking the lock, and the lock
 * taken on two nodes' writable copies is two threads in malloc at once. */
#define RT_ARENA_ALIGN (64ULL << 20)

/* Pages that stay sequentially consistent for good under the release
 * model: the program's image (glibc keeps its own locks there: malloc's
 * main arena, the stack cache, stdio) and the first page of every
 * RT_ARENA_ALIGN-aligned stretch (a thread arena's header; one page in
 * 16384 of anything else, at no measurable cost). */
static bool rt_sync_for_good(uint64_t page)
{
	return coh_page_image(rt.node, page) ||
	       ((page << CVMM_PAGE_SHIFT) & (RT_ARENA_ALIGN - 1)) == 0;
}

/* Threads' descriptors and TLS (coh_rt_keep_sc): ranges of pages, in
 * the order they came, each node the same. Its own lock, taken last (the
 * manager asks under the protocol's lock). */
typedef struct rt_range {
	uint64_t first, end;
} rt_range_t;

#define RT_KEEP_MAX 16384

static struct {
	pthread_mutex_t lock;
	rt_range_t *v;
	unsigned n, cap;
	bool full; /* RT_KEEP_MAX reached once (warned) */
} keep = { .lock = PTHREAD_MUTEX_INITIALIZER };

static bool keep_sc(uint64_t page)
{
	bool in = false;

	pthread_mutex_lock(&keep.lock);
	for (unsigned i = 0; i < keep.n && !in; i++)
		in = keep.v[i].first <= page && page < keep.v[i].end;
	pthread_mutex_unlock(&keep.lock);
	return in;
}

void coh_rt_keep_sc(uint64_t start, uint64_t end)
{
	rt_range_t r = { start >> CVMM_PAGE_SHIFT,
			 (end + CVMM_PAGE_SIZE - 1) >> CVMM_PAGE_SHIFT };

	if (!rt.node || r.first >= r.end)
		return; /* one node (or declared from coh_rt_init on) */
	pthread_mutex_lock(&keep.lock);
	for (unsigned i = 0; i < keep.n; i++)
		if (keep.v[i].first == r.first && keep.v[i].end == r.end)
			goto out; /* a stack mapped again where it was */
	if (keep.n == RT_KEEP_MAX) { /* the guest maps stacks without end */
		if (!keep.full)
			log_warn("coherence: more than %d thread stacks mapped: "
				 "the TLS of later ones can become data pages",
				 RT_KEEP_MAX);
		keep.full = true;
		goto out;
	}
	if (keep.n == keep.cap) {
		unsigned cap = keep.cap ? 2 * keep.cap : 64;
		rt_range_t *v = realloc(keep.v, cap * sizeof(*v));

		if (!v) {
			pthread_mutex_unlock(&keep.lock);
			rt.cfg.fatal("coherence: out of memory recording a "
				     "thread's TLS");
			return;
		}
		keep.v = v;
		keep.cap = cap;
	}
	keep.v[keep.n++] = r;
out:
	pthread_mutex_unlock(&keep.lock);
}

unsigned coh_rt_kept(uint64_t (*r)[2], unsigned cap)
{
	unsigned n = 0;

	pthread_mutex_lock(&keep.lock);
	for (unsigned i = 0; i < keep.n && n < cap; i++, n++) {
		r[n][0] = keep.v[i].first << CVMM_PAGE_SHIFT;
		r[n][1] = keep.v[i].end << CVMM_PAGE_SHIFT;
	}
	pthread_mutex_unlock(&keep.lock);
	return n;
}

void coh_rt_keep_sc_drop(uint64_t start, uint64_t end)
{
	uint64_t first = start >> CVMM_PAGE_SHIFT,
		 last = (end + CVMM_PAGE_SIZE - 1) >> CVMM_PAGE_SHIFT;
	unsigned k = 0;

	pthread_mutex_lock(&keep.lock);
	for (unsigned i = 0; i < keep.n; i++)
		if (keep.v[i].first < first || keep.v[i].end > last)
			keep.v[k++] = keep.v[i]; /* not unmapped whole */
	keep.n = k;
	pthread_mutex_unlock(&keep.lock);
}

/* Sequential first (rc.h): the pages rt_sync_for_good names stay
 * sequentially consistent for good (rc_sync_at_start), and so do the
 * pages of threads' descriptors and TLS while they are mapped (never
 * promoted); every other page goes to the release model once its
 * manager saw it move RC_PROMOTE_AFTER times, by plain stores only. */
static bool rt_promotable(void *ctx, uint64_t page)
{
	return !rt_sync_for_good(page) && !keep_sc(page);
}

static const coh_ops_t rt_ops = {
	.send = rt_send,
	.send_many = rt_send_many,
	.put_page = rt_put_page,
	.invalidate_local = rt_invalidate,
	.install = rt_install,
	.downgrade = rt_downgrade,
	.map = rt_map,
	.is_zero = rt_is_zero,
	.notify = rt_notify,
	.refused = rt_refused,
	.to_data = rt_to_data,
};

/* ---- the release memory model's ops (rc.h) ------------------------------ */

/* A page's manager under the release model: its initial owner under the
 * sequential one, which is also its manager there for every page that can
 * become a data page (outside the image). */
static uint32_t rc_manager(void *ctx, uint64_t page)
{
	return coh_page_home(rt.node, page);
}

/* A page becomes a synchronization page at its home, or goes back to
 * sequential first there (writer < nnodes): the sequential protocol
 * starts with it there. */
static cvmm_status_t rc_sync_owner(void *ctx, uint64_t page, uint32_t owner,
				   uint32_t writer)
{
	if (writer < (uint32_t)rt.cfg.nnodes)
		return coh_node_demote(rt.node, page, owner, writer);
	return coh_node_seed(rt.node, page, owner);
}

/* Synchronization pages from the start (rt_sync_for_good): locks there
 * sit next to data written plainly, where an atomic could hit a page
 * already writable here and go unseen (docs/coherence.md). */
static bool rc_sync_at_start(void *ctx, uint64_t page)
{
	return rt_sync_for_good(page);
}

/* The rc messages m[0..k) for dst, each framed (rc_frame_next) with its
 * payload (a diff, or our copy of the page for a PAGE with RC_F_PAGE), in
 * transport messages of at most RC_TX_MAX bytes (a larger frame goes
 * alone): what the transport sends eagerly (xp_am_eager_max), less room
 * for its header. By rendezvous, 64 KiB batches made stencil slower than
 * one message each; eagerly, lu and stencil 10% faster than 8 KiB ones
 * (docs/performance.md, "Batched rc messages", "Larger batches"). */
#define RC_TX_MAX (xp_am_eager_max(rt.cfg.xp) - 512)

/* A PAGE that carries our copy of the page (its bytes are not in the
 * outbox: they are read when it leaves). */
static bool rc_page_bytes(const rc_msg_t *m)
{
	return m->type == RC_MSG_PAGE && (m->flags & RC_F_PAGE);
}

/* One transport message of frames to dst, counted. */
static cvmm_status_t rc_tx(uint32_t dst, const uint8_t *buf, size_t len)
{
	if (dst < 64)
		stat_add(&coh_rt_stats.msgs_sent[dst], 1);
	return sent(dst, xp_am_send(rt.cfg.xp, (int)dst, rt.cfg.rc_am_id, buf,
				    len));
}

static cvmm_status_t rc_send_many(void *ctx, uint32_t dst, const rc_msg_t *m,
				  const void *const *data, const size_t *len,
				  unsigned k)
{
	size_t need = 0, cap = RC_TX_MAX, used = 0;
	cvmm_status_t st = CVMM_OK;
	uint8_t *buf;

	for (unsigned i = 0; i < k; i++) {
		size_t f = RC_FRAME_HDR + RC_WIRE_LEN +
			   (rc_page_bytes(&m[i]) ? CVMM_PAGE_SIZE : len[i]);

		need += f;
		if (f > cap)
			cap = f; /* goes alone */
	}
	if (need < cap)
		cap = need;
	buf = malloc(cap);
	if (!buf)
		return CVMM_ERR_NOMEM;
	for (unsigned i = 0; i < k && st == CVMM_OK; i++) {
		bool page = rc_page_bytes(&m[i]);
		size_t pl = page ? CVMM_PAGE_SIZE : len[i];
		uint8_t *f;

		if (used > 0 &&
		    used + RC_FRAME_HDR + RC_WIRE_LEN + pl > RC_TX_MAX) {
			st = rc_tx(dst, buf, used);
			used = 0;
			if (st != CVMM_OK)
				break;
		}
		f = buf + used;
		rc_frame_put(f, RC_WIRE_LEN + pl);
		rc_wire_encode(&m[i], f + RC_FRAME_HDR);
		if (page) {
			page_copy_out(m[i].page, f + RC_FRAME_HDR + RC_WIRE_LEN);
			stat_add(&coh_rt_stats.bytes_moved, CVMM_PAGE_SIZE);
		} else if (pl) {
			memcpy(f + RC_FRAME_HDR + RC_WIRE_LEN, data[i], pl);
		}
		used += RC_FRAME_HDR + RC_WIRE_LEN + pl;
	}
	if (st == CVMM_OK && used > 0)
		st = rc_tx(dst, buf, used);
	free(buf);
	return st;
}

/* One rc message with its payload: a batch of one. */
static cvmm_status_t rc_send(void *ctx, uint32_t dst, const rc_msg_t *m,
			     const void *data, size_t len)
{
	return rc_send_many(ctx, dst, m, &data, &len, 1);
}

/* Maps for the guest, whoever asks (a copy made read-only at a release
 * must be write-protected even when the agent's access caused it). */
static cvmm_status_t rc_map(void *ctx, uint64_t page, bool writable)
{
	return rt_install(ctx, page, writable ? COH_EXCLUSIVE : COH_SHARED);
}

static cvmm_status_t rc_unmap(void *ctx, uint64_t page)
{
	return rt_invalidate(ctx, page);
}

static void rc_read(void *ctx, uint64_t page, void *buf)
{
	page_copy_out(page, buf);
}

/* The home's copy arrived (not mapped in the guest view meanwhile). */
static cvmm_status_t rc_put(void *ctx, uint64_t page, const void *data)
{
	if (!data) {
		stat_add(&coh_rt_stats.zero_fills, 1);
		return rt_zero_local(page);
	}
	page_copy_in(page, data);
	stat_add(&coh_rt_stats.fetches, 1);
	return CVMM_OK;
}

/* Into the master copy, through the agent view: the home's guest may be
 * writing other bytes of the page meanwhile. */
static cvmm_status_t rc_apply(void *ctx, uint64_t page, const uint8_t *d,
			      size_t len)
{
	diff_apply_checked(agent_ptr(page), d, len);
	av_set(page);
	return CVMM_OK;
}

static void rc_race(void *ctx, const rc_race_t *r)
{
	char line[256];

	snprintf(line, sizeof(line),
		 "data race: nodes %u and %u wrote guest address 0x%lx in "
		 "one interval, not ordered by any synchronization the VM "
		 "sees (--memory-model=release needs a data-race-free "
		 "program; --on-race=warn goes on)",
		 r->a, r->b, (unsigned long)(page_addr(r->page) + r->off));
	if (!rt.cfg.race_warn) {
		rt.cfg.fatal(line);
		return;
	}
	if (__atomic_fetch_add(&rt.races_warned, 1, __ATOMIC_RELAXED) < 10)
		log_warn("%s", line);
}

static void rc_acked(void *ctx)
{
	wq_bump(&rt.acks);
}

static const rc_ops_t rc_ops = {
	.send = rc_send, .send_many = rc_send_many,
	.map = rc_map, .protect = rc_protect, .unprotect = rc_unprotect,
	.unmap = rc_unmap, .read = rc_read,
	.put = rc_put, .apply = rc_apply, .update = rc_apply,
	.is_zero = rt_is_zero,
	.notify = rt_notify, .race = rc_race, .acked = rc_acked,
	.sync_owner = rc_sync_owner,
};

/* Up to RC_RX_MAX frames of a batch are taken in one rc_recv_many. */
#define RC_RX_MAX 256

/* Decodes up to RC_RX_MAX frames from *p (*left bytes), advancing both;
 * how many, or -1 with why filled in. */
static int rc_decode_frames(int src, const uint8_t **p, size_t *left,
			    rc_msg_t *m, const void **pl, size_t *pll,
			    char *why, size_t whylen)
{
	int k = 0;

	while (*left > 0 && k < RC_RX_MAX) {
		const void *msg;
		size_t mlen, fl = rc_frame_next(*p, *left, &msg, &mlen);

		if (fl == 0) {
			snprintf(why, whylen, "a truncated or oversized rc "
				 "frame");
			return -1;
		}
		if (rc_wire_decode(msg, mlen, (uint32_t)rt.cfg.nnodes,
				   rt.cfg.hi >> CVMM_PAGE_SHIFT, &m[k], &pl[k],
				   &pll[k], why, whylen) != CVMM_OK)
			return -1;
		if (m[k].src != (uint32_t)src) {
			snprintf(why, whylen, "claims to come from node %u",
				 m[k].src);
			return -1;
		}
		k++;
		*p += fl;
		*left -= fl;
	}
	return k;
}

static void rc_handler(xp_t *x, int src, const void *data, size_t len,
		       void *arg)
{
	char why[96] = "", line[192];
	rc_msg_t m[RC_RX_MAX];
	const void *pl[RC_RX_MAX];
	size_t pll[RC_RX_MAX];
	const uint8_t *p = data;
	cvmm_status_t st = CVMM_OK;

	if (!rt.rc) {
		snprintf(line, sizeof(line), "coherence: node %d uses the "
			 "release memory model and this node does not", src);
		rt.cfg.fatal(line);
		return;
	}
	if (!data || len == 0) {
		snprintf(why, sizeof(why), "an empty rc message");
		st = CVMM_ERR_PEER;
	} else if (src < 64) {
		stat_add(&coh_rt_stats.msgs_recv[src], 1);
	}
	while (st == CVMM_OK && len > 0) {
		int k = rc_decode_frames(src, &p, &len, m, pl, pll, why,
					 sizeof(why));

		if (k < 0) {
			st = CVMM_ERR_PEER;
			break;
		}
		st = rc_recv_many(rt.rc, m, pl, pll, (unsigned)k);
		if (st != CVMM_OK)
			snprintf(why, sizeof(why), "an rc message among %d "
				 "illegal here (first: %s for page 0x%lx)", k,
				 rc_msg_type_str(m[0].type),
				 (unsigned long)m[0].page);
	}
	if (st != CVMM_OK) {
		snprintf(line, sizeof(line),
			 "coherence: bad message from node %d: %s", src, why);
		rt.cfg.fatal(line);
	}
}

/* Waits until every diff this node sent before ticket was acked. */
static void rc_wait_acked(uint64_t ticket)
{
	for (;;) {
		uint32_t seq = __atomic_load_n(&rt.acks.seq, __ATOMIC_ACQUIRE);

		if (rc_released(rt.rc, ticket))
			return;
		wq_sleep(&rt.acks, seq);
	}
}

static void rc_release_wait(void)
{
	uint64_t t;

	if (rc_release(rt.rc, &t) != CVMM_OK) {
		rt.cfg.fatal("coherence: a release failed");
		return;
	}
	rc_wait_acked(t);
}

/* From a handler: runs forwards m[0..k) (sync pages leaving, one batch
 * of a transport message) at once if the gate is free and this node has
 * nothing to release; false when they must go to the release thread.
 * Together, their grants leave together (rt_send_many). */
static bool fwd_try(const coh_msg_t *m, const void *const *pages, unsigned k,
		    cvmm_status_t *st)
{
	bool ran = false;

	if (gate_w == 0) {
		if (gate_r)
			return false; /* our own write fault is inside */
		if (pthread_rwlock_trywrlock(&rc_gate) != 0)
			return false;
	}
	gate_w++;
	if (rc_clean(rt.rc)) {
		*st = coh_recv_many(rt.node, m, pages, k);
		ran = true;
	}
	if (--gate_w == 0)
		pthread_rwlock_unlock(&rc_gate);
	return ran;
}

/* The release thread: forwards of sync pages that could not run in their
 * handler, in arrival order. With the gate held (no page becomes dirty
 * meanwhile) it releases, waits for the acks and runs the forward: every
 * write made before the page was given up has reached its home. Writes
 * into pages already dirty may go on meanwhile; they are no part of what
 * the page's last holder released. */
static void *rt_rel_main(void *arg)
{
	static const void *const nopage[RELQ_BATCH];
	static coh_msg_t m[RELQ_BATCH];

	for (;;) {
		cvmm_status_t st;
		unsigned k;
		uint64_t t0;

		pthread_mutex_lock(&relq.mu);
		while (relq.len == 0)
			pthread_cond_wait(&relq.cv, &relq.mu);
		/* every forward queued by now: one release for them all, and
		 * their grants leave together */
		k = relq.len < RELQ_BATCH ? relq.len : RELQ_BATCH;
		for (unsigned i = 0; i < k; i++)
			m[i] = relq.m[(relq.head + i) % RELQ_MAX];
		pthread_mutex_unlock(&relq.mu);
		pthread_rwlock_wrlock(&rc_gate);
		gate_w++;
		t0 = cvmm_now_ns();
		rc_release_wait();
		st = coh_recv_many(rt.node, m, nopage, k);
		stat_add(&rt.handover_ns, cvmm_now_ns() - t0);
		gate_w--;
		pthread_rwlock_unlock(&rc_gate);
		pthread_mutex_lock(&relq.mu);
		relq.head = (relq.head + k) % RELQ_MAX;
		relq.len -= k;
		pthread_mutex_unlock(&relq.mu);
		if (st != CVMM_OK)
			rt.cfg.fatal("coherence: handing a synchronization page "
				     "on failed");
	}
	return NULL;
}

/* Queues forward m for the release thread (rt_rel_main). */
static cvmm_status_t relq_push(const coh_msg_t *m)
{
	pthread_mutex_lock(&relq.mu);
	if (relq.len == RELQ_MAX) {
		pthread_mutex_unlock(&relq.mu);
		return CVMM_ERR_NOMEM;
	}
	relq.m[(relq.head + relq.len) % RELQ_MAX] = *m;
	relq.len++;
	pthread_cond_signal(&relq.cv);
	pthread_mutex_unlock(&relq.mu);
	stat_add(&rt.fwd_deferred, 1);
	return CVMM_OK;
}

/* Forwards m[0..k) of sync pages, from a handler: runs them now, or
 * queues them for the release thread. Queued forwards stay in order:
 * once one waits, the next ones wait behind it. Those whose pages are
 * read-only here run at once in any case (coh_recv_fwd_ro): nothing was
 * written to such a page since the forward that made it read-only, which
 * ran after a release; a forward queued before them is for another page
 * (the manager sends one forward for a page at a time). */
static cvmm_status_t fwd_handle(const coh_msg_t *m, const void *const *pages,
				unsigned k)
{
	cvmm_status_t st = CVMM_OK;
	unsigned ran = 0;
	bool queued;

	pthread_mutex_lock(&relq.mu);
	queued = relq.len > 0;
	pthread_mutex_unlock(&relq.mu);
	if (!queued && fwd_try(m, pages, k, &st))
		return st;
	st = coh_recv_fwd_ro(rt.node, m, pages, k, &ran);
	for (unsigned i = ran; i < k && st == CVMM_OK; i++)
		st = relq_push(&m[i]);
	return st;
}

/* coh_cfg_t.forward_due: a forward the protocol held back (a hold on a
 * page that bounces, or a pin) is due. It was let in clean (fwd_try, or
 * after a release), but this node may have written since: it goes to the
 * release thread, which releases and gives it back (the node's lock is
 * held here, so never inline). */
static cvmm_status_t rt_forward_due(void *ctx, const coh_msg_t *m)
{
	return relq_push(m);
}

/* Bounded staleness: writes not released yet go home every staleness_ms
 * anyway (a plain flag spun on changes; rc_tick). */
static void *rt_stale_main(void *arg)
{
	uint64_t ns = (uint64_t)rt.cfg.staleness_ms * 1000000ull;
	struct timespec ts = { (time_t)(ns / 1000000000ull),
			       (long)(ns % 1000000000ull) };

	for (;;) {
		cvmm_status_t st = CVMM_OK;

		nanosleep(&ts, NULL);
		/* not while the VM is paused: a membership change moves the
		 * homes its diffs go to (a pause waits for a tick inside) */
		coh_rt_gate_enter();
		if (__atomic_load_n(&rt.rc_armed, __ATOMIC_ACQUIRE))
			st = rc_tick(rt.rc);
		coh_rt_gate_exit();
		if (st != CVMM_OK) {
			rt.cfg.fatal("coherence: a periodic release failed");
			return NULL;
		}
	}
	return NULL;
}

/* ---- messages -------------------------------------------------------------- */

/* A transport message: one protocol message or the batch one step of the
 * sender produced for this node (rt_send_many), handled in one
 * coh_recv_many. */
#define RX_MAX 256

/* A forward: FWD_READ or FWD_WRITE. */
static bool is_fwd(const coh_msg_t *m)
{
	return m->type == COH_MSG_FWD_READ || m->type == COH_MSG_FWD_WRITE;
}

/* The release model's view of sequential-protocol messages, which then
 * concern synchronization pages only: a grant is an acquire here (for
 * race detection: what this node knows; copies need no dropping, write
 * notices did that before the giver's release completed); a forward hands
 * a page on and is a release here first (fwd_handle). Per page, the order
 * is kept. */
static cvmm_status_t recv_release(const coh_msg_t *m, const void *const *pages,
				  unsigned k)
{
	cvmm_status_t st = CVMM_OK;

	for (unsigned i = 0; i < k; i++)
		if (m[i].type == COH_MSG_READ_GRANT ||
		    m[i].type == COH_MSG_WRITE_GRANT) {
			st = rc_acquire(rt.rc, true);
			break;
		}
	/* runs of forwards and of the rest, in order */
	for (unsigned i = 0, j; i < k && st == CVMM_OK; i = j) {
		for (j = i + 1; j < k && is_fwd(&m[j]) == is_fwd(&m[i]); j++)
			;
		st = is_fwd(&m[i]) ? fwd_handle(m + i, pages + i, j - i)
				   : coh_recv_many(rt.node, m + i, pages + i,
						   j - i);
	}
	return st;
}

static void rt_on_msg(xp_t *x, int src, const void *data, size_t len,
		      void *arg)
{
	uint64_t npages = rt.cfg.hi >> CVMM_PAGE_SHIFT;
	const uint8_t *p = data;
	char why[128] = "", line[192];
	coh_msg_t m[RX_MAX];
	const void *pages[RX_MAX];
	cvmm_status_t st = CVMM_OK;
	unsigned k = 0;

	while (st == CVMM_OK && len > 0) {
		size_t l = coh_wire_next(p, len);

		if (k == RX_MAX) {
			snprintf(why, sizeof(why), "more than %d messages in one",
				 RX_MAX);
			st = CVMM_ERR_PEER;
			break;
		}
		st = coh_wire_decode(p, l ? l : len, (uint32_t)rt.cfg.nnodes,
				     npages, &m[k], why, sizeof(why));
		if (st == CVMM_OK && m[k].src != (uint32_t)src) {
			snprintf(why, sizeof(why), "claims to come from node %u",
				 m[k].src);
			st = CVMM_ERR_PEER;
		}
		if (st != CVMM_OK)
			break;
		pages[k] = m[k].flags & COH_FLAG_PAGE ? p + COH_WIRE_LEN : NULL;
		if (m[k].type == COH_MSG_INVALIDATE)
			stat_add(&coh_rt_stats.inval_recv, 1);
		k++;
		p += l;
		len -= l;
	}
	if (st == CVMM_OK && k == 0) {
		snprintf(why, sizeof(why), "no message");
		st = CVMM_ERR_PEER;
	}
	if (st == CVMM_OK) {
		if (src < 64)
			stat_add(&coh_rt_stats.msgs_recv[src], 1);
		st = rt.rc ? recv_release(m, pages, k)
			   : coh_recv_many(rt.node, m, pages, k);
		snprintf(why, sizeof(why), "a message among %u illegal here "
			 "(first: %s for page 0x%lx)", k,
			 coh_msg_type_str(m[0].type), (unsigned long)m[0].page);
	}
	if (st != CVMM_OK) {
		snprintf(line, sizeof(line),
			 "coherence: bad message from node %d: %s", src, why);
		rt.cfg.fatal(line);
	}
}

/* ---- the fault loop ------------------------------------------------------- */

static bool pin_push(uint64_t page)
{
	if (npins == pins_cap) {
		unsigned cap = pins_cap ? 2 * pins_cap : 64;
		uint64_t *p = realloc(pins, cap * sizeof(*p));

		if (!p)
			return false;
		pins = p;
		pins_cap = cap;
	}
	pins[npins++] = page;
	return true;
}

/* Logs what this node's sequential protocol knows of the page holding
 * addr (and, in the release model, its state there): at a wait stuck for
 * 10 s here, and when another node's is (a DESCRIBE message). */
void coh_rt_describe(uint64_t addr)
{
	uint64_t page = addr >> CVMM_PAGE_SHIFT;
	char line[320], rcl[256];

	if (!rt.node || addr < rt.cfg.lo || addr >= rt.cfg.hi) {
		log_warn("coherence: 0x%lx is not a guest page", addr);
		return;
	}
	coh_describe(rt.node, page, line, sizeof(line));
	if (rt.rc) {
		rc_describe(rt.rc, page, rcl, sizeof(rcl));
		log_warn("coherence: page 0x%lx: %s; release model: %s",
			 page_addr(page), line, rcl);
	} else
		log_warn("coherence: page 0x%lx: %s", page_addr(page), line);
}

/* Once a wait for page that began at t0 passes 10 s (*warned: it was
 * said): one line, then every node says what it knows of the page. */
static void rt_stuck(uint64_t page, uint64_t t0, bool *warned)
{
	if (*warned || cvmm_now_ns() - t0 <= WAIT_WARN_NS)
		return;
	*warned = true;
	log_warn("coherence: still waiting for guest page 0x%lx after 10 s",
		 page_addr(page));
	coh_rt_describe(page_addr(page));
	if (rt.cfg.stuck)
		rt.cfg.stuck(page_addr(page));
}

/* Makes page valid here for this access; pin: also pin it (write only);
 * asks for the k pages ahead[] too (coh_fault_ahead, registered by
 * ra_register; up: upgrade-aheads instead, coh_fault_upgrade, not
 * registered) with the first request. *from: the node the page was last
 * copied from, -1 when no copy; *first: it was ready in its initial
 * state (never moved here). Under the release model (sc != NULL): plain
 * says a write is a plain store's (promotion counts those), and *sc
 * becomes true, with nothing done, when the page is (or turns) a data
 * page meanwhile: the caller asks that model again. */
static cvmm_status_t rt_page_sc(uint64_t page, bool write, bool plain,
				bool pin, const uint64_t *ahead, unsigned k,
				bool up, int *from, bool *first, bool *sc)
{
	uint32_t asked;
	unsigned i = wq_index(page);
	uint64_t t0 = cvmm_now_ns();
	bool warned = false;
	cvmm_status_t st;

	*from = -1;
	*first = false;
	if (sc)
		*sc = false;
	for (;;) {
		uint32_t seq = __atomic_load_n(&wq[i].seq, __ATOMIC_ACQUIRE);
		coh_fault_res_t r;
		bool pinned;

		if (sc && rc_page_class(rt.rc, page) == RC_DATA) {
			if (!up)
				ra_forget_all(ahead, k);
			*sc = true;
			return CVMM_OK;
		}
		asked = 0;
		if (up && write)
			st = coh_fault_upgrade(rt.node, page, plain, ahead, k,
					       &r);
		else if (write && plain)
			st = coh_fault_plain_ahead(rt.node, page, ahead, k,
						   &asked, &r);
		else
			st = coh_fault_ahead(rt.node, page, write, ahead, k,
					     &asked, &r);
		/* registered, not asked (valid here already, or asked by
		 * someone else, who lands it) */
		for (unsigned j = 0; j < k && !up; j++)
			if (st != CVMM_OK || !(asked >> j & 1))
				ra_forget(ahead[j]);
		k = 0;
		if (st != CVMM_OK)
			return st;
		switch (r.kind) {
		case COH_READY:
			*first = r.first;
			if (!pin)
				return CVMM_OK;
			st = coh_pin(rt.node, page, &pinned);
			if (st != CVMM_OK)
				return st;
			if (!pinned)
				continue; /* taken away in between: again */
			if (!pin_push(page)) {
				coh_unpin(rt.node, page);
				return CVMM_ERR_NOMEM;
			}
			return CVMM_OK;
		case COH_FETCH:
			if (r.zero) {
				st = rt_zero_local(page);
				stat_add(&coh_rt_stats.zero_fills, 1);
			} else {
				st = xp_get(rt.cfg.xp, (int)r.owner,
					    agent_ptr(page),
					    page_addr(page) + rt.cfg.delta,
					    CVMM_PAGE_SIZE);
				av_set(page);
				*from = (int)r.owner;
				stat_add(&coh_rt_stats.fetches, 1);
				stat_add(&coh_rt_stats.bytes_moved, CVMM_PAGE_SIZE);
			}
			if (st != CVMM_OK)
				return st;
			st = coh_fetch_done(rt.node, page);
			if (st != CVMM_OK || !pin)
				return st; /* installed: the access retries */
			continue;
		case COH_DATA:
			/* promoted here: ours is the release model's once
			 * ops->to_data told it, which wakes us; waits as
			 * for a request in flight */
			if (!sc)
				return CVMM_ERR_INVALID;
			/* fall through */
		case COH_WAIT:
			rt_stuck(page, t0, &warned);
			wq_sleep(&wq[i], seq);
			continue;
		}
	}
}

/* rt_page_sc under the sequential model. */
static cvmm_status_t rt_page(uint64_t page, bool write, bool pin,
			     const uint64_t *ahead, unsigned k, bool up,
			     int *from, bool *first)
{
	return rt_page_sc(page, write, false, pin, ahead, k, up, from, first,
			  NULL);
}

static unsigned log2_us(uint64_t ns)
{
	uint64_t us = ns / 1000;
	unsigned b = 0;

	while (us > 1 && b < 31) {
		us >>= 1;
		b++;
	}
	return b;
}

/* The node a pushed copy of page came from, -1 when not known. */
static int pushed_source(uint64_t page)
{
	unsigned i = wq_index(page);
	int from;

	if (__atomic_load_n(&pushed_from[i].page, __ATOMIC_ACQUIRE) != page)
		return -1;
	from = __atomic_load_n(&pushed_from[i].from, __ATOMIC_RELAXED);
	return __atomic_load_n(&pushed_from[i].page, __ATOMIC_ACQUIRE) == page
		       ? from
		       : -1;
}

/* The last grant of page here came as zeros (a fresh page), and nobody
 * asked since: the note is taken (a later fault on the page is no first
 * touch). A hint for write-ahead only: a race with another grant in the
 * same bucket loses it. */
static bool landed_zero(uint64_t page)
{
	unsigned i = wq_index(page);
	uint64_t expect = page;

	if (__atomic_load_n(&pushed_from[i].page, __ATOMIC_ACQUIRE) != page ||
	    __atomic_load_n(&pushed_from[i].from, __ATOMIC_RELAXED) != -1)
		return false;
	return __atomic_compare_exchange_n(&pushed_from[i].page, &expect, 0,
					   false, __ATOMIC_ACQ_REL,
					   __ATOMIC_RELAXED);
}

void coh_rt_set_layout(const coh_layout_t *l)
{
	layout = l;
}

void coh_rt_layout_drop(uint64_t start, uint64_t end, bool suppress)
{
	av_clear(start >> CVMM_PAGE_SHIFT,
		 (end + CVMM_PAGE_SIZE - 1) >> CVMM_PAGE_SHIFT);
	if (rt.rc)
		(void)rc_drop(rt.rc, start >> CVMM_PAGE_SHIFT,
			      (end + CVMM_PAGE_SIZE - 1) >> CVMM_PAGE_SHIFT);
	pthread_mutex_lock(&ra_mu);
	for (unsigned i = 0; i < RA_SET; i++) {
		uint64_t a = page_addr(ra_set[i].page - 1);

		if (ra_set[i].page && a >= start && a < end)
			ra_set[i].zero = true;
	}
	if (suppress && ra_noff < RA_OFF)
		ra_off[ra_noff++] = (typeof(ra_off[0])){ start, end };
	else if (suppress)
		ra_off_all = true;
	pthread_mutex_unlock(&ra_mu);
}

void coh_rt_layout_done(void)
{
	pthread_mutex_lock(&ra_mu);
	ra_noff = 0;
	ra_off_all = false;
	pthread_mutex_unlock(&ra_mu);
}

/* Registers the read-ahead pages ahead[0..k) that no drop keeps out;
 * returns how many (a prefix). */
static unsigned ra_register(const uint64_t *ahead, unsigned k)
{
	unsigned n = 0, free = 0;

	pthread_mutex_lock(&ra_mu);
	for (; n < k && !ra_off_all; n++) {
		uint64_t a = page_addr(ahead[n]);
		bool off = false;

		for (unsigned j = 0; j < ra_noff && !off; j++)
			off = a >= ra_off[j].start && a < ra_off[j].end;
		for (unsigned j = 0; j < RA_SET && !off; j++)
			off = ra_set[j].page == ahead[n] + 1; /* another's */
		while (free < RA_SET && ra_set[free].page)
			free++;
		if (off || free == RA_SET)
			break;
		ra_set[free].page = ahead[n] + 1;
		ra_set[free].zero = false;
		ra_count++;
	}
	pthread_mutex_unlock(&ra_mu);
	return n;
}

/* The pages to ask for ahead of a fault on page, in walk w (walk.h), up
 * to cfg.read_ahead: only pages the guest has mapped (layout->readable),
 * registered (ra_register); proto skips those already valid or requested
 * here. */
static unsigned ahead_pages(walk_t *w, uint64_t page, uint64_t *ahead,
			    bool ask)
{
	unsigned k = walk_fault(w, page, ask, (unsigned)rt.cfg.read_ahead,
				rt.cfg.lo >> CVMM_PAGE_SHIFT,
				rt.cfg.hi >> CVMM_PAGE_SHIFT, ahead);

	if (k && w->step == 1)
		k = (unsigned)(layout->readable(page_addr(page + 1),
						(size_t)k * CVMM_PAGE_SIZE) /
			       CVMM_PAGE_SIZE);
	for (unsigned j = 0; j < k && w->step != 1; j++)
		if (layout->readable(page_addr(ahead[j]), CVMM_PAGE_SIZE) <
		    CVMM_PAGE_SIZE)
			k = j;
	return k ? ra_register(ahead, k) : 0;
}

/* The other pages of page's run (COH_MGR_RUN pages: one manager) that
 * the guest has mapped, at most cfg.read_ahead, into ahead. */
static unsigned run_pages(uint64_t page, uint64_t *ahead)
{
	uint64_t base = page & ~(uint64_t)(COH_MGR_RUN - 1);
	unsigned k = 0, n;

	n = (unsigned)(layout->readable(page_addr(base),
					COH_MGR_RUN * CVMM_PAGE_SIZE) /
		       CVMM_PAGE_SIZE);
	for (uint64_t q = base; q < base + n && k < (unsigned)rt.cfg.read_ahead;
	     q++)
		if (q != page)
			ahead[k++] = q;
	return k;
}

/* Read-ahead: any read walk (walk.h). Write-ahead: only while the
 * thread's write faults are first touches (wa_fresh), because the
 * manager grants a write-ahead only for a fresh page (proto.h): other
 * walks would be refused, a message each way for nothing; a walk's next
 * pages, or for a first touch out of a walk (a transpose, a scatter) the
 * rest of the page's run, which one manager holds: one message there.
 * Both only with push (a fetched page needs a thread to get it).
 * Upgrade-ahead (*up): a write fault on a page held read-shared here
 * asks for the rest of its run, those pages held read-shared here too
 * (proto.c skips the others), for writing: their manager grants each
 * only to its owner (a node writing the pages it wrote before, which
 * others read meanwhile), with no bytes, so nothing is registered and
 * any page transfer serves it. */
static unsigned fault_ahead(uint64_t page, bool write, uint64_t *ahead,
			    bool *up)
{
	unsigned k;

	*up = false;
	if (!layout || !rt.cfg.read_ahead)
		return 0;
	if (write && coh_page_state(rt.node, page) == COH_SHARED) {
		*up = true;
		return run_pages(page, ahead);
	}
	if (!rt.cfg.push)
		return 0;
	if (!write)
		return ahead_pages(&ra_w, page, ahead, true);
	k = ahead_pages(&wa_w, page, ahead, wa_fresh);
	if (k || !wa_fresh)
		return k;
	/* first touches not in a walk: the rest of the page's run */
	k = run_pages(page, ahead);
	return k ? ra_register(ahead, k) : 0;
}

/* fault_ahead under the release model: ahead[0..return) the pages the
 * sequential protocol serves here (a data page asked for there would
 * only be refused); a read's data pages are fa[0..*nfa), for
 * rc_fetch_ahead. Upgrade-aheads only from and of pages not shown to be
 * data yet (RC_SC): a synchronization page handed over is a release at
 * its giver, not to be asked for on a guess. */
static unsigned fault_ahead_sc(uint64_t page, bool write, uint64_t *ahead,
			       uint64_t *fa, unsigned *nfa, bool *up)
{
	unsigned k = fault_ahead(page, write, ahead, up), n = 0;

	*nfa = 0;
	if (*up) {
		if (rc_page_class(rt.rc, page) != RC_SC)
			return 0;
		for (unsigned j = 0; j < k; j++)
			if (rc_page_class(rt.rc, ahead[j]) == RC_SC)
				ahead[n++] = ahead[j];
		return n;
	}
	for (unsigned j = 0; j < k; j++) {
		if (rc_page_class(rt.rc, ahead[j]) != RC_DATA) {
			ahead[n++] = ahead[j];
			continue;
		}
		ra_forget(ahead[j]);
		if (!write)
			fa[(*nfa)++] = ahead[j];
	}
	return n;
}

/* A data page under the release model: faults until it is mapped for
 * the access (CVMM_OK, *ivy false) or turns out to be a synchronization
 * page (*ivy: the sequential protocol serves it). ahead[0..nahead):
 * data pages to fetch ahead (rc_fetch_ahead), after the fault's own
 * request. */
static cvmm_status_t rc_page(uint64_t page, bool write, bool atomic,
			     bool pin, const uint64_t *ahead, unsigned nahead,
			     bool *ivy)
{
	unsigned i = wq_index(page);
	uint64_t t0 = cvmm_now_ns();
	bool warned = false;

	*ivy = false;
	for (;;) {
		uint32_t seq = __atomic_load_n(&wq[i].seq, __ATOMIC_ACQUIRE);
		rc_fault_kind_t k;
		cvmm_status_t st;

		if (write && gate_w == 0) {
			pthread_rwlock_rdlock(&rc_gate);
			gate_r = true;
		}
		st = pin ? rc_fault_pin(rt.rc, page, &k)
			 : rc_fault(rt.rc, page, write, atomic, &k);
		if (gate_r) {
			gate_r = false;
			pthread_rwlock_unlock(&rc_gate);
		}
		if (st == CVMM_OK && nahead > 0) {
			st = rc_fetch_ahead(rt.rc, ahead, nahead);
			nahead = 0;
		}
		if (st != CVMM_OK)
			return st;
		if (k == RC_READY) {
			if (pin && !pin_push(page | RC_PIN)) {
				rc_unpin(rt.rc, page);
				return CVMM_ERR_NOMEM;
			}
			return CVMM_OK;
		}
		if (k == RC_IVY) {
			*ivy = true;
			return CVMM_OK;
		}
		rt_stuck(page, t0, &warned);
		wq_sleep(&wq[i], seq);
	}
}

static bool rc_active(void)
{
	return rt.rc && __atomic_load_n(&rt.rc_armed, __ATOMIC_ACQUIRE);
}

/* Calls fn(ctx, page, its state here) for every guest page resident in
 * this node's memfd, in address order; false from fn stops the walk (then
 * false). */
static bool resident_pages(bool (*fn)(void *ctx, uint64_t page,
				      coh_state_t st),
			   void *ctx)
{
	off_t at = (off_t)rt.cfg.lo, end;

	while (rt.node && at < (off_t)rt.cfg.hi) {
		at = lseek(rt.cfg.memfd, at, SEEK_DATA);
		if (at < 0 || at >= (off_t)rt.cfg.hi)
			break;
		end = lseek(rt.cfg.memfd, at, SEEK_HOLE);
		if (end < 0 || end > (off_t)rt.cfg.hi)
			end = (off_t)rt.cfg.hi;
		for (uint64_t p = (uint64_t)at >> CVMM_PAGE_SHIFT;
		     p < ((uint64_t)end + CVMM_PAGE_SIZE - 1) >> CVMM_PAGE_SHIFT;
		     p++)
			if (!fn(ctx, p, coh_page_state(rt.node, p)))
				return false;
		at = end;
	}
	return true;
}

static bool count_page(void *ctx, uint64_t page, coh_state_t st)
{
	uint64_t *n = ctx; /* owned, shared */

	if (st == COH_EXCLUSIVE || st == COH_PROMOTED)
		n[0]++;
	else if (st == COH_SHARED)
		n[1]++;
	return true;
}

void coh_rt_pages(uint64_t *owned, uint64_t *shared)
{
	uint64_t n[2] = { 0, 0 };

	if (cvmm_coh_on)
		(void)resident_pages(count_page, n);
	*owned = n[0];
	*shared = n[1];
}

/* ---- a node leaving ----------------------------------------------------- */

cvmm_status_t coh_rt_role_records(uint32_t v,
				  void (*fn)(void *ctx, uint64_t page,
					     const coh_record_t *r),
				  void *ctx)
{
	return rt.node ? coh_node_role_records(rt.node, v, fn, ctx)
		       : CVMM_ERR_INVALID;
}

cvmm_status_t coh_rt_take_record(uint32_t v, uint64_t page,
				 const coh_record_t *r)
{
	return rt.node ? coh_node_take_record(rt.node, v, page, r)
		       : CVMM_ERR_INVALID;
}

typedef struct held {
	bool (*fn)(void *ctx, uint64_t page, int state, const void *bytes);
	void *ctx;
	uint8_t buf[CVMM_PAGE_SIZE];
} held_t;

static bool held_page(void *ctx, uint64_t page, coh_state_t st)
{
	held_t *h = ctx;

	if (st != COH_SHARED && st != COH_EXCLUSIVE)
		return true;
	page_copy_out(page, h->buf);
	return h->fn(h->ctx, page, (int)st, h->buf);
}

bool coh_rt_held_pages(bool (*fn)(void *ctx, uint64_t page, int state,
				  const void *bytes),
		       void *ctx)
{
	held_t *h = malloc(sizeof(*h));
	bool ok;

	if (!h)
		return false;
	h->fn = fn;
	h->ctx = ctx;
	ok = resident_pages(held_page, h);
	free(h);
	return ok;
}

cvmm_status_t coh_rt_take_page(uint64_t page, int state, const void *bytes)
{
	coh_state_t cur;

	if (!rt.node || page >= rt.cfg.hi >> CVMM_PAGE_SHIFT ||
	    page < rt.cfg.lo >> CVMM_PAGE_SHIFT ||
	    (state != COH_SHARED && state != COH_EXCLUSIVE))
		return CVMM_ERR_INVALID;
	cur = coh_page_state(rt.node, page);
	if (cur != COH_SHARED && cur != COH_EXCLUSIVE &&
	    pwrite(rt.cfg.memfd, bytes, CVMM_PAGE_SIZE,
		   (off_t)page_addr(page)) != CVMM_PAGE_SIZE)
		return CVMM_ERR_IO;
	return coh_node_take_page(rt.node, page, (coh_state_t)state);
}

cvmm_status_t coh_rt_depart(uint32_t k, uint32_t h)
{
	cvmm_status_t st;

	if (!rt.node)
		return CVMM_ERR_INVALID;
	st = coh_node_depart(rt.node, k, h);
	if (st == CVMM_OK && rt.rc)
		st = rc_depart(rt.rc, k, h);
	return st;
}

void coh_rt_release_all(void)
{
	if (rc_active())
		rc_release_wait();
}

bool coh_rt_rc_homes(bool (*fn)(void *ctx, const rc_home_rec_t *r,
				const void *bytes),
		     void *ctx)
{
	rc_home_rec_t *v = NULL;
	size_t n = 0;
	uint8_t *buf;
	bool ok;

	if (!rt.rc)
		return true;
	buf = malloc(CVMM_PAGE_SIZE);
	ok = buf && rc_home_records(rt.rc, &v, &n) == CVMM_OK;
	for (size_t i = 0; ok && i < n; i++) {
		page_copy_out(v[i].page, buf);
		ok = fn(ctx, &v[i], buf);
	}
	free(v);
	free(buf);
	return ok;
}

cvmm_status_t coh_rt_take_rc_home(uint32_t from, const rc_home_rec_t *r,
				  const void *bytes)
{
	cvmm_status_t st;

	if (!rt.rc || !rt.node || r->page >= rt.cfg.hi >> CVMM_PAGE_SHIFT ||
	    r->page < rt.cfg.lo >> CVMM_PAGE_SHIFT)
		return CVMM_ERR_INVALID;
	/* the sequential protocol's records first: the page is homed here
	 * (a later atomic seeds it back here, coh_node_seed) */
	st = coh_node_take_page(rt.node, r->page, COH_PROMOTED);
	if (st == CVMM_OK)
		st = rc_take_home(rt.rc, from, r, bytes);
	return st;
}

cvmm_status_t coh_rt_join(uint32_t k)
{
	return rt.rc ? rc_join(rt.rc, k) : CVMM_OK;
}

/* ---- pausing ------------------------------------------------------------- */

static struct {
	uint32_t closed; /* host futex word: 1 while paused */
	int inside;      /* threads between coh_rt_gate_enter and _exit */
} gate;
static __thread int gate_depth;

void coh_rt_pause(bool on)
{
	__atomic_store_n(&gate.closed, on ? 1u : 0u, __ATOMIC_SEQ_CST);
	if (!on)
		syscall(SYS_futex, &gate.closed, FUTEX_WAKE_PRIVATE, INT_MAX,
			NULL, NULL, 0);
}

bool coh_rt_paused(void)
{
	return __atomic_load_n(&gate.closed, __ATOMIC_SEQ_CST) != 0;
}

void coh_rt_pause_wait(void)
{
	while (coh_rt_paused())
		syscall(SYS_futex, &gate.closed, FUTEX_WAIT_PRIVATE, 1u, NULL,
			NULL, 0);
}

void coh_rt_gate_enter(void)
{
	if (gate_depth++ > 0)
		return;
	for (;;) {
		/* in, then look: a pauser that closed first sees us inside
		 * until we see it closed and step out */
		__atomic_add_fetch(&gate.inside, 1, __ATOMIC_SEQ_CST);
		if (!coh_rt_paused())
			return;
		__atomic_sub_fetch(&gate.inside, 1, __ATOMIC_SEQ_CST);
		coh_rt_pause_wait();
	}
}

void coh_rt_gate_exit(void)
{
	if (--gate_depth == 0)
		__atomic_sub_fetch(&gate.inside, 1, __ATOMIC_SEQ_CST);
}

bool coh_rt_quiet(char *why, size_t len)
{
	int in = __atomic_load_n(&gate.inside, __ATOMIC_SEQ_CST);

	if (in > 0) {
		snprintf(why, len, "%d thread%s in a coherence or futex call",
			 in, in == 1 ? "" : "s");
		return false;
	}
	if (rt.node && coh_node_busy(rt.node, why, len))
		return false;
	if (rt.rc && rc_busy(rt.rc, why, len))
		return false;
	if (cvmm_dfx && dfx_busy(cvmm_dfx)) {
		snprintf(why, len, "a futex call awaits its home's answer");
		return false;
	}
	return true;
}

static cvmm_status_t rt_fault(uint64_t addr, bool write, bool atomic,
			      int *src);

cvmm_status_t coh_rt_fault(uint64_t addr, bool write, bool atomic, int *src)
{
	cvmm_status_t st;

	coh_rt_gate_enter();
	st = rt_fault(addr, write, atomic, src);
	coh_rt_gate_exit();
	return st;
}

static cvmm_status_t rt_fault(uint64_t addr, bool write, bool atomic,
			      int *src)
{
	uint64_t t0, dt, ahead[COH_RT_READ_AHEAD_MAX];
	cvmm_status_t st;
	char line[160];
	unsigned k;
	int from;
	bool first, up;

	*src = -1;
	if (addr < rt.cfg.lo || addr >= rt.cfg.hi)
		return CVMM_ERR_RANGE;
	t0 = cvmm_now_ns();
	agent_access = false;
	from = -1;
	first = false;
	if (rc_active()) {
		uint64_t fa[COH_RT_READ_AHEAD_MAX];
		unsigned nfa = 0;
		bool ivy, sc = true, seq = false;

		/* read- and write-ahead, of pages still under Ivy; fetch-
		 * ahead of data pages */
		k = fault_ahead_sc(addr >> CVMM_PAGE_SHIFT, write, ahead, fa,
				   &nfa, &up);
		/* again when the sequential protocol hands the page over
		 * while we wait for it */
		do {
			st = rc_page(addr >> CVMM_PAGE_SHIFT, write, atomic,
				     false, fa, nfa, &ivy);
			nfa = 0;
			seq |= ivy;
			if (st == CVMM_OK && ivy) {
				st = rt_page_sc(addr >> CVMM_PAGE_SHIFT, write,
						!atomic, false, ahead, k, up,
						&from, &first, &sc);
				k = 0; /* asked, or forgotten */
			}
		} while (st == CVMM_OK && ivy && sc);
		if (!up)
			ra_forget_all(ahead, k); /* a data page: never asked */
		stat_add(&rt.model_faults[!seq], 1);
		stat_add(&rt.model_fault_ns[!seq], cvmm_now_ns() - t0);
	} else {
		k = fault_ahead(addr >> CVMM_PAGE_SHIFT, write, ahead, &up);
		st = rt_page(addr >> CVMM_PAGE_SHIFT, write, false, ahead, k,
			     up, &from, &first);
	}
	if (st != CVMM_OK) {
		snprintf(line, sizeof(line),
			 "coherence: cannot bring in guest page 0x%lx: %s",
			 addr & ~(CVMM_PAGE_SIZE - 1), cvmm_status_str(st));
		rt.cfg.fatal(line);
		for (;;)
			pause(); /* the VM is ending */
	}
	if (write)
		wa_fresh = first || landed_zero(addr >> CVMM_PAGE_SHIFT);
	dt = cvmm_now_ns() - t0;
	stat_add(write ? &coh_rt_stats.write_faults : &coh_rt_stats.read_faults,
		 1);
	stat_add(&coh_rt_stats.lat_hist[log2_us(dt)], 1);
	stat_add(&coh_rt_stats.fault_ns, dt);
	coh_trace_fault(addr >> CVMM_PAGE_SHIFT, write, atomic, from, t0);
	*src = from >= 0 ? from : pushed_source(addr >> CVMM_PAGE_SHIFT);
	return CVMM_OK;
}

static cvmm_status_t rt_acquire(uint64_t addr, size_t len, bool write);

cvmm_status_t coh_rt_acquire(uint64_t addr, size_t len, bool write)
{
	cvmm_status_t st;

	if (!cvmm_coh_on || len == 0)
		return CVMM_OK;
	coh_rt_gate_enter();
	st = rt_acquire(addr, len, write);
	coh_rt_gate_exit();
	return st;
}

static cvmm_status_t rt_acquire(uint64_t addr, size_t len, bool write)
{
	uint64_t first, last, next = 0;
	cvmm_status_t st = CVMM_OK;
	int from;
	bool fresh = false;

	if (!cvmm_coh_on || len == 0)
		return CVMM_OK;
	if (addr < rt.cfg.lo || addr + len > rt.cfg.hi || addr + len < addr)
		return CVMM_ERR_RANGE;
	first = addr >> CVMM_PAGE_SHIFT;
	last = (addr + len - 1) >> CVMM_PAGE_SHIFT;
	agent_access = true;
	for (uint64_t p = first; p <= last && st == CVMM_OK; p++) {
		uint64_t ahead[COH_RT_READ_AHEAD_MAX];
		unsigned k = 0;
		bool rc = rc_active();

		/* the rest of a range to write, asked for ahead in windows
		 * while its pages are fresh: a new mapping's pages come in
		 * batches (proto.h); not under the release model, where the
		 * agent's accesses ask nothing ahead */
		if (write && fresh && p >= next && rt.cfg.push &&
		    rt.cfg.read_ahead && !rc) {
			while (k < (unsigned)rt.cfg.read_ahead &&
			       p + 1 + k <= last) {
				ahead[k] = p + 1 + k;
				k++;
			}
			next = p + 1 + k;
			k = ra_register(ahead, k);
		}
		if (rc) {
			bool ivy, sc = true;

			do {
				st = rc_page(p, write, false, write, NULL, 0,
					     &ivy);
				if (st == CVMM_OK && ivy)
					st = rt_page_sc(p, write, true, write,
							NULL, 0, false, &from,
							&fresh, &sc);
			} while (st == CVMM_OK && ivy && sc);
			stat_add(&coh_rt_stats.agent_acquires, 1);
			continue;
		}
		st = rt_page(p, write, write, ahead, k, false, &from, &fresh);
		fresh = fresh || landed_zero(p);
		stat_add(&coh_rt_stats.agent_acquires, 1);
	}
	agent_access = false;
	return st;
}

void coh_rt_release(void)
{
	bool ivy = false;

	/* forwards deferred by this thread's pins of sync pages run at the
	 * unpin, from inside proto.c: release first, as fwd_handle would */
	for (unsigned i = 0; i < npins && !ivy; i++)
		ivy = !(pins[i] & RC_PIN);
	if (ivy && rc_active())
		rc_release_wait();
	while (npins > 0) {
		uint64_t p = pins[--npins];

		if (p & RC_PIN)
			rc_unpin(rt.rc, p & ~RC_PIN);
		else
			coh_unpin(rt.node, p);
	}
}

void coh_rt_sync_release(void)
{
	if (rc_active())
		rc_release_wait();
}

void coh_rt_sync_acquire(void)
{
	if (rc_active() && rc_acquire(rt.rc, true) != CVMM_OK)
		rt.cfg.fatal("coherence: an acquire failed");
}

void coh_rt_serve_acquire(void)
{
	if (rc_active() && rc_acquire(rt.rc, false) != CVMM_OK)
		rt.cfg.fatal("coherence: an acquire failed");
}

void coh_rt_rc_stats(coh_rc_stats_t *out)
{
	rc_stats_t s;

	memset(out, 0, sizeof(*out));
	if (!rt.rc)
		return;
	rc_get_stats(rt.rc, &s);
	*out = (coh_rc_stats_t){
		.fetches = s.fetches, .zero_fetches = s.zero_fetches,
		.twins = s.twins, .diffs_sent = s.diffs_sent,
		.diff_bytes = s.diff_bytes, .diffs_applied = s.diffs_applied,
		.acquires = s.acquires, .releases = s.releases,
		.invalidated = s.invalidated, .sync_pages = s.sync_pages,
		.promoted = s.promoted, .demoted = s.demoted,
		.updated = s.updated,
		.races = s.races, .notices = s.notices,
		.fwd_deferred = __atomic_load_n(&rt.fwd_deferred,
						__ATOMIC_RELAXED),
		.seq_faults = __atomic_load_n(&rt.model_faults[0],
					      __ATOMIC_RELAXED),
		.seq_fault_ns = __atomic_load_n(&rt.model_fault_ns[0],
						__ATOMIC_RELAXED),
		.data_faults = __atomic_load_n(&rt.model_faults[1],
					       __ATOMIC_RELAXED),
		.data_fault_ns = __atomic_load_n(&rt.model_fault_ns[1],
						 __ATOMIC_RELAXED),
		.handover_ns = __atomic_load_n(&rt.handover_ns,
					       __ATOMIC_RELAXED),
	};
}

void coh_rt_idle(void)
{
	if (!cvmm_coh_on || !rt.cfg.hold_max_us || !rt.node)
		return;
	if (coh_hold_release(rt.node) != CVMM_OK)
		rt.cfg.fatal("coherence: ending the holds of an idle node failed");
}

/* ---- setup ---------------------------------------------------------------- */

/* Declarations of the layout (the image, threads' TLS) count from
 * coh_rt_init on, not from coh_rt_start: every node must have them
 * whatever the order of its start-up and node 0's publication. */
void coh_rt_image(uint64_t start, uint64_t end)
{
	if (!rt.node)
		return; /* one node: no coherence */
	if (coh_node_add_image(rt.node, start >> CVMM_PAGE_SHIFT,
			       (end + CVMM_PAGE_SIZE - 1) >> CVMM_PAGE_SHIFT) !=
	    CVMM_OK)
		rt.cfg.fatal("coherence: node 0's image declared after pages "
			     "moved");
	/* homes are known now: data pages follow the release model */
	if (rt.rc)
		__atomic_store_n(&rt.rc_armed, true, __ATOMIC_RELEASE);
}

unsigned coh_rt_images(uint64_t (*r)[2], unsigned cap)
{
	return rt.node ? coh_node_images(rt.node, r, cap) : 0;
}

cvmm_status_t coh_rt_init(const coh_rt_cfg_t *cfg)
{
	coh_cfg_t pc = { .self = (uint32_t)cfg->self,
			 .nnodes = (uint32_t)cfg->nnodes,
			 .npages = cfg->hi >> CVMM_PAGE_SHIFT,
			 .push = cfg->push,
			 .hold_max_us = (uint32_t)cfg->hold_max_us,
			 .ops = &rt_ops,
			 .host = cfg->host,
			 .now_ns = rt_now_ns,
			 .hold_armed = rt_hold_armed,
			 .idle = rt_guest_idle };
	cvmm_status_t st;

	if (cfg->hold_max_us < 0 || cfg->hold_max_us > COH_HOLD_MAX_US) {
		log_error("hold-max-us %d: must be 0 to %d", cfg->hold_max_us,
			  COH_HOLD_MAX_US);
		return CVMM_ERR_INVALID;
	}
	if (cfg->read_ahead < 0 || cfg->read_ahead > COH_RT_READ_AHEAD_MAX) {
		log_error("read-ahead %d: must be 0 to %d", cfg->read_ahead,
			  COH_RT_READ_AHEAD_MAX);
		return CVMM_ERR_INVALID;
	}
	if (cfg->twin_ahead < 0 || cfg->twin_ahead > RC_TWIN_AHEAD_MAX) {
		log_error("twin-ahead %d: must be 0 to %d", cfg->twin_ahead,
			  RC_TWIN_AHEAD_MAX);
		return CVMM_ERR_INVALID;
	}
	if (cfg->staleness_ms < 0 || cfg->staleness_ms > 60000) {
		log_error("staleness-ms %d: must be 0 to 60000",
			  cfg->staleness_ms);
		return CVMM_ERR_INVALID;
	}
	rt.cfg = *cfg;
	if (cfg->release) {
		pc.promote_after = RC_PROMOTE_AFTER;
		pc.promotable = rt_promotable;
		/* every forward of a sync page must be a release first
		 * (fwd_handle), also one that a hold or a pin kept back
		 * (rt_forward_due) */
		pc.forward_due = rt_forward_due;
	}
	st = coh_node_create(&pc, &rt.node);
	if (st == CVMM_OK && cfg->release) {
		rc_cfg_t rc = { .self = (uint32_t)cfg->self,
				.nnodes = (uint32_t)cfg->nnodes,
				.npages = cfg->hi >> CVMM_PAGE_SHIFT,
				.manager = rc_manager,
				.sync_at_start = rc_sync_at_start,
				.ivy_first = pc.promote_after > 0,
				.members = cfg->members,
				.halt_on_race = !cfg->race_warn,
				.twin_ahead = (unsigned)cfg->twin_ahead,
				.demote_after = RC_DEMOTE_AFTER,
				.ops = &rc_ops };

		st = rc_node_create(&rc, &rt.rc);
		log_info("coherence: release memory model, writes go home "
			 "at least every %d ms, races %s", cfg->staleness_ms,
			 cfg->race_warn ? "warn" : "stop the VM");
	}
	if (st == CVMM_OK)
		st = xp_am_register(cfg->xp, cfg->rc_am_id, rc_handler, NULL);
	if (st != CVMM_OK)
		return st;
	return xp_am_register(cfg->xp, cfg->am_id, rt_on_msg, NULL);
}

cvmm_status_t coh_rt_start(void)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_SIGBUS | UFFD_FEATURE_MISSING_SHMEM |
			    UFFD_FEATURE_MINOR_SHMEM |
			    UFFD_FEATURE_WP_HUGETLBFS_SHMEM,
	};
	struct uffdio_register reg = {
		.range = { .start = rt.cfg.lo, .len = rt.cfg.hi - rt.cfg.lo },
		.mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP |
			UFFDIO_REGISTER_MODE_MINOR,
	};

	/* User-mode faults only: the agent never lets the kernel touch the
	 * guest view, and this works without privileges. */
	rt.uffd = (int)syscall(SYS_userfaultfd,
			       O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (rt.uffd < 0) {
		log_error("userfaultfd: %m (needs Linux 5.13 or later)");
		return CVMM_ERR_UNSUPPORTED;
	}
	if (ioctl(rt.uffd, UFFDIO_API, &api) != 0) {
		log_error("userfaultfd: minor faults and write protection on "
			  "shared memory unavailable (%m; needs Linux 5.19)");
		goto err;
	}
	if (ioctl(rt.uffd, UFFDIO_REGISTER, &reg) != 0) {
		log_error("userfaultfd: registering guest memory: %m");
		goto err;
	}
	if (rt.cfg.hold_max_us) {
		pthread_t th;

		if (pthread_create(&th, NULL, rt_hold_main, NULL) != 0) {
			log_error("coherence: starting the hold timer failed");
			goto err;
		}
		pthread_detach(th);
	}
	if (rt.rc) {
		pthread_t th;

		if (pthread_create(&th, NULL, rt_rel_main, NULL) != 0) {
			log_error("coherence: starting the release thread "
				  "failed");
			goto err;
		}
		pthread_detach(th);
		if (rt.cfg.staleness_ms > 0) {
			if (pthread_create(&th, NULL, rt_stale_main, NULL) != 0) {
				log_error("coherence: starting the staleness "
					  "timer failed");
				goto err;
			}
			pthread_detach(th);
		}
	}
	coh_trace_warm();
	cvmm_coh_on = true;
	return CVMM_OK;
err:
	close(rt.uffd);
	rt.uffd = -1;
	return CVMM_ERR_UNSUPPORTED;
}
