/* A node joining a running VM (svc.h, node/join.c). Node 0 holds the
 * membership lock from the joiner's HELLO to its end, freezes the guest
 * layout and pauses the VM (nothing in flight), then:
 *
 *   JOIN    0 -> every node   node arg joins: here is its worker address
 *                             and memory key; connect to it (its HELLO
 *                             posted, not awaited) and record the key; ACK
 *   (node 0 sends the joiner the VM's membership, roles, the others'
 *   addresses and keys and the layout; the joiner connects to everyone)
 *   JOINED  0 -> every node   node arg is in the VM (epoch count): no
 *                             longer departed nor drained; ACK
 *
 * and resumes. The joiner plays no role and holds no page: its faults go
 * to the roles' nodes as anyone's, and threads come to it by placement,
 * the balancer or cvmm ctl migrate. A slot is any node out of the VM: a
 * free one from the start, or one whose node left; its new agent's
 * transport state and records start afresh on every node (node_peer_reset),
 * and the old agent's late messages, stamped with an earlier epoch, are
 * dropped. A join that fails after JOIN leaves the slot departed and the
 * VM as it was, and the slot unused from then on (its agent may still be
 * about, stamping the epoch the next joiner would). */
#include "node/svc_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/wire.h"
#include "core/gmem.h"
#include "core/stats_member.h"

#define JOIN_ACK_MS 10000

static bool slot_burned[NODE_SLOTS_MAX]; /* a join failed midway */
static bool slot_joined[NODE_SLOTS_MAX]; /* a node joined into it */
static bool joining; /* node 0: a join between its pause and its end */

/* ---- every node ---------------------------------------------------------- */

typedef struct join_conn {
	int src, k;
	uint64_t id;
	void *addr, *rkey;
	size_t addr_len, rkey_len;
} join_conn_t;

/* Node k joins: connect to it and record its memory key (both the caller's
 * and the JOIN handler's way). */
static cvmm_status_t connect_to(int k, const void *addr, size_t alen,
				const void *rkey, size_t rlen)
{
	uint64_t base = (uint64_t)(uintptr_t)gmem_agent(GMEM_LO);
	cvmm_status_t st = node_peer_reset(k, svc_epoch() + 1);

	if (st == CVMM_OK) {
		svc_load_forget(k);
		svc_balance_forget(k);
		st = node_peer_keep(k, addr, alen, rkey, rlen);
	}
	if (st == CVMM_OK)
		st = xp_connect_peer(node_xp(), k, addr, alen);
	if (st == CVMM_OK)
		st = xp_mem_remote(node_xp(), k, base, GMEM_HI - GMEM_LO, rkey,
				   rlen);
	if (st != CVMM_OK)
		log_error("join: cannot connect to node %d: %s", k,
			  cvmm_status_str(st));
	return st;
}

static void *join_conn_main(void *arg)
{
	join_conn_t *c = arg;
	cvmm_status_t st = connect_to(c->k, c->addr, c->addr_len, c->rkey,
				      c->rkey_len);

	svc_send_ack(c->src, c->id, st == CVMM_OK ? 0 : -1);
	free(c->addr);
	free(c->rkey);
	free(c);
	return NULL;
}

void svc_on_join(int src, const node_hdr_t *h, const void *msg, size_t len)
{
	join_conn_t *c = calloc(1, sizeof(*c));
	const void *addr, *rkey;
	size_t alen, rlen;
	pthread_t t;

	if (!c || node_wire_join_decode(msg, len, &addr, &alen, &rkey,
					&rlen) != CVMM_OK ||
	    h->arg <= 0 || h->arg >= svc_nnodes() || h->arg == svc_self() ||
	    !node_departed((int)h->arg)) {
		log_warn("node %d: malformed or misplaced join message: "
			 "refused", src);
		free(c);
		svc_send_ack(src, h->id, -1);
		return;
	}
	*c = (join_conn_t){ .src = src, .k = (int)h->arg, .id = h->id,
			    .addr = malloc(alen), .rkey = malloc(rlen ? rlen : 1),
			    .addr_len = alen, .rkey_len = rlen };
	if (c->addr && c->rkey) {
		memcpy(c->addr, addr, alen);
		memcpy(c->rkey, rkey, rlen);
	}
	/* connecting waits for UCX: not in a handler */
	if (!c->addr || !c->rkey ||
	    pthread_create(&t, NULL, join_conn_main, c) != 0) {
		free(c->addr);
		free(c->rkey);
		free(c);
		svc_send_ack(src, h->id, -1);
		return;
	}
	pthread_detach(t);
}

static void joined_here(int k, uint64_t epoch)
{
	if (k >= 0 && k < NODE_SLOTS_MAX)
		__atomic_store_n(&slot_joined[k], true, __ATOMIC_RELEASE);
	node_set_joined(k, epoch);
	if (cvmm_coh_on && coh_rt_join((uint32_t)k) != CVMM_OK)
		svc_vm_end("join: this node could not take a node in");
	node_vcpus_rehost(svc_vm); /* its slot's vCPUs come back to it */
	svc_drained_set(svc_drained_mask() & ~(1ull << k));
	svc_epoch_set(epoch);
	log_info("node %d joined the VM (epoch %llu)", k,
		 (unsigned long long)epoch);
}

void svc_on_joined(int src, const node_hdr_t *h)
{
	if (h->arg <= 0 || h->arg >= svc_nnodes() || h->arg == svc_self()) {
		log_warn("node %d: malformed joined message: dropped", src);
		svc_send_ack(src, h->id, -1);
		return;
	}
	joined_here((int)h->arg, h->count);
	svc_send_ack(src, h->id, 0);
}

