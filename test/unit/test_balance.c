/* The balancer's decisions (src/core/balance.c): a node whose runnable
 * guest threads wait for a CPU gives one to a node with idle cores, only
 * after the same move was seen BALANCE_STREAK periods in a row, never
 * onto a busy node or one whose own threads wait, and keeps still for
 * BALANCE_QUIET periods after a move; cvmm ctl balance (force) acts on
 * one period; a node on a slower core gives to a faster one. Its record
 * for --stats. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/balance.h"

#define MS 1000000ULL
#define P (1000 * MS) /* one period */

static char why[160];

/* Node view over one period: its threads ran run ms, waited wait ms, its
 * cores (cores of them) were idle idle ms. */
static balance_view_t view(uint32_t threads, uint64_t run, uint64_t wait,
			   uint64_t idle, uint32_t cores)
{
	balance_sample_t a = { .ok = true, .threads = threads, .cores = cores,
			       .run_ns = 5 * P, .wait_ns = 7 * P,
			       .idle_ns = 11 * P };
	balance_sample_t b = a;

	b.run_ns += run * MS;
	b.wait_ns += wait * MS;
	b.idle_ns += idle * MS;
	return balance_view(&a, &b, P);
}

static void test_view(void **state)
{
	balance_view_t v = view(1, 500, 500, 0, 1);
	balance_sample_t a = { .ok = true, .run_ns = 10 * P }, b = a;

	assert_true(v.ok);
	assert_int_equal(v.share_pct, 50);
	assert_int_equal(v.free_pct, 0);
	v = view(1, 990, 10, 0, 1);
	assert_int_equal(v.share_pct, 99);
	/* hardly runnable: no share */
	v = view(1, 50, 40, 900, 1);
	assert_int_equal(v.share_pct, -1);
	assert_int_equal(v.free_pct, 90);
	/* idle over two cores, capped at what two cores have */
	v = view(0, 0, 0, 1500, 2);
	assert_int_equal(v.free_pct, 150);
	v = view(0, 0, 0, 5000, 2);
	assert_int_equal(v.free_pct, 200);
	/* a counter that went back (a thread's end lost its tail): 0 */
	b.run_ns = 0;
	b.cores = 1;
	v = balance_view(&a, &b, P);
	assert_true(v.ok);
	assert_int_equal(v.share_pct, -1);
	/* a node that did not answer, now or before */
	b.ok = false;
	assert_false(balance_view(&a, &b, P).ok);
	assert_false(balance_view(&b, &a, P).ok);
	assert_false(balance_view(&a, &a, 0).ok);
}

/* Node 0 shared with other work (its thread gets half a CPU), node 1
 * idle: node 0 gives node 1 a thread on the second period, not the
 * first; then nothing for BALANCE_QUIET periods. */
static void test_move_after_streak(void **state)
{
	balance_state_t s;
	balance_view_t v[2] = { view(1, 500, 500, 0, 1),
				view(0, 0, 0, 1000, 1) };
	balance_move_t m;

	balance_start(&s);
	m = balance_decide(&s, v, 2, false, why, sizeof(why));
	assert_int_equal(m.from, -1);
	assert_non_null(strstr(why, "seen 1 of 2"));
	m = balance_decide(&s, v, 2, false, why, sizeof(why));
	assert_int_equal(m.from, 0);
	assert_int_equal(m.to, 1);
	assert_int_equal(m.share_pct, 50);
	assert_int_equal(m.free_pct, 100);
	assert_non_null(strstr(why, "node 0's threads got 50%"));
	for (int i = 0; i < BALANCE_QUIET; i++) {
		m = balance_decide(&s, v, 2, false, why, sizeof(why));
		assert_int_equal(m.from, -1);
		assert_non_null(strstr(why, "quiet"));
	}
	/* still so after the quiet periods: a streak again first */
	m = balance_decide(&s, v, 2, false, why, sizeof(why));
	assert_int_equal(m.from, -1);
	m = balance_decide(&s, v, 2, false, why, sizeof(why));
	assert_int_equal(m.from, 0);
}

