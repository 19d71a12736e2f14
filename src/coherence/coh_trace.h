/* Per-node record of served guest faults, for --stats: faults and writes
 * per page, which node each page was copied from, and a bounded sample of
 * the fault sequence. Node 0 gathers every node's export at the end.
 *
 * Recording is lock-free and cheap (a few relaxed atomics): it runs on
 * every served fault on every vCPU thread.
 *
 *   pages   an open-addressing table of COH_TRACE_PAGES pages; a page that
 *           finds no free slot within a short probe is not counted (see
 *           coh_trace_lost)
 *   copies  a second table keyed by (page, source node) counting faults
 *           that copied the page from that node (nodes < COH_TRACE_NODES)
 *   trace   the first COH_TRACE_HEAD faults, then a ring of the last
 *           COH_TRACE_TAIL: the start of a run and its end, the middle
 *           only counted
 *
 * Times are whatever the caller passes (CLOCK_MONOTONIC ns in coh.c).
 * No dependency on core. */
#ifndef CVMM_COHERENCE_COH_TRACE_H
#define CVMM_COHERENCE_COH_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#define COH_TRACE_PAGES 65536 /* distinct pages counted per node */
#define COH_TRACE_NODES 64    /* source nodes with per-page copy counts */
#define COH_TRACE_HEAD  1024  /* first faults kept */
#define COH_TRACE_TAIL  1024  /* last faults kept */
#define COH_TRACE_SAMPLE (COH_TRACE_HEAD + COH_TRACE_TAIL)

/* One page's counters (fixed-width: it travels in node 0's stats reply). */
typedef struct coh_trace_page {
	uint64_t page;                   /* guest page number (addr >> 12) */
	uint32_t faults, writes;         /* guest faults served here */
	uint32_t atomics;                /* writes by a locked instruction */
	uint32_t pad;
	uint32_t from[COH_TRACE_NODES];  /* of those, copied from node i */
} coh_trace_page_t;

/* One sampled fault. */
typedef struct coh_trace_ev {
	uint64_t t_ns;
	uint64_t page;
	uint32_t write;
	uint32_t pad;
} coh_trace_ev_t;

_Static_assert(sizeof(coh_trace_page_t) == 24 + 4 * COH_TRACE_NODES,
	       "coh_trace_page_t is a wire format");
_Static_assert(sizeof(coh_trace_ev_t) == 24, "coh_trace_ev_t is a wire format");

/* Makes the tables present in memory (~2.5 MiB), so that recording never
 * takes a page fault: the tables are hashed, so the first faults of a run
 * would each touch a page of them never touched before (~20-50 us each on
 * a VM, measured as half a remote read fault in faultbench). */
void coh_trace_warm(void);

/* Records one served guest fault on page (write: a write access; atomic:
 * by an atomic read-modify-write instruction, core/insn.h) at t_ns;
 * from_node: the node the page was copied from, or -1 when no copy was
 * needed. Thread-safe, lock-free, cannot fail (a page that does not fit
 * the table is only counted in coh_trace_lost). */
void coh_trace_fault(uint64_t page, bool write, bool atomic, int from_node,
		     uint64_t t_ns);

/* Records a copy of page from from_node made outside a fault (a page the
 * owner pushed with its grant): counted like coh_trace_fault's from_node. */
void coh_trace_copy(uint64_t page, int from_node);

/* Copies the (at most k) pages with the most faults into out, most first
 * (ties: lower page first); returns how many. Safe while recording runs
 * (the counts are then a snapshot per field). */
unsigned coh_trace_top(coh_trace_page_t *out, unsigned k);

/* Copies the sampled faults into out (at most cap, which should be
 * COH_TRACE_SAMPLE), in recording order: the head, then the ring oldest
 * first. A slot being rewritten at that moment is left out. Returns how
 * many. */
unsigned coh_trace_sample(coh_trace_ev_t *out, unsigned cap);

/* Faults recorded in total, and those whose page found no table slot. */
uint64_t coh_trace_total(void);
uint64_t coh_trace_lost(void);

/* Forgets everything. Not thread-safe: for tests, with no recorder
 * running. */
void coh_trace_reset(void);

#endif
