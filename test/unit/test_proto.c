/* The coherence protocol (coherence/proto.c): both transition tables are
 * complete, malformed wire messages are rejected, and 3 in-process nodes
 * over a loopback transport (random delivery order, FIFO per (src, dst)
 * pair) run random read/write sequences for many seeds with no stale read,
 * at most one writer per page, and every request completing. The simulated
 * threads of a node do what the runtime does: on COH_FETCH copy the page
 * from the owner's bytes and call coh_fetch_done, on COH_WAIT retry only
 * after ops->notify. The same with the holding window on, time made
 * explicit (an injected clock the test advances; holds end only in
 * coh_hold_tick); and with first touch (pages starting at their managers)
 * and write-aheads granted or refused. Also: initial ownership, first
 * touch and write-ahead step by step, pins deferring forwards, a held
 * forward running when its hold ends, windows growing and shrinking, the
 * sparse state at 2^28 pages, and real threads faulting while others
 * deliver (sends happen with no protocol lock held). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "coherence/proto.h"
#include "coherence/proto_wire.h"

#define NN 3
#define NSLOT 8 /* pages a test touches; slot s is page slot_page[s] */
#define QCAP 1024
#define PAGE_BYTES 16

/* A check that also works on the threaded test's threads. */
#define T_CHECK(c)                                                            \
	do {                                                                  \
		if (!(c)) {                                                   \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); \
			abort();                                              \
		}                                                             \
	} while (0)

static void test_tables_complete(void **state)
{
	for (int s = 0; s < COH_NSTATES; s++)
		for (int e = 0; e < COH_NEVENTS; e++) {
			const coh_trans_t *t = &coh_node_table[s][e];

			assert_non_null(t->label);
			if (t->action)
				assert_true(t->next < COH_NSTATES);
			else
				assert_memory_equal(t->label, "illegal: ", 9);
		}
	for (int s = 0; s < COH_M_NSTATES; s++)
		for (int e = 0; e < COH_MNEVENTS; e++) {
			const coh_trans_t *t = &coh_mgr_table[s][e];

			assert_non_null(t->label);
			if (t->action)
				assert_true(t->next < COH_M_NSTATES);
			else
				assert_memory_equal(t->label, "illegal: ", 9);
		}
	/* in a FETCH state the manager holds the page: no message is legal */
	for (int e = COH_EV_FWD_READ; e <= COH_EV_WRITE_GRANT; e++) {
		assert_null(coh_node_table[COH_READ_FETCH][e].action);
		assert_null(coh_node_table[COH_WRITE_FETCH][e].action);
	}
	/* a NACK answers a write-ahead or an upgrade-ahead (which waits
	 * as an upgrade, or as a write once its copy went) and nothing
	 * else; a write-ahead is asked only from INVALID, an upgrade-ahead
	 * only from SHARED, and nothing else changes state */
	for (int s = 0; s < COH_NSTATES; s++) {
		const coh_trans_t *nk = &coh_node_table[s][COH_EV_NACK];
		const coh_trans_t *wa = &coh_node_table[s][COH_EV_WRITE_AHEAD];

		assert_true(!nk->action == (s != COH_AHEAD_WAIT &&
					    s != COH_UPGRADE_WAIT &&
					    s != COH_WRITE_WAIT));
		assert_non_null(wa->action);
		assert_int_equal(wa->next, s == COH_INVALID  ? COH_AHEAD_WAIT
					   : s == COH_SHARED ? COH_UPGRADE_WAIT
							     : s);
	}
	assert_int_equal(coh_node_table[COH_AHEAD_WAIT][COH_EV_NACK].next,
			 COH_INVALID);
	/* a refused upgrade-ahead keeps its copy only if it still has it */
	assert_int_equal(coh_node_table[COH_UPGRADE_WAIT][COH_EV_NACK].next,
			 COH_SHARED);
	assert_int_equal(coh_node_table[COH_WRITE_WAIT][COH_EV_NACK].next,
			 COH_INVALID);
}

/* ---- wire ----------------------------------------------------------------- */

static void enc(uint16_t ver, uint16_t type, uint32_t src, uint32_t arg,
		uint32_t res, uint64_t page, uint8_t buf[COH_WIRE_LEN])
{
	coh_msg_t m = { ver, type, src, arg, res, page };

	coh_wire_encode(&m, buf);
}

static void expect_bad(const uint8_t *buf, size_t len, const char *reason)
{
	coh_msg_t out = { 0 };
	char why[96] = "";

	assert_int_equal(coh_wire_decode(buf, len, NN, 8, &out, why, sizeof(why)),
			 CVMM_ERR_PEER);
	assert_string_equal(why, reason);
	assert_int_equal(out.type, 0); /* untouched */
}

/* buf decodes; the message goes to *out. */
static void expect_good(const uint8_t *buf, size_t len, coh_msg_t *out)
{
	char why[96] = "";

	assert_int_equal(coh_wire_decode(buf, len, NN, 8, out, why,
					 sizeof(why)), CVMM_OK);
}

static void test_wire(void **state)
{
	uint8_t b[COH_WIRE_LEN + 1] = { 0 };
	coh_msg_t out;

	enc(COH_WIRE_VERSION, COH_MSG_FWD_READ, 2, 1, 0, 7, b);
	assert_int_equal(b[0], COH_WIRE_VERSION);
	assert_int_equal(b[16], 7);
	expect_good(b, COH_WIRE_LEN, &out);
	assert_int_equal(out.type, COH_MSG_FWD_READ);
	assert_int_equal(out.src, 2);
	assert_int_equal(out.arg, 1);
	assert_int_equal(out.page, 7);

	expect_bad(b, COH_WIRE_LEN - 1, "length 23, not 24");
	expect_bad(b, COH_WIRE_LEN + 1, "length 25, not 24");
	enc(COH_WIRE_VERSION + 1, COH_MSG_FWD_READ, 2, 1, 0, 7, b);
	expect_bad(b, COH_WIRE_LEN, "unknown version");
	enc(COH_WIRE_VERSION - 1, COH_MSG_FWD_READ, 2, 1, 0, 7, b);
	expect_bad(b, COH_WIRE_LEN, "unknown version");
	enc(COH_WIRE_VERSION, 0, 2, 1, 0, 7, b);
	expect_bad(b, COH_WIRE_LEN, "unknown message type");
	enc(COH_WIRE_VERSION, COH_MSG_END, 2, 1, 0, 7, b);
	expect_bad(b, COH_WIRE_LEN, "unknown message type");
	enc(COH_WIRE_VERSION, COH_MSG_READ_REQ, NN, 0, 0, 7, b);
	expect_bad(b, COH_WIRE_LEN, "source node out of range");
	enc(COH_WIRE_VERSION, COH_MSG_WRITE_GRANT, 0, NN, 0, 7, b);
	expect_bad(b, COH_WIRE_LEN, "argument node out of range");
	enc(COH_WIRE_VERSION, COH_MSG_INV_ACK, 0, 1, 0, 7, b);
	expect_bad(b, COH_WIRE_LEN, "argument node out of range");
	enc(COH_WIRE_VERSION, COH_MSG_INV_ACK, 0, 0, 1, 7, b);
	expect_bad(b, COH_WIRE_LEN, "flags not valid for the type");
	enc(COH_WIRE_VERSION, COH_MSG_READ_GRANT, 0, 1, 4, 7, b);
	expect_bad(b, COH_WIRE_LEN, "flags not valid for the type");
	enc(COH_WIRE_VERSION, COH_MSG_WRITE_GRANT, 0, 1, COH_FLAG_ZERO, 7, b);
	expect_good(b, COH_WIRE_LEN, &out);
	assert_int_equal(out.flags, COH_FLAG_ZERO);
	/* a write-ahead: AHEAD on WRITE_REQ only; NACK names nobody */
	enc(COH_WIRE_VERSION, COH_MSG_WRITE_REQ, 1, 0, COH_FLAG_AHEAD, 7, b);
	expect_good(b, COH_WIRE_LEN, &out);
	assert_int_equal(out.flags, COH_FLAG_AHEAD);
	enc(COH_WIRE_VERSION, COH_MSG_READ_REQ, 1, 0, COH_FLAG_AHEAD, 7, b);
	expect_bad(b, COH_WIRE_LEN, "flags not valid for the type");
	/* an upgrade-ahead: UPGRADE on WRITE_REQ only, not with PLAIN */
	enc(COH_WIRE_VERSION, COH_MSG_WRITE_REQ, 1, 0, COH_FLAG_UPGRADE, 7, b);
	expect_good(b, COH_WIRE_LEN, &out);
	assert_int_equal(out.flags, COH_FLAG_UPGRADE);
	enc(COH_WIRE_VERSION, COH_MSG_READ_REQ, 1, 0, COH_FLAG_UPGRADE, 7, b);
	expect_bad(b, COH_WIRE_LEN, "flags not valid for the type");
	enc(COH_WIRE_VERSION, COH_MSG_WRITE_REQ, 1, 0,
	    COH_FLAG_UPGRADE | COH_FLAG_PLAIN, 7, b);
	expect_bad(b, COH_WIRE_LEN, "flags not valid for the type");
	enc(COH_WIRE_VERSION, COH_MSG_NACK, 1, 0, 0, 7, b);
	expect_good(b, COH_WIRE_LEN, &out);
	assert_string_equal(coh_msg_type_str(out.type), "nack");
	enc(COH_WIRE_VERSION, COH_MSG_NACK, 1, 2, 0, 7, b);
	expect_bad(b, COH_WIRE_LEN, "argument node out of range");
	enc(COH_WIRE_VERSION, COH_MSG_NACK, 1, 0, COH_FLAG_ZERO, 7, b);
	expect_bad(b, COH_WIRE_LEN, "flags not valid for the type");
	enc(COH_WIRE_VERSION, COH_MSG_INV_ACK, 0, 0, 0, 8, b);
	expect_bad(b, COH_WIRE_LEN, "page out of range");
	enc(COH_WIRE_VERSION, COH_MSG_INV_ACK, 0, 0, 0, 1ull << 63, b);
	expect_bad(b, COH_WIRE_LEN, "page out of range");
}

/* The message is exactly COH_WIRE_LEN bytes (without a pushed page): any
 * byte missing or left over is refused, and nothing past len is read. */
static void test_wire_lengths(void **state)
{
	uint8_t b[COH_WIRE_LEN + 8] = { 0 };
	uint8_t *heap;
	coh_msg_t out;
	char reason[64], why[96];

	enc(COH_WIRE_VERSION, COH_MSG_INVALIDATE, 1, 0, 0, 3, b);
	for (size_t len = 0; len <= sizeof(b); len++) {
		if (len == COH_WIRE_LEN)
			continue;
		snprintf(reason, sizeof(reason), "length %zu, not %d", len,
			 COH_WIRE_LEN);
		expect_bad(b, len, reason);
	}
	expect_bad(NULL, COH_WIRE_LEN, "length 0, not 24");
	/* the decoder reads only what it was given (ASan builds check it) */
	for (size_t len = 0; len <= COH_WIRE_LEN; len++) {
		heap = malloc(len ? len : 1);
		memcpy(heap, b, len);
		assert_int_equal(coh_wire_decode(heap, len, NN, 8, &out, why,
						 sizeof(why)),
				 len == COH_WIRE_LEN ? CVMM_OK : CVMM_ERR_PEER);
		free(heap);
	}
	assert_int_equal(out.type, COH_MSG_INVALIDATE);
	assert_int_equal(out.page, 3);
}

/* A batch is messages back to back: coh_wire_next reads each one's length
 * from its flags, never past the buffer, and says 0 when the buffer
 * cannot hold the message it starts (a peer's truncated batch). */
static void test_wire_next(void **state)
{
	static uint8_t b[2 * COH_WIRE_LEN + CVMM_PAGE_SIZE];
	uint8_t *heap;

	enc(COH_WIRE_VERSION, COH_MSG_READ_GRANT, 1, 1, COH_FLAG_PAGE, 3, b);
	enc(COH_WIRE_VERSION, COH_MSG_INVALIDATE, 1, 0, 0, 4,
	    b + COH_WIRE_LEN + CVMM_PAGE_SIZE);
	assert_int_equal(coh_wire_next(b, sizeof(b)),
			 COH_WIRE_LEN + CVMM_PAGE_SIZE);
	assert_int_equal(coh_wire_next(b + COH_WIRE_LEN + CVMM_PAGE_SIZE,
				       COH_WIRE_LEN),
			 COH_WIRE_LEN);
	assert_int_equal(coh_wire_next(NULL, sizeof(b)), 0);
	/* every truncation of the page-carrying one: 0, and no read past */
	for (size_t len = 0; len < COH_WIRE_LEN + CVMM_PAGE_SIZE;
	     len += len < COH_WIRE_LEN ? 1 : 512) {
		heap = malloc(len ? len : 1);
		memcpy(heap, b, len);
		assert_int_equal(coh_wire_next(heap, len), 0);
		free(heap);
	}
}

