/* The placement decisions (src/core/place.c): --placement auto moves a
 * thread to the node most of its recent remote faults came from, only
 * after enough of them and after its least residence, never onto a full
 * node while another has room, and backs off when it ping-pongs;
 * --migrate-every moves it round robin every N trap points. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/place.h"

#define MS 1000000ULL
#define T0 (1000 * MS) /* a clock that did not start at 0 */

static place_thread_t t;

/* n faults from node src on node self, 1 us apart from now. */
static uint64_t faults(int src, int self, unsigned n, uint64_t now)
{
	for (unsigned i = 0; i < n; i++)
		place_note(&t, src, self, now += 1000);
	return now;
}

static void test_start(void **state)
{
	memset(&t, 0xaa, sizeof(t));
	place_start(&t, T0);
	assert_true(t.arrived_ns == T0);
	assert_true(t.hold_ns == PLACE_HOLD_NS);
	assert_int_equal(t.prev, -1);
	assert_int_equal(t.nfaults, 0);
	assert_int_equal(t.traps, 0);
}

static void test_threshold(void **state)
{
	place_view_t v = { .self = 1, .nnodes = 2, .nvcpus = 4 };
	uint64_t now = T0 + PLACE_HOLD_NS;

	place_start(&t, T0);
	now = faults(0, 1, PLACE_MIN_REMOTE - 1, now);
	assert_int_equal(place_decide(&t, &v, now), -1);
	now = faults(0, 1, 1, now);
	assert_int_equal(place_decide(&t, &v, now), 0);
	/* read only: deciding again says the same */
	assert_int_equal(place_decide(&t, &v, now), 0);
}

static void test_not_remote(void **state)
{
	place_view_t v = { .self = 1, .nnodes = 2, .nvcpus = 4 };
	uint64_t now = T0 + PLACE_HOLD_NS;

	place_start(&t, T0);
	/* pages from nowhere (zero grants, local) and from this node */
	now = faults(-1, 1, 100, now);
	now = faults(1, 1, 100, now);
	assert_int_equal(t.nfaults, 0);
	assert_int_equal(place_decide(&t, &v, now), -1);
	/* a node past the VM's is never a target */
	now = faults(7, 1, PLACE_WINDOW, now);
	assert_int_equal(place_decide(&t, &v, now), -1);
}

static void test_hold(void **state)
{
	place_view_t v = { .self = 1, .nnodes = 2, .nvcpus = 4 };
	uint64_t now;

	place_start(&t, T0);
	now = faults(0, 1, PLACE_WINDOW, T0);
	assert_true(now < T0 + PLACE_HOLD_NS);
	assert_int_equal(place_decide(&t, &v, now), -1);
	assert_int_equal(place_decide(&t, &v, T0 + PLACE_HOLD_NS), 0);
}

static void test_share(void **state)
{
	place_view_t v = { .self = 0, .nnodes = 3, .nvcpus = 6 };
	uint64_t now = T0 + PLACE_HOLD_NS;

	/* 23 of 32 (72%) from node 1: not enough */
	place_start(&t, T0);
	now = faults(1, 0, 23, now);
	now = faults(2, 0, 9, now);
	assert_int_equal(place_decide(&t, &v, now), -1);
	/* 24 of 32 (75%): enough, whatever the order */
	place_start(&t, T0);
	for (int i = 0; i < 32; i++)
		now = faults(i % 4 == 3 ? 2 : 1, 0, 1, now);
	assert_int_equal(place_decide(&t, &v, now), 1);
	/* the minority's node wins once its faults are the recent ones:
	 * the window holds the last PLACE_WINDOW only */
	now = faults(2, 0, PLACE_WINDOW, now);
	assert_int_equal(place_decide(&t, &v, now), 2);
}

static void test_age(void **state)
{
	place_view_t v = { .self = 1, .nnodes = 2, .nvcpus = 4 };
	uint64_t now;

	place_start(&t, T0);
	now = faults(0, 1, PLACE_WINDOW, T0);
	assert_int_equal(place_decide(&t, &v, T0 + PLACE_HOLD_NS), 0);
	/* all older than PLACE_AGE_NS: nothing recent */
	now += PLACE_AGE_NS + MS;
	assert_int_equal(place_decide(&t, &v, now), -1);
	/* half of them aged out, the other half fresh: 32 recent */
	now = faults(0, 1, PLACE_MIN_REMOTE, now);
	assert_int_equal(place_decide(&t, &v, now), 0);
}

