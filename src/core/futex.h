/* The virtual futex table. Guest futex words never reach the kernel: waiters
 * queue here by guest address, private and shared waits on one address are
 * one queue (glibc's pthread_join waits SHARED on the tid word that thread
 * exit wakes). On several nodes each word gets a home node; this is the
 * table a home keeps. */
#ifndef CVMM_CORE_FUTEX_H
#define CVMM_CORE_FUTEX_H

#include <stdint.h>
#include <time.h>

#include "core/vm.h"

/* Waits while the guest word at addr equals val, until woken with a
 * matching bitset or until the absolute deadline on clock (deadline NULL:
 * no timeout). Returns 0, -EAGAIN (value differed), -ETIMEDOUT, -EFAULT or
 * -EINVAL (unaligned). */
long futex_wait(vthread_t *vt, uint64_t addr, uint32_t val, uint32_t bitset,
		clockid_t clock, const struct timespec *deadline);

/* Wakes up to n waiters on addr whose bitset intersects bitset. Returns the
 * number woken. Cannot fail on one node; across nodes (cvmm_dfx) -EINVAL
 * (unaligned) or -EIO (the word's home did not answer). */
long futex_wake(uint64_t addr, int n, uint32_t bitset);

/* Wakes up to nwake waiters on addr and moves up to nmove of the rest to
 * addr2. With check, fails with -EAGAIN unless *addr == val. Across nodes
 * (cvmm_dfx) nothing moves: up to nwake + nmove waiters are woken instead
 * (a spurious wake-up to the moved ones) and the number woken returned. */
long futex_requeue(uint64_t addr, int nwake, int nmove, uint64_t addr2,
		   bool check, uint32_t val);

#endif
