/* rwlock: 2 writers and 4 readers share an array under a pthread_rwlock.
 * Writers set every element to the same new value; readers must always see
 * all elements equal (no torn update). Also checks that two readers can hold
 * the lock at once and that trywrlock fails with EBUSY while it is read-held.
 *
 *   rwlock [ROUNDS]      (default 5000) */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define N 512

static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static long arr[N];
static long rounds = 5000;
static long torn, writes;
static int readers_in, max_readers;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;

static void *writer(void *arg)
{
	long id = (long)arg;

	for (long r = 0; r < rounds; r++) {
		pthread_rwlock_wrlock(&rw);
		for (int i = 0; i < N; i++)
			arr[i] = id * 1000000 + r;
		writes++;
		pthread_rwlock_unlock(&rw);
	}
	return NULL;
}

static void *reader(void *arg)
{
	long bad = 0;

	(void)arg;
	for (long r = 0; r < rounds; r++) {
		pthread_rwlock_rdlock(&rw);
		for (int i = 1; i < N; i++)
			bad += arr[i] != arr[0];
		pthread_rwlock_unlock(&rw);
	}
	__atomic_add_fetch(&torn, bad, __ATOMIC_SEQ_CST);
	return NULL;
}

static pthread_barrier_t both_in;

static void *shared_reader(void *arg)
{
	(void)arg;
	pthread_rwlock_rdlock(&rw);
	pthread_mutex_lock(&count_lock);
	if (++readers_in > max_readers)
		max_readers = readers_in;
	pthread_mutex_unlock(&count_lock);
	/* Both readers hold the lock here at the same time. */
	pthread_barrier_wait(&both_in);
	pthread_barrier_wait(&both_in);
	pthread_mutex_lock(&count_lock);
	readers_in--;
	pthread_mutex_unlock(&count_lock);
	pthread_rwlock_unlock(&rw);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t w[2], r[4];
	int try_rc;

	if (argc > 1)
		rounds = atol(argv[1]);
	if (rounds < 1) {
		fprintf(stderr, "usage: rwlock [ROUNDS]\n");
		return 2;
	}
	pthread_barrier_init(&both_in, NULL, 3);
	pthread_create(&r[0], NULL, shared_reader, NULL);
	pthread_create(&r[1], NULL, shared_reader, NULL);
	pthread_barrier_wait(&both_in);
	try_rc = pthread_rwlock_trywrlock(&rw);
	pthread_barrier_wait(&both_in);
	pthread_join(r[0], NULL);
	pthread_join(r[1], NULL);
	if (try_rc != EBUSY || max_readers != 2) {
		printf("FAIL: trywrlock %d, %d readers at once\n", try_rc,
		       max_readers);
		return 1;
	}
	printf("shared read lock and trywrlock ok\n");

	for (long i = 0; i < 2; i++)
		pthread_create(&w[i], NULL, writer, (void *)(i + 1));
	for (long i = 0; i < 4; i++)
		pthread_create(&r[i], NULL, reader, NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(w[i], NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(r[i], NULL);
	printf("writes %ld torn reads %ld\n", writes, torn);
	if (torn || writes != 2 * rounds) {
		printf("FAIL\n");
		return 1;
	}
	printf("ok\n");
	return 0;
}
