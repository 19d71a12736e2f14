/* Memory registration, remote keys, and the one-sided operations: get, put,
 * flush and 64-bit atomics. Remote addresses are the peer's own virtual
 * addresses inside the region it registered; rkeys are unpacked per
 * endpoint on first use and cached. */
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "rdma/xp_int.h"

cvmm_status_t xp_mem_remote(xp_t *x, int peer, uint64_t base, uint64_t len,
			    const void *rkey, size_t rkey_len)
{
	cvmm_status_t st = CVMM_OK;
	xp_peer_t *p;
	void *blob;

	if (peer < 0 || peer >= x->size || !rkey || rkey_len == 0 ||
	    len == 0 || base + len < base) {
		log_error("bad remote region for node %d", peer);
		return CVMM_ERR_INVALID;
	}
	p = &x->peers[peer];
	blob = malloc(rkey_len);
	if (!blob)
		return CVMM_ERR_NOMEM;
	memcpy(blob, rkey, rkey_len);
	pthread_mutex_lock(&p->rkey_lock);
	if (p->rkey_blob) {
		st = CVMM_ERR_EXISTS;
		free(blob);
	} else {
		p->rbase = base;
		p->rlen = len;
		p->rkey_blob = blob;
		p->rkey_len = rkey_len;
	}
	pthread_mutex_unlock(&p->rkey_lock);
	if (st != CVMM_OK)
		log_error("node %d's region is already recorded", peer);
	return st;
}

static cvmm_status_t xp_mem_map(xp_t *x, void *base, size_t len)
{
	ucp_mem_map_params_t mp = {
		.field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS |
			      UCP_MEM_MAP_PARAM_FIELD_LENGTH |
			      UCP_MEM_MAP_PARAM_FIELD_FLAGS,
		.address = base,
		.length = len,
		/* don't populate: the region is a sparse reservation (on
		 * InfiniBand this asks for on-demand paging) */
		.flags = UCP_MEM_MAP_NONBLOCK,
	};
	ucs_status_t s;

	s = ucx.ucp_mem_map(x->ctx, &mp, &x->memh);
	if (s != UCS_OK) {
		x->memh = NULL;
		log_error("cannot register %zu bytes at %p (UCX: %s)", len,
			  base, ucx.ucs_status_string(s));
		return xp_status_ucs(s);
	}
	s = ucx.ucp_rkey_pack(x->ctx, x->memh, &x->rkey_buf, &x->rkey_buf_len);
	if (s != UCS_OK) {
		x->rkey_buf = NULL;
		log_error("cannot pack the remote key (UCX: %s)",
			  ucx.ucs_status_string(s));
		return xp_status_ucs(s);
	}
	return CVMM_OK;
}

cvmm_status_t xp_mem_register(xp_t *x, void *base, size_t len,
			      const void **rkey, size_t *rkey_len)
{
	cvmm_status_t st;

	if (x->memh || !base || len == 0) {
		log_error("cannot register %zu bytes at %p%s", len, base,
			  x->memh ? ": a region is already registered" : "");
		return x->memh ? CVMM_ERR_EXISTS : CVMM_ERR_INVALID;
	}
	st = xp_mem_map(x, base, len);
	if (st == CVMM_OK)
		st = xp_mem_remote(x, x->rank, (uint64_t)(uintptr_t)base, len,
				   x->rkey_buf, x->rkey_buf_len);
	if (st != CVMM_OK)
		return st;
	*rkey = x->rkey_buf;
	*rkey_len = x->rkey_buf_len;
	return CVMM_OK;
}

static cvmm_status_t xp_peer_rkey_unpack(xp_peer_t *p, const char *what)
{
	cvmm_status_t st = CVMM_OK;
	ucs_status_t s;

	pthread_mutex_lock(&p->rkey_lock);
	if (atomic_load(&p->rkey_ready))
		goto out_unlock;
	if (!p->rkey_blob) {
		log_error("%s to node %d: its region is not recorded", what,
			  p->rank);
		st = CVMM_ERR_NOT_FOUND;
		goto out_unlock;
	}
	s = ucx.ucp_ep_rkey_unpack(p->ep, p->rkey_blob, &p->rkey);
	if (s != UCS_OK) {
		log_error("cannot unpack node %d's remote key (UCX: %s)",
			  p->rank, ucx.ucs_status_string(s));
		st = xp_status_ucs(s);
		goto out_unlock;
	}
	atomic_store_explicit(&p->rkey_ready, true, memory_order_release);
out_unlock:
	pthread_mutex_unlock(&p->rkey_lock);
	return st;
}

/* The remote key for [remote, remote+len) at p, which must lie inside p's
 * registered region. */
static cvmm_status_t xp_peer_rkey(xp_peer_t *p, uint64_t remote, size_t len,
				  const char *what, ucp_rkey_h *out)
{
	cvmm_status_t st;

	if (!atomic_load_explicit(&p->rkey_ready, memory_order_acquire)) {
		st = xp_peer_rkey_unpack(p, what);
		if (st != CVMM_OK)
			return st;
	}
	if (remote < p->rbase || len > p->rlen ||
	    remote - p->rbase > p->rlen - len) {
		log_error("%s of %zu bytes at 0x%llx: outside node %d's region",
			  what, len, (unsigned long long)remote, p->rank);
		return CVMM_ERR_RANGE;
	}
	*out = p->rkey;
	return CVMM_OK;
}

