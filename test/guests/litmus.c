/* litmus: x86-TSO memory-model litmus tests, for a VMM that keeps memory
 * coherent page by page. Every variable a test involves is on its own 4 KiB
 * page, so that under "cvmm run -n N" the pages are owned by different
 * nodes; the main thread only coordinates, the workers (2, or 4 for iriw
 * and cmpxchg) do the accesses.
 *
 * A round runs K independent instances per thread (instance i uses x[i],
 * y[i]); the threads meet at a barrier between rounds and the main thread
 * checks a round's results during the next one (variables and results are
 * double-buffered by round parity). Values are round-stamped (round r
 * writes r * 4 + 1 or r * 4 + 2), so nothing is reset between rounds: a
 * read of anything older than this round's stamp counts as 0.
 *
 *   mp    T0: x=1; y=1            T1: r1=y; r2=x       forbidden r1=1,r2=0
 *   sb    T0: x=1; r1=y           T1: y=1; r2=x        r1=0,r2=0 allowed by
 *         TSO (store buffer), never seen under SC: counted, not failed
 *   lb    T0: r1=x; y=1           T1: r2=y; x=1        forbidden r1=1,r2=1
 *   iriw  T0: x=1   T1: y=1   T2: r1=x; r2=y   T3: r3=y; r4=x
 *                                          forbidden r1=1,r2=0,r3=1,r4=0
 *   2+2w  T0: x=1; y=2            T1: y=1; x=2         forbidden final x=1,y=1
 *   corr  T0: x=1; x=2            T1: r1=x; r2=x       forbidden r1 > r2
 *   cmpxchg  4 threads: lock xadd, lock cmpxchg loops and cmpxchg on a
 *         page of counters; exact totals, and each thread's returned old
 *         values strictly increasing
 *
 * Plain volatile accesses with compiler barriers only: no fences.
 *
 *   litmus TEST [ITERATIONS]    TEST: mp sb lb iriw 2+2w corr cmpxchg all
 *                               (default 100000; >= ITERATIONS instances)
 *
 * Prints "litmus TEST: N iterations, forbidden F, outcomes {...}" per test
 * and exits 1 if any outcome x86-TSO forbids was seen (also printed).
 * LITMUS_BARRIER=pthread uses pthread_barrier_wait instead of the default
 * spin barrier (on its own page, yielding after a short spin). */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define K 1024	  /* instances per round: K ints = one page */
#define MAXT 4	  /* worker threads */
#define MAXOBS 4  /* observed values per instance */
#define NCODE 256 /* 4^MAXOBS outcome codes */
#define SPINS 2000

#define cbar() asm volatile("" ::: "memory")

/* var[v][parity]: x (v = 0) and y (v = 1); res[thread][slot][parity]. */
static volatile int var[2][2][K] __attribute__((aligned(4096)));
static volatile int res[MAXT][2][2][K] __attribute__((aligned(4096)));

/* ---- barrier ---------------------------------------------------------- */

static struct {
	volatile int count;
	volatile int gen;
} sbar __attribute__((aligned(4096)));
static pthread_barrier_t pbar __attribute__((aligned(4096)));
static int bar_n, bar_pthread;
/* Workers only, after the barrier: arrivals so far in this test. Leaving
 * together from a spin makes the instances of one index overlap. */
static volatile int start_count __attribute__((aligned(4096)));

static void bar_init(int n)
{
	bar_n = n;
	sbar.count = 0;
	if (bar_pthread)
		pthread_barrier_init(&pbar, NULL, (unsigned)n);
}

static void bar_fini(void)
{
	if (bar_pthread)
		pthread_barrier_destroy(&pbar);
}

