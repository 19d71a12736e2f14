/* The transport on UCX UCP: context and worker, peers and their loss,
 * endpoints and the HELLO exchange, the progress thread with heartbeat and
 * loss reporting, and teardown. Blocking waits live in xp_op.c, active
 * messages in xp_am.c, registration and one-sided operations in xp_mem.c. */
#include "rdma/xp.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "rdma/xp_int.h"

#define XP_DEFAULT_HEARTBEAT_MS 500
#define XP_DEFAULT_LOST_MS 3000
#define XP_DEFAULT_OP_TIMEOUT_MS 10000
#define XP_DEFAULT_SPIN_US 50
#define XP_CLOSE_TIMEOUT_MS 2000
#define XP_WAITER_NAP_NS 200000 /* progress thread, while a caller waits */

const char *const xp_transport_names[] = {
	[XP_TRANSPORT_AUTO] = "auto", [XP_TRANSPORT_RDMA] = "rdma",
	[XP_TRANSPORT_TCP] = "tcp",   [XP_TRANSPORT_SHM] = "shm",
	NULL,
};

/* UCX_TLS per transport (NULL: leave UCX's default or the user's UCX_TLS). */
static const char *const xp_transport_tls[] = {
	[XP_TRANSPORT_AUTO] = NULL,
	[XP_TRANSPORT_RDMA] = "ib,self",
	[XP_TRANSPORT_TCP] = "tcp,self",
	[XP_TRANSPORT_SHM] = "sm,self",
};

const char *const xp_progress_names[] = {
	[XP_PROGRESS_HYBRID] = "hybrid",
	[XP_PROGRESS_POLL] = "poll",
	[XP_PROGRESS_EVENT] = "event",
	NULL,
};

/* ---- context and worker -------------------------------------------------- */

static cvmm_status_t xp_ctx_create(xp_t *x)
{
	ucp_params_t prm = {
		.field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_NAME,
		.features = UCP_FEATURE_RMA | UCP_FEATURE_AMO64 |
			    UCP_FEATURE_AM | UCP_FEATURE_WAKEUP,
		.name = "cvmm",
	};
	const char *tls = xp_transport_tls[x->o.transport];
	ucp_config_t *cfg;
	ucs_status_t s;

	s = ucx.ucp_config_read(NULL, NULL, &cfg);
	if (s != UCS_OK) {
		log_error("cannot read the ucx configuration (UCX: %s)",
			  ucx.ucs_status_string(s));
		return CVMM_ERR_INVALID;
	}
	if (tls)
		s = ucx.ucp_config_modify(cfg, "TLS", tls);
	if (s == UCS_OK && x->o.iface)
		s = ucx.ucp_config_modify(cfg, "NET_DEVICES", x->o.iface);
	/* Messages up to XP_AM_EAGER go eagerly (in fragments where the
	 * transport's are smaller) rather than by rendezvous, a round trip
	 * before the bytes: the release model's diffs leave in batches of
	 * that size (lu on 2 nodes -11%, docs/performance.md). A threshold
	 * the user set stays, and batches stay small then. */
	x->am_eager = 8u << 10;
	if (s == UCS_OK && !getenv("UCX_RNDV_THRESH")) {
		char v[32];

		snprintf(v, sizeof(v), "%u", 2 * XP_AM_EAGER);
		if (ucx.ucp_config_modify(cfg, "RNDV_THRESH", v) == UCS_OK)
			x->am_eager = XP_AM_EAGER;
		else
			log_debug("ucx refused RNDV_THRESH=%s: messages batched "
				  "up to 8 KiB", v);
	}
	if (s == UCS_OK) /* ucp_init, an inline function */
		s = ucx.ucp_init_version(UCP_API_MAJOR, UCP_API_MINOR, &prm,
					 cfg, &x->ctx);
	ucx.ucp_config_release(cfg);
	if (s != UCS_OK) {
		log_error("cannot start ucx for transport %s (UCX: %s)",
			  xp_transport_names[x->o.transport],
			  ucx.ucs_status_string(s));
		return xp_status_ucs(s);
	}
	return CVMM_OK;
}