static void test_balance(void **state)
{
	uint32_t load2[2] = { 1, 1 }, load3[3] = { 1, 1, 0 };
	place_view_t v = { .self = 1, .nnodes = 2, .nvcpus = 2, .load = load2 };
	uint64_t now;

	place_start(&t, T0);
	now = faults(0, 1, PLACE_WINDOW, T0 + PLACE_HOLD_NS);
	/* node 0 has its one vCPU's thread; this node would be left with a
	 * free vCPU: refused */
	assert_false(place_balance_ok(&v, 0));
	assert_int_equal(place_decide(&t, &v, now), -1);
	/* two vCPUs there: room */
	v.nvcpus = 4;
	assert_true(place_balance_ok(&v, 0));
	assert_int_equal(place_decide(&t, &v, now), 0);
	/* every node full: data locality wins */
	v.nvcpus = 2;
	load2[0] = load2[1] = 2;
	assert_true(place_balance_ok(&v, 0));
	/* three nodes, node 2 idle: no piling onto node 0 */
	v = (place_view_t){ .self = 1, .nnodes = 3, .nvcpus = 3, .load = load3 };
	load3[1] = 2;
	assert_false(place_balance_ok(&v, 0));
	load3[2] = 1;
	assert_true(place_balance_ok(&v, 0));
	/* no view: no rule; no such node: never */
	v.load = NULL;
	assert_true(place_balance_ok(&v, 0));
	assert_false(place_balance_ok(&v, 3));
	assert_false(place_balance_ok(&v, -1));
}

static void test_vcpus_of(void **state)
{
	assert_int_equal(place_vcpus_of(0, 2, 5), 3);
	assert_int_equal(place_vcpus_of(1, 2, 5), 2);
	assert_int_equal(place_vcpus_of(2, 3, 8), 2);
	assert_int_equal(place_vcpus_of(2, 2, 8), 0);
	assert_int_equal(place_vcpus_of(-1, 2, 8), 0);
}

static void test_hold_next(void **state)
{
	uint64_t now = T0 + 30 * MS;

	/* came from node 0 to node 1 30 ms ago with the base hold */
	place_arrive(&t, 0, PLACE_HOLD_NS, T0);
	assert_true(place_hold_next(&t, 2, now) == PLACE_HOLD_NS);
	/* back to the node it just left, soon: doubled */
	assert_true(place_hold_next(&t, 0, now) == 2 * PLACE_HOLD_NS);
	/* after a long stay it is no ping-pong */
	assert_true(
		place_hold_next(&t, 0, T0 + PLACE_SETTLED * PLACE_HOLD_NS) ==
		PLACE_HOLD_NS);
	/* capped */
	place_arrive(&t, 0, PLACE_HOLD_MAX_NS, T0);
	assert_true(place_hold_next(&t, 0, now) == PLACE_HOLD_MAX_NS);
	/* a peer's hold is clamped, the window starts empty */
	faults(0, 1, 10, T0);
	place_arrive(&t, 3, 0, T0);
	assert_true(t.hold_ns == PLACE_HOLD_NS);
	assert_int_equal(t.prev, 3);
	assert_int_equal(t.nfaults, 0);
	place_arrive(&t, 3, ~0ULL, T0);
	assert_true(t.hold_ns == PLACE_HOLD_MAX_NS);
}

/* Data that follows the thread: wherever it is, its faults come from the
 * other node. Over 2 s the back-off keeps the moves to a handful (20, 40,
 * 80, ... ms holds) instead of one every 20 ms. */
static void test_no_oscillation(void **state)
{
	place_view_t v = { .nnodes = 2, .nvcpus = 4 };
	uint64_t now = T0, end = T0 + 2000 * MS;
	int self = 0, moves = 0, to;

	place_start(&t, now);
	while (now < end) {
		place_note(&t, 1 - self, self, now);
		v.self = self;
		to = place_decide(&t, &v, now);
		if (to >= 0) {
			uint64_t hold = place_hold_next(&t, to, now);

			place_arrive(&t, self, hold, now);
			self = to;
			moves++;
		}
		now += 200000; /* a fault every 200 us */
	}
	assert_true(moves >= 3);
	assert_true(moves <= 8);
}

static void test_every(void **state)
{
	place_start(&t, T0);
	assert_int_equal(place_every(&t, 3, 1, 3), -1);
	assert_int_equal(place_every(&t, 3, 1, 3), -1);
	assert_int_equal(place_every(&t, 3, 1, 3), 2);
	assert_int_equal(place_every(&t, 3, 2, 3), -1);
	assert_int_equal(place_every(&t, 3, 2, 3), -1);
	assert_int_equal(place_every(&t, 3, 2, 3), 0);
	assert_int_equal(place_every(&t, 1, 0, 2), 1);
	/* off, and one node */
	assert_int_equal(place_every(&t, 0, 0, 2), -1);
	assert_int_equal(place_every(&t, 1, 0, 1), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start),
		cmocka_unit_test(test_threshold),
		cmocka_unit_test(test_not_remote),
		cmocka_unit_test(test_hold),
		cmocka_unit_test(test_share),
		cmocka_unit_test(test_age),
		cmocka_unit_test(test_balance),
		cmocka_unit_test(test_vcpus_of),
		cmocka_unit_test(test_hold_next),
		cmocka_unit_test(test_no_oscillation),
		cmocka_unit_test(test_every),
	};

	cmocka_set_test_filter(getenv("CVMM_TEST_FILTER"));
	return cmocka_run_group_tests_name("place", tests, NULL, NULL);
}
