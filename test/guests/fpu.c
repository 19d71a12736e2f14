/* fpu: floating point in every thread. Thread t sets its own rounding mode
 * (MXCSR and the x87 control word are per thread) and computes a double sum
 * of sqrt/sin/exp terms and an x87 long double sum, calling sched_yield and
 * getpid in the middle of the loop so other threads and the VMM run between
 * terms. Main replays every thread's computation serially in the same mode;
 * the results must be bit-identical. Results are printed with %.10g.
 *
 *   fpu [NTHREADS [TERMS]]      (default 4 200000) */
#include <fenv.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAXT 32

static const int modes[4] = {FE_TONEAREST, FE_UPWARD, FE_DOWNWARD,
			     FE_TOWARDZERO};
static const char *const mode_names[4] = {"nearest", "upward", "downward",
					  "towardzero"};
static long terms = 200000;

struct result {
	double d;
	long double ld;
	int mode_kept;
};
static struct result par[MAXT];

static void compute(int t, struct result *r, int yield)
{
	double acc = 0.0, phase = t * 0.25;
	long double lacc = 0.0L;

	fesetround(modes[t % 4]);
	for (long k = 1; k <= terms; k++) {
		double x = (double)k;

		acc += sqrt(x) * sin(x * 0.001 + phase) + exp(-x * 1e-5) / x;
		lacc += (long double)x / ((long double)k * k + 1.0L + t);
		if (yield && k % 20000 == 0) {
			sched_yield();
			syscall(SYS_getpid);
		}
	}
	r->mode_kept = fegetround() == modes[t % 4];
	r->d = acc;
	r->ld = lacc;
	fesetround(FE_TONEAREST);
}

static void *worker(void *arg)
{
	int t = (int)(long)arg;

	compute(t, &par[t], 1);
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 4, bad = 0;
	pthread_t th[MAXT];

	if (argc > 2)
		terms = atol(argv[2]);
	if (n < 1 || n > MAXT || terms < 1) {
		fprintf(stderr, "usage: fpu [NTHREADS<=32 [TERMS]]\n");
		return 2;
	}
	for (long i = 0; i < n; i++)
		pthread_create(&th[i], NULL, worker, (void *)i);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	for (int t = 0; t < n; t++) {
		struct result ref;

		compute(t, &ref, 0);
		printf("thread %d %-10s double %.10g long double %.10Lg\n", t,
		       mode_names[t % 4], par[t].d, par[t].ld);
		if (memcmp(&ref.d, &par[t].d, sizeof(double)) != 0 ||
		    ref.ld != par[t].ld || !par[t].mode_kept) {
			printf("FAIL: thread %d differs from the serial replay "
			       "(%.17g %.20Lg)\n", t, ref.d, ref.ld);
			bad++;
		}
	}
	if (bad)
		return 1;
	printf("ok\n");
	return 0;
}
