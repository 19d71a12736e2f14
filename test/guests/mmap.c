/* mmap: anonymous memory management.
 *  - a 1 GiB MAP_NORESERVE reservation, a few pages touched far apart and
 *    read back, untouched pages read as zero;
 *  - munmap of one page in the middle, MAP_FIXED of a new page in the hole
 *    reads zero; MAP_FIXED over live data replaces it with zeros;
 *  - mprotect to read-only (still readable, same data) and back to
 *    read-write; a PROT_NONE reservation made usable piecewise by mprotect
 *    (as glibc grows its arenas);
 *  - munmap of everything, mmap again, zeros;
 *  - mremap grow (may move) keeps the data, and shrink;
 *  - MAP_FIXED_NOREPLACE over a mapping fails with EEXIST;
 *  - NTHREADS threads mapping, filling, checking and unmapping their own
 *    regions at the same time.
 *
 *   mmap [NTHREADS]      (default 4) */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define PAGE 4096UL
#define GIB (1024UL * 1024 * 1024)
#define MAXT 32

static int failures;

#define CHECK(cond, ...)                                                      \
	do {                                                                  \
		if (!(cond)) {                                                \
			printf("FAIL: " __VA_ARGS__);                         \
			printf("\n");                                         \
			failures++;                                           \
		}                                                             \
	} while (0)

static int all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed + i * 13);
}

static int same(const unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)(seed + i * 13))
			return 0;
	return 1;
}

