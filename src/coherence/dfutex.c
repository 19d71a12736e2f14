/* Distributed futex service (design: dfutex.h).
 *
 * Message script (W the waiter's node, H = home(uaddr), K the waker's node;
 * any of them may be the same node):
 *
 *   wait:   W -> H  REG(uaddr, id, bitset)     H queues {W, id, bitset}
 *           H -> W  REG_ACK(uaddr, id)         W reads the word, sleeps
 *   wake:   K -> H  WAKE(uaddr, id, bitset, n) H unqueues up to n matching
 *                                              waiters, oldest first
 *           H -> W  WAKEUP(uaddr, wid)         one per waiter, to its node
 *           H -> K  WAKE_ACK(uaddr, id, count)
 *   cancel: W -> H  CANCEL(uaddr, id)          value differed, deadline
 *                                              passed or the read faulted
 *           H -> W  CANCEL_ACK(uaddr, id, present)
 *
 * The wire layout of the messages is in dfutex.h.
 *
 * Ids are sequence numbers, not addresses. A reply is applied only to a
 * request found in the node's table of live requests (under its bucket
 * lock); one for an unknown id is a late REG_ACK or WAKEUP for a request
 * that has returned and is ignored. So no message can touch a request after
 * dfx_wait or dfx_wake returned, and a peer's id is never dereferenced.
 *
 * A CANCEL_ACK saying "gone" means a wake took (and counted) the waiter:
 * dfx_wait then returns 0 whatever it was about to return, so the wake is
 * not lost. Nothing here relies on the WAKEUP arriving before that
 * CANCEL_ACK: per (src, dst) FIFO gives it on a remote channel, but an
 * own-node send delivered synchronously does not order messages sent by
 * different threads.
 *
 *   W (cancel on timeout)       H                     K
 *   CANCEL --------------->                   <------ WAKE
 *                             takes W, unlocks
 *                             CANCEL: W gone
 *   <----------- CANCEL_ACK(0)
 *   returns 0                 WAKEUP -> W: unknown id, ignored
 *                             WAKE_ACK(1) ------------------->
 */
#include "coherence/dfutex.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "common/wire.h"

#define DFX_REPLY_MS 10000  /* a peer that has not answered by then is lost */
#define DFX_SPIN_NS 300000 /* a reply is a round trip away */
#define DFX_SLICE_MS 100    /* longest host sleep, so shutdown is seen */
#define DFX_REQ_BUCKETS 64
#define DFX_HOME_BUCKETS 256
#define DFX_HOME_MAX (1u << 20) /* queued waiters per home, against floods */

/* Request flags, set by reply handlers (except CANCELLING). */
#define DFX_F_ACKED 1u      /* REG_ACK or WAKE_ACK (or WAKEUP) arrived */
#define DFX_F_WOKEN 2u      /* WAKEUP arrived */
#define DFX_F_CANCELLING 4u /* CANCEL sent: a CANCEL_ACK is expected */
#define DFX_F_CANCELLED 8u  /* CANCEL_ACK arrived */

typedef enum { DFX_REQ_WAIT, DFX_REQ_WAKE } dfx_req_kind_t;

/* A request of this node awaiting replies; lives on the stack of dfx_wait
 * or dfx_wake and is in the request table for exactly that call. Fields
 * below flags change only under the bucket lock. */
typedef struct dfx_req {
	uint64_t id;
	uint64_t uaddr;
	dfx_req_kind_t kind;
	uint32_t n;       /* WAKE: the most it may wake */
	uint32_t flags;   /* DFX_F_*, read locklessly by the owner */
	uint32_t seq;     /* host futex word, bumped on every reply */
	uint32_t present; /* CANCEL_ACK's arg */
	uint32_t count;   /* WAKE_ACK's arg */
	struct dfx_req *next;
} dfx_req_t;

typedef struct dfx_rbucket {
	pthread_mutex_t lock;
	dfx_req_t *head;
} dfx_rbucket_t;

/* A waiter queued at its home, oldest first within a bucket. */
typedef struct dfx_hwaiter {
	uint64_t uaddr;
	uint64_t id;
	int node;
	uint32_t bitset;
	struct dfx_hwaiter *next;
	struct dfx_hwaiter *prev;
} dfx_hwaiter_t;

typedef struct dfx_hbucket {
	pthread_mutex_t lock;
	dfx_hwaiter_t *head;
	dfx_hwaiter_t *tail;
} dfx_hbucket_t;