/* A pushing grant is the message and the page; the length says so. */
static void test_wire_page(void **state)
{
	static uint8_t b[COH_WIRE_LEN + CVMM_PAGE_SIZE + 1];
	coh_msg_t out;
	char why[96];

	enc(COH_WIRE_VERSION, COH_MSG_READ_GRANT, 0, 0, COH_FLAG_PAGE, 7, b);
	b[COH_WIRE_LEN] = 0xab;
	assert_int_equal(coh_wire_decode(b, COH_WIRE_LEN + CVMM_PAGE_SIZE, NN,
					 8, &out, why, sizeof(why)), CVMM_OK);
	assert_int_equal(out.flags, COH_FLAG_PAGE);
	assert_int_equal(coh_wire_len(&out), COH_WIRE_LEN + CVMM_PAGE_SIZE);
	expect_bad(b, COH_WIRE_LEN, "length 24, not 4120");
	expect_bad(b, COH_WIRE_LEN + CVMM_PAGE_SIZE + 1, "length 4121, not 4120");
	enc(COH_WIRE_VERSION, COH_MSG_WRITE_GRANT, 0, 0,
	    COH_FLAG_PAGE | COH_FLAG_ZERO, 7, b);
	expect_bad(b, COH_WIRE_LEN + CVMM_PAGE_SIZE,
		   "flags not valid for the type");
	enc(COH_WIRE_VERSION, COH_MSG_FWD_WRITE, 0, 1, COH_FLAG_PAGE, 7, b);
	expect_bad(b, COH_WIRE_LEN + CVMM_PAGE_SIZE,
		   "flags not valid for the type");
	enc(COH_WIRE_VERSION, COH_MSG_READ_GRANT, 0, 0, 0, 7, b);
	expect_bad(b, COH_WIRE_LEN + CVMM_PAGE_SIZE, "length 4120, not 24");
	enc(COH_WIRE_VERSION, COH_MSG_FWD_WRITE, 0, 1, COH_FLAG_HAVE, 7, b);
	expect_good(b, COH_WIRE_LEN, &out);
	assert_int_equal(out.flags, COH_FLAG_HAVE);
	enc(COH_WIRE_VERSION, COH_MSG_FWD_READ, 0, 1, COH_FLAG_HAVE, 7, b);
	expect_bad(b, COH_WIRE_LEN, "flags not valid for the type");
	enc(COH_WIRE_VERSION, COH_MSG_WRITE_GRANT, 0, 1, COH_FLAG_HAVE, 7, b);
	expect_bad(b, COH_WIRE_LEN, "flags not valid for the type");
}

/* ---- loopback cluster ------------------------------------------------------ */

typedef struct lb_node {
	int id;
	coh_node_t *coh;
	uint8_t mem[NSLOT][PAGE_BYTES]; /* this node's copy (agent view) */
	uint8_t mapped[NSLOT];   /* guest view: 0, COH_SHARED or COH_EXCLUSIVE */
	bool notified[NSLOT];    /* ops->notify since the waiters last tried */
	unsigned wseq[NSLOT];    /* threaded test: bumped by notify */
	int fetch_from[NSLOT];   /* a claimed get not yet done: owner, or -1 */
	int pend_reads[NSLOT], pend_writes[NSLOT]; /* waiting threads */
	bool ahead[NSLOT];       /* a write-ahead of it is unanswered */
	int data_home[NSLOT];    /* ops->to_data: home + 1, 0 before */
} lb_node_t;

/* A message, and the sender's bytes when it pushes the page. */
#define LB_MSG (COH_WIRE_LEN + PAGE_BYTES)

typedef struct lb_queue {
	uint8_t buf[QCAP][LB_MSG];
	int head, len;
} lb_queue_t;

static lb_node_t nodes[NN];
static lb_queue_t queues[NN][NN]; /* [src][dst] */
static uint64_t slot_page[NSLOT];
static int nslots;
static uint32_t latest[NSLOT];
/* A node that left (test_leave): nothing may reach it any more, and its
 * stale state is no one's. -1: none. */
static int gone = -1;
static uint64_t npages;
static unsigned rng;
static bool sync_self; /* deliver messages to oneself inside send */
static bool push_mode; /* coh_cfg_t.push of the cluster */
static unsigned long pushes; /* pages that came with their grant */
static uint32_t hold_us;     /* coh_cfg_t.hold_max_us of the cluster */
static uint32_t promote_k;   /* coh_cfg_t.promote_after of the cluster */
static uint64_t now_ns;      /* the cluster's clock (holds) */
static uint64_t armed_at;    /* the deadline of the last hold armed */
static unsigned long armed;  /* holds armed */
static bool zero_ok;         /* ops->is_zero: a copy of all zeros says so */
static bool due_mode;        /* cfg.forward_due: due forwards come back
				to the test (the release model's runtime) */
#define DUE_MAX 64
static coh_msg_t due[NN][DUE_MAX]; /* handed over, oldest first */
static unsigned ndue[NN];
static unsigned long dues;   /* forwards handed over */
static bool first_touch;     /* run_seed: pages start at their managers */
static unsigned long refused, ahead_granted; /* write-aheads */
static unsigned long upgrades_asked; /* upgrade-aheads (try_access) */

/* tm guards the simulated memory (mem, mapped, latest, wseq, notified)
 * between the threaded test's threads; qmu guards the queues. */
static pthread_mutex_t tm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tcond = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t qmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t qcond = PTHREAD_COND_INITIALIZER;

static unsigned rnd(unsigned n)
{
	rng = rng * 1103515245u + 12345u;
	return (rng >> 16) % n;
}

static int slot(uint64_t page)
{
	for (int s = 0; s < nslots; s++)
		if (slot_page[s] == page)
			return s;
	assert_true(nslots < NSLOT);
	slot_page[nslots] = page;
	return nslots++;
}

static uint32_t val(int node, int s)
{
	uint32_t v;

	memcpy(&v, nodes[node].mem[s], sizeof(v));
	return v;
}

static void put_val(int node, int s, uint32_t v)
{
	memcpy(nodes[node].mem[s], &v, sizeof(v));
}

static bool deliver_msg(int d, const uint8_t *buf, int src);

static cvmm_status_t lb_send(void *ctx, uint32_t dst, const coh_msg_t *m)
{
	lb_node_t *n = ctx;
	lb_queue_t *q = &queues[n->id][dst];
	uint8_t buf[LB_MSG];

	T_CHECK((int)dst != gone); /* a node that left gets nothing */
	/* takes the sender's lock: hangs (and the alarm fires) if a send
	 * were made under it */
	(void)coh_page_state(n->coh, m->page);
	coh_wire_encode(m, buf);
	T_CHECK(!(m->flags & COH_FLAG_PAGE) || push_mode);
	if (m->flags & COH_FLAG_PAGE) { /* the bytes as of the send */
		pthread_mutex_lock(&tm);
		memcpy(buf + COH_WIRE_LEN, n->mem[slot(m->page)], PAGE_BYTES);
		pthread_mutex_unlock(&tm);
	}
	pthread_mutex_lock(&qmu);
	if (sync_self && dst == (uint32_t)n->id && q->len == 0) {
		pthread_mutex_unlock(&qmu); /* FIFO kept: nothing queued */
		assert_true(deliver_msg(n->id, buf, n->id));
		return CVMM_OK;
	}
	if (q->len == QCAP) {
		fprintf(stderr, "loopback queue %d -> %u full\n", n->id, dst);
		abort();
	}
	memcpy(q->buf[(q->head + q->len) % QCAP], buf, LB_MSG);
	q->len++;
	pthread_cond_broadcast(&qcond);
	pthread_mutex_unlock(&qmu);
	return CVMM_OK;
}

static void set_mapped(void *ctx, uint64_t page, uint8_t how)
{
	lb_node_t *n = ctx;

	pthread_mutex_lock(&tm);
	n->mapped[slot(page)] = how;
	pthread_mutex_unlock(&tm);
}

static cvmm_status_t lb_inval(void *ctx, uint64_t page)
{
	set_mapped(ctx, page, 0); /* like MADV_DONTNEED: the bytes stay */
	return CVMM_OK;
}

static cvmm_status_t lb_install(void *ctx, uint64_t page, coh_state_t st)
{
	if (st != COH_SHARED && st != COH_EXCLUSIVE)
		abort();
	set_mapped(ctx, page, (uint8_t)st);
	return CVMM_OK;
}

/* A pushed copy must be current when it lands, as a get would be. */
static cvmm_status_t lb_put_page(void *ctx, uint64_t page, uint32_t from,
				 const void *data)
{
	lb_node_t *n = ctx;
	int s = slot(page);
	uint32_t v;

	T_CHECK(push_mode);
	T_CHECK(from != (uint32_t)n->id);
	T_CHECK(data || zero_ok);
	pthread_mutex_lock(&tm);
	if (data) {
		memcpy(&v, data, sizeof(v));
		memcpy(n->mem[s], data, PAGE_BYTES);
	} else { /* a zero grant */
		v = 0;
		memset(n->mem[s], 0, PAGE_BYTES);
	}
	T_CHECK(v == latest[s]);
	pushes++;
	if (n->ahead[s]) {
		n->ahead[s] = false;
		ahead_granted++;
	}
	pthread_mutex_unlock(&tm);
	return CVMM_OK;
}

static bool lb_is_zero(void *ctx, uint64_t page)
{
	static const uint8_t zeros[PAGE_BYTES];
	lb_node_t *n = ctx;
	bool z;

	if (!zero_ok)
		return false;
	pthread_mutex_lock(&tm);
	z = !memcmp(n->mem[slot(page)], zeros, PAGE_BYTES);
	pthread_mutex_unlock(&tm);
	return z;
}

static void lb_refused(void *ctx, uint64_t page)
{
	lb_node_t *n = ctx;

	/* the page is INVALID again, nothing arrives for it (a request
	 * ahead, or any request naming a data page's home) */
	pthread_mutex_lock(&tm);
	T_CHECK(n->mapped[slot(page)] == 0);
	n->ahead[slot(page)] = false;
	refused++;
	pthread_mutex_unlock(&tm);
}

static void lb_notify(void *ctx, uint64_t page)
{
	lb_node_t *n = ctx;
	int s = slot(page);

	pthread_mutex_lock(&tm);
	n->notified[s] = true;
	n->wseq[s]++;
	pthread_cond_broadcast(&tcond);
	pthread_mutex_unlock(&tm);
}

/* Called with no lock held (it takes the node's: hangs if not). */
static void lb_to_data(void *ctx, uint64_t page, uint32_t home)
{
	lb_node_t *n = ctx;

	(void)coh_page_state(n->coh, page);
	T_CHECK(n->data_home[slot(page)] == 0); /* once per node */
	n->data_home[slot(page)] = (int)home + 1;
}

static uint64_t lb_now(void *ctx)
{
	return now_ns;
}

static bool node_idle[NN]; /* coh_cfg_t.idle: no guest thread runs */

static bool lb_idle(void *ctx)
{
	return node_idle[((lb_node_t *)ctx)->id];
}

static void lb_armed(void *ctx, uint64_t deadline)
{
	T_CHECK(deadline > now_ns);
	armed_at = deadline;
	armed++;
}

static cvmm_status_t lb_forward_due(void *ctx, const coh_msg_t *m)
{
	int i = ((lb_node_t *)ctx)->id;

	T_CHECK(m->type == COH_MSG_FWD_READ || m->type == COH_MSG_FWD_WRITE);
	T_CHECK(ndue[i] < DUE_MAX);
	due[i][ndue[i]++] = *m;
	dues++;
	return CVMM_OK;
}

static const coh_ops_t lb_ops = {
	.send = lb_send,
	.put_page = lb_put_page,
	.invalidate_local = lb_inval,
	.install = lb_install,
	.map = lb_install,
	.notify = lb_notify,
	.is_zero = lb_is_zero,
	.refused = lb_refused,
	.to_data = lb_to_data,
};

/* The node playing each manager role (coh_cfg_t.host), NULL: node v plays
 * role v. */
static const uint8_t *roles;

static uint32_t mgr_node(uint64_t p)
{
	uint32_t v = coh_manager(p, NN);

	return roles ? roles[v] : v;
}

/* np pages; spread: the test's np slots are pages in different manager
 * runs (coh_manager), so that every node manages some of them. */
static void cluster_up_pages(uint64_t np, bool spread)
{
	memset(nodes, 0, sizeof(nodes));
	memset(queues, 0, sizeof(queues));
	memset(latest, 0, sizeof(latest));
	memset(ndue, 0, sizeof(ndue));
	nslots = 0;
	now_ns = 1000000000ull; /* any epoch */
	armed = 0;
	for (uint64_t p = 0; np <= NSLOT && p < np; p++)
		slot(spread ? p * COH_MGR_RUN + p % COH_MGR_RUN : p);
	if (spread)
		np *= COH_MGR_RUN;
	npages = np;
	for (int i = 0; i < NN; i++) {
		coh_cfg_t cfg = { .self = (uint32_t)i, .nnodes = NN,
				  .npages = np, .push = push_mode,
				  .hold_max_us = hold_us, .ops = &lb_ops,
				  .promote_after = promote_k,
				  .ctx = &nodes[i], .now_ns = lb_now,
				  .hold_armed = lb_armed, .idle = lb_idle,
				  .forward_due = due_mode ? lb_forward_due
							  : NULL,
				  .host = roles };

		nodes[i].id = i;
		for (int s = 0; s < NSLOT; s++)
			nodes[i].fetch_from[s] = -1;
		assert_int_equal(coh_node_create(&cfg, &nodes[i].coh), CVMM_OK);
	}
}

static void cluster_up(uint64_t np)
{
	cluster_up_pages(np, false);
}

static void cluster_down(void)
{
	for (int i = 0; i < NN; i++)
		coh_node_destroy(nodes[i].coh);
}

static bool valid(coh_state_t st)
{
	return st == COH_SHARED || st == COH_EXCLUSIVE ||
	       st == COH_UPGRADE_WAIT;
}

static void check_invariants(void)
{
	for (int s = 0; s < nslots; s++) {
		int excl = 0, mexcl = 0;

		for (int i = 0; i < NN; i++) {
			coh_state_t st = coh_page_state(nodes[i].coh,
							slot_page[s]);

			if (i == gone)
				continue;
			excl += st == COH_EXCLUSIVE;
			mexcl += nodes[i].mapped[s] == COH_EXCLUSIVE;
			if (valid(st))
				assert_int_equal(val(i, s), latest[s]);
			if (nodes[i].mapped[s])
				assert_true(valid(st));
			if (nodes[i].mapped[s] == COH_EXCLUSIVE)
				assert_int_equal(st, COH_EXCLUSIVE);
		}
		assert_true(excl <= 1);
		assert_true(mexcl <= 1);
	}
}

