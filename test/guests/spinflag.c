/* spinflag: a thread spins on a plain flag in heap memory (no atomic, no
 * futex, no system call in the loop) until another thread sets it, then
 * answers on another plain flag the setter spins on, as C11 release and
 * acquire stores and loads compile on x86. Under the release memory model
 * nothing the VM sees orders them: only bounded staleness (writes go home
 * every --staleness-ms) lets each see the other's flag. Prints the value
 * the reader saw with the flag.
 *
 *   spinflag */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct shared {
	volatile int flag;
	volatile int value;
	volatile int seen; /* the reader's answer */
};
static struct shared *sh;

static void *reader(void *arg)
{
	(void)arg;
	while (!sh->flag)
		;
	sh->seen = sh->value;
	return NULL;
}

int main(void)
{
	pthread_t t;
	struct timespec ts = { 0, 20 * 1000 * 1000 };

	sh = calloc(1, 256 << 10); /* its own mapping */
	if (!sh)
		return 2;
	pthread_create(&t, NULL, reader, NULL);
	nanosleep(&ts, NULL);
	sh->value = 42;
	sh->flag = 1;
	while (!sh->seen)
		;
	pthread_join(t, NULL);
	printf("flag seen, value %d\n", sh->seen);
	return 0;
}