static void bar_wait(void)
{
	int gen;

	if (bar_pthread) {
		pthread_barrier_wait(&pbar);
		return;
	}
	gen = __atomic_load_n(&sbar.gen, __ATOMIC_ACQUIRE);
	if (__atomic_add_fetch(&sbar.count, 1, __ATOMIC_SEQ_CST) == bar_n) {
		sbar.count = 0;
		__atomic_store_n(&sbar.gen, gen + 1, __ATOMIC_RELEASE);
		return;
	}
	for (int spins = 0; __atomic_load_n(&sbar.gen, __ATOMIC_ACQUIRE) == gen;
	     spins++) {
		if (spins < SPINS)
			__builtin_ia32_pause();
		else
			sched_yield();
	}
}

/* Worker side of round j's start: waits for all nt workers. */
static void start_wait(int nt, int j)
{
	int want = nt * (j + 1);

	__atomic_add_fetch(&start_count, 1, __ATOMIC_SEQ_CST);
	for (int spins = 0; __atomic_load_n(&start_count, __ATOMIC_ACQUIRE) <
			    want;
	     spins++) {
		if (spins >= SPINS * 10)
			sched_yield();
	}
}

/* ---- the tests' threads ----------------------------------------------- */

/* One thread's part of K instances: x, y this round's variables, r0, r1
 * its result slots, s this round's stamp (writes s + 1, s + 2). */
typedef void litmus_fn_t(volatile int *x, volatile int *y, volatile int *r0,
			 volatile int *r1, int s);

static void mp_t0(volatile int *x, volatile int *y, volatile int *r0,
		  volatile int *r1, int s)
{
	for (int i = 0; i < K; i++) {
		x[i] = s + 1;
		cbar();
		y[i] = s + 1;
	}
}

static void mp_t1(volatile int *x, volatile int *y, volatile int *r0,
		  volatile int *r1, int s)
{
	for (int i = 0; i < K; i++) {
		r0[i] = y[i];
		cbar();
		r1[i] = x[i];
	}
}

static void sb_t0(volatile int *x, volatile int *y, volatile int *r0,
		  volatile int *r1, int s)
{
	for (int i = 0; i < K; i++) {
		x[i] = s + 1;
		cbar();
		r0[i] = y[i];
	}
}

static void sb_t1(volatile int *x, volatile int *y, volatile int *r0,
		  volatile int *r1, int s)
{
	sb_t0(y, x, r0, r1, s);
}

static void lb_t0(volatile int *x, volatile int *y, volatile int *r0,
		  volatile int *r1, int s)
{
	for (int i = 0; i < K; i++) {
		r0[i] = x[i];
		cbar();
		y[i] = s + 1;
	}
}

static void lb_t1(volatile int *x, volatile int *y, volatile int *r0,
		  volatile int *r1, int s)
{
	lb_t0(y, x, r0, r1, s);
}

static void wr_x(volatile int *x, volatile int *y, volatile int *r0,
		 volatile int *r1, int s)
{
	for (int i = 0; i < K; i++)
		x[i] = s + 1;
}

static void wr_y(volatile int *x, volatile int *y, volatile int *r0,
		 volatile int *r1, int s)
{
	wr_x(y, x, r0, r1, s);
}

static void rd_xy(volatile int *x, volatile int *y, volatile int *r0,
		  volatile int *r1, int s)
{
	for (int i = 0; i < K; i++) {
		r0[i] = x[i];
		cbar();
		r1[i] = y[i];
	}
}

static void rd_yx(volatile int *x, volatile int *y, volatile int *r0,
		  volatile int *r1, int s)
{
	rd_xy(y, x, r0, r1, s);
}

static void ww_t0(volatile int *x, volatile int *y, volatile int *r0,
		  volatile int *r1, int s)
{
	for (int i = 0; i < K; i++) {
		x[i] = s + 1;
		cbar();
		y[i] = s + 2;
	}
}

static void ww_t1(volatile int *x, volatile int *y, volatile int *r0,
		  volatile int *r1, int s)
{
	ww_t0(y, x, r0, r1, s);
}

static void corr_t0(volatile int *x, volatile int *y, volatile int *r0,
		    volatile int *r1, int s)
{
	for (int i = 0; i < K; i++) {
		x[i] = s + 1;
		cbar();
		x[i] = s + 2;
	}
}

