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

/* ---- ranges that wrap past 2^64 (each one crashed or corrupted the VMA
 * list, or returned another errno than Linux, before the checks) ---- */

#define TOP (0UL - 4096) /* the last page of the 64-bit space */

/* Every VMA sorted, non-empty, page aligned and inside the window. */
static void assert_vmas_sane(const gmem_t *gm)
{
	uint64_t at = GMEM_LO;

	for (unsigned i = 0; i < gm->nvmas; i++) {
		const gmem_vma_t *v = &gm->vmas[i];

		assert_true(v->start >= at);
		assert_true(v->start < v->end);
		assert_true(v->end <= GMEM_HI);
		assert_int_equal((v->start | v->end) & (CVMM_PAGE_SIZE - 1), 0);
		at = v->end;
	}
}

static void test_mremap_overflow(void **state)
{
	gmem_t *gm = *state;
	long a = gmem_mmap(gm, 0, 4 * 4096, RW, ANON);
	long q = gmem_mmap(gm, 0, 4096, RW, ANON);
	unsigned n = gm->nvmas;
	int mv = MREMAP_MAYMOVE, fx = MREMAP_MAYMOVE | MREMAP_FIXED;

	assert_true(a > 0 && q > 0);
	/* new range past 2^64 with MREMAP_FIXED (crashed the agent) */
	assert_int_equal(gmem_mremap(gm, a, 4096, 2 * 4096, fx, TOP), -EINVAL);
	assert_int_equal(gmem_mremap(gm, a, 4096, TOP, fx, q), -EINVAL);
	assert_int_equal(gmem_mremap(gm, a, 4096, -1UL, fx, q), -EINVAL);
	assert_int_equal(gmem_mremap(gm, a, 4096, 4096, fx, GMEM_TASK_SIZE),
			 -EINVAL);
	/* ... without it (returned a VMA ending below its start) */
	assert_int_equal(gmem_mremap(gm, a, 4096, TOP, 0, 0), -EINVAL);
	assert_int_equal(gmem_mremap(gm, a, 4096, TOP, mv, 0), -EINVAL);
	assert_int_equal(gmem_mremap(gm, a, 4096, -(uint64_t)a, mv, 0),
			 -EINVAL);
	assert_int_equal(gmem_mremap(gm, a, 4096, -1UL, 0, 0), -EINVAL);
	/* old lengths that wrap, or round to 0 */
	assert_int_equal(gmem_mremap(gm, a, TOP, 4096, 0, 0), -EINVAL);
	assert_int_equal(gmem_mremap(gm, a, TOP, 4096, fx, q), -EINVAL);
	assert_int_equal(gmem_mremap(gm, a, -1UL, 2 * 4096, mv, 0), -EINVAL);
	assert_int_equal(gm->nvmas, n);
	assert_vmas_sane(gm);
	/* a valid target this window cannot hold: nothing changes */
	assert_int_equal(gmem_mremap(gm, a, 4 * 4096, 4096, fx, GMEM_HI),
			 -ENOMEM);
	assert_non_null(gmem_ptr(gm, a, 4 * 4096, PROT_READ));
	/* what stays mapped must lie in one VMA; a shrunk tail need not */
	assert_int_equal(gmem_munmap(gm, a + 2 * 4096, 4096), 0);
	assert_int_equal(gmem_mremap(gm, a, 4 * 4096, 4 * 4096, fx, q),
			 -EINVAL); /* the ranges overlap */
	assert_int_equal(gmem_mremap(gm, a, 4 * 4096, 4 * 4096, fx,
				     q - 64 * 4096), -EFAULT);
	assert_int_equal(gmem_mremap(gm, a, 4 * 4096, 4096, 0, 0), a);
	assert_null(gmem_ptr(gm, a + 3 * 4096, 1, 0));
	/* and it grows again in place */
	assert_int_equal(gmem_mremap(gm, a, 4096, 3 * 4096, mv, 0), a);
	assert_vmas_sane(gm);
}

static void test_mremap_fixed_shrink(void **state)
{
	gmem_t *gm = *state;
	long a = gmem_mmap(gm, 0, 4 * 4096, RW, ANON);
	long to = gmem_mmap(gm, 0, 4096, RW, ANON);
	int fx = MREMAP_MAYMOVE | MREMAP_FIXED;

	assert_true(a > 0 && to > 0);
	assert_int_equal(gmem_mremap(gm, a, 4 * 4096, 2 * 4096, fx,
				     to + 4096 * 64),
			 to + 4096 * 64);
	assert_null(gmem_ptr(gm, a, 1, 0));
	assert_null(gmem_ptr(gm, a + 3 * 4096, 1, 0));
	assert_non_null(gmem_ptr(gm, to + 4096 * 64, 2 * 4096, PROT_WRITE));
	/* an old length of 0 is refused for private memory, as Linux does */
	assert_int_equal(gmem_mremap(gm, to, 0, 4096, MREMAP_MAYMOVE, 0),
			 -EINVAL);
	assert_vmas_sane(gm);
}