/* The guest's access through its view, which must allow it. */
static void guest_access(int i, int s, bool write)
{
	lb_node_t *n = &nodes[i];

	assert_int_equal(val(i, s), latest[s]); /* no stale read */
	if (!write) {
		assert_int_not_equal(n->mapped[s], 0);
		return;
	}
	assert_int_equal(n->mapped[s], COH_EXCLUSIVE);
	put_val(i, s, ++latest[s]);
}

/* One thread of node i tries its access to slot s: true when it completed;
 * on COH_FETCH the thread now owes the get (complete_fetch). */
static bool try_access(int i, int s, bool write)
{
	lb_node_t *n = &nodes[i];
	coh_state_t st;
	coh_fault_res_t r;

	uint64_t ahead[NSLOT] = { 0 };
	uint32_t asked;
	unsigned k = 0;

	/* half the faults also ask for other pages ahead (push only):
	 * read-ahead, write-ahead; a write to a page held SHARED asks
	 * upgrade-aheads instead, as the runtime does (any transfer) */
	for (int t = 0; t < nslots && rnd(2); t++)
		if (t != s && rnd(2))
			ahead[k++] = slot_page[t];
	if (write && coh_page_state(n->coh, slot_page[s]) == COH_SHARED) {
		coh_state_t before[NSLOT];

		for (unsigned t = 0; t < k; t++)
			before[t] = coh_page_state(n->coh, ahead[t]);
		assert_int_equal(coh_fault_upgrade(n->coh, slot_page[s], false,
						   ahead, k, &r), CVMM_OK);
		for (unsigned t = 0; t < k; t++) {
			coh_state_t at = coh_page_state(n->coh, ahead[t]);

			/* a SHARED page is asked for, nothing else (unless a
			 * message to ourselves answered at once) */
			assert_true(sync_self ||
				    at == (before[t] == COH_SHARED
						   ? COH_UPGRADE_WAIT
						   : before[t]));
			upgrades_asked += before[t] == COH_SHARED;
		}
		asked = 0;
		k = 0;
	} else {
		assert_int_equal(coh_fault_ahead(n->coh, slot_page[s], write,
						 ahead, k, &asked, &r),
				 CVMM_OK);
	}
	for (unsigned t = 0; t < k; t++) { /* only when pushing */
		assert_true(!(asked >> t & 1) || push_mode);
		if (write && (asked >> t & 1))
			n->ahead[slot(ahead[t])] = true;
	}
	st = coh_page_state(n->coh, slot_page[s]);
	switch (r.kind) {
	case COH_READY:
		assert_int_equal(r.state, st == COH_EXCLUSIVE ? COH_EXCLUSIVE
							      : COH_SHARED);
		assert_true(!write || st == COH_EXCLUSIVE);
		guest_access(i, s, write);
		return true;
	case COH_FETCH:
		assert_true(st == COH_READ_FETCH || st == COH_WRITE_FETCH);
		assert_int_equal(n->fetch_from[s], -1); /* one per grant */
		assert_int_not_equal(r.owner, i);
		n->fetch_from[s] = (int)r.owner;
		return false;
	case COH_WAIT:
		assert_false(valid(st) && !write);
		return false;
	case COH_DATA: /* no promotion here */
		break;
	}
	fail();
	return false;
}

/* The claimed get: the owner's bytes must be current while R fetches. */
static void fetch_now(int i, int s)
{
	int o = nodes[i].fetch_from[s];

	assert_int_equal(val(o, s), latest[s]);
	memcpy(nodes[i].mem[s], nodes[o].mem[s], PAGE_BYTES);
	nodes[i].fetch_from[s] = -1;
	assert_int_equal(coh_fetch_done(nodes[i].coh, slot_page[s]), CVMM_OK);
}

static bool complete_fetch(void)
{
	int cand[NN * NSLOT], nc = 0;

	for (int i = 0; i < NN; i++)
		for (int s = 0; s < nslots; s++)
			if (nodes[i].fetch_from[s] >= 0)
				cand[nc++] = i * NSLOT + s;
	if (nc == 0)
		return false;
	int c = cand[rnd(nc)];

	fetch_now(c / NSLOT, c % NSLOT);
	return true;
}

/* Threads waiting on (i, s) retry only after a notify. */
static void retry(int i, int s)
{
	lb_node_t *n = &nodes[i];

	if (!n->notified[s])
		return;
	n->notified[s] = false;
	while (n->pend_writes[s] > 0 && try_access(i, s, true))
		n->pend_writes[s]--;
	while (n->pend_reads[s] > 0 && try_access(i, s, false))
		n->pend_reads[s]--;
}

static void settle_all(void)
{
	for (int i = 0; i < NN; i++)
		for (int s = 0; s < nslots; s++)
			retry(i, s);
	check_invariants();
}

/* buf: LB_MSG bytes; a pushed page goes on the wire as a whole page. */
static bool deliver_msg(int d, const uint8_t *buf, int src)
{
	uint8_t wire[COH_WIRE_LEN + CVMM_PAGE_SIZE] = { 0 };
	coh_msg_t m;
	char why[96];
	size_t len = COH_WIRE_LEN;

	memcpy(wire, buf, LB_MSG);
	memcpy(&m.flags, buf + 12, sizeof(m.flags)); /* little-endian host */
	if (m.flags & COH_FLAG_PAGE)
		len += CVMM_PAGE_SIZE;
	if (coh_wire_decode(wire, len, NN, npages, &m, why, sizeof(why)) !=
		    CVMM_OK ||
	    m.src != (uint32_t)src)
		return false;
	/* an upgrade keeps its copy: FWD_WRITE said HAVE, no bytes pushed */
	T_CHECK(!(m.flags & COH_FLAG_PAGE) ||
		coh_page_state(nodes[d].coh, m.page) != COH_UPGRADE_WAIT);
	return coh_recv(nodes[d].coh, &m,
			m.flags & COH_FLAG_PAGE ? wire + COH_WIRE_LEN : NULL) ==
	       CVMM_OK;
}

/* Pops the head of a random non-empty queue among those whose destination
 * is in dmask; -1 if none. */
static int pop_msg(unsigned dmask, uint8_t buf[LB_MSG], int *src,
		   unsigned (*pick)(unsigned))
{
	int cand[NN * NN], nc = 0;

	for (int s = 0; s < NN; s++)
		for (int d = 0; d < NN; d++)
			if (queues[s][d].len && (dmask >> d & 1))
				cand[nc++] = s * NN + d;
	if (nc == 0)
		return -1;
	int c = cand[pick(nc)], d = c % NN;
	lb_queue_t *q = &queues[c / NN][d];

	memcpy(buf, q->buf[q->head], LB_MSG);
	q->head = (q->head + 1) % QCAP;
	q->len--;
	*src = c / NN;
	return d;
}

/* What arrives in one transport message (send_many): the messages queued
 * from src to d, at most 8, handled in one coh_recv_many. */
static void deliver_bundle(int d, int src, const uint8_t *first)
{
	static uint8_t wire[8][COH_WIRE_LEN + CVMM_PAGE_SIZE];
	const void *pages[8];
	coh_msg_t m[8];
	lb_queue_t *q = &queues[src][d];
	unsigned k = 0;
	char why[96];

	memcpy(wire[k++], first, LB_MSG);
	pthread_mutex_lock(&qmu);
	while (k < 8 && q->len) {
		memcpy(wire[k++], q->buf[q->head], LB_MSG);
		q->head = (q->head + 1) % QCAP;
		q->len--;
	}
	pthread_mutex_unlock(&qmu);
	for (unsigned i = 0; i < k; i++) {
		uint32_t flags;
		size_t len = COH_WIRE_LEN;

		memcpy(&flags, wire[i] + 12, sizeof(flags));
		if (flags & COH_FLAG_PAGE)
			len += CVMM_PAGE_SIZE;
		assert_int_equal(coh_wire_decode(wire[i], len, NN, npages,
						 &m[i], why, sizeof(why)),
				 CVMM_OK);
		pages[i] = flags & COH_FLAG_PAGE ? wire[i] + COH_WIRE_LEN
						 : NULL;
	}
	assert_int_equal(coh_recv_many(nodes[d].coh, m, pages, k), CVMM_OK);
}

static bool deliver_one(void)
{
	uint8_t buf[LB_MSG];
	int src, d;

	pthread_mutex_lock(&qmu);
	d = pop_msg(~0u, buf, &src, rnd);
	pthread_mutex_unlock(&qmu);
	if (d < 0)
		return false;
	if (rnd(4) == 0)
		deliver_bundle(d, src, buf);
	else
		assert_true(deliver_msg(d, buf, src));
	return true;
}

static void deliver_all(void)
{
	while (deliver_one())
		;
}

static void local_op(int i)
{
	int s = rnd(nslots);
	bool write = rnd(2);

	if (try_access(i, s, write))
		return;
	if (write)
		nodes[i].pend_writes[s]++;
	else
		nodes[i].pend_reads[s]++;
}

/* The runtime gives a due forward back (the release thread, once it
 * has released): the oldest of a node that has one, from a random one
 * on. False when none is due. */
static bool give_back_one(void)
{
	int start = (int)rnd(NN);

	for (int k = 0; k < NN; k++) {
		int i = (start + k) % NN;
		coh_msg_t m;

		if (!ndue[i])
			continue;
		m = due[i][0];
		memmove(&due[i][0], &due[i][1], (ndue[i] - 1) * sizeof(m));
		ndue[i]--;
		assert_int_equal(coh_recv(nodes[i].coh, &m, NULL), CVMM_OK);
		return true;
	}
	return false;
}

static bool anything_left(void)
{
	for (int i = 0; i < NN; i++) {
		if (ndue[i])
			return true;
		for (int d = 0; d < NN; d++)
			if (queues[i][d].len)
				return true;
		for (int s = 0; s < nslots; s++)
			if (nodes[i].pend_reads[s] || nodes[i].pend_writes[s] ||
			    nodes[i].fetch_from[s] >= 0)
				return true;
	}
	return false;
}

/* Ends the holds due now on every node; true if one is still pending,
 * and then the clock jumps to the earliest deadline. */
static bool holds_left(void)
{
	uint64_t first = UINT64_MAX, next;

	for (int i = 0; i < NN; i++) {
		assert_int_equal(coh_hold_tick(nodes[i].coh, &next), CVMM_OK);
		if (next < first)
			first = next;
	}
	if (first == UINT64_MAX)
		return false;
	assert_true(first > now_ns);
	now_ns = first;
	return true;
}

/* Everything completed, managers idle, the owner holds a valid copy, no
 * hold pending. */
static void check_quiet(void)
{
	uint64_t next;

	for (int i = 0; i < NN; i++) {
		assert_int_equal(coh_hold_tick(nodes[i].coh, &next), CVMM_OK);
		assert_true(next == UINT64_MAX);
		assert_int_equal(ndue[i], 0);
	}
	for (int i = 0; i < NN; i++)
		for (int s = 0; s < nslots && i != gone; s++) {
			uint64_t p = slot_page[s];
			coh_state_t st = coh_page_state(nodes[i].coh, p);
			coh_mstate_t ms;
			uint32_t owner;
			uint64_t cs;

			assert_true(st == COH_INVALID || st == COH_SHARED ||
				    st == COH_EXCLUSIVE);
			if (mgr_node(p) != (uint32_t)i)
				continue;
			assert_int_equal(coh_mpage_info(nodes[i].coh, p, &ms,
							&owner, &cs), CVMM_OK);
			assert_int_equal(ms, COH_M_IDLE);
			assert_true(valid(coh_page_state(nodes[owner].coh, p)));
		}
}

static void run_ops(int ops_per_node);

static void run_seed(unsigned seed, int np, int ops_per_node)
{
	rng = seed;
	sync_self = seed & 1;
	cluster_up_pages((uint64_t)np, true);
	/* first touch: slot 0's page is node 0's image, the rest start at
	 * their managers */
	for (int i = 0; first_touch && i < NN; i++)
		assert_int_equal(coh_node_add_image(nodes[i].coh, slot_page[0],
						    slot_page[0] + 1),
				 CVMM_OK);
	run_ops(ops_per_node);
	check_quiet();
	cluster_down();
}

/* ops_per_node accesses on every node (but one that left), in random
 * order with the messages and fetches, until everything is done. */
static void run_ops(int ops_per_node)
{
	int left[NN], total = 0, steps = 0;

	for (int i = 0; i < NN; i++) {
		left[i] = i == gone ? 0 : ops_per_node;
		total += left[i];
	}
	/* holds first: ending one sends a grant, which anything_left sees */
	while (total > 0 || (hold_us && holds_left()) || anything_left()) {
		unsigned r = rnd(hold_us ? 5 : 4);

		if (hold_us) /* time passes: a step takes 0-30 us */
			now_ns += 1000ull * rnd(31);
		if (r == 4) {
			uint64_t next;

			assert_int_equal(coh_hold_tick(nodes[rnd(NN)].coh,
						       &next), CVMM_OK);
		} else if (total > 0 && r == 0) {
			int i = rnd(NN);

			if (left[i] == 0)
				continue;
			left[i]--;
			total--;
			local_op(i);
		} else if (due_mode && r == 2 && give_back_one()) {
			/* the release thread's turn */
		} else if (!(r == 1 && complete_fetch()) && !deliver_one() &&
			   !complete_fetch() && due_mode) {
			give_back_one();
		}
		settle_all();
		assert_true(++steps < 1000000); /* a stuck request never ends */
	}
}

/* Both ways to move a page: get (even pairs of seeds) and push; every
 * other pair of pairs with first touch and zero grants (write-aheads
 * granted while pages are fresh and all zeros, refused after). */
