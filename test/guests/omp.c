/* omp: an OpenMP program as users build them (gcc -fopenmp -static, libgomp
 * linked in), checking each construct against a serial replay:
 *  - team: omp_get_num_threads() and omp_get_thread_num() in a team; the
 *    default team is omp_get_max_threads(), which is OMP_NUM_THREADS when
 *    set and else the processors the program sees (omp_get_num_procs(),
 *    sysconf(_SC_NPROCESSORS_ONLN): -v N under cvmm);
 *  - reduction (+, max, ^, a double sum of integers: exact) over omp for;
 *  - omp for schedule(static): contiguous blocks in thread order, sizes
 *    within one of each other; schedule(static, 5): round robin by chunk;
 *  - schedule(dynamic, 3) and guided over uneven work: every iteration
 *    exactly once;
 *  - barrier: neighbours' values of the phase seen after each barrier;
 *    ITERS / 500 + 4 phases (each barrier costs milliseconds where the VM
 *    has more vCPUs than the host has cores: libgomp spins before it sleeps
 *    when it sees enough processors for its team);
 *  - critical (unnamed and named): never two threads inside, no update lost;
 *  - atomic update, capture (unique tickets), read and write;
 *  - single (one thread per encounter, copyprivate) and master, ITERS / 500
 *    + 4 times;
 *  - omp_lock_t (omp_set_lock, omp_test_lock) and omp_nest_lock_t;
 *  - ordered iterations, and tasks (a task-parallel fib with taskwait).
 * Each is run with the default team and with num_threads(3) and (4). What
 * is printed depends on neither the team size nor timing, so stdout is the
 * same natively and under cvmm; exit status 0 only when every check passed.
 *
 *   omp [ITERS]     everything (default 10000 iterations per loop)
 *   omp team        prints "team N", the default team's size, only */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXT 256

static long iters = 10000;
static int bad;

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			printf("FAIL %s: ", label);                            \
			printf(__VA_ARGS__);                                   \
			printf("\n");                                          \
			bad++;                                                 \
		}                                                              \
	} while (0)

static unsigned long long mix(unsigned long long i)
{
	i ^= i >> 31;
	i *= 0x9e3779b97f4a7c15ULL;
	i ^= i >> 29;
	return i;
}

/* The team really has REQ threads, each number once. */
static void check_team(const char *label, int req)
{
	int seen[MAXT] = { 0 };
	int size = -1, inpar = -1;

#pragma omp parallel num_threads(req)
	{
		int me = omp_get_thread_num();
#pragma omp atomic
		seen[me]++;
#pragma omp master
		{
			size = omp_get_num_threads();
			inpar = omp_in_parallel();
		}
	}
	CHECK(size == req, "team of %d threads, asked for %d", size, req);
	CHECK(inpar == (req > 1), "omp_in_parallel() %d", inpar);
	for (int t = 0; t < req && t < MAXT; t++)
		CHECK(seen[t] == 1, "thread %d started %d times", t, seen[t]);
}

static void check_reduction(const char *label, int req)
{
	long long sum = 0, mx = 0, esum = 0, emx = 0;
	unsigned long long x = 0, ex = 0;
	double dsum = 0, edsum = 0;
	long n = iters * 10;

	for (long i = 0; i < n; i++) {
		long long v = (long long)(mix(i) % 1000003);
		esum += v;
		emx = v > emx ? v : emx;
		ex ^= mix(i + 7);
		edsum += (double)i;
	}
#pragma omp parallel for num_threads(req) schedule(static)                    \
	reduction(+ : sum, dsum) reduction(max : mx) reduction(^ : x)
	for (long i = 0; i < n; i++) {
		long long v = (long long)(mix(i) % 1000003);
		sum += v;
		mx = v > mx ? v : mx;
		x ^= mix(i + 7);
		dsum += (double)i;
	}
	CHECK(sum == esum && mx == emx && x == ex && dsum == edsum,
	      "reduction %lld %lld %llx %.0f, expected %lld %lld %llx %.0f",
	      sum, mx, x, dsum, esum, emx, ex, edsum);
	printf("%s: reduction n %ld sum %lld max %lld xor %016llx dsum %.0f\n",
	       label, n, sum, mx, x, dsum);
}

