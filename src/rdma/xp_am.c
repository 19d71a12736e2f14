/* Active messages: one UCP AM id carries every message, with the xp_wire.h
 * header in the UCP AM header and the payload as AM data. The receiver
 * checks the header, then delivers each sender's messages in sequence
 * order: a message that must wait (a rendezvous payload still in transfer,
 * or an earlier message not yet delivered) is queued per sender, and the
 * queue drains as soon as its head is complete. Also the heartbeat. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "rdma/xp_int.h"

#define XP_BYE_MS 500

/* ---- delivery ------------------------------------------------------------ */

/* HELLO, HEARTBEAT (nothing to do: its arrival counted) and BYE. */
static void xp_rx_transport_msg(xp_peer_t *p, const xp_msg_hdr_t *h)
{
	if (h->len != 0 || h->id > XP_AM_BYE) {
		xp_peer_lose(p, "malformed message: transport message %u with "
			     "%llu bytes", h->id, (unsigned long long)h->len);
	} else if (h->id == XP_AM_HELLO) {
		atomic_store(&p->hello, true);
	} else if (h->id == XP_AM_BYE) {
		atomic_store(&p->bye, true);
		xp_peer_lose(p, "closed its transport");
	}
}

static void xp_rx_deliver(xp_peer_t *p, const xp_msg_hdr_t *h,
			  const void *data)
{
	xp_t *x = p->x;
	xp_am_fn_t fn;

	if (h->id < XP_AM_USER) {
		xp_rx_transport_msg(p, h);
		return;
	}
	if (atomic_load(&x->stop))
		return; /* xp_fini has begun: no more handlers */
	if (x->admit && !x->admit(p->rank, h->id, h->epoch))
		return;
	fn = atomic_load(&x->am[h->id].fn);
	if (!fn) {
		log_warn("dropped message %u from node %d: no handler", h->id,
			 p->rank);
		return;
	}
	xp_in_handler++;
	fn(x, p->rank, data, (size_t)h->len, atomic_load(&x->am[h->id].arg));
	xp_in_handler--;
}

static void xp_rxmsg_free(xp_rxmsg_t *m)
{
	if (m->data != m->inline_data)
		free(m->data);
	free(m);
}

/* Delivers the queued messages that are next in order and complete.
 * Called with p->rx_lock held. Inside a handler (a handler's message to its
 * own node, delivered synchronously by UCX's self transport) it only marks
 * p for xp_rx_run_deferred. */
static void xp_rx_drain(xp_peer_t *p)
{
	xp_rxmsg_t *m;

	if (xp_in_handler) {
		atomic_store(&p->rx_deferred, true);
		xp_drain_pending = true;
		return;
	}
	while ((m = p->rxq) && m->ready && m->hdr.seq == p->rx_seq) {
		p->rxq = m->next;
		if (!p->rxq)
			p->rxq_tail = NULL;
		p->rx_seq++;
		if (!m->failed && !atomic_load(&p->lost))
			xp_rx_deliver(p, &m->hdr, m->data);
		xp_rxmsg_free(m);
	}
}

/* Outside any handler, at the end of a UCX callback: drains the peers whose
 * messages arrived while a handler ran on this thread. */
static void xp_rx_run_deferred(xp_t *x)
{
	while (xp_drain_pending && !xp_in_handler) {
		xp_drain_pending = false;
		for (int r = 0; r < x->size; r++) {
			xp_peer_t *p = &x->peers[r];

			if (!atomic_exchange(&p->rx_deferred, false))
				continue;
			pthread_mutex_lock(&p->rx_lock);
			xp_rx_drain(p);
			pthread_mutex_unlock(&p->rx_lock);
		}
	}
}

