/* crash: a guest fault of each kind, after one flushed line.
 *   crash int3   breakpoint trap   (SIGTRAP, status 133)
 *   crash ud2    illegal instruction (SIGILL, status 132)
 *   crash div0   integer divide by zero (SIGFPE, status 136)
 *   crash jump0  a call to address 0 (SIGSEGV, status 139)
 *   crash jumplo a jump to 0x1000, below any address a program may map
 *                (SIGSEGV, status 139) */
#include <stdint.h>
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
	else if (strcmp(mode, "jump0") == 0)
		((void (*)(void))(uintptr_t)zero)();
	else if (strcmp(mode, "jumplo") == 0)
		((void (*)(void))(uintptr_t)(0x1000 + zero))();
	fprintf(stderr, "usage: crash int3|ud2|div0|jump0|jumplo\n");
	return 2;
}