/* Counts the network or shared-memory resources (everything but "self")
 * UCX found, from the context's printed description. */
static int xp_ctx_count_resources(xp_t *x, char *names, size_t len)
{
	char *buf = NULL, *line, *save = NULL, *tl;
	size_t blen = 0, used = 0;
	FILE *f = open_memstream(&buf, &blen);
	int n = 0;

	if (!f)
		return -1;
	ucx.ucp_context_print_info(x->ctx, f);
	fclose(f);
	names[0] = '\0';
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (!strstr(line, "resource") || !(tl = strstr(line, "-- ")))
			continue;
		tl += 3;
		if (used < len)
			used += (size_t)snprintf(names + used, len - used,
						 "%s%s", used ? " " : "", tl);
		if (strncmp(tl, "self/", 5) != 0)
			n++;
	}
	free(buf);
	return n;
}

static cvmm_status_t xp_ctx_check(xp_t *x)
{
	char names[256];
	int n = xp_ctx_count_resources(x, names, sizeof(names));

	if (n < 0) {
		log_error("cannot list ucx resources: %m");
		return CVMM_ERR_IO;
	}
	log_debug("ucx resources for transport %s: %s",
		  xp_transport_names[x->o.transport], names);
	if (n > 0 || (x->o.transport == XP_TRANSPORT_AUTO && x->size == 1))
		return CVMM_OK;
	log_error("transport %s is not available here (ucx found only: %s)",
		  xp_transport_names[x->o.transport], names);
	return CVMM_ERR_UNSUPPORTED;
}

static cvmm_status_t xp_worker_create(xp_t *x)
{
	ucp_worker_params_t wp = {
		.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE,
		.thread_mode = UCS_THREAD_MODE_MULTI,
	};
	ucp_worker_attr_t wa = {
		.field_mask = UCP_WORKER_ATTR_FIELD_THREAD_MODE |
			      UCP_WORKER_ATTR_FIELD_MAX_AM_HEADER,
	};
	ucs_status_t s;

	s = ucx.ucp_worker_create(x->ctx, &wp, &x->worker);
	if (s != UCS_OK) {
		log_error("cannot create the ucx worker (UCX: %s)",
			  ucx.ucs_status_string(s));
		return xp_status_ucs(s);
	}
	s = ucx.ucp_worker_query(x->worker, &wa);
	if (s != UCS_OK || wa.thread_mode != UCS_THREAD_MODE_MULTI ||
	    wa.max_am_header < XP_WIRE_HDR_LEN) {
		log_error("the ucx worker lacks multi-thread mode or a %d-byte "
			  "active-message header", XP_WIRE_HDR_LEN);
		return CVMM_ERR_UNSUPPORTED;
	}
	s = ucx.ucp_worker_get_efd(x->worker, &x->efd);
	if (s == UCS_OK)
		s = ucx.ucp_worker_get_address(x->worker, &x->addr,
					       &x->addr_len);
	if (s != UCS_OK) {
		log_error("cannot get the ucx worker's event fd or address "
			  "(UCX: %s)", ucx.ucs_status_string(s));
		return xp_status_ucs(s);
	}
	return CVMM_OK;
}

static cvmm_status_t xp_peers_alloc(xp_t *x)
{
	pthread_mutexattr_t rec;

	pthread_mutexattr_init(&rec);
	pthread_mutexattr_settype(&rec, PTHREAD_MUTEX_RECURSIVE);
	x->peers = calloc((size_t)x->size, sizeof(*x->peers));
	if (!x->peers) {
		log_error("out of memory for %d peers", x->size);
		return CVMM_ERR_NOMEM;
	}
	for (int i = 0; i < x->size; i++) {
		x->peers[i].x = x;
		x->peers[i].rank = i;
		pthread_mutex_init(&x->peers[i].lock, NULL);
		pthread_mutex_init(&x->peers[i].rx_lock, &rec);
		pthread_mutex_init(&x->peers[i].rkey_lock, NULL);
	}
	pthread_mutexattr_destroy(&rec);
	return CVMM_OK;
}

