/* Blocking operations: the completion record shared with UCX's callback,
 * the caller's poll-then-yield-then-nap wait with its deadline, and the
 * mapping of UCX statuses to cvmm ones. */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "rdma/xp_int.h"

#define XP_SPIN_ROUNDS 64    /* progress without yielding (own cores) */
#define XP_YIELD_ROUNDS 256  /* then yield; after that sleep briefly */
#define XP_NAP_NS 20000

__thread int xp_in_handler;
__thread bool xp_drain_pending;

cvmm_status_t xp_status_ucs(ucs_status_t s)
{
	switch (s) {
	case UCS_OK:
		return CVMM_OK;
	case UCS_ERR_NO_MEMORY:
		return CVMM_ERR_NOMEM;
	case UCS_ERR_INVALID_PARAM:
		return CVMM_ERR_INVALID;
	case UCS_ERR_UNSUPPORTED:
		return CVMM_ERR_UNSUPPORTED;
	case UCS_ERR_TIMED_OUT:
		return CVMM_ERR_TIMEOUT;
	case UCS_ERR_CONNECTION_RESET:
	case UCS_ERR_ENDPOINT_TIMEOUT:
	case UCS_ERR_UNREACHABLE:
	case UCS_ERR_CANCELED:
	case UCS_ERR_REJECTED:
	case UCS_ERR_NOT_CONNECTED:
		return CVMM_ERR_PEER;
	default:
		return CVMM_ERR_IO;
	}
}

/* Refuses a call that would progress the worker from inside a UCX callback
 * (an active-message handler): UCX forbids it. */
bool xp_refuse_in_handler(const char *what)
{
	if (!xp_in_handler)
		return false;
	log_error("%s called from an active-message handler: not allowed",
		  what);
	return true;
}

/* What a wait does after an idle round. An agent with cores of its own
 * polls a while first: the answer is usually a few microseconds away.
 * Agents that share cores (progress "event": more agents than cores
 * under cvmm run -n) yield from the first round, since the thread that
 * will answer may be another agent's, waiting for this very core. Then
 * both sleep briefly between rounds. */
xp_backoff_t xp_backoff(xp_progress_t mode, unsigned rounds)
{
	if (rounds < XP_SPIN_ROUNDS && mode != XP_PROGRESS_EVENT)
		return XP_BACKOFF_SPIN;
	return rounds < XP_YIELD_ROUNDS ? XP_BACKOFF_YIELD : XP_BACKOFF_NAP;
}

uint64_t xp_wait_budget(xp_progress_t mode, uint64_t max_ns)
{
	if (mode == XP_PROGRESS_EVENT && max_ns < XP_SHARED_WAIT_NS)
		return XP_SHARED_WAIT_NS;
	return max_ns;
}

void xp_wait_backoff(const xp_t *x, unsigned rounds)
{
	struct timespec nap = { 0, XP_NAP_NS };

	switch (xp_backoff(x->o.progress, rounds)) {
	case XP_BACKOFF_SPIN:
		break;
	case XP_BACKOFF_YIELD:
		sched_yield();
		break;
	case XP_BACKOFF_NAP:
		nanosleep(&nap, NULL);
		break;
	}
}

xp_op_t *xp_op_new(size_t extra, int refs)
{
	xp_op_t *op = malloc(sizeof(*op) + extra);

	if (!op) {
		log_error("out of memory for a transport operation");
		return NULL;
	}
	atomic_init(&op->refs, refs);
	atomic_init(&op->done, 0);
	op->status = UCS_INPROGRESS;
	return op;
}

void xp_op_put(xp_op_t *op)
{
	if (atomic_fetch_sub(&op->refs, 1) == 1)
		free(op);
}

void xp_op_cb(void *req, ucs_status_t status, void *user_data)
{
	xp_op_t *op = user_data;

	op->status = status;
	atomic_store_explicit(&op->done, 1, memory_order_release);
	ucx.ucp_request_free(req);
	xp_op_put(op);
}

