/* The blobs of the join conversation (join.h), as pure encoders and
 * decoders: no socket, no node state, so that the unit tests and the wire
 * fuzzer take them whole. Little-endian (common/wire.h).
 *
 *   SLOT     version, node, slots, vCPUs (u32 each), epoch (u64), node 0's
 *            pid (i32), page transfer push, same host (u32 each)
 *   ADDR     address length A, key length R (u32 each), A bytes, R bytes
 *   WELCOME  live, drained (u64 bitmasks of the slots), one role byte per
 *            slot, then per live node: A, R (u32), A bytes, R bytes; the
 *            layout: n (u32), n changes of NODE_WIRE_CHANGE_LEN bytes
 *
 * A decoder checks every field against what the receiver relies on and
 * says why it refuses (one line); on refusal its outputs are cleared. */
#ifndef CVMM_NODE_JOIN_WIRE_H
#define CVMM_NODE_JOIN_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "core/gmem.h"

#define JOIN_VERSION 2
#define JOIN_SLOT_LEN 48
#define JOIN_SLOTS_MAX 64           /* = NODE_SLOTS_MAX (node.h) */
#define JOIN_LAYOUT_MAX (1u << 20) /* changes in a WELCOME */

typedef struct join_slot {
	int node, size, nvcpus, pid0;
	uint64_t epoch;
	bool push, same_host;
	/* the VM's memory model, which a joiner adopts: release (else
	 * sequential), and for release its race policy and staleness */
	bool release, race_warn;
	int staleness_ms;
} join_slot_t;

typedef struct join_welcome {
	uint64_t live, drained;
	uint8_t roles[JOIN_SLOTS_MAX];
	const void *addr[JOIN_SLOTS_MAX], *rkey[JOIN_SLOTS_MAX];
	size_t addr_len[JOIN_SLOTS_MAX], rkey_len[JOIN_SLOTS_MAX];
	gmem_change_t *layout;
	unsigned nlayout;
	void *blob; /* what the pointers above point into (join.c's) */
} join_welcome_t;

/* b holds JOIN_SLOT_LEN bytes; returns JOIN_SLOT_LEN, 0 on a bad slot. */
size_t join_wire_slot_encode(const join_slot_t *s, uint8_t *b);
/* A slot a joiner can take: 2..JOIN_SLOTS_MAX slots, its node 1..size-1,
 * node 0's pid positive, a vCPU per slot at least. */
cvmm_status_t join_wire_slot_decode(const void *b, size_t len, join_slot_t *s,
				    char *why, size_t whylen);

/* Into b[cap]; returns the length, 0 when it does not fit. */
size_t join_wire_addr_encode(const void *addr, size_t alen, const void *rkey,
			     size_t rlen, uint8_t *b, size_t cap);
/* *addr and *rkey point into b: 1..NODE_WIRE_JOIN_BLOB_MAX address bytes,
 * at most NODE_WIRE_JOIN_BLOB_MAX key bytes, nothing after them. */
cvmm_status_t join_wire_addr_decode(const void *b, size_t len,
				    const void **addr, size_t *alen,
				    const void **rkey, size_t *rlen,
				    char *why, size_t whylen);

/* w's live nodes' addresses and keys, roles of s->size slots and layout
 * into b[cap]; returns the length, 0 when it does not fit. */
size_t join_wire_welcome_encode(const join_welcome_t *w, int size,
				uint8_t *b, size_t cap);
size_t join_wire_welcome_len(const join_welcome_t *w, int size);
/* For the joiner of slot s: node 0 and no other slot but s's size among
 * the live, the joiner not live, roles played by live nodes other than
 * the joiner, each live node's address (1..NODE_WIRE_JOIN_BLOB_MAX bytes)
 * and key, every layout change valid (node_wire_change_get). w's pointers
 * point into b; w->layout is allocated (join_welcome_free, join.h);
 * w->blob is not touched. */
cvmm_status_t join_wire_welcome_decode(const void *b, size_t len,
				       const join_slot_t *s,
				       join_welcome_t *w, char *why,
				       size_t whylen);

#endif
