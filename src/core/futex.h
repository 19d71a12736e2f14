/* Guest futexes. Private and shared waits on one word are different
 * queues, as natively (glibc's pthread_join waits SHARED on the tid word,
 * which thread exit wakes SHARED). On one node a guest futex is the
 * kernel's own: the guest window is this process's memory at the guest's
 * addresses, so a wait or wake on a guest word is the kernel's futex on
 * that address, with the kernel's checks, errnos and queues. Only words
 * inside the guest window ever reach the kernel, and only with operations
 * that write no memory. On several nodes each word gets a home node,
 * which keeps its waiters by key (coherence/dfutex.h, DFX_SHARED). */
#ifndef CVMM_CORE_FUTEX_H
#define CVMM_CORE_FUTEX_H

#include <linux/futex.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "core/gmem.h"
#include "core/vm.h"

/* A deadline at or past this second on its clock is never reached: the
 * kernel saturates such timeouts at KTIME_MAX (~292 years), so a wait with
 * one is a wait without a timeout. One second below that limit, so that
 * nanoseconds to such a deadline still fit in an int64_t. */
#define FUTEX_SEC_FOREVER (INT64_MAX / 1000000000L - 1)

/* [p, p + len) lies in the guest window. Pure: the trap path calls it
 * with the guest's FS. */
static inline bool futex_in_window(uint64_t p, uint64_t len)
{
	return p >= GMEM_LO && p <= GMEM_HI - len;
}

/* One node: whether the guest's futex(a[0..5]) (uaddr, op, val, timeout
 * or val2, uaddr2, val3) can go to the kernel as it is: WAIT, WAKE, their
 * BITSET forms, REQUEUE or CMP_REQUEUE (they queue threads and read words
 * but write no memory), private or not, CLOCK_REALTIME left to the kernel
 * to refuse where it does; its words, and a wait's timeout, in the guest
 * window. The kernel then checks and answers it exactly as natively. Pure
 * (the trap path answers such calls before it switches FS). */
static inline bool futex_host_ok(const uint64_t a[6])
{
	int op = (int)a[1];

	switch (op & ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME)) {
	case FUTEX_WAIT:
	case FUTEX_WAIT_BITSET:
		return futex_in_window(a[0], 4) &&
		       (!a[3] || futex_in_window(a[3], 16));
	case FUTEX_WAKE:
	case FUTEX_WAKE_BITSET:
		return futex_in_window(a[0], 4);
	case FUTEX_REQUEUE:
	case FUTEX_CMP_REQUEUE:
		return futex_in_window(a[0], 4) && futex_in_window(a[4], 4);
	default:
		return false;
	}
}

/* Waits while the guest word at addr equals val, until woken with a
 * matching bitset or until the absolute deadline on clock (deadline NULL,
 * or at or past FUTEX_SEC_FOREVER: no timeout); shared: not a private
 * futex (one node: the kernel's queues keep them apart). Never spins.
 * Returns 0, -EAGAIN (value differed), -ETIMEDOUT, -EFAULT (word not
 * readable), -EINVAL (unaligned, bitset 0) or, across nodes, -EIO. */
long futex_wait(vthread_t *vt, uint64_t addr, uint32_t val, uint32_t bitset,
		clockid_t clock, const struct timespec *deadline, bool shared);

/* Wakes up to n waiters on addr whose bitset intersects bitset (none for
 * n <= 0). Returns the number woken. The word is not read, so it need not
 * be mapped (one node: 0 for a word outside the guest window). Across
 * nodes (cvmm_dfx) -EINVAL (unaligned) or -EIO (the word's home did not
 * answer). */
long futex_wake(uint64_t addr, int n, uint32_t bitset, bool shared);

/* Wakes up to nwake waiters on addr and moves up to nmove of the rest to
 * addr2; returns how many were woken or moved. With check, fails with
 * -EAGAIN unless *addr == val (-EFAULT if addr is not readable); without,
 * neither word is read. -EINVAL for an unaligned word or a negative count.
 * Across nodes (cvmm_dfx), or on one node to an addr2 outside the guest
 * window, nothing moves: up to nwake + nmove waiters are woken instead (a
 * spurious wake-up to the moved ones) and the number woken returned. */
long futex_requeue(uint64_t addr, int nwake, int nmove, uint64_t addr2,
		   bool check, uint32_t val, bool shared);

#endif
