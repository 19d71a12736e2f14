/* Guest threads that move between nodes (docs/coherence.md, "Threads that
 * move"): the policies that decide at a thread's trap points (core/place.h:
 * --placement auto, --migrate-every), and the messages that carry it out:
 *
 *   MIGRATE  i -> j   guest thread tid goes on at node j with these
 *                     registers, signal mask, clear_tid, robust list and
 *                     placement back-off
 *   MOVED    k -> 0   tid left node k: node 0 retires its syscall proxy
 *                     (sent before the MIGRATE, so it is ahead of any call
 *                     the thread makes from node k again later)
 *   LOAD     any      the sender's guest thread count, which the balance
 *                     rule of --placement auto reads (sent to every node
 *                     when it changes, only under auto)
 *
 * A move changes no count of live threads (svc_thread.c): the thread was
 * counted where it was created and is uncounted where it exits. */
#include "node/svc_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "core/place.h"
#include "core/stats_mig.h"

static bool mig_auto;      /* --placement auto */
static unsigned mig_every; /* --migrate-every, 0 off */
static uint32_t *load;     /* guest threads per node, as last heard */
static uint32_t load_sent; /* this node's count as last broadcast */

cvmm_status_t svc_migrate_init(const char *placement, int every)
{
	if (every < 0) {
		log_error("--migrate-every %d: 0 (off) or a count of trap "
			  "points", every);
		return CVMM_ERR_INVALID;
	}
	mig_every = (unsigned)every;
	mig_auto = placement && !strcmp(placement, "auto");
	if (!mig_auto)
		return CVMM_OK;
	load = calloc((size_t)svc_nnodes(), sizeof(*load));
	if (!load) {
		log_error("out of memory for --placement auto");
		return CVMM_ERR_NOMEM;
	}
	return CVMM_OK;
}

/* ---- deciding ----------------------------------------------------------- */

int svc_move_where(vthread_t *vt, bool fault, int src)
{
	place_view_t v = { .self = svc_self(), .nnodes = svc_nnodes(),
			   .nvcpus = svc_vm->nvcpus, .load = load };
	int asked = __atomic_load_n(&vt->ctl_move, __ATOMIC_ACQUIRE);
	uint64_t now;
	int target;

	/* a drained node keeps no thread (cvmm ctl drain) */
	if (svc_drained(v.self))
		return svc_drain_target();
	/* cvmm ctl migrate or the balancer (svc_on_move): until the move
	 * is tried, unless that node was drained since */
	if (asked > 0 && !svc_drained((asked & ~VT_MOVE_BALANCE) - 1))
		return (asked & ~VT_MOVE_BALANCE) - 1;
	if (asked > 0)
		__atomic_store_n(&vt->ctl_move, 0, __ATOMIC_RELEASE);

	if (mig_every) { /* the next node in the VM and not drained */
		target = place_every(&vt->place, mig_every, v.self, v.nnodes);
		if (target >= 0 && svc_drained(target))
			target = svc_undrained_from(target);
		return target == v.self ? -1 : target;
	}
	if (!mig_auto)
		return -1;
	now = cvmm_now_ns();
	if (fault)
		place_note(&vt->place, src, v.self, now);
	/* the view's own entry is exact; the others are what LOAD said */
	__atomic_store_n(&load[v.self],
			 (uint32_t)__atomic_load_n(&svc_vm->live,
						   __ATOMIC_RELAXED),
			 __ATOMIC_RELAXED);
	target = place_decide(&vt->place, &v, now);
	return target >= 0 && svc_drained(target) ? -1 : target;
}

/* ---- leaving ------------------------------------------------------------- */

/* Forgets the thread's recent faults after a move that did not happen, so
 * the next attempt waits for a window of new ones (auto), or N more trap
 * points (--migrate-every: place_every restarted its count). */
static long move_refused(vthread_t *vt, int target, const char *why)
{
	log_debug("thread %d stays on node %d (to node %d: %s)", vt->tid,
		  svc_self(), target, why);
	vt->place.nfaults = 0;
	return -EAGAIN;
}

long svc_thread_move(int target, vthread_t *vt, const guest_regs_t *regs)
{
	node_hdr_t h = { .type = NODE_MSG_MIGRATE, .tid = vt->tid };
	node_migrate_t m = {
		.clear_tid = vt->clear_tid, .sigmask = vt->sigmask,
		.robust_list = vt->robust_list, .robust_len = vt->robust_len,
		.hold_ns = place_hold_next(&vt->place, target, cvmm_now_ns()),
		.sleep_req = vt->sleep_left_ns ? vt->sleep_req : 0,
		.sleep_left_ns = vt->sleep_req ? vt->sleep_left_ns : 0,
	};
	node_hdr_t moved = { .type = NODE_MSG_MOVED, .tid = vt->tid };
	uint8_t buf[NODE_WIRE_MIGRATE_LEN];
	size_t len;

	int asked = __atomic_exchange_n(&vt->ctl_move, 0, __ATOMIC_ACQ_REL);

	if (asked & VT_MOVE_BALANCE)
		m.hold_ns = PLACE_HOLD_MAX_NS; /* placement auto keeps still */
	if (asked)
		log_info("thread %d moves from node %d to node %d (%s)",
			 vt->tid, svc_self(), target,
			 asked & VT_MOVE_BALANCE ? "the balancer"
						 : "cvmm ctl migrate");
	if (target < 0 || target >= svc_nnodes() || target == svc_self())
		return move_refused(vt, target, "no such node");
	len = node_wire_migrate_encode(&h, &m, regs, buf, sizeof(buf));
	/* MOVED first: node 0 takes it before any call the thread might
	 * make from this node again after coming back. Node 0 retires the
	 * proxy itself when the MIGRATE goes to it. A MOVED for a move that
	 * then fails costs a proxy made anew at the next call. */
	if (svc_self() != 0 && target != 0 &&
	    svc_send_hdr(0, &moved) != CVMM_OK)
		return move_refused(vt, target, "node 0 unreachable");
	if (svc_send(target, buf, len) != CVMM_OK)
		return move_refused(vt, target, "send failed");
	stats_mig_left(vt->tid);
	if (load) /* until its own LOAD says so */
		__atomic_fetch_add(&load[target], 1, __ATOMIC_RELAXED);
	log_trace("thread %d moves from node %d to node %d at rip 0x%lx",
		  vt->tid, svc_self(), target, regs->rip);
	return 0;
}

