/* is: parallel integer sort after the NAS Parallel Benchmarks' IS kernel,
 * with the keys scattered into one shared output array.
 *
 * n 32-bit keys in [0, MAXKEY), each the sum of four uniform numbers
 * scaled by MAXKEY / 4 (NAS IS's bell-shaped distribution). Each thread
 * owns a contiguous block of the keys. Every iteration it (1..ITERS), as in
 * NAS IS: key[it] = it and key[it + ITERS] = MAXKEY - it (by the thread
 * owning them); each thread counts its keys per value in its own
 * histogram; barrier; the threads turn the P histograms into ranks in
 * parallel (thread t takes a range of key values: the prefix over the
 * threads for each value, then the prefix over the values, with the sums
 * of the ranges combined across threads); barrier; each thread writes its
 * keys at their ranks in ONE shared output array; barrier; thread 0
 * checks five ranks (below); barrier. With n / MAXKEY = 16 keys per value
 * on average (NAS IS's ratio), a thread's run of one value is a few to a
 * few tens of keys: every page of the output is written by every thread,
 * in every iteration (the scatter pattern of issue 14).
 *
 * Partial check, every iteration (NAS's partial verification): for five
 * fixed key indices, the rank r of the key x there (the number of smaller
 * keys) must have out[r] == x and out[r - 1] < x. Full check, after the
 * last iteration: the output is sorted, and is a permutation of the keys:
 * the same multiset hash (sum of mix(key) mod 2^64) and the same count of
 * keys in each of 256 value buckets. None of it depends on the thread
 * count.
 *
 *   is [-n N] [-m MAXKEY] [-i ITERS] [-p P] [-t]
 *     -n N       keys (default 2097152 = 2^21)
 *     -m MAXKEY  keys in [0, MAXKEY) (default 131072 = 2^17)
 *     -i ITERS   iterations (default 10, NAS IS's)
 *     -p P       threads (default 1)
 *     -t         print the elapsed time to stderr
 * Default size: about 0.1 s natively with -p 2 on the 2-core reference VM. */
#include <unistd.h>

#include "wl_common.h"

#define NBUCKET 256
#define NTEST 5
#define MAXITERS 1000

static long N = 2097152, MAXKEY = 131072;
static int P = 1, ITERS = 10;
static uint32_t *key;  /* [N], thread t's block written by t only */
static uint32_t *out;  /* [N], the shared output every thread scatters to */
static int32_t *hist;  /* [P][MAXKEY]: counts, then first output index */
static int32_t *total; /* [MAXKEY]: keys per value, then its first rank */
static long part[WL_MAXPROCS];
static wl_barrier_t bar;

static long test_idx[NTEST];
static long test_rank[MAXITERS + 1][NTEST];
static long test_bad;

/* Check data, summed exactly by the main thread. */
static uint64_t t_hash[2][WL_MAXPROCS];
static long t_bucket[2][WL_MAXPROCS][NBUCKET];
static long t_unsorted[WL_MAXPROCS];

static inline int32_t *hist_of(int id)
{
	return hist + (long)id * MAXKEY;
}

static inline long bucket_of(uint32_t k)
{
	return (long)((uint64_t)k * NBUCKET / (uint64_t)MAXKEY);
}

static uint32_t gen_key(long i)
{
	double s = 0;

	for (int r = 0; r < 4; r++)
		s += wl_unif(0x15000000ULL + (uint64_t)r, (uint64_t)i);
	s *= (double)MAXKEY / 4;
	return s >= (double)(MAXKEY - 1) ? (uint32_t)(MAXKEY - 1) : (uint32_t)s;
}

static void fingerprint(int id, const uint32_t *k, long lo, long hi, int which)
{
	uint64_t h = 0;
	long *b = t_bucket[which][id];

	for (long i = lo; i < hi; i++) {
		h += wl_mix64(k[i]);
		b[bucket_of(k[i])]++;
	}
	t_hash[which][id] = h;
}

/* Ranks: hist[t][v] becomes the first output index of thread t's keys
 * equal to v; total[v] the number of keys below v. */