static void check_static(const char *label, int req)
{
	long n = iters;
	int *owner = calloc(n, sizeof(*owner));
	int *owner5 = calloc(n, sizeof(*owner5));
	long count[MAXT] = { 0 };
	int nt = 0;

	if (!owner || !owner5) {
		printf("FAIL %s: out of memory\n", label);
		exit(1);
	}
#pragma omp parallel num_threads(req)
	{
		int me = omp_get_thread_num();
#pragma omp single
		nt = omp_get_num_threads();
#pragma omp for schedule(static)
		for (long i = 0; i < n; i++)
			owner[i] = me;
#pragma omp for schedule(static, 5) nowait
		for (long i = 0; i < n; i++)
			owner5[i] = me;
	}
	/* static, no chunk: one contiguous block per thread, in thread
	 * order, sizes within one of each other */
	long lo = n, hi = 0, bad_order = 0, bad5 = 0;
	for (long i = 0; i < n; i++) {
		if (owner[i] < 0 || owner[i] >= nt) {
			bad_order++;
			continue;
		}
		count[owner[i]]++;
		if (i > 0 && owner[i] < owner[i - 1])
			bad_order++;
		if (owner5[i] != (i / 5) % nt)
			bad5++;
	}
	for (int t = 0; t < nt && t < MAXT; t++) {
		lo = count[t] < lo ? count[t] : lo;
		hi = count[t] > hi ? count[t] : hi;
	}
	CHECK(bad_order == 0, "schedule(static): %ld iterations out of order",
	      bad_order);
	CHECK(hi - lo <= 1, "schedule(static): blocks of %ld to %ld", lo, hi);
	CHECK(bad5 == 0, "schedule(static, 5): %ld iterations not round robin",
	      bad5);
	printf("%s: static n %ld blocks in order, chunks of 5 round robin\n",
	       label, n);
	free(owner);
	free(owner5);
}

/* Uneven work: iteration i costs a few hundred steps, more for some i. */
static unsigned long long work(long i)
{
	unsigned long long h = (unsigned long long)i;

	for (long k = 0; k < 50 + (i % 17) * 20; k++)
		h = mix(h + k);
	return h;
}

static void check_dynamic(const char *label, int req)
{
	long n = iters;
	unsigned char *done = calloc(n, 1), *done_g = calloc(n, 1);
	unsigned long long sum = 0, sum_g = 0, expect = 0;
	long wrong = 0;

	if (!done || !done_g) {
		printf("FAIL %s: out of memory\n", label);
		exit(1);
	}
	for (long i = 0; i < n; i++)
		expect += work(i);
#pragma omp parallel num_threads(req)
	{
#pragma omp for schedule(dynamic, 3) reduction(+ : sum)
		for (long i = 0; i < n; i++) {
			sum += work(i);
#pragma omp atomic
			done[i]++;
		}
#pragma omp for schedule(guided) reduction(+ : sum_g)
		for (long i = 0; i < n; i++) {
			sum_g += work(i);
#pragma omp atomic
			done_g[i]++;
		}
	}
	for (long i = 0; i < n; i++)
		wrong += (done[i] != 1) + (done_g[i] != 1);
	CHECK(wrong == 0, "%ld iterations not run exactly once", wrong);
	CHECK(sum == expect && sum_g == expect, "sums %llx %llx, expected %llx",
	      sum, sum_g, expect);
	printf("%s: dynamic and guided n %ld sum %016llx\n", label, n, sum);
	free(done);
	free(done_g);
}

static void check_barrier(const char *label, int req)
{
	static long val[MAXT];
	int errors = 0;
	long phases = iters / 500 + 4;

#pragma omp parallel num_threads(req)
	{
		int me = omp_get_thread_num(), nt = omp_get_num_threads();
		int next = (me + 1) % nt, mine = 0;

		for (long p = 0; p < phases; p++) {
			val[me] = p * 1000 + me;
#pragma omp barrier
			if (val[next] != p * 1000 + next)
				mine++;
#pragma omp barrier
		}
#pragma omp atomic
		errors += mine;
	}
	CHECK(errors == 0, "%d stale neighbour values after a barrier", errors);
	printf("%s: barrier phases %ld\n", label, phases);
}

