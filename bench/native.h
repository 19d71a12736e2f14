/* Helpers shared by the native benchmark programs (uffd_modes.c,
 * downgrade.c): no cvmm runtime code (only the clock and the JSON writer
 * of src/common), one file each. Each
 * program defines _GNU_SOURCE before its first include and sets bench_name
 * to prefix its error lines. */
#ifndef CVMM_BENCH_NATIVE_H
#define CVMM_BENCH_NATIVE_H

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/json.h"

static const char *bench_name = "bench";

__attribute__((unused)) static void die(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", bench_name, what, strerror(errno));
	exit(1);
}

/* Prints {"key": value, ...} on one line on stdout, for bench/run.py:
 * values rounded to three decimals, null where have[i] is false. */
__attribute__((unused)) static void bench_print_json(const char *const *key,
						     const double *val,
						     const bool *have, int n)
{
	json_t *doc = json_object();

	for (int i = 0; i < n && doc; i++)
		doc = jdoc_set(doc, key[i],
			       have[i] ? json_real(round(val[i] * 1e3) / 1e3)
				       : json_null());
	if (jdoc_write(doc, stdout, JDOC_LINE) != CVMM_OK)
		die("writing the results");
	json_decref(doc);
}

__attribute__((unused)) static void pin_self(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0)
		die("sched_setaffinity");
}

/* The first two cpus this process may run on (*b -1 when only one). */
__attribute__((unused)) static void first_two_cpus(int *a, int *b)
{
	cpu_set_t allowed;

	*a = *b = -1;
	if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0)
		die("sched_getaffinity");
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, &allowed))
			continue;
		if (*a < 0)
			*a = c;
		else if (*b < 0)
			*b = c;
	}
}

__attribute__((unused)) static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The p-quantile (0..1) of the n sorted samples s. */
__attribute__((unused)) static double pct(const double *s, size_t n, double p)
{
	return s[(size_t)(p * (double)(n - 1) + 0.5)];
}

#endif
