/* Distributed futex (multi-node VMs): each futex word has a home node,
 * home(uaddr) = (uaddr >> 12) mod nnodes (the manager of its page), which
 * keeps the queue of waiters for it. Waits and wakes on any node go to the
 * home as messages; the home's work is non-blocking and runs in the
 * transport's message handler.
 *
 * WAIT is "register, then check": the waiter registers at the home (and
 * waits for the ack), then reads the word coherently itself; if it differs
 * from val it cancels and returns EAGAIN, else it sleeps until a WAKEUP for
 * it arrives or its deadline passes (then it cancels). A wake that reached
 * the home before the registration happened before the waiter's read, so the
 * read sees the new value (memory is sequentially consistent): no lost
 * wake-up. A cancel that finds the waiter already taken by a wake returns 0
 * (that wake counted it); a WAKEUP still in flight then finds no live
 * request on the waiter's node and is dropped, so nothing relies on message
 * order across senders. Message format and script: dfutex.c. */
#ifndef CVMM_COHERENCE_DFUTEX_H
#define CVMM_COHERENCE_DFUTEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/status.h"

typedef struct dfx_ops {
	/* Sends len bytes to node dst (possibly this node); may run
	 * dfx_recv for an own-node message inside the call. Called with no
	 * dfutex lock held. */
	cvmm_status_t (*send)(void *ctx, int dst, const void *msg, size_t len);
	/* Reads the 32-bit guest word at uaddr coherently: 0 or -EFAULT. */
	int (*read_word)(void *ctx, uint64_t uaddr, uint32_t *val);
	/* Optional: before sleeping for a reply, wait up to ns for *word to
	 * leave old by making the transport progress on this thread (the
	 * reply is then handled here, without a wake-up). */
	bool (*spin)(void *ctx, const uint32_t *word, uint32_t old,
		     uint64_t ns);
} dfx_ops_t;

typedef struct dfx dfx_t;

/* One node's futex service. CVMM_ERR_INVALID on bad arguments. */
cvmm_status_t dfx_create(int self, int nnodes, const dfx_ops_t *ops,
			 void *ctx, dfx_t **out);
void dfx_destroy(dfx_t *d);

/* A message from node src (the transport's handler calls this). Never
 * blocks. A malformed message is logged with src and dropped
 * (CVMM_ERR_PEER). */
cvmm_status_t dfx_recv(dfx_t *d, int src, const void *msg, size_t len);

/* FUTEX_WAIT(_BITSET): blocks until woken (0), the word differs from val
 * (-EAGAIN), the absolute deadline on clock passes (-ETIMEDOUT; NULL: no
 * deadline), read_word faults (-EFAULT) or the home does not answer within
 * 10 s (-EIO). bitset 0 is -EINVAL, an unaligned uaddr -EINVAL. Called from
 * a guest thread, never from the transport's handler. */
long dfx_wait(dfx_t *d, uint64_t uaddr, uint32_t val, uint32_t bitset,
	      clockid_t clock, const struct timespec *deadline);

/* FUTEX_WAKE(_BITSET): wakes up to n waiters (any node) whose bitset
 * intersects bitset, oldest first; returns how many (0 for n <= 0), -EINVAL
 * (unaligned, bitset 0) or -EIO (no answer from the home within 10 s). */
long dfx_wake(dfx_t *d, uint64_t uaddr, int n, uint32_t bitset);

/* The node's service when the VM spans several nodes, else NULL. Set once
 * by the node agent before guest code runs. */
extern dfx_t *cvmm_dfx;

#endif