/* Finds the peer and the key for a one-sided operation. */
static cvmm_status_t xp_rma_prepare(xp_t *x, int peer, uint64_t remote,
				    size_t len, const char *what,
				    xp_peer_t **p, ucp_rkey_h *rkey)
{
	cvmm_status_t st;

	if (xp_refuse_in_handler(what))
		return CVMM_ERR_INVALID;
	st = xp_peer_get(x, peer, what, p);
	if (st != CVMM_OK)
		return st;
	return xp_peer_rkey(*p, remote, len, what, rkey);
}

static cvmm_status_t xp_rma(xp_t *x, int peer, void *local, uint64_t remote,
			    size_t len, bool put)
{
	const char *what = put ? "put" : "get";
	ucp_request_param_t prm;
	ucs_status_ptr_t sp;
	cvmm_status_t st;
	ucp_rkey_h rkey;
	xp_peer_t *p;
	xp_op_t *op;

	st = xp_rma_prepare(x, peer, remote, len, what, &p, &rkey);
	if (st != CVMM_OK || len == 0)
		return st;
	if (!local)
		return CVMM_ERR_INVALID;
	op = xp_op_new(0, 2);
	if (!op)
		return CVMM_ERR_NOMEM;
	xp_op_param(&prm, op);
	if (put)
		sp = ucx.ucp_put_nbx(p->ep, local, len, remote, rkey, &prm);
	else
		sp = ucx.ucp_get_nbx(p->ep, local, len, remote, rkey, &prm);
	st = xp_op_wait(x, p, op, sp, cvmm_now_ns() + x->op_timeout_ns, what);
	xp_op_put(op);
	return st;
}

cvmm_status_t xp_get(xp_t *x, int peer, void *local, uint64_t remote,
		     size_t len)
{
	return xp_rma(x, peer, local, remote, len, false);
}

cvmm_status_t xp_put(xp_t *x, int peer, const void *local, uint64_t remote,
		     size_t len)
{
	return xp_rma(x, peer, (void *)local, remote, len, true);
}

cvmm_status_t xp_flush(xp_t *x, int peer)
{
	ucp_request_param_t prm;
	ucs_status_ptr_t sp;
	cvmm_status_t st;
	xp_peer_t *p;
	xp_op_t *op;

	if (xp_refuse_in_handler("flush"))
		return CVMM_ERR_INVALID;
	st = xp_peer_get(x, peer, "flush", &p);
	if (st != CVMM_OK)
		return st;
	op = xp_op_new(0, 2);
	if (!op)
		return CVMM_ERR_NOMEM;
	xp_op_param(&prm, op);
	sp = ucx.ucp_ep_flush_nbx(p->ep, &prm);
	st = xp_op_wait(x, p, op, sp, cvmm_now_ns() + x->op_timeout_ns, "flush");
	xp_op_put(op);
	return st;
}

/* One 64-bit atomic: a is the operand (the compare value for CSWAP), b the
 * swap value; *old gets the previous remote value. */
static cvmm_status_t xp_amo(xp_t *x, int peer, ucp_atomic_op_t opc,
			    uint64_t remote, uint64_t a, uint64_t b,
			    uint64_t *old, const char *what)
{
	ucp_request_param_t prm;
	ucs_status_ptr_t sp;
	cvmm_status_t st;
	ucp_rkey_h rkey;
	xp_peer_t *p;
	xp_op_t *op;

	if (remote % 8) {
		log_error("%s at 0x%llx: not 8-byte aligned", what,
			  (unsigned long long)remote);
		return CVMM_ERR_INVALID;
	}
	st = xp_rma_prepare(x, peer, remote, 8, what, &p, &rkey);
	if (st != CVMM_OK)
		return st;
	op = xp_op_new(0, 2);
	if (!op)
		return CVMM_ERR_NOMEM;
	op->val[0] = a;
	op->val[1] = b;
	xp_op_param(&prm, op);
	prm.op_attr_mask |= UCP_OP_ATTR_FIELD_DATATYPE |
			    UCP_OP_ATTR_FIELD_REPLY_BUFFER;
	prm.datatype = ucp_dt_make_contig(8);
	prm.reply_buffer = &op->val[1];
	sp = ucx.ucp_atomic_op_nbx(p->ep, opc, &op->val[0], 1, remote, rkey,
				   &prm);
	st = xp_op_wait(x, p, op, sp, cvmm_now_ns() + x->op_timeout_ns, what);
	if (st == CVMM_OK && old)
		*old = op->val[1];
	xp_op_put(op);
	return st;
}

cvmm_status_t xp_fadd64(xp_t *x, int peer, uint64_t remote, uint64_t add,
			uint64_t *old)
{
	return xp_amo(x, peer, UCP_ATOMIC_OP_ADD, remote, add, 0, old,
		      "fetch-add");
}

cvmm_status_t xp_cswap64(xp_t *x, int peer, uint64_t remote, uint64_t cmp,
			 uint64_t swap, uint64_t *old)
{
	return xp_amo(x, peer, UCP_ATOMIC_OP_CSWAP, remote, cmp, swap, old,
		      "compare-and-swap");
}

/* Before the endpoints close: destroys the unpacked keys and unmaps. */
void xp_mem_fini(xp_t *x)
{
	for (int r = 0; r < x->size; r++) {
		xp_peer_t *p = &x->peers[r];

		if (atomic_load(&p->rkey_ready))
			ucx.ucp_rkey_destroy(p->rkey);
		atomic_store(&p->rkey_ready, false);
		free(p->rkey_blob);
		p->rkey_blob = NULL;
	}
	if (x->rkey_buf)
		ucx.ucp_rkey_buffer_release(x->rkey_buf);
	x->rkey_buf = NULL;
	if (x->memh)
		ucx.ucp_mem_unmap(x->ctx, x->memh);
	x->memh = NULL;
}
