/* wl_common.h: helpers shared by the SPLASH-2-class workloads in
 * bench/workloads/ (header only, every function static).
 *
 *   wl_run(P, fn)           run fn(0) on the calling thread and fn(1..P-1)
 *                           on P-1 new pthreads, then join them (SPLASH's
 *                           CREATE/WAIT_FOR_END with the master as id 0)
 *   wl_barrier_t            a mutex + condition-variable barrier with a
 *                           generation count (SPLASH-2's pthreads BARRIER)
 *   wl_split(n, P, p, ..)   contiguous block of [0, n) owned by thread p
 *   wl_alloc(bytes)         page-aligned memory (uninitialised) or exit
 *   wl_mix64, wl_unif       counter-based pseudo-random numbers: the value
 *                           for index i does not depend on who computes it
 *   wl_arg_long             checked numeric option parsing
 *   wl_now, wl_timer_*      wall clock; -t prints the elapsed time to stderr
 *
 * Output conventions: stdout holds only values that do not depend on the
 * thread count; the last line is "NAME: PASS ..." or "NAME: FAIL ..." and the
 * exit status is 0 only on PASS. Usage errors exit with status 2. */
#ifndef WL_COMMON_H
#define WL_COMMON_H

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WL_MAXPROCS 256

static const char *wl_prog = "workload";

__attribute__((format(printf, 1, 2), noreturn, unused))
static void wl_die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", wl_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* Parses a decimal option value in [min, max] or exits with a usage error. */
__attribute__((unused))
static long wl_arg_long(const char *s, char opt, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		wl_die("-%c wants an integer in [%ld, %ld], not '%s'", opt, min,
		       max, s);
	return v;
}

__attribute__((unused))
static double wl_arg_double(const char *s, char opt, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= min && v <= max))
		wl_die("-%c wants a number in [%g, %g], not '%s'", opt, min, max,
		       s);
	return v;
}

/* Uninitialised memory aligned to a page, so that big shared arrays start
 * on their own pages; exits on failure. Never freed by the workloads. The
 * threads initialise their own parts in parallel (first touch, as SPLASH
 * does), so no serial memset here. */
__attribute__((unused))
static void *wl_alloc(size_t bytes)
{
	void *p = NULL;

	if (bytes == 0)
		bytes = 1;
	if (posix_memalign(&p, 4096, bytes) != 0)
		wl_die("out of memory (%zu bytes)", bytes);
	return p;
}

__attribute__((unused))
static double wl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double wl_t0;
static int wl_timing;

__attribute__((unused))
static void wl_timer_start(void)
{
	wl_t0 = wl_now();
}

/* With -t, prints "NAME: elapsed S s" to stderr (never stdout: timings
 * would make the output depend on the run). */
__attribute__((unused))
static void wl_timer_report(void)
{
	if (wl_timing)
		fprintf(stderr, "%s: elapsed %.3f s\n", wl_prog,
			wl_now() - wl_t0);
}

/* splitmix64's finaliser: a bijective 64-bit mix. */
static inline uint64_t wl_mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Uniform double in [0, 1) for (stream, index). */
static inline double wl_unif(uint64_t stream, uint64_t i)
{
	uint64_t x = wl_mix64(wl_mix64(stream) ^ i);

	return (double)(x >> 11) * (1.0 / 9007199254740992.0);
}

/* [*lo, *hi): thread p's share of n items split into P contiguous blocks
 * whose sizes differ by at most one. */
static inline void wl_split(long n, int P, int p, long *lo, long *hi)
{
	long q = n / P, r = n % P;

	*lo = p * q + (p < r ? p : r);
	*hi = *lo + q + (p < r ? 1 : 0);
}

/* ---- barrier: mutex + condition variable, generation counted ---------- */
typedef struct {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	int n, waiting;
	unsigned long gen;
} wl_barrier_t;

__attribute__((unused))
static void wl_barrier_init(wl_barrier_t *b, int n)
{
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cv, NULL);
	b->n = n;
	b->waiting = 0;
	b->gen = 0;
}

/* Returns 1 in exactly one of the n threads of each round (the last to
 * arrive), 0 in the others. */
__attribute__((unused))
static int wl_barrier_wait(wl_barrier_t *b)
{
	int last = 0;

	pthread_mutex_lock(&b->lock);
	if (++b->waiting == b->n) {
		b->waiting = 0;
		b->gen++;
		last = 1;
		pthread_cond_broadcast(&b->cv);
	} else {
		unsigned long g = b->gen;

		while (g == b->gen)
			pthread_cond_wait(&b->cv, &b->lock);
	}
	pthread_mutex_unlock(&b->lock);
	return last;
}

/* ---- threads ------------------------------------------------------------ */
typedef void (*wl_fn_t)(int id);

struct wl_start {
	wl_fn_t fn;
	int id;
};

__attribute__((unused))
static void *wl_trampoline(void *arg)
{
	struct wl_start *s = arg;

	s->fn(s->id);
	return NULL;
}

/* Runs fn(id) for id 0..P-1, id 0 on the calling thread; returns when all
 * are done. Exits if a thread cannot be created. */
__attribute__((unused))
static void wl_run(int P, wl_fn_t fn)
{
	static pthread_t tid[WL_MAXPROCS];
	static struct wl_start st[WL_MAXPROCS];
	int err;

	for (int i = 1; i < P; i++) {
		st[i].fn = fn;
		st[i].id = i;
		err = pthread_create(&tid[i], NULL, wl_trampoline, &st[i]);
		if (err)
			wl_die("pthread_create: %s", strerror(err));
	}
	fn(0);
	for (int i = 1; i < P; i++)
		pthread_join(tid[i], NULL);
}

#endif /* WL_COMMON_H */