static void test_loopback_random(void **state)
{
	refused = ahead_granted = upgrades_asked = 0;
	for (unsigned seed = 1; seed <= 3000; seed++) {
		push_mode = seed >> 1 & 1;
		first_touch = zero_ok = seed >> 2 & 1;
		run_seed(seed, 2 + seed % 3, 1 + seed % 40);
	}
	print_message("write-aheads granted: %lu, refused: %lu; "
		      "upgrade-aheads asked: %lu\n",
		      ahead_granted, refused, upgrades_asked);
	assert_true(ahead_granted > 100 && refused > 100);
	assert_true(upgrades_asked > 100);
	sync_self = push_mode = first_touch = zero_ok = false;
}

/* Roles hosted elsewhere (docs/design.md, "Elastic nodes"): node 1 plays
 * its own manager role and node 2's, node 2 none (as a node that joined,
 * or whose roles went to node 1 when it would leave): the same programs,
 * both transfers, with and without first touch (node 2's pages then start
 * at node 1). */
static void test_loopback_roles(void **state)
{
	static const uint8_t hosted[NN] = { 0, 1, 1 };

	roles = hosted;
	for (unsigned seed = 1; seed <= 1500; seed++) {
		push_mode = seed >> 1 & 1;
		first_touch = zero_ok = seed >> 2 & 1;
		run_seed(seed, 2 + seed % 3, 1 + seed % 40);
	}
	roles = NULL;
	refused = ahead_granted = 0;
	sync_self = push_mode = first_touch = zero_ok = false;
}

static void take_rec(void *ctx, uint64_t page, const coh_record_t *r)
{
	int h = *(const int *)ctx;

	assert_int_equal(coh_node_take_record(nodes[h].coh,
					      coh_manager(page, NN), page, r),
			 CVMM_OK);
}

/* Node k leaves at a quiet point, h takes over (proto.h "a node leaving"):
 * k's role records and held pages (bytes and state) to h, then every
 * other node departs k. */
static void leave(int k, int h, uint8_t *role_host)
{
	for (uint32_t v = 0; v < NN; v++)
		if (role_host[v] == k)
			assert_int_equal(coh_node_role_records(nodes[k].coh, v,
							       take_rec, &h),
					 CVMM_OK);
	for (int s = 0; s < nslots; s++) {
		coh_state_t st = coh_page_state(nodes[k].coh, slot_page[s]);

		if (st != COH_SHARED && st != COH_EXCLUSIVE)
			continue;
		if (!valid(coh_page_state(nodes[h].coh, slot_page[s])))
			put_val(h, s, val(k, s));
		assert_int_equal(coh_node_take_page(nodes[h].coh,
						    slot_page[s], st),
				 CVMM_OK);
	}
	for (int i = 0; i < NN; i++)
		if (i != k)
			assert_int_equal(coh_node_depart(nodes[i].coh,
							 (uint32_t)k,
							 (uint32_t)h),
					 CVMM_OK);
	for (uint32_t v = 0; v < NN; v++)
		if (role_host[v] == k)
			role_host[v] = (uint8_t)h;
	gone = k;
}

/* A node leaves a running VM (docs/design.md "Elastic nodes", step 3):
 * random programs run to a quiet point, node 1 or 2 leaves for one of the
 * others, the rest go on: no message reaches the node that left, no read
 * is stale, every page has its owner and manager; both transfers, with
 * and without first touch (its pages then start at their roles' nodes,
 * the leaving node's included). */
static void test_leave(void **state)
{
	static uint8_t role_host[NN];

	for (unsigned seed = 1; seed <= 1500; seed++) {
		/* node 0 cannot leave: it is the image's (and, without
		 * first touch, every page's) initial owner, as in the VM */
		int k = 1 + (int)(seed % 2), h = (int)((k + 1 + seed / 2 % 2) % NN);

		rng = seed;
		push_mode = seed >> 1 & 1;
		first_touch = zero_ok = seed >> 2 & 1;
		sync_self = seed & 1;
		for (int v = 0; v < NN; v++)
			role_host[v] = (uint8_t)v;
		roles = role_host;
		cluster_up_pages((uint64_t)(2 + seed % 3), true);
		for (int i = 0; first_touch && i < NN; i++)
			assert_int_equal(coh_node_add_image(nodes[i].coh,
							    slot_page[0],
							    slot_page[0] + 1),
					 CVMM_OK);
		run_ops(1 + (int)(seed % 30));
		check_quiet();
		leave(k, h, role_host);
		run_ops(1 + (int)(seed % 40));
		check_quiet();
		gone = -1;
		cluster_down();
	}
	roles = NULL;
	refused = ahead_granted = 0;
	sync_self = push_mode = first_touch = zero_ok = false;
}

/* The same with the holding window on: forwards held back and run by
 * coh_hold_tick as the clock passes their deadline, caps from 50 us (one
 * window) to 2 ms. */
static void test_loopback_hold(void **state)
{
	static const uint32_t caps[] = { 50, 100, 400, 2000 };
	unsigned long holds = 0;

	for (unsigned seed = 1; seed <= 2000; seed++) {
		push_mode = seed >> 1 & 1;
		hold_us = caps[seed / 4 % 4];
		run_seed(seed, 2 + seed % 3, 1 + seed % 60);
		holds += armed;
	}
	print_message("holds armed: %lu\n", holds);
	assert_true(holds > 1000);
	sync_self = push_mode = false;
	hold_us = 0;
}

/* The same with cfg.forward_due (the release model): a forward a hold or
 * a pin kept back is handed to the runtime when due and runs only when
 * given back, at a random later point; everything still completes. */
static void test_loopback_hold_due(void **state)
{
	static const uint32_t caps[] = { 50, 400, 2000 };

	due_mode = true;
	dues = 0;
	for (unsigned seed = 1; seed <= 1500; seed++) {
		push_mode = seed >> 1 & 1;
		hold_us = caps[seed / 4 % 3];
		run_seed(seed, 2 + seed % 3, 1 + seed % 60);
	}
	print_message("forwards handed back: %lu\n", dues);
	assert_true(dues > 500);
	due_mode = sync_self = push_mode = false;
	hold_us = 0;
}

/* A message illegal in the page's state is the peer's error, not a crash. */
static void test_illegal_message(void **state)
{
	coh_msg_t m = { .version = COH_WIRE_VERSION, .src = 1, .page = 0 };

	cluster_up(2);
	m.type = COH_MSG_READ_GRANT; /* node 2 asked for nothing */
	m.arg = 1;
	assert_int_equal(coh_recv(nodes[2].coh, &m, NULL), CVMM_ERR_PEER);
	m.type = COH_MSG_CONFIRM_WRITE; /* manager 0 is idle */
	m.arg = 0;
	assert_int_equal(coh_recv(nodes[0].coh, &m, NULL), CVMM_ERR_PEER);
	m.type = COH_MSG_READ_REQ; /* node 1 does not manage page 0 */
	assert_int_equal(coh_recv(nodes[1].coh, &m, NULL), CVMM_ERR_PEER);
	assert_int_equal(coh_page_state(nodes[2].coh, 0), COH_INVALID);
	assert_int_equal(coh_fetch_done(nodes[2].coh, 0), CVMM_ERR_INVALID);
	assert_int_equal(coh_unpin(nodes[0].coh, 0), CVMM_ERR_INVALID);
	cluster_down();
}

/* A grant naming the requester itself as owner needs no get: WRITE_WAIT
 * goes straight to EXCLUSIVE (no FETCH for any thread) and confirms. */
static void test_grant_from_self(void **state)
{
	coh_msg_t m = { .version = COH_WIRE_VERSION, .type = COH_MSG_WRITE_GRANT,
			.src = 0, .arg = 2, .page = 0 };
	coh_fault_res_t r;
	uint8_t buf[LB_MSG];
	int src;

	cluster_up(2);
	assert_int_equal(coh_fault(nodes[2].coh, 0, true, &r), CVMM_OK);
	assert_int_equal(r.kind, COH_WAIT);
	assert_int_equal(coh_page_state(nodes[2].coh, 0), COH_WRITE_WAIT);
	assert_int_equal(coh_recv(nodes[2].coh, &m, NULL), CVMM_OK);
	assert_int_equal(coh_page_state(nodes[2].coh, 0), COH_EXCLUSIVE);
	assert_true(nodes[2].notified[0]);
	assert_int_equal(nodes[2].mapped[0], COH_EXCLUSIVE);
	assert_int_equal(pop_msg(1u << 0, buf, &src, rnd), 0); /* WRITE_REQ */
	assert_int_equal(pop_msg(1u << 0, buf, &src, rnd), 0);
	assert_int_equal(buf[2], COH_MSG_CONFIRM_WRITE);
	assert_int_equal(src, 2);
	cluster_down();
}

/* Node 0 owns every page at first; a reader fetches node 0's bytes, one
 * thread per grant gets COH_FETCH, and a message during the fetch is
 * illegal. */
static void test_initial_owner(void **state)
{
	coh_fault_res_t r;
	coh_mstate_t ms;
	uint32_t owner;
	uint64_t cs;
	coh_msg_t m = { .version = COH_WIRE_VERSION, .type = COH_MSG_INVALIDATE,
			.src = 2, .page = 2 };

	cluster_up(4);
	for (uint64_t p = 0; p < 4; p++) {
		assert_int_equal(coh_page_state(nodes[0].coh, p), COH_EXCLUSIVE);
		assert_int_equal(coh_page_state(nodes[1].coh, p), COH_INVALID);
		assert_int_equal(coh_page_state(nodes[2].coh, p), COH_INVALID);
		assert_int_equal(coh_mpage_info(nodes[coh_manager(p, NN)].coh, p, &ms,
						&owner, &cs), CVMM_OK);
		assert_int_equal(ms, COH_M_IDLE);
		assert_int_equal(owner, 0);
		assert_int_equal(cs, 0);
	}
	put_val(0, 2, latest[2] = 0x1234); /* the loader's image */
	assert_int_equal(coh_fault(nodes[1].coh, 2, false, &r), CVMM_OK);
	assert_int_equal(r.kind, COH_WAIT);
	deliver_all();
	assert_int_equal(coh_page_state(nodes[1].coh, 2), COH_READ_FETCH);
	assert_true(nodes[1].notified[2]);
	assert_int_equal(coh_fault(nodes[1].coh, 2, false, &r), CVMM_OK);
	assert_int_equal(r.kind, COH_FETCH);
	assert_int_equal(r.owner, 0);
	assert_int_equal(coh_fault(nodes[1].coh, 2, true, &r), CVMM_OK);
	assert_int_equal(r.kind, COH_WAIT); /* claimed already */
	assert_int_equal(coh_recv(nodes[1].coh, &m, NULL), CVMM_ERR_PEER);
	nodes[1].fetch_from[2] = 0;
	fetch_now(1, 2);
	assert_int_equal(coh_fetch_done(nodes[1].coh, 2), CVMM_ERR_INVALID);
	assert_int_equal(coh_fault(nodes[1].coh, 2, false, &r), CVMM_OK);
	assert_int_equal(r.kind, COH_READY);
	assert_int_equal(r.state, COH_SHARED);
	assert_int_equal(val(1, 2), 0x1234);
	deliver_all();
	assert_int_equal(coh_page_state(nodes[0].coh, 2), COH_SHARED);
	assert_int_equal(coh_mpage_info(nodes[coh_manager(2, NN)].coh, 2, &ms, &owner, &cs),
			 CVMM_OK);
	assert_int_equal(ms, COH_M_IDLE);
	assert_int_equal(owner, 0);
	assert_int_equal(cs, 1u << 1);
	cluster_down();
}

static void expect_fault(int i, uint64_t p, bool write, coh_fault_kind_t k)
{
	coh_fault_res_t r;

	assert_int_equal(coh_fault(nodes[i].coh, p, write, &r), CVMM_OK);
	assert_int_equal(r.kind, k);
	if (k == COH_FETCH)
		nodes[i].fetch_from[slot(p)] = (int)r.owner;
}

/* coh_describe (the stuck-wait report): a node's state and fetch, and the
 * manager's record once a request reached it. */
static void test_describe(void **state)
{
	coh_fault_res_t r;
	char line[320];
	uint32_t mgr = coh_manager(2, NN);

	cluster_up(4);
	assert_int_equal(coh_fault(nodes[1].coh, 2, false, &r), CVMM_OK);
	assert_int_equal(r.kind, COH_WAIT);
	coh_describe(nodes[1].coh, 2, line, sizeof(line));
	assert_non_null(strstr(line, "node 1: read_wait"));
	if (mgr != 1) {
		coh_describe(nodes[mgr].coh, 2, line, sizeof(line));
		assert_non_null(strstr(line, "manager: never asked"));
	}
	deliver_all();
	coh_describe(nodes[1].coh, 2, line, sizeof(line));
	assert_non_null(strstr(line, "node 1: read_fetch fetching 1 claimed 0 "
				     "owner 0"));
	coh_describe(nodes[mgr].coh, 2, line, sizeof(line));
	assert_non_null(strstr(line, "manager: busy_read owner 0 req 1 "));
	expect_fault(1, 2, false, COH_FETCH);
	fetch_now(1, 2); /* and coh_fetch_done */
	deliver_all();
	coh_describe(nodes[mgr].coh, 2, line, sizeof(line));
	assert_non_null(strstr(line, "manager: idle owner 0 req 1 pending 0 "
				     "copyset 0x2 queued 0"));
	cluster_down();
}

static void no_rec(void *ctx, uint64_t page, const coh_record_t *r)
{
	(void)ctx;
	(void)page;
	(void)r;
}

/* cvmm ctl pause's test of a node: busy while its request waits, fetches
 * or, at the manager, is being served; quiet once all is done. */