static void test_mmap_overflow(void **state)
{
	gmem_t *gm = *state;
	unsigned n = gm->nvmas;

	assert_int_equal(gmem_mmap(gm, 0, -1UL, RW, ANON), -ENOMEM);
	assert_int_equal(gmem_mmap(gm, 0, TOP, RW, ANON), -ENOMEM);
	assert_int_equal(gmem_mmap(gm, 0, GMEM_TASK_SIZE + 4096, RW, ANON),
			 -ENOMEM);
	assert_int_equal(gmem_mmap(gm, TOP, 2 * 4096, RW, ANON | MAP_FIXED),
			 -ENOMEM);
	assert_int_equal(gmem_mmap(gm, TOP, 2 * 4096, RW,
				   ANON | MAP_FIXED_NOREPLACE), -ENOMEM);
	/* the range is checked before the alignment, as Linux does */
	assert_int_equal(gmem_mmap(gm, TOP + 1, 2 * 4096, RW, ANON | MAP_FIXED),
			 -ENOMEM);
	assert_int_equal(gm->nvmas, n);
	/* a hint whose end wraps is ignored */
	assert_true(gmem_mmap(gm, TOP, 2 * 4096, RW, ANON) > 0);
	/* unknown prot bits are ignored */
	assert_true(gmem_mmap(gm, 0, 4096, RW | 0x1000, ANON) > 0);
	assert_vmas_sane(gm);
}

static void test_munmap_ranges(void **state)
{
	gmem_t *gm = *state;
	long a = gmem_mmap(gm, 0, 2 * 4096, RW, ANON);

	assert_true(a > 0);
	/* nothing mapped there: 0, as on Linux (was EINVAL) */
	assert_int_equal(gmem_munmap(gm, 0, 4096), 0);
	assert_int_equal(gmem_munmap(gm, 4096, 4096), 0);
	assert_int_equal(gmem_munmap(gm, GMEM_HI, 4096), 0);
	/* no user range (0 was returned for some of these) */
	assert_int_equal(gmem_munmap(gm, a, -1UL), -EINVAL);
	assert_int_equal(gmem_munmap(gm, a, -(uint64_t)a), -EINVAL);
	assert_int_equal(gmem_munmap(gm, TOP, 2 * 4096), -EINVAL);
	assert_int_equal(gmem_munmap(gm, GMEM_TASK_SIZE, 4096), -EINVAL);
	assert_int_equal(gmem_munmap(gm, 1UL << 63, 4096), -EINVAL);
	assert_int_equal(gmem_munmap(gm, a, 0), -EINVAL);
	assert_non_null(gmem_ptr(gm, a, 2 * 4096, PROT_WRITE));
	/* a range reaching past the window unmaps what is inside it */
	assert_int_equal(gmem_munmap(gm, a + 4096, GMEM_TASK_SIZE - a - 4096),
			 0);
	assert_non_null(gmem_ptr(gm, a, 4096, PROT_WRITE));
	assert_null(gmem_ptr(gm, a + 4096, 1, 0));
	assert_vmas_sane(gm);
}

static void test_mprotect_overflow(void **state)
{
	gmem_t *gm = *state;
	long a = gmem_mmap(gm, 0, 2 * 4096, RW, ANON);

	assert_true(a > 0);
	/* a length that rounds to 0 or a sum that wraps: ENOMEM (was EINVAL) */
	assert_int_equal(gmem_mprotect(gm, a, -1UL, PROT_READ), -ENOMEM);
	assert_int_equal(gmem_mprotect(gm, a, -(uint64_t)a, PROT_READ),
			 -ENOMEM);
	assert_int_equal(gmem_mprotect(gm, TOP, 2 * 4096, PROT_READ), -ENOMEM);
	assert_int_equal(gmem_mprotect(gm, GMEM_HI, 4096, PROT_READ), -ENOMEM);
	/* Linux's order: length 0 before prot; PROT_SEM is accepted */
	assert_int_equal(gmem_mprotect(gm, a, 0, 0x1000), 0);
	assert_int_equal(gmem_mprotect(gm, a, 4096, 0x1000), -EINVAL);
	assert_int_equal(gmem_mprotect(gm, a, 4096, PROT_READ | 0x8), 0);
	assert_null(gmem_ptr(gm, a, 1, PROT_WRITE));
	assert_vmas_sane(gm);
}

static void test_madvise_overflow(void **state)
{
	gmem_t *gm = *state;
	long a = gmem_mmap(gm, 0, 2 * 4096, RW, ANON);

	assert_true(a > 0);
	assert_int_equal(gmem_madvise(gm, a, -1UL, MADV_DONTNEED), -EINVAL);
	assert_int_equal(gmem_madvise(gm, a, -(uint64_t)a, MADV_DONTNEED),
			 -EINVAL);
	assert_int_equal(gmem_madvise(gm, a, TOP, MADV_DONTNEED), -EINVAL);
	assert_int_equal(gmem_madvise(gm, a, -1UL, MADV_WILLNEED), -EINVAL);
	assert_int_equal(gmem_madvise(gm, a, 0, MADV_DONTNEED), 0);
	/* unknown advice is EINVAL (was 0); a hole is ENOMEM for any advice */
	assert_int_equal(gmem_madvise(gm, a, 4096, 12345), -EINVAL);
	assert_int_equal(gmem_madvise(gm, a, 4096, -1), -EINVAL);
	assert_int_equal(gmem_madvise(gm, a, 3 * 4096, MADV_WILLNEED), -ENOMEM);
	assert_int_equal(gmem_madvise(gm, GMEM_HI, 4096, MADV_DONTNEED),
			 -ENOMEM);
	assert_int_equal(gmem_madvise(gm, a, 2 * 4096, MADV_HUGEPAGE), 0);
	assert_vmas_sane(gm);
}

