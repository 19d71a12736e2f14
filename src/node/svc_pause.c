/* cvmm ctl pause and resume (svc.h): node 0 closes every node's gate
 * (coherence/coh.h, "pausing") and waits until the VM is quiet: on every
 * node no guest thread runs guest code (each is kicked to a trap point,
 * where it waits) and nothing of its coherence or futex service is in
 * flight. Two rounds in a row must find every node so, for a message
 * that was still on its way when one node was asked. A VM that does not
 * get quiet within PAUSE_WAIT_MS is resumed, and the node that did not
 * logs why.
 *
 *   PAUSE  node 0 -> k   arg NODE_PAUSE_CLOSE, _QUERY, _WHY or _RESUME;
 *                        ACK arg 1 for a quiet node (QUERY)
 *
 * The foundation of a node leaving or joining (issue 15): with the VM
 * quiet, roles and pages can move without racing a fault or a futex
 * call. */
#include "node/svc_int.h"

#include <stdio.h>
#include <time.h>

#include "coherence/coh.h"
#include "common/clock.h"
#include "common/log.h"

#define PAUSE_WAIT_MS 5000
#define PAUSE_POLL_MS 5

static pthread_mutex_t pause_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t paused_at; /* node 0: when the last pause took hold */

/* This node quiet: paused, no guest thread in guest code, nothing in
 * flight; why not into why. */
static bool quiet_here(char *why, size_t len)
{
	int n;

	if (!coh_rt_paused()) {
		snprintf(why, len, "not paused");
		return false;
	}
	n = vm_in_guest(svc_vm);
	if (n > 0) {
		snprintf(why, len, "%d guest thread%s still running guest code",
			 n, n == 1 ? "" : "s");
		return false;
	}
	return coh_rt_quiet(why, len);
}

void svc_on_pause(int src, const node_hdr_t *h)
{
	char why[160] = "";
	int64_t r = 0;

	switch (h->arg) {
	case NODE_PAUSE_CLOSE:
		coh_rt_pause(true);
		(void)vm_in_guest(svc_vm); /* kicks them */
		break;
	case NODE_PAUSE_QUERY:
		r = quiet_here(why, sizeof(why));
		break;
	case NODE_PAUSE_WHY:
		if (!quiet_here(why, sizeof(why)))
			log_warn("pause: node %d is not quiet: %s", svc_self(),
				 why);
		break;
	case NODE_PAUSE_RESUME:
		coh_rt_pause(false);
		break;
	default:
		log_warn("node %d: malformed pause message: dropped", src);
		return;
	}
	svc_send_ack(src, h->id, r);
}

/* Asks node k (0: here) arg; the reply's result, -1 without one. */
static int64_t ask(int k, int arg)
{
	node_hdr_t h = { .type = NODE_MSG_PAUSE, .arg = arg };

	if (k == 0) {
		char why[160];

		switch (arg) {
		case NODE_PAUSE_QUERY:
			return quiet_here(why, sizeof(why));
		case NODE_PAUSE_WHY:
			if (!quiet_here(why, sizeof(why)))
				log_warn("pause: node 0 is not quiet: %s",
					 why);
			return 0;
		default:
			coh_rt_pause(arg == NODE_PAUSE_CLOSE);
			if (arg == NODE_PAUSE_CLOSE)
				(void)vm_in_guest(svc_vm);
			return 0;
		}
	}
	return svc_ask(k, &h, NULL, NULL, 1000);
}

/* The first node that is not quiet, -1 when all are. */
static int first_loud(int n)
{
	for (int k = 0; k < n; k++)
		if (!node_departed(k) && ask(k, NODE_PAUSE_QUERY) != 1)
			return k;
	return -1;
}

static void resume_all(int n)
{
	for (int k = n - 1; k >= 0; k--)
		if (!node_departed(k) && ask(k, NODE_PAUSE_RESUME) < 0)
			log_warn("resume: node %d did not answer", k);
}

int node_svc_pause(char *out, size_t cap)
{
	int n = svc_vm ? svc_nnodes() : 0;
	uint64_t t0 = cvmm_now_ns(), waited;
	int loud = 0, rounds = 0, in = 0, ret = -1;

	if (svc_self() != 0 || n < 1) {
		snprintf(out, cap, "error: not node 0");
		return -1;
	}
	pthread_mutex_lock(&pause_lock);
	if (coh_rt_paused()) {
		snprintf(out, cap, "paused already");
		ret = 0;
		goto out;
	}
	for (int k = 0; k < n; k++)
		if (!node_departed(k) && ask(k, NODE_PAUSE_CLOSE) < 0) {
			resume_all(n);
			snprintf(out, cap, "error: node %d did not answer; "
				 "resumed", k);
			goto out;
		}
	while ((waited = cvmm_now_ns() - t0) < PAUSE_WAIT_MS * 1000000ull) {
		loud = first_loud(n);
		rounds = loud < 0 ? rounds + 1 : 0;
		if (rounds == 2)
			break;
		svc_sleep_ms(PAUSE_POLL_MS);
	}
	if (rounds < 2) {
		if (loud >= 0)
			(void)ask(loud, NODE_PAUSE_WHY);
		resume_all(n);
		snprintf(out, cap, "error: node %d did not get quiet within "
			 "%d s (its log says why); resumed", loud < 0 ? 0 : loud,
			 PAUSE_WAIT_MS / 1000);
		log_warn("pause: node %d did not get quiet within %d s: "
			 "resumed", loud < 0 ? 0 : loud, PAUSE_WAIT_MS / 1000);
		goto out;
	}
	paused_at = cvmm_now_ns();
	log_info("pause: the VM is paused (quiet after %.1f ms)",
		 (double)waited / 1e6);
	for (int k = 0; k < n; k++)
		in += !node_departed(k);
	snprintf(out, cap, "paused: %d node%s quiet after %.1f ms: no guest "
		 "code runs and no coherence or futex message is in flight",
		 in, in == 1 ? "" : "s", (double)waited / 1e6);
	ret = 1;
out:
	pthread_mutex_unlock(&pause_lock);
	return ret;
}

void node_svc_resume(char *out, size_t cap)
{
	int n = svc_vm ? svc_nnodes() : 0;

	if (svc_self() != 0 || n < 1) {
		snprintf(out, cap, "error: not node 0");
		return;
	}
	pthread_mutex_lock(&pause_lock);
	if (!coh_rt_paused()) {
		snprintf(out, cap, "not paused");
	} else {
		resume_all(n);
		log_info("pause: the VM resumes after %.1f s",
			 (double)(cvmm_now_ns() - paused_at) / 1e9);
		snprintf(out, cap, "resumed after %.1f s paused",
			 (double)(cvmm_now_ns() - paused_at) / 1e9);
	}
	pthread_mutex_unlock(&pause_lock);
}
