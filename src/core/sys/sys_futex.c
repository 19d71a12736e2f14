/* futex(2): decodes the operation and its timeout, checks the arguments in
 * the kernel's order, then core/futex.h does the work. On one node a call
 * futex_host_ok accepts (its words and timeout in the guest window, an
 * operation that writes no memory) never gets here: the trap path hands it
 * to the kernel as it is (entry.c). */
#include <errno.h>
#include <linux/futex.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <time.h>

#include "common/log.h"
#include "core/futex.h"
#include "core/gmem.h"
#include "core/sys/sys.h"

/* Reads the guest timespec at ts into an absolute deadline on clock, copied
 * once (the guest may change it meanwhile) and checked as the kernel checks
 * it. A relative timeout that would end past FUTEX_SEC_FOREVER saturates
 * there, as the kernel saturates it (futex_wait then waits without one). */
static long futex_deadline(uint64_t ts, bool absolute, clockid_t clock,
			   struct timespec *out)
{
	const struct timespec *g = gmem_ptr(&cvmm_gmem, ts, sizeof(*g),
					    PROT_READ);
	struct timespec t, now;

	if (!g)
		return -EFAULT;
	t = *g;
	if (t.tv_sec < 0 || t.tv_nsec < 0 || t.tv_nsec >= 1000000000L)
		return -EINVAL;
	if (!absolute) {
		clock_gettime(clock, &now);
		if (t.tv_sec >= FUTEX_SEC_FOREVER - now.tv_sec) {
			t.tv_sec = FUTEX_SEC_FOREVER;
		} else {
			t.tv_sec += now.tv_sec;
			t.tv_nsec += now.tv_nsec;
			if (t.tv_nsec >= 1000000000L) {
				t.tv_nsec -= 1000000000L;
				t.tv_sec++;
			}
		}
	}
	*out = t;
	return 0;
}

/* The kernel's checks of a futex word (get_futex_key): 4-aligned (EINVAL),
 * a user address (EFAULT), and for a shared futex a page it can read
 * (EFAULT). A private word need not be mapped: waking one is 0. */
static long futex_key_check(uint64_t addr, bool shared)
{
	if (addr & 3)
		return -EINVAL;
	if (addr > GMEM_TASK_SIZE)
		return -EFAULT;
	if (shared && gmem_mapped(&cvmm_gmem, addr, 4, PROT_READ) != 4)
		return -EFAULT;
	return 0;
}

static long sys_futex_wait(vthread_t *vt, const uint64_t a[6], int cmd,
			   clockid_t clock, const struct timespec *dl)
{
	uint32_t bitset = cmd == FUTEX_WAIT_BITSET ? (uint32_t)a[5]
						   : FUTEX_BITSET_MATCH_ANY;
	long ret;

	if (bitset == 0)
		return -EINVAL;
	ret = futex_key_check(a[0], !((int)a[1] & FUTEX_PRIVATE_FLAG));
	if (ret)
		return ret;
	return futex_wait(vt, a[0], (uint32_t)a[2], bitset, clock, dl,
			  !((int)a[1] & FUTEX_PRIVATE_FLAG));
}

static long sys_futex_wake(const uint64_t a[6], int cmd)
{
	uint32_t bitset = cmd == FUTEX_WAKE_BITSET ? (uint32_t)a[5]
						   : FUTEX_BITSET_MATCH_ANY;
	int n = (int)a[2];
	long ret;

	if (bitset == 0)
		return -EINVAL;
	ret = futex_key_check(a[0], !((int)a[1] & FUTEX_PRIVATE_FLAG));
	if (ret)
		return ret;
	/* the kernel wakes one waiter for a count of 0 or below */
	return futex_wake(a[0], n > 0 ? n : 1, bitset,
			  !((int)a[1] & FUTEX_PRIVATE_FLAG));
}

static long sys_futex_requeue(const uint64_t a[6], int cmd)
{
	bool shared = !((int)a[1] & FUTEX_PRIVATE_FLAG);
	int nwake = (int)a[2], nmove = (int)(uint32_t)a[3];
	long ret;

	if (nwake < 0 || nmove < 0)
		return -EINVAL;
	ret = futex_key_check(a[0], shared);
	if (!ret)
		ret = futex_key_check(a[4], shared);
	if (ret)
		return ret;
	return futex_requeue(a[0], nwake, nmove, a[4], cmd == FUTEX_CMP_REQUEUE,
			     (uint32_t)a[5], shared);
}

/* futex(uaddr, op, val, timeout/val2, uaddr2, val3) */
long sys_futex(vthread_t *vt, const uint64_t a[6])
{
	int op = (int)a[1];
	int cmd = op & FUTEX_CMD_MASK;
	clockid_t clock = (op & FUTEX_CLOCK_REALTIME) ? CLOCK_REALTIME
						     : CLOCK_MONOTONIC;
	bool wait = cmd == FUTEX_WAIT || cmd == FUTEX_WAIT_BITSET;
	struct timespec dl;
	long ret;

	/* The kernel reads the timeout before it looks at anything else.
	 * FUTEX_WAIT's is relative (monotonic), FUTEX_WAIT_BITSET's absolute
	 * on the chosen clock. */
	if (wait && a[3]) {
		ret = futex_deadline(a[3], cmd == FUTEX_WAIT_BITSET, clock,
				     &dl);
		if (ret)
			return ret;
	}
	if ((op & FUTEX_CLOCK_REALTIME) && cmd != FUTEX_WAIT_BITSET)
		return -ENOSYS;
	switch (cmd) {
	case FUTEX_WAIT:
	case FUTEX_WAIT_BITSET:
		return sys_futex_wait(vt, a, cmd, clock, a[3] ? &dl : NULL);
	case FUTEX_WAKE:
	case FUTEX_WAKE_BITSET:
		return sys_futex_wake(a, cmd);
	case FUTEX_REQUEUE:
	case FUTEX_CMP_REQUEUE:
		return sys_futex_requeue(a, cmd);
	default:
		log_debug("futex op %d not supported", cmd);
		return -ENOSYS;
	}
}
