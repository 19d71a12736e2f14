/* Bootstrap probe for test/integration/mpirun_boot.sh: joins the job with
 * rank and size from the environment (mpirun, srun, cvmm's launcher), does
 * an allgather of "rank N" strings and a barrier, and prints
 *   rank R of S via METHOD: all S blobs ok
 * or a line starting with "FAIL". Exit status 0 only on success.
 * Usage: boot_probe [--coordinator HOST:PORT|unix:/path] [--timeout MS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "rdma/boot.h"

/* Every all[r] must be exactly "rank r" (without the NUL). */
static int probe_check(const boot_t *b, void **all, size_t *lens)
{
	char want[32];
	int bad = 0;

	for (int r = 0; r < boot_size(b); r++) {
		snprintf(want, sizeof(want), "rank %d", r);
		if (lens[r] != strlen(want) ||
		    memcmp(all[r], want, lens[r]) != 0) {
			printf("FAIL rank %d: blob of rank %d is wrong\n",
			       boot_rank(b), r);
			bad = 1;
		}
	}
	return bad;
}

static int probe_run(boot_t *b)
{
	char mine[32];
	void **all;
	size_t *lens;
	int bad;

	snprintf(mine, sizeof(mine), "rank %d", boot_rank(b));
	if (boot_allgather(b, mine, strlen(mine), &all, &lens) != CVMM_OK) {
		printf("FAIL rank %d: allgather\n", boot_rank(b));
		return 1;
	}
	bad = probe_check(b, all, lens);
	boot_free_all(b, all, lens);
	if (!bad && boot_barrier(b) != CVMM_OK) {
		printf("FAIL rank %d: barrier\n", boot_rank(b));
		bad = 1;
	}
	if (!bad)
		printf("rank %d of %d via %s: all %d blobs ok\n", boot_rank(b),
		       boot_size(b), boot_method(b), boot_size(b));
	return bad;
}

int main(int argc, char **argv)
{
	boot_opts_t o = { .rank = -1, .size = -1, .timeout_ms = 20000 };
	boot_t *b;
	int rc;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--coordinator") == 0)
			o.coordinator = argv[i + 1];
		else if (strcmp(argv[i], "--timeout") == 0)
			o.timeout_ms = atoi(argv[i + 1]);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (boot_init(&o, &b) != CVMM_OK) {
		printf("FAIL boot_init\n");
		return 1;
	}
	rc = probe_run(b);
	boot_fini(b);
	return rc;
}
