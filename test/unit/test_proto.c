/* The coherence protocol (coherence/proto.c): both transition tables are
 * complete, malformed wire messages are rejected, and 3 in-process nodes
 * over a loopback transport (random delivery order, FIFO per (src, dst)
 * pair) run random read/write sequences for many seeds with no stale read,
 * at most one writer per page, and every request completing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "coherence/proto.h"
#include "coherence/proto_wire.h"

#define NN 3
#define NP_MAX 4
#define QCAP 256
#define PAGE_BYTES 16

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

static void test_wire(void **state)
{
	uint8_t b[COH_WIRE_LEN + 1] = { 0 };
	coh_msg_t out;
	char why[96];

	enc(COH_WIRE_VERSION, COH_MSG_FWD_READ, 2, 1, 0, 7, b);
	assert_int_equal(b[0], COH_WIRE_VERSION);
	assert_int_equal(b[16], 7);
	assert_int_equal(coh_wire_decode(b, COH_WIRE_LEN, NN, 8, &out, why,
					 sizeof(why)), CVMM_OK);
	assert_int_equal(out.type, COH_MSG_FWD_READ);
	assert_int_equal(out.src, 2);
	assert_int_equal(out.arg, 1);
	assert_int_equal(out.page, 7);

	expect_bad(b, COH_WIRE_LEN - 1, "length 23, not 24");
	expect_bad(b, COH_WIRE_LEN + 1, "length 25, not 24");
	enc(2, COH_MSG_FWD_READ, 2, 1, 0, 7, b);
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
	expect_bad(b, COH_WIRE_LEN, "reserved field not zero");
	enc(COH_WIRE_VERSION, COH_MSG_INV_ACK, 0, 0, 0, 8, b);
	expect_bad(b, COH_WIRE_LEN, "page out of range");
	enc(COH_WIRE_VERSION, COH_MSG_INV_ACK, 0, 0, 0, 1ull << 63, b);
	expect_bad(b, COH_WIRE_LEN, "page out of range");
}

/* ---- loopback cluster ------------------------------------------------------ */

typedef struct lb_node {
	int id;
	coh_node_t *coh;
	uint8_t mem[NP_MAX][PAGE_BYTES]; /* this node's copy (agent view) */
	int pend_reads[NP_MAX], pend_writes[NP_MAX];
} lb_node_t;

typedef struct lb_queue {
	uint8_t buf[QCAP][COH_WIRE_LEN];
	int head, len;
} lb_queue_t;

static lb_node_t nodes[NN];
static lb_queue_t queues[NN][NN]; /* [src][dst] */
static uint32_t latest[NP_MAX];
static int npages;
static unsigned rng;

static unsigned rnd(unsigned n)
{
	rng = rng * 1103515245u + 12345u;
	return (rng >> 16) % n;
}

static uint32_t val(int node, int page)
{
	uint32_t v;

	memcpy(&v, nodes[node].mem[page], sizeof(v));
	return v;
}

static cvmm_status_t lb_send(void *ctx, uint32_t dst, const coh_msg_t *m)
{
	lb_node_t *n = ctx;
	lb_queue_t *q = &queues[n->id][dst];

	assert_true(q->len < QCAP);
	coh_wire_encode(m, q->buf[(q->head + q->len) % QCAP]);
	q->len++;
	return CVMM_OK;
}

static cvmm_status_t lb_get(void *ctx, uint32_t owner, uint64_t page)
{
	lb_node_t *n = ctx;

	assert_int_not_equal(owner, n->id);
	memcpy(n->mem[page], nodes[owner].mem[page], PAGE_BYTES);
	return CVMM_OK;
}

static cvmm_status_t lb_inval(void *ctx, uint64_t page)
{
	return CVMM_OK; /* like MADV_DONTNEED: the bytes stay */
}

static cvmm_status_t lb_install(void *ctx, uint64_t page, coh_state_t st)
{
	assert_true(st == COH_SHARED || st == COH_EXCLUSIVE);
	return CVMM_OK;
}

static const coh_ops_t lb_ops = { lb_send, lb_get, lb_inval, lb_install };

static void cluster_up(int np)
{
	memset(nodes, 0, sizeof(nodes));
	memset(queues, 0, sizeof(queues));
	memset(latest, 0, sizeof(latest));
	npages = np;
	for (int i = 0; i < NN; i++) {
		coh_cfg_t cfg = { i, NN, (uint64_t)np, &lb_ops, &nodes[i] };

		nodes[i].id = i;
		assert_int_equal(coh_node_create(&cfg, &nodes[i].coh), CVMM_OK);
	}
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
	for (int p = 0; p < npages; p++) {
		int excl = 0;

		for (int i = 0; i < NN; i++) {
			coh_state_t st = coh_page_state(nodes[i].coh, p);

			excl += st == COH_EXCLUSIVE;
			if (valid(st))
				assert_int_equal(val(i, p), latest[p]);
		}
		assert_true(excl <= 1);
	}
}

static void do_write(int i, int p)
{
	uint32_t v = val(i, p);

	assert_int_equal(v, latest[p]);
	v++;
	memcpy(nodes[i].mem[p], &v, sizeof(v));
	latest[p] = v;
}

