/* barrier: NTHREADS threads run PHASES phases separated by one
 * pthread_barrier_wait each. In every phase thread i reads its two
 * neighbours' values from the previous phase (double-buffered) and writes a
 * new one, and also fills its own page-sized block, which its right
 * neighbour checks after the barrier. The final values are compared with a
 * serial replay; exactly one thread per barrier round must get
 * PTHREAD_BARRIER_SERIAL_THREAD.
 *
 *   barrier [NTHREADS [PHASES]]      (default 6 200, NTHREADS 2..16) */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXT 16
#define BLOCK 4096

static int nt = 6, phases = 200;
static uint64_t val[2][MAXT];
static unsigned char blocks[MAXT][BLOCK] __attribute__((aligned(4096)));
static pthread_barrier_t bar;
static int serial_count;
static int bad_block[MAXT];

static uint64_t step(const uint64_t *v, int i, int p)
{
	return v[i] * 31 + v[(i + 1) % nt] * 7 + v[(i + nt - 1) % nt] + p;
}

static unsigned char pattern(int owner, int p, int k)
{
	return (unsigned char)(owner * 131 + p * 17 + k);
}

static void *worker(void *arg)
{
	int i = (int)(long)arg;

	for (int p = 0; p < phases; p++) {
		int cur = p & 1, left = (i + nt - 1) % nt;

		val[!cur][i] = step(val[cur], i, p);
		for (int k = 0; k < BLOCK; k++)
			blocks[i][k] = pattern(i, p, k);
		if (pthread_barrier_wait(&bar) == PTHREAD_BARRIER_SERIAL_THREAD)
			__atomic_add_fetch(&serial_count, 1, __ATOMIC_SEQ_CST);
		for (int k = 0; k < BLOCK; k++)
			if (blocks[left][k] != pattern(left, p, k))
				bad_block[i]++;
		/* Nobody rewrites a block before its reader is done. */
		if (pthread_barrier_wait(&bar) == PTHREAD_BARRIER_SERIAL_THREAD)
			__atomic_add_fetch(&serial_count, 1, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	uint64_t ref[2][MAXT], sum = 0;
	pthread_t t[MAXT];
	int fin, bad = 0;

	if (argc > 1)
		nt = atoi(argv[1]);
	if (argc > 2)
		phases = atoi(argv[2]);
	if (nt < 2 || nt > MAXT || phases < 1) {
		fprintf(stderr, "usage: barrier [NTHREADS 2..16 [PHASES]]\n");
		return 2;
	}
	for (int i = 0; i < nt; i++)
		val[0][i] = ref[0][i] = (uint64_t)i + 1;
	pthread_barrier_init(&bar, NULL, (unsigned)nt);
	for (int i = 0; i < nt; i++)
		pthread_create(&t[i], NULL, worker, (void *)(long)i);
	for (int i = 0; i < nt; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&bar);

	for (int p = 0; p < phases; p++)
		for (int i = 0; i < nt; i++)
			ref[!(p & 1)][i] = step(ref[p & 1], i, p);
	fin = phases & 1;
	for (int i = 0; i < nt; i++) {
		sum = sum * 1000003 + val[fin][i];
		if (val[fin][i] != ref[fin][i])
			bad++;
		bad += bad_block[i];
	}
	printf("threads %d phases %d checksum %016llx\n", nt, phases,
	       (unsigned long long)sum);
	if (bad || serial_count != 2 * phases) {
		printf("FAIL: %d wrong values, %d serial threads for %d rounds\n",
		       bad, serial_count, 2 * phases);
		return 1;
	}
	printf("ok\n");
	return 0;
}