/* Inserts m in sequence order; false for a duplicate sequence number. */
static bool xp_rx_insert(xp_peer_t *p, xp_rxmsg_t *m)
{
	uint32_t d = m->hdr.seq - p->rx_seq;
	xp_rxmsg_t **pp = &p->rxq;

	if (p->rxq_tail && p->rxq_tail->hdr.seq - p->rx_seq < d)
		pp = &p->rxq_tail->next;
	while (*pp && (*pp)->hdr.seq - p->rx_seq < d)
		pp = &(*pp)->next;
	if (*pp && (*pp)->hdr.seq == m->hdr.seq)
		return false;
	m->next = *pp;
	*pp = m;
	if (!m->next)
		p->rxq_tail = m;
	return true;
}

static void xp_rx_rndv_cb(void *req, ucs_status_t status, size_t length,
			  void *user_data)
{
	xp_rxmsg_t *m = user_data;
	xp_peer_t *p = m->peer;

	ucx.ucp_request_free(req);
	pthread_mutex_lock(&p->rx_lock);
	if (m->orphan) { /* xp_am_peer_reset let go of it */
		xp_rxmsg_free(m);
		pthread_mutex_unlock(&p->rx_lock);
		return;
	}
	m->ready = true;
	if (status != UCS_OK || length != m->hdr.len) {
		m->failed = true;
		xp_peer_lose(p, "rendezvous receive of %llu bytes failed "
			     "(UCX: %s)", (unsigned long long)m->hdr.len,
			     ucx.ucs_status_string(status));
	}
	xp_rx_drain(p);
	pthread_mutex_unlock(&p->rx_lock);
	xp_rx_run_deferred(p->x);
}

/* Starts fetching a rendezvous payload into m->data. */
static void xp_rx_rndv_start(xp_peer_t *p, xp_rxmsg_t *m, void *desc)
{
	ucp_request_param_t prm = {
		.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK |
				UCP_OP_ATTR_FIELD_USER_DATA,
		.cb.recv_am = xp_rx_rndv_cb,
		.user_data = m,
	};
	ucs_status_ptr_t sp;

	sp = ucx.ucp_am_recv_data_nbx(p->x->worker, desc, m->data,
				  (size_t)m->hdr.len, &prm);
	if (UCS_PTR_IS_PTR(sp))
		return;
	m->ready = true;
	if (UCS_PTR_IS_ERR(sp)) {
		m->failed = true;
		xp_peer_lose(p, "rendezvous receive of %llu bytes failed "
			     "(UCX: %s)", (unsigned long long)m->hdr.len,
			     ucx.ucs_status_string(UCS_PTR_STATUS(sp)));
	}
}

static xp_rxmsg_t *xp_rxmsg_new(xp_peer_t *p, const xp_msg_hdr_t *h,
				const void *data, bool rndv)
{
	size_t len = (size_t)h->len;
	xp_rxmsg_t *m = malloc(sizeof(*m) + (rndv ? 0 : len));

	if (!m)
		return NULL;
	m->next = NULL;
	m->peer = p;
	m->hdr = *h;
	m->ready = !rndv;
	m->failed = false;
	m->orphan = false;
	m->data = m->inline_data;
	if (!rndv) {
		if (len)
			memcpy(m->data, data, len);
	} else if (!(m->data = malloc(len ? len : 1))) {
		free(m);
		return NULL;
	}
	return m;
}

/* Takes a checked message from p; returns what the UCX callback returns. */
static ucs_status_t xp_rx_accept(xp_peer_t *p, const xp_msg_hdr_t *h,
				 void *data, bool rndv)
{
	uint32_t ahead = h->seq - p->rx_seq;
	xp_rxmsg_t *m;

	if (ahead == 0 && !p->rxq && !rndv && !xp_in_handler) {
		p->rx_seq++;
		xp_rx_deliver(p, h, data);
		xp_rx_drain(p);
		return UCS_OK;
	}
	if (ahead >= XP_RX_WINDOW) {
		xp_peer_lose(p, "malformed message: sequence %u, expected %u",
			     h->seq, p->rx_seq);
		return UCS_OK;
	}
	m = xp_rxmsg_new(p, h, data, rndv);
	if (!m) {
		xp_peer_lose(p, "out of memory for a %llu-byte message",
			     (unsigned long long)h->len);
		return UCS_OK;
	}
	if (!xp_rx_insert(p, m)) {
		xp_rxmsg_free(m);
		xp_peer_lose(p, "malformed message: duplicate sequence %u",
			     h->seq);
		return UCS_OK;
	}
	if (rndv)
		xp_rx_rndv_start(p, m, data);
	xp_rx_drain(p);
	return rndv ? UCS_INPROGRESS : UCS_OK;
}

