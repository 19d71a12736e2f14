/* tlssem: a semaphore in each worker's TLS, posted by the main thread with
 * an atomic after it wrote the worker's next job into the worker's TLS with
 * a plain store (libgomp's pattern: gomp_thread's release semaphore and
 * its fn/data). The worker writes its own TLS plainly too, before each
 * try (libgomp's workers write their stack frames, on the same page as
 * their TLS, first). So each thread's first write to the page after it
 * moved is a plain store, and the page of
 * a thread's TLS is written plainly by two threads and taken with atomics
 * by both: under --memory-model=release it must stay sequentially
 * consistent, or a post on one node's copy goes unseen by the waiter on
 * another (a hang, or a wrong sum). Prints the sum of all jobs.
 *
 *   tlssem [ROUNDS]      (default 3000) */
#include <linux/futex.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NT 3

typedef struct {
	int sem;    /* posts not yet taken */
	long job;   /* written by the main thread before each post */
	long acc;   /* the worker's sum of its jobs */
	long polls; /* the worker's own plain store before each try (as a
		       thread's stack frames next to its TLS) */
} slot_t;

static __thread slot_t me;
static slot_t *slots[NT];
static int done;       /* jobs finished, all rounds */
static pthread_barrier_t ready;
static long rounds = 3000;

static void futex(int *w, int op, int val)
{
	syscall(SYS_futex, w, op | FUTEX_PRIVATE_FLAG, val, NULL, NULL, 0);
}

static void sem_take(int *s)
{
	for (;;) {
		int v;

		me.polls++;
		v = __atomic_load_n(s, __ATOMIC_ACQUIRE);

		if (v > 0 && __atomic_compare_exchange_n(s, &v, v - 1, false,
							 __ATOMIC_ACQ_REL,
							 __ATOMIC_ACQUIRE))
			return;
		if (v == 0)
			futex(s, FUTEX_WAIT, 0);
	}
}

static void *worker(void *arg)
{
	long i = (long)arg;

	slots[i] = &me;
	pthread_barrier_wait(&ready);
	for (long r = 0; r < rounds; r++) {
		sem_take(&me.sem);
		me.acc += me.job;
		__atomic_add_fetch(&done, 1, __ATOMIC_ACQ_REL);
		futex(&done, FUTEX_WAKE, 1);
	}
	return (void *)me.acc;
}

int main(int argc, char **argv)
{
	pthread_t t[NT];
	long sum = 0, want = 0;

	if (argc > 1)
		rounds = atol(argv[1]);
	pthread_barrier_init(&ready, NULL, NT + 1);
	for (long i = 0; i < NT; i++)
		pthread_create(&t[i], NULL, worker, (void *)i);
	pthread_barrier_wait(&ready);
	for (long r = 0; r < rounds; r++) {
		for (int i = 0; i < NT; i++) {
			slots[i]->job = r * NT + i;
			want += r * NT + i;
			__atomic_add_fetch(&slots[i]->sem, 1, __ATOMIC_ACQ_REL);
			futex(&slots[i]->sem, FUTEX_WAKE, 1);
		}
		for (;;) { /* every worker took this round's job */
			int d = __atomic_load_n(&done, __ATOMIC_ACQUIRE);

			if (d == (r + 1) * NT)
				break;
			futex(&done, FUTEX_WAIT, d);
		}
	}
	for (int i = 0; i < NT; i++) {
		void *v;

		pthread_join(t[i], &v);
		sum += (long)v;
	}
	printf("tlssem: %d threads, %ld rounds, sum %ld %s\n", NT, rounds, sum,
	       sum == want ? "ok" : "WRONG");
	return sum == want ? 0 : 1;
}