static void test_sparse(void)
{
	static const size_t offs[] = {0, 4096, 1024 * 1024, 300UL << 20,
				      512UL << 20, GIB - PAGE};
	const size_t n = sizeof(offs) / sizeof(offs[0]);
	unsigned char *base, *p;

	base = mmap(NULL, GIB, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	CHECK(base != MAP_FAILED, "1 GiB MAP_NORESERVE mmap: %m");
	if (base == MAP_FAILED)
		return;
	CHECK(((uintptr_t)base & (PAGE - 1)) == 0, "unaligned mmap");
	for (size_t i = 0; i < n; i++)
		fill(base + offs[i], PAGE, (unsigned)i);
	for (size_t i = 0; i < n; i++)
		CHECK(same(base + offs[i], PAGE, (unsigned)i),
		      "sparse page %zu lost its data", i);
	CHECK(all_zero(base + 2 * PAGE, PAGE) &&
	      all_zero(base + (700UL << 20), PAGE), "untouched page not zero");
	printf("sparse 1 GiB: %zu pages touched ok\n", n);

	/* A hole in the middle, refilled with MAP_FIXED. */
	p = base + (300UL << 20);
	CHECK(munmap(p, PAGE) == 0, "munmap one page: %m");
	CHECK(mmap(p, PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == p,
	      "MAP_FIXED into the hole: %m");
	CHECK(all_zero(p, PAGE), "MAP_FIXED page in a hole not zero");
	/* MAP_FIXED over live data. */
	p = base + (512UL << 20);
	CHECK(mmap(p, PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == p,
	      "MAP_FIXED over data: %m");
	CHECK(all_zero(p, PAGE), "MAP_FIXED over data kept the old data");
	CHECK(same(base + 1024 * 1024, PAGE, 2), "neighbour page changed");
	printf("MAP_FIXED inside the reservation ok\n");

	/* Read-only and back. */
	p = base + 4096;
	CHECK(mprotect(p, PAGE, PROT_READ) == 0, "mprotect read-only: %m");
	CHECK(same(p, PAGE, 1), "read-only page lost its data");
	CHECK(mprotect(p, PAGE, PROT_READ | PROT_WRITE) == 0,
	      "mprotect read-write: %m");
	p[5] = 0xee;
	CHECK(p[5] == 0xee && p[6] == (unsigned char)(1 + 6 * 13),
	      "write after mprotect");
	printf("mprotect ok\n");

	CHECK(munmap(base, GIB) == 0, "munmap 1 GiB: %m");
	p = mmap(base, GIB, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	CHECK(p != MAP_FAILED, "mmap again: %m");
	if (p == MAP_FAILED)
		return;
	for (size_t i = 0; i < n; i++)
		CHECK(all_zero(p + offs[i], PAGE),
		      "page %zu not zero after munmap and mmap", i);
	CHECK(munmap(p, GIB) == 0, "munmap again: %m");
	printf("munmap then mmap reads zeros ok\n");
}

static void test_arena_style(void)
{
	size_t len = 64UL << 20;
	unsigned char *r = mmap(NULL, len, PROT_NONE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
				-1, 0);

	CHECK(r != MAP_FAILED, "PROT_NONE reservation: %m");
	if (r == MAP_FAILED)
		return;
	for (size_t used = 0; used < (1UL << 20); used += 256 * 1024) {
		CHECK(mprotect(r + used, 256 * 1024,
			       PROT_READ | PROT_WRITE) == 0,
		      "mprotect grow: %m");
		fill(r + used, 256 * 1024, (unsigned)(used >> 18));
	}
	for (size_t used = 0; used < (1UL << 20); used += 256 * 1024)
		CHECK(same(r + used, 256 * 1024, (unsigned)(used >> 18)),
		      "arena chunk lost data");
	/* Give back the tail as glibc's heap trim does. */
	CHECK(madvise(r + 512 * 1024, 512 * 1024, MADV_DONTNEED) == 0,
	      "madvise: %m");
	CHECK(all_zero(r + 512 * 1024, 512 * 1024),
	      "MADV_DONTNEED memory not zero");
	CHECK(same(r, 256 * 1024, 0), "MADV_DONTNEED hit the wrong pages");
	CHECK(mmap(r, PAGE, PROT_READ,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1,
		   0) == MAP_FAILED && errno == EEXIST,
	      "MAP_FIXED_NOREPLACE over a mapping did not fail with EEXIST");
	CHECK(munmap(r, len) == 0, "munmap reservation: %m");
	printf("PROT_NONE reservation grown by mprotect ok\n");
}

static void test_mremap(void)
{
	size_t len = 256 * 1024;
	unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), *q;

	CHECK(p != MAP_FAILED, "mmap for mremap: %m");
	if (p == MAP_FAILED)
		return;
	fill(p, len, 77);
	q = mremap(p, len, 4 * len, MREMAP_MAYMOVE);
	CHECK(q != MAP_FAILED, "mremap grow: %m");
	if (q == MAP_FAILED)
		return;
	CHECK(same(q, len, 77), "mremap lost data");
	CHECK(all_zero(q + len, 3 * len), "mremap new part not zero");
	fill(q, 4 * len, 78);
	p = mremap(q, 4 * len, len, 0);
	CHECK(p == q, "mremap shrink moved or failed");
	CHECK(same(p, len, 78), "mremap shrink lost data");
	CHECK(munmap(p, len) == 0, "munmap after mremap: %m");
	printf("mremap ok\n");
}

static void *worker(void *arg)
{
	long id = (long)arg;
	long bad = 0;

	for (int i = 0; i < 40; i++) {
		size_t len = PAGE * (size_t)(1 + (id * 7 + i * 5) % 64);
		unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED) {
			bad++;
			continue;
		}
		bad += !all_zero(p, len);
		fill(p, len, (unsigned)(id * 100 + i));
		bad += !same(p, len, (unsigned)(id * 100 + i));
		bad += munmap(p, len) != 0;
	}
	return (void *)bad;
}

static void test_threads(int n)
{
	pthread_t t[MAXT];
	long bad = 0;

	for (long i = 0; i < n; i++)
		pthread_create(&t[i], NULL, worker, (void *)i);
	for (int i = 0; i < n; i++) {
		void *r;

		pthread_join(t[i], &r);
		bad += (long)r;
	}
	CHECK(bad == 0, "%ld errors in threads mapping at once", bad);
	printf("%d threads mapping at once ok\n", n);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 4;

	if (n < 1 || n > MAXT) {
		fprintf(stderr, "usage: mmap [NTHREADS<=32]\n");
		return 2;
	}
	test_sparse();
	test_arena_style();
	test_mremap();
	test_threads(n);
	if (failures) {
		printf("%d failures\n", failures);
		return 1;
	}
	printf("ok\n");
	return 0;
}
