/* nap: THREADS threads (default 2) each sleep SECS seconds (default 6):
 * the odd ones with nanosleep, the even ones with clock_nanosleep to an
 * absolute CLOCK_MONOTONIC deadline; main joins them and prints, per
 * thread, the call's result and whether it slept at least SECS and less
 * than SECS + 1 (on time). For a node leaving while its threads sleep
 * (run_ctl.sh remove): the sleep goes on where the thread goes, for what
 * was left of it, not from the start.
 *
 *   nap [SECS [THREADS]] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int secs;

typedef struct nap {
	int i, rc;
	double slept;
} nap_t;

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *run(void *arg)
{
	nap_t *n = arg;
	double t0 = now();

	if (n->i % 2) {
		struct timespec t = { secs, 0 };

		n->rc = nanosleep(&t, NULL);
	} else {
		struct timespec t;

		clock_gettime(CLOCK_MONOTONIC, &t);
		t.tv_sec += secs;
		n->rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t,
					NULL);
	}
	n->slept = now() - t0;
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = argc > 2 ? atoi(argv[2]) : 2;
	pthread_t *t;
	nap_t *n;

	secs = argc > 1 ? atoi(argv[1]) : 6;
	if (secs < 1 || threads < 1 || threads > 64) {
		fprintf(stderr, "usage: nap [SECS [THREADS]]\n");
		return 2;
	}
	t = calloc((size_t)threads, sizeof(*t));
	n = calloc((size_t)threads, sizeof(*n));
	if (!t || !n)
		return 1;
	printf("napping\n");
	fflush(stdout);
	for (int i = 0; i < threads; i++) {
		n[i].i = i + 1;
		if (pthread_create(&t[i], NULL, run, &n[i]) != 0)
			return 1;
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		printf("thread %d: %s returned %d, slept at least %d s: %s, "
		       "on time: %s\n", n[i].i,
		       n[i].i % 2 ? "nanosleep" : "clock_nanosleep", n[i].rc,
		       secs, n[i].slept >= secs ? "yes" : "no",
		       n[i].slept < secs + 1 ? "yes" : "no");
	}
	return 0;
}