static void test_busy(void **state)
{
	coh_fault_res_t r;
	char why[160] = "";
	uint32_t mgr = coh_manager(2, NN);

	cluster_up(4);
	for (int i = 0; i < NN; i++)
		assert_false(coh_node_busy(nodes[i].coh, why, sizeof(why)));
	assert_int_equal(coh_fault(nodes[1].coh, 2, false, &r), CVMM_OK);
	assert_true(coh_node_busy(nodes[1].coh, why, sizeof(why)));
	assert_string_equal(why, "page 0x2000: read_wait");
	deliver_all();
	assert_true(coh_node_busy(nodes[1].coh, why, sizeof(why)));
	assert_string_equal(why, "page 0x2000: fetching");
	assert_true(coh_node_busy(nodes[mgr].coh, why, sizeof(why)));
	assert_non_null(strstr(why, "a page it manages: busy_read"));
	/* a leave's hand-over is refused until it is quiet */
	assert_int_equal(coh_node_role_records(nodes[mgr].coh,
					       coh_manager(2, NN), no_rec,
					       NULL),
			 CVMM_ERR_INVALID);
	/* node 0 holds the page: a second owner's copy is refused */
	assert_int_equal(coh_node_take_page(nodes[0].coh, 2, COH_EXCLUSIVE),
			 CVMM_ERR_INVALID);
	expect_fault(1, 2, false, COH_FETCH);
	fetch_now(1, 2);
	deliver_all();
	for (int i = 0; i < NN; i++)
		assert_false(coh_node_busy(nodes[i].coh, why, sizeof(why)));
	cluster_down();
}

static bool queues_empty(void)
{
	for (int i = 0; i < NN; i++)
		for (int d = 0; d < NN; d++)
			if (queues[i][d].len)
				return false;
	return true;
}

/* First touch: once the image is declared, a page outside it starts at its
 * manager, which writes it with no message (and maps the fresh pages it
 * would have asked for ahead); another node's first write is
 * a zero grant from the manager. A write-ahead is granted for a fresh,
 * all-zero page and refused (NACK, back to INVALID, waiters notified) for
 * any other. The image can only be declared before anything moved. */
static void test_first_touch(void **state)
{
	uint64_t img, a, b, c, e, ahead[2];
	coh_fault_res_t r;
	coh_mstate_t ms;
	uint32_t owner, asked;
	uint64_t cs;

	push_mode = zero_ok = true;
	cluster_up_pages(5, true); /* slot s: a page managed by node s % NN */
	img = slot_page[0];
	a = slot_page[1];
	b = slot_page[2];
	c = slot_page[3]; /* managed by node 0, like img */
	e = slot_page[4]; /* managed by node 1, like a */
	for (int i = 0; i < NN; i++) {
		assert_int_equal(coh_node_add_image(nodes[i].coh, img, img + 1),
				 CVMM_OK);
		/* overlapping (not ascending), or empty */
		assert_int_equal(coh_node_add_image(nodes[i].coh, img, img + 1),
				 CVMM_ERR_INVALID);
		assert_int_equal(coh_node_add_image(nodes[i].coh, 5, 5),
				 CVMM_ERR_INVALID);
	}
	for (int s = 0; s < 4; s++) {
		uint64_t p = slot_page[s];
		uint32_t home = s == 0 ? 0 : coh_manager(p, NN);

		for (int i = 0; i < NN; i++)
			assert_int_equal(coh_page_state(nodes[i].coh, p),
					 i == (int)home ? COH_EXCLUSIVE
							: COH_INVALID);
		assert_int_equal(coh_mpage_info(nodes[coh_manager(p, NN)].coh,
						p, &ms, &owner, &cs), CVMM_OK);
		assert_int_equal(owner, home);
	}
	/* the manager's first write: no message at all; a page asked for
	 * ahead that also starts here (e) is mapped at once, not asked */
	assert_int_equal(coh_manager(a, NN), 1);
	assert_int_equal(coh_manager(e, NN), 1);
	ahead[0] = e;
	assert_int_equal(coh_fault_ahead(nodes[1].coh, a, true, ahead, 1,
					 &asked, &r), CVMM_OK);
	assert_int_equal(r.kind, COH_READY);
	assert_true(r.first);
	assert_int_equal(asked, 0u);
	assert_true(queues_empty());
	guest_access(1, 1, true);
	assert_int_equal(nodes[1].mapped[4], COH_EXCLUSIVE);
	guest_access(1, 4, true);
	assert_true(queues_empty());
	/* state changed somewhere: too late to declare the image */
	expect_fault(2, a, false, COH_WAIT);
	assert_int_equal(coh_node_add_image(nodes[2].coh, 100, 101),
			 CVMM_ERR_INVALID);
	deliver_all();
	expect_fault(2, a, false, COH_READY);
	/* node 1 writes b (node 2's), asking ahead for c (fresh at its
	 * manager, node 0: granted as zeros) and a (valid at node 1: not
	 * asked) */
	ahead[0] = c;
	ahead[1] = a;
	assert_int_equal(coh_fault_ahead(nodes[1].coh, b, true, ahead, 2,
					 &asked, &r), CVMM_OK);
	assert_int_equal(r.kind, COH_WAIT); /* b is node 2's */
	assert_int_equal(asked, 1u); /* a is valid at node 1 */
	nodes[1].ahead[3] = true;
	assert_int_equal(coh_page_state(nodes[1].coh, c), COH_AHEAD_WAIT);
	expect_fault(1, c, true, COH_WAIT); /* coalesces */
	deliver_all();
	assert_int_equal(coh_page_state(nodes[1].coh, c), COH_EXCLUSIVE);
	assert_int_equal(coh_page_state(nodes[0].coh, c), COH_INVALID);
	assert_int_equal(ahead_granted, 1);
	assert_int_equal(coh_mpage_info(nodes[0].coh, c, &ms, &owner, &cs),
			 CVMM_OK);
	assert_int_equal(owner, 1);
	assert_int_equal(coh_fault(nodes[1].coh, c, true, &r), CVMM_OK);
	assert_int_equal(r.kind, COH_READY);
	assert_false(r.first); /* it moved */
	guest_access(1, 3, true);
	/* node 2 asks ahead for c, which is no longer fresh: refused */
	refused = 0;
	ahead[0] = c;
	assert_int_equal(coh_fault_ahead(nodes[2].coh, b, true, ahead, 1,
					 &asked, &r), CVMM_OK);
	assert_int_equal(asked, 1u);
	nodes[2].ahead[3] = true;
	expect_fault(2, c, false, COH_WAIT); /* a reader coalesces */
	nodes[2].notified[3] = false;
	deliver_all();
	assert_int_equal(refused, 1);
	assert_true(nodes[2].notified[3]); /* and is told to ask again */
	assert_int_equal(coh_page_state(nodes[2].coh, c), COH_INVALID);
	assert_int_equal(coh_page_state(nodes[1].coh, c), COH_EXCLUSIVE);
	expect_fault(2, c, false, COH_WAIT);
	deliver_all();
	expect_fault(2, c, false, COH_READY);
	check_invariants();
	check_quiet();
	cluster_down();
	push_mode = zero_ok = false;
	refused = ahead_granted = 0;
}

/* A forward for a pinned page waits for the last unpin; the new owner then
 * fetches what the agent wrote while the page was pinned. */
/* The release model hands a page to this protocol held by its home
 * (coh_node_seed, on the home and the manager): the home owns it, the
 * manager knows, a read elsewhere gets the home's bytes; a page the
 * protocol has used already is refused. */
static void test_seed(void **state)
{
	coh_mstate_t ms;
	uint32_t owner, m = coh_manager(1, NN), h = (m + 1) % NN,
			r = (m + 2) % NN;
	uint64_t cs;

	(void)state;
	cluster_up(4);
	assert_int_equal(coh_node_seed(nodes[h].coh, 1, h), CVMM_OK);
	assert_int_equal(coh_node_seed(nodes[m].coh, 1, h), CVMM_OK);
	assert_int_equal(coh_page_state(nodes[h].coh, 1), COH_EXCLUSIVE);
	assert_int_equal(coh_page_state(nodes[m].coh, 1), COH_INVALID);
	assert_int_equal(coh_mpage_info(nodes[m].coh, 1, &ms, &owner, &cs),
			 CVMM_OK);
	assert_int_equal(owner, h);
	put_val(h, 1, latest[1] = 77);
	expect_fault(r, 1, false, COH_WAIT);
	deliver_all();
	expect_fault(r, 1, false, COH_FETCH);
	fetch_now(r, 1);
	expect_fault(r, 1, false, COH_READY);
	assert_int_equal(val(r, 1), 77);
	deliver_all();
	assert_int_equal(coh_node_seed(nodes[m].coh, 1, r), CVMM_ERR_INVALID);
	assert_int_equal(coh_node_seed(nodes[r].coh, 1, r), CVMM_ERR_INVALID);
	cluster_down();
}

/* Node i reads, or writes by a plain store (plain) or an atomic, slot s
 * through the protocol until the access completes (deliveries in
 * between). */
static void access_sc(int i, int s, bool write, bool plain)
{
	for (int tries = 0; tries < 100; tries++) {
		coh_fault_res_t r;

		assert_int_equal(write && plain
					 ? coh_fault_plain(nodes[i].coh,
							   slot_page[s], &r)
					 : coh_fault(nodes[i].coh, slot_page[s],
						     write, &r),
				 CVMM_OK);
		if (r.kind == COH_READY) {
			guest_access(i, s, write);
			return;
		}
		if (r.kind == COH_FETCH) {
			nodes[i].fetch_from[s] = (int)r.owner;
			fetch_now(i, s);
			continue;
		}
		assert_true(deliver_one());
	}
	fail();
}

static void write_sc(int i, int s, bool plain)
{
	access_sc(i, s, true, plain);
}

static void read_sc(int i, int s)
{
	access_sc(i, s, false, false);
}

static void expect_mstate(uint64_t p, coh_mstate_t want, uint32_t owner)
{
	coh_mstate_t ms;
	uint32_t o;
	uint64_t cs;

	assert_int_equal(coh_mpage_info(nodes[coh_manager(p, NN)].coh, p, &ms,
					&o, &cs), CVMM_OK);
	assert_int_equal(ms, want);
	assert_int_equal(o, owner);
}

/* Promotion (proto.c "Promotion", the release model's sequential first):
 * a page whose write requests came promote_after times from plain stores
 * goes to the release model at its owner, which must hold the only copy;
 * the manager then refuses every request, naming the home, and each
 * node, the home and the manager hear of it once (ops->to_data). One
 * write request from anything else keeps the page here for good. A
 * pinned owner takes the PROMOTE at its unpin; a page made a sync page
 * while promoting is served again when PROMOTED comes. */
