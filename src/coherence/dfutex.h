/* Distributed futex (multi-node VMs): each futex word has a home node,
 * home(uaddr) = (uaddr >> 12) mod nnodes (the manager of its page; the
 * node playing that role: dfx_set_roles), which
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
 * order across senders. Message script: dfutex.c; layout: below. */
#ifndef CVMM_COHERENCE_DFUTEX_H
#define CVMM_COHERENCE_DFUTEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/status.h"
#include "common/wire.h"

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
	/* Optional: asked on the waiting thread about every DFX_SLICE_MS
	 * while a waiter sleeps; true makes it give its wait up (cancelled
	 * at the home) and dfx_wait return -DFX_ERESTART, unless a wake took
	 * it first (then 0). For a thread that must move (cvmm ctl drain):
	 * its caller runs the call again where it goes. */
	bool (*interrupted)(void *ctx);
} dfx_ops_t;

/* dfx_wait's answer to an interrupted wait (the kernel's ERESTARTSYS):
 * never returned to a guest. */
#define DFX_ERESTART 512

typedef struct dfx dfx_t;

/* One node's futex service. CVMM_ERR_INVALID on bad arguments. */
cvmm_status_t dfx_create(int self, int nnodes, const dfx_ops_t *ops,
			 void *ctx, dfx_t **out);
void dfx_destroy(dfx_t *d);

/* A message from node src (the transport's handler calls this). Never
 * blocks. A malformed message is logged with src and dropped
 * (CVMM_ERR_PEER). */
cvmm_status_t dfx_recv(dfx_t *d, int src, const void *msg, size_t len);

/* A futex key is the word's address, 4-aligned, with DFX_SHARED set for a
 * shared futex: private and shared waits on one word are different queues,
 * as the kernel keeps them (a private wake never wakes a shared waiter). */
#define DFX_SHARED 1ull

/* FUTEX_WAIT(_BITSET) on key uaddr: blocks until woken (0), the word
 * differs from val (-EAGAIN), the absolute deadline on clock passes
 * (-ETIMEDOUT; NULL: no deadline), read_word faults (-EFAULT), the home
 * does not answer within 10 s (-EIO) or ops.interrupted says so
 * (-DFX_ERESTART). bitset 0 is -EINVAL, an unaligned
 * key (bit 1 set) -EINVAL. Called from a guest thread, never from the
 * transport's handler. */
long dfx_wait(dfx_t *d, uint64_t uaddr, uint32_t val, uint32_t bitset,
	      clockid_t clock, const struct timespec *deadline);

/* FUTEX_WAKE(_BITSET) on key uaddr: wakes up to n waiters (any node) of
 * that key whose bitset intersects bitset, oldest first; returns how many
 * (0 for n <= 0), -EINVAL (unaligned, bitset 0) or -EIO (no answer from
 * the home within 10 s). */
long dfx_wake(dfx_t *d, uint64_t uaddr, int n, uint32_t bitset);

/* Roles (docs/design.md, "Elastic nodes", step 2): the home role of a word
 * is (uaddr >> 12) mod nnodes for good; host[role] is the node that plays
 * it (all nnodes entries, each < nnodes). Node i plays role i until this
 * is called; call it only while no request is in flight anywhere (cvmm
 * ctl pause), the same table on every node. CVMM_ERR_INVALID on a bad
 * table. */
cvmm_status_t dfx_set_roles(dfx_t *d, const uint8_t *host);

/* A node leaving (docs/design.md "Elastic nodes", step 3), at a quiet
 * point: the leaving node hands every waiter queued at the home roles it
 * plays to its heir, oldest first per word (dfx_home_waiters; each into
 * dfx_take_waiter there), then every node but it moves those roles
 * (dfx_set_roles). The waiters, asleep on their nodes, are woken from the
 * heir from then on. A waiter of the leaving node itself must have gone
 * (cvmm ctl drain). */
void dfx_home_waiters(dfx_t *d,
		      void (*fn)(void *ctx, uint64_t uaddr, uint64_t id,
				 int node, uint32_t bitset),
		      void *ctx);
