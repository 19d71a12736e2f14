/* clockloop: what one clock_gettime(CLOCK_MONOTONIC) costs.
 *
 *   clockloop [N]    N calls (default 1000000) after a warm-up of N/10;
 *                    prints "clock_gettime_ns X", the mean ns per call, on
 *                    stderr, and "ok" on stdout when the clock never went
 *                    backwards (for bench/ and test/integration/run_vdso.sh:
 *                    under cvmm --stats counts how many of the calls
 *                    trapped) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000, back = 0;
	int64_t t0, t1, last, t;

	if (n <= 0)
		n = 1;
	last = now_ns();
	for (long i = 0; i < n / 10; i++)
		now_ns();
	t0 = now_ns();
	for (long i = 0; i < n; i++) {
		t = now_ns();
		back += t < last;
		last = t;
	}
	t1 = now_ns();
	fprintf(stderr, "clock_gettime_ns %.1f\n", (double)(t1 - t0) / n);
	printf(back ? "FAIL: %ld backwards\n" : "ok\n", back);
	return back != 0;
}
