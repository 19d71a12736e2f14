/* radix: parallel integer radix sort (LSD), after SPLASH-2's RADIX kernel.
 *
 * n 32-bit keys, uniform in [0, maxkey], are sorted by digits of log2(R)
 * bits, least significant first. Each thread owns a contiguous block of
 * the keys. Every pass: each thread counts the digits of its keys (a local
 * histogram); barrier; the threads turn the P histograms into ranks in
 * parallel (thread t takes a range of digit values: the prefix over the
 * threads for each digit, then the prefix over the digits, with the sums of
 * the ranges combined across threads); barrier; each thread moves its keys
 * to their ranks in the other array (a stable permutation); barrier.
 *
 * Check: the output is sorted, and is a permutation of the input: the same
 * multiset hash (sum of mix(key) mod 2^64) and the same count of keys in
 * each of 256 value buckets. None of this depends on the thread count.
 *
 *   radix [-n N] [-r R] [-m MAXKEY] [-p P] [-t]
 *     -n N       keys (default 33554432)
 *     -r R       radix, a power of two in [2, 65536] (default 1024)
 *     -m MAXKEY  largest key (default 2147483647)
 *     -p P       threads (default 1)
 *     -t         print the elapsed time to stderr
 * Default size: about 1 s natively with -p 2 on the 2-core reference VM. */
#include <unistd.h>

#include "wl_common.h"

#define NBUCKET 256

static long N = 33554432, RADIX = 1024;
static unsigned long MAXKEY = 2147483647UL;
static int P = 1, LOGR, PASSES, KEYBITS;
static uint32_t *key[2];
static long *hist;  /* [P][RADIX]: counts, then exclusive prefix over threads */
static long *total; /* [RADIX]: per digit over all threads, then its base */
static long part[WL_MAXPROCS];
static wl_barrier_t bar;

/* Check data, summed exactly by the main thread. */
static uint64_t t_hash[2][WL_MAXPROCS];
static long t_bucket[2][WL_MAXPROCS][NBUCKET];
static long t_unsorted[WL_MAXPROCS];

static inline long *hist_of(int id)
{
	return hist + (long)id * RADIX;
}

static void fingerprint(int id, const uint32_t *k, long lo, long hi, int which)
{
	uint64_t h = 0;
	long *b = t_bucket[which][id];
	int shift = KEYBITS > 8 ? KEYBITS - 8 : 0;

	for (long i = lo; i < hi; i++) {
		h += wl_mix64(k[i]);
		b[k[i] >> shift]++;
	}
	t_hash[which][id] = h;
}

/* Ranks: hist[t][v] becomes the first output index of thread t's keys with
 * digit v. */
static void ranks(int id)
{
	long dlo, dhi, run = 0, off = 0;

	wl_split(RADIX, P, id, &dlo, &dhi);
	for (long v = dlo; v < dhi; v++) {
		long s = 0;

		for (int t = 0; t < P; t++) {
			long c = hist_of(t)[v];

			hist_of(t)[v] = s;
			s += c;
		}
		total[v] = s;
		run += s;
	}
	part[id] = run;
	wl_barrier_wait(&bar);
	for (int t = 0; t < id; t++)
		off += part[t];
	for (long v = dlo; v < dhi; v++) {
		long s = total[v];

		total[v] = off;
		off += s;
	}
	wl_barrier_wait(&bar);
}

static void sort_pass(int id, int pass, long lo, long hi)
{
	const uint32_t *src = key[pass & 1];
	uint32_t *dst = key[!(pass & 1)];
	long *h = hist_of(id);
	int shift = pass * LOGR;
	uint32_t mask = (uint32_t)(RADIX - 1);

	for (long v = 0; v < RADIX; v++)
		h[v] = 0;
	for (long i = lo; i < hi; i++)
		h[(src[i] >> shift) & mask]++;
	wl_barrier_wait(&bar);
	ranks(id);
	for (long v = 0; v < RADIX; v++)
		h[v] += total[v];
	for (long i = lo; i < hi; i++) {
		uint32_t k = src[i];

		dst[h[(k >> shift) & mask]++] = k;
	}
	wl_barrier_wait(&bar);
}

