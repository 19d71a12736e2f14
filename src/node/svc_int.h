/* Shared by the node services' files (svc*.c) only: the agent's view of
 * the VM, request slots waiting for replies, sending, and each service's
 * message handler. */
#ifndef CVMM_NODE_SVC_INT_H
#define CVMM_NODE_SVC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/stats_member.h"
#include "node/node.h"
#include "node/node_wire.h"
#include "node/svc.h"

extern gmem_t *svc_gm;
extern vm_t *svc_vm;

static inline int svc_self(void)
{
	return node_rank();
}

static inline int svc_nnodes(void)
{
	return node_size();
}

/* A request waiting for its ACKs (or its one STATS_REP, into stats). */
typedef struct svc_wait {
	uint32_t done;        /* host futex word: 1 when all replies are in */
	uint32_t pending;     /* replies still expected */
	int64_t ret;          /* the first negative result, else the last */
	node_stats_t *stats;  /* STATS: where the decoded reply goes */
	node_status_t *status; /* STATUS: the same */
} svc_wait_t;

/* Opens a slot for w expecting acks replies (w is reset: set w->stats
 * after this, before sending; with acks 0 it is done already); returns
 * the request id.
 * Dies when SVC_SLOTS requests are in flight (a bug, not a load). */
uint64_t svc_wait_open(svc_wait_t *w, uint32_t acks);

/* Closes the slot of id: a later reply is dropped. */
void svc_wait_close(uint64_t id);

/* Blocks until every reply for id is in (the VM ends if a peer is lost,
 * so this cannot wait forever), closes the slot, returns w->ret. */
int64_t svc_wait_done(svc_wait_t *w, uint64_t id);

/* Waits up to ms for every reply to be in, keeping the slot open: true
 * when they are (then svc_wait_done returns at once). */
bool svc_wait_slice(svc_wait_t *w, long ms);

/* As svc_wait_done, giving up after ms: false when not all replies came
 * (the slot is closed either way). */
bool svc_wait_done_ms(svc_wait_t *w, uint64_t id, long ms);

/* Sends the header-only request h (its id set here) to dst and waits up
 * to ms for its one reply, decoded into stats or status when it is a
 * STATS_REP or a STATUS_REP (pass the one expected, the other NULL).
 * Returns the reply's result (an ACK's arg; negative when the reply was
 * malformed), -EHOSTUNREACH when the request could not be sent or
 * -ETIMEDOUT when no reply came; the slot is closed either way (a late
 * reply is dropped). */
int64_t svc_ask(int dst, node_hdr_t *h, node_stats_t *stats,
		node_status_t *status, long ms);

/* A reply from src for the request in h->id (ACK: h->arg is the result;
 * STATS_REP and STATUS_REP: msg, len is decoded into the waiter's stats or
 * status). Unknown and
 * stale ids are logged and dropped. */
void svc_reply(int src, const node_hdr_t *h, const void *msg, size_t len);

/* Sleeps ms milliseconds (the control thread's polls). */
void svc_sleep_ms(long ms);

/* Sends an encoded message of len bytes to node dst; len 0 (an encoder
 * that failed) is CVMM_ERR_INVALID. */
cvmm_status_t svc_send(int dst, const void *msg, size_t len);

/* Sends a header-only message of type to dst. */
cvmm_status_t svc_send_hdr(int dst, const node_hdr_t *h);

/* Answers request id at dst with ret (logged when dst is unreachable). */
void svc_send_ack(int dst, uint64_t id, int64_t ret);

/* ---- the services' handlers and hooks ---- */

/* svc_syscall.c */

/* What node 0 does with a forwarded syscall request (h, with its whole
 * message msg of len bytes) in a VM of nvcpus vCPUs: DROP a malformed one
 * (no answer: its id may be forged), REFUSE (ENOSYS) a call the syscall
 * table runs where it is called (clone, exit, signals, futex, ...: a
 * forged one would run node-local code without its thread's context),
 * else RUN it with the arguments decoded into a. */
typedef enum svc_admit {
	SVC_ADMIT_DROP,
	SVC_ADMIT_REFUSE,
	SVC_ADMIT_RUN,
} svc_admit_t;
svc_admit_t svc_syscall_admit(const node_hdr_t *h, const void *msg,
			      size_t len, unsigned nvcpus, uint64_t a[6]);
void svc_on_syscall(int src, const node_hdr_t *h, const void *msg,
		    size_t len);
void svc_proxy_retire(int node, int tid);
/* node 0: the call a proxy runs for (src, h->tid), request h->arg, is to
 * give up (its node is drained) */
void svc_on_cancel(int src, const node_hdr_t *h);
/* node 0: proxies can be interrupted (the signal's handler) */
cvmm_status_t svc_syscall_init(void);
long svc_syscall(vthread_t *vt, unsigned long nr, const uint64_t a[6]);

/* svc_layout.c */
cvmm_status_t svc_publish(const gmem_change_t *c, unsigned n);
void svc_on_layout(int src, const node_hdr_t *h, const void *msg,
		   size_t len);

