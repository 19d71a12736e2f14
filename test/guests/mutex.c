/* mutex: NTHREADS threads each increment a shared counter ITERS times under
 * one pthread_mutex; a second, non-atomic "shadow" pair must stay equal under
 * the lock. Also checks pthread_mutex_trylock on a held lock and a recursive
 * mutex.
 *
 *   mutex [NTHREADS [ITERS]]      (default 8 100000) */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;
static long shadow_a, shadow_b;
static long iters = 100000;
static int broken;

static void *worker(void *arg)
{
	(void)arg;
	for (long i = 0; i < iters; i++) {
		pthread_mutex_lock(&lock);
		if (shadow_a != shadow_b)
			broken = 1;
		shadow_a++;
		counter++;
		shadow_b++;
		pthread_mutex_unlock(&lock);
	}
	return NULL;
}

static void *try_held(void *arg)
{
	return (void *)(long)pthread_mutex_trylock((pthread_mutex_t *)arg);
}

static int check_trylock_and_recursive(void)
{
	pthread_mutex_t rec;
	pthread_mutexattr_t attr;
	pthread_t t;
	void *ret;

	pthread_mutex_lock(&lock);
	pthread_create(&t, NULL, try_held, &lock);
	pthread_join(t, &ret);
	pthread_mutex_unlock(&lock);
	if ((long)ret != EBUSY) {
		printf("FAIL: trylock on a held mutex returned %ld\n", (long)ret);
		return 0;
	}
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&rec, &attr);
	for (int i = 0; i < 3; i++)
		pthread_mutex_lock(&rec);
	for (int i = 0; i < 3; i++)
		pthread_mutex_unlock(&rec);
	pthread_create(&t, NULL, try_held, &rec);
	pthread_join(t, &ret);
	if ((long)ret != 0) {
		printf("FAIL: recursive mutex still held (%ld)\n", (long)ret);
		return 0;
	}
	return 1;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 8;
	pthread_t t[256];

	if (argc > 2)
		iters = atol(argv[2]);
	if (n < 1 || n > 256 || iters < 0) {
		fprintf(stderr, "usage: mutex [NTHREADS<=256 [ITERS]]\n");
		return 2;
	}
	if (!check_trylock_and_recursive())
		return 1;
	for (int i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, worker, NULL) != 0) {
			printf("FAIL: pthread_create\n");
			return 1;
		}
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	printf("threads %d iters %ld counter %ld\n", n, iters, counter);
	if (counter != n * iters || shadow_a != counter || broken) {
		printf("FAIL: expected %ld%s\n", n * iters,
		       broken ? ", mutual exclusion broken" : "");
		return 1;
	}
	printf("ok\n");
	return 0;
}
