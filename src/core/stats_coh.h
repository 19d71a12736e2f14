/* --stats of a multi-node VM: the coherence fields the report draws from
 * (fault_trace, hot_pages, threads, heap). Every node records its faults
 * (coherence/coh_trace.h) and the stacks of the threads it created; at the
 * end node 0 adds every node's export (src/node/svc_stats.c) and writes
 * the fields. */
#ifndef CVMM_CORE_STATS_COH_H
#define CVMM_CORE_STATS_COH_H

#include <stdint.h>
#include <stdio.h>

#include "coherence/coh_trace.h"
#include "common/json.h"

typedef struct vm vm_t;

#define STATS_THREADS_MAX 256  /* thread stacks kept per node */
#define STATS_HOT_TOP     64   /* hot pages each node sends */
#define STATS_HOT_OUT     20   /* hot pages in the JSON */
#define STATS_TRACE_OUT   20000 /* sampled faults in the JSON at most */

/* A guest thread's stack (fixed-width: it travels in the stats reply). */
typedef struct stats_thread {
	int64_t tid;
	uint64_t lo, hi;
} stats_thread_t;

/* Records guest thread tid's stack [lo, hi). A stack already recorded
 * (glibc reuses the stacks of exited threads) gets the new tid. Thread-safe;
 * stacks after the first STATS_THREADS_MAX are dropped. */
void stats_thread_stack(int tid, uint64_t lo, uint64_t hi);

/* Copies this node's recorded stacks into out (at most cap); returns how
 * many. */
unsigned stats_threads_get(stats_thread_t *out, unsigned cap);

/* Node 0: adds node's hot pages and fault sample (as exported by
 * coh_trace_top and coh_trace_sample there) to the merged view. Not
 * thread-safe (runs once per node at the end). */
void stats_coh_add(int node, const coh_trace_page_t *hot, unsigned nhot,
		   const coh_trace_ev_t *ev, unsigned nev);

/* Adds the "fault_trace", "hot_pages", "threads" and "heap" members to
 * object doc (consumed) and returns it; NULL when doc is NULL or out of
 * memory (jdoc_set). Times are seconds since vm->t_start: exact when all
 * agents share a host's monotonic clock, approximate across hosts. */
json_t *stats_coh_json(const vm_t *vm, json_t *doc);

#endif
