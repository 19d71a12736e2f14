/* firsttouch [MIB [wait]]: first touch of fresh memory. Maps MIB MiB
 * (default 32) with malloc (an anonymous mmap), writes one byte per page,
 * grows the brk heap by MIB/4 MiB with small allocations, then checks
 * every page reads back. Prints "ok PAGES" (the pages touched). With
 * "wait", prints "mapped" once the big block is allocated and reads a line
 * from stdin before touching it: run_guests.sh's firsttouch case reads the
 * guest window's resident size in /proc/PID/smaps of the agent meanwhile
 * (on one node fresh anonymous memory is populated when mapped, so it is
 * resident before the guest touches it). */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 32;
	size_t len = mib << 20, pages = 0, small = (mib << 20) / 4 / 512;
	char *big = mib ? malloc(len) : NULL, **heap = calloc(small + 1, sizeof(*heap));

	if ((mib && !big) || !heap)
		return 1;
	if (argc > 2) {
		char line[16];

		printf("mapped\n");
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			return 1;
	}
	for (size_t i = 0; i < len; i += 4096, pages++)
		big[i] = (char)(i >> 12);
	for (size_t i = 0; i < small; i++) {
		heap[i] = malloc(500);
		if (!heap[i])
			return 1;
		heap[i][0] = (char)i;
	}
	pages += small * 512 / 4096;
	for (size_t i = 0; i < len; i += 4096)
		if (big[i] != (char)(i >> 12)) {
			printf("page %zu lost its byte\n", i >> 12);
			return 1;
		}
	for (size_t i = 0; i < small; i++)
		if (heap[i][0] != (char)i) {
			printf("heap block %zu lost its byte\n", i);
			return 1;
		}
	printf("ok %zu\n", pages);
	return 0;
}
