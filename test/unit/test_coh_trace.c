/* The per-node fault record (coherence/coh_trace.c): 4 threads recording
 * at once give exact per-page totals and copy counts, the top-K export is
 * ordered hottest first with ties by page, and the trace sample keeps the
 * first COH_TRACE_HEAD and the last COH_TRACE_TAIL faults in order. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "coherence/coh_trace.h"

#define NTHREADS 4
#define NPAGES   100
#define ROUNDS   500

static int reset(void **state)
{
	coh_trace_reset();
	return 0;
}

/* Thread t faults page p (1..NPAGES) p times per round: a write when p is
 * even, said atomic when p % 4 or p % 5 is 0 (a read said atomic is not
 * one), copied from node t when p % 3 == 0. */
static void *recorder(void *arg)
{
	int t = (int)(intptr_t)arg;

	for (int r = 0; r < ROUNDS; r++)
		for (uint64_t p = 1; p <= NPAGES; p++)
			for (uint64_t i = 0; i < p; i++)
				coh_trace_fault(p, p % 2 == 0,
						p % 4 == 0 || p % 5 == 0,
						p % 3 == 0 ? t : -1, 1);
	return NULL;
}

static void test_concurrent_totals(void **state)
{
	pthread_t th[NTHREADS];
	coh_trace_page_t top[NPAGES + 5];
	unsigned n;

	for (int t = 0; t < NTHREADS; t++)
		assert_int_equal(pthread_create(&th[t], NULL, recorder,
						(void *)(intptr_t)t), 0);
	for (int t = 0; t < NTHREADS; t++)
		pthread_join(th[t], NULL);
	assert_int_equal(coh_trace_total(),
			 (uint64_t)NTHREADS * ROUNDS * NPAGES * (NPAGES + 1) / 2);
	assert_int_equal(coh_trace_lost(), 0);
	n = coh_trace_top(top, NPAGES + 5);
	assert_int_equal(n, NPAGES);
	for (unsigned i = 0; i < n; i++) {
		uint64_t p = NPAGES - i;
		uint32_t f = (uint32_t)(NTHREADS * ROUNDS * p);

		assert_int_equal(top[i].page, p);
		assert_int_equal(top[i].faults, f);
		assert_int_equal(top[i].writes, p % 2 == 0 ? f : 0);
		/* atomic writes only: a read is never one */
		assert_int_equal(top[i].atomics,
				 p % 2 == 0 && (p % 4 == 0 || p % 5 == 0) ? f
									  : 0);
		for (int k = 0; k < COH_TRACE_NODES; k++)
			assert_int_equal(top[i].from[k],
					 p % 3 == 0 && k < NTHREADS ?
						 ROUNDS * p : 0);
	}
}

static void test_top_order(void **state)
{
	static const uint64_t pages[] = { 7, 3, 9, 5, 1 };
	static const unsigned counts[] = { 2, 5, 5, 1, 3 };
	coh_trace_page_t top[3];

	for (unsigned i = 0; i < 5; i++)
		for (unsigned c = 0; c < counts[i]; c++)
			coh_trace_fault(pages[i], false, false, -1, c);
	assert_int_equal(coh_trace_top(top, 3), 3);
	assert_int_equal(top[0].page, 3); /* 5 faults, lower page first */
	assert_int_equal(top[1].page, 9);
	assert_int_equal(top[2].page, 1);
	assert_int_equal(top[2].faults, 3);
	assert_int_equal(coh_trace_top(top, 0), 0);
}

static void test_from_out_of_range(void **state)
{
	coh_trace_page_t top[1];

	coh_trace_fault(42, true, false, COH_TRACE_NODES, 0);
	coh_trace_fault(42, true, false, 1000, 0);
	coh_trace_fault(42, true, false, 2, 0);
	assert_int_equal(coh_trace_top(top, 1), 1);
	assert_int_equal(top[0].faults, 3);
	assert_int_equal(top[0].writes, 3);
	assert_int_equal(top[0].from[2], 1);
	assert_int_equal(top[0].from[0], 0);
}

static void test_trace_short(void **state)
{
	coh_trace_ev_t ev[COH_TRACE_SAMPLE];

	assert_int_equal(coh_trace_sample(ev, COH_TRACE_SAMPLE), 0);
	for (uint64_t i = 0; i < 10; i++)
		coh_trace_fault(100 + i, i & 1, false, -1, 1000 + i);
	assert_int_equal(coh_trace_sample(ev, COH_TRACE_SAMPLE), 10);
	for (uint64_t i = 0; i < 10; i++) {
		assert_int_equal(ev[i].t_ns, 1000 + i);
		assert_int_equal(ev[i].page, 100 + i);
		assert_int_equal(ev[i].write, i & 1);
	}
	assert_int_equal(coh_trace_sample(ev, 4), 4);
}

/* Head and ring: which indices survive for a run of total faults. */
static void check_bounds(uint64_t total)
{
	coh_trace_ev_t *ev = calloc(COH_TRACE_SAMPLE, sizeof(*ev));
	uint64_t head = total < COH_TRACE_HEAD ? total : COH_TRACE_HEAD;
	uint64_t tail = total - head < COH_TRACE_TAIL ? total - head :
						       COH_TRACE_TAIL;
	unsigned n;

	assert_non_null(ev);
	coh_trace_reset();
	for (uint64_t i = 0; i < total; i++)
		coh_trace_fault(i % 5000, false, false, -1, i);
	n = coh_trace_sample(ev, COH_TRACE_SAMPLE);
	assert_int_equal(n, head + tail);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(ev[i].t_ns,
				 i < head ? i : total - tail + (i - head));
	free(ev);
}

static void test_trace_bounds(void **state)
{
	check_bounds(COH_TRACE_HEAD);
	check_bounds(COH_TRACE_HEAD + 1);
	check_bounds(COH_TRACE_SAMPLE);
	check_bounds(COH_TRACE_SAMPLE + 1);
	check_bounds(COH_TRACE_SAMPLE * 7 + 13);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_concurrent_totals, reset),
		cmocka_unit_test_setup(test_top_order, reset),
		cmocka_unit_test_setup(test_from_out_of_range, reset),
		cmocka_unit_test_setup(test_trace_short, reset),
		cmocka_unit_test_setup(test_trace_bounds, reset),
	};

	cmocka_set_test_filter(getenv("CVMM_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