/* svc_thread.c */
cvmm_status_t svc_placement_init(const char *placement);
int svc_place(void);
long svc_thread_count(int tid);
long svc_thread_start(int target, int tid, const guest_regs_t *regs,
		      uint64_t clear_tid, uint64_t sigmask);
/* Ends the VM from any thread, a handler included (on a thread of its
 * own: vm_exit flushes the transport): status 0 without why, else
 * CVMM_EXIT_FAILURE and why as its line. */
void svc_vm_end(const char *why);
void svc_thread_exited(vm_t *vm, int tid, bool last);
void svc_on_start(int src, const node_hdr_t *h, const void *msg,
		  size_t len);
void svc_on_live(int src, const node_hdr_t *h);
void svc_on_exit(int src, const node_hdr_t *h);

/* svc_migrate.c */
cvmm_status_t svc_migrate_init(const char *placement, int every);
int svc_move_where(vthread_t *vt, bool fault, int src);
long svc_thread_move(int target, vthread_t *vt, const guest_regs_t *regs);
void svc_load_changed(vm_t *vm);
void svc_on_migrate(int src, const node_hdr_t *h, const void *msg,
		    size_t len);
void svc_on_moved(int src, const node_hdr_t *h);
void svc_on_load(int src, const node_hdr_t *h);
/* Slot k gets a new agent: what the old one last said of its load is
 * forgotten (svc_balance_forget: its last sample too). */
void svc_load_forget(int k);

/* svc_stats.c */
void svc_collect_stats(vm_t *vm);
/* Node 0 with --stats, node k leaving (its threads gone, the VM paused):
 * its counters now, merged with the others' at the end. */
void svc_stats_keep_leaver(int k);
void svc_on_stats(int src, const node_hdr_t *h);

/* svc_migrate.c: cvmm ctl migrate's request at node k */
void svc_on_move(int src, const node_hdr_t *h);

/* svc_status.c */
void svc_on_status(int src, const node_hdr_t *h);

/* svc_pause.c: cvmm ctl pause and resume at node k */
void svc_on_pause(int src, const node_hdr_t *h);

/* svc_drain.c: the drained nodes (cvmm ctl drain) */
void svc_on_drain(int src, const node_hdr_t *h);
/* k stays drained (it left) */
void svc_drain_keep(int k);

/* svc_leave.c: cvmm ctl remove-node */
void svc_on_give(int src, const node_hdr_t *h);
void svc_on_take(int src, const node_hdr_t *h, const void *msg, size_t len);
void svc_on_depart(int src, const node_hdr_t *h);
void svc_on_bye(int src, const node_hdr_t *h);
void svc_on_leave(int src, const node_hdr_t *h);
/* A node other than 0 of several: SIGTERM makes it ask node 0 to let it
 * leave (LEAVE), and exit 143 when refused */
cvmm_status_t svc_leave_init(void);
/* The node playing each role as this node knows it (leaves change it). */
const uint8_t *svc_roles(void);
/* A leave's or join's pause (node 0, membership lock held): resume
 * resumes only a pause the change made (a user's pause stays); a user's
 * resume in between is refused (node_svc_changing). */
cvmm_status_t svc_change_pause(char *why, size_t cap);
void svc_change_resume(void);
/* One membership change (a leave, a join) at a time, on node 0. */
void svc_member_lock(void);
void svc_member_unlock(void);
/* Node 0, a change done (node k joined, or left to heir): its entry in
 * --stats with the time since t0, the pages handed over and where the
 * vCPUs are now. */
void svc_member_log(member_event_t ev, int k, int heir, uint64_t t0,
		    int64_t pages);
/* The membership epoch: 1 at the start, one more per leave or join
 * (node 0's count; the others learn it from JOINED). */
uint64_t svc_epoch(void);
void svc_epoch_set(uint64_t e);

/* svc_join.c: a node joining (node/join.c drives it on node 0) */
void svc_on_join(int src, const node_hdr_t *h, const void *msg, size_t len);
void svc_on_joined(int src, const node_hdr_t *h);
/* The drained mask as this node knows it; a joining node's from node 0 */
uint64_t svc_drained_mask(void);
void svc_drained_set(uint64_t mask);
bool svc_drained(int k);
/* The first node from k on (cyclically) that is not drained; -1: none */
int svc_undrained_from(int k);
/* Where a thread of a drained node goes: the other nodes not drained, in
 * turn; -1: none */
int svc_drain_target(void);

/* svc_balance.c: opens /proc/stat (before confinement) on every node; on
 * node 0 of several, readies the balancer and, automatic, starts its
 * thread (--balance auto) */
cvmm_status_t svc_balance_init(bool automatic);
void svc_balance_forget(int k);
/* This node's balancer counters into s (run_ns, wait_ns, cores,
 * cores_idle_ns) */
void svc_balance_measure(node_status_t *s);
/* The balancer's MOVE at the slow node: its busiest guest thread (the
 * most CPU and run-queue time at the last measure) moves to target at its
 * next trap point; its tid, 0 when there is none */
int svc_balance_pick(int target);

#endif
