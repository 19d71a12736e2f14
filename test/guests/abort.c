/* abort: prints and flushes a line, then abort(3) from a second thread while
 * main waits in join. Dies by SIGABRT: exit status 134 in a shell.
 *
 *   abort */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static void *aborter(void *arg)
{
	(void)arg;
	printf("aborting\n");
	fflush(stdout);
	abort();
}

int main(void)
{
	pthread_t t;

	pthread_create(&t, NULL, aborter, NULL);
	pthread_join(t, NULL);
	printf("FAIL: still alive after abort\n");
	return 1;
}
