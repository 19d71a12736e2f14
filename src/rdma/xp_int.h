/* Transport internals shared by xp.c (context, connection, progress thread),
 * xp_op.c (blocking waits), xp_am.c (active messages, ordering, heartbeat)
 * and xp_mem.c (registration, get/put/atomics). Not for use outside
 * src/rdma/xp*.c.
 *
 * Locking: UCX runs in UCS_THREAD_MODE_MULTI, so any thread may call into the
 * worker. Every UCX callback runs inside ucp_worker_progress (under the
 * worker's own recursive lock) and must not progress the worker again: code
 * running in an active-message handler is marked by xp_in_handler, and
 * blocking calls made there are refused (xp_am_send sends a copy instead).
 * Per peer: rx_lock guards the receive reorder queue; it is taken only
 * inside UCX callbacks (under the worker lock) and is recursive because the
 * self transport delivers a handler's send to its own node synchronously,
 * inside the send. Such a message is queued, never handled inside the
 * handler that sent it: handlers don't nest.
 * lock guards the loss reason and is taken under the worker lock but never
 * held while calling UCX. rkey_lock guards the remote key and is held while
 * calling UCX but never taken inside a callback. */
#ifndef CVMM_RDMA_XP_INT_H
#define CVMM_RDMA_XP_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "common/clock.h"
#include "rdma/dl_ucx.h"
#include "rdma/xp.h"
#include "rdma/xp_wire.h"

/* The transport's own message ids (below XP_AM_USER). */
#define XP_AM_HELLO 0
#define XP_AM_HEARTBEAT 1
#define XP_AM_BYE 2       /* sent by xp_fini: an orderly close, not a loss */

/* A receiver keeps at most this many messages of one sender waiting for an
 * earlier one (a larger sequence gap is a malformed message). */
#define XP_RX_WINDOW 65536u

#define XP_NS_PER_MS 1000000ull

/* A received message held back to keep per-sender order: it waits for a
 * rendezvous transfer (ready false) or for an earlier message. */
typedef struct xp_rxmsg {
	struct xp_rxmsg *next;
	struct xp_peer *peer;
	xp_msg_hdr_t hdr;
	bool ready;                   /* payload present (or failed) */
	bool failed;                  /* rendezvous receive failed */
	bool orphan;                  /* its peer was reset: freed on arrival */
	void *data;
	unsigned char inline_data[];
} xp_rxmsg_t;

typedef struct xp_peer {
	xp_t *x;
	int rank;
	ucp_ep_h ep;
	atomic_bool hello;            /* its HELLO arrived */
	atomic_bool bye;              /* its BYE arrived: losing it is quiet */
	atomic_bool lost;             /* set once, never cleared */
	bool lost_reported;           /* progress thread only */
	bool warned_cookie;           /* under x->warn_lock */
	atomic_uint_least64_t last_seen_ns;
	atomic_uint_least32_t tx_seq;
	pthread_mutex_t lock;         /* lost_reason */
	char lost_reason[160];
	pthread_mutex_t rx_lock;      /* recursive; rx_seq, rxq */
	uint32_t rx_seq;
	atomic_bool rx_deferred;      /* queued during a handler: drain later */
	xp_rxmsg_t *rxq;              /* sorted by seq */
	xp_rxmsg_t *rxq_tail;
	void *hb_req;                 /* progress thread only */
	unsigned char hb_hdr[XP_WIRE_HDR_LEN];
	pthread_mutex_t rkey_lock;    /* the fields below until rkey_ready */
	uint64_t rbase, rlen;         /* registered region at the peer */
	void *rkey_blob;
	size_t rkey_len;
	ucp_rkey_h rkey;
	atomic_bool rkey_ready;
	uint32_t min_epoch;           /* under rx_lock: older messages dropped */
} xp_peer_t;

typedef struct xp_handler {
	_Atomic(xp_am_fn_t) fn;
	void *_Atomic arg;
} xp_handler_t;

