/* Guest memory: the VMA allocator and the two views of the memfd. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "core/gmem.h"

#define RW (PROT_READ | PROT_WRITE)
#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)

static int setup_books(void **state)
{
	static gmem_t gm;

	assert_int_equal(gmem_init(&gm, false), CVMM_OK);
	gmem_set_brk(&gm, 0x500000);
	*state = &gm;
	return 0;
}

static int setup_views(void **state)
{
	assert_int_equal(gmem_init(&cvmm_gmem, true), CVMM_OK);
	gmem_set_brk(&cvmm_gmem, 0x500000);
	*state = &cvmm_gmem;
	return 0;
}

static int teardown(void **state)
{
	gmem_fini(*state);
	return 0;
}

static void test_mmap_topdown_and_reuse(void **state)
{
	gmem_t *gm = *state;
	long a = gmem_mmap(gm, 0, 8192, RW, ANON);
	long b = gmem_mmap(gm, 0, 4096, RW, ANON);

	assert_true(a > 0 && b > 0);
	assert_int_equal(a + 8192, GMEM_MMAP_TOP);
	assert_int_equal(b + 4096, a);
	assert_int_equal(gmem_munmap(gm, (uint64_t)a, 8192), 0);
	/* the freed top gap is found again */
	assert_int_equal(gmem_mmap(gm, 0, 4096, RW, ANON), a + 4096);
}

static void test_mmap_flags(void **state)
{
	gmem_t *gm = *state;

	assert_int_equal(gmem_mmap(gm, 0, 0, RW, ANON), -EINVAL);
	assert_int_equal(gmem_mmap(gm, 0, 4096, RW, MAP_ANONYMOUS), -EINVAL);
	assert_int_equal(gmem_mmap(gm, 0x10001000, 4096, RW,
				   ANON | MAP_FIXED | 0), 0x10001000);
	assert_int_equal(gmem_mmap(gm, 0x10001000, 4096, RW,
				   ANON | MAP_FIXED_NOREPLACE), -EEXIST);
	assert_int_equal(gmem_mmap(gm, 0x10001001, 4096, RW,
				   ANON | MAP_FIXED), -EINVAL);
	assert_int_equal(gmem_mmap(gm, GMEM_HI, 4096, RW, ANON | MAP_FIXED),
			 -ENOMEM);
	/* a free hint is honoured */
	assert_int_equal(gmem_mmap(gm, 0x20000000, 4096, RW, ANON),
			 0x20000000);
}

static void test_ptr_checks_protection(void **state)
{
	gmem_t *gm = *state;
	long a = gmem_mmap(gm, 0, 3 * 4096, PROT_NONE, ANON);

	assert_true(a > 0);
	assert_null(gmem_ptr(gm, (uint64_t)a, 1, 0));
	assert_int_equal(gmem_mprotect(gm, (uint64_t)a + 4096, 4096, RW), 0);
	assert_non_null(gmem_ptr(gm, (uint64_t)a + 4096, 4096, PROT_WRITE));
	assert_null(gmem_ptr(gm, (uint64_t)a + 4096, 4097, PROT_READ));
	assert_null(gmem_ptr(gm, (uint64_t)a, 4096, PROT_READ));
	assert_int_equal(gmem_mprotect(gm, (uint64_t)a + 4096, 4096,
				       PROT_READ), 0);
	assert_null(gmem_ptr(gm, (uint64_t)a + 4096, 8, PROT_WRITE));
	assert_null(gmem_ptr(gm, 0x1000, 8, PROT_READ));
	assert_null(gmem_ptr(gm, UINT64_MAX - 4, 8, PROT_READ));
	/* mprotect of a range with a hole fails */
	assert_int_equal(gmem_munmap(gm, (uint64_t)a + 8192, 4096), 0);
	assert_int_equal(gmem_mprotect(gm, (uint64_t)a, 3 * 4096, RW),
			 -ENOMEM);
}

static void test_split_and_merge(void **state)
{
	gmem_t *gm = *state;
	unsigned before = gm->nvmas;
	long a = gmem_mmap(gm, 0, 16 * 4096, RW, ANON);

	assert_int_equal(gm->nvmas, before + 1);
	assert_int_equal(gmem_mprotect(gm, (uint64_t)a + 4096, 4096,
				       PROT_READ), 0);
	assert_int_equal(gm->nvmas, before + 3);
	assert_int_equal(gmem_mprotect(gm, (uint64_t)a + 4096, 4096, RW), 0);
	assert_int_equal(gm->nvmas, before + 1);
	assert_int_equal(gmem_munmap(gm, (uint64_t)a + 4 * 4096, 4096), 0);
	assert_int_equal(gm->nvmas, before + 2);
}