/* A message not attributable to a rank of this job: dropped, and logged
 * once per claimed sender. */
static void xp_am_drop_foreign(xp_t *x, const void *hdr, size_t hlen,
			       const char *why)
{
	bool *warned = &x->warned_foreign, first;
	xp_msg_hdr_t h;
	int src = -1;

	if (xp_wire_decode(hdr, hlen, &h) == CVMM_OK &&
	    h.src < (uint32_t)x->size) {
		src = (int)h.src;
		warned = &x->peers[src].warned_cookie;
	}
	pthread_mutex_lock(&x->warn_lock);
	first = !*warned;
	*warned = true;
	pthread_mutex_unlock(&x->warn_lock);
	if (!first)
		return;
	if (src >= 0)
		log_warn("dropped message from node %d: %s", src, why);
	else
		log_warn("dropped message from an unknown sender: %s", why);
}

static ucs_status_t xp_am_recv_cb(void *arg, const void *header,
				  size_t header_length, void *data,
				  size_t length,
				  const ucp_am_recv_param_t *param)
{
	bool rndv = param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV;
	xp_t *x = arg;
	xp_msg_hdr_t h;
	xp_peer_t *p;
	ucs_status_t ret;
	cvmm_status_t st;
	char why[96];

	st = xp_wire_check(header_length ? header : NULL, header_length,
			   length, x->size, -1, x->cookie, &h, why,
			   sizeof(why));
	if (st == CVMM_ERR_INVALID) {
		xp_am_drop_foreign(x, header, header_length, why);
		return UCS_OK;
	}
	p = &x->peers[h.src];
	if (st != CVMM_OK) {
		xp_peer_lose(p, "malformed message: %s", why);
		return UCS_OK;
	}
	if (atomic_load(&p->lost))
		return UCS_OK;
	pthread_mutex_lock(&p->rx_lock);
	if (h.epoch < p->min_epoch) { /* an agent this rank had before */
		pthread_mutex_unlock(&p->rx_lock);
		return UCS_OK;
	}
	atomic_store(&p->last_seen_ns, cvmm_now_ns());
	ret = xp_rx_accept(p, &h, data, rndv);
	pthread_mutex_unlock(&p->rx_lock);
	xp_rx_run_deferred(x);
	return ret;
}

cvmm_status_t xp_am_init(xp_t *x)
{
	ucp_am_handler_param_t hp = {
		.field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID |
			      UCP_AM_HANDLER_PARAM_FIELD_FLAGS |
			      UCP_AM_HANDLER_PARAM_FIELD_CB |
			      UCP_AM_HANDLER_PARAM_FIELD_ARG,
		.id = XP_WIRE_UCP_AM_ID,
		.flags = UCP_AM_FLAG_WHOLE_MSG,
		.cb = xp_am_recv_cb,
		.arg = x,
	};
	ucs_status_t s = ucx.ucp_worker_set_am_recv_handler(x->worker, &hp);

	if (s != UCS_OK) {
		log_error("cannot set the active-message handler (UCX: %s)",
			  ucx.ucs_status_string(s));
		return xp_status_ucs(s);
	}
	return CVMM_OK;
}

void xp_set_admit(xp_t *x, xp_admit_fn_t fn)
{
	x->admit = fn;
}

void xp_set_epoch(xp_t *x, uint32_t epoch)
{
	atomic_store(&x->epoch, epoch);
}

