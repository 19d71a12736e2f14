/* faultbench: coherence fault latency, for "cvmm run -n 2 -v 2": the main
 * thread (node 0) and one worker (the first pthread_create: node 1), in
 * phases separated by pthread_barrier_wait. Every access of the main
 * thread is timed on its own with the time-stamp counter (rdtsc, which no
 * monitor traps: a clock_gettime pair would add a syscall's cost to every
 * sample under cvmm), calibrated against CLOCK_MONOTONIC over 50 ms.
 *  (a) the worker writes a byte of each of P pages (it owns them); the main
 *      thread reads a byte of each             -> fault_read_remote_us
 *  (b) the worker reads every page (both hold them shared); the main
 *      thread writes each                      -> fault_write_remote_us
 *  (c) the main thread writes P pages of a fresh mapping nobody touched
 *                                              -> fault_local_minor_us
 *  (d) the main thread reads again the pages it holds from (b)
 *                                              -> access_hit_us
 *  (e) the worker writes every page again; the main thread reads them in
 *      address order: the mean per page, with whatever read-ahead the
 *      monitor does                            -> fault_read_seq_us
 *  (f) the worker writes a byte of each page of a fresh mapping, in
 *      address order: the mean per page (an initialisation loop on
 *      another node than the loader's)         -> fault_first_touch_seq_us
 * (a) to (d) visit the pages in a scattered order (a stride coprime with
 * P), so each access is one fault of its own, not a walk a read-ahead
 * would see coming. Prints one line, medians of (a)-(d) and the mean of
 * (e), in microseconds (2 decimals):
 *   faultbench fault_read_remote_us=X fault_write_remote_us=Y
 *              fault_local_minor_us=Z access_hit_us=W fault_read_seq_us=V
 *              fault_first_touch_seq_us=U
 * Natively the numbers are page-fault and cache costs.
 *
 *   faultbench [P]      (default 512 pages) */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <x86intrin.h>

#define PAGE 4096
#define MAXP 65536

static int np = 512;
static volatile char *shared_buf;
static pthread_barrier_t bar;
static double lat[MAXP];
static volatile long sink;
static double tsc_per_us;
static int stride = 1; /* page i of a timed pass is i * stride mod np */
static double first_seq; /* (f), measured by the worker */

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static uint64_t tsc(void)
{
	_mm_lfence(); /* no earlier access still in flight */
	uint64_t t = __rdtsc();
	_mm_lfence(); /* no later access started before */
	return t;
}

static void calibrate(void)
{
	double t0 = now_us(), t1;
	uint64_t c0 = tsc(), c1;

	do
		t1 = now_us();
	while (t1 - t0 < 50000);
	c1 = tsc();
	tsc_per_us = (double)(c1 - c0) / (t1 - t0);
}

static volatile char *map_pages(int n)
{
	void *p = mmap(NULL, (size_t)n * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("faultbench: mmap");
		exit(1);
	}
	/* One fault per page: no transparent huge pages (may be refused). */
	madvise(p, (size_t)n * PAGE, MADV_NOHUGEPAGE);
	return p;
}

/* The mean time per page of writing a byte of each page of buf (fresh)
 * in address order. */
static double time_fresh_seq(volatile char *buf)
{
	uint64_t t0 = tsc();

	for (int i = 0; i < np; i++)
		buf[(size_t)i * PAGE] = (char)i;
	return (double)(tsc() - t0) / tsc_per_us / np;
}

static void *worker(void *arg)
{
	long sum = 0;

	(void)arg;
	for (int i = 0; i < np; i++) /* (a) */
		shared_buf[(size_t)i * PAGE] = (char)(i + 1);
	pthread_barrier_wait(&bar);
	pthread_barrier_wait(&bar); /* main has read them */
	for (int i = 0; i < np; i++) /* (b) */
		sum += shared_buf[(size_t)i * PAGE];
	sink = sum;
	pthread_barrier_wait(&bar);
	pthread_barrier_wait(&bar); /* main has written them */
	for (int i = 0; i < np; i++) /* (e) */
		shared_buf[(size_t)i * PAGE] = (char)(i + 2);
	pthread_barrier_wait(&bar);
	pthread_barrier_wait(&bar); /* main has read them */
	first_seq = time_fresh_seq(map_pages(np)); /* (f) */
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(void)
{
	qsort(lat, (size_t)np, sizeof(lat[0]), cmp_double);
	return np % 2 ? lat[np / 2] : (lat[np / 2 - 1] + lat[np / 2]) / 2;
}

static int gcd(int a, int b)
{
	return b ? gcd(b, a % b) : a;
}

/* Times one access per page of buf: a read, or a write of val. */
static double time_pages(volatile char *buf, int write, char val)
{
	long sum = 0;

	for (int i = 0; i < np; i++) {
		volatile char *p = buf + (size_t)((long)i * stride % np) * PAGE;
		uint64_t t0 = tsc();

		if (write)
			*p = val;
		else
			sum += *p;
		lat[i] = (double)(tsc() - t0) / tsc_per_us;
	}
	sink = sum;
	return median();
}

/* The mean time per page of reading buf's pages in address order. */
static double time_seq(volatile char *buf)
{
	long sum = 0;
	uint64_t t0 = tsc();

	for (int i = 0; i < np; i++)
		sum += buf[(size_t)i * PAGE];
	sink = sum;
	return (double)(tsc() - t0) / tsc_per_us / np;
}

int main(int argc, char **argv)
{
	double rd, wr, minor, hit, seq;
	pthread_t th;

	if (argc > 1)
		np = atoi(argv[1]);
	if (np < 1 || np > MAXP) {
		fprintf(stderr, "usage: faultbench [P<=%d]\n", MAXP);
		return 2;
	}
	calibrate();
	for (stride = np / 3 | 1; np > 2 && gcd(stride, np) != 1; stride += 2)
		;
	shared_buf = map_pages(np);
	pthread_barrier_init(&bar, NULL, 2);
	if (pthread_create(&th, NULL, worker, NULL) != 0) {
		fprintf(stderr, "faultbench: pthread_create failed\n");
		return 1;
	}
	pthread_barrier_wait(&bar); /* (a) the worker owns them */
	rd = time_pages(shared_buf, 0, 0);
	pthread_barrier_wait(&bar);
	pthread_barrier_wait(&bar); /* (b) both share them */
	wr = time_pages(shared_buf, 1, 7);
	minor = time_pages(map_pages(np), 1, 1); /* (c) */
	hit = time_pages(shared_buf, 0, 0);	 /* (d) */
	pthread_barrier_wait(&bar);
	pthread_barrier_wait(&bar); /* (e) the worker owns them again */
	seq = time_seq(shared_buf);
	pthread_barrier_wait(&bar);
	pthread_join(th, NULL);
	printf("faultbench fault_read_remote_us=%.2f fault_write_remote_us=%.2f "
	       "fault_local_minor_us=%.2f access_hit_us=%.2f "
	       "fault_read_seq_us=%.2f fault_first_touch_seq_us=%.2f\n",
	       rd, wr, minor, hit, seq, first_seq);
	return 0;
}
