/* cvmm ctl drain and undrain (svc.h): a drained node runs no guest
 * thread. Node 0 tells every node the set of drained nodes (DRAIN, arg
 * the mask); no placement, balancer or cvmm ctl migrate picks one; a
 * thread on a drained node moves at its next trap point to the next node
 * that is not (those running guest code are kicked there at once), and a
 * futex wait on it is given up and run again where its thread goes
 * (dfx_ops_t.interrupted, VM_ERESTART). A thread in another call moves
 * when the call returns. The node keeps its pages and roles: the first
 * half of a node leaving (issue 15).
 *
 *   DRAIN  node 0 -> k   arg: the drained nodes, one bit each; ACK */
#include "node/svc_int.h"

#include <stdio.h>

#include "common/log.h"

static uint64_t drained; /* bit k: node k drained (atomic) */
static unsigned next_rr; /* round robin over the targets */
static pthread_mutex_t drain_lock = PTHREAD_MUTEX_INITIALIZER;

bool svc_drained(int k)
{
	return k >= 0 && k < 64 &&
	       (__atomic_load_n(&drained, __ATOMIC_ACQUIRE) >> k & 1);
}

int svc_undrained_from(int k)
{
	int n = svc_nnodes();

	for (int i = 0; i < n; i++) {
		int j = (k + i) % n;

		if (!svc_drained(j))
			return j;
	}
	return -1;
}

int svc_drain_target(void)
{
	int n = svc_nnodes();
	unsigned start = __atomic_fetch_add(&next_rr, 1, __ATOMIC_RELAXED);

	for (int i = 0; i < n; i++) {
		int j = (int)((start + (unsigned)i) % (unsigned)n);

		if (j != svc_self() && !svc_drained(j))
			return j;
	}
	return -1;
}

void svc_drain_keep(int k)
{
	if (k >= 0 && k < 64)
		__atomic_fetch_or(&drained, 1ull << k, __ATOMIC_ACQ_REL);
}

uint64_t svc_drained_mask(void)
{
	return __atomic_load_n(&drained, __ATOMIC_ACQUIRE);
}

void svc_drained_set(uint64_t mask)
{
	__atomic_store_n(&drained, mask, __ATOMIC_RELEASE);
}

bool node_svc_is_drained(int k)
{
	return svc_drained(k);
}

bool node_svc_interrupted(void)
{
	return svc_drained(svc_self()) && !vm_current_cannot_move() &&
	       svc_drain_target() >= 0;
}

/* This node learns the set; a drained one sends its threads away. */
static void drain_apply(uint64_t mask)
{
	bool was = svc_drained(svc_self());

	__atomic_store_n(&drained, mask, __ATOMIC_RELEASE);
	if (svc_drained(svc_self()) && !was) {
		int n = vm_in_guest(svc_vm); /* kicks them */

		log_info("node %d drained: its guest threads move to the "
			 "other nodes (%d running guest code now)", svc_self(),
			 n);
	}
}

void svc_on_drain(int src, const node_hdr_t *h)
{
	drain_apply((uint64_t)h->arg);
	svc_send_ack(src, h->id, 0);
}

void node_svc_drain(int k, bool on, char *out, size_t cap)
{
	int n = svc_nnodes();
	uint64_t mask, all;

	if (svc_self() != 0 || !svc_vm || n < 2) {
		snprintf(out, cap, "error: the VM has one node: nothing to "
			 "drain");
		return;
	}
	if (k < 0 || k >= n || k >= 64 || (!on && node_departed(k))) {
		snprintf(out, cap, "error: no node %d (the VM has %d)", k, n);
		return;
	}
	all = n >= 64 ? ~0ull : (1ull << n) - 1;
	pthread_mutex_lock(&drain_lock);
	mask = __atomic_load_n(&drained, __ATOMIC_ACQUIRE);
	mask = on ? mask | 1ull << k : mask & ~(1ull << k);
	if ((mask & all) == all) {
		snprintf(out, cap, "error: node %d is the last node that runs "
			 "guest threads", k);
		goto out;
	}
	for (int j = 1; j < n; j++) {
		node_hdr_t h = { .type = NODE_MSG_DRAIN, .arg = (int64_t)mask };

		if (node_departed(j))
			continue;
		if (svc_ask(j, &h, NULL, NULL, 1000) < 0)
			log_warn("drain: node %d did not answer", j);
	}
	drain_apply(mask);
	if (on)
		snprintf(out, cap, "node %d drained: its guest threads move to "
			 "the other nodes (now, or when the call each is in "
			 "returns); it keeps its pages and roles", k);
	else
		snprintf(out, cap, "node %d takes guest threads again", k);
out:
	pthread_mutex_unlock(&drain_lock);
}
