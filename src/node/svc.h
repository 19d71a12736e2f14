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
 *   MOVE     node 0 -> k   cvmm ctl migrate: a thread moves at its next
 *                          trap point; ACK           (svc_migrate.c);
 *                          tid 0: the balancer's, node k's busiest
 *                          thread moves; ACK         (svc_balance.c)
 *   PAUSE    node 0 -> k   cvmm ctl pause and resume: close, query, open
 *                          this node's gate; ACK       (svc_pause.c)
 *   DRAIN    node 0 -> k   cvmm ctl drain: the drained nodes; ACK
 *                                                          (svc_drain.c)
 *   GIVE, TAKE, DEPART, BYE   cvmm ctl remove-node: the leaving node hands
 *                          its roles and pages to an heir, every node
 *                          departs it, it exits    (svc_leave.c)
 *   STATUS   node 0 -> k   cvmm ctl status asks; STATUS_REP answers
 *                                                          (svc_status.c)
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

#include <stdbool.h>

#include "common/status.h"
#include "core/gmem.h"
#include "core/vm.h"
#include "node/node_wire.h"

/* The hooks core calls on a VM that spans nodes (vm.nodes). */
extern const vm_node_ops_t node_svc_ops;

/* Registers the service message handler (before connecting), reads
 * --placement and, on node 0, makes gm publish layout changes to every
 * node. Logs and fails on a bad --placement or --migrate-every. */
cvmm_status_t node_svc_init(gmem_t *gm, vm_t *vm);

/* The VM ended on this node (not node 0): tells node 0, flushed. */
void node_svc_exit(int status);

/* Node 0, cvmm ctl migrate: guest thread tid moves to node target at its
 * next trap point (a system call returning, a coherence fault). Returns 1
 * (asked; *where: the node it runs on), 2 (it runs on target already), 0
 * (no such thread answered within a second per node), -1 (no such node,
 * or not node 0). Blocks. */
int node_svc_move(int tid, int target, int *where);

/* Points the services at the VM without node_svc_init (a job of one: no
 * transport, but node_svc_status answers for node 0 alone). */
void node_svc_attach(gmem_t *gm, vm_t *vm);

/* Node 0: every node's state now, for cvmm ctl status (node/ctl_server.h):
 * out[k] for node k < cap, ok[k] false (out[k] zeros) when node k did not
 * answer within wait_ms. pages: with the pages each owns and shares (a
 * walk over its resident pages; the balancer's samples go without).
 * Returns the number of nodes filled in; 0 on other nodes. Blocks: not
 * for a message handler. */
int node_svc_status(node_status_t *out, bool *ok, int cap, long wait_ms,
		    bool pages);

/* Node 0, cvmm ctl balance: one round of the balancer (core/balance.h) on
 * a period measured now; its one-line result (no newline) into out.
 * Blocks (about half a period, more for a node slow to answer). */
void node_svc_balance(char *out, size_t cap);

/* Node 0, cvmm ctl pause: closes every node's gate (coherence/coh.h) and
 * waits (5 s at most) until no guest code runs and nothing is in flight
 * anywhere; cvmm ctl resume opens them. Their one-line result (no
 * newline, "error: ..." when it failed: a pause that timed out resumed the
 * VM) into out. Block; on one node they pause that node alone. Pause
 * returns 1 when it paused the VM, 0 when it was paused already, -1 on
 * an error. */
int node_svc_pause(char *out, size_t cap);
void node_svc_resume(char *out, size_t cap);

/* Node 0, cvmm ctl drain K and undrain K: node K runs no guest thread
 * (its threads move to the others) or may again; one line into out
 * ("error: ..." for no such node, one node, or the last node that runs
 * threads). */
void node_svc_drain(int k, bool on, char *out, size_t cap);

/* Node 0, cvmm ctl remove-node K: K leaves the VM (svc_leave.c); one
 * line into out ("error: ..." when it cannot: node 0, no such node,
 * threads that do not leave it; the VM ends if the
 * hand-over fails half-way). Blocks. */
void node_svc_remove(int k, char *out, size_t cap);

/* Whether node k is drained (as this node knows). */
bool node_svc_is_drained(int k);

/* On the calling guest thread (dfx_ops_t.interrupted): its node is drained
 * and another can take it, so a futex wait gives up to move. */
bool node_svc_interrupted(void);

/* A wait for the guest page at addr is stuck: asks every other node to log
 * its protocol state of the page (coh_rt_describe), for the user's report. */
void node_svc_describe(uint64_t addr);

/* ---- node 0: a node joining (svc_join.c, driven by node/join.c) ----
 * begin: checks the joiner may join (epoch 0 or the VM's, a free slot), takes the membership lock and returns the slot, or
 * -1 with why. connect: freezes the layout, pauses the VM and has every
 * node connect to the joiner at addr and record its memory key. end:
 * with ok, every node takes the joiner in (the epoch grows; logged for
 * --stats with the time since t0, cvmm_now_ns at its hello); either way
 * resumes, thaws and unlocks; out gets a line. state: what a joiner must
 * know (the nodes in the VM and the drained ones, a bit each, and the
 * node playing each role, node_size() of them). */
int node_svc_join_begin(uint64_t epoch, char *why, size_t cap);
cvmm_status_t node_svc_join_connect(int k, const void *addr, size_t alen,
				    const void *rkey, size_t rlen, char *why,
				    size_t cap);
void node_svc_join_end(int k, bool ok, uint64_t t0, char *out, size_t cap);
void node_svc_join_state(uint64_t *live, uint64_t *drained, uint8_t *roles);
/* Node 0: slot k is free (out of the VM, free from the start or left, and
 * no join failed in it: a node can join into it); how many are; slot k's
 * node left the VM (a started node, or one that joined). */
bool node_svc_slot_free(int k);
int node_svc_free_slots(void);
bool node_svc_slot_left(int k);
/* A node is joining or leaving now (its pause holds): cvmm ctl resume
 * waits for it. */
bool node_svc_changing(void);
/* The membership epoch (1 at the start, one more per leave or join). */
uint64_t node_svc_epoch(void);
/* A joining node: the drained nodes, and the epoch once in (0: not yet). */
void node_svc_join_apply(uint64_t drained, uint64_t epoch);

#endif
