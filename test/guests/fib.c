/* fib: the demo and CPU benchmark. Starts P threads that each compute fib(N)
 * by naive recursion, joins them, prints every thread's result in thread
 * order and the total, and checks each against an iterative fib(N).
 *
 *   fib [P [N]]      (default 4 30) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define MAXP 256

static int n = 30;
static long results[MAXP];

static long fib(int k)
{
	return k < 2 ? k : fib(k - 1) + fib(k - 2);
}

static void *worker(void *arg)
{
	results[(long)arg] = fib(n);
	return NULL;
}

int main(int argc, char **argv)
{
	int p = argc > 1 ? atoi(argv[1]) : 4;
	long a = 0, b = 1, total = 0;
	pthread_t t[MAXP];
	int bad = 0;

	if (argc > 2)
		n = atoi(argv[2]);
	if (p < 1 || p > MAXP || n < 0 || n > 90) {
		fprintf(stderr, "usage: fib [P<=256 [N<=90]]\n");
		return 2;
	}
	for (long i = 0; i < p; i++)
		if (pthread_create(&t[i], NULL, worker, (void *)i) != 0) {
			fprintf(stderr, "fib: pthread_create failed\n");
			return 1;
		}
	for (int i = 0; i < p; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < n; i++) {
		long c = a + b;

		a = b;
		b = c;
	}
	for (int i = 0; i < p; i++) {
		printf("thread %d: fib(%d) = %ld\n", i, n, results[i]);
		total += results[i];
		bad += results[i] != a;
	}
	printf("total = %ld\n", total);
	if (bad) {
		printf("FAIL: %d wrong results (fib(%d) is %ld)\n", bad, n, a);
		return 1;
	}
	return 0;
}
