/* Writes the seeds of every fuzz_wire decoder into a directory: file
 * "<index>-<name>-<k>" is the selector byte then seed k of the table's
 * entry <index>, built with the format's own encoder (so the seeds follow
 * the formats), after checking that its decoder accepts it. Built without
 * libFuzzer: `fuzz_wire_seeds DIR`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_wire.h"

#define SEED_MAX 65536

static int seed_write(const char *dir, size_t i, unsigned k,
		      const uint8_t *buf, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%zu-%s-%u", dir, i,
		 fuzz_wire_targets[i]->name, k);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "fuzz_wire_seeds: %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static uint8_t buf[1 + SEED_MAX];
	size_t len;

	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_wire_seeds DIR\n");
		return 2;
	}
	for (size_t i = 0; i < fuzz_wire_ntargets; i++) {
		for (unsigned k = 0;; k++) {
			buf[0] = (uint8_t)i;
			len = fuzz_wire_targets[i]->seed(k, buf + 1, SEED_MAX);
			if (len == 0)
				break;
			if (!fuzz_wire_targets[i]->run(buf + 1, len)) {
				fprintf(stderr, "fuzz_wire_seeds: seed %u of "
					"%s is refused by its decoder\n",
					k, fuzz_wire_targets[i]->name);
				return 1;
			}
			if (seed_write(argv[1], i, k, buf, 1 + len) != 0)
				return 1;
		}
	}
	return 0;
}