struct dfx {
	int self;
	int nnodes;
	dfx_ops_t ops;
	void *ctx;
	uint64_t next_id;  /* atomic */
	uint32_t nqueued;  /* atomic: waiters in the home buckets */
	uint8_t *host;     /* the node playing each home role; NULL:
			      node i plays role i (dfx_set_roles) */
	dfx_rbucket_t req[DFX_REQ_BUCKETS];
	dfx_hbucket_t home[DFX_HOME_BUCKETS];
};

dfx_t *cvmm_dfx;

static const char *const dfx_type_names[DFX_MSG_END] = {
	[DFX_MSG_REG] = "reg",       [DFX_MSG_REG_ACK] = "reg_ack",
	[DFX_MSG_CANCEL] = "cancel", [DFX_MSG_CANCEL_ACK] = "cancel_ack",
	[DFX_MSG_WAKE] = "wake",     [DFX_MSG_WAKE_ACK] = "wake_ack",
	[DFX_MSG_WAKEUP] = "wakeup",
};

/* home(uaddr) in a job of nnodes > 0 nodes (dfutex.h): the node playing
 * the word's home role (host NULL: that role's own node). */
static int dfx_home_of(uint64_t uaddr, int nnodes, const uint8_t *host)
{
	int role = (int)((uaddr >> 12) % (uint64_t)nnodes);

	return host ? host[role] : role;
}

static int dfx_home(const dfx_t *d, uint64_t uaddr)
{
	return dfx_home_of(uaddr, d->nnodes, d->host);
}

/* ---- wire ---------------------------------------------------------------- */

void dfx_wire_encode(const dfx_msg_t *m, void *buf)
{
	wire_w_t w = wire_w_init(buf, DFX_WIRE_LEN);

	wire_w_u16(&w, m->version);
	wire_w_u16(&w, m->type);
	wire_w_u32(&w, m->bitset);
	wire_w_u64(&w, m->uaddr);
	wire_w_u64(&w, m->id);
	wire_w_u64(&w, m->arg);
	assert(wire_w_done(&w));
}

/* The fields in wire order; false when len is not DFX_WIRE_LEN. */
static bool dfx_wire_read(const void *buf, size_t len, dfx_msg_t *m)
{
	wire_r_t r = wire_r_init(buf, buf ? len : 0);

	m->version = wire_r_u16(&r);
	m->type = wire_r_u16(&r);
	m->bitset = wire_r_u32(&r);
	m->uaddr = wire_r_u64(&r);
	m->id = wire_r_u64(&r);
	m->arg = wire_r_u64(&r);
	return wire_r_done(&r);
}

static bool type_is_request(unsigned type)
{
	return type == DFX_MSG_REG || type == DFX_MSG_CANCEL ||
	       type == DFX_MSG_WAKE;
}

/* The largest arg a type may carry. */
static uint64_t type_arg_max(unsigned type)
{
	switch (type) {
	case DFX_MSG_WAKE:
	case DFX_MSG_WAKE_ACK:
		return INT_MAX;
	case DFX_MSG_CANCEL_ACK:
		return 1;
	default:
		return 0;
	}
}

/* Returns why m from src to self is malformed, or NULL. */
static const char *dfx_wire_check(const dfx_msg_t *m, int src, int self,
				  int nnodes, const uint8_t *host)
{
	bool has_bitset = m->type == DFX_MSG_REG || m->type == DFX_MSG_WAKE;
	int home = dfx_home_of(m->uaddr, nnodes, host);

	if (m->version != DFX_WIRE_VERSION)
		return "bad version";
	if (m->type == 0 || m->type >= DFX_MSG_END)
		return "bad type";
	if (m->uaddr & 2)
		return "unaligned address"; /* bit 0: DFX_SHARED */
	if (m->id == 0)
		return "zero id";
	if (has_bitset != (m->bitset != 0))
		return "bad bitset";
	if (m->arg > type_arg_max(m->type))
		return "bad argument";
	if (type_is_request(m->type) && home != self)
		return "request to a node that is not the home";
	if (!type_is_request(m->type) && home != src)
		return "reply from a node that is not the home";
	return NULL;
}