/* ---- arriving ------------------------------------------------------------ */

void svc_on_migrate(int src, const node_hdr_t *h, const void *msg, size_t len)
{
	guest_regs_t *regs = aligned_alloc(64, sizeof(*regs));
	node_migrate_t m;
	vthread_t *vt;

	if (!regs)
		die("out of memory for a guest thread that moved here");
	if (src == svc_self() ||
	    node_wire_migrate_decode(msg, len, &m, regs) != CVMM_OK) {
		log_warn("node %d: malformed thread move: dropped", src);
		free(regs);
		return;
	}
	if (svc_self() == 0)
		svc_proxy_retire(src, h->tid);
	if (svc_vm->exiting) { /* exit_group won: the thread is gone */
		free(regs);
		return;
	}
	vt = vm_thread_new_tid(svc_vm, regs, h->tid);
	free(regs);
	if (vt) {
		vt->clear_tid = m.clear_tid;
		vt->sigmask = m.sigmask;
		vt->robust_list = m.robust_list;
		vt->robust_len = m.robust_len;
		vt->sleep_req = m.sleep_req;
		vt->sleep_left_ns = m.sleep_left_ns;
		place_arrive(&vt->place, src, m.hold_ns, cvmm_now_ns());
		stats_mig_arrived();
	}
	/* it left its node for good: lost here, it would hang its joiner */
	if (!vt || vm_thread_run(svc_vm, vt) != 0)
		svc_vm_end("cannot start a guest thread that moved here");
}

/* ---- cvmm ctl migrate ------------------------------------------------------ */

/* Thread tid, if it runs here, moves to node target at its next trap
 * point: 1; it runs here and here is target: 2; not here: 0. */
static int move_local(int tid, int target)
{
	int r = 0;

	pthread_mutex_lock(&svc_vm->lock);
	for (vthread_t *vt = svc_vm->threads; vt; vt = vt->next) {
		if (vt->tid != tid || vt->left)
			continue;
		if (target == svc_self()) {
			r = 2;
		} else {
			__atomic_store_n(&vt->ctl_move, target + 1,
					 __ATOMIC_RELEASE);
			vm_thread_kick(svc_vm, vt); /* one computing moves now */
			r = 1;
		}
		break;
	}
	pthread_mutex_unlock(&svc_vm->lock);
	return r;
}

void svc_on_move(int src, const node_hdr_t *h)
{
	int r = 0;

	if (h->arg < 0 || h->arg >= svc_nnodes())
		r = 0;
	else if (h->tid > 0)
		r = move_local(h->tid, (int)h->arg);
	else if (h->tid == 0 && h->arg != svc_self())
		r = svc_balance_pick((int)h->arg);
	svc_send_ack(src, h->id, r);
}

int node_svc_move(int tid, int target, int *where)
{
	*where = -1;
	if (svc_self() != 0 || tid <= 0 || target < 0 ||
	    target >= svc_nnodes())
		return -1;
	for (int k = 0; k < svc_nnodes(); k++) {
		node_hdr_t h = { .type = NODE_MSG_MOVE, .tid = tid,
				 .arg = target };
		int r = k == 0		      ? move_local(tid, target)
			: node_departed(k) ? 0
					      : (int)svc_ask(k, &h, NULL, NULL,
							     1000);

		if (r == 1 || r == 2) {
			*where = k;
			return r;
		}
	}
	return 0;
}

void svc_on_moved(int src, const node_hdr_t *h)
{
	svc_proxy_retire(src, h->tid);
}

/* ---- loads --------------------------------------------------------------- */

void svc_on_load(int src, const node_hdr_t *h)
{
	/* more threads than tids a node can hand out: not a count */
	if (h->count > (1u << 20)) {
		log_warn("node %d: malformed load message: dropped", src);
		return;
	}
	if (load)
		__atomic_store_n(&load[src], h->count, __ATOMIC_RELAXED);
}

void svc_load_forget(int k)
{
	if (load && k >= 0 && k < svc_nnodes())
		__atomic_store_n(&load[k], 0, __ATOMIC_RELAXED);
}

void svc_load_changed(vm_t *vm)
{
	node_hdr_t h = { .type = NODE_MSG_LOAD };

	if (!load)
		return;
	/* until the count sent is the count: two threads changing it at
	 * once may have sent their values in the other order */
	for (;;) {
		h.count = (uint32_t)__atomic_load_n(&vm->live,
						    __ATOMIC_ACQUIRE);
		if (__atomic_exchange_n(&load_sent, h.count,
					__ATOMIC_ACQ_REL) == h.count)
			return;
		for (int k = 0; k < svc_nnodes(); k++)
			if (k != svc_self() && !node_departed(k) &&
			    svc_send_hdr(k, &h) != CVMM_OK)
				log_debug("cannot send this node's load to "
					  "node %d", k);
	}
}