static void test_brk_overflow(void **state)
{
	gmem_t *gm = *state;
	uint64_t base = (uint64_t)gmem_brk(gm, 0);

	/* page rounding of these wraps to 0: the break stays */
	assert_int_equal(gmem_brk(gm, -1UL), base);
	assert_int_equal(gmem_brk(gm, TOP + 1), base);
	assert_int_equal(gmem_brk(gm, 1UL << 63), base);
	assert_vmas_sane(gm);
	/* an image that ends near the top of the window: the heap stops at
	 * GMEM_HI (it used to grow past it, over the agent view) */
	gmem_set_brk(gm, GMEM_HI - 4096);
	assert_int_equal(gmem_brk(gm, GMEM_HI), GMEM_HI);
	assert_int_equal(gmem_brk(gm, GMEM_HI + 4096), GMEM_HI);
	assert_vmas_sane(gm);
}

/* Length 0: any user address passes (mapped or not, as access_ok sees
 * it), nothing past GMEM_TASK_SIZE does. */
static void test_ptr_zero_length(void **state)
{
	gmem_t *gm = *state;
	long a = gmem_mmap(gm, 0, 4096, RW, ANON);

	assert_true(a > 0);
	assert_non_null(gmem_ptr(gm, a, 0, PROT_WRITE));
	assert_non_null(gmem_ptr(gm, 0, 0, PROT_READ));
	assert_non_null(gmem_ptr(gm, a + 4096, 0, PROT_WRITE));
	assert_non_null(gmem_ptr(gm, GMEM_HI + 4096, 0, PROT_READ));
	assert_non_null(gmem_ptr(gm, GMEM_TASK_SIZE, 0, PROT_READ));
	assert_null(gmem_ptr(gm, GMEM_TASK_SIZE + 1, 0, PROT_READ));
	assert_null(gmem_ptr(gm, 0xffff800000000000UL, 0, PROT_READ));
	assert_null(gmem_ptr(gm, UINT64_MAX, 0, 0));
	/* and with a length, nothing outside the window either */
	assert_null(gmem_ptr(gm, GMEM_HI + 4096, 1, 0));
	assert_null(gmem_ptr(gm, 0xffff800000000000UL, 8, PROT_READ));
	assert_int_equal(gmem_mapped(gm, 0xffff800000000000UL, 8, PROT_READ),
			 0);
}

static void test_ptr_overflow(void **state)
{
	gmem_t *gm = *state;
	long a = gmem_mmap(gm, 0, 2 * 4096, RW, ANON);
	char buf[8];

	assert_true(a > 0);
	assert_null(gmem_ptr(gm, a, SIZE_MAX, PROT_READ));
	assert_null(gmem_ptr(gm, a, -(uint64_t)a, PROT_READ));
	assert_null(gmem_ptr(gm, UINT64_MAX - 4, 8, PROT_READ));
	/* a range that wraps counts as not mapped at all */
	assert_int_equal(gmem_mapped(gm, a, SIZE_MAX, PROT_READ), 0);
	assert_int_equal(gmem_mapped(gm, a, 1UL << 62, PROT_READ), 2 * 4096);
	assert_int_equal(gmem_mapped(gm, -8UL, 16, PROT_READ), 0);
	assert_int_equal(gmem_strcpy(gm, -8UL, buf, sizeof(buf)), -EFAULT);
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
		cmocka_unit_test_setup_teardown(test_mremap_overflow,
						setup_books, teardown),
		cmocka_unit_test_setup_teardown(test_mremap_fixed_shrink,
						setup_views, teardown),
		cmocka_unit_test_setup_teardown(test_mmap_overflow,
						setup_books, teardown),
		cmocka_unit_test_setup_teardown(test_munmap_ranges,
						setup_views, teardown),
		cmocka_unit_test_setup_teardown(test_mprotect_overflow,
						setup_books, teardown),
		cmocka_unit_test_setup_teardown(test_madvise_overflow,
						setup_books, teardown),
		cmocka_unit_test_setup_teardown(test_brk_overflow, setup_books,
						teardown),
		cmocka_unit_test_setup_teardown(test_ptr_zero_length,
						setup_views, teardown),
		cmocka_unit_test_setup_teardown(test_ptr_overflow, setup_views,
						teardown),
	};

	cmocka_set_test_filter(getenv("CVMM_TEST_FILTER"));
	return cmocka_run_group_tests_name("gmem", books, NULL, NULL);
}