cvmm_status_t dfx_wire_decode(const void *buf, size_t len, int src, int self,
			      int nnodes, const uint8_t *host, dfx_msg_t *out,
			      const char **why)
{
	const char *bad = NULL;
	dfx_msg_t m;

	if (nnodes <= 0 || self < 0 || self >= nnodes)
		bad = "bad receiver";
	else if (src < 0 || src >= nnodes)
		bad = "bad source";
	else if (!dfx_wire_read(buf, len, &m))
		bad = "bad length";
	else
		bad = dfx_wire_check(&m, src, self, nnodes, host);
	if (bad) {
		*why = bad;
		return CVMM_ERR_PEER;
	}
	*out = m;
	return CVMM_OK;
}

/* Sends one message; logs a failure. Called with no dfutex lock held. */
static cvmm_status_t dfx_send(dfx_t *d, int dst, unsigned type,
			      uint32_t bitset, uint64_t uaddr, uint64_t id,
			      uint64_t arg)
{
	dfx_msg_t m = { DFX_WIRE_VERSION, (uint16_t)type, bitset, uaddr, id,
			arg };
	uint8_t buf[DFX_WIRE_LEN];
	cvmm_status_t st;

	log_trace("futex %s 0x%llx id %llu to node %d", dfx_type_names[type],
		  (unsigned long long)uaddr, (unsigned long long)id, dst);
	dfx_wire_encode(&m, buf);
	st = d->ops.send(d->ctx, dst, buf, sizeof(buf));
	if (st != CVMM_OK)
		log_warn("futex %s 0x%llx to node %d failed: %s",
			 dfx_type_names[type], (unsigned long long)uaddr, dst,
			 cvmm_status_str(st));
	return st;
}

/* ---- the home's queues ------------------------------------------------- */

static dfx_hbucket_t *home_bucket(dfx_t *d, uint64_t uaddr)
{
	uint64_t h = (uaddr >> 2) * 0x9e3779b97f4a7c15UL;

	return &d->home[h >> 56];
}

static void hq_append(dfx_hbucket_t *b, dfx_hwaiter_t *w)
{
	w->next = NULL;
	w->prev = b->tail;
	if (b->tail)
		b->tail->next = w;
	else
		b->head = w;
	b->tail = w;
}

static void hq_unlink(dfx_hbucket_t *b, dfx_hwaiter_t *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		b->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		b->tail = w->prev;
}

static dfx_hwaiter_t *hq_find(dfx_hbucket_t *b, int node, uint64_t id)
{
	dfx_hwaiter_t *w;

	for (w = b->head; w; w = w->next)
		if (w->node == node && w->id == id)
			return w;
	return NULL;
}

/* REG: queue src's waiter, then ack. */
static cvmm_status_t home_reg(dfx_t *d, int src, const dfx_msg_t *m)
{
	dfx_hbucket_t *b = home_bucket(d, m->uaddr);
	dfx_hwaiter_t *w = malloc(sizeof(*w));
	const char *why = NULL;

	if (!w) {
		log_error("futex 0x%llx: no memory for a waiter of node %d",
			  (unsigned long long)m->uaddr, src);
		return CVMM_ERR_NOMEM;
	}
	*w = (dfx_hwaiter_t){ .uaddr = m->uaddr, .id = m->id, .node = src,
			      .bitset = m->bitset };
	pthread_mutex_lock(&b->lock);
	if (hq_find(b, src, m->id))
		why = "waiter registered twice";
	else if (__atomic_load_n(&d->nqueued, __ATOMIC_RELAXED) >= DFX_HOME_MAX)
		why = "too many waiters";
	else
		hq_append(b, w);
	pthread_mutex_unlock(&b->lock);
	if (why) {
		free(w);
		log_warn("futex reg 0x%llx id %llu from node %d dropped: %s",
			 (unsigned long long)m->uaddr,
			 (unsigned long long)m->id, src, why);
		return CVMM_ERR_PEER;
	}
	__atomic_fetch_add(&d->nqueued, 1, __ATOMIC_RELAXED);
	dfx_send(d, src, DFX_MSG_REG_ACK, 0, m->uaddr, m->id, 0);
	return CVMM_OK;
}

