/* clock: time as threads see it.
 *  - CLOCK_REALTIME is after 2020 and agrees with gettimeofday and time();
 *  - CLOCK_MONOTONIC never goes backwards within a thread (4 threads);
 *  - a token passed round-robin between 4 threads carries the holder's
 *    CLOCK_MONOTONIC reading: the next holder must never read less
 *    (time does not go backwards when moving between vCPUs or nodes);
 *  - nanosleep and clock_nanosleep(TIMER_ABSTIME) sleep at least as long as
 *    asked; clock_getres works; CLOCK_THREAD_CPUTIME_ID advances with work.
 * Prints one line per check, no times.
 *
 *   clock */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

#define NT 4
#define PASSES 500

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int holder;
static int64_t token_ns;
static long backwards_local, backwards_handoff;

static int64_t ns(clockid_t c)
{
	struct timespec ts;

	if (clock_gettime(c, &ts) != 0)
		return -1;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *worker(void *arg)
{
	int id = (int)(long)arg;
	int64_t last = ns(CLOCK_MONOTONIC);
	long local_bad = 0, handoff_bad = 0;

	for (int i = 0; i < 2000; i++) {
		int64_t t = ns(CLOCK_MONOTONIC);

		local_bad += t < last;
		last = t;
	}
	for (int pass = 0; pass < PASSES; pass++) {
		int64_t t;

		pthread_mutex_lock(&lock);
		while (holder != id)
			pthread_cond_wait(&cond, &lock);
		t = ns(CLOCK_MONOTONIC);
		handoff_bad += t < token_ns;
		token_ns = t;
		holder = (id + 1) % NT;
		pthread_cond_broadcast(&cond);
		pthread_mutex_unlock(&lock);
	}
	__atomic_add_fetch(&backwards_local, local_bad, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&backwards_handoff, handoff_bad, __ATOMIC_SEQ_CST);
	return NULL;
}

static int check_wall(void)
{
	struct timeval tv;
	int64_t rt = ns(CLOCK_REALTIME);
	time_t t = time(NULL);

	gettimeofday(&tv, NULL);
	if (rt < 1577836800LL * 1000000000 || t < 1577836800 ||
	    tv.tv_sec < t - 5 || tv.tv_sec > t + 5 ||
	    rt / 1000000000 < t - 5 || rt / 1000000000 > t + 5) {
		printf("FAIL: wall clocks disagree or before 2020\n");
		return 0;
	}
	printf("realtime, gettimeofday and time agree\n");
	return 1;
}

static int check_sleep(void)
{
	struct timespec req = {0, 20 * 1000 * 1000}, res, abs;
	int64_t t0 = ns(CLOCK_MONOTONIC), t1, t2;
	int rc;

	if (nanosleep(&req, NULL) != 0) {
		printf("FAIL: nanosleep: %m\n");
		return 0;
	}
	t1 = ns(CLOCK_MONOTONIC);
	clock_gettime(CLOCK_MONOTONIC, &abs);
	abs.tv_nsec += 20 * 1000 * 1000;
	if (abs.tv_nsec >= 1000000000) {
		abs.tv_sec++;
		abs.tv_nsec -= 1000000000;
	}
	do
		rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &abs, NULL);
	while (rc == EINTR);
	t2 = ns(CLOCK_MONOTONIC);
	if (t1 - t0 < 20 * 1000 * 1000 || rc != 0 ||
	    t2 < (int64_t)abs.tv_sec * 1000000000 + abs.tv_nsec) {
		printf("FAIL: slept too little or clock_nanosleep %d\n", rc);
		return 0;
	}
	if (clock_getres(CLOCK_MONOTONIC, &res) != 0 || res.tv_sec != 0 ||
	    res.tv_nsec <= 0) {
		printf("FAIL: clock_getres\n");
		return 0;
	}
	printf("nanosleep, clock_nanosleep and clock_getres ok\n");
	return 1;
}

static int check_cputime(void)
{
	int64_t c0 = ns(CLOCK_THREAD_CPUTIME_ID), c1, p;
	volatile uint64_t x = 0;

	for (long i = 0; i < 20 * 1000 * 1000; i++)
		x += (uint64_t)i;
	c1 = ns(CLOCK_THREAD_CPUTIME_ID);
	p = ns(CLOCK_PROCESS_CPUTIME_ID);
	if (c0 < 0 || c1 <= c0 || p < c1 - c0) {
		printf("FAIL: cpu time clocks\n");
		return 0;
	}
	printf("cpu time clocks advance\n");
	return 1;
}

int main(void)
{
	pthread_t t[NT];

	if (!check_wall() || !check_sleep() || !check_cputime())
		return 1;
	for (long i = 0; i < NT; i++)
		pthread_create(&t[i], NULL, worker, (void *)i);
	for (int i = 0; i < NT; i++)
		pthread_join(t[i], NULL);
	printf("monotonic within threads: %ld backwards\n", backwards_local);
	printf("monotonic across %d handoffs: %ld backwards\n", NT * PASSES,
	       backwards_handoff);
	if (backwards_local || backwards_handoff) {
		printf("FAIL\n");
		return 1;
	}
	printf("ok\n");
	return 0;
}
