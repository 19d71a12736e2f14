/* condvar: bounded queue (8 slots) with one mutex and two condition
 * variables; NPROD producers put ITEMS numbered items each, NCONS consumers
 * take them until a poison item. Checks the count, the sum, that every
 * consumer sees each producer's items in increasing order, a start gate
 * opened with pthread_cond_broadcast, and that pthread_cond_timedwait on a
 * condition nobody signals returns ETIMEDOUT.
 *
 *   condvar [NPROD NCONS ITEMS]      (default 3 3 10000) */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define QSIZE 8
#define MAXT 32
#define POISON (-1L)

static long queue[QSIZE];
static int qhead, qcount;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER;
static pthread_cond_t not_empty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_open, waiting_at_gate;

static int nprod = 3, ncons = 3;
static long items = 10000;

struct cons_result {
	long count, sum, order_errors;
};
static struct cons_result results[MAXT];

static void gate_wait(void)
{
	pthread_mutex_lock(&lock);
	waiting_at_gate++;
	while (!gate_open)
		pthread_cond_wait(&gate_cond, &lock);
	pthread_mutex_unlock(&lock);
}

static void put(long v)
{
	pthread_mutex_lock(&lock);
	while (qcount == QSIZE)
		pthread_cond_wait(&not_full, &lock);
	queue[(qhead + qcount) % QSIZE] = v;
	qcount++;
	pthread_cond_signal(&not_empty);
	pthread_mutex_unlock(&lock);
}

static long get(void)
{
	long v;

	pthread_mutex_lock(&lock);
	while (qcount == 0)
		pthread_cond_wait(&not_empty, &lock);
	v = queue[qhead];
	qhead = (qhead + 1) % QSIZE;
	qcount--;
	pthread_cond_signal(&not_full);
	pthread_mutex_unlock(&lock);
	return v;
}

static void *producer(void *arg)
{
	long id = (long)arg;

	gate_wait();
	for (long k = 0; k < items; k++)
		put(id * 1000000000L + k);
	return NULL;
}

static void *consumer(void *arg)
{
	struct cons_result *r = &results[(long)arg];
	long last[MAXT];

	for (int i = 0; i < MAXT; i++)
		last[i] = -1;
	gate_wait();
	for (;;) {
		long v = get(), p, k;

		if (v == POISON)
			break;
		p = v / 1000000000L;
		k = v % 1000000000L;
		if (k <= last[p])
			r->order_errors++;
		last[p] = k;
		r->count++;
		r->sum += v;
	}
	return NULL;
}

static int check_timedwait(void)
{
	pthread_cond_t never = PTHREAD_COND_INITIALIZER;
	struct timespec ts;
	int rc;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 20 * 1000 * 1000;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&lock);
	do
		rc = pthread_cond_timedwait(&never, &lock, &ts);
	while (rc == 0); /* spurious wakeups are allowed */
	pthread_mutex_unlock(&lock);
	if (rc != ETIMEDOUT) {
		printf("FAIL: pthread_cond_timedwait returned %d\n", rc);
		return 0;
	}
	return 1;
}

int main(int argc, char **argv)
{
	pthread_t tp[MAXT], tc[MAXT];
	long count = 0, sum = 0, order = 0, want_sum = 0;

	if (argc > 3) {
		nprod = atoi(argv[1]);
		ncons = atoi(argv[2]);
		items = atol(argv[3]);
	}
	if (nprod < 1 || nprod > MAXT || ncons < 1 || ncons > MAXT ||
	    items < 1 || items >= 1000000000L) {
		fprintf(stderr, "usage: condvar [NPROD NCONS ITEMS]\n");
		return 2;
	}
	if (!check_timedwait())
		return 1;
	for (long i = 0; i < ncons; i++)
		pthread_create(&tc[i], NULL, consumer, (void *)i);
	for (long i = 0; i < nprod; i++)
		pthread_create(&tp[i], NULL, producer, (void *)i);
	/* Open the gate only once everybody waits at it. */
	for (;;) {
		pthread_mutex_lock(&lock);
		if (waiting_at_gate == nprod + ncons) {
			gate_open = 1;
			pthread_cond_broadcast(&gate_cond);
			pthread_mutex_unlock(&lock);
			break;
		}
		pthread_mutex_unlock(&lock);
		sched_yield();
	}
	for (int i = 0; i < nprod; i++)
		pthread_join(tp[i], NULL);
	for (int i = 0; i < ncons; i++)
		put(POISON);
	for (int i = 0; i < ncons; i++) {
		pthread_join(tc[i], NULL);
		count += results[i].count;
		sum += results[i].sum;
		order += results[i].order_errors;
	}
	for (long p = 0; p < nprod; p++)
		want_sum += p * 1000000000L * items + items * (items - 1) / 2;
	printf("producers %d consumers %d items %ld received %ld sum %ld\n",
	       nprod, ncons, items, count, sum);
	if (count != nprod * items || sum != want_sum || order) {
		printf("FAIL: expected %ld items sum %ld, %ld out of order\n",
		       nprod * items, want_sum, order);
		return 1;
	}
	printf("ok\n");
	return 0;
}
