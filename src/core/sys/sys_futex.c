/* futex(2): decodes the operation and its timeout, then the virtual futex
 * table (core/futex.h) does the work. */
#include <errno.h>
#include <linux/futex.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <time.h>

#include "common/log.h"
#include "core/futex.h"
#include "core/gmem.h"
#include "core/sys/sys.h"

/* Reads the guest timespec at ts into an absolute deadline on clock. */
static long futex_deadline(uint64_t ts, bool absolute, clockid_t clock,
			   struct timespec *out)
{
	const struct timespec *g = gmem_ptr(&cvmm_gmem, ts, sizeof(*g),
					    PROT_READ);
	struct timespec now;

	if (!g)
		return -EFAULT;
	if (g->tv_sec < 0 || g->tv_nsec < 0 || g->tv_nsec >= 1000000000L)
		return -EINVAL;
	*out = *g;
	if (absolute)
		return 0;
	clock_gettime(clock, &now);
	out->tv_sec += now.tv_sec;
	out->tv_nsec += now.tv_nsec;
	if (out->tv_nsec >= 1000000000L) {
		out->tv_nsec -= 1000000000L;
		out->tv_sec++;
	}
	return 0;
}

static long sys_futex_wait(vthread_t *vt, const uint64_t a[6], int cmd,
			   clockid_t clock)
{
	struct timespec dl;
	bool bitset = cmd == FUTEX_WAIT_BITSET;
	uint32_t mask = bitset ? (uint32_t)a[5] : FUTEX_BITSET_MATCH_ANY;
	long ret;

	if (a[3]) {
		/* FUTEX_WAIT's timeout is relative and always monotonic. */
		if (!bitset)
			clock = CLOCK_MONOTONIC;
		ret = futex_deadline(a[3], bitset, clock, &dl);
		if (ret)
			return ret;
	}
	return futex_wait(vt, a[0], (uint32_t)a[2], mask, clock,
			  a[3] ? &dl : NULL);
}

/* futex(uaddr, op, val, timeout/val2, uaddr2, val3) */
long sys_futex(vthread_t *vt, const uint64_t a[6])
{
	int op = (int)a[1];
	int cmd = op & FUTEX_CMD_MASK;
	clockid_t clock = (op & FUTEX_CLOCK_REALTIME) ? CLOCK_REALTIME
						     : CLOCK_MONOTONIC;
	int n = (int)a[2];

	if ((op & FUTEX_CLOCK_REALTIME) && cmd != FUTEX_WAIT &&
	    cmd != FUTEX_WAIT_BITSET)
		return -ENOSYS;
	switch (cmd) {
	case FUTEX_WAIT:
	case FUTEX_WAIT_BITSET:
		return sys_futex_wait(vt, a, cmd, clock);
	case FUTEX_WAKE:
		return futex_wake(a[0], n < 0 ? 0 : n, FUTEX_BITSET_MATCH_ANY);
	case FUTEX_WAKE_BITSET:
		if ((uint32_t)a[5] == 0)
			return -EINVAL;
		return futex_wake(a[0], n < 0 ? 0 : n, (uint32_t)a[5]);
	case FUTEX_REQUEUE:
		return futex_requeue(a[0], n, (int)a[3], a[4], false, 0);
	case FUTEX_CMP_REQUEUE:
		return futex_requeue(a[0], n, (int)a[3], a[4], true,
				     (uint32_t)a[5]);
	default:
		log_debug("futex op %d not supported", cmd);
		return -ENOSYS;
	}
}
