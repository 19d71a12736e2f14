/* brk: the program break. sbrk(0) is page-sane, growing by 1 MiB gives
 * zeroed writable memory, shrinking and growing again gives zeros again (the
 * VMM must zero what it takes back), and brk below the start does not move
 * the break.
 *
 *   brk */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#define MIB (1024 * 1024)

static int all_zero(const unsigned char *p, long n)
{
	for (long i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

int main(void)
{
	unsigned char *start = sbrk(0), *p;
	int bad = 0;

	if (start == (void *)-1) {
		printf("FAIL: sbrk(0)\n");
		return 1;
	}
	p = sbrk(MIB);
	if (p != start || sbrk(0) != start + MIB) {
		printf("FAIL: sbrk grow\n");
		return 1;
	}
	if (!all_zero(p, MIB)) {
		printf("FAIL: new break memory not zero\n");
		bad++;
	}
	for (long i = 0; i < MIB; i++)
		p[i] = (unsigned char)(i * 3 + 1);
	printf("grow 1 MiB ok\n");

	if (brk(start + 4096) != 0 || sbrk(0) != start + 4096) {
		printf("FAIL: brk shrink\n");
		return 1;
	}
	if (p[100] != (unsigned char)(100 * 3 + 1)) {
		printf("FAIL: kept part lost its data\n");
		bad++;
	}
	if (sbrk(MIB - 4096) == (void *)-1) {
		printf("FAIL: sbrk grow again\n");
		return 1;
	}
	if (!all_zero(p + 2 * 4096, MIB - 2 * 4096)) {
		printf("FAIL: memory given back and taken again is not zero\n");
		bad++;
	}
	printf("shrink and grow again reads zeros ok\n");

	/* The kernel refuses and returns the old break (glibc's brk() then
	 * reports success, so only the break itself is checked). */
	(void)!brk((void *)4096);
	if (sbrk(0) != start + MIB) {
		printf("FAIL: failed brk moved the break\n");
		bad++;
	}
	if (brk(start) != 0) {
		printf("FAIL: brk back to start\n");
		bad++;
	}
	if (bad)
		return 1;
	printf("ok\n");
	return 0;
}
