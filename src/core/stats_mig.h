/* --stats of guest threads that moved between nodes (docs/coherence.md,
 * "Threads that move"): each node counts the threads that left it and
 * arrived at it, and per thread how often it left; at the end node 0 adds
 * every node's counts (src/node/svc_stats.c) and writes them as the
 * "migrations" member. */
#ifndef CVMM_CORE_STATS_MIG_H
#define CVMM_CORE_STATS_MIG_H

#include <stdint.h>
#include <stdio.h>

#include "common/json.h"

typedef struct vm vm_t;

#define STATS_MIG_MAX 256 /* threads a node counts moves of one by one */

/* One thread's departures from a node (fixed-width: it travels in the
 * stats reply). */
typedef struct stats_mig {
	int64_t tid;
	uint64_t count;
} stats_mig_t;

/* This node: guest thread tid left it for another node. Thread-safe; a
 * thread past the first STATS_MIG_MAX is counted in the node's total
 * only. Cannot fail. */
void stats_mig_left(int tid);

/* This node: a guest thread arrived from another node. Cannot fail. */
void stats_mig_arrived(void);

/* This node's counts: departures into *out, arrivals into *in, the
 * per-thread departures into t (at most cap); returns how many. */
unsigned stats_mig_get(uint64_t *out, uint64_t *in, stats_mig_t *t,
		       unsigned cap);

/* Node 0: adds node's counts (what stats_mig_get gave there). Nodes past
 * 1023 and negative ones are dropped. Not thread-safe (runs once per node
 * at the end). */
void stats_mig_add(int node, uint64_t out, uint64_t in, const stats_mig_t *t,
		   unsigned n);

/* Prints node 0's sums as one line to out: "migrations: T (node 0 out O
 * in I, ...)". */
void stats_mig_table(const vm_t *vm, FILE *out);

/* Adds "migrations" to object doc (consumed) and returns it: {"total": all
 * departures, "per_node": [{"node", "out", "in"}] for every node of vm,
 * "per_thread": [{"tid", "migrations"}] most first}; NULL when doc is NULL
 * or out of memory (jdoc_set). */
json_t *stats_mig_json(const vm_t *vm, json_t *doc);

#endif