static void corr_t1(volatile int *x, volatile int *y, volatile int *r0,
		    volatile int *r1, int s)
{
	for (int i = 0; i < K; i++) {
		r0[i] = x[i];
		cbar();
		r1[i] = x[i];
	}
}

/* ---- the tests' verdicts ---------------------------------------------- */
/* v[] are the observed values in the order of the test's obs[]: 0 (older
 * than this round), 1 or 2 (this round's first or second value). */

static int mp_forbidden(const int *v)
{
	return v[0] == 1 && v[1] == 0;
}

static int sb_relaxed(const int *v)
{
	return v[0] == 0 && v[1] == 0;
}

static int lb_forbidden(const int *v)
{
	return v[0] == 1 && v[1] == 1;
}

static int iriw_forbidden(const int *v)
{
	return v[0] == 1 && v[1] == 0 && v[2] == 1 && v[3] == 0;
}

static int ww_forbidden(const int *v)
{
	return v[0] == 1 && v[1] == 1;
}

static int corr_forbidden(const int *v)
{
	return v[0] > v[1];
}

/* An observed value: thread tid's result slot, or (tid < 0) the final
 * value of variable slot, read by the main thread after the round. */
struct obs {
	const char *name;
	int tid, slot;
};

struct test {
	const char *name;
	int nt;
	litmus_fn_t *fn[MAXT];
	int nobs;
	struct obs obs[MAXOBS];
	int (*forbidden)(const int *v); /* NULL: none */
	int (*relaxed)(const int *v);	/* TSO-only outcome, counted */
};

static const struct test tests[] = {
	{ "mp", 2, { mp_t0, mp_t1 }, 2, { { "r1", 1, 0 }, { "r2", 1, 1 } },
	  mp_forbidden, NULL },
	{ "sb", 2, { sb_t0, sb_t1 }, 2, { { "r1", 0, 0 }, { "r2", 1, 0 } },
	  NULL, sb_relaxed },
	{ "lb", 2, { lb_t0, lb_t1 }, 2, { { "r1", 0, 0 }, { "r2", 1, 0 } },
	  lb_forbidden, NULL },
	{ "iriw", 4, { wr_x, wr_y, rd_xy, rd_yx }, 4,
	  { { "r1", 2, 0 }, { "r2", 2, 1 }, { "r3", 3, 0 }, { "r4", 3, 1 } },
	  iriw_forbidden, NULL },
	{ "2+2w", 2, { ww_t0, ww_t1 }, 2, { { "x", -1, 0 }, { "y", -1, 1 } },
	  ww_forbidden, NULL },
	{ "corr", 2, { corr_t0, corr_t1 }, 2,
	  { { "r1", 1, 0 }, { "r2", 1, 1 } }, corr_forbidden, NULL },
};
#define NTESTS ((int)(sizeof(tests) / sizeof(tests[0])))

/* ---- running a test --------------------------------------------------- */

static const struct test *cur;
static int first_round, nrounds;

static void *worker(void *arg)
{
	int tid = (int)(long)arg;

	for (int j = 0; j < nrounds; j++) {
		int r = first_round + j, p = r & 1;

		bar_wait();
		start_wait(cur->nt, j);
		cur->fn[tid](var[0][p], var[1][p], res[tid][0][p],
			     res[tid][1][p], r * 4);
	}
	bar_wait();
	return NULL;
}

/* Round r's value of observation o in instance i: 0, 1, 2, or 3 for a
 * value no thread wrote (a stamp from a later round). */
static int obs_value(const struct obs *o, int r, int i)
{
	int p = r & 1, v;

	if (o->tid < 0)
		v = var[o->slot][p][i];
	else
		v = res[o->tid][o->slot][p][i];
	v -= r * 4;
	return v < 1 ? 0 : v > 2 ? 3 : v;
}

static void check_round(const struct test *t, int r, long *counts)
{
	for (int i = 0; i < K; i++) {
		int code = 0;

		for (int j = 0; j < t->nobs; j++)
			code = code * 4 + obs_value(&t->obs[j], r, i);
		counts[code]++;
	}
}