void xp_op_param(ucp_request_param_t *prm, xp_op_t *op)
{
	memset(prm, 0, sizeof(*prm));
	prm->op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK |
			    UCP_OP_ATTR_FIELD_USER_DATA;
	prm->cb.send = xp_op_cb;
	prm->user_data = op;
}

static atomic_bool xp_ending;

void xp_quiet(xp_t *x)
{
	atomic_store(&xp_ending, true);
}

bool xp_is_quiet(void)
{
	return atomic_load(&xp_ending);
}

void xp_peer_expect_gone(xp_t *x, int peer)
{
	if (peer >= 0 && peer < x->size)
		atomic_store(&x->peers[peer].bye, true);
}

bool xp_peer_lost(xp_t *x, int peer)
{
	return peer >= 0 && peer < x->size && atomic_load(&x->peers[peer].lost);
}

static cvmm_status_t xp_op_failed(xp_peer_t *p, ucs_status_t s,
				  const char *what)
{
	if (p && atomic_load(&p->lost))
		return CVMM_ERR_PEER;
	if (atomic_load(&xp_ending)) {
		log_debug("%s to node %d failed (UCX: %s)", what,
			  p ? p->rank : -1, ucx.ucs_status_string(s));
		return xp_status_ucs(s);
	}
	log_error("%s to node %d failed (UCX: %s)", what, p ? p->rank : -1,
		  ucx.ucs_status_string(s));
	return xp_status_ucs(s);
}

/* Progresses the worker until op completes, p is lost or the deadline
 * passes. */
static cvmm_status_t xp_op_spin(xp_t *x, xp_peer_t *p, xp_op_t *op,
				uint64_t deadline, const char *what)
{
	for (unsigned rounds = 0;; rounds++) {
		if (atomic_load_explicit(&op->done, memory_order_acquire))
			return CVMM_OK;
		if (p && atomic_load(&p->lost))
			return CVMM_ERR_PEER;
		if (cvmm_now_ns() > deadline) {
			log_error("%s to node %d timed out after %d ms", what,
				  p ? p->rank : -1, x->o.op_timeout_ms);
			return CVMM_ERR_TIMEOUT;
		}
		if (ucx.ucp_worker_progress(x->worker) == 0)
			xp_wait_backoff(x, rounds);
	}
}

bool xp_progress_until(xp_t *x, const uint32_t *word, uint32_t old,
		       uint64_t max_ns)
{
	uint64_t deadline;
	bool changed = false;

	if (xp_in_handler)
		return false;
	deadline = cvmm_now_ns() + xp_wait_budget(x->o.progress, max_ns);
	atomic_fetch_add(&x->waiters, 1);
	for (unsigned rounds = 0;; rounds++) {
		if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != old) {
			changed = true;
			break;
		}
		if (cvmm_now_ns() > deadline)
			break;
		if (ucx.ucp_worker_progress(x->worker) == 0)
			xp_wait_backoff(x, rounds);
	}
	atomic_fetch_sub(&x->waiters, 1);
	return changed;
}

/* Waits for the operation sp issued with op (see xp_op_param). The caller
 * still holds one reference to op afterwards and drops it with xp_op_put
 * (after reading op->val on success). While a caller waits here it
 * progresses the worker itself, and the progress thread naps. */
cvmm_status_t xp_op_wait(xp_t *x, xp_peer_t *p, xp_op_t *op,
			 ucs_status_ptr_t sp, uint64_t deadline,
			 const char *what)
{
	cvmm_status_t st;

	if (!UCS_PTR_IS_PTR(sp)) {
		xp_op_put(op); /* the callback's reference: it will not run */
		if (UCS_PTR_IS_ERR(sp))
			return xp_op_failed(p, UCS_PTR_STATUS(sp), what);
		return CVMM_OK;
	}
	atomic_fetch_add(&x->waiters, 1);
	st = xp_op_spin(x, p, op, deadline, what);
	atomic_fetch_sub(&x->waiters, 1);
	if (st == CVMM_OK && op->status != UCS_OK)
		return xp_op_failed(p, op->status, what);
	return st;
}