/* CANCEL: unqueue src's waiter if a wake has not taken it; say which. */
static cvmm_status_t home_cancel(dfx_t *d, int src, const dfx_msg_t *m)
{
	dfx_hbucket_t *b = home_bucket(d, m->uaddr);
	dfx_hwaiter_t *w;

	pthread_mutex_lock(&b->lock);
	w = hq_find(b, src, m->id);
	if (w && w->uaddr == m->uaddr)
		hq_unlink(b, w);
	else
		w = NULL;
	pthread_mutex_unlock(&b->lock);
	if (w) {
		__atomic_fetch_sub(&d->nqueued, 1, __ATOMIC_RELAXED);
		free(w);
	}
	dfx_send(d, src, DFX_MSG_CANCEL_ACK, 0, m->uaddr, m->id, w != NULL);
	return CVMM_OK;
}

/* WAKE: take up to n matching waiters oldest first, send each its WAKEUP
 * once the lock is dropped, then the count to the waker. */
static cvmm_status_t home_wake(dfx_t *d, int src, const dfx_msg_t *m)
{
	dfx_hbucket_t *b = home_bucket(d, m->uaddr);
	dfx_hwaiter_t *w, *next, *taken = NULL, **tail = &taken;
	uint64_t count = 0;

	pthread_mutex_lock(&b->lock);
	for (w = b->head; w && count < m->arg; w = next) {
		next = w->next;
		if (w->uaddr != m->uaddr || !(w->bitset & m->bitset))
			continue;
		hq_unlink(b, w);
		w->next = NULL;
		*tail = w;
		tail = &w->next;
		count++;
	}
	pthread_mutex_unlock(&b->lock);
	__atomic_fetch_sub(&d->nqueued, (uint32_t)count, __ATOMIC_RELAXED);
	for (w = taken; w; w = next) {
		next = w->next;
		dfx_send(d, w->node, DFX_MSG_WAKEUP, 0, w->uaddr, w->id, 0);
		free(w);
	}
	dfx_send(d, src, DFX_MSG_WAKE_ACK, 0, m->uaddr, m->id, count);
	return CVMM_OK;
}

/* ---- this node's requests ---------------------------------------------- */

static dfx_rbucket_t *req_bucket(dfx_t *d, uint64_t id)
{
	return &d->req[id % DFX_REQ_BUCKETS];
}

/* Gives r a fresh id and enters it in the table. */
static void req_add(dfx_t *d, dfx_req_t *r)
{
	dfx_rbucket_t *b;

	r->id = __atomic_add_fetch(&d->next_id, 1, __ATOMIC_RELAXED);
	b = req_bucket(d, r->id);
	pthread_mutex_lock(&b->lock);
	r->next = b->head;
	b->head = r;
	pthread_mutex_unlock(&b->lock);
}

/* Takes r out of the table: once this returns no handler can touch r
 * (they look it up and write it under the bucket lock). */