static void decode(const struct test *t, int code, int *v)
{
	for (int j = t->nobs - 1; j >= 0; j--) {
		v[j] = code % 4;
		code /= 4;
	}
}

static void outcome_text(const struct test *t, const int *v, char *buf,
			 size_t len)
{
	size_t n = 0;

	buf[0] = 0;
	for (int j = 0; j < t->nobs && n < len; j++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s=%d",
				      j ? "," : "", t->obs[j].name, v[j]);
}

static int bad_outcome(const struct test *t, const int *v)
{
	for (int j = 0; j < t->nobs; j++)
		if (v[j] == 3)
			return 1;
	return t->forbidden && t->forbidden(v);
}

/* Prints the test's line (and one per forbidden outcome seen); returns the
 * number of forbidden instances. */
static long report(const struct test *t, long iters, const long *counts)
{
	long forbidden = 0, relaxed = 0;
	char text[64];
	int v[MAXOBS], sep = 0;

	for (int c = 0; c < NCODE; c++) {
		decode(t, c, v);
		if (counts[c] && bad_outcome(t, v))
			forbidden += counts[c];
		if (counts[c] && t->relaxed && t->relaxed(v))
			relaxed += counts[c];
	}
	printf("litmus %s: %ld iterations, forbidden %ld, outcomes {", t->name,
	       iters, forbidden);
	for (int c = 0; c < NCODE; c++) {
		if (!counts[c])
			continue;
		decode(t, c, v);
		outcome_text(t, v, text, sizeof(text));
		printf("%s%s: %ld", sep++ ? ", " : "", text, counts[c]);
	}
	printf("}");
	if (t->relaxed)
		printf(", tso-relaxed %ld (allowed by TSO, never under SC)",
		       relaxed);
	printf("\n");
	for (int c = 0; c < NCODE; c++) {
		decode(t, c, v);
		if (!counts[c] || !bad_outcome(t, v))
			continue;
		outcome_text(t, v, text, sizeof(text));
		printf("litmus %s: FORBIDDEN outcome %s seen %ld times\n",
		       t->name, text, counts[c]);
	}
	fflush(stdout);
	return forbidden;
}

static void start_workers(int nt, void *(*fn)(void *), pthread_t *th)
{
	for (long i = 0; i < nt; i++) {
		if (pthread_create(&th[i], NULL, fn, (void *)i) != 0) {
			fprintf(stderr, "litmus: pthread_create failed\n");
			exit(1);
		}
	}
}

static long run_test(const struct test *t, long iters)
{
	static long counts[NCODE];
	static int next_round = 1;
	pthread_t th[MAXT];

	memset(counts, 0, sizeof(counts));
	cur = t;
	first_round = next_round;
	nrounds = (int)((iters + K - 1) / K);
	next_round += nrounds;
	bar_init(t->nt + 1);
	start_count = 0;
	start_workers(t->nt, worker, th);
	for (int j = 0; j <= nrounds; j++) {
		bar_wait(); /* round j starts; round j - 1 is done */
		if (j > 0)
			check_round(t, first_round + j - 1, counts);
	}
	for (int i = 0; i < t->nt; i++)
		pthread_join(th[i], NULL);
	bar_fini();
	return report(t, (long)nrounds * K, counts);
}

/* ---- cmpxchg ------------------------------------------------------------ */

#define CX_T 4

static volatile long ctr_xadd __attribute__((aligned(4096)));
static volatile long ctr_cas __attribute__((aligned(4096)));
static volatile int ctr_spread[K] __attribute__((aligned(4096)));
static struct {
	long bad;
} cx_res[CX_T][512] __attribute__((aligned(4096))); /* a page each */
static long cx_per;

static long xadd(volatile long *p, long v)
{
	asm volatile("lock xaddq %0, %1" : "+r"(v), "+m"(*p) : : "memory");
	return v;
}

