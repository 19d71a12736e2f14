/* libFuzzer target: the transport's message-header checker on arbitrary
 * bytes, as a receiver sees them from a peer. Input layout: 8 control bytes
 * (payload length u32 LE, job size, own rank + 1, two unused), then the
 * header bytes exactly as they came in the UCP AM header. Besides the
 * sanitizers' checks: the status is one of the three documented ones, a
 * rejection has a NUL-terminated reason, *out is written exactly when the
 * sender is attributable, and an accepted header re-encodes to the same
 * bytes and satisfies every rule. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rdma/xp.h"
#include "rdma/xp_wire.h"

#define FUZZ_COOKIE 0x1122334455667788ull

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_accepted(const xp_msg_hdr_t *h, const uint8_t *hdr,
			   size_t hdr_len, size_t payload, int nodes, int self)
{
	uint8_t again[XP_WIRE_HDR_LEN];

	if (hdr_len != XP_WIRE_HDR_LEN || h->magic != XP_WIRE_MAGIC ||
	    h->version != XP_WIRE_VERSION || h->id >= XP_AM_MAX ||
	    h->src >= (uint32_t)nodes || (int)h->src == self ||
	    h->len != payload || h->cookie != FUZZ_COOKIE)
		__builtin_trap();
	xp_wire_encode(h, again);
	if (memcmp(again, hdr, XP_WIRE_HDR_LEN) != 0)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	xp_msg_hdr_t out, poison;
	uint32_t payload;
	int nodes, self;
	cvmm_status_t st;
	char why[80];

	if (size < 8)
		return 0;
	memcpy(&payload, data, 4);
	nodes = data[4] % 9;          /* 0..8: 0 accepts nobody */
	self = (int)(data[5] % 10) - 1; /* -1 (none) .. 8 */
	memset(&out, 0xa5, sizeof(out));
	poison = out;
	memset(why, 'x', sizeof(why));
	st = xp_wire_check(data + 8, size - 8, payload, nodes, self,
			   FUZZ_COOKIE, &out, why, sizeof(why));
	if (st == CVMM_OK) {
		check_accepted(&out, data + 8, size - 8, payload, nodes, self);
		return 0;
	}
	if (st != CVMM_ERR_INVALID && st != CVMM_ERR_PEER)
		__builtin_trap();
	if (why[0] == '\0' || !memchr(why, '\0', sizeof(why)))
		__builtin_trap();
	if (st == CVMM_ERR_INVALID && memcmp(&out, &poison, sizeof(out)))
		__builtin_trap();
	if (st == CVMM_ERR_PEER &&
	    (out.src >= (uint32_t)nodes || out.cookie != FUZZ_COOKIE ||
	     out.magic != XP_WIRE_MAGIC))
		__builtin_trap();
	return 0;
}
