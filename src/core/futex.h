/* The virtual futex table. Guest futex words never reach the kernel: waiters
 * queue here by guest address, private and shared waits on one address are
 * one queue (glibc's pthread_join waits SHARED on the tid word that thread
 * exit wakes). On several nodes each word gets a home node; this is the
 * table a home keeps. */
#ifndef CVMM_CORE_FUTEX_H
#define CVMM_CORE_FUTEX_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "core/vm.h"

/* A deadline at or past this second on its clock is never reached: the
 * kernel saturates such timeouts at KTIME_MAX (~292 years), so a wait with
 * one is a wait without a timeout. One second below that limit, so that
 * nanoseconds to such a deadline still fit in an int64_t. */
#define FUTEX_SEC_FOREVER (INT64_MAX / 1000000000L - 1)

/* Waits while the guest word at addr equals val, until woken with a
 * matching bitset or until the absolute deadline on clock (deadline NULL,
 * or at or past FUTEX_SEC_FOREVER: no timeout). Sleeps on a host futex and
 * never spins: a host error other than a wake-up ends the wait with it.
 * Returns 0, -EAGAIN (value differed), -ETIMEDOUT, -EFAULT (word not
 * readable), -EINVAL (unaligned, bitset 0) or, across nodes, -EIO. */
long futex_wait(vthread_t *vt, uint64_t addr, uint32_t val, uint32_t bitset,
		clockid_t clock, const struct timespec *deadline);

/* Wakes up to n waiters on addr whose bitset intersects bitset (none for
 * n <= 0). Returns the number woken. The word is not read, so it need not
 * be mapped. Cannot fail on one node; across nodes (cvmm_dfx) -EINVAL
 * (unaligned) or -EIO (the word's home did not answer). */
long futex_wake(uint64_t addr, int n, uint32_t bitset);

/* Wakes up to nwake waiters on addr and moves up to nmove of the rest to
 * addr2; returns how many were woken or moved. With check, fails with
 * -EAGAIN unless *addr == val (-EFAULT if addr is not readable); without,
 * neither word is read. -EINVAL for an unaligned word or a negative count.
 * Across nodes (cvmm_dfx) nothing moves: up to nwake + nmove waiters are
 * woken instead (a spurious wake-up to the moved ones) and the number
 * woken returned. */
long futex_requeue(uint64_t addr, int nwake, int nmove, uint64_t addr2,
		   bool check, uint32_t val);

#endif