static long cmpxchg(volatile long *p, long old, long new)
{
	long prev;

	asm volatile("lock cmpxchgq %2, %1"
		     : "=a"(prev), "+m"(*p)
		     : "r"(new), "0"(old)
		     : "memory");
	return prev;
}

static int cmpxchg32(volatile int *p, int old, int new)
{
	int prev;

	asm volatile("lock cmpxchgl %2, %1"
		     : "=a"(prev), "+m"(*p)
		     : "r"(new), "0"(old)
		     : "memory");
	return prev;
}

/* Increments ctr_cas by one with a cmpxchg loop; returns the old value. */
static long cas_inc(void)
{
	long old = ctr_cas, seen;

	while ((seen = cmpxchg(&ctr_cas, old, old + 1)) != old)
		old = seen;
	return old;
}

static void spread_inc(volatile int *p)
{
	int old = *p, seen;

	while ((seen = cmpxchg32(p, old, old + 1)) != old)
		old = seen;
}

static void *cx_worker(void *arg)
{
	int tid = (int)(long)arg;
	long last_x = -1, last_c = -1, bad = 0;

	bar_wait();
	for (long j = 0; j < cx_per; j++) {
		long x = xadd(&ctr_xadd, 1), c = cas_inc();

		bad += x <= last_x;
		bad += c <= last_c;
		last_x = x;
		last_c = c;
		spread_inc(&ctr_spread[(j + tid * (K / CX_T)) % K]);
	}
	cx_res[tid][0].bad = bad;
	return NULL;
}

static long run_cmpxchg(long iters)
{
	long total, spread = 0, bad = 0, forbidden;
	pthread_t th[CX_T];

	cx_per = (iters + CX_T - 1) / CX_T;
	total = cx_per * CX_T;
	ctr_xadd = 0;
	ctr_cas = 0;
	memset((void *)ctr_spread, 0, sizeof(ctr_spread));
	bar_init(CX_T + 1);
	start_workers(CX_T, cx_worker, th);
	bar_wait();
	for (int i = 0; i < CX_T; i++)
		pthread_join(th[i], NULL);
	bar_fini();
	for (int i = 0; i < K; i++)
		spread += ctr_spread[i];
	for (int i = 0; i < CX_T; i++)
		bad += cx_res[i][0].bad;
	forbidden = labs(ctr_xadd - total) + labs(ctr_cas - total) +
		    labs(spread - total) + bad;
	printf("litmus cmpxchg: %ld iterations, forbidden %ld, outcomes "
	       "{xadd=%ld, cmpxchg=%ld, spread=%ld, expected=%ld, "
	       "out-of-order=%ld}\n",
	       total, forbidden, ctr_xadd, ctr_cas, spread, total, bad);
	if (forbidden)
		printf("litmus cmpxchg: FORBIDDEN lost, extra or reordered "
		       "atomic increments (%ld)\n",
		       forbidden);
	fflush(stdout);
	return forbidden;
}

/* ---- main --------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr, "usage: litmus mp|sb|lb|iriw|2+2w|corr|cmpxchg|all "
			"[ITERATIONS]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *b = getenv("LITMUS_BARRIER");
	long iters = 100000, forbidden = 0;
	int all, found = 0;
	char *end;

	if (argc < 2 || argc > 3)
		usage();
	if (argc == 3) {
		iters = strtol(argv[2], &end, 10);
		if (*end || iters < 1 || iters > 1000000000L)
			usage();
	}
	bar_pthread = b && !strcmp(b, "pthread");
	all = !strcmp(argv[1], "all");
	for (int i = 0; i < NTESTS; i++) {
		if (all || !strcmp(argv[1], tests[i].name)) {
			forbidden += run_test(&tests[i], iters);
			found = 1;
		}
	}
	if (all || !strcmp(argv[1], "cmpxchg")) {
		forbidden += run_cmpxchg(iters);
		found = 1;
	}
	if (!found)
		usage();
	return forbidden ? 1 : 0;
}
