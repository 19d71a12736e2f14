/* sem: two threads ping-pong ROUNDS times through two unnamed semaphores,
 * each adding one to a shared value it may only touch in its turn (ping sees
 * even values, pong odd ones). Then: sem_trywait on zero fails with EAGAIN,
 * sem_timedwait on zero times out with ETIMEDOUT, sem_getvalue, and a
 * counting semaphore of 2 lets at most 2 of 6 threads in at once.
 *
 *   sem [ROUNDS]      (default 10000) */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static sem_t ping_sem, pong_sem, room;
static long rounds = 10000;
static long value;
static long turn_errors;
static int inside, max_inside;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *ping(void *arg)
{
	(void)arg;
	for (long i = 0; i < rounds; i++) {
		sem_wait(&ping_sem);
		if (value % 2 != 0)
			turn_errors++;
		value++;
		sem_post(&pong_sem);
	}
	return NULL;
}

static void *pong(void *arg)
{
	(void)arg;
	for (long i = 0; i < rounds; i++) {
		sem_wait(&pong_sem);
		if (value % 2 != 1)
			turn_errors++;
		value++;
		sem_post(&ping_sem);
	}
	return NULL;
}

static void *roomer(void *arg)
{
	(void)arg;
	for (int i = 0; i < 200; i++) {
		sem_wait(&room);
		pthread_mutex_lock(&lock);
		if (++inside > max_inside)
			max_inside = inside;
		pthread_mutex_unlock(&lock);
		sched_yield();
		pthread_mutex_lock(&lock);
		inside--;
		pthread_mutex_unlock(&lock);
		sem_post(&room);
	}
	return NULL;
}

static int check_zero_sem(void)
{
	sem_t s;
	struct timespec ts;
	int v = -1, rc;

	sem_init(&s, 0, 0);
	if (sem_trywait(&s) != -1 || errno != EAGAIN) {
		printf("FAIL: sem_trywait on 0\n");
		return 0;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 10 * 1000 * 1000;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	rc = sem_timedwait(&s, &ts);
	if (rc != -1 || errno != ETIMEDOUT) {
		printf("FAIL: sem_timedwait on 0 returned %d errno %d\n", rc,
		       errno);
		return 0;
	}
	sem_post(&s);
	sem_post(&s);
	sem_getvalue(&s, &v);
	if (v != 2 || sem_trywait(&s) != 0) {
		printf("FAIL: sem_getvalue %d\n", v);
		return 0;
	}
	sem_destroy(&s);
	return 1;
}

int main(int argc, char **argv)
{
	pthread_t a, b, r[6];

	if (argc > 1)
		rounds = atol(argv[1]);
	if (rounds < 1) {
		fprintf(stderr, "usage: sem [ROUNDS]\n");
		return 2;
	}
	if (!check_zero_sem())
		return 1;
	sem_init(&ping_sem, 0, 1);
	sem_init(&pong_sem, 0, 0);
	sem_init(&room, 0, 2);
	pthread_create(&a, NULL, ping, NULL);
	pthread_create(&b, NULL, pong, NULL);
	for (int i = 0; i < 6; i++)
		pthread_create(&r[i], NULL, roomer, NULL);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	for (int i = 0; i < 6; i++)
		pthread_join(r[i], NULL);
	printf("rounds %ld value %ld\n", rounds, value);
	if (value != 2 * rounds || turn_errors || max_inside > 2 ||
	    max_inside < 1) {
		printf("FAIL: expected %ld, %ld turn errors, %d inside at once\n",
		       2 * rounds, turn_errors, max_inside);
		return 1;
	}
	printf("ok\n");
	return 0;
}