static void check_critical(const char *label, int req)
{
	long n = iters, count = 0, count2 = 0;
	int inside = 0, overlap = 0;

#pragma omp parallel for num_threads(req) schedule(dynamic, 16)
	for (long i = 0; i < n; i++) {
#pragma omp critical
		{
			if (++*(volatile int *)&inside != 1)
				overlap++;
			*(volatile long *)&count += 1;
			--*(volatile int *)&inside;
		}
		if (i % 2 == 0) {
#pragma omp critical(other)
			count2 += 2;
		}
	}
	CHECK(overlap == 0, "%d times two threads in one critical", overlap);
	CHECK(count == n && count2 == n + (n & 1),
	      "critical counts %ld %ld, expected %ld %ld", count, count2, n,
	      n + (n & 1));
	printf("%s: critical count %ld named %ld\n", label, count, count2);
}

static void check_atomic(const char *label, int req)
{
	long n = iters, counter = 0, ticket = 0, wrong = 0, flag = 0;
	unsigned char *seen = calloc(n, 1);

	if (!seen) {
		printf("FAIL %s: out of memory\n", label);
		exit(1);
	}
#pragma omp parallel num_threads(req)
	{
#pragma omp for schedule(static, 7)
		for (long i = 0; i < n; i++) {
			long t;
#pragma omp atomic
			counter += 3;
#pragma omp atomic capture
			t = ticket++;
			if (t >= 0 && t < n)
				seen[t]++;
		}
#pragma omp single
		{
#pragma omp atomic write
			flag = 42;
		}
		long f;
#pragma omp atomic read
		f = flag;
		if (f != 42) {
#pragma omp atomic
			wrong++;
		}
	}
	for (long i = 0; i < n; i++)
		wrong += seen[i] != 1;
	CHECK(counter == 3 * n && ticket == n && wrong == 0,
	      "atomic counter %ld tickets %ld, %ld bad", counter, ticket,
	      wrong);
	printf("%s: atomic counter %ld tickets %ld\n", label, counter, ticket);
	free(seen);
}

static void check_single(const char *label, int req)
{
	long reps = iters / 500 + 4, singles = 0, masters = 0, wrong = 0;

#pragma omp parallel num_threads(req)
	{
		for (long r = 0; r < reps; r++) {
			long v = -1;
#pragma omp single copyprivate(v)
			{
				singles++;
				v = r * 7;
			}
			/* single's implicit barrier then copyprivate */
			if (v != r * 7) {
#pragma omp atomic
				wrong++;
			}
#pragma omp master
			{
				if (omp_get_thread_num() != 0) {
#pragma omp atomic
					wrong++;
				}
				masters++;
			}
#pragma omp barrier
		}
	}
	CHECK(singles == reps && masters == reps && wrong == 0,
	      "single %ld master %ld, %ld wrong", singles, masters, wrong);
	printf("%s: single %ld master %ld\n", label, singles, masters);
}

static void check_locks(const char *label, int req)
{
	omp_lock_t lock;
	omp_nest_lock_t nest;
	long n = iters, count = 0, tested = 0, nested = 0;
	int inside = 0, overlap = 0;

	omp_init_lock(&lock);
	omp_init_nest_lock(&nest);
#pragma omp parallel for num_threads(req) schedule(static)
	for (long i = 0; i < n; i++) {
		if (i % 4 == 3) {
			while (!omp_test_lock(&lock))
				;
			tested++;
		} else {
			omp_set_lock(&lock);
		}
		if (++*(volatile int *)&inside != 1)
			overlap++;
		*(volatile long *)&count += 1;
		--*(volatile int *)&inside;
		omp_unset_lock(&lock);
		if (i % 8 == 0) {
			omp_set_nest_lock(&nest);
			omp_set_nest_lock(&nest);
			if (omp_test_nest_lock(&nest) != 3)
				overlap++;
			nested++;
			omp_unset_nest_lock(&nest);
			omp_unset_nest_lock(&nest);
			omp_unset_nest_lock(&nest);
		}
	}
	omp_destroy_lock(&lock);
	omp_destroy_nest_lock(&nest);
	CHECK(overlap == 0 && count == n && tested == n / 4 &&
		      nested == (n + 7) / 8,
	      "locks: %d overlaps, count %ld tested %ld nested %ld", overlap,
	      count, tested, nested);
	printf("%s: lock count %ld test_lock %ld nest_lock %ld\n", label, count,
	       tested, nested);
}

