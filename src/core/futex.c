/* Guest futexes (futex.h): on one node the kernel's, on the guest's
 * addresses; on a VM spanning nodes every call goes to the word's home
 * (coherence/dfutex.h). */
#include "core/futex.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "coherence/coh.h"
#include "coherence/dfutex.h"
#include "core/gmem.h"

static uint32_t *futex_word(uint64_t addr)
{
	return gmem_ptr(&cvmm_gmem, addr, 4, PROT_READ);
}

/* One node: the kernel's futex, on the guest's own address (the guest
 * window is this process's memory at the guest's addresses); -errno. */
static long host_futex(uint64_t addr, int op, uint64_t val, const void *ts,
		       uint64_t addr2, uint32_t val3)
{
	long r = syscall(SYS_futex, addr, op, val, ts, addr2, val3);

	return r < 0 ? -errno : r;
}

static int priv(bool shared)
{
	return shared ? 0 : FUTEX_PRIVATE_FLAG;
}

/* A deadline that is never reached is no deadline: the host futex would
 * take it, but 64-bit nanosecond arithmetic on it (dfutex) would not. */
static const struct timespec *deadline_or_null(const struct timespec *dl)
{
	return dl && dl->tv_sec >= FUTEX_SEC_FOREVER ? NULL : dl;
}

_Static_assert(VM_ERESTART == DFX_ERESTART,
	       "a futex wait given up is a call run again");

/* The futex key of the word at addr across nodes (dfutex.h). */
static uint64_t dfx_key(uint64_t addr, bool shared)
{
	return addr | (shared ? DFX_SHARED : 0);
}

/* futex_wait on a VM spanning nodes: the word's home keeps the queue. */
static long futex_wait_dfx(vthread_t *vt, uint64_t addr, uint32_t val,
			   uint32_t bitset, clockid_t clock,
			   const struct timespec *deadline, bool shared)
{
	long ret;

	if ((addr & 3) || bitset == 0)
		return -EINVAL;
	if (!futex_word(addr))
		return -EFAULT;
	vt_idle_begin(vt);
	/* not while the node is paused; once asleep the wait is no call in
	 * flight (dfx_busy), so it holds no gate */
	coh_rt_gate_enter();
	coh_rt_gate_exit();
	ret = dfx_wait(cvmm_dfx, dfx_key(addr, shared), val, bitset, clock,
		       deadline);
	vt_idle_end(vt);
	return ret;
}

long futex_wait(vthread_t *vt, uint64_t addr, uint32_t val, uint32_t bitset,
		clockid_t clock, const struct timespec *deadline, bool shared)
{
	int op = FUTEX_WAIT_BITSET | priv(shared);
	long ret;

	deadline = deadline_or_null(deadline);
	if (cvmm_dfx)
		return futex_wait_dfx(vt, addr, val, bitset, clock, deadline,
				      shared);
	if ((addr & 3) || bitset == 0)
		return -EINVAL;
	if (!futex_in_window(addr, 4))
		return -EFAULT; /* nothing of the guest's there */
	if (clock == CLOCK_REALTIME)
		op |= FUTEX_CLOCK_REALTIME;
	vt_idle_begin(vt);
	ret = host_futex(addr, op, val, deadline, 0, bitset);
	vt_idle_end(vt);
	return ret == -EINTR ? 0 : ret; /* a spurious wake-up, allowed */
}

long futex_wake(uint64_t addr, int n, uint32_t bitset, bool shared)
{
	long ret;

	if (cvmm_dfx) {
		if (addr & 3)
			return -EINVAL;
		coh_rt_gate_enter();
		ret = dfx_wake(cvmm_dfx, dfx_key(addr, shared), n, bitset);
		coh_rt_gate_exit();
		return ret;
	}
	if (!futex_in_window(addr, 4))
		return 0; /* nobody can wait there */
	return host_futex(addr, FUTEX_WAKE_BITSET | priv(shared),
			  (uint64_t)n, NULL, 0, bitset);
}

/* A requeue where nothing can move: across nodes (no queue moves between
 * homes) or, on one node, to or from a word outside the guest window. The
 * waiters it would move are woken instead (futex callers tolerate
 * spurious wake-ups), after the value check. Returns the number woken. */
static long requeue_as_wake(uint64_t addr, long n, bool check, uint32_t val,
			    bool shared)
{
	const uint32_t *word;

	if (check) {
		word = futex_word(addr);
		if (!word)
			return -EFAULT;
		if (__atomic_load_n(word, __ATOMIC_SEQ_CST) != val)
			return -EAGAIN;
	}
	return futex_wake(addr, (int)n, FUTEX_BITSET_MATCH_ANY, shared);
}

long futex_requeue(uint64_t addr, int nwake, int nmove, uint64_t addr2,
		   bool check, uint32_t val, bool shared)
{
	long n = (long)nwake + nmove > INT_MAX ? INT_MAX : nwake + nmove;

	if (((addr | addr2) & 3) || nwake < 0 || nmove < 0)
		return -EINVAL;
	if (cvmm_dfx || !futex_in_window(addr, 4) ||
	    !futex_in_window(addr2, 4))
		return requeue_as_wake(addr, n, check, val, shared);
	return host_futex(addr,
			  (check ? FUTEX_CMP_REQUEUE : FUTEX_REQUEUE) |
				  priv(shared),
			  (uint64_t)nwake, (const void *)(uintptr_t)nmove,
			  addr2, val);
}
