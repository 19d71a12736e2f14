/* Fault walks (coherence/walk.h): a walk one page up starts at its second
 * step, any other stride up to WALK_STEP_MAX (up or down) at its third;
 * the window doubles up to its maximum while faults come within it or
 * right after; a fault elsewhere, or one that asks nothing, ends it; the
 * same page again changes nothing; nothing leaves [lo, hi). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "coherence/walk.h"

#define LO 100
#define HI 100000

static uint64_t out[64];

static unsigned fault(walk_t *w, uint64_t page, unsigned max)
{
	return walk_fault(w, page, true, max, LO, HI, out);
}

/* out[0..k) is first, first + step, ... */
static void asked(unsigned k, unsigned want, uint64_t first, int64_t step)
{
	assert_int_equal(k, want);
	for (unsigned i = 0; i < k; i++)
		assert_int_equal(out[i], first + (uint64_t)(step * (int64_t)i));
}

static void test_up_by_one(void **state)
{
	walk_t w = {0};

	(void)state;
	asked(fault(&w, 1000, 16), 0, 0, 1);
	asked(fault(&w, 1001, 16), 2, 1002, 1);    /* the second step */
	asked(fault(&w, 1003, 16), 4, 1004, 1);    /* right after */
	asked(fault(&w, 1003, 16), 0, 0, 1);       /* the same page */
	asked(fault(&w, 1005, 16), 8, 1006, 1);    /* within the window */
	asked(fault(&w, 1014, 16), 16, 1015, 1);
	asked(fault(&w, 1031, 16), 16, 1032, 1);   /* at most max */
	asked(fault(&w, 5000, 16), 0, 0, 1);       /* elsewhere: ends */
	asked(fault(&w, 5001, 16), 2, 5002, 1);
	assert_int_equal(walk_fault(&w, 5003, false, 16, LO, HI, out), 0);
	asked(fault(&w, 5004, 16), 2, 5005, 1);    /* again from none */
}

static void test_strides(void **state)
{
	walk_t w = {0};

	(void)state;
	/* a transpose: one page of every row, 8 pages a row */
	asked(fault(&w, 2004, 16), 0, 0, 8);
	asked(fault(&w, 2012, 16), 0, 0, 8);       /* one distance: no walk */
	asked(fault(&w, 2020, 16), 2, 2028, 8);    /* the same again */
	asked(fault(&w, 2028, 16), 4, 2036, 8);    /* within */
	asked(fault(&w, 2068, 16), 8, 2076, 8);    /* right after */
	asked(fault(&w, 2076, 16), 16, 2084, 8);
	asked(fault(&w, 2080, 16), 0, 0, 8);       /* off the stride: ends */
	/* down */
	w = (walk_t){0};
	asked(fault(&w, 3000, 16), 0, 0, -3);
	asked(fault(&w, 2997, 16), 0, 0, -3);
	asked(fault(&w, 2994, 16), 2, 2991, -3);
	asked(fault(&w, 2988, 16), 4, 2985, -3);
	/* too wide a stride is no walk */
	w = (walk_t){0};
	asked(fault(&w, 4000, 16), 0, 0, 1);
	asked(fault(&w, 4000 + WALK_STEP_MAX + 1, 16), 0, 0, 1);
	asked(fault(&w, 4000 + 2 * (WALK_STEP_MAX + 1), 16), 0, 0, 1);
	w = (walk_t){0};
	asked(fault(&w, 4000, 16), 0, 0, 1);
	asked(fault(&w, 4000 + WALK_STEP_MAX, 16), 0, 0, 1);
	asked(fault(&w, 4000 + 2 * WALK_STEP_MAX, 16), 2,
	      4000 + 3 * WALK_STEP_MAX, WALK_STEP_MAX);
}

static void test_bounds(void **state)
{
	walk_t w = {0};

	(void)state;
	asked(fault(&w, HI - 3, 16), 0, 0, 1);
	asked(fault(&w, HI - 2, 16), 1, HI - 1, 1); /* hi is not asked */
	w = (walk_t){0};
	asked(fault(&w, LO + 10, 16), 0, 0, -5);
	asked(fault(&w, LO + 5, 16), 0, 0, -5);
	asked(fault(&w, LO, 16), 0, 0, -5);         /* below lo: none */
	w = (walk_t){0};
	asked(fault(&w, 7000, 0), 0, 0, 1);         /* max 0: off */
	asked(fault(&w, 7001, 0), 0, 0, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_up_by_one),
		cmocka_unit_test(test_strides),
		cmocka_unit_test(test_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