static void check_ordered(const char *label, int req)
{
	long n = iters / 10, next = 0, out_of_order = 0;

#pragma omp parallel for num_threads(req) ordered schedule(dynamic, 2)
	for (long i = 0; i < n; i++) {
		unsigned long long w = work(i);
#pragma omp ordered
		{
			if (next != i || w != work(i))
				out_of_order++;
			next = i + 1;
		}
	}
	CHECK(out_of_order == 0 && next == n, "ordered: %ld out of order",
	      out_of_order);
	printf("%s: ordered n %ld\n", label, n);
}

static long fib_task(int k)
{
	long a, b;

	if (k < 2)
		return k;
	if (k < 12)
		return fib_task(k - 1) + fib_task(k - 2);
#pragma omp task shared(a)
	a = fib_task(k - 1);
#pragma omp task shared(b)
	b = fib_task(k - 2);
#pragma omp taskwait
	return a + b;
}

static void check_tasks(const char *label, int req)
{
	long f = 0;

#pragma omp parallel num_threads(req)
#pragma omp single
	f = fib_task(24);
	CHECK(f == 46368, "task fib(24) = %ld", f);
	printf("%s: task fib(24) %ld\n", label, f);
}

static int default_team(void)
{
	int size = 0;

#pragma omp parallel
#pragma omp master
	size = omp_get_num_threads();
	return size;
}

int main(int argc, char **argv)
{
	const char *label = "setup";
	const char *env = getenv("OMP_NUM_THREADS");
	int procs = omp_get_num_procs(), max = omp_get_max_threads();
	int reqs[3] = { max, 3, 4 };
	const char *labels[3] = { "default team", "3 threads", "4 threads" };

	if (argc > 1 && !strcmp(argv[1], "team")) {
		printf("team %d\n", default_team());
		return 0;
	}
	if (argc > 1)
		iters = atol(argv[1]);
	if (iters < 10)
		iters = 10;

	CHECK(procs == sysconf(_SC_NPROCESSORS_ONLN),
	      "omp_get_num_procs() %d, sysconf %ld", procs,
	      sysconf(_SC_NPROCESSORS_ONLN));
	if (env && strspn(env, "0123456789") == strlen(env) && atoi(env) > 0)
		CHECK(max == atoi(env), "omp_get_max_threads() %d, %s=%s", max,
		      "OMP_NUM_THREADS", env);
	else if (!env)
		CHECK(max == procs, "omp_get_max_threads() %d, %d processors",
		      max, procs);
	CHECK(default_team() == max, "default team %d, max threads %d",
	      default_team(), max);
	if (max > MAXT) {
		printf("FAIL: %d threads, more than %d\n", max, MAXT);
		return 1;
	}

	for (int k = 0; k < 3; k++) {
		label = labels[k];
		check_team(label, reqs[k]);
		check_reduction(label, reqs[k]);
		check_static(label, reqs[k]);
		check_dynamic(label, reqs[k]);
		check_barrier(label, reqs[k]);
		check_critical(label, reqs[k]);
		check_atomic(label, reqs[k]);
		check_single(label, reqs[k]);
		check_locks(label, reqs[k]);
		check_ordered(label, reqs[k]);
		check_tasks(label, reqs[k]);
	}
	if (bad) {
		printf("%d checks failed\n", bad);
		return 1;
	}
	printf("ok\n");
	return 0;
}
