/* nullderef: reads through a NULL pointer and dies by SIGSEGV (exit status
 * 139 in a shell). The line printed and flushed before the fault must come
 * out; nothing after it.
 *
 *   nullderef          fault in the main thread
 *   nullderef thread   fault in a second thread while main waits in join
 *                      and two more threads sleep in a futex */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static volatile int *volatile null_ptr; /* the compiler cannot see it is 0 */
static pthread_mutex_t never = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never_cond = PTHREAD_COND_INITIALIZER;

static int crash(void)
{
	printf("about to dereference NULL\n");
	fflush(stdout);
	return *null_ptr;
}

static void *crasher(void *arg)
{
	(void)arg;
	return (void *)(long)crash();
}

static void *sleeper(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&never);
	for (;;)
		pthread_cond_wait(&never_cond, &never);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t, s[2];

	if (argc > 1 && strcmp(argv[1], "thread") == 0) {
		pthread_create(&s[0], NULL, sleeper, NULL);
		pthread_create(&s[1], NULL, sleeper, NULL);
		pthread_create(&t, NULL, crasher, NULL);
		pthread_join(t, NULL);
	} else {
		crash();
	}
	printf("FAIL: still alive after dereferencing NULL\n");
	return 1;
}
