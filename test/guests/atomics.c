/* atomics: lock-prefixed instructions and ordering across threads, which a
 * page-coherent VMM must keep exact.
 *  - 4 threads __atomic_fetch_add a shared counter ITERS times each;
 *  - 4 threads count under a test-and-set spinlock (xchg) on a plain long;
 *  - 4 threads add with compare-and-swap loops;
 *  - message passing: a producer writes data then a flag (release), the
 *    consumer waits for the flag (acquire) and must see the data, ROUNDS
 *    times, with data and flag on different pages;
 *  - false sharing: 4 threads increment adjacent longs in one cache line.
 *
 *   atomics [ITERS]      (default 50000) */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#define NT 4
#define ROUNDS 2000

static long iters = 50000;
static long faa_counter;
static volatile int spin;
static long spin_counter;
static long cas_counter;
static long adjacent[NT] __attribute__((aligned(64)));

static struct {
	long data[4] __attribute__((aligned(4096)));
	long flag __attribute__((aligned(4096)));
	long ack;
} mp __attribute__((aligned(4096)));
static long mp_bad;

static void *adder(void *arg)
{
	long id = (long)arg;

	for (long i = 0; i < iters; i++) {
		long old, want;

		__atomic_fetch_add(&faa_counter, 1, __ATOMIC_SEQ_CST);

		while (__atomic_exchange_n(&spin, 1, __ATOMIC_ACQUIRE))
			while (__atomic_load_n(&spin, __ATOMIC_RELAXED))
				__builtin_ia32_pause();
		spin_counter++;
		__atomic_store_n(&spin, 0, __ATOMIC_RELEASE);

		old = __atomic_load_n(&cas_counter, __ATOMIC_RELAXED);
		do
			want = old + 1;
		while (!__atomic_compare_exchange_n(&cas_counter, &old, want, 1,
						    __ATOMIC_SEQ_CST,
						    __ATOMIC_RELAXED));
		((volatile long *)adjacent)[id]++;
	}
	return NULL;
}

static void *mp_producer(void *arg)
{
	(void)arg;
	for (long r = 1; r <= ROUNDS; r++) {
		while (__atomic_load_n(&mp.ack, __ATOMIC_ACQUIRE) != r - 1)
			sched_yield();
		for (int i = 0; i < 4; i++)
			((volatile long *)mp.data)[i] = r * 10 + i;
		__atomic_store_n(&mp.flag, r, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void *mp_consumer(void *arg)
{
	(void)arg;
	for (long r = 1; r <= ROUNDS; r++) {
		while (__atomic_load_n(&mp.flag, __ATOMIC_ACQUIRE) != r)
			sched_yield();
		for (int i = 0; i < 4; i++)
			mp_bad += ((volatile long *)mp.data)[i] != r * 10 + i;
		__atomic_store_n(&mp.ack, r, __ATOMIC_RELEASE);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[NT], p, c;
	long want, adj_bad = 0;

	if (argc > 1)
		iters = atol(argv[1]);
	if (iters < 1) {
		fprintf(stderr, "usage: atomics [ITERS]\n");
		return 2;
	}
	want = NT * iters;
	for (long i = 0; i < NT; i++)
		pthread_create(&t[i], NULL, adder, (void *)i);
	for (int i = 0; i < NT; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < NT; i++)
		adj_bad += adjacent[i] != iters;
	printf("fetch_add %ld spinlock %ld cas %ld (want %ld)\n", faa_counter,
	       spin_counter, cas_counter, want);
	printf("adjacent counters wrong: %ld\n", adj_bad);

	pthread_create(&c, NULL, mp_consumer, NULL);
	pthread_create(&p, NULL, mp_producer, NULL);
	pthread_join(p, NULL);
	pthread_join(c, NULL);
	printf("message passing %d rounds, stale data seen %ld\n", ROUNDS,
	       mp_bad);
	if (faa_counter != want || spin_counter != want ||
	    cas_counter != want || adj_bad || mp_bad) {
		printf("FAIL\n");
		return 1;
	}
	printf("ok\n");
	return 0;
}