/* A slow period between two breaks the streak. */
static void test_streak_broken(void **state)
{
	balance_state_t s;
	balance_view_t slow[2] = { view(1, 500, 500, 0, 1),
				   view(0, 0, 0, 1000, 1) };
	balance_view_t fine[2] = { view(1, 1000, 0, 0, 1),
				   view(0, 0, 0, 1000, 1) };

	balance_start(&s);
	assert_int_equal(balance_decide(&s, slow, 2, false, why,
					sizeof(why)).from, -1);
	assert_int_equal(balance_decide(&s, fine, 2, false, why,
					sizeof(why)).from, -1);
	assert_non_null(strstr(why, "no node is slow"));
	assert_int_equal(balance_decide(&s, slow, 2, false, why,
					sizeof(why)).from, -1);
	assert_int_equal(balance_decide(&s, slow, 2, false, why,
					sizeof(why)).from, 0);
}

/* No target: the other node is busy, or has idle time but its own
 * threads wait (its idle core is not one they can use), or did not
 * answer. No source: the slow node has no thread. */
static void test_no_move(void **state)
{
	balance_state_t s;
	balance_view_t busy[2] = { view(1, 500, 500, 0, 1),
				   view(1, 1000, 0, 0, 1) };
	balance_view_t waiting[2] = { view(1, 500, 500, 0, 1),
				      view(2, 600, 400, 800, 2) };
	balance_view_t mute[2] = { view(1, 500, 500, 0, 1), { .ok = false } };
	balance_view_t idle[2] = { view(0, 0, 0, 1000, 1),
				   view(0, 0, 0, 1000, 1) };

	balance_start(&s);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(balance_decide(&s, busy, 2, true, why,
						sizeof(why)).from, -1);
		assert_non_null(strstr(why, "no other node has half a core"));
		assert_int_equal(balance_decide(&s, waiting, 2, true, why,
						sizeof(why)).from, -1);
		assert_int_equal(balance_decide(&s, mute, 2, true, why,
						sizeof(why)).from, -1);
	}
	assert_int_equal(balance_decide(&s, idle, 2, true, why,
					sizeof(why)).from, -1);
	assert_non_null(strstr(why, "no guest thread was runnable"));
}

/* Three nodes: the slowest gives to the one with the most idle time;
 * forced, on the first period and during the quiet ones. */
static void test_force_and_pick(void **state)
{
	balance_state_t s;
	balance_view_t v[3] = { view(2, 700, 300, 0, 1),
				view(1, 400, 600, 0, 1),
				view(1, 950, 50, 900, 2) };
	balance_move_t m;

	balance_start(&s);
	m = balance_decide(&s, v, 3, true, why, sizeof(why));
	assert_int_equal(m.from, 1);
	assert_int_equal(m.to, 2);
	assert_int_equal(m.free_pct, 90);
	m = balance_decide(&s, v, 3, false, why, sizeof(why));
	assert_int_equal(m.from, -1); /* quiet */
	m = balance_decide(&s, v, 3, true, why, sizeof(why));
	assert_int_equal(m.from, 1);
}

/* The view with a core's speed. */
static balance_view_t sview(uint32_t threads, uint64_t run, uint64_t wait,
			    uint64_t idle, uint32_t speed)
{
	balance_view_t v = view(threads, run, wait, idle, 1);

	v.speed = speed;
	return v;
}

/* Slower cores: an unshared node (its thread gets the whole CPU) on a
 * core half as fast as an idle node's gives it a thread; speeds within a
 * quarter do not; a faster busy node never gives to a slower idle one;
 * the taker is the fastest with room (a tenth apart counts as the same,
 * then the most idle); an unknown speed counts as the fastest. */
