/* exitcode: how the process ends when threads are still running.
 *
 *   exitcode worker   a worker thread calls exit(42) while main waits in
 *                     pthread_join on a thread blocked forever: status 42,
 *                     stdout flushed by exit()
 *   exitcode main     main returns 7 while three threads spin and one
 *                     sleeps in a futex: status 7
 *   exitcode last     main calls pthread_exit; the last worker to finish
 *                     ends the process with status 0 after printing its
 *                     result */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
static volatile int started;
static long results[4];
static int done;

static void *blocked(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	__atomic_add_fetch(&started, 1, __ATOMIC_SEQ_CST);
	for (;;)
		pthread_cond_wait(&never, &lock);
	return NULL;
}

static void *spinner(void *arg)
{
	volatile unsigned long x = 0;

	(void)arg;
	__atomic_add_fetch(&started, 1, __ATOMIC_SEQ_CST);
	for (;;)
		x++;
	return NULL;
}

static void *exiter(void *arg)
{
	(void)arg;
	while (__atomic_load_n(&started, __ATOMIC_SEQ_CST) < 1)
		sched_yield();
	printf("worker calls exit(42)\n");
	exit(42);
}

static void *finisher(void *arg)
{
	long id = (long)arg, sum = 0;

	for (long i = 0; i < 1000000; i++)
		sum += i % (id + 2);
	pthread_mutex_lock(&lock);
	results[id] = sum;
	if (++done == 4) {
		for (int i = 0; i < 4; i++)
			printf("worker %d result %ld\n", i, results[i]);
		printf("last worker done\n");
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	pthread_t t[4];

	if (strcmp(mode, "worker") == 0) {
		pthread_create(&t[0], NULL, blocked, NULL);
		pthread_create(&t[1], NULL, exiter, NULL);
		pthread_join(t[0], NULL);
	} else if (strcmp(mode, "main") == 0) {
		pthread_create(&t[0], NULL, blocked, NULL);
		for (int i = 1; i < 4; i++)
			pthread_create(&t[i], NULL, spinner, NULL);
		while (__atomic_load_n(&started, __ATOMIC_SEQ_CST) < 4)
			sched_yield();
		printf("main returns 7\n");
		return 7;
	} else if (strcmp(mode, "last") == 0) {
		/* Printed first: the workers may finish before main runs
		 * again, which would reorder the output. */
		printf("main calls pthread_exit\n");
		fflush(stdout);
		for (long i = 0; i < 4; i++)
			pthread_create(&t[i], NULL, finisher, (void *)i);
		pthread_exit(NULL);
	} else {
		fprintf(stderr, "usage: exitcode worker|main|last\n");
		return 2;
	}
	printf("FAIL: main went on\n");
	return 1;
}
