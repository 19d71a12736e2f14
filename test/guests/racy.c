/* racy: a data race the release memory model must report. Two threads
 * (on nodes 1 and 2 under "cvmm run -n 3 -v 3") store to the same bytes
 * of one heap page over and over for MS milliseconds, with nothing
 * between the stores that orders them, then are joined. Natively it
 * prints "done" (which values win is not printed).
 *
 * Under --memory-model=release a page starts sequentially consistent and
 * becomes a data page once it has moved twice for plain stores and is
 * back at its first writer (docs/coherence.md, "Sequential first"); a
 * racy page that never gets there runs sequentially consistent, which is
 * no race to report. So first the main thread (node 0) writes the page,
 * the first writer then the main thread again, each step ordered by a
 * barrier: the page becomes a data page homed on node 0, which then only
 * waits. The two writers' stores go home at least every --staleness-ms;
 * the home sees diffs from both changing the same bytes against copies
 * that did not have the other's: a race. (The detector sees writes
 * unordered by the acquires of the nodes, not of the threads: stores a
 * node makes after it synchronized with anyone are not reported against
 * writes it knew of then, so a short race can go unseen; this one lasts
 * long enough.)
 *
 *   racy [MS]      (default 300) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile unsigned char *page;
static long ms = 300;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static pthread_barrier_t step, start;

static void *writer(void *arg)
{
	long id = (long)arg;
	double end;

	if (id == 1) { /* the page's second writer, between the main's two */
		pthread_barrier_wait(&step);
		page[300] = 1;
		pthread_barrier_wait(&step);
	}
	/* both race for the whole time, however late the second one starts
	 * (the barrier orders nothing that follows it) */
	pthread_barrier_wait(&start);
	end = now() + ms / 1e3;

	for (unsigned i = 0; now() < end; i++)
		for (int k = 0; k < 1000; k++) {
			page[100 + (k & 15)] = (unsigned char)(id + 1 + 2 * k);
			page[200 + id] = (unsigned char)i; /* its own */
		}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[2];

	if (argc > 1)
		ms = atol(argv[1]);
	/* 256 KiB: its own mapping, not the program's image */
	page = calloc(1, 256 << 10);
	if (!page || ms < 1) {
		fprintf(stderr, "usage: racy [MS]\n");
		return 2;
	}
	pthread_barrier_init(&step, NULL, 2);
	pthread_barrier_init(&start, NULL, 2);
	for (long i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, writer, (void *)(i + 1));
	page[300] = 0;	/* the first writer */
	pthread_barrier_wait(&step);
	pthread_barrier_wait(&step);
	page[301] = 1;	/* and again, after the second one */
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	puts("done");
	return 0;
}