static void test_brk(void **state)
{
	gmem_t *gm = *state;
	uint64_t base = (uint64_t)gmem_brk(gm, 0);

	assert_int_equal(base, 0x500000);
	assert_int_equal(gmem_brk(gm, base + 10000), base + 10000);
	assert_non_null(gmem_ptr(gm, base, 10000, PROT_WRITE));
	assert_int_equal(gmem_brk(gm, base + 100), base + 100);
	assert_null(gmem_ptr(gm, base + 4096, 1, PROT_READ));
	/* below the start or past the limit: unchanged */
	assert_int_equal(gmem_brk(gm, base - 4096), base + 100);
	assert_int_equal(gmem_brk(gm, base + GMEM_BRK_MAX + 4096), base + 100);
}

static void test_views_zero_after_unmap(void **state)
{
	gmem_t *gm = *state;
	long a = gmem_mmap(gm, 0, 2 * 4096, RW, ANON);
	char *guest = (char *)a, *agent = gmem_agent((uint64_t)a);

	assert_true(a > 0);
	memset(guest, 0x5a, 8192);          /* written in the guest view */
	assert_int_equal(agent[8191], 0x5a); /* seen in the agent view */
	assert_int_equal(gmem_madvise(gm, (uint64_t)a, 4096, MADV_DONTNEED),
			 0);
	assert_int_equal(guest[0], 0);
	assert_int_equal(guest[4096], 0x5a);
	assert_int_equal(gmem_munmap(gm, (uint64_t)a, 8192), 0);
	assert_int_equal(gmem_mmap(gm, (uint64_t)a, 8192, RW,
				   ANON | MAP_FIXED), a);
	assert_int_equal(guest[4096], 0);
}

static void test_views_shared_keeps_bytes(void **state)
{
	gmem_t *gm = *state;
	long a = gmem_mmap(gm, 0, 4096, RW, MAP_SHARED | MAP_ANONYMOUS);

	assert_true(a > 0);
	((char *)a)[5] = 7;
	assert_int_equal(gmem_madvise(gm, (uint64_t)a, 4096, MADV_DONTNEED),
			 0);
	assert_int_equal(((char *)a)[5], 7);
}

static void test_views_mremap_moves_bytes(void **state)
{
	gmem_t *gm = *state;
	long a = gmem_mmap(gm, 0, 4096, RW, ANON);
	long blocker, b;

	assert_true(a > 0);
	blocker = gmem_mmap(gm, (uint64_t)a + 4096, 4096, RW,
			    ANON | MAP_FIXED_NOREPLACE);
	assert_int_equal(blocker, a + 4096);
	strcpy((char *)a, "moved");
	b = gmem_mremap(gm, (uint64_t)a, 4096, 3 * 4096, MREMAP_MAYMOVE, 0);
	assert_true(b > 0 && b != a);
	assert_string_equal((char *)b, "moved");
	assert_null(gmem_ptr(gm, (uint64_t)a, 1, PROT_READ));
	assert_int_equal(gmem_mremap(gm, (uint64_t)b, 3 * 4096, 4096, 0, 0), b);
}

static void test_strcpy(void **state)
{
	gmem_t *gm = *state;
	long a = gmem_mmap(gm, 0, 2 * 4096, RW, ANON);
	char buf[16];
	char *g = (char *)a;

	memcpy(g + 4090, "crosses!", 9); /* spans the page boundary */
	assert_int_equal(gmem_strcpy(gm, (uint64_t)a + 4090, buf, sizeof(buf)),
			 8);
	assert_string_equal(buf, "crosses!");
	memset(g, 'x', 8192);
	assert_int_equal(gmem_strcpy(gm, (uint64_t)a, buf, sizeof(buf)),
			 -ENAMETOOLONG);
	assert_int_equal(gmem_munmap(gm, (uint64_t)a + 4096, 4096), 0);
	assert_int_equal(gmem_strcpy(gm, (uint64_t)a + 4090, buf, 4096),
			 -EFAULT);
}

int main(void)
{
	const struct CMUnitTest books[] = {
		cmocka_unit_test_setup_teardown(test_mmap_topdown_and_reuse,
						setup_books, teardown),
		cmocka_unit_test_setup_teardown(test_mmap_flags, setup_books,
						teardown),
		cmocka_unit_test_setup_teardown(test_ptr_checks_protection,
						setup_books, teardown),
		cmocka_unit_test_setup_teardown(test_split_and_merge,
						setup_books, teardown),
		cmocka_unit_test_setup_teardown(test_brk, setup_books,
						teardown),
		cmocka_unit_test_setup_teardown(test_views_zero_after_unmap,
						setup_views, teardown),
		cmocka_unit_test_setup_teardown(test_views_shared_keeps_bytes,
						setup_views, teardown),
		cmocka_unit_test_setup_teardown(test_views_mremap_moves_bytes,
						setup_views, teardown),
		cmocka_unit_test_setup_teardown(test_strcpy, setup_views,
						teardown),
	};

	cmocka_set_test_filter(getenv("CVMM_TEST_FILTER"));
	return cmocka_run_group_tests_name("gmem", books, NULL, NULL);
}
