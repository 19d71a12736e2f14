/* Per-node fault record for --stats (coh_trace.h).
 *
 * Both tables are open addressing with linear probing over a key that is
 * never 0 (page + 1, or the (page, node) pair + 1): a recorder claims an
 * empty slot with a compare-and-swap and never frees it, so a key, once
 * seen, stays in its slot and the counters beside it are plain relaxed
 * atomic adds. The tables live in bss: only slots touched cost memory.
 *
 * The trace takes an index from one atomic counter: index n goes to slot n
 * while n < COH_TRACE_HEAD, else to the ring slot of n. Each slot's seq is
 * written last (n + 1, release) so the export skips a slot whose writer has
 * not finished, or that a later index has already claimed. */
#include "coherence/coh_trace.h"

#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define PROBE_MAX 64
#define COPIES    COH_TRACE_PAGES

typedef struct page_slot {
	uint64_t key; /* page + 1; 0: empty */
	uint32_t faults, writes, atomics, pad;
} page_slot_t;

typedef struct copy_slot {
	uint64_t key; /* page * COH_TRACE_NODES + node + 1; 0: empty */
	uint64_t count;
} copy_slot_t;

static page_slot_t pages[COH_TRACE_PAGES];
static copy_slot_t copies[COPIES];
static coh_trace_ev_t ev[COH_TRACE_SAMPLE];
static uint64_t ev_seq[COH_TRACE_SAMPLE];
static uint64_t ev_next, lost;

static unsigned hash(uint64_t key, unsigned size)
{
	return (unsigned)((key * 0x9e3779b97f4a7c15UL) >> 40) & (size - 1);
}

/* The index of key's slot in tab (size slots, stride bytes apart, each
 * starting with its key); claim: take an empty slot for it. -1 when absent
 * (not claiming) or when PROBE_MAX slots are taken by other keys. */
