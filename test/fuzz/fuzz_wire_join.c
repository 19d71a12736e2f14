/* fuzz_wire decoder 6: the join conversation's blobs (node/join_wire.c), as
 * node 0 reads a joiner's ADDR and a joiner reads node 0's SLOT and
 * WELCOME. Input: 1 control byte (0: SLOT, 1: ADDR, 2 and up: WELCOME for
 * node (c mod 7) + 1 of 8 slots), then the blob. Checks: a refusal says
 * why and leaves the outputs cleared; an accepted blob obeys every rule a
 * receiver relies on and encodes back to the same bytes (but the reserved
 * word of each layout change, which is not kept). */
#include <stdlib.h>
#include <string.h>

#include "fuzz_wire.h"
#include "node/join_wire.h"
#include "node/node_wire.h"

static bool join_fuzz_slot(const uint8_t *p, size_t len)
{
	uint8_t again[JOIN_SLOT_LEN];
	join_slot_t s;
	char why[96];

	if (join_wire_slot_decode(p, len, &s, why, sizeof(why)) != CVMM_OK) {
		FUZZ_CHECK(fuzz_wire_why_ok(why, sizeof(why)) && s.size == 0);
		return false;
	}
	FUZZ_CHECK(s.size >= 2 && s.size <= JOIN_SLOTS_MAX && s.node >= 1 &&
		   s.node < s.size && s.pid0 > 0 && s.nvcpus >= s.size &&
		   s.epoch > 0);
	FUZZ_CHECK(join_wire_slot_encode(&s, again) == JOIN_SLOT_LEN &&
		   memcmp(again, p, JOIN_SLOT_LEN) == 0);
	return true;
}

static bool join_fuzz_addr(const uint8_t *p, size_t len)
{
	const void *a, *r;
	size_t al, rl, n;
	uint8_t *again;
	char why[96];

	if (join_wire_addr_decode(p, len, &a, &al, &r, &rl, why,
				  sizeof(why)) != CVMM_OK) {
		FUZZ_CHECK(fuzz_wire_why_ok(why, sizeof(why)) && !a && !r);
		return false;
	}
	FUZZ_CHECK(al >= 1 && al <= NODE_WIRE_JOIN_BLOB_MAX &&
		   rl <= NODE_WIRE_JOIN_BLOB_MAX && 8 + al + rl == len &&
		   (const uint8_t *)a == p + 8 && (const uint8_t *)r == p + 8 + al);
	again = malloc(len);
	FUZZ_CHECK(again);
	n = join_wire_addr_encode(a, al, r, rl, again, len);
	FUZZ_CHECK(n == len && memcmp(again, p, len) == 0);
	free(again);
	return true;
}

static bool join_fuzz_welcome(uint8_t c, const uint8_t *p, size_t len)
{
	join_slot_t s = { .node = c % 7 + 1, .size = 8, .nvcpus = 8,
			  .pid0 = 1, .epoch = 1 };
	join_welcome_t w;
	uint8_t *again;
	char why[96];
	size_t n;

	if (join_wire_welcome_decode(p, len, &s, &w, why, sizeof(why)) !=
	    CVMM_OK) {
		FUZZ_CHECK(fuzz_wire_why_ok(why, sizeof(why)) && !w.layout &&
			   w.live == 0);
		return false;
	}
	FUZZ_CHECK((w.live & 1) && !(w.live >> s.node & 1) &&
		   !(w.live >> s.size) && w.layout);
	for (int j = 0; j < s.size; j++) {
		FUZZ_CHECK(w.roles[j] < s.size && (w.live >> w.roles[j] & 1));
		if (!(w.live >> j & 1))
			continue;
		FUZZ_CHECK(w.addr_len[j] >= 1 &&
			   w.addr_len[j] <= NODE_WIRE_JOIN_BLOB_MAX &&
			   w.rkey_len[j] <= NODE_WIRE_JOIN_BLOB_MAX &&
			   (const uint8_t *)w.addr[j] >= p &&
			   (const uint8_t *)w.addr[j] + w.addr_len[j] <= p + len &&
			   (const uint8_t *)w.rkey[j] >= p &&
			   (const uint8_t *)w.rkey[j] + w.rkey_len[j] <= p + len);
	}
	FUZZ_CHECK(w.nlayout <= JOIN_LAYOUT_MAX);
	n = join_wire_welcome_len(&w, s.size);
	FUZZ_CHECK(n == len);
	again = malloc(len);
	FUZZ_CHECK(again);
	FUZZ_CHECK(join_wire_welcome_encode(&w, s.size, again, len) == len);
	/* the reserved word of a layout change is not kept */
	for (unsigned i = 0; i < w.nlayout; i++) {
		size_t at = len - (size_t)(w.nlayout - i) *
				      NODE_WIRE_CHANGE_LEN + 12;

		memcpy(again + at, p + at, 4);
	}
	FUZZ_CHECK(memcmp(again, p, len) == 0);
	free(again);
	free(w.layout);
	return true;
}

static bool join_fuzz_run(const uint8_t *data, size_t size)
{
	if (size < 1)
		return false;
	switch (data[0]) {
	case 0:
		return join_fuzz_slot(data + 1, size - 1);
	case 1:
		return join_fuzz_addr(data + 1, size - 1);
	default:
		return join_fuzz_welcome(data[0], data + 1, size - 1);
	}
}

/* Seeds: a slot, an address, and a welcome for node 4 of 8 (nodes 0, 1
 * and 5 in) with two layout changes. */
static size_t join_fuzz_seed(unsigned k, uint8_t *buf, size_t cap)
{
	static const uint8_t a[24] = { 1, 2, 3 }, r[8] = { 9 };
	join_slot_t s = { .node = 3, .size = 8, .nvcpus = 8, .pid0 = 77,
			  .epoch = 4, .push = true };
	gmem_change_t lay[2] = {
		{ .op = GMEM_CH_SET, .start = 0x400000, .end = 0x402000,
		  .prot = 5 },
		{ .op = GMEM_CH_TLS, .start = 0x800000, .end = 0x801000 },
	};
	join_welcome_t w = { .live = 0x23, .drained = 0x20,
			     .roles = { 0, 1, 5, 0, 1, 5, 0, 1 },
			     .layout = lay, .nlayout = 2 };
	size_t n;

	if (cap < 2)
		return 0;
	switch (k) {
	case 0:
		buf[0] = 0;
		n = cap > JOIN_SLOT_LEN ? join_wire_slot_encode(&s, buf + 1) : 0;
		return n ? n + 1 : 0;
	case 1:
		buf[0] = 1;
		n = join_wire_addr_encode(a, sizeof(a), r, sizeof(r), buf + 1,
					  cap - 1);
		return n ? n + 1 : 0;
	case 2:
		buf[0] = 10; /* for node 10 mod 7 + 1 = 4, not in */
		for (int j = 0; j < 8; j++)
			if (w.live >> j & 1) {
				w.addr[j] = a;
				w.addr_len[j] = sizeof(a);
				w.rkey[j] = r;
				w.rkey_len[j] = sizeof(r);
			}
		n = join_wire_welcome_encode(&w, 8, buf + 1, cap - 1);
		return n ? n + 1 : 0;
	}
	return 0;
}

const fuzz_wire_target_t fuzz_wire_join = {
	.name = "join",
	.run = join_fuzz_run,
	.seed = join_fuzz_seed,
};
