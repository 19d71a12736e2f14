/* tls: __thread variables, initialized (.tdata) and zero (.tbss), a large
 * TLS array, errno and pthread keys, per thread. Every thread checks the
 * initial values, writes its own, yields and sleeps so others run, and checks
 * nobody else's writes are visible; addresses must differ between threads.
 * Key destructors must run once per thread that set a value. All threads are
 * alive at once (a barrier before exit), so stacks are not reused.
 *
 *   tls [NTHREADS]      (default 8) */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define MAXT 64
#define BIG 16384

static __thread int tdata = 42;
static __thread long tarr[4] = {1, 2, 3, 4};
static __thread long tbss;
static __thread unsigned char tbig[BIG];

static pthread_key_t key;
static pthread_barrier_t all_alive; /* so no two threads share a stack */
static int destructor_runs;
static uintptr_t addrs[MAXT];
static int errors[MAXT];

static void destructor(void *p)
{
	(void)p;
	__atomic_add_fetch(&destructor_runs, 1, __ATOMIC_SEQ_CST);
}

static int check_initial(void)
{
	int bad = tdata != 42 || tbss != 0;

	for (int i = 0; i < 4; i++)
		bad |= tarr[i] != i + 1;
	for (int i = 0; i < BIG; i++)
		bad |= tbig[i] != 0;
	return bad;
}

static int check_mine(long id)
{
	int bad = tdata != 1000 + id || tbss != id * 7 || errno != (int)id + 1;

	for (int i = 0; i < 4; i++)
		bad |= tarr[i] != id * 10 + i;
	for (int i = 0; i < BIG; i += 97)
		bad |= tbig[i] != (unsigned char)(id + i);
	bad |= pthread_getspecific(key) != (void *)(id + 1);
	return bad;
}

static void *worker(void *arg)
{
	long id = (long)arg;
	struct timespec ts = {0, 1000000};

	errors[id] += check_initial();
	tdata = 1000 + (int)id;
	tbss = id * 7;
	for (int i = 0; i < 4; i++)
		tarr[i] = id * 10 + i;
	for (int i = 0; i < BIG; i += 97)
		tbig[i] = (unsigned char)(id + i);
	errno = (int)id + 1;
	pthread_setspecific(key, (void *)(id + 1));
	addrs[id] = (uintptr_t)&tdata;
	for (int r = 0; r < 20; r++) {
		sched_yield();
		errors[id] += check_mine(id);
		errno = (int)id + 1;
	}
	nanosleep(&ts, NULL);
	errno = (int)id + 1;
	errors[id] += check_mine(id);
	pthread_barrier_wait(&all_alive);
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 8, bad = 0;
	pthread_t t[MAXT];

	if (n < 1 || n > MAXT) {
		fprintf(stderr, "usage: tls [NTHREADS<=64]\n");
		return 2;
	}
	pthread_key_create(&key, destructor);
	pthread_barrier_init(&all_alive, NULL, (unsigned)n);
	if (check_initial()) {
		printf("FAIL: main thread initial TLS\n");
		return 1;
	}
	tdata = -1;
	for (long i = 0; i < n; i++)
		pthread_create(&t[i], NULL, worker, (void *)i);
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < n; i++) {
		bad += errors[i];
		for (int j = 0; j < i; j++)
			bad += addrs[i] == addrs[j] || addrs[i] == (uintptr_t)&tdata;
	}
	printf("threads %d tls errors %d destructors %d main tdata %d\n", n,
	       bad, destructor_runs, tdata);
	if (bad || destructor_runs != n || tdata != -1) {
		printf("FAIL\n");
		return 1;
	}
	printf("ok\n");
	return 0;
}