static void test_promote(void **state)
{
	uint64_t a, b, c;
	uint32_t ma, mb, x, y, z;

	(void)state;
	promote_k = 2;
	zero_ok = true; /* the manager tells its first writer by its zeros */
	cluster_up_pages(3, true); /* slot s: managed by node s */
	a = slot_page[0];
	b = slot_page[1];
	c = slot_page[2];
	ma = coh_manager(a, NN); /* 0, a's first owner */
	x = (ma + 1) % NN;
	y = (ma + 2) % NN;
	/* plain writes by x (the first writer: the manager's copy is all
	 * zeros), y, x: two requests by y's, promoted when x, its first
	 * writer, holds it again */
	write_sc((int)x, 0, true);
	deliver_all();
	expect_mstate(a, COH_M_IDLE, x);
	write_sc((int)y, 0, true);
	deliver_all();
	expect_mstate(a, COH_M_IDLE, y); /* two, but y wrote it second */
	assert_int_equal(nodes[y].data_home[0], 0);
	write_sc((int)x, 0, true);
	/* a read by y is queued behind the promotion, then refused */
	{
		coh_fault_res_t r;

		assert_int_equal(coh_fault(nodes[y].coh, a, false, &r),
				 CVMM_OK);
		assert_int_equal(r.kind, COH_WAIT);
	}
	nodes[y].notified[0] = false;
	refused = 0;
	deliver_all();
	expect_mstate(a, COH_M_DATA, x);
	/* told that nothing will land (a read-ahead forgets its page) */
	assert_int_equal(refused, 1);
	assert_int_equal(nodes[x].data_home[0], (int)x + 1);
	assert_int_equal(nodes[ma].data_home[0], (int)x + 1);
	assert_int_equal(nodes[y].data_home[0], (int)x + 1);
	assert_true(nodes[y].notified[0]);
	assert_int_equal(coh_page_state(nodes[y].coh, a), COH_INVALID);
	assert_int_equal(coh_page_state(nodes[x].coh, a), COH_PROMOTED);
	assert_int_equal(coh_page_state(nodes[ma].coh, a), COH_INVALID);
	/* the home's faults are the release model's from now on: nothing
	 * mapped (it may have write-protected the page since), no pin */
	nodes[x].mapped[0] = 0;
	for (int w = 0; w < 3; w++) {
		coh_fault_res_t r;
		bool pinned;

		assert_int_equal(w == 2 ? coh_fault_plain(nodes[x].coh, a, &r)
					: coh_fault(nodes[x].coh, a, w, &r),
				 CVMM_OK);
		assert_int_equal(r.kind, COH_DATA);
		assert_int_equal(nodes[x].mapped[0], 0);
		assert_int_equal(coh_pin(nodes[x].coh, a, &pinned), CVMM_OK);
		assert_false(pinned);
	}
	assert_false(deliver_one()); /* and nothing asked */
	assert_int_equal(coh_page_state(nodes[x].coh, a), COH_PROMOTED);
	/* later requests are refused too, with no effect on the home */
	nodes[ma].data_home[0] = 0;
	{
		coh_fault_res_t r;

		assert_int_equal(coh_fault(nodes[ma].coh, a, true, &r),
				 CVMM_OK);
		assert_int_equal(r.kind, COH_WAIT);
	}
	deliver_all();
	assert_int_equal(nodes[ma].data_home[0], (int)x + 1);
	assert_int_equal(coh_page_state(nodes[ma].coh, a), COH_INVALID);
	expect_mstate(a, COH_M_DATA, x);
	/* the release model makes it a sync page held by its home: the
	 * manager serves it again, and never promotes it any more */
	assert_int_equal(coh_node_seed(nodes[x].coh, a, x), CVMM_OK);
	assert_int_equal(coh_page_state(nodes[x].coh, a), COH_EXCLUSIVE);
	assert_int_equal(coh_node_seed(nodes[ma].coh, a, y), CVMM_ERR_INVALID);
	assert_int_equal(coh_node_seed(nodes[ma].coh, a, x), CVMM_OK);
	expect_mstate(a, COH_M_IDLE, x);
	for (int k = 0; k < 4; k++) {
		write_sc((int)(k % 2 ? x : ma), 0, true);
		deliver_all();
	}
	expect_mstate(a, COH_M_IDLE, x);

	/* b: an atomic among the writes keeps it sequential for good */
	mb = coh_manager(b, NN); /* 1 */
	z = (mb + 1) % NN;
	write_sc((int)z, 1, false);
	for (int k = 0; k < 4; k++) {
		write_sc((int)(k % 2 ? mb : z), 1, true);
		deliver_all();
	}
	expect_mstate(b, COH_M_IDLE, mb);
	assert_int_equal(nodes[z].data_home[1], 0);

	/* c: the owner pins it before the PROMOTE comes; at the unpin it
	 * takes it, and the release model makes it a sync page before
	 * PROMOTED reaches the manager (seeded while promoting) */
	y = (coh_manager(c, NN) + 1) % NN; /* node 0, c's first owner */
	x = (coh_manager(c, NN) + 2) % NN;
	write_sc((int)y, 2, true); /* y writes it first, where it starts */
	write_sc((int)x, 2, true);
	deliver_all();
	write_sc((int)y, 2, true);
	{
		bool pinned;

		assert_int_equal(coh_pin(nodes[y].coh, c, &pinned), CVMM_OK);
		assert_true(pinned);
	}
	deliver_all();
	expect_mstate(c, COH_M_PROMOTE, y);
	assert_int_equal(nodes[y].data_home[2], 0); /* deferred */
	{
		coh_fault_res_t r; /* x's read waits behind the promotion */

		assert_int_equal(coh_fault(nodes[x].coh, c, false, &r),
				 CVMM_OK);
		assert_int_equal(r.kind, COH_WAIT);
	}
	deliver_all();
	assert_int_equal(coh_unpin(nodes[y].coh, c), CVMM_OK);
	assert_int_equal(nodes[y].data_home[2], (int)y + 1);
	assert_int_equal(coh_page_state(nodes[y].coh, c), COH_PROMOTED);
	/* the home makes it a sync page at once, and its SYNC_GO reaches
	 * the manager before PROMOTED does */
	assert_int_equal(coh_node_seed(nodes[y].coh, c, y), CVMM_OK);
	assert_int_equal(coh_page_state(nodes[y].coh, c), COH_EXCLUSIVE);
	assert_int_equal(coh_node_seed(nodes[coh_manager(c, NN)].coh, c, y),
			 CVMM_OK);
	deliver_all();
	/* the manager took PROMOTED as the end of it: x's read is served */
	assert_int_equal(nodes[coh_manager(c, NN)].data_home[2], 0);
	assert_int_equal(nodes[x].data_home[2], 0);
	assert_int_equal(coh_page_state(nodes[x].coh, c), COH_READ_FETCH);
	expect_fault((int)x, c, false, COH_FETCH);
	fetch_now((int)x, 2);
	deliver_all();
	expect_mstate(c, COH_M_IDLE, y);
	cluster_down();
	promote_k = 0;
	zero_ok = false;
}

/* A promoted page given back (coh_node_demote, the release model's "back
 * to sequential first"): its home owns it again and the manager serves
 * it, counting plain moves afresh; it is promoted again once the writer
 * it was given back for holds it, not where it was promoted before. */
static void test_promote_again(void **state)
{
	uint64_t a;
	uint32_t ma, x, y;

	(void)state;
	promote_k = 2;
	zero_ok = true;
	cluster_up_pages(3, true);
	a = slot_page[0];
	ma = coh_manager(a, NN);
	x = (ma + 1) % NN;
	y = (ma + 2) % NN;
	write_sc((int)x, 0, true);
	deliver_all();
	write_sc((int)y, 0, true);
	deliver_all();
	write_sc((int)x, 0, true);
	deliver_all();
	expect_mstate(a, COH_M_DATA, x);
	assert_int_equal(coh_page_state(nodes[x].coh, a), COH_PROMOTED);
	/* only where it is promoted: at its home and its manager */
	assert_int_equal(coh_node_demote(nodes[y].coh, a, x, y),
			 CVMM_ERR_INVALID);
	assert_int_equal(coh_node_demote(nodes[ma].coh, a, y, y),
			 CVMM_ERR_INVALID);
	assert_int_equal(coh_node_demote(nodes[x].coh, a, x, NN),
			 CVMM_ERR_INVALID);
	assert_int_equal(coh_node_demote(nodes[x].coh, a, x, y), CVMM_OK);
	assert_int_equal(coh_page_state(nodes[x].coh, a), COH_EXCLUSIVE);
	assert_int_equal(coh_node_demote(nodes[ma].coh, a, x, y), CVMM_OK);
	expect_mstate(a, COH_M_IDLE, x);
	nodes[x].data_home[0] = nodes[y].data_home[0] = 0;
	nodes[ma].data_home[0] = 0; /* (lb_to_data: once per node) */
	/* y's write, then x's: two plain moves, but x holds it */
	write_sc((int)y, 0, true);
	deliver_all();
	write_sc((int)x, 0, true);
	deliver_all();
	expect_mstate(a, COH_M_IDLE, x);
	assert_int_equal(nodes[x].data_home[0], 0);
	/* y again: promoted there */
	write_sc((int)y, 0, true);
	deliver_all();
	expect_mstate(a, COH_M_DATA, y);
	assert_int_equal(nodes[y].data_home[0], (int)y + 1);
	assert_int_equal(coh_page_state(nodes[y].coh, a), COH_PROMOTED);
	cluster_down();
	promote_k = 0;
	zero_ok = false;
}

/* A write-ahead (the release model asks ahead too) is no store: granted,
 * it makes the fresh page's first toucher its first writer but counts
 * neither as a plain store nor as anything else, so the page is promoted
 * after two plain requests as if its first touch had been a fault. */
static void test_promote_ahead(void **state)
{
	uint64_t img, a, b, ahead[1];
	coh_fault_res_t r;
	coh_mstate_t ms;
	uint32_t owner, asked;
	uint64_t cs;

	(void)state;
	promote_k = 2;
	push_mode = zero_ok = true;
	cluster_up_pages(3, true); /* slot s: a page managed by node s % NN */
	img = slot_page[0];
	a = slot_page[1]; /* managed by node 1 */
	b = slot_page[2]; /* managed by node 2 */
	for (int i = 0; i < NN; i++)
		assert_int_equal(coh_node_add_image(nodes[i].coh, img, img + 1),
				 CVMM_OK);
	/* node 0 writes b plainly and asks ahead for a (fresh at node 1) */
	ahead[0] = a;
	assert_int_equal(coh_fault_plain_ahead(nodes[0].coh, b, ahead, 1,
					       &asked, &r), CVMM_OK);
	assert_int_equal(r.kind, COH_WAIT);
	assert_int_equal(asked, 1u);
	nodes[0].ahead[1] = true;
	deliver_all();
	assert_int_equal(ahead_granted, 1);
	assert_int_equal(coh_page_state(nodes[0].coh, a), COH_EXCLUSIVE);
	assert_int_equal(coh_mpage_info(nodes[1].coh, a, &ms, &owner, &cs),
			 CVMM_OK);
	assert_int_equal(owner, 0);
	expect_fault(0, b, true, COH_READY);
	guest_access(0, 2, true);
	/* node 0 writes a where it took it, then node 2, then node 0 again:
	 * two plain requests, its first writer holds it: promoted */
	write_sc(0, 1, true);
	write_sc(2, 1, true);
	deliver_all();
	expect_mstate(a, COH_M_IDLE, 2);
	write_sc(0, 1, true);
	deliver_all();
	expect_mstate(a, COH_M_DATA, 0);
	assert_int_equal(nodes[0].data_home[1], 1); /* the home */
	assert_int_equal(nodes[1].data_home[1], 1); /* the manager */
	cluster_down();
	promote_k = 0;
	push_mode = zero_ok = false;
	ahead_granted = 0;
}

/* Delivers the oldest message from src to d. */
static void deliver_from(int src, int d)
{
	lb_queue_t *q = &queues[src][d];
	uint8_t buf[LB_MSG];

	assert_true(q->len > 0);
	memcpy(buf, q->buf[q->head], LB_MSG);
	q->head = (q->head + 1) % QCAP;
	q->len--;
	assert_true(deliver_msg(d, buf, src));
}

/* Upgrade-aheads (coh_fault_upgrade): a write to a page held SHARED asks
 * for the other pages given that are SHARED here too; the manager grants
 * each only to the page's owner, with no bytes, and the copies elsewhere
 * go; a node that is not the owner is refused and keeps its copy; one
 * that lost its copy to another writer meanwhile is refused and has
 * none; threads that waited on a refused one ask again. Promotion counts
 * an upgrade-ahead as no store. */
static void test_upgrade_ahead(void **state)
{
	uint64_t ahead[3];
	coh_fault_res_t r;
	unsigned long pushed;

	(void)state;
	promote_k = 1;
	push_mode = true;
	cluster_up_pages(5, true); /* slot s: a page managed by node s % NN */
	/* node 1 writes slots 1-3 (node 0's at first), node 2 reads them:
	 * node 1 is their owner, both hold them SHARED */
	for (int s = 1; s <= 3; s++) {
		write_sc(1, s, false);
		read_sc(2, s);
		assert_int_equal(coh_page_state(nodes[1].coh, slot_page[s]),
				 COH_SHARED);
	}
	deliver_all();
	/* node 1 writes slot 1 and asks ahead for 2, 3 and 0 (0 is not
	 * SHARED at node 1: not asked) */
	ahead[0] = slot_page[2];
	ahead[1] = slot_page[3];
	ahead[2] = slot_page[0];
	assert_int_equal(coh_fault_upgrade(nodes[1].coh, slot_page[1], false,
					   ahead, 3, &r), CVMM_OK);
	assert_int_equal(r.kind, COH_WAIT);
	assert_int_equal(coh_page_state(nodes[1].coh, slot_page[2]),
			 COH_UPGRADE_WAIT);
	assert_int_equal(coh_page_state(nodes[1].coh, slot_page[3]),
			 COH_UPGRADE_WAIT);
	assert_int_equal(coh_page_state(nodes[1].coh, slot_page[0]),
			 COH_INVALID);
	expect_fault(1, slot_page[2], false, COH_READY); /* still readable */
	pushed = pushes;
	deliver_all();
	assert_int_equal(pushes, pushed); /* no bytes moved */
	for (int s = 2; s <= 3; s++) {
		assert_int_equal(coh_page_state(nodes[1].coh, slot_page[s]),
				 COH_EXCLUSIVE);
		assert_int_equal(nodes[1].mapped[s], COH_EXCLUSIVE);
		assert_int_equal(coh_page_state(nodes[2].coh, slot_page[s]),
				 COH_INVALID);
		expect_mstate(slot_page[s], COH_M_IDLE, 1);
		guest_access(1, s, true); /* no fault */
	}
	expect_fault(1, slot_page[1], true, COH_READY);
	guest_access(1, 1, true);
	/* not the owner: node 2 reads slot 2 (node 1 downgrades), asks for
	 * it ahead of a write to slot 3 and is refused, keeping its copy;
	 * a write that coalesced with it asks again */
	read_sc(2, 2);
	read_sc(2, 3);
	ahead[0] = slot_page[2];
	assert_int_equal(coh_fault_upgrade(nodes[2].coh, slot_page[3], false,
					   ahead, 1, &r), CVMM_OK);
	assert_int_equal(coh_page_state(nodes[2].coh, slot_page[2]),
			 COH_UPGRADE_WAIT);
	expect_fault(2, slot_page[2], true, COH_WAIT); /* coalesces */
	nodes[2].notified[2] = false;
	deliver_all();
	assert_true(nodes[2].notified[2]);
	assert_int_equal(coh_page_state(nodes[2].coh, slot_page[2]),
			 COH_SHARED);
	expect_mstate(slot_page[2], COH_M_IDLE, 1);
	write_sc(2, 2, false);
	write_sc(2, 3, false);
	/* lost race: node 1 reads slot 2 back (node 2 stays its owner,
	 * SHARED) ... node 2 asks it ahead, but node 1's write reaches the
	 * manager (node 2) first: node 2 gives its copy up and is refused */
	read_sc(1, 2);
	deliver_all();
	ahead[0] = slot_page[2];
	assert_int_equal(coh_fault_upgrade(nodes[2].coh, slot_page[3], false,
					   ahead, 1, &r), CVMM_OK);
	assert_int_equal(r.kind, COH_READY);
	expect_fault(1, slot_page[2], true, COH_WAIT);
	deliver_from(1, 2); /* node 1's WRITE_REQ: FWD_WRITE to node 2 */
	deliver_from(2, 2); /* the upgrade-ahead: busy, refused */
	assert_int_equal(coh_page_state(nodes[2].coh, slot_page[2]),
			 COH_UPGRADE_WAIT);
	deliver_from(2, 2); /* FWD_WRITE: gives the copy up */
	assert_int_equal(coh_page_state(nodes[2].coh, slot_page[2]),
			 COH_WRITE_WAIT);
	deliver_from(2, 2); /* NACK: no copy */
	assert_int_equal(coh_page_state(nodes[2].coh, slot_page[2]),
			 COH_INVALID);
	assert_int_equal(nodes[2].mapped[2], 0);
	deliver_all();
	expect_fault(1, slot_page[2], true, COH_READY);
	guest_access(1, 2, true);
	expect_mstate(slot_page[2], COH_M_IDLE, 1);
	check_invariants();
	check_quiet();
	/* promotion counts an upgrade-ahead as no store: slot 4 starts at
	 * node 0, its first writer; node 2 reads it, node 0 takes it back
	 * by an upgrade-ahead: still not promoted (promote_after 1); by a
	 * plain upgrade: promoted */
	write_sc(0, 4, false);
	read_sc(2, 4);
	ahead[0] = slot_page[4];
	assert_int_equal(coh_fault_upgrade(nodes[0].coh, slot_page[0], false,
					   ahead, 1, &r), CVMM_OK);
	deliver_all();
	assert_int_equal(coh_page_state(nodes[0].coh, slot_page[4]),
			 COH_EXCLUSIVE);
	expect_mstate(slot_page[4], COH_M_IDLE, 0);
	read_sc(2, 4);
	deliver_all();
	write_sc(0, 4, true);
	deliver_all();
	expect_mstate(slot_page[4], COH_M_DATA, 0);
	cluster_down();
	promote_k = 0;
	push_mode = false;
}

