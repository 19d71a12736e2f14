/* Layout changes (brk, mmap, munmap, mprotect, ...) are decided on node 0
 * and applied on every node before the call returns: node 0's gmem calls
 * svc_publish under its lock, every other node applies the LAYOUT message
 * and ACKs it. */
#include "node/svc_int.h"

#include <stdlib.h>

#include "common/log.h"

/* One LAYOUT message of at most NODE_WIRE_LAYOUT_MAX changes to every
 * node, waiting for every ACK. */
static cvmm_status_t publish_one(const gmem_change_t *c, unsigned n)
{
	size_t cap = NODE_WIRE_HDR_LEN + (size_t)n * NODE_WIRE_CHANGE_LEN;
	node_hdr_t h = { .type = NODE_MSG_LAYOUT };
	uint8_t *buf = malloc(cap);
	svc_wait_t w;
	size_t len;
	uint32_t peers = 0; /* the nodes still in the VM */

	if (!buf)
		return CVMM_ERR_NOMEM;
	for (int k = 1; k < svc_nnodes(); k++)
		peers += !node_departed(k);
	h.id = svc_wait_open(&w, peers);
	len = node_wire_layout_encode(&h, c, n, buf, cap);
	for (int k = 1; k < svc_nnodes(); k++) {
		if (node_departed(k))
			continue;
		/* A node that cannot be reached is lost: the VM is ending
		 * (node_lost says why); wait for the others meanwhile. */
		if (svc_send(k, buf, len) != CVMM_OK)
			svc_reply(k, &(node_hdr_t){ .id = h.id }, NULL, 0);
	}
	free(buf);
	svc_wait_done(&w, h.id);
	return CVMM_OK;
}

cvmm_status_t svc_publish(const gmem_change_t *c, unsigned n)
{
	while (n > 0) {
		unsigned k = n > NODE_WIRE_LAYOUT_MAX ? NODE_WIRE_LAYOUT_MAX : n;
		cvmm_status_t st = publish_one(c, k);

		if (st != CVMM_OK)
			return st;
		c += k;
		n -= k;
	}
	return CVMM_OK;
}

void svc_on_layout(int src, const node_hdr_t *h, const void *msg,
		   size_t len)
{
	gmem_change_t *c = malloc(NODE_WIRE_LAYOUT_MAX * sizeof(*c));
	unsigned n;

	if (!c)
		die("out of memory applying a guest layout change");
	if (node_wire_layout_decode(msg, len, c, &n) != CVMM_OK) {
		log_warn("node %d: malformed layout message: dropped", src);
		free(c);
		return;
	}
	gmem_apply(svc_gm, c, n);
	free(c);
	svc_send_ack(src, h->id, 0);
}