static void test_speed(void **state)
{
	balance_state_t s;
	balance_move_t m;
	balance_view_t half[2] = { sview(1, 1000, 0, 0, 100),
				   sview(0, 0, 0, 1000, 200) };
	balance_view_t near[2] = { sview(1, 1000, 0, 0, 100),
				   sview(0, 0, 0, 1000, 120) };
	balance_view_t faster[2] = { sview(1, 1000, 0, 0, 200),
				     sview(0, 0, 0, 1000, 100) };
	balance_view_t pick[3] = { sview(1, 500, 500, 0, 100),
				   sview(0, 0, 0, 1000, 100),
				   sview(0, 0, 0, 600, 150) };
	balance_view_t unknown[2] = { sview(1, 1000, 0, 0, 0),
				      sview(0, 0, 0, 1000, 100) };
	uint32_t a = balance_speed_probe(), b = balance_speed_probe();

	balance_start(&s);
	m = balance_decide(&s, half, 2, true, why, sizeof(why));
	assert_int_equal(m.from, 0);
	assert_int_equal(m.to, 1);
	assert_int_equal(m.share_pct, 100);
	assert_int_equal(m.rate_pct, 50);
	assert_non_null(strstr(why, "on a core 50% as fast as node 1's"));
	m = balance_decide(&s, near, 2, true, why, sizeof(why));
	assert_int_equal(m.from, -1);
	assert_non_null(strstr(why, "no node is slow"));
	m = balance_decide(&s, faster, 2, true, why, sizeof(why));
	assert_int_equal(m.from, -1);
	m = balance_decide(&s, pick, 3, true, why, sizeof(why));
	assert_int_equal(m.from, 0);
	assert_int_equal(m.to, 2); /* faster, though less idle */
	pick[2].speed = 105;       /* a tenth apart: the most idle */
	m = balance_decide(&s, pick, 3, true, why, sizeof(why));
	assert_int_equal(m.to, 1);
	m = balance_decide(&s, unknown, 2, true, why, sizeof(why));
	assert_int_equal(m.from, -1);
	/* the probe: a number, stable within a factor of two here */
	assert_true(a > 0 && b > 0);
	assert_true(a < 2 * b && b < 2 * a);
}

static void test_record(void **state)
{
	balance_move_t m = { .from = 0, .to = 1, .share_pct = 48,
			     .free_pct = 97 };
	json_t *doc = json_object(), *b, *mv;
	char *txt = NULL;
	size_t len = 0;
	FILE *f;

	f = open_memstream(&txt, &len);
	balance_table(f); /* no mode: no line */
	fclose(f);
	assert_int_equal(len, 0);
	free(txt);
	balance_set_mode("auto");
	balance_log(1500 * MS, 1234, &m, false);
	f = open_memstream(&txt, &len);
	balance_table(f);
	fclose(f);
	assert_string_equal(txt, "balancer: auto, 1 moves\n");
	free(txt);
	doc = balance_json(doc);
	b = json_object_get(doc, "balance");
	assert_non_null(b);
	assert_string_equal(json_string_value(json_object_get(b, "mode")),
			    "auto");
	mv = json_array_get(json_object_get(b, "moves"), 0);
	assert_non_null(mv);
	assert_int_equal(jdoc_int(json_object_get(mv, "tid"), 0), 1234);
	assert_int_equal(jdoc_int(json_object_get(mv, "to"), -1), 1);
	assert_int_equal(jdoc_int(json_object_get(mv, "from_cpu_pct"), 0),
			 48);
	assert_true(jdoc_num(json_object_get(mv, "t_s"), 0) == 1.5);
	json_decref(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_view),
		cmocka_unit_test(test_move_after_streak),
		cmocka_unit_test(test_streak_broken),
		cmocka_unit_test(test_no_move),
		cmocka_unit_test(test_force_and_pick),
		cmocka_unit_test(test_speed),
		cmocka_unit_test(test_record),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
