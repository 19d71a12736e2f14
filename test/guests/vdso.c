/* vdso: the time calls a static glibc program makes through the vDSO.
 *  - the auxv names a vDSO (AT_SYSINFO_EHDR points at an ELF image);
 *  - clock_gettime on CLOCK_MONOTONIC never goes backwards (2 threads),
 *    CLOCK_REALTIME is after 2020 and agrees with gettimeofday and time;
 *  - the CPU-time clocks (which the vDSO hands to the syscall) work and
 *    advance with work, and a bad pointer given to one is EFAULT;
 *  - an invalid clock id is EINVAL for clock_gettime and clock_getres;
 *  - clock_getres reports the same resolution natively and under cvmm.
 * Prints one line per check, no times.
 *
 *   vdso               the checks above
 *   vdso getcpu N      N sched_getcpu calls, each in [0, online cpus);
 *                      prints "getcpu ok" (the call must stay a syscall
 *                      under cvmm: run_vdso.sh counts it in --stats) */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOOPS 50000

static int64_t ns(clockid_t c)
{
	struct timespec ts;

	if (clock_gettime(c, &ts) != 0)
		return -1;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void check_auxv(void)
{
	const unsigned char *eh = (const void *)getauxval(AT_SYSINFO_EHDR);

	if (eh && memcmp(eh, ELFMAG, SELFMAG) == 0 &&
	    eh[EI_CLASS] == ELFCLASS64)
		printf("vdso: present\n");
	else
		printf("vdso: absent\n");
}

static void *mono_worker(void *arg)
{
	int64_t last = ns(CLOCK_MONOTONIC), t;
	long bad = 0;

	(void)arg;
	for (int i = 0; i < LOOPS; i++) {
		t = ns(CLOCK_MONOTONIC);
		bad += t < last || t < 0;
		last = t;
	}
	return (void *)bad;
}

static void check_monotonic(void)
{
	pthread_t t[2];
	long bad = 0;
	void *r;

	for (long i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, mono_worker, NULL);
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], &r);
		bad += (long)r;
	}
	printf("monotonic: %ld backwards in %d calls\n", bad, 2 * LOOPS);
}

static void check_wall(void)
{
	int64_t rt = ns(CLOCK_REALTIME);
	struct timeval tv;
	time_t t1, t2 = 0;
	bool rt_ok, tv_ok;
	int rc;

	t1 = time(&t2);
	rc = gettimeofday(&tv, NULL);
	rt_ok = rt > 1577836800LL * 1000000000 && rt / 1000000000 >= t1 - 5 &&
		rt / 1000000000 <= t1 + 5;
	tv_ok = rc == 0 && tv.tv_sec >= t1 && tv.tv_sec <= t1 + 5 &&
		tv.tv_usec >= 0 && tv.tv_usec < 1000000;
	printf("realtime: %s\n", rt_ok ? "ok" : "FAIL");
	printf("time: %s\n", t1 == t2 && t1 > 1577836800 ? "ok" : "FAIL");
	printf("gettimeofday: %s\n", tv_ok ? "ok" : "FAIL");
}

static void check_cputime(void)
{
	int64_t c0 = ns(CLOCK_THREAD_CPUTIME_ID), c1, p0, p1;
	volatile uint64_t x = 0;
	int rc;

	p0 = ns(CLOCK_PROCESS_CPUTIME_ID);
	for (long i = 0; i < 20 * 1000 * 1000; i++)
		x += (uint64_t)i;
	c1 = ns(CLOCK_THREAD_CPUTIME_ID);
	p1 = ns(CLOCK_PROCESS_CPUTIME_ID);
	printf("thread cputime: %s\n", c0 >= 0 && c1 > c0 ? "ok" : "FAIL");
	/* the process clock may lag the running thread's by a tick: no
	 * comparison between the two */
	printf("process cputime: %s\n", p0 >= 0 && p1 > p0 ? "ok" : "FAIL");
	errno = 0;
	rc = clock_gettime(CLOCK_PROCESS_CPUTIME_ID, (struct timespec *)8);
	printf("process cputime, bad pointer: %d %s\n", rc,
	       strerrorname_np(errno));
}

static void check_invalid(void)
{
	static const clockid_t bad[] = { 1000, CLOCK_TAI + 1, 0x7fffffff };
	struct timespec ts;
	int rc;

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		rc = clock_gettime(bad[i], &ts);
		printf("clock_gettime(%d): %d %s\n", (int)bad[i], rc,
		       strerrorname_np(errno));
		errno = 0;
		rc = clock_getres(bad[i], &ts);
		printf("clock_getres(%d): %d %s\n", (int)bad[i], rc,
		       strerrorname_np(errno));
	}
}

static void check_getres(void)
{
	static const struct {
		clockid_t id;
		const char *name;
	} clocks[] = {
		{ CLOCK_REALTIME, "REALTIME" },
		{ CLOCK_MONOTONIC, "MONOTONIC" },
		{ CLOCK_PROCESS_CPUTIME_ID, "PROCESS_CPUTIME_ID" },
		{ CLOCK_THREAD_CPUTIME_ID, "THREAD_CPUTIME_ID" },
		{ CLOCK_MONOTONIC_RAW, "MONOTONIC_RAW" },
		{ CLOCK_BOOTTIME, "BOOTTIME" },
	};
	struct timespec res;
	int rc;

	for (unsigned i = 0; i < sizeof(clocks) / sizeof(clocks[0]); i++) {
		memset(&res, 0xff, sizeof(res));
		rc = clock_getres(clocks[i].id, &res);
		printf("clock_getres(%s): %d %lld.%09ld\n", clocks[i].name, rc,
		       (long long)res.tv_sec, res.tv_nsec);
	}
	rc = clock_getres(CLOCK_MONOTONIC, NULL);
	printf("clock_getres(MONOTONIC, NULL): %d\n", rc);
}

static int getcpu_loop(long n)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN), bad = 0;
	int c;

	for (long i = 0; i < n; i++) {
		c = sched_getcpu();
		bad += c < 0 || c >= cpus;
	}
	printf(bad ? "getcpu FAIL\n" : "getcpu ok\n");
	return bad != 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "getcpu") == 0)
		return getcpu_loop(atol(argv[2]));
	check_auxv();
	check_wall();
	check_monotonic();
	check_cputime();
	check_invalid();
	check_getres();
	return 0;
}
