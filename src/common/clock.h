/* The monotonic clock every module measures with: one definition for
 * timeouts, deadlines, statistics and traces. Calls clock_gettime (the
 * vDSO): only with the agent's own FS base in place. */
#ifndef CVMM_COMMON_CLOCK_H
#define CVMM_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds. Cannot fail. */
static inline uint64_t cvmm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CLOCK_MONOTONIC in milliseconds. Cannot fail. */
static inline uint64_t cvmm_now_ms(void)
{
	return cvmm_now_ns() / 1000000ull;
}

#endif
