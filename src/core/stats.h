/* --stats: per-vCPU time (guest code, syscall emulation, idle) and syscall
 * counts by name; a table on stderr at exit, JSON to a file. */
#ifndef CVMM_CORE_STATS_H
#define CVMM_CORE_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "core/sys/sys.h"

typedef struct vm vm_t;

/* Calls per syscall number, relaxed atomic increments. */
extern uint64_t stats_sys_count[SYS_NR_MAX];

/* Multi-node VMs: coherence messages sent by each node (node 0 fills it
 * at the end from every node's counters). */
extern uint64_t stats_msgs_by_node[64];

/* Opens the --stats file now (truncating it), while the agent may still
 * create files outside the guest's root; stats_report writes to it. 0 or
 * -errno (logged). Nothing for NULL and "-". */
int stats_prepare(const char *file);

/* Prints the table to out and, when file is neither NULL nor "-", writes
 * the JSON there (to the stream stats_prepare opened, if it did). Returns 0 or -errno of the failed file write. */
int stats_report(const vm_t *vm, const char *file, FILE *out);

/* ns in seconds rounded to the microsecond, as the JSON has times. */
double stats_secs_us(uint64_t ns);

/* Writes the JSON document to f (common/json.h, indented). Returns 0,
 * -ENOMEM or -EIO. */
int stats_json(const vm_t *vm, FILE *f);

#endif