/* ---- node 0 -------------------------------------------------------------- */

int node_svc_join_begin(uint64_t epoch, char *why, size_t cap)
{
	int k = -1;

	if (svc_self() != 0 || !svc_vm) {
		snprintf(why, cap, "not node 0 of a VM");
		return -1;
	}
	svc_member_lock();
	if (epoch && epoch != svc_epoch()) {
		snprintf(why, cap, "stale epoch %llu: the VM's membership is "
			 "at epoch %llu", (unsigned long long)epoch,
			 (unsigned long long)svc_epoch());
		goto refuse;
	}
	for (int j = 1; j < svc_nnodes() && k < 0; j++)
		if (node_svc_slot_free(j))
			k = j;
	if (k < 0) {
		snprintf(why, cap, "no free slot: the VM's %d (--max-nodes) "
			 "are all in use", svc_nnodes());
		goto refuse;
	}
	return k; /* used once others connect to it (join_connect) */
refuse:
	svc_member_unlock();
	return -1;
}

cvmm_status_t node_svc_join_connect(int k, const void *addr, size_t alen,
				    const void *rkey, size_t rlen, char *why,
				    size_t cap)
{
	size_t mlen = NODE_WIRE_HDR_LEN + NODE_WIRE_JOIN_FIXED + alen + rlen;
	uint8_t *msg = malloc(mlen);
	cvmm_status_t st = CVMM_OK;

	if (!msg) {
		snprintf(why, cap, "out of memory");
		return CVMM_ERR_NOMEM;
	}
	gmem_freeze(svc_gm); /* no layout change until the joiner has it */
	if (svc_change_pause(why, cap) != CVMM_OK) {
		gmem_thaw(svc_gm);
		free(msg);
		return CVMM_ERR_TIMEOUT;
	}
	joining = true; /* from here on nodes may hold an endpoint to it */
	for (int j = 1; j < svc_nnodes() && st == CVMM_OK; j++) {
		node_hdr_t h = { .type = NODE_MSG_JOIN, .arg = k };
		svc_wait_t w;

		if (node_departed(j))
			continue;
		h.id = svc_wait_open(&w, 1);
		if (node_wire_join_encode(&h, addr, alen, rkey, rlen, msg,
					  mlen) != mlen ||
		    svc_send(j, msg, mlen) != CVMM_OK) {
			svc_wait_close(h.id);
			st = CVMM_ERR_PEER;
		} else if (!svc_wait_done_ms(&w, h.id, JOIN_ACK_MS) ||
			   w.ret < 0) {
			st = CVMM_ERR_PEER;
		}
		if (st != CVMM_OK)
			snprintf(why, cap, "node %d could not connect to the "
				 "new node", j);
	}
	if (st == CVMM_OK && connect_to(k, addr, alen, rkey, rlen) != CVMM_OK) {
		snprintf(why, cap, "node 0 could not connect to the new node");
		st = CVMM_ERR_PEER;
	}
	free(msg);
	return st;
}

void node_svc_join_end(int k, bool ok, uint64_t t0, char *out, size_t cap)
{
	if (ok) {
		uint64_t e = svc_epoch() + 1;

		for (int j = 1; j < svc_nnodes(); j++) {
			node_hdr_t h = { .type = NODE_MSG_JOINED, .arg = k,
					 .count = (uint32_t)e };

			if (j == k || node_departed(j))
				continue;
			if (svc_ask(j, &h, NULL, NULL, JOIN_ACK_MS) < 0)
				svc_vm_end("join: a node did not take another's "
					   "joining");
		}
		joined_here(k, e);
		svc_member_log(MEMBER_JOIN, k, -1, t0, 0);
		snprintf(out, cap, "node %d joined (epoch %llu)", k,
			 (unsigned long long)e);
	} else {
		/* others may be connected to it: it stays departed, its going
		 * no loss, its slot unused */
		if (node_xp())
			xp_peer_expect_gone(node_xp(), k);
		if (joining)
			__atomic_store_n(&slot_burned[k], true,
					 __ATOMIC_RELEASE);
		snprintf(out, cap, "node %d did not join", k);
	}
	if (joining) {
		svc_change_resume();
		gmem_thaw(svc_gm);
		joining = false;
	}
	svc_member_unlock();
}

void node_svc_join_state(uint64_t *live, uint64_t *drained, uint8_t *roles)
{
	*live = 0;
	for (int j = 0; j < svc_nnodes(); j++)
		if (!node_departed(j))
			*live |= 1ull << j;
	*drained = svc_drained_mask();
	memcpy(roles, svc_roles(), (size_t)svc_nnodes());
}

uint64_t node_svc_epoch(void)
{
	return svc_epoch();
}

void node_svc_join_apply(uint64_t drained, uint64_t epoch)
{
	svc_drained_set(drained);
	if (epoch)
		svc_epoch_set(epoch);
}

bool node_svc_slot_free(int k)
{
	return k > 0 && k < svc_nnodes() && k < NODE_SLOTS_MAX &&
	       node_departed(k) &&
	       !__atomic_load_n(&slot_burned[k], __ATOMIC_ACQUIRE);
}

bool node_svc_slot_left(int k)
{
	return k > 0 && k < svc_nnodes() && k < NODE_SLOTS_MAX &&
	       node_departed(k) &&
	       (k < node_live_at_start() ||
		__atomic_load_n(&slot_joined[k], __ATOMIC_ACQUIRE));
}

int node_svc_free_slots(void)
{
	int n = 0;

	for (int k = 0; k < svc_nnodes(); k++)
		n += node_svc_slot_free(k);
	return n;
}