struct xp {
	xp_opts_t o;
	int rank;
	int size;
	uint64_t cookie;
	uint64_t op_timeout_ns;
	ucp_context_h ctx;
	ucp_worker_h worker;
	size_t am_eager;  /* xp_am_eager_max */
	ucp_address_t *addr;
	size_t addr_len;
	int efd;
	xp_peer_t *peers;
	bool connected;
	xp_handler_t am[XP_AM_MAX];
	xp_admit_fn_t admit;
	atomic_uint_least32_t epoch;  /* stamped on every message sent */
	ucp_mem_h memh;
	void *rkey_buf;
	size_t rkey_buf_len;
	pthread_t thread;
	bool started;
	atomic_bool stop;
	atomic_bool lost_pending;
	atomic_int waiters;           /* callers progressing in xp_op_wait */
	xp_lost_fn_t lost_fn;
	void *lost_arg;
	pthread_mutex_t warn_lock;
	bool warned_foreign;
	pthread_mutex_t reset_lock;   /* xp_peer_reset: the fields below */
	pthread_cond_t reset_cond;
	int reset_peer;               /* -1: none asked */
	uint32_t reset_epoch;
	atomic_bool reset_pending;
};

/* A blocking operation's completion record. It is shared by the waiting
 * thread and the UCX callback (two references) so a caller that gives up
 * (timeout, lost peer) can return while UCX still owns the request. */
typedef struct xp_op {
	atomic_int refs;
	atomic_int done;
	ucs_status_t status;
	uint64_t val[2];              /* atomic operand and reply */
	unsigned char hdr[XP_WIRE_HDR_LEN];
	unsigned char copy[];         /* payload copy of a detached send */
} xp_op_t;

extern __thread int xp_in_handler;     /* depth of handlers running here */
extern __thread bool xp_drain_pending; /* some peer has rx_deferred set */


/* xp.c: peers and their loss. */
cvmm_status_t xp_peer_get(xp_t *x, int peer, const char *what,
			  xp_peer_t **out);
void xp_peer_lose(xp_peer_t *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Progress thread (or before it starts): a peer reset asked for. */
void xp_peer_reset_serve(xp_t *x);

/* xp_op.c: blocking waits. */
cvmm_status_t xp_status_ucs(ucs_status_t s);
bool xp_refuse_in_handler(const char *what);
/* After an idle round of a wait (rounds: those before it): poll again,
 * yield the CPU, or sleep briefly (xp_op.c). */
typedef enum { XP_BACKOFF_SPIN, XP_BACKOFF_YIELD, XP_BACKOFF_NAP } xp_backoff_t;
xp_backoff_t xp_backoff(xp_progress_t mode, unsigned rounds);
/* How long xp_progress_until asked for max_ns stays awake (xp.h). */
uint64_t xp_wait_budget(xp_progress_t mode, uint64_t max_ns);
void xp_wait_backoff(const xp_t *x, unsigned rounds);
xp_op_t *xp_op_new(size_t extra, int refs);
void xp_op_put(xp_op_t *op);
void xp_op_cb(void *req, ucs_status_t status, void *user_data);
void xp_op_param(ucp_request_param_t *prm, xp_op_t *op);
cvmm_status_t xp_op_wait(xp_t *x, xp_peer_t *p, xp_op_t *op,
			 ucs_status_ptr_t sp, uint64_t deadline,
			 const char *what);

/* xp_am.c */
cvmm_status_t xp_am_init(xp_t *x);
/* Posts a copy of the message and returns at once (a handler's send). */
cvmm_status_t xp_am_send_detached(xp_peer_t *p, unsigned id,
				  const void *data, size_t len);
cvmm_status_t xp_am_send_until(xp_t *x, xp_peer_t *p, unsigned id,
			       const void *data, size_t len,
			       uint64_t deadline);
void xp_am_heartbeat(xp_t *x, uint64_t now);
void xp_am_bye(xp_t *x);
void xp_am_fini(xp_t *x);
/* Forgets every message queued from p (a rendezvous still arriving is
 * freed when it lands) and restarts its sequence. */
void xp_am_peer_reset(xp_peer_t *p);

/* xp_mem.c */
void xp_mem_fini(xp_t *x);

#endif
