/* worker: one thread besides main that computes for a while, making a
 * system call every iteration (trap points where cvmm can move it), or
 * none at all.
 *
 *   worker [SECS]   the worker prints "worker TID" (its gettid()) at its
 *                   start, runs SECS seconds (default 5) summing an array
 *                   it fills, then prints "worker TID done" (gettid()
 *                   again: a thread that moved keeps its tid) and main
 *                   prints "sum S" and "ok" when the sum is the one
 *                   expected. For test/integration/run_ctl.sh (cvmm ctl
 *                   migrate).
 *   worker SECS spin
 *                   the same lines, but the worker runs about SECS
 *                   seconds of a fixed integer and floating-point
 *                   recurrence in registers, with no system call and no
 *                   fault (it never traps by itself), and main prints
 *                   "spin X F", its results, which must be the native
 *                   ones (registers kept across whatever interrupted it),
 *                   before "ok". */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define N 4096

static int secs = 5;
static uint64_t a[N];
static uint64_t total, rounds;
static uint64_t spin_x;
static double spin_f;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *work(void *arg)
{
	double end = now() + secs;

	(void)arg;
	printf("worker %d\n", gettid());
	fflush(stdout);
	while (now() < end) {
		for (int i = 0; i < N; i++)
			a[i] = (uint64_t)i * rounds;
		for (int i = 0; i < N; i++)
			total += a[i];
		rounds++;
		(void)getppid();
	}
	printf("worker %d done\n", gettid());
	fflush(stdout);
	return NULL;
}

static void *spin(void *arg)
{
	uint64_t x = 1, n = (uint64_t)secs * 550000000ull;
	double f = 1.0;

	(void)arg;
	printf("worker %d\n", gettid());
	fflush(stdout);
	for (uint64_t i = 0; i < n; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		f = f * 0.999999 + (double)(x >> 40) * 1e-9;
	}
	spin_x = x;
	spin_f = f;
	printf("worker %d done\n", gettid());
	fflush(stdout);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t;
	uint64_t want = 0;
	int spinning = argc > 2 && !strcmp(argv[2], "spin");

	if (argc > 1)
		secs = atoi(argv[1]);
	if (pthread_create(&t, NULL, spinning ? spin : work, NULL) != 0 ||
	    pthread_join(t, NULL) != 0) {
		perror("worker");
		return 1;
	}
	if (spinning) {
		printf("spin %016llx %.6f\nok\n", (unsigned long long)spin_x,
		       spin_f);
		return 0;
	}
	/* sum over r < rounds of r * sum(i) */
	want = (uint64_t)N * (N - 1) / 2 * (rounds * (rounds - 1) / 2);
	printf("sum %s\n", total == want ? "right" : "WRONG");
	if (total != want)
		return 1;
	printf("ok\n");
	return 0;
}