/* Threads waiting on (i, p) wake and retry: reads complete on a valid copy,
 * writes on an exclusive one; the rest fault again (coalesced when a
 * request is in flight). */
static void settle(int i, int p)
{
	lb_node_t *n = &nodes[i];
	coh_state_t st = coh_page_state(n->coh, p);
	bool ready;

	if (valid(st))
		for (; n->pend_reads[p] > 0; n->pend_reads[p]--)
			assert_int_equal(val(i, p), latest[p]);
	if (st == COH_EXCLUSIVE)
		for (; n->pend_writes[p] > 0; n->pend_writes[p]--)
			do_write(i, p);
	if (n->pend_writes[p] > 0) {
		assert_int_equal(coh_fault(n->coh, p, true, &ready), CVMM_OK);
		assert_false(ready);
	}
	if (n->pend_reads[p] > 0) {
		assert_int_equal(coh_fault(n->coh, p, false, &ready), CVMM_OK);
		assert_false(ready);
	}
}

static void settle_all(void)
{
	for (int i = 0; i < NN; i++)
		for (int p = 0; p < npages; p++)
			settle(i, p);
	check_invariants();
}

static bool deliver_one(void)
{
	int cand[NN * NN], nc = 0;

	for (int s = 0; s < NN; s++)
		for (int d = 0; d < NN; d++)
			if (queues[s][d].len)
				cand[nc++] = s * NN + d;
	if (nc == 0)
		return false;
	int c = cand[rnd(nc)], s = c / NN, d = c % NN;
	lb_queue_t *q = &queues[s][d];
	coh_msg_t m;
	char why[96];

	assert_int_equal(coh_wire_decode(q->buf[q->head], COH_WIRE_LEN, NN,
					 npages, &m, why, sizeof(why)), CVMM_OK);
	assert_int_equal(m.src, s);
	q->head = (q->head + 1) % QCAP;
	q->len--;
	assert_int_equal(coh_recv(nodes[d].coh, &m), CVMM_OK);
	return true;
}

static void local_op(int i)
{
	int p = rnd(npages);
	bool write = rnd(2), ready;

	assert_int_equal(coh_fault(nodes[i].coh, p, write, &ready), CVMM_OK);
	if (ready && write)
		do_write(i, p);
	else if (ready)
		assert_int_equal(val(i, p), latest[p]);
	else if (write)
		nodes[i].pend_writes[p]++;
	else
		nodes[i].pend_reads[p]++;
}

static void run_seed(unsigned seed, int np, int ops_per_node)
{
	int left[NN], total = NN * ops_per_node, steps = 0;

	rng = seed;
	cluster_up(np);
	for (int i = 0; i < NN; i++)
		left[i] = ops_per_node;
	while (total > 0 || deliver_one()) {
		if (total > 0 && rnd(3) == 0) {
			int i = rnd(NN);

			if (left[i] == 0)
				continue;
			left[i]--;
			total--;
			local_op(i);
		} else {
			deliver_one();
		}
		settle_all();
		assert_true(++steps < 1000000); /* a stuck request never ends */
	}
	/* everything completed, managers idle, nothing left in flight */
	for (int i = 0; i < NN; i++)
		for (int p = 0; p < np; p++) {
			coh_state_t st = coh_page_state(nodes[i].coh, p);

			assert_int_equal(nodes[i].pend_reads[p], 0);
			assert_int_equal(nodes[i].pend_writes[p], 0);
			assert_true(st == COH_INVALID || st == COH_SHARED ||
				    st == COH_EXCLUSIVE);
			if (coh_manager(p, NN) == (uint32_t)i) {
				coh_mstate_t ms;
				uint32_t owner;
				uint64_t cs;

				assert_int_equal(coh_mpage_info(nodes[i].coh, p,
								&ms, &owner, &cs),
						 CVMM_OK);
				assert_int_equal(ms, COH_M_IDLE);
				assert_true(valid(coh_page_state(nodes[owner].coh, p)));
			}
		}
	cluster_down();
}

static void test_loopback_random(void **state)
{
	for (unsigned seed = 1; seed <= 3000; seed++)
		run_seed(seed, 2 + seed % 3, 1 + seed % 40);
}

/* A message illegal in the page's state is the peer's error, not a crash. */
static void test_illegal_message(void **state)
{
	coh_msg_t m = { .version = COH_WIRE_VERSION, .src = 1, .page = 0 };

	cluster_up(2);
	m.type = COH_MSG_READ_GRANT; /* node 2 asked for nothing */
	m.arg = 1;
	assert_int_equal(coh_recv(nodes[2].coh, &m), CVMM_ERR_PEER);
	m.type = COH_MSG_CONFIRM_WRITE; /* manager 0 is idle */
	m.arg = 0;
	assert_int_equal(coh_recv(nodes[0].coh, &m), CVMM_ERR_PEER);
	m.type = COH_MSG_READ_REQ; /* node 1 does not manage page 0 */
	assert_int_equal(coh_recv(nodes[1].coh, &m), CVMM_ERR_PEER);
	assert_int_equal(coh_page_state(nodes[2].coh, 0), COH_INVALID);
	cluster_down();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables_complete),
		cmocka_unit_test(test_wire),
		cmocka_unit_test(test_illegal_message),
		cmocka_unit_test(test_loopback_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
