/* futex_host_ok (core/futex.h): which guest futex calls go to the kernel
 * as they are on one node. Only operations that write no memory, and only
 * with words (and a wait's timeout) inside the guest window; anything else
 * takes the full trap, where sys_futex answers it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/futex.h"

#define W (GMEM_LO + 0x1000) /* a word in the window */

static bool ok(uint64_t uaddr, int op, uint64_t ts, uint64_t uaddr2)
{
	uint64_t a[6] = { uaddr, (uint64_t)(unsigned)op, 0, ts, uaddr2, 0 };

	return futex_host_ok(a);
}

static void test_ops(void **state)
{
	static const int allowed[] = { FUTEX_WAIT, FUTEX_WAKE,
				       FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET,
				       FUTEX_REQUEUE, FUTEX_CMP_REQUEUE };
	/* they write the word, lock it for a PI owner, or are gone */
	static const int refused[] = { FUTEX_WAKE_OP, FUTEX_LOCK_PI,
				       FUTEX_UNLOCK_PI, FUTEX_TRYLOCK_PI,
				       FUTEX_WAIT_REQUEUE_PI,
				       FUTEX_CMP_REQUEUE_PI, FUTEX_LOCK_PI2,
				       FUTEX_FD, 14, 15, 127 };

	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		assert_true(ok(W, allowed[i], 0, W));
		assert_true(ok(W, allowed[i] | FUTEX_PRIVATE_FLAG, 0, W));
		/* the kernel refuses REALTIME where it does (ENOSYS) */
		assert_true(ok(W, allowed[i] | FUTEX_CLOCK_REALTIME, 0, W));
		/* other bits make another command */
		assert_false(ok(W, allowed[i] | 0x10000, 0, W));
	}
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		assert_false(ok(W, refused[i], 0, W));
		assert_false(ok(W, refused[i] | FUTEX_PRIVATE_FLAG, 0, W));
	}
}

static void test_window(void **state)
{
	/* the word: inside the window only, all 4 bytes */
	assert_true(ok(GMEM_LO, FUTEX_WAKE, 0, 0));
	assert_true(ok(GMEM_HI - 4, FUTEX_WAKE, 0, 0));
	assert_false(ok(GMEM_HI - 3, FUTEX_WAKE, 0, 0));
	assert_false(ok(GMEM_HI, FUTEX_WAKE, 0, 0));
	assert_false(ok(GMEM_LO - 4, FUTEX_WAKE_PRIVATE, 0, 0));
	assert_false(ok(0, FUTEX_WAKE_PRIVATE, 0, 0));
	assert_false(ok(UINT64_MAX - 3, FUTEX_WAIT_PRIVATE, 0, 0));
	assert_false(ok(GMEM_HI + GMEM_DELTA - 0x1000, FUTEX_WAIT, 0, 0));
	/* a wait's timeout too; no timeout is fine */
	assert_true(ok(W, FUTEX_WAIT, W, 0));
	assert_true(ok(W, FUTEX_WAIT_BITSET, GMEM_HI - 16, 0));
	assert_false(ok(W, FUTEX_WAIT_BITSET, GMEM_HI - 15, 0));
	assert_false(ok(W, FUTEX_WAIT, GMEM_LO - 8, 0));
	assert_false(ok(W, FUTEX_WAIT_PRIVATE, UINT64_MAX - 7, 0));
	/* a wake's fourth argument is no pointer */
	assert_true(ok(W, FUTEX_WAKE, 1, 0));
	/* requeue: both words; its fourth argument is a count */
	assert_true(ok(W, FUTEX_CMP_REQUEUE, 5, W + 4));
	assert_false(ok(W, FUTEX_CMP_REQUEUE, 5, 0));
	assert_false(ok(W, FUTEX_REQUEUE, 5, GMEM_HI));
	assert_false(ok(0, FUTEX_REQUEUE_PRIVATE, 5, W));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ops),
		cmocka_unit_test(test_window),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