static void worker(int id)
{
	long lo, hi, bad = 0;
	const uint32_t *out = key[PASSES & 1];

	wl_split(N, P, id, &lo, &hi);
	for (long i = lo; i < hi; i++) {
		key[0][i] = (uint32_t)(wl_mix64(0x5eed0000ULL + (uint64_t)i) %
				       ((uint64_t)MAXKEY + 1));
		key[1][i] = 0;
	}
	fingerprint(id, key[0], lo, hi, 0);
	wl_barrier_wait(&bar);
	for (int pass = 0; pass < PASSES; pass++)
		sort_pass(id, pass, lo, hi);
	for (long i = lo; i < hi; i++)
		if (i + 1 < N && out[i] > out[i + 1])
			bad++;
	t_unsorted[id] = bad;
	fingerprint(id, out, lo, hi, 1);
}

static void usage(void)
{
	fprintf(stderr, "usage: radix [-n N] [-r R] [-m MAXKEY] [-p P] [-t]\n"
			"  -n N       keys (default 33554432)\n"
			"  -r R       radix, a power of two in [2, 65536] "
			"(default 1024)\n"
			"  -m MAXKEY  largest key (default 2147483647)\n"
			"  -p P       threads (default 1)\n"
			"  -t         print the elapsed time to stderr\n");
	exit(2);
}

int main(int argc, char **argv)
{
	uint64_t hash[2] = { 0, 0 };
	long bucket[2][NBUCKET] = { { 0 } }, unsorted = 0, bucket_diff = 0;
	int c;

	wl_prog = "radix";
	while ((c = getopt(argc, argv, "n:r:m:p:th")) != -1) {
		switch (c) {
		case 'n': N = wl_arg_long(optarg, 'n', 1, 1L << 31); break;
		case 'r': RADIX = wl_arg_long(optarg, 'r', 2, 65536); break;
		case 'm':
			MAXKEY = (unsigned long)wl_arg_long(optarg, 'm', 1,
							    4294967295L);
			break;
		case 'p': P = (int)wl_arg_long(optarg, 'p', 1, WL_MAXPROCS); break;
		case 't': wl_timing = 1; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	if (RADIX & (RADIX - 1))
		wl_die("-r must be a power of two");
	if (P > N)
		wl_die("-p %d is more than the %ld keys", P, N);
	for (LOGR = 0; (1L << LOGR) < RADIX; LOGR++)
		;
	for (KEYBITS = 1; KEYBITS < 32 && (MAXKEY >> KEYBITS); KEYBITS++)
		;
	PASSES = (KEYBITS + LOGR - 1) / LOGR;

	key[0] = wl_alloc(N * sizeof(uint32_t));
	key[1] = wl_alloc(N * sizeof(uint32_t));
	hist = wl_alloc((size_t)P * RADIX * sizeof(long));
	total = wl_alloc(RADIX * sizeof(long));
	wl_barrier_init(&bar, P);

	wl_timer_start();
	wl_run(P, worker);
	wl_timer_report();

	for (int w = 0; w < 2; w++)
		for (int t = 0; t < P; t++) {
			hash[w] += t_hash[w][t];
			for (int b = 0; b < NBUCKET; b++)
				bucket[w][b] += t_bucket[w][t][b];
		}
	for (int t = 0; t < P; t++)
		unsorted += t_unsorted[t];
	for (int b = 0; b < NBUCKET; b++)
		if (bucket[0][b] != bucket[1][b])
			bucket_diff++;

	printf("radix: %ld keys in [0, %lu], radix %ld, %d passes\n", N,
	       MAXKEY, RADIX, PASSES);
	printf("radix: out of order pairs %ld; key hash in %016llx out %016llx;"
	       " %ld of %d bucket counts differ\n", unsorted,
	       (unsigned long long)hash[0], (unsigned long long)hash[1],
	       bucket_diff, NBUCKET);
	if (unsorted == 0 && hash[0] == hash[1] && bucket_diff == 0) {
		printf("radix: PASS (sorted, a permutation of the input)\n");
		return 0;
	}
	printf("radix: FAIL (%s)\n", unsorted ? "not sorted"
					      : "not a permutation of the input");
	return 1;
}
