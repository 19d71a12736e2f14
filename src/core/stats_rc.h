/* --stats of the release memory model (--memory-model=release,
 * coherence/rc.h): every node counts its diffs, write notices,
 * synchronization pages, races and deferred forwards (coh_rt_rc_stats);
 * at the end node 0 adds every node's counters (src/node/svc_stats.c) and
 * writes them as the "release" member, summed and per node. In the
 * sequential model the counters are all zero. */
#ifndef CVMM_CORE_STATS_RC_H
#define CVMM_CORE_STATS_RC_H

#include <stdbool.h>
#include <stdio.h>

#include "coherence/coh.h"
#include "common/json.h"

typedef struct vm vm_t;

#define STATS_RC_NODES 64 /* nodes node 0 keeps counters of (RC_MAX_NODES) */

/* Node 0: the run's memory model (the agents' --memory-model; every agent
 * runs the same one, node.c checks it at start). */
void stats_rc_model(bool release);

/* Node 0: sets node's counters (what coh_rt_rc_stats gave there). Nodes
 * outside [0, STATS_RC_NODES) are dropped. Not thread-safe (runs once per
 * node at the end). */
void stats_rc_add(int node, const coh_rc_stats_t *s);

/* Prints node 0's sums as one line to out, only in the release model:
 * "release model: D diffs sent (B bytes), N write notices (U applied in
 * place), P pages promoted, S sync pages, R races, F forwards waited for
 * a release". */
void stats_rc_table(const vm_t *vm, FILE *out);

/* Adds "release" to object doc (consumed) and returns it:
 * {"memory_model": "release" | "sequential", every counter summed over
 * the nodes ("diffs_sent", "diff_bytes", "write_notices", "sync_pages",
 * "races", "forwards_deferred", ...), "per_node": [{"node", the same
 * counters}] for every node of vm}; NULL when doc is NULL or out of
 * memory (jdoc_set). */
json_t *stats_rc_json(const vm_t *vm, json_t *doc);

#endif
