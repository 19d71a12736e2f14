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

/* A sleep on a VM of several nodes goes in slices of this much, so that a
 * drain of its node (cvmm ctl drain, remove-node) is seen within one. */
#define SLEEP_SLICE_NS 100000000LL

/* In ns, saturated at INT64_MAX (a sleep of 292 years or more). */
static int64_t ts_ns(const struct timespec *t)
{
	if (t->tv_sec >= INT64_MAX / 1000000000LL)
		return INT64_MAX;
	return (int64_t)t->tv_sec * 1000000000LL + t->tv_nsec;
}

static int64_t add_sat(int64_t a, int64_t b)
{
	return a > INT64_MAX - b ? INT64_MAX : a + b;
}

static struct timespec ns_ts(int64_t ns)
{
	return (struct timespec){ .tv_sec = ns / 1000000000LL,
				  .tv_nsec = ns % 1000000000LL };
}

static int64_t clk_now(clockid_t clk)
{
	struct timespec t;

	clock_gettime(clk, &t);
	return ts_ns(&t);
}

/* Sleeps until deadline on clk, in slices: 0 when it passed; -1 when a
 * drained node's thread gives up (*left_ns what was left); else the
 * error the host's sleep gave (EINTR for a host signal with abs false,
 * as the kernel's relative sleep does, *left_ns set; EINVAL or ENOTSUP
 * for a clock that cannot sleep), as a positive errno. */
static int sleep_sliced(clockid_t clk, bool abs, int64_t deadline,
			int64_t *left_ns)
{
	for (;;) {
		int64_t now = clk_now(clk), end;
		struct timespec t;
		int err;

		*left_ns = deadline > now ? deadline - now : 0;
		if (*left_ns == 0)
			return 0;
		if (vm_call_interrupted())
			return -1;
		end = *left_ns > SLEEP_SLICE_NS ? now + SLEEP_SLICE_NS
						: deadline;
		t = ns_ts(end);
		err = clock_nanosleep(clk, TIMER_ABSTIME, &t, NULL);
		if (err == EINTR && !abs) {
			now = clk_now(clk);
			*left_ns = deadline > now ? deadline - now : 0;
			return EINTR;
		}
		if (err != 0 && err != EINTR)
			return err;
	}
}

static long do_sleep(vthread_t *vt, clockid_t clk, int flags, uint64_t req,
		     uint64_t rem)
{
	const struct timespec *t = gmem_ptr(&cvmm_gmem, req, sizeof(*t),
					    PROT_READ);
	struct timespec ts, left = { 0 }, *remp;
	int64_t left_ns, deadline;
	int err, r;

	if (!t)
		return -EFAULT;
	ts = *t;
	if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000L)
		return -EINVAL;
	/* the same call again, after a drain gave it up (here or on the
	 * node it came from): only what was left of it */
	if (vt->sleep_left_ns && vt->sleep_req == req) {
		ts = ns_ts((int64_t)vt->sleep_left_ns);
		clk = CLOCK_MONOTONIC;
		flags = 0;
	}
	vt->sleep_req = vt->sleep_left_ns = 0;
	vt_idle_begin(vt);
	/* sliced on a VM of several nodes, on the clocks that pass while the
	 * thread sleeps (the CPU-time ones do not) */
	if (!vm_calls_may_move() || clk == CLOCK_PROCESS_CPUTIME_ID ||
	    clk == CLOCK_THREAD_CPUTIME_ID) {
		do
			err = clock_nanosleep(clk, flags, &ts, &left);
		while (err == EINTR && (flags & TIMER_ABSTIME));
	} else {
		deadline = flags & TIMER_ABSTIME ? ts_ns(&ts)
						 : add_sat(clk_now(clk), ts_ns(&ts));
		r = sleep_sliced(clk, flags & TIMER_ABSTIME, deadline,
				 &left_ns);
		err = r < 0 ? 0 : r;
		left = ns_ts(left_ns);
		if (r < 0) {
			vt_idle_end(vt);
			vt->sleep_req = req;
			vt->sleep_left_ns = (uint64_t)left_ns;
			return -VM_ERESTART; /* runs again where it goes */
		}
	}
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