/* CVMM_ERR_INVALID for a waiter whose word this node will not be home
 * of, or from no node; CVMM_ERR_NOMEM. */
cvmm_status_t dfx_take_waiter(dfx_t *d, const uint8_t *host, uint64_t uaddr,
			      uint64_t id, int node, uint32_t bitset);

/* Whether a request of this node awaits a reply (cvmm ctl pause): a wake
 * not yet acknowledged, a wait not yet registered, a cancel in flight. A
 * waiter registered and asleep is not. */
bool dfx_busy(dfx_t *d);

/* The node's service when the VM spans several nodes, else NULL. Set once
 * by the node agent before guest code runs. */
extern dfx_t *cvmm_dfx;

/* ---- the wire -------------------------------------------------------------
 * One message is the whole payload of one transport message.
 *
 * Layout (32 bytes, little-endian):
 *    0  u16 version  DFX_WIRE_VERSION
 *    2  u16 type     dfx_msg_type_t
 *    4  u32 bitset   REG, WAKE: nonzero; 0 in the others
 *    8  u64 uaddr    the futex key: the guest word, 4-aligned, bit 0
 *                    DFX_SHARED
 *   16  u64 id       the requester's id on its own node, nonzero
 *   24  u64 arg      WAKE: n; WAKE_ACK: count (both <= INT_MAX);
 *                    CANCEL_ACK: 1 still queued, 0 gone; 0 in the others */
#define DFX_WIRE_VERSION 1
#define DFX_WIRE_LEN 32

typedef enum dfx_msg_type {
	DFX_MSG_REG = 1,    /* waiter -> home */
	DFX_MSG_REG_ACK,    /* home -> waiter */
	DFX_MSG_CANCEL,     /* waiter -> home */
	DFX_MSG_CANCEL_ACK, /* home -> waiter, arg = still queued */
	DFX_MSG_WAKE,       /* waker -> home, arg = n */
	DFX_MSG_WAKE_ACK,   /* home -> waker, arg = count */
	DFX_MSG_WAKEUP,     /* home -> waiter */
	DFX_MSG_END
} dfx_msg_type_t;

typedef struct dfx_msg {
	uint16_t version;
	uint16_t type;
	uint32_t bitset;
	uint64_t uaddr;
	uint64_t id;
	uint64_t arg;
} dfx_msg_t;

/* The host struct is not the wire layout: the fields are encoded one by one
 * at the widths of the layout above, which add up to DFX_WIRE_LEN. */
_Static_assert(WIRE_SIZEOF(dfx_msg_t, version) + WIRE_SIZEOF(dfx_msg_t, type) +
			       WIRE_SIZEOF(dfx_msg_t, bitset) +
			       WIRE_SIZEOF(dfx_msg_t, uaddr) +
			       WIRE_SIZEOF(dfx_msg_t, id) +
			       WIRE_SIZEOF(dfx_msg_t, arg) ==
		       DFX_WIRE_LEN,
	       "dfx_msg_t fields add up to DFX_WIRE_LEN");

/* Encodes m into buf[DFX_WIRE_LEN], little-endian, without checking it.
 * Cannot fail. */
void dfx_wire_encode(const dfx_msg_t *m, void *buf);

/* Decodes and checks len bytes that node src sent to node self of a job of
 * nnodes nodes: exactly DFX_WIRE_LEN bytes, version, type, a 4-aligned
 * address, a nonzero id, a bitset exactly on REG and WAKE, arg in range for
 * the type, a request sent to home(uaddr) and a reply sent by it (the home
 * role's node: host[role], or the role's own node when host is NULL).
 * Returns CVMM_OK and writes *out, or CVMM_ERR_PEER with a lowercase
 * reason in *why (a static string) and *out untouched. Never reads beyond
 * len bytes; buf may be NULL. */
cvmm_status_t dfx_wire_decode(const void *buf, size_t len, int src, int self,
			      int nnodes, const uint8_t *host, dfx_msg_t *out,
			      const char **why);

#endif