static long slot_find(void *tab, size_t stride, unsigned size, uint64_t key,
		      bool claim)
{
	unsigned h = hash(key, size);

	for (unsigned i = 0; i < PROBE_MAX; i++) {
		unsigned s = (h + i) & (size - 1);
		uint64_t *k = (uint64_t *)((char *)tab + (size_t)s * stride);
		uint64_t cur = __atomic_load_n(k, __ATOMIC_ACQUIRE);

		if (cur == 0 && claim &&
		    __atomic_compare_exchange_n(k, &cur, key, false,
						__ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			return s;
		if (cur == key)
			return s;
		if (cur == 0)
			return -1; /* not claiming: key absent */
	}
	return -1;
}

static void add32(uint32_t *p)
{
	__atomic_fetch_add(p, 1, __ATOMIC_RELAXED);
}

static void trace_put(uint64_t page, bool write, uint64_t t_ns)
{
	uint64_t n = __atomic_fetch_add(&ev_next, 1, __ATOMIC_RELAXED);
	unsigned s = n < COH_TRACE_HEAD ?
			     (unsigned)n :
			     COH_TRACE_HEAD +
				     (unsigned)((n - COH_TRACE_HEAD) %
						COH_TRACE_TAIL);

	if (n >= COH_TRACE_HEAD) {
		__atomic_store_n(&ev_seq[s], 0, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_RELEASE);
	}
	__atomic_store_n(&ev[s].t_ns, t_ns, __ATOMIC_RELAXED);
	__atomic_store_n(&ev[s].page, page, __ATOMIC_RELAXED);
	__atomic_store_n(&ev[s].write, write, __ATOMIC_RELAXED);
	__atomic_store_n(&ev_seq[s], n + 1, __ATOMIC_RELEASE);
}

void coh_trace_copy(uint64_t page, int from_node)
{
	long s;

	if (from_node < 0 || from_node >= COH_TRACE_NODES)
		return;
	s = slot_find(copies, sizeof(*copies), COPIES,
		      page * COH_TRACE_NODES + (uint64_t)from_node + 1, true);
	if (s >= 0)
		__atomic_fetch_add(&copies[s].count, 1, __ATOMIC_RELAXED);
}

void coh_trace_fault(uint64_t page, bool write, bool atomic, int from_node,
		     uint64_t t_ns)
{
	long s = slot_find(pages, sizeof(*pages), COH_TRACE_PAGES, page + 1,
			   true);

	trace_put(page, write, t_ns);
	if (s < 0) {
		__atomic_fetch_add(&lost, 1, __ATOMIC_RELAXED);
		return;
	}
	add32(&pages[s].faults);
	if (write)
		add32(&pages[s].writes);
	if (write && atomic)
		add32(&pages[s].atomics);
	coh_trace_copy(page, from_node);
}

/* Makes [p, p + len) present: page-aligned inside, so the ends (shared
 * with other data) may still fault once. */
static void warm(void *p, size_t len)
{
	uintptr_t lo = ((uintptr_t)p + 4095) & ~(uintptr_t)4095;
	uintptr_t hi = ((uintptr_t)p + len) & ~(uintptr_t)4095;

	/* raw syscall: UCX's memory hooks would see (and scan) madvise */
	if (hi > lo)
		syscall(SYS_madvise, (void *)lo, hi - lo, MADV_POPULATE_WRITE);
}

void coh_trace_warm(void)
{
	warm(pages, sizeof(pages));
	warm(copies, sizeof(copies));
	warm(ev, sizeof(ev));
	warm(ev_seq, sizeof(ev_seq));
}

/* ---- export -------------------------------------------------------------- */

static bool hotter(const coh_trace_page_t *a, const coh_trace_page_t *b)
{
	return a->faults > b->faults ||
	       (a->faults == b->faults && a->page < b->page);
}

/* Inserts p into out[0..*n) sorted hottest first, keeping at most k. */
static void top_insert(coh_trace_page_t *out, unsigned *n, unsigned k,
		       const coh_trace_page_t *p)
{
	unsigned i = *n < k ? (*n)++ : k;

	while (i > 0 && hotter(p, &out[i - 1])) {
		if (i < k)
			out[i] = out[i - 1];
		i--;
	}
	if (i < k)
		out[i] = *p;
}

static void top_copies(coh_trace_page_t *p)
{
	for (unsigned node = 0; node < COH_TRACE_NODES; node++) {
		long s = slot_find(copies, sizeof(*copies), COPIES,
				   p->page * COH_TRACE_NODES + node + 1,
				   false);

		p->from[node] = s < 0 ? 0 :
			(uint32_t)__atomic_load_n(&copies[s].count,
						  __ATOMIC_RELAXED);
	}
}

unsigned coh_trace_top(coh_trace_page_t *out, unsigned k)
{
	unsigned n = 0;

	for (unsigned s = 0; s < COH_TRACE_PAGES && k; s++) {
		coh_trace_page_t p = { 0 };
		uint64_t key = __atomic_load_n(&pages[s].key, __ATOMIC_ACQUIRE);

		if (!key)
			continue;
		p.page = key - 1;
		p.faults = __atomic_load_n(&pages[s].faults, __ATOMIC_RELAXED);
		p.writes = __atomic_load_n(&pages[s].writes, __ATOMIC_RELAXED);
		p.atomics = __atomic_load_n(&pages[s].atomics,
					    __ATOMIC_RELAXED);
		if (p.faults && (n < k || hotter(&p, &out[n - 1])))
			top_insert(out, &n, k, &p);
	}
	for (unsigned i = 0; i < n; i++)
		top_copies(&out[i]);
	return n;
}

/* Copies the event of index idx into *e when its slot still holds it. */
static bool sample_one(uint64_t idx, coh_trace_ev_t *e)
{
	unsigned s = idx < COH_TRACE_HEAD ?
			     (unsigned)idx :
			     COH_TRACE_HEAD +
				     (unsigned)((idx - COH_TRACE_HEAD) %
						COH_TRACE_TAIL);

	if (__atomic_load_n(&ev_seq[s], __ATOMIC_ACQUIRE) != idx + 1)
		return false;
	e->t_ns = __atomic_load_n(&ev[s].t_ns, __ATOMIC_RELAXED);
	e->page = __atomic_load_n(&ev[s].page, __ATOMIC_RELAXED);
	e->write = __atomic_load_n(&ev[s].write, __ATOMIC_RELAXED);
	e->pad = 0;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return __atomic_load_n(&ev_seq[s], __ATOMIC_RELAXED) == idx + 1;
}

unsigned coh_trace_sample(coh_trace_ev_t *out, unsigned cap)
{
	uint64_t end = __atomic_load_n(&ev_next, __ATOMIC_ACQUIRE);
	uint64_t head = end < COH_TRACE_HEAD ? end : COH_TRACE_HEAD;
	uint64_t tail = end > COH_TRACE_HEAD + COH_TRACE_TAIL ?
				end - COH_TRACE_TAIL : COH_TRACE_HEAD;
	unsigned n = 0;

	for (uint64_t i = 0; i < head && n < cap; i++)
		n += sample_one(i, &out[n]);
	for (uint64_t i = tail; i < end && n < cap; i++)
		n += sample_one(i, &out[n]);
	return n;
}

uint64_t coh_trace_total(void)
{
	return __atomic_load_n(&ev_next, __ATOMIC_RELAXED);
}

uint64_t coh_trace_lost(void)
{
	return __atomic_load_n(&lost, __ATOMIC_RELAXED);
}

void coh_trace_reset(void)
{
	memset(pages, 0, sizeof(pages));
	memset(copies, 0, sizeof(copies));
	memset(ev, 0, sizeof(ev));
	memset(ev_seq, 0, sizeof(ev_seq));
	ev_next = 0;
	lost = 0;
}