static void xp_opts_default(xp_t *x, const xp_opts_t *o)
{
	x->o = *o;
	if (x->o.heartbeat_ms <= 0)
		x->o.heartbeat_ms = XP_DEFAULT_HEARTBEAT_MS;
	if (x->o.lost_ms <= 0)
		x->o.lost_ms = XP_DEFAULT_LOST_MS;
	if (x->o.spin_us <= 0)
		x->o.spin_us = XP_DEFAULT_SPIN_US;
	if (x->o.op_timeout_ms <= 0)
		x->o.op_timeout_ms = XP_DEFAULT_OP_TIMEOUT_MS;
	x->op_timeout_ns = (uint64_t)x->o.op_timeout_ms * XP_NS_PER_MS;
}

cvmm_status_t xp_init(const xp_opts_t *o, int rank, int size, uint64_t cookie,
		      xp_t **out)
{
	cvmm_status_t st = CVMM_ERR_INVALID;
	xp_t *x;

	if (!o || size <= 0 || rank < 0 || rank >= size ||
	    (unsigned)o->transport > XP_TRANSPORT_SHM ||
	    (unsigned)o->progress > XP_PROGRESS_EVENT) {
		log_error("bad transport options (rank %d size %d)", rank,
			  size);
		return CVMM_ERR_INVALID;
	}
	if (ucx_load(LOG_LVL_ERROR) != CVMM_OK)
		return CVMM_ERR_UNSUPPORTED;
	x = calloc(1, sizeof(*x));
	if (!x)
		return CVMM_ERR_NOMEM;
	xp_opts_default(x, o);
	x->rank = rank;
	x->size = size;
	x->cookie = cookie;
	x->efd = -1;
	pthread_mutex_init(&x->warn_lock, NULL);
	pthread_mutex_init(&x->reset_lock, NULL);
	pthread_cond_init(&x->reset_cond, NULL);
	x->reset_peer = -1;
	if ((st = xp_peers_alloc(x)) != CVMM_OK ||
	    (st = xp_ctx_create(x)) != CVMM_OK ||
	    (st = xp_ctx_check(x)) != CVMM_OK ||
	    (st = xp_worker_create(x)) != CVMM_OK ||
	    (st = xp_am_init(x)) != CVMM_OK)
		goto err_fini;
	*out = x;
	return CVMM_OK;
err_fini:
	xp_fini(x);
	return st;
}

cvmm_status_t xp_address(xp_t *x, const void **addr, size_t *len)
{
	*addr = x->addr;
	*len = x->addr_len;
	return CVMM_OK;
}

int xp_rank(const xp_t *x)
{
	return x->rank;
}

int xp_size(const xp_t *x)
{
	return x->size;
}

/* ---- peers and loss ------------------------------------------------------ */

/* Records that p is lost (the first reason wins) and wakes the progress
 * thread, which reports it. Safe from any thread and any UCX callback. */
