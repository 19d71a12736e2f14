/* Node services of a multi-node VM: what agents do for each other besides
 * coherence and futexes, carried by NODE_AM_SVC messages (node_wire.h):
 *
 *   SYSCALL  node k -> 0   a syscall the table runs on node 0 (I/O, layout,
 *                          process-wide signal state, exit_group); a proxy
 *                          thread on node 0, one per remote guest thread,
 *                          runs it against node 0's I/O server and guest
 *                          memory (coherently: the proxy's gmem_ptr brings
 *                          the caller's buffers over) and replies ACK
 *                                                         (svc_syscall.c)
 *   LAYOUT   node 0 -> k   layout changes to apply (gmem_apply); ACK
 *                                                          (svc_layout.c)
 *   START    creator -> j  start a guest thread with these registers
 *   LIVE     node k -> 0   +1 (a thread node k created, wherever it runs;
 *                          ACKed before it can run, so node 0's count
 *                          never dips to zero early) or -1 (a thread
 *                          exited on node k)
 *   EXIT     node k -> 0   the VM ended on node k (a crash): node 0 ends it
 *                                                          (svc_thread.c)
 *   MIGRATE  i -> j        a guest thread goes on at node j
 *   MOVED    node k -> 0   a thread left node k: retire its proxy
 *   LOAD     any -> any    the sender's guest thread count (placement auto)
 *                                                         (svc_migrate.c)
 *   DESCRIBE any -> any    a wait for a guest page passed 10 s: every node
 *                          logs its protocol state of the page (svc.c)
 *   STATS    node 0 -> k   at the end, under --stats; STATS_REP answers
 *                                                           (svc_stats.c)
 *   ACK      reply to SYSCALL, LAYOUT and LIVE(+1), by request id (svc.c)
 *
 * Core reaches these only through vm.nodes (core/vm.h), which
 * node_svc_init's caller points at node_svc_ops. */
#ifndef CVMM_NODE_SVC_H
#define CVMM_NODE_SVC_H

#include "common/status.h"
#include "core/gmem.h"
#include "core/vm.h"

/* The hooks core calls on a VM that spans nodes (vm.nodes). */
extern const vm_node_ops_t node_svc_ops;

/* Registers the service message handler (before connecting), reads
 * --placement and, on node 0, makes gm publish layout changes to every
 * node. Logs and fails on a bad --placement or --migrate-every. */
cvmm_status_t node_svc_init(gmem_t *gm, vm_t *vm);

/* The VM ended on this node (not node 0): tells node 0, flushed. */
void node_svc_exit(int status);

/* A wait for the guest page at addr is stuck: asks every other node to log
 * its protocol state of the page (coh_rt_describe), for the user's report. */
void node_svc_describe(uint64_t addr);

#endif