cvmm_status_t xp_am_register(xp_t *x, unsigned id, xp_am_fn_t fn, void *arg)
{
	if (id < XP_AM_USER || id >= XP_AM_MAX || !fn) {
		log_error("cannot register active message %u: ids %d to %d",
			  id, XP_AM_USER, XP_AM_MAX - 1);
		return CVMM_ERR_INVALID;
	}
	atomic_store(&x->am[id].arg, arg);
	atomic_store(&x->am[id].fn, fn);
	return CVMM_OK;
}

/* ---- sending ------------------------------------------------------------- */

static ucs_status_ptr_t xp_am_post(xp_peer_t *p, xp_op_t *op, unsigned id,
				   const void *data, size_t len)
{
	xp_t *x = p->x;
	ucp_request_param_t prm;
	xp_msg_hdr_t h;

	xp_wire_fill(&h, id, x->rank, atomic_fetch_add(&p->tx_seq, 1),
		     (uint32_t)len, x->cookie);
	h.epoch = atomic_load(&x->epoch);
	xp_wire_encode(&h, op->hdr);
	xp_op_param(&prm, op);
	return ucx.ucp_am_send_nbx(p->ep, XP_WIRE_UCP_AM_ID, op->hdr,
			       XP_WIRE_HDR_LEN, data, len, &prm);
}

cvmm_status_t xp_am_send_until(xp_t *x, xp_peer_t *p, unsigned id,
			       const void *data, size_t len,
			       uint64_t deadline)
{
	xp_op_t *op = xp_op_new(0, 2);
	cvmm_status_t st;

	if (!op)
		return CVMM_ERR_NOMEM;
	st = xp_op_wait(x, p, op, xp_am_post(p, op, id, data, len), deadline,
			"active message");
	xp_op_put(op);
	return st;
}

/* From a handler: the worker cannot be progressed here, so the payload is
 * copied and the send completes on its own. */
cvmm_status_t xp_am_send_detached(xp_peer_t *p, unsigned id,
				  const void *data, size_t len)
{
	xp_op_t *op = xp_op_new(len, 1);
	ucs_status_ptr_t sp;

	if (!op)
		return CVMM_ERR_NOMEM;
	if (len)
		memcpy(op->copy, data, len);
	sp = xp_am_post(p, op, id, op->copy, len);
	if (UCS_PTR_IS_PTR(sp))
		return CVMM_OK;
	xp_op_put(op);
	if (!UCS_PTR_IS_ERR(sp))
		return CVMM_OK;
	if (atomic_load(&p->lost))
		return CVMM_ERR_PEER;
	log_error("active message to node %d failed (UCX: %s)", p->rank,
		  ucx.ucs_status_string(UCS_PTR_STATUS(sp)));
	return xp_status_ucs(UCS_PTR_STATUS(sp));
}

cvmm_status_t xp_am_send(xp_t *x, int peer, unsigned id, const void *data,
			 size_t len)
{
	xp_peer_t *p;
	cvmm_status_t st;

	if (id < XP_AM_USER || id >= XP_AM_MAX || (len && !data) ||
	    len > XP_WIRE_LEN_MAX) {
		log_error("cannot send active message %u of %zu bytes", id,
			  len);
		return CVMM_ERR_INVALID;
	}
	st = xp_peer_get(x, peer, "active message", &p);
	if (st == CVMM_OK)
		st = xp_in_handler
			     ? xp_am_send_detached(p, id, data, len)
			     : xp_am_send_until(x, p, id, data, len,
						cvmm_now_ns() + x->op_timeout_ns);
	/* the job is ending: a peer may be gone or going (lost, or its
	 * endpoint reset before that is noticed) */
	if (st != CVMM_OK && st != CVMM_ERR_INVALID && xp_is_quiet())
		return CVMM_OK;
	return st;
}

/* ---- heartbeat ----------------------------------------------------------- */