void xp_peer_lose(xp_peer_t *p, const char *fmt, ...)
{
	xp_t *x = p->x;
	va_list ap;

	pthread_mutex_lock(&p->lock);
	if (atomic_load(&p->lost)) {
		pthread_mutex_unlock(&p->lock);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(p->lost_reason, sizeof(p->lost_reason), fmt, ap);
	va_end(ap);
	atomic_store(&p->lost, true);
	pthread_mutex_unlock(&p->lock);
	/* The lost callback's owner reports it to the user (or not, when
	 * the job is ending anyway: at the end every node leaves before
	 * node 0) */
	if (atomic_load(&p->bye) || xp_is_quiet())
		log_debug("node %d %s", p->rank, p->lost_reason);
	else
		log_info("node %d lost: %s", p->rank, p->lost_reason);
	atomic_store(&x->lost_pending, true);
	if (x->worker)
		ucx.ucp_worker_signal(x->worker);
}

cvmm_status_t xp_peer_get(xp_t *x, int peer, const char *what,
			  xp_peer_t **out)
{
	xp_peer_t *p;

	if (peer < 0 || peer >= x->size) {
		log_error("%s to node %d: no such node (size %d)", what, peer,
			  x->size);
		return CVMM_ERR_INVALID;
	}
	p = &x->peers[peer];
	if (!__atomic_load_n(&p->ep, __ATOMIC_ACQUIRE)) {
		log_error("%s to node %d: not connected", what, peer);
		return CVMM_ERR_INVALID;
	}
	if (atomic_load(&p->lost))
		return CVMM_ERR_PEER;
	*out = p;
	return CVMM_OK;
}

static void xp_ep_err_cb(void *arg, ucp_ep_h ep, ucs_status_t status)
{
	xp_peer_t *p = arg;

	if (ep != __atomic_load_n(&p->ep, __ATOMIC_ACQUIRE))
		return; /* an endpoint closed by xp_peer_reset */

	xp_peer_lose(p, "connection reset (UCX: %s)",
		     ucx.ucs_status_string(status));
}

/* ---- endpoints and the HELLO exchange ------------------------------------ */

static cvmm_status_t xp_ep_create(xp_t *x, xp_peer_t *p, const void *addr)
{
	ucp_ep_h ep_h = NULL;
	ucp_ep_params_t ep = {
		.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS |
			      UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE |
			      UCP_EP_PARAM_FIELD_ERR_HANDLER,
		.address = addr,
		.err_mode = UCP_ERR_HANDLING_MODE_PEER,
		.err_handler = { .cb = xp_ep_err_cb, .arg = p },
	};
	ucs_status_t s;

	/* UCX 1.13 turns off its shared-memory transports under PEER mode;
	 * shm relies on the heartbeat alone. So does auto when the user's
	 * UCX_TLS leaves nothing that can report a dead peer. The loopback
	 * endpoint cannot lose its peer and uses UCX's self transport. */
	if (x->o.transport == XP_TRANSPORT_SHM || p->rank == x->rank)
		ep.err_mode = UCP_ERR_HANDLING_MODE_NONE;
	s = ucx.ucp_ep_create(x->worker, &ep, &ep_h);
	if (s == UCS_ERR_UNREACHABLE && x->o.transport == XP_TRANSPORT_AUTO) {
		log_info("node %d: no transport reports peer failure; relying "
			 "on the heartbeat", p->rank);
		ep.err_mode = UCP_ERR_HANDLING_MODE_NONE;
		s = ucx.ucp_ep_create(x->worker, &ep, &ep_h);
	}
	/* the progress thread may look at it already (a late peer) */
	atomic_store(&p->last_seen_ns, cvmm_now_ns());
	__atomic_store_n(&p->ep, s == UCS_OK ? ep_h : NULL, __ATOMIC_RELEASE);
	if (s != UCS_OK) {
		log_error("cannot reach node %d over %s (UCX: %s)", p->rank,
			  xp_transport_names[x->o.transport],
			  ucx.ucs_status_string(s));
		return CVMM_ERR_PEER;
	}
	return CVMM_OK;
}

static cvmm_status_t xp_connect_wait(xp_t *x, uint64_t deadline,
				     int timeout_ms)
{
	unsigned rounds = 0;
	int r, missing;

	for (;;) {
		missing = -1;
		for (r = 0; r < x->size; r++) {
			if (atomic_load(&x->peers[r].lost))
				return CVMM_ERR_PEER;
			if (r != x->rank && x->peers[r].ep &&
			    !atomic_load(&x->peers[r].hello))
				missing = r;
		}
		if (missing < 0)
			return CVMM_OK;
		if (cvmm_now_ns() > deadline)
			break;
		if (ucx.ucp_worker_progress(x->worker) == 0)
			xp_wait_backoff(x, rounds++);
	}
	log_error("no hello from node %d within %d ms", missing, timeout_ms);
	return CVMM_ERR_TIMEOUT;
}

cvmm_status_t xp_connect(xp_t *x, const void *const addrs[],
			 const size_t lens[], int timeout_ms)
{
	uint64_t deadline = cvmm_now_ns() + (uint64_t)timeout_ms * XP_NS_PER_MS;
	cvmm_status_t st;
	int r;

	if (x->connected || xp_refuse_in_handler("xp_connect"))
		return CVMM_ERR_INVALID;
	for (r = 0; r < x->size; r++) {
		if (r != x->rank && (!addrs[r] || lens[r] == 0))
			continue; /* not in the job (yet): xp_connect_peer */
		st = xp_ep_create(x, &x->peers[r],
				  r == x->rank ? (const void *)x->addr
					       : addrs[r]);
		if (st != CVMM_OK)
			return st;
	}
	x->connected = true;
	for (r = 0; r < x->size; r++) {
		if (r == x->rank || !x->peers[r].ep)
			continue;
		st = xp_am_send_until(x, &x->peers[r], XP_AM_HELLO, NULL, 0,
				      deadline);
		if (st != CVMM_OK)
			return st;
	}
	return xp_connect_wait(x, deadline, timeout_ms);
}

cvmm_status_t xp_connect_peer(xp_t *x, int peer, const void *addr,
			      size_t len)
{
	xp_peer_t *p;
	cvmm_status_t st;

	if (!x->connected || peer < 0 || peer >= x->size ||
	    peer == x->rank || !addr || len == 0 ||
	    xp_refuse_in_handler("xp_connect_peer"))
		return CVMM_ERR_INVALID;
	p = &x->peers[peer];
	if (p->ep || atomic_load(&p->lost))
		return CVMM_ERR_EXISTS; /* a new agent: xp_peer_reset first */
	st = xp_ep_create(x, p, addr);
	/* posted, not waited for: the peer's worker answers the wire-up
	 * only once it connects back (its xp_connect) */
	if (st == CVMM_OK)
		st = xp_am_send_detached(p, XP_AM_HELLO, NULL, 0);
	return st;
}

size_t xp_am_eager_max(const xp_t *x)
{
	return x->am_eager;
}

/* ---- the progress thread ------------------------------------------------- */

static void xp_lost_report(xp_t *x)
{
	atomic_store(&x->lost_pending, false);
	for (int r = 0; r < x->size; r++) {
		xp_peer_t *p = &x->peers[r];

		if (!atomic_load(&p->lost) || p->lost_reported)
			continue;
		p->lost_reported = true;
		if (x->lost_fn && !atomic_load(&p->bye))
			x->lost_fn(r, p->lost_reason, x->lost_arg);
	}
}

/* Sleeps on the worker's event fd for at most max_ns. */
static void xp_worker_sleep(xp_t *x, uint64_t max_ns)
{
	struct pollfd pfd = { .fd = x->efd, .events = POLLIN };
	int ms = (int)((max_ns + XP_NS_PER_MS - 1) / XP_NS_PER_MS);
	ucs_status_t s = ucx.ucp_worker_arm(x->worker);

	if (s == UCS_ERR_BUSY)
		return;
	if (s != UCS_OK) {
		log_debug("ucp_worker_arm failed (UCX: %s)",
			  ucx.ucs_status_string(s));
		ms = 1;
	}
	if (poll(&pfd, 1, ms) < 0 && errno != EINTR)
		log_warn("poll on the ucx event fd failed: %m");
}

static void xp_progress_idle(xp_t *x, uint64_t now, uint64_t last_active,
			     uint64_t next_hb)
{
	uint64_t wait = next_hb > now ? next_hb - now : 0;
	struct timespec nap = { 0, XP_WAITER_NAP_NS };

	/* A caller blocked in xp_op_wait is progressing the worker: a second
	 * polling thread would only fight it for the CPU and the worker lock
	 * (measured: 20 us gets become 100+ us on two cpus). */
	if (atomic_load(&x->waiters) > 0) {
		nanosleep(&nap, NULL);
		return;
	}
	switch (x->o.progress) {
	case XP_PROGRESS_POLL:
		sched_yield();
		return;
	case XP_PROGRESS_HYBRID:
		if (now - last_active < (uint64_t)x->o.spin_us * 1000) {
			sched_yield();
			return;
		}
		/* fall through */
	case XP_PROGRESS_EVENT:
		xp_worker_sleep(x, wait);
		return;
	}
}

static void *xp_progress_main(void *arg)
{
	xp_t *x = arg;
	uint64_t hb_ns = (uint64_t)x->o.heartbeat_ms * XP_NS_PER_MS;
	uint64_t now, last_active = 0, next_hb = 0;

	while (!atomic_load(&x->stop)) {
		unsigned n = ucx.ucp_worker_progress(x->worker);

		now = cvmm_now_ns();
		if (now >= next_hb) {
			xp_am_heartbeat(x, now);
			next_hb = now + hb_ns;
		}
		if (atomic_load(&x->lost_pending))
			xp_lost_report(x);
		if (atomic_load(&x->reset_pending))
			xp_peer_reset_serve(x);
		if (n) {
			last_active = now;
			continue;
		}
		xp_progress_idle(x, now, last_active, next_hb);
	}
	return NULL;
}

cvmm_status_t xp_start(xp_t *x, xp_lost_fn_t lost, void *arg)
{
	uint64_t now = cvmm_now_ns();
	int err;

	if (x->started || !x->connected) {
		log_error("xp_start %s", x->started ? "called twice"
						   : "before xp_connect");
		return CVMM_ERR_INVALID;
	}
	x->lost_fn = lost;
	x->lost_arg = arg;
	for (int r = 0; r < x->size; r++)
		atomic_store(&x->peers[r].last_seen_ns, now);
	atomic_store(&x->lost_pending, true);
	err = pthread_create(&x->thread, NULL, xp_progress_main, x);
	if (err) {
		log_error("cannot start the progress thread: %s",
			  strerror(err));
		return CVMM_ERR_IO;
	}
	x->started = true;
	return CVMM_OK;
}

/* ---- a rank used again --------------------------------------------------- */

#define XP_RESET_TIMEOUT_MS 5000

/* Closes ep by force, progressing the worker until UCX is done with it (at
 * most XP_CLOSE_TIMEOUT_MS). */
static void xp_ep_close_force(xp_t *x, ucp_ep_h ep)
{
	ucp_request_param_t prm = { .op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS,
				    .flags = UCP_EP_CLOSE_FLAG_FORCE };
	uint64_t deadline = cvmm_now_ns() + XP_CLOSE_TIMEOUT_MS * XP_NS_PER_MS;
	void *sp = ucx.ucp_ep_close_nbx(ep, &prm);
	unsigned rounds = 0;

	if (!UCS_PTR_IS_PTR(sp))
		return;
	while (ucx.ucp_request_check_status(sp) == UCS_INPROGRESS &&
	       cvmm_now_ns() < deadline)
		if (ucx.ucp_worker_progress(x->worker) == 0)
			xp_wait_backoff(x, rounds++);
	ucx.ucp_request_free(sp);
}

static void xp_peer_reset_now(xp_t *x, xp_peer_t *p, uint32_t min_epoch)
{
	ucp_ep_h ep;

	if (x->started)
		xp_lost_report(x); /* the old agent's loss, if pending */
	pthread_mutex_lock(&p->rx_lock);
	p->min_epoch = min_epoch; /* its late messages: dropped from here */
	pthread_mutex_unlock(&p->rx_lock);
	pthread_mutex_lock(&p->rkey_lock);
	if (atomic_load(&p->rkey_ready))
		ucx.ucp_rkey_destroy(p->rkey);
	atomic_store(&p->rkey_ready, false);
	free(p->rkey_blob);
	p->rkey_blob = NULL;
	p->rkey_len = 0;
	pthread_mutex_unlock(&p->rkey_lock);
	if (p->hb_req) /* released by UCX once the close completes it */
		ucx.ucp_request_free(p->hb_req);
	p->hb_req = NULL;
	ep = __atomic_exchange_n(&p->ep, NULL, __ATOMIC_ACQ_REL);
	if (ep)
		xp_ep_close_force(x, ep);
	xp_am_peer_reset(p);
	atomic_store(&p->tx_seq, 0);
	atomic_store(&p->hello, false);
	atomic_store(&p->bye, false);
	pthread_mutex_lock(&x->warn_lock);
	p->warned_cookie = false;
	pthread_mutex_unlock(&x->warn_lock);
	pthread_mutex_lock(&p->lock);
	p->lost_reason[0] = '\0';
	p->lost_reported = false;
	atomic_store(&p->last_seen_ns, cvmm_now_ns());
	atomic_store(&p->lost, false);
	pthread_mutex_unlock(&p->lock);
}

void xp_peer_reset_serve(xp_t *x)
{
	pthread_mutex_lock(&x->reset_lock);
	atomic_store(&x->reset_pending, false);
	if (x->reset_peer >= 0)
		xp_peer_reset_now(x, &x->peers[x->reset_peer], x->reset_epoch);
	x->reset_peer = -1;
	pthread_cond_broadcast(&x->reset_cond);
	pthread_mutex_unlock(&x->reset_lock);
}

cvmm_status_t xp_peer_reset(xp_t *x, int peer, uint32_t min_epoch)
{
	struct timespec end;
	cvmm_status_t st = CVMM_OK;

	if (peer < 0 || peer >= x->size || peer == x->rank ||
	    xp_refuse_in_handler("xp_peer_reset"))
		return CVMM_ERR_INVALID;
	if (!x->started) {
		xp_peer_reset_now(x, &x->peers[peer], min_epoch);
		return CVMM_OK;
	}
	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += XP_RESET_TIMEOUT_MS / 1000;
	pthread_mutex_lock(&x->reset_lock);
	while (x->reset_peer >= 0 && st == CVMM_OK) /* another's, first */
		if (pthread_cond_timedwait(&x->reset_cond, &x->reset_lock,
					   &end) == ETIMEDOUT)
			st = CVMM_ERR_TIMEOUT;
	if (st == CVMM_OK) {
		x->reset_peer = peer;
		x->reset_epoch = min_epoch;
		atomic_store(&x->reset_pending, true);
		ucx.ucp_worker_signal(x->worker);
	}
	while (st == CVMM_OK && x->reset_peer == peer)
		if (pthread_cond_timedwait(&x->reset_cond, &x->reset_lock,
					   &end) == ETIMEDOUT)
			st = CVMM_ERR_TIMEOUT;
	pthread_mutex_unlock(&x->reset_lock);
	if (st != CVMM_OK)
		log_error("node %d: the transport's reset of it timed out", peer);
	return st;
}

/* ---- description and teardown -------------------------------------------- */

/* Collects the transport names ("tcp", "posix"...) from the lines of
 * ucp_ep_print_info that describe lanes: "... lane[0]: 1:tcp/lo.0 ...". */
static void xp_describe_parse(char *info, char *buf, size_t len)
{
	char *line, *save = NULL, *t, name[32];
	size_t used = 0;

	buf[0] = '\0';
	for (line = strtok_r(info, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (!strstr(line, "lane[") || !(t = strstr(line, ": ")))
			continue;
		if (!(t = strchr(t + 2, ':')))
			continue;
		if (sscanf(t + 1, "%31[^/ ]", name) != 1 || strstr(buf, name))
			continue;
		if (used < len)
			used += (size_t)snprintf(buf + used, len - used,
						 "%s%s", used ? "," : "",
						 name);
	}
}

void xp_describe(xp_t *x, int peer, char *buf, size_t len)
{
	char *info = NULL;
	size_t ilen = 0;
	FILE *f;

	if (len == 0)
		return;
	snprintf(buf, len, "?");
	if (peer < 0 || peer >= x->size || !x->peers[peer].ep)
		return;
	f = open_memstream(&info, &ilen);
	if (!f)
		return;
	ucx.ucp_ep_print_info(x->peers[peer].ep, f);
	fclose(f);
	xp_describe_parse(info, buf, len);
	if (buf[0] == '\0')
		snprintf(buf, len, "?");
	free(info);
}

/* Closes every endpoint (flushing, or forcing when the peer is lost),
 * waiting at most XP_CLOSE_TIMEOUT_MS in all. */
static void xp_eps_close(xp_t *x)
{
	uint64_t deadline = cvmm_now_ns() + XP_CLOSE_TIMEOUT_MS * XP_NS_PER_MS;
	ucp_request_param_t prm = { .op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS };
	void **reqs = calloc((size_t)x->size, sizeof(*reqs));
	unsigned rounds = 0;
	int r, busy = 1;

	for (r = 0; r < x->size; r++) {
		xp_peer_t *p = &x->peers[r];
		void *sp;

		if (!p->ep)
			continue;
		prm.flags = atomic_load(&p->lost) ? UCP_EP_CLOSE_FLAG_FORCE : 0;
		sp = ucx.ucp_ep_close_nbx(p->ep, &prm);
		p->ep = NULL;
		if (reqs && UCS_PTR_IS_PTR(sp))
			reqs[r] = sp;
	}
	while (reqs && busy && cvmm_now_ns() < deadline) {
		busy = 0;
		for (r = 0; r < x->size; r++) {
			if (!reqs[r] || ucx.ucp_request_check_status(reqs[r]) ==
						UCS_INPROGRESS)
				busy += reqs[r] != NULL;
			else {
				ucx.ucp_request_free(reqs[r]);
				reqs[r] = NULL;
			}
		}
		if (busy && ucx.ucp_worker_progress(x->worker) == 0)
			xp_wait_backoff(x, rounds++);
	}
	for (r = 0; reqs && r < x->size; r++)
		if (reqs[r])
			ucx.ucp_request_free(reqs[r]);
	free(reqs);
}

static void xp_progress_stop(xp_t *x)
{
	atomic_store(&x->stop, true);
	if (!x->started)
		return;
	ucx.ucp_worker_signal(x->worker);
	pthread_join(x->thread, NULL);
	x->started = false;
}

void xp_fini(xp_t *x)
{
	if (!x)
		return;
	if (x->worker) {
		xp_progress_stop(x);
		if (x->connected)
			xp_am_bye(x);
		for (int r = 0; r < x->size; r++)
			if (x->peers[r].hb_req)
				ucx.ucp_request_free(x->peers[r].hb_req);
		xp_mem_fini(x);
		xp_eps_close(x);
		if (x->addr)
			ucx.ucp_worker_release_address(x->worker, x->addr);
		ucx.ucp_worker_destroy(x->worker);
	}
	if (x->ctx)
		ucx.ucp_cleanup(x->ctx);
	xp_am_fini(x);
	for (int r = 0; x->peers && r < x->size; r++) {
		pthread_mutex_destroy(&x->peers[r].lock);
		pthread_mutex_destroy(&x->peers[r].rx_lock);
		pthread_mutex_destroy(&x->peers[r].rkey_lock);
	}
	pthread_mutex_destroy(&x->warn_lock);
	pthread_mutex_destroy(&x->reset_lock);
	pthread_cond_destroy(&x->reset_cond);
	free(x->peers);
	free(x);
}
