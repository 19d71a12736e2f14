/* --stats of a VM whose nodes changed while it ran (docs/coherence.md, "A
 * node leaving", "A node joining"): node 0 logs each join and leave with
 * its time, node, membership epoch, duration and the pages a leaver
 * handed over and the vCPUs each node hosts after it; --stats prints
 * "membership:" and writes the "membership" member, cvmm report lists
 * them in time order. */
#ifndef CVMM_CORE_STATS_MEMBER_H
#define CVMM_CORE_STATS_MEMBER_H

#include <stdint.h>
#include <stdio.h>

#include "common/json.h"

#define MEMBER_LOG_MAX 1024 /* changes logged one by one; more counted */
#define MEMBER_NODES 64     /* slots whose vCPUs a change records */

typedef enum member_event { MEMBER_JOIN, MEMBER_LEAVE } member_event_t;

/* Node 0: the VM has slots slots, started of them started. Once, at
 * start; without it nothing is written. */
void member_start(int slots, int started);

/* Node 0: a change at t_ns since the VM started: node joined or
 * left (its heir heir, -1 for a join) at epoch, taking ms, pages handed
 * over; vcpus[k] the vCPUs node k hosts after it (n nodes). Thread-safe. */
void member_log(uint64_t t_ns, member_event_t ev, int node, int heir,
		uint64_t epoch, double ms, int64_t pages,
		const uint16_t *vcpus, int n);

/* "membership: S slots, N started, J joins, L leaves" (nothing for a VM
 * without free slots nor changes). */
void member_table(FILE *out);

/* Adds "membership": {slots, started, joins, leaves, events: [{t_s,
 * event, node, heir, epoch, ms, pages, vcpus: [per node]}]} to doc
 * (consumed, returned). */
json_t *member_json(json_t *doc);

#endif