/* Pops the oldest message from src to d and decodes it (no payload). */
static void pop_from(int src, int d, coh_msg_t *m)
{
	lb_queue_t *q = &queues[src][d];
	uint8_t buf[LB_MSG];
	char why[96];

	assert_true(q->len > 0);
	memcpy(buf, q->buf[q->head], LB_MSG);
	q->head = (q->head + 1) % QCAP;
	q->len--;
	assert_int_equal(coh_wire_decode(buf, COH_WIRE_LEN, NN, npages, m, why,
					 sizeof(why)),
			 CVMM_OK);
}

/* coh_recv_fwd_ro at node 2 of forwards a then b: want of them run,
 * slot 0 ends in state s0, slot 1 (held writable) stays EXCLUSIVE. */
static void fwd_ro_at2(coh_msg_t a, coh_msg_t b, unsigned want, coh_state_t s0)
{
	const void *pages[2] = { NULL, NULL };
	coh_msg_t m[2] = { a, b };
	unsigned ran;

	assert_int_equal(coh_recv_fwd_ro(nodes[2].coh, m, pages, 2, &ran),
			 CVMM_OK);
	assert_int_equal(ran, want);
	assert_int_equal(coh_page_state(nodes[2].coh, slot_page[0]), s0);
	assert_int_equal(coh_page_state(nodes[2].coh, slot_page[1]),
			 COH_EXCLUSIVE);
}

/* coh_recv_fwd_ro (the release model's forwards that need no release):
 * a forward runs at once only while its page is read-only at the owner
 * (SHARED, UPGRADE_WAIT); one to an owner holding the page writable runs
 * nothing, nor anything after it in the batch; before it, the
 * read-only ones run. */
static void test_fwd_read_only(void **state)
{
	coh_msg_t m[2];

	(void)state;
	cluster_up_pages(3, true); /* slot s: managed by node s */
	/* node 2 owns slots 0 and 1; node 1 reads slot 0: node 2 SHARED */
	write_sc(2, 0, true);
	write_sc(2, 1, true);
	read_sc(1, 0);
	deliver_all();
	assert_int_equal(coh_page_state(nodes[2].coh, slot_page[0]),
			 COH_SHARED);
	assert_int_equal(coh_page_state(nodes[2].coh, slot_page[1]),
			 COH_EXCLUSIVE);
	/* node 0 writes slot 1, then slot 0: FWD_WRITEs to node 2, from
	 * managers 1 and 0 */
	expect_fault(0, slot_page[1], true, COH_WAIT);
	deliver_from(0, 1);
	pop_from(1, 2, &m[0]);
	assert_int_equal(m[0].type, COH_MSG_FWD_WRITE);
	expect_fault(0, slot_page[0], true, COH_WAIT);
	pop_from(0, 0, &m[1]); /* the manager is node 0 itself */
	assert_int_equal(coh_recv(nodes[0].coh, &m[1], NULL), CVMM_OK);
	deliver_from(0, 1); /* node 1's copy goes first */
	deliver_from(1, 0);
	pop_from(0, 2, &m[1]);
	assert_int_equal(m[1].type, COH_MSG_FWD_WRITE);
	assert_int_equal(m[1].page, slot_page[0]);
	/* writable first: nothing runs, not even the read-only one after */
	fwd_ro_at2(m[0], m[1], 0, COH_SHARED);
	/* read-only first: it runs (node 2 gives slot 0 up), the writable
	 * one stops the batch */
	fwd_ro_at2(m[1], m[0], 1, COH_INVALID);
	/* the writable one as the runtime runs it after its release */
	assert_int_equal(coh_recv(nodes[2].coh, &m[0], NULL), CVMM_OK);
	assert_int_equal(coh_page_state(nodes[2].coh, slot_page[1]),
			 COH_INVALID);
	deliver_all();
	write_sc(0, 0, true);
	write_sc(0, 1, true);
	deliver_all();
	check_invariants();
	check_quiet();
	cluster_down();
}

/* Messages of promotion from where they cannot come are refused. */
static void test_promote_illegal(void **state)
{
	coh_msg_t m = { .version = COH_WIRE_VERSION, .src = 1, .page = 0 };

	(void)state;
	promote_k = 2;
	cluster_up(2);
	/* page 0: node 0 owns it, manages it */
	m.type = COH_MSG_PROMOTE; /* to a node that does not own it */
	assert_int_equal(coh_recv(nodes[2].coh, &m, NULL), CVMM_ERR_PEER);
	/* to the owner, but not from the page's manager (node 0) */
	assert_int_equal(coh_recv(nodes[0].coh, &m, NULL), CVMM_ERR_PEER);
	assert_int_equal(nodes[0].data_home[0], 0);
	m.type = COH_MSG_PROMOTED; /* no promotion in progress */
	assert_int_equal(coh_recv(nodes[0].coh, &m, NULL), CVMM_ERR_PEER);
	m.type = COH_MSG_NACK; /* refused, but nothing was asked */
	m.flags = COH_FLAG_DATA;
	m.src = 0;
	m.arg = 1;
	assert_int_equal(coh_recv(nodes[2].coh, &m, NULL), CVMM_ERR_PEER);
	assert_int_equal(coh_recv(nodes[0].coh, &m, NULL), CVMM_ERR_PEER);
	assert_int_equal(nodes[2].data_home[0], 0);
	cluster_down();
	promote_k = 0;
}

static void test_pins(void **state)
{
	bool pinned;
	coh_mstate_t ms;
	uint32_t owner;
	uint64_t cs;

	cluster_up(4);
	assert_int_equal(coh_pin(nodes[0].coh, 1, &pinned), CVMM_OK);
	assert_true(pinned);
	assert_int_equal(coh_pin(nodes[0].coh, 1, &pinned), CVMM_OK);
	assert_true(pinned); /* nested */
	expect_fault(2, 1, true, COH_WAIT);
	deliver_all(); /* the FWD_WRITE reaches node 0 and is held back */
	assert_int_equal(coh_page_state(nodes[0].coh, 1), COH_EXCLUSIVE);
	assert_int_equal(coh_page_state(nodes[2].coh, 1), COH_WRITE_WAIT);
	assert_int_equal(coh_mpage_info(nodes[coh_manager(1, NN)].coh, 1, &ms, &owner, &cs),
			 CVMM_OK);
	assert_int_equal(ms, COH_M_BUSY_WRITE);
	put_val(0, 1, latest[1] = 42); /* the agent writes, pinned */
	assert_int_equal(coh_unpin(nodes[0].coh, 1), CVMM_OK);
	deliver_all();
	assert_int_equal(coh_page_state(nodes[2].coh, 1), COH_WRITE_WAIT);
	assert_int_equal(coh_unpin(nodes[0].coh, 1), CVMM_OK); /* runs it */
	assert_int_equal(coh_page_state(nodes[0].coh, 1), COH_INVALID);
	assert_int_equal(coh_unpin(nodes[0].coh, 1), CVMM_ERR_INVALID);
	assert_int_equal(coh_pin(nodes[0].coh, 1, &pinned), CVMM_OK);
	assert_false(pinned);
	deliver_all();
	expect_fault(2, 1, true, COH_FETCH);
	fetch_now(2, 1);
	expect_fault(2, 1, true, COH_READY);
	assert_int_equal(val(2, 1), 42);
	deliver_all();
	assert_int_equal(coh_mpage_info(nodes[coh_manager(1, NN)].coh, 1, &ms, &owner, &cs),
			 CVMM_OK);
	assert_int_equal(ms, COH_M_IDLE);
	assert_int_equal(owner, 2);

	/* a FWD_READ is held back the same way */
	assert_int_equal(coh_pin(nodes[2].coh, 1, &pinned), CVMM_OK);
	assert_true(pinned);
	expect_fault(0, 1, false, COH_WAIT);
	deliver_all();
	assert_int_equal(coh_page_state(nodes[2].coh, 1), COH_EXCLUSIVE);
	assert_int_equal(coh_unpin(nodes[2].coh, 1), CVMM_OK);
	assert_int_equal(coh_page_state(nodes[2].coh, 1), COH_SHARED);
	deliver_all();
	expect_fault(0, 1, false, COH_FETCH);
	fetch_now(0, 1);
	expect_fault(0, 1, false, COH_READY);
	assert_int_equal(val(0, 1), 42);
	cluster_down();
}

static uint64_t arrived_at[NN]; /* test_hold: when page 1 last arrived */

/* Node i write-faults on page 1 and its request reaches the owner. */
static void request(int i)
{
	expect_fault(i, 1, true, COH_WAIT);
	deliver_all();
}

/* Node i's granted write completes (the get, the access, the confirm). */
static void finish_write(int i)
{
	if (!push_mode) {
		expect_fault(i, 1, true, COH_FETCH);
		fetch_now(i, slot(1));
	}
	expect_fault(i, 1, true, COH_READY);
	guest_access(i, slot(1), true);
	deliver_all();
	arrived_at[i] = now_ns;
}

/* Page 1 goes from node `from` to node `to` for writing. *window: the
 * window (us) `from` held the forward back for, 0 when it was served at
 * once; while held, `from` keeps writing and the manager waits. */
static void move_page(int to, int from, uint32_t *window)
{
	unsigned long a = armed;
	coh_mstate_t ms;
	uint32_t owner;
	uint64_t cs;

	request(to);
	*window = 0;
	if (armed != a) {
		assert_int_equal(armed, a + 1);
		*window = (uint32_t)((armed_at - arrived_at[from]) / 1000);
		assert_int_equal(coh_page_state(nodes[from].coh, 1),
				 COH_EXCLUSIVE);
		assert_int_equal(coh_mpage_info(nodes[coh_manager(1, NN)].coh, 1, &ms, &owner,
						&cs), CVMM_OK);
		assert_int_equal(ms, COH_M_BUSY_WRITE);
		expect_fault(from, 1, true, COH_READY);
		guest_access(from, slot(1), true); /* still writing */
		now_ns = armed_at;
		assert_false(holds_left()); /* the forward runs */
		if (due_mode) /* or goes to the runtime, which gives it back */
			assert_true(give_back_one());
		deliver_all();
	}
	finish_write(to);
	assert_int_equal(coh_page_state(nodes[to].coh, 1), COH_EXCLUSIVE);
	assert_int_equal(coh_page_state(nodes[from].coh, 1), COH_INVALID);
}

/* With cfg.forward_due (the release model), a forward a pin or a hold
 * kept back is handed to the runtime when due, not run: the owner keeps
 * the page, and may write it, until the runtime gives the forward back
 * (after its release); then it runs as it would have, and the requester
 * sees the last write. */
static void test_forward_due(void **state)
{
	unsigned long held;
	uint64_t next;
	bool pinned;
	uint32_t w;

	due_mode = true;
	hold_us = 200;
	cluster_up(4);
	/* a pin */
	assert_int_equal(coh_pin(nodes[0].coh, 1, &pinned), CVMM_OK);
	assert_true(pinned);
	expect_fault(2, 1, true, COH_WAIT);
	deliver_all(); /* the FWD_WRITE reaches node 0, held back */
	assert_int_equal(coh_unpin(nodes[0].coh, 1), CVMM_OK);
	assert_int_equal(ndue[0], 1); /* handed over, not run */
	assert_int_equal(due[0][0].type, COH_MSG_FWD_WRITE);
	assert_int_equal(coh_page_state(nodes[0].coh, 1), COH_EXCLUSIVE);
	expect_fault(0, 1, true, COH_READY);
	guest_access(0, slot(1), true); /* node 0 writes before it gives */
	deliver_all();
	assert_int_equal(coh_page_state(nodes[2].coh, 1), COH_WRITE_WAIT);
	assert_true(give_back_one());
	assert_int_equal(ndue[0], 0);
	assert_int_equal(coh_page_state(nodes[0].coh, 1), COH_INVALID);
	deliver_all();
	finish_write(2); /* sees node 0's last write (guest_access checks) */

	/* a hold: page 1 bounces 2 -> 0 -> 2 (node 2 gets a window) */
	now_ns += 10000;
	move_page(0, 2, &w);
	now_ns += 10000;
	move_page(2, 0, &w);
	now_ns += 10000;
	held = armed;
	request(0); /* held at node 2 */
	assert_int_equal(armed, held + 1);
	now_ns = armed_at;
	assert_int_equal(coh_hold_tick(nodes[2].coh, &next), CVMM_OK);
	assert_true(next == UINT64_MAX);
	assert_int_equal(ndue[2], 1); /* the hold ended: handed over */
	assert_int_equal(coh_page_state(nodes[2].coh, 1), COH_EXCLUSIVE);
	expect_fault(2, 1, true, COH_READY);
	guest_access(2, slot(1), true);
	assert_true(give_back_one()); /* runs now: the window is over */
	assert_int_equal(coh_page_state(nodes[2].coh, 1), COH_INVALID);
	deliver_all();
	finish_write(0);
	check_quiet();
	cluster_down();
	due_mode = false;
	hold_us = 0;
}

