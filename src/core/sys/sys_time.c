/* Time: read from the host clocks into guest memory through the agent view.
 * Sleeps count as idle time. On a one-node VM with Syscall User Dispatch
 * the guest's vDSO (core/vdso/, docs/core.md) answers clock_gettime,
 * gettimeofday, time and clock_getres from the host vDSO without a trap;
 * what reaches these handlers then is what the host vDSO hands to its
 * syscall (CPU-time clocks, invalid ids). Several nodes, --entry seccomp
 * and CVMM_VDSO=off trap every time call, as docs/design.md decision 21
 * describes. */
#include <errno.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/times.h>
#include <time.h>

#include "core/gmem.h"
#include "core/sys/sys.h"
#include "core/vm.h"

static bool clock_ok(clockid_t clk)
{
	/* Dynamic (fd and cpu-timer) clocks are negative: not supported. */
	return clk >= 0 && clk <= CLOCK_TAI;
}

/* clock_gettime(clk, ts) */
long sys_clock_gettime(vthread_t *vt, const uint64_t a[6])
{
	struct timespec *ts;

	if (!clock_ok((clockid_t)a[0]))
		return -EINVAL;
	ts = gmem_ptr(&cvmm_gmem, a[1], sizeof(*ts), PROT_WRITE);
	if (!ts)
		return -EFAULT;
	return clock_gettime((clockid_t)a[0], ts) ? -errno : 0;
}

/* clock_getres(clk, res) */
long sys_clock_getres(vthread_t *vt, const uint64_t a[6])
{
	struct timespec *ts = NULL;

	if (!clock_ok((clockid_t)a[0]))
		return -EINVAL;
	if (a[1] && !(ts = gmem_ptr(&cvmm_gmem, a[1], sizeof(*ts),
				    PROT_WRITE)))
		return -EFAULT;
	return clock_getres((clockid_t)a[0], ts) ? -errno : 0;
}

/* gettimeofday(tv, tz) */
long sys_gettimeofday(vthread_t *vt, const uint64_t a[6])
{
	struct timeval *tv = NULL;
	struct timezone *tz = NULL;

	if (a[0] && !(tv = gmem_ptr(&cvmm_gmem, a[0], sizeof(*tv),
				    PROT_WRITE)))
		return -EFAULT;
	if (a[1] && !(tz = gmem_ptr(&cvmm_gmem, a[1], sizeof(*tz),
				    PROT_WRITE)))
		return -EFAULT;
	return gettimeofday(tv, tz) ? -errno : 0;
}

/* time(tloc) */
long sys_time(vthread_t *vt, const uint64_t a[6])
{
	time_t now = time(NULL), *out = NULL;

	if (a[0] && !(out = gmem_ptr(&cvmm_gmem, a[0], sizeof(*out),
				     PROT_WRITE)))
		return -EFAULT;
	if (out)
		*out = now;
	return (long)now;
}

static long do_sleep(vthread_t *vt, clockid_t clk, int flags, uint64_t req,
		     uint64_t rem)
{
	const struct timespec *t = gmem_ptr(&cvmm_gmem, req, sizeof(*t),
					    PROT_READ);
	struct timespec ts, left = { 0 }, *remp;
	int err;

	if (!t)
		return -EFAULT;
	ts = *t;
	if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000L)
		return -EINVAL;
	vt_idle_begin(vt);
	do
		err = clock_nanosleep(clk, flags, &ts, &left);
	while (err == EINTR && (flags & TIMER_ABSTIME));
	vt_idle_end(vt);
	/* rem is written after the sleep: a page held (pinned) while
	 * sleeping would stall every node that needs it */
	if (err == EINTR && rem) {
		if (!(remp = gmem_ptr(&cvmm_gmem, rem, sizeof(*remp),
				      PROT_WRITE)))
			return -EFAULT;
		*remp = left;
	}
	return -err;
}

/* nanosleep(req, rem) */
long sys_nanosleep(vthread_t *vt, const uint64_t a[6])
{
	return do_sleep(vt, CLOCK_MONOTONIC, 0, a[0], a[1]);
}

/* clock_nanosleep(clk, flags, req, rem) */
long sys_clock_nanosleep(vthread_t *vt, const uint64_t a[6])
{
	if (!clock_ok((clockid_t)a[0]) || (a[1] & ~(uint64_t)TIMER_ABSTIME))
		return -EINVAL;
	return do_sleep(vt, (clockid_t)a[0], (int)a[1], a[2], a[3]);
}

/* times(buf) */
long sys_times(vthread_t *vt, const uint64_t a[6])
{
	struct tms *buf = NULL;

	if (a[0] && !(buf = gmem_ptr(&cvmm_gmem, a[0], sizeof(*buf),
				     PROT_WRITE)))
		return -EFAULT;
	return (long)times(buf);
}

/* getrusage(who, usage) */
long sys_getrusage(vthread_t *vt, const uint64_t a[6])
{
	struct rusage *ru = gmem_ptr(&cvmm_gmem, a[1], sizeof(*ru), PROT_WRITE);
	int who = (int)a[0];

	if (who != RUSAGE_SELF && who != RUSAGE_CHILDREN &&
	    who != RUSAGE_THREAD)
		return -EINVAL;
	if (!ru)
		return -EFAULT;
	return getrusage(who, ru) ? -errno : 0;
}