static void req_del(dfx_t *d, dfx_req_t *r)
{
	dfx_rbucket_t *b = req_bucket(d, r->id);
	dfx_req_t **pp;

	pthread_mutex_lock(&b->lock);
	for (pp = &b->head; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	pthread_mutex_unlock(&b->lock);
}

static void req_flag(dfx_t *d, dfx_req_t *r, uint32_t flag)
{
	dfx_rbucket_t *b = req_bucket(d, r->id);

	pthread_mutex_lock(&b->lock);
	__atomic_or_fetch(&r->flags, flag, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&b->lock);
}

static uint32_t req_flags(dfx_req_t *r)
{
	return __atomic_load_n(&r->flags, __ATOMIC_SEQ_CST);
}

/* Wakes r's owner. Caller holds r's bucket lock, so r is still alive
 * during the host futex call. */
static void req_signal(dfx_req_t *r, uint32_t flags)
{
	__atomic_or_fetch(&r->flags, flags, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&r->seq, 1, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, &r->seq, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Why a reply m does not fit request r, or NULL. */
static const char *req_mismatch(const dfx_req_t *r, const dfx_msg_t *m)
{
	dfx_req_kind_t want = m->type == DFX_MSG_WAKE_ACK ? DFX_REQ_WAKE
							   : DFX_REQ_WAIT;

	if (r->kind != want)
		return "reply of the wrong kind";
	if (r->uaddr != m->uaddr)
		return "reply for another address";
	if (m->type == DFX_MSG_WAKE_ACK && m->arg > r->n)
		return "woke more than asked";
	if (m->type == DFX_MSG_CANCEL_ACK && !(r->flags & DFX_F_CANCELLING))
		return "cancel ack without a cancel";
	return NULL;
}

static void req_apply(dfx_req_t *r, const dfx_msg_t *m)
{
	switch (m->type) {
	case DFX_MSG_REG_ACK:
		req_signal(r, DFX_F_ACKED);
		break;
	case DFX_MSG_WAKEUP:
		/* The home registered us before it could wake us. */
		req_signal(r, DFX_F_ACKED | DFX_F_WOKEN);
		break;
	case DFX_MSG_CANCEL_ACK:
		r->present = (uint32_t)m->arg;
		req_signal(r, DFX_F_CANCELLED);
		break;
	case DFX_MSG_WAKE_ACK:
		r->count = (uint32_t)m->arg;
		req_signal(r, DFX_F_ACKED);
		break;
	}
}

/* A reply from the home: applied to the live request it names, if any. */
static cvmm_status_t req_reply(dfx_t *d, int src, const dfx_msg_t *m)
{
	dfx_rbucket_t *b = req_bucket(d, m->id);
	const char *why = NULL;
	dfx_req_t *r;

	pthread_mutex_lock(&b->lock);
	for (r = b->head; r && r->id != m->id; r = r->next)
		;
	if (r) {
		why = req_mismatch(r, m);
		if (!why)
			req_apply(r, m);
	}
	pthread_mutex_unlock(&b->lock);
	if (why) {
		log_warn("futex %s 0x%llx id %llu from node %d dropped: %s",
			 dfx_type_names[m->type], (unsigned long long)m->uaddr,
			 (unsigned long long)m->id, src, why);
		return CVMM_ERR_PEER;
	}
	if (!r)
		log_debug("futex %s 0x%llx from node %d for gone id %llu",
			  dfx_type_names[m->type],
			  (unsigned long long)m->uaddr, src,
			  (unsigned long long)m->id);
	return CVMM_OK;
}

/* ---- receive ------------------------------------------------------------- */

cvmm_status_t dfx_recv(dfx_t *d, int src, const void *buf, size_t len)
{
	const char *why;
	dfx_msg_t m;

	if (dfx_wire_decode(buf, len, src, d->self, d->nnodes, d->host, &m,
			    &why) !=
	    CVMM_OK) {
		log_warn("futex message of %zu bytes from node %d dropped: %s",
			 len, src, why);
		return CVMM_ERR_PEER;
	}
	log_trace("futex %s 0x%llx id %llu from node %d",
		  dfx_type_names[m.type], (unsigned long long)m.uaddr,
		  (unsigned long long)m.id, src);
	switch (m.type) {
	case DFX_MSG_REG:
		return home_reg(d, src, &m);
	case DFX_MSG_CANCEL:
		return home_cancel(d, src, &m);
	case DFX_MSG_WAKE:
		return home_wake(d, src, &m);
	default:
		return req_reply(d, src, &m);
	}
}

/* ---- sleeping ------------------------------------------------------------ */

/* Shortens *slice to what is left until the absolute deadline on clock;
 * false if it has passed. */
static bool ts_left(clockid_t clock, const struct timespec *deadline,
		    struct timespec *slice)
{
	struct timespec now;
	int64_t left, max;

	clock_gettime(clock, &now);
	left = (int64_t)(deadline->tv_sec - now.tv_sec) * 1000000000L +
	       (deadline->tv_nsec - now.tv_nsec);
	if (left <= 0)
		return false;
	max = (int64_t)slice->tv_sec * 1000000000L + slice->tv_nsec;
	if (left < max) {
		slice->tv_sec = left / 1000000000L;
		slice->tv_nsec = left % 1000000000L;
	}
	return true;
}

/* Sleeps until r has one of the flags in mask (true) or the absolute
 * deadline on clock passes (false; NULL: never). Wakes every slice so a
 * host thread is never parked for long. */
/* Sleeps until a reply sets one of mask (1), the deadline passes (0) or,
 * with d, d's ops.interrupted says so (-1). */
static int req_sleep_in(dfx_t *d, dfx_req_t *r, uint32_t mask,
			clockid_t clock, const struct timespec *deadline)
{
	for (;;) {
		uint32_t seq = __atomic_load_n(&r->seq, __ATOMIC_SEQ_CST);
		struct timespec slice = { 0, DFX_SLICE_MS * 1000000L };

		if (req_flags(r) & mask)
			return 1;
		if (deadline && !ts_left(clock, deadline, &slice))
			return 0;
		if (d && d->ops.interrupted && d->ops.interrupted(d->ctx))
			return -1;
		syscall(SYS_futex, &r->seq, FUTEX_WAIT_PRIVATE, seq, &slice,
			NULL, 0);
	}
}

static bool req_sleep(dfx_req_t *r, uint32_t mask, clockid_t clock,
		      const struct timespec *deadline)
{
	return req_sleep_in(NULL, r, mask, clock, deadline) > 0;
}

/* Waits a bounded time for a reply setting one of mask; false (logged)
 * if the home does not answer. */
static bool req_await(dfx_t *d, dfx_req_t *r, uint32_t mask, const char *what)
{
	struct timespec dl;
	uint32_t seq = __atomic_load_n(&r->seq, __ATOMIC_SEQ_CST);

	if (d->ops.spin && !(req_flags(r) & mask))
		d->ops.spin(d->ctx, &r->seq, seq, DFX_SPIN_NS);
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += DFX_REPLY_MS / 1000;
	if (req_sleep(r, mask, CLOCK_MONOTONIC, &dl))
		return true;
	log_error("futex %s 0x%llx: node %d did not answer in %d ms", what,
		  (unsigned long long)r->uaddr, dfx_home(d, r->uaddr),
		  DFX_REPLY_MS);
	return false;
}

/* ---- the requester's side ------------------------------------------------ */

/* Registers r at the home: 0 once it is queued there, or -EIO. */
static long wait_register(dfx_t *d, dfx_req_t *r, uint32_t bitset)
{
	if (dfx_send(d, dfx_home(d, r->uaddr), DFX_MSG_REG, bitset, r->uaddr,
		     r->id, 0) != CVMM_OK)
		return -EIO;
	return req_await(d, r, DFX_F_ACKED, "reg") ? 0 : -EIO;
}

/* After registering: 0 if the word still holds val, else -EAGAIN or
 * -EFAULT. */
static long wait_check(dfx_t *d, dfx_req_t *r, uint32_t val)
{
	uint32_t cur;
	int err = d->ops.read_word(d->ctx, r->uaddr & ~DFX_SHARED, &cur);

	if (err)
		return err;
	return cur == val ? 0 : -EAGAIN;
}

/* Withdraws r for reason why (-EAGAIN, -ETIMEDOUT, -EFAULT). Returns 0
 * if a wake took r first (it counted r, so r must count as woken), why
 * if r was withdrawn, or -EIO. */
static long wait_cancel(dfx_t *d, dfx_req_t *r, long why)
{
	if (req_flags(r) & DFX_F_WOKEN)
		return 0;
	req_flag(d, r, DFX_F_CANCELLING);
	if (dfx_send(d, dfx_home(d, r->uaddr), DFX_MSG_CANCEL, 0, r->uaddr,
		     r->id, 0) != CVMM_OK)
		return -EIO;
	if (!req_await(d, r, DFX_F_CANCELLED, "cancel"))
		return -EIO;
	if ((req_flags(r) & DFX_F_WOKEN) || !r->present)
		return 0;
	return why;
}

long dfx_wait(dfx_t *d, uint64_t uaddr, uint32_t val, uint32_t bitset,
	      clockid_t clock, const struct timespec *deadline)
{
	dfx_req_t r = { .uaddr = uaddr, .kind = DFX_REQ_WAIT };
	long ret;

	if ((uaddr & 2) || bitset == 0)
		return -EINVAL;
	req_add(d, &r);
	ret = wait_register(d, &r, bitset);
	if (ret)
		goto out_del;
	ret = wait_check(d, &r, val);
	if (ret == 0) {
		int s = req_sleep_in(d, &r, DFX_F_WOKEN, clock, deadline);

		ret = s > 0 ? 0 : s == 0 ? -ETIMEDOUT : -DFX_ERESTART;
	}
	if (ret)
		ret = wait_cancel(d, &r, ret);
out_del:
	req_del(d, &r);
	return ret;
}

long dfx_wake(dfx_t *d, uint64_t uaddr, int n, uint32_t bitset)
{
	dfx_req_t r = { .uaddr = uaddr, .kind = DFX_REQ_WAKE };
	long ret = -EIO;

	if ((uaddr & 2) || bitset == 0)
		return -EINVAL;
	if (n <= 0)
		return 0;
	r.n = (uint32_t)n;
	req_add(d, &r);
	if (dfx_send(d, dfx_home(d, uaddr), DFX_MSG_WAKE, bitset, uaddr, r.id,
		     (uint64_t)n) == CVMM_OK &&
	    req_await(d, &r, DFX_F_ACKED, "wake"))
		ret = r.count;
	req_del(d, &r);
	return ret;
}

/* ---- lifetime ------------------------------------------------------------ */

cvmm_status_t dfx_create(int self, int nnodes, const dfx_ops_t *ops,
			 void *ctx, dfx_t **out)
{
	dfx_t *d;

	if (nnodes < 1 || self < 0 || self >= nnodes || !ops || !ops->send ||
	    !ops->read_word || !out)
		return CVMM_ERR_INVALID;
	d = calloc(1, sizeof(*d));
	if (!d)
		return CVMM_ERR_NOMEM;
	d->self = self;
	d->nnodes = nnodes;
	d->ops = *ops;
	d->ctx = ctx;
	for (int i = 0; i < DFX_REQ_BUCKETS; i++)
		pthread_mutex_init(&d->req[i].lock, NULL);
	for (int i = 0; i < DFX_HOME_BUCKETS; i++)
		pthread_mutex_init(&d->home[i].lock, NULL);
	*out = d;
	return CVMM_OK;
}

void dfx_destroy(dfx_t *d)
{
	dfx_hwaiter_t *w, *next;

	if (!d)
		return;
	for (int i = 0; i < DFX_HOME_BUCKETS; i++) {
		for (w = d->home[i].head; w; w = next) {
			next = w->next;
			free(w);
		}
		pthread_mutex_destroy(&d->home[i].lock);
	}
	for (int i = 0; i < DFX_REQ_BUCKETS; i++)
		pthread_mutex_destroy(&d->req[i].lock);
	free(d->host);
	free(d);
}

bool dfx_busy(dfx_t *d)
{
	bool busy = false;

	for (unsigned b = 0; b < DFX_REQ_BUCKETS && !busy; b++) {
		pthread_mutex_lock(&d->req[b].lock);
		for (dfx_req_t *r = d->req[b].head; r && !busy; r = r->next) {
			uint32_t f = __atomic_load_n(&r->flags,
						     __ATOMIC_ACQUIRE);

			busy = !(f & DFX_F_ACKED) ||
			       ((f & DFX_F_CANCELLING) &&
				!(f & DFX_F_CANCELLED));
		}
		pthread_mutex_unlock(&d->req[b].lock);
	}
	return busy;
}

cvmm_status_t dfx_set_roles(dfx_t *d, const uint8_t *host)
{
	uint8_t *h;

	for (int v = 0; v < d->nnodes; v++)
		if (host[v] >= d->nnodes)
			return CVMM_ERR_INVALID;
	h = malloc((size_t)d->nnodes);
	if (!h)
		return CVMM_ERR_NOMEM;
	memcpy(h, host, (size_t)d->nnodes);
	free(d->host);
	d->host = h;
	return CVMM_OK;
}

void dfx_home_waiters(dfx_t *d,
		      void (*fn)(void *ctx, uint64_t uaddr, uint64_t id,
				 int node, uint32_t bitset),
		      void *ctx)
{
	for (int b = 0; b < DFX_HOME_BUCKETS; b++) {
		pthread_mutex_lock(&d->home[b].lock);
		for (dfx_hwaiter_t *w = d->home[b].head; w; w = w->next)
			fn(ctx, w->uaddr, w->id, w->node, w->bitset);
		pthread_mutex_unlock(&d->home[b].lock);
	}
}

cvmm_status_t dfx_take_waiter(dfx_t *d, const uint8_t *host, uint64_t uaddr,
			      uint64_t id, int node, uint32_t bitset)
{
	dfx_hbucket_t *b;
	dfx_hwaiter_t *w;

	if (node < 0 || node >= d->nnodes || id == 0 || bitset == 0 ||
	    (uaddr & 2) || dfx_home_of(uaddr, d->nnodes, host) != d->self)
		return CVMM_ERR_INVALID;
	w = calloc(1, sizeof(*w));
	if (!w)
		return CVMM_ERR_NOMEM;
	*w = (dfx_hwaiter_t){ .uaddr = uaddr, .id = id, .node = node,
			      .bitset = bitset };
	b = home_bucket(d, uaddr);
	pthread_mutex_lock(&b->lock);
	hq_append(b, w);
	__atomic_add_fetch(&d->nqueued, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&b->lock);
	return CVMM_OK;
}