/* A page that comes back right after it left gets a window: the next
 * forward waits at the owner (which keeps writing) until coh_hold_tick
 * sees the deadline pass, not before; under ping-pong the windows double
 * to the cap; a pin outlasting the hold runs the forward at its unpin,
 * an unpin within the hold does not; a page that stays away shrinks its
 * window back to nothing. */
static void test_hold(void **state)
{
	uint32_t w, prev[NN] = { 0 };
	uint64_t next;
	bool pinned;

	hold_us = 200;
	cluster_up(4);
	move_page(2, 0, &w);          /* first time here: no window */
	assert_int_equal(w, 0);
	now_ns += 5000;
	move_page(0, 2, &w);
	assert_int_equal(w, 0);
	now_ns += 10000;              /* node 2 asks again 10 us after */
	move_page(2, 0, &w);          /* bounced: node 2 gets 50 us */
	assert_int_equal(w, 0);
	now_ns += 20000;
	request(0);                   /* held at node 2 */
	assert_int_equal(armed, 1);
	assert_true(armed_at == arrived_at[2] + 50000);
	assert_int_equal(coh_hold_tick(nodes[2].coh, &next), CVMM_OK);
	assert_true(next == armed_at); /* not yet */
	assert_int_equal(coh_page_state(nodes[2].coh, 1), COH_EXCLUSIVE);
	now_ns = next - 1;
	assert_int_equal(coh_hold_tick(nodes[2].coh, &next), CVMM_OK);
	assert_int_equal(coh_page_state(nodes[2].coh, 1), COH_EXCLUSIVE);
	now_ns = next;
	assert_int_equal(coh_hold_tick(nodes[2].coh, &next), CVMM_OK);
	assert_true(next == UINT64_MAX);
	assert_int_equal(coh_page_state(nodes[2].coh, 1), COH_INVALID);
	deliver_all();
	finish_write(0);              /* sees node 2's last write */
	prev[2] = 50;

	/* ping-pong 10 us apart: every forward is held, windows double */
	for (int k = 0; k < 8; k++) {
		int to = k % 2 ? 0 : 2, from = 2 - to;

		now_ns += 10000;
		move_page(to, from, &w);
		assert_true(w == 50 || w == 2 * prev[from] || w == hold_us);
		assert_true(w >= prev[from] && w <= hold_us);
		prev[from] = w;
	}
	assert_int_equal(prev[0], hold_us);
	assert_int_equal(prev[2], hold_us);

	/* node 0 holds it; a pin in the window, then beyond it */
	now_ns += 10000;
	request(2);
	assert_int_equal(coh_pin(nodes[0].coh, 1, &pinned), CVMM_OK);
	assert_true(pinned);
	assert_int_equal(coh_unpin(nodes[0].coh, 1), CVMM_OK);
	assert_int_equal(coh_page_state(nodes[0].coh, 1), COH_EXCLUSIVE);
	assert_int_equal(coh_pin(nodes[0].coh, 1, &pinned), CVMM_OK);
	assert_true(pinned);
	now_ns = armed_at;
	assert_int_equal(coh_hold_tick(nodes[0].coh, &next), CVMM_OK);
	assert_true(next == UINT64_MAX);
	assert_int_equal(coh_page_state(nodes[0].coh, 1), COH_EXCLUSIVE);
	put_val(0, slot(1), ++latest[slot(1)]); /* the agent writes */
	assert_int_equal(coh_unpin(nodes[0].coh, 1), CVMM_OK);
	assert_int_equal(coh_page_state(nodes[0].coh, 1), COH_INVALID);
	deliver_all();
	finish_write(2);

	/* 10 ms apart: nothing held, windows halve back to 0 */
	for (int k = 0; k < 6; k++) {
		int to = k % 2 ? 2 : 0;

		now_ns += 10000000;
		move_page(to, 2 - to, &w);
		assert_int_equal(w, 0);
	}
	now_ns += 10000000;
	move_page(0, 2, &w);
	request(2);                   /* at once: no window left */
	assert_int_equal(coh_page_state(nodes[0].coh, 1), COH_INVALID);
	finish_write(2);

	/* a node whose guest threads all wait lets its holds go at once */
	now_ns += 10000;
	move_page(0, 2, &w);          /* node 0 asked again: a bounce */
	now_ns += 10000;
	request(2);                   /* held at node 0 */
	assert_int_equal(coh_page_state(nodes[0].coh, 1), COH_EXCLUSIVE);
	assert_int_equal(coh_hold_release(nodes[2].coh), CVMM_OK); /* none */
	assert_int_equal(coh_hold_release(nodes[0].coh), CVMM_OK);
	assert_int_equal(coh_page_state(nodes[0].coh, 1), COH_INVALID);
	assert_int_equal(coh_hold_tick(nodes[0].coh, &next), CVMM_OK);
	assert_true(next == UINT64_MAX); /* nothing left held */
	deliver_all();
	finish_write(2);

	/* and holds nothing new while so (its last thread moved away) */
	now_ns += 10000;
	move_page(0, 2, &w);          /* a bounce again, as above */
	node_idle[0] = true;
	armed = 0;
	now_ns += 10000;
	request(2);                   /* within the window: served at once */
	assert_int_equal(armed, 0);
	assert_int_equal(coh_page_state(nodes[0].coh, 1), COH_INVALID);
	node_idle[0] = false;
	deliver_all();
	finish_write(2);
	check_quiet();
	cluster_down();
	hold_us = 0;
}

static long statm_kib(int field)
{
	long v[2] = { 0, 0 };
	FILE *f = fopen("/proc/self/statm", "r");

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%ld %ld", &v[0], &v[1]), 2);
	fclose(f);
	return v[field] * (sysconf(_SC_PAGESIZE) / 1024);
}

static long maxrss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* 2^28 pages (1 TiB): state grows with the pages touched, not npages. */
static void test_sparse(void **state)
{
	static const uint64_t far[] = { 0, 1ull << 20, 123456789,
					(1ull << 28) - 1 };
	long vm0 = statm_kib(0), rss0 = statm_kib(1), max0 = maxrss_kib();
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	cluster_up(1ull << 28);
	for (unsigned k = 0; k < 4; k++) {
		int s = slot(far[k]);

		expect_fault(1 + k % 2, far[k], true, COH_WAIT);
		deliver_all();
		expect_fault(1 + k % 2, far[k], true, COH_FETCH);
		fetch_now(1 + k % 2, s);
		expect_fault(1 + k % 2, far[k], true, COH_READY);
		expect_fault(0, far[k], false, COH_WAIT);
		deliver_all();
		expect_fault(0, far[k], false, COH_FETCH);
		fetch_now(0, s);
		deliver_all();
	}
	check_invariants();
	check_quiet();
	assert_true(statm_kib(0) - vm0 < 64 * 1024);
	assert_true(statm_kib(1) - rss0 < 64 * 1024);
	assert_true(maxrss_kib() - max0 < 64 * 1024);
	cluster_down();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 2);
}

/* ---- threads ---------------------------------------------------------------- */

#define TOPS 3000
#define NWORK 5

static int workers_done, inflight;
static unsigned long t_fetches, t_waits;


/* A guest access under tm, if the guest view allows it. */
static bool t_access(int i, int s, bool write)
{
	lb_node_t *n = &nodes[i];
	bool ok = n->mapped[s] == COH_EXCLUSIVE || (!write && n->mapped[s]);

	if (ok) {
		T_CHECK(val(i, s) == latest[s]);
		if (write)
			put_val(i, s, ++latest[s]);
	}
	return ok;
}

/* The runtime's fault loop (coh.c's rt_page) for one access. */
static void t_op(int i, int s, bool write)
{
	for (;;) {
		coh_fault_res_t r;
		unsigned seq;
		struct timespec dl;

		pthread_mutex_lock(&tm);
		if (t_access(i, s, write)) {
			pthread_mutex_unlock(&tm);
			return;
		}
		seq = nodes[i].wseq[s];
		pthread_mutex_unlock(&tm);
		T_CHECK(coh_fault(nodes[i].coh, slot_page[s], write, &r) ==
			CVMM_OK);
		if (r.kind == COH_READY)
			continue; /* mapped: try the access again */
		pthread_mutex_lock(&tm);
		if (r.kind == COH_FETCH) {
			t_fetches++;
			T_CHECK(val((int)r.owner, s) == latest[s]);
			memcpy(nodes[i].mem[s], nodes[r.owner].mem[s],
			       PAGE_BYTES);
			pthread_mutex_unlock(&tm);
			T_CHECK(coh_fetch_done(nodes[i].coh, slot_page[s]) ==
				CVMM_OK);
			continue;
		}
		t_waits++;
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += 20;
		while (nodes[i].wseq[s] == seq) /* lost wakeup: time out */
			T_CHECK(pthread_cond_timedwait(&tcond, &tm, &dl) == 0);
		pthread_mutex_unlock(&tm);
	}
}

static void *t_worker(void *arg)
{
	int i = (int)(intptr_t)arg >> 8;
	unsigned seed = (unsigned)(intptr_t)arg;

	for (int k = 0; k < TOPS; k++) {
		int s = rand_r(&seed) % nslots;

		t_op(i, s, rand_r(&seed) % 3 == 0);
		sched_yield(); /* interleave the nodes' threads */
	}
	pthread_mutex_lock(&qmu);
	workers_done++;
	pthread_cond_broadcast(&qcond);
	pthread_mutex_unlock(&qmu);
	return NULL;
}

static unsigned t_pick(unsigned n)
{
	static __thread unsigned seed = 7;

	return (unsigned)rand_r(&seed) % n;
}

/* Delivers to the nodes in its mask (so FIFO per pair holds) until the
 * workers are done and nothing is queued or being handled. */
static void *t_deliver(void *arg)
{
	unsigned mask = (unsigned)(uintptr_t)arg;
	uint8_t buf[LB_MSG];
	int src, d;

	pthread_mutex_lock(&qmu);
	for (;;) {
		d = pop_msg(mask, buf, &src, t_pick);
		if (d >= 0) {
			inflight++;
			pthread_mutex_unlock(&qmu);
			T_CHECK(deliver_msg(d, buf, src));
			pthread_mutex_lock(&qmu);
			inflight--;
			pthread_cond_broadcast(&qcond);
			continue;
		}
		if (workers_done == NWORK && inflight == 0 &&
		    pop_msg(~0u, buf, &src, t_pick) < 0)
			break;
		pthread_cond_wait(&qcond, &qmu);
	}
	pthread_mutex_unlock(&qmu);
	return NULL;
}

/* Three threads fault on node 1, one on each other node, while two threads
 * deliver: sends run with no protocol lock held, coh_recv runs
 * concurrently with coh_fault and coh_fetch_done on one node. */
static void run_threads(bool push)
{
	static const int on[NWORK] = { 1, 1, 1, 0, 2 };
	pthread_t w[NWORK], dl[2];

	push_mode = push;
	cluster_up_pages(3, true);
	workers_done = inflight = 0;
	t_fetches = t_waits = pushes = 0;
	for (int k = 0; k < 2; k++)
		pthread_create(&dl[k], NULL, t_deliver,
			       (void *)(uintptr_t)(k ? 0x6 : 0x1));
	for (int k = 0; k < NWORK; k++)
		pthread_create(&w[k], NULL, t_worker,
			       (void *)(intptr_t)(on[k] << 8 | (k + 1)));
	for (int k = 0; k < NWORK; k++)
		pthread_join(w[k], NULL);
	for (int k = 0; k < 2; k++)
		pthread_join(dl[k], NULL);
	check_invariants();
	check_quiet();
	/* pushed pages need no get; zero pages neither */
	assert_true(push ? pushes > 0 : t_fetches > 0);
	print_message("threads (%s): %lu gets, %lu pushed, %lu waits\n",
		      push ? "push" : "get", t_fetches, pushes, t_waits);
	cluster_down();
	push_mode = false;
}

static void test_threads(void **state)
{
	run_threads(false);
	run_threads(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables_complete),
		cmocka_unit_test(test_describe),
		cmocka_unit_test(test_busy),
		cmocka_unit_test(test_wire),
		cmocka_unit_test(test_wire_lengths),
		cmocka_unit_test(test_wire_next),
		cmocka_unit_test(test_wire_page),
		cmocka_unit_test(test_illegal_message),
		cmocka_unit_test(test_grant_from_self),
		cmocka_unit_test(test_initial_owner),
		cmocka_unit_test(test_first_touch),
		cmocka_unit_test(test_seed),
		cmocka_unit_test(test_promote),
		cmocka_unit_test(test_promote_again),
		cmocka_unit_test(test_promote_ahead),
		cmocka_unit_test(test_upgrade_ahead),
		cmocka_unit_test(test_fwd_read_only),
		cmocka_unit_test(test_promote_illegal),
		cmocka_unit_test(test_pins),
		cmocka_unit_test(test_hold),
		cmocka_unit_test(test_forward_due),
		cmocka_unit_test(test_sparse),
		cmocka_unit_test(test_loopback_random),
		cmocka_unit_test(test_loopback_roles),
		cmocka_unit_test(test_leave),
		cmocka_unit_test(test_loopback_hold),
		cmocka_unit_test(test_loopback_hold_due),
		cmocka_unit_test(test_threads),
	};

	alarm(600); /* a send under the lock deadlocks: fail, do not hang */
	cmocka_set_test_filter(getenv("CVMM_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
