/* crash: a guest fault of each kind, after one flushed line.
 *   crash int3   breakpoint trap   (SIGTRAP, status 133)
 *   crash ud2    illegal instruction (SIGILL, status 132)
 *   crash div0   integer divide by zero (SIGFPE, status 136) */
#include <stdio.h>
#include <string.h>

static volatile int zero, seven = 7; /* gcc folds 1 / x without an idiv */

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	printf("crashing: %s\n", mode);
	fflush(stdout);
	if (strcmp(mode, "int3") == 0)
		__asm__ volatile("int3");
	else if (strcmp(mode, "ud2") == 0)
		__asm__ volatile("ud2");
	else if (strcmp(mode, "div0") == 0)
		printf("%d\n", seven / zero);
	fprintf(stderr, "usage: crash int3|ud2|div0\n");
	return 2;
}
