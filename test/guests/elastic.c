/* elastic: THREADS threads own equal slices of an array of MIB MiB (they
 * write it first, so under cvmm each slice's pages belong to the node its
 * thread runs on) and update one word of every page of their slice in
 * ROUNDS rounds, meeting at a barrier after each. Then main checks every
 * word of the array against a serial replay and prints a checksum. For
 * nodes leaving and joining under load (run_ctl.sh join, BENCH=leave):
 * the pages of a leaving node's threads must all arrive elsewhere, with
 * their latest values.
 *
 *   elastic [THREADS [MIB [ROUNDS]]]   (default 4 16 200) */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define PAGE_WORDS 512 /* 4 KiB of uint64_t */
#define MUL 6364136223846793005ull

static uint64_t *a;
static size_t pages, rounds;
static int nthreads;
static pthread_barrier_t bar;

static uint64_t init_word(size_t i)
{
	return i * 0x9e3779b97f4a7c15ull + 1;
}

static void *run(void *arg)
{
	size_t t = (size_t)(uintptr_t)arg;
	size_t first = pages * t / (size_t)nthreads;
	size_t end = pages * (t + 1) / (size_t)nthreads;

	for (size_t i = first * PAGE_WORDS; i < end * PAGE_WORDS; i++)
		a[i] = init_word(i);
	pthread_barrier_wait(&bar);
	for (size_t r = 0; r < rounds; r++) {
		for (size_t p = first; p < end; p++)
			a[p * PAGE_WORDS] = a[p * PAGE_WORDS] * MUL + r + p;
		pthread_barrier_wait(&bar);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	size_t mib, bad = 0;
	uint64_t sum = 0;
	pthread_t *th;

	nthreads = argc > 1 ? atoi(argv[1]) : 4;
	mib = argc > 2 ? strtoul(argv[2], NULL, 10) : 16;
	rounds = argc > 3 ? strtoul(argv[3], NULL, 10) : 200;
	if (nthreads < 1 || nthreads > 256 || mib < 1 || mib > 4096) {
		fprintf(stderr, "usage: elastic [THREADS [MIB [ROUNDS]]]\n");
		return 2;
	}
	pages = mib * 256;
	a = malloc(pages * PAGE_WORDS * sizeof(*a));
	th = calloc((size_t)nthreads, sizeof(*th));
	if (!a || !th ||
	    pthread_barrier_init(&bar, NULL, (unsigned)nthreads) != 0) {
		perror("elastic");
		return 1;
	}
	for (int t = 0; t < nthreads; t++)
		if (pthread_create(&th[t], NULL, run,
				   (void *)(uintptr_t)t) != 0) {
			perror("pthread_create");
			return 1;
		}
	for (int t = 0; t < nthreads; t++)
		pthread_join(th[t], NULL);
	/* the serial replay: every word, the updated ones round by round */
	for (size_t i = 0; i < pages * PAGE_WORDS; i++) {
		uint64_t want = init_word(i);

		if (i % PAGE_WORDS == 0)
			for (size_t r = 0; r < rounds; r++)
				want = want * MUL + r + i / PAGE_WORDS;
		bad += a[i] != want;
		sum = (((sum << 7) | (sum >> 57)) ^ a[i]) * MUL;
	}
	printf("elastic %d threads %zu MiB %zu rounds checksum %016llx\n",
	       nthreads, mib, rounds, (unsigned long long)sum);
	if (bad) {
		printf("%zu words wrong\n", bad);
		return 1;
	}
	printf("ok\n");
	return 0;
}