/* Sends a header-only HEARTBEAT unless the previous one is still going. */
static void xp_am_heartbeat_send(xp_t *x, xp_peer_t *p)
{
	ucp_request_param_t prm = {
		.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS,
		.flags = UCP_AM_SEND_FLAG_EAGER,
	};
	ucs_status_ptr_t sp;
	xp_msg_hdr_t h;

	if (p->hb_req) {
		if (ucx.ucp_request_check_status(p->hb_req) == UCS_INPROGRESS)
			return;
		ucx.ucp_request_free(p->hb_req);
		p->hb_req = NULL;
	}
	xp_wire_fill(&h, XP_AM_HEARTBEAT, x->rank,
		     atomic_fetch_add(&p->tx_seq, 1), 0, x->cookie);
	h.epoch = atomic_load(&x->epoch);
	xp_wire_encode(&h, p->hb_hdr);
	sp = ucx.ucp_am_send_nbx(p->ep, XP_WIRE_UCP_AM_ID, p->hb_hdr,
			     XP_WIRE_HDR_LEN, NULL, 0, &prm);
	if (UCS_PTR_IS_PTR(sp))
		p->hb_req = sp;
	else if (UCS_PTR_IS_ERR(sp))
		log_debug("heartbeat to node %d failed (UCX: %s)", p->rank,
			  ucx.ucs_status_string(UCS_PTR_STATUS(sp)));
}

/* Progress thread, every heartbeat_ms: declares silent peers lost and
 * sends a heartbeat to the others. */
void xp_am_heartbeat(xp_t *x, uint64_t now)
{
	uint64_t lost_ns = (uint64_t)x->o.lost_ms * XP_NS_PER_MS, silent;

	for (int r = 0; r < x->size; r++) {
		xp_peer_t *p = &x->peers[r];

		if (r == x->rank || !__atomic_load_n(&p->ep, __ATOMIC_ACQUIRE) ||
		    atomic_load(&p->lost))
			continue;
		silent = now - atomic_load(&p->last_seen_ns);
		if (now > atomic_load(&p->last_seen_ns) && silent > lost_ns) {
			xp_peer_lose(p, "no heartbeat for %.1f s",
				     (double)silent / 1e9);
			continue;
		}
		xp_am_heartbeat_send(x, p);
	}
}

/* xp_fini, progress thread stopped: tells every live peer that this node
 * closes in order, waiting at most XP_BYE_MS in all. */
void xp_am_bye(xp_t *x)
{
	uint64_t deadline = cvmm_now_ns() + XP_BYE_MS * XP_NS_PER_MS;

	for (int r = 0; r < x->size; r++) {
		xp_peer_t *p = &x->peers[r];

		if (r == x->rank || !p->ep || atomic_load(&p->lost))
			continue;
		if (xp_am_send_until(x, p, XP_AM_BYE, NULL, 0, deadline) ==
		    CVMM_ERR_TIMEOUT)
			break;
	}
}

void xp_am_peer_reset(xp_peer_t *p)
{
	xp_rxmsg_t *m, *next;

	pthread_mutex_lock(&p->rx_lock);
	for (m = p->rxq; m; m = next) {
		next = m->next;
		if (m->ready)
			xp_rxmsg_free(m);
		else
			m->orphan = true; /* its rendezvous callback frees it */
	}
	p->rxq = p->rxq_tail = NULL;
	p->rx_seq = 0;
	atomic_store(&p->rx_deferred, false);
	pthread_mutex_unlock(&p->rx_lock);
}

/* After the worker is gone: frees the messages still queued. */
void xp_am_fini(xp_t *x)
{
	for (int r = 0; x->peers && r < x->size; r++) {
		xp_peer_t *p = &x->peers[r];
		xp_rxmsg_t *m, *next;

		for (m = p->rxq; m; m = next) {
			next = m->next;
			xp_rxmsg_free(m);
		}
		p->rxq = p->rxq_tail = NULL;
	}
}