static void ranks(int id)
{
	long vlo, vhi, run = 0, off = 0;

	wl_split(MAXKEY, P, id, &vlo, &vhi);
	for (long v = vlo; v < vhi; v++) {
		int32_t s = 0;

		for (int t = 0; t < P; t++) {
			int32_t c = hist_of(t)[v];

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
	for (long v = vlo; v < vhi; v++) {
		int32_t s = total[v];

		total[v] = (int32_t)off;
		off += s;
	}
	wl_barrier_wait(&bar);
}

static void iteration(int id, int it, long lo, long hi)
{
	int32_t *h = hist_of(id);

	/* NAS IS's per-iteration change of two keys. */
	if (it >= lo && it < hi)
		key[it] = (uint32_t)it;
	if (it + ITERS >= lo && it + ITERS < hi)
		key[it + ITERS] = (uint32_t)(MAXKEY - it);

	for (long v = 0; v < MAXKEY; v++)
		h[v] = 0;
	for (long i = lo; i < hi; i++)
		h[key[i]]++;
	wl_barrier_wait(&bar);
	ranks(id);
	for (long v = 0; v < MAXKEY; v++)
		h[v] += total[v];
	for (long i = lo; i < hi; i++) {
		uint32_t k = key[i];

		out[h[k]++] = k;
	}
	wl_barrier_wait(&bar);

	/* Partial verification by thread 0, while the others wait (the next
	 * iteration changes two keys, then total[] and out[]). */
	if (id == 0)
		for (int j = 0; j < NTEST; j++) {
			uint32_t x = key[test_idx[j]];
			long r = total[x];

			test_rank[it][j] = r;
			if (out[r] != x || (r > 0 && out[r - 1] >= x))
				test_bad++;
		}
	wl_barrier_wait(&bar);
}

static void worker(int id)
{
	long lo, hi, bad = 0;

	wl_split(N, P, id, &lo, &hi);
	for (long i = lo; i < hi; i++) {
		key[i] = gen_key(i);
		out[i] = 0;
	}
	wl_barrier_wait(&bar);
	for (int it = 1; it <= ITERS; it++)
		iteration(id, it, lo, hi);
	for (long i = lo; i < hi; i++)
		if (i + 1 < N && out[i] > out[i + 1])
			bad++;
	t_unsorted[id] = bad;
	fingerprint(id, key, lo, hi, 0);
	fingerprint(id, out, lo, hi, 1);
}

static void usage(void)
{
	fprintf(stderr, "usage: is [-n N] [-m MAXKEY] [-i ITERS] [-p P] [-t]\n"
			"  -n N       keys (default 2097152)\n"
			"  -m MAXKEY  keys in [0, MAXKEY) (default 131072)\n"
			"  -i ITERS   iterations (default 10)\n"
			"  -p P       threads (default 1)\n"
			"  -t         print the elapsed time to stderr\n");
	exit(2);
}

int main(int argc, char **argv)
{
	uint64_t hash[2] = { 0, 0 };
	long bucket[2][NBUCKET] = { { 0 } }, unsorted = 0, bucket_diff = 0;
	int c;

	wl_prog = "is";
	while ((c = getopt(argc, argv, "n:m:i:p:th")) != -1) {
		switch (c) {
		case 'n': N = wl_arg_long(optarg, 'n', 1, 1L << 30); break;
		case 'm': MAXKEY = wl_arg_long(optarg, 'm', 2, 1L << 30); break;
		case 'i':
			ITERS = (int)wl_arg_long(optarg, 'i', 1, MAXITERS);
			break;
		case 'p': P = (int)wl_arg_long(optarg, 'p', 1, WL_MAXPROCS); break;
		case 't': wl_timing = 1; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	if (P > N)
		wl_die("-p %d is more than the %ld keys", P, N);
	if (MAXKEY <= ITERS)
		wl_die("-m %ld must exceed the %d iterations", MAXKEY, ITERS);
	for (int j = 0; j < NTEST; j++)
		test_idx[j] = (long)(wl_mix64(0x7e570000ULL + (uint64_t)j) %
				     (uint64_t)N);

	key = wl_alloc(N * sizeof(uint32_t));
	out = wl_alloc(N * sizeof(uint32_t));
	hist = wl_alloc((size_t)P * MAXKEY * sizeof(int32_t));
	total = wl_alloc(MAXKEY * sizeof(int32_t));
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

	printf("is: %ld keys in [0, %ld), %d iterations\n", N, MAXKEY, ITERS);
	for (int it = 1; it <= ITERS; it++) {
		printf("is: iteration %2d test key ranks", it);
		for (int j = 0; j < NTEST; j++)
			printf(" %ld", test_rank[it][j]);
		printf("\n");
	}
	printf("is: min %u median %u max %u\n", out[0], out[N / 2], out[N - 1]);
	printf("is: %ld of %d test key ranks wrong; out of order pairs %ld;"
	       " key hash in %016llx out %016llx; %ld of %d bucket counts"
	       " differ\n", test_bad, NTEST * ITERS, unsorted,
	       (unsigned long long)hash[0], (unsigned long long)hash[1],
	       bucket_diff, NBUCKET);
	if (test_bad == 0 && unsorted == 0 && hash[0] == hash[1] &&
	    bucket_diff == 0) {
		printf("is: PASS (sorted, a permutation of the keys, test key"
		       " ranks right)\n");
		return 0;
	}
	printf("is: FAIL (%s)\n",
	       test_bad ? "test key ranks wrong" :
	       unsorted ? "not sorted" : "not a permutation of the keys");
	return 1;
}
