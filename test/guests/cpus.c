/* cpus: the processor count as a program sees it. Prints
 * sysconf(_SC_NPROCESSORS_ONLN), get_nprocs() and CPU_COUNT of
 * sched_getaffinity; under cvmm -v N all three must be N (the harness checks
 * them against N, natively they are the host's).
 *
 *   cpus */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <sys/sysinfo.h>
#include <unistd.h>

int main(void)
{
	cpu_set_t set;
	int aff = -1;

	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		aff = CPU_COUNT(&set);
	printf("sysconf_nprocessors_onln %ld\n", sysconf(_SC_NPROCESSORS_ONLN));
	printf("get_nprocs %d\n", get_nprocs());
	printf("sched_getaffinity %d\n", aff);
	return aff > 0 ? 0 : 1;
}
