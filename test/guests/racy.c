/* racy: a data race the release memory model must report. Two threads
 * (on two nodes under "cvmm run -n 2") store to the same bytes of one heap
 * page over and over for MS milliseconds, with nothing between the stores
 * that orders them, then are joined. Natively it prints "done" (which
 * values win is not printed).
 *
 * Under --memory-model=release each node's stores go home at least every
 * --staleness-ms; the home sees diffs from both nodes changing the same
 * bytes against copies that did not have the other's: a race. (The
 * detector sees writes unordered by the acquires of the nodes, not of
 * the threads: stores a node makes after it synchronized with anyone are
 * not reported against writes it knew of then, so a short race can go
 * unseen; this one lasts long enough.)
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

static pthread_barrier_t start;

static void *writer(void *arg)
{
	long id = (long)arg;
	double end;

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
	pthread_t t;

	if (argc > 1)
		ms = atol(argv[1]);
	/* 256 KiB: its own mapping, not the program's image */
	page = calloc(1, 256 << 10);
	if (!page || ms < 1) {
		fprintf(stderr, "usage: racy [MS]\n");
		return 2;
	}
	pthread_barrier_init(&start, NULL, 2);
	pthread_create(&t, NULL, writer, (void *)1L);
	writer((void *)0L);
	pthread_join(t, NULL);
	puts("done");
	return 0;
}
