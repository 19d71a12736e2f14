/* sleeper: prints "sleeping", sleeps argv[1] seconds (default 30), prints
 * "woke". For the lost-node tests: a VM that is busy doing nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int secs = argc > 1 ? atoi(argv[1]) : 30;

	printf("sleeping\n");
	fflush(stdout);
	sleep((unsigned)secs);
	printf("woke\n");
	return 0;
}
