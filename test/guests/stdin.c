/* stdin: reads all of standard input with read(2) in varying request sizes
 * (1 byte to 64 KiB, so short reads from pipes are handled) and prints the
 * byte count, the line count and an FNV-1a 64-bit checksum.
 *
 *   stdin < FILE */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

int main(void)
{
	static const size_t sizes[] = {1, 7, 4096, 65536, 100, 8191};
	static unsigned char buf[65536];
	uint64_t h = 0xcbf29ce484222325ULL;
	long long bytes = 0, lines = 0;
	unsigned k = 0;

	for (;;) {
		ssize_t n = read(0, buf, sizes[k++ % 6]);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			printf("FAIL: read: %m\n");
			return 1;
		}
		if (n == 0)
			break;
		for (ssize_t i = 0; i < n; i++) {
			h = (h ^ buf[i]) * 0x100000001b3ULL;
			lines += buf[i] == '\n';
		}
		bytes += n;
	}
	printf("bytes %lld lines %lld fnv1a %016llx\n", bytes, lines,
	       (unsigned long long)h);
	return 0;
}
