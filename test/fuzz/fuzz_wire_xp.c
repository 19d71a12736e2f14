/* fuzz_wire decoder 0: the transport's message-header checker, as a
 * receiver sees a header from a peer. Input: 8 control bytes (payload
 * length u32, job size, own rank + 1, two unused), then the header bytes
 * exactly as they came in the UCP AM header. Checks: the status is one of
 * the three documented ones, a rejection has a reason, *out is written
 * exactly when the sender is attributable, and an accepted header satisfies
 * every rule and encodes back to the same bytes. */
#include <string.h>

#include "common/wire.h"
#include "fuzz_wire.h"
#include "rdma/xp.h"
#include "rdma/xp_wire.h"

#define XP_FUZZ_COOKIE 0x1122334455667788ull
#define XP_FUZZ_CTL 8

static void xp_fuzz_accepted(const xp_msg_hdr_t *h, const uint8_t *hdr,
			     size_t hdr_len, size_t payload, int nodes,
			     int self)
{
	uint8_t again[XP_WIRE_HDR_LEN];

	FUZZ_CHECK(hdr_len == XP_WIRE_HDR_LEN && h->magic == XP_WIRE_MAGIC &&
		   h->version == XP_WIRE_VERSION && h->id < XP_AM_MAX &&
		   h->src < (uint32_t)nodes && (int)h->src != self &&
		   h->len == payload && h->cookie == XP_FUZZ_COOKIE);
	xp_wire_encode(h, again);
	FUZZ_CHECK(memcmp(again, hdr, XP_WIRE_HDR_LEN) == 0);
}

static bool xp_fuzz_run(const uint8_t *data, size_t size)
{
	wire_r_t r = wire_r_init(data, size);
	xp_msg_hdr_t out, poison;
	uint32_t payload;
	int nodes, self;
	cvmm_status_t st;
	char why[80];

	payload = wire_r_u32(&r);
	nodes = wire_r_u8(&r) % 9;		/* 0..8: 0 accepts nobody */
	self = (int)(wire_r_u8(&r) % 10) - 1; /* -1 (none) .. 8 */
	wire_r_take(&r, 2);
	if (r.bad)
		return false;
	data += XP_FUZZ_CTL;
	size -= XP_FUZZ_CTL;
	memset(&out, 0xa5, sizeof(out));
	poison = out;
	memset(why, 'x', sizeof(why));
	st = xp_wire_check(data, size, payload, nodes, self, XP_FUZZ_COOKIE,
			   &out, why, sizeof(why));
	if (st == CVMM_OK) {
		xp_fuzz_accepted(&out, data, size, payload, nodes, self);
		return true;
	}
	FUZZ_CHECK(st == CVMM_ERR_INVALID || st == CVMM_ERR_PEER);
	FUZZ_CHECK(fuzz_wire_why_ok(why, sizeof(why)));
	if (st == CVMM_ERR_INVALID)
		FUZZ_CHECK(memcmp(&out, &poison, sizeof(out)) == 0);
	else
		FUZZ_CHECK(out.src < (uint32_t)nodes &&
			   out.cookie == XP_FUZZ_COOKIE &&
			   out.magic == XP_WIRE_MAGIC);
	return false;
}

/* 0: a user message of 8 bytes from rank 1 of 4; 1: one of the
 * transport's own ids with no payload from rank 7 of 8, to rank 0. */
static size_t xp_fuzz_seed(unsigned k, uint8_t *buf, size_t cap)
{
	wire_w_t w = wire_w_init(buf, cap);
	xp_msg_hdr_t h;
	uint8_t *at;

	if (k > 1)
		return 0;
	wire_w_u32(&w, k ? 0 : 8);
	wire_w_u8(&w, k ? 8 : 4);
	wire_w_u8(&w, k ? 1 : 0);
	wire_w_u16(&w, 0);
	if (k)
		xp_wire_fill(&h, 1, 7, 41, 0, XP_FUZZ_COOKIE);
	else
		xp_wire_fill(&h, XP_AM_USER, 1, 0, 8, XP_FUZZ_COOKIE);
	at = wire_w_take(&w, XP_WIRE_HDR_LEN);
	if (!at)
		return 0;
	xp_wire_encode(&h, at);
	return w.len;
}

const fuzz_wire_target_t fuzz_wire_xp = {
	.name = "xp",
	.run = xp_fuzz_run,
	.seed = xp_fuzz_seed,
};
