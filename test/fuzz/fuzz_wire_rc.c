/* fuzz_wire decoder 5: the release memory model's message (coherence/rc.h,
 * rc_wire_decode), as the agent's handler sees each message of a batch
 * from a peer (the frames around them: rc_frame_next, test_rc.c's
 * test_frames).
 * Input: 9 control bytes (the job's node count u8, its page count u64),
 * then the payload. Checks: only CVMM_ERR_PEER with a reason and the
 * outputs untouched, or an accepted message whose fields are in range
 * (a redirect's home too), whose payload is what its type and flags say
 * (a page, or a diff that diff_check accepts), and whose header encodes
 * back to the same bytes. */
#include <string.h>

#include "coherence/diff.h"
#include "coherence/rc.h"
#include "common/wire.h"
#include "fuzz_wire.h"

#define RC_FUZZ_CTL 9

static void rc_fuzz_accepted(const rc_msg_t *m, const uint8_t *buf,
			     size_t len, const void *pl, size_t pll,
			     uint32_t nnodes, uint64_t npages)
{
	uint8_t again[RC_WIRE_LEN];

	FUZZ_CHECK(m->type >= RC_MSG_FETCH && m->type < RC_MSG_END &&
		   m->src < nnodes && m->page < npages);
	FUZZ_CHECK(len == RC_WIRE_LEN + pll);
	FUZZ_CHECK(pll == 0 ? pl == NULL : pl == buf + RC_WIRE_LEN);
	if (m->type == RC_MSG_PAGE) {
		FUZZ_CHECK(m->flags == RC_F_ZERO || m->flags == RC_F_PAGE ||
			   m->flags == RC_F_SYNC);
		FUZZ_CHECK(pll == (m->flags == RC_F_PAGE ? DIFF_PAGE : 0));
	} else if (m->type == RC_MSG_DIFF ||
		   (m->type == RC_MSG_WN && m->flags == RC_F_DIFF)) {
		FUZZ_CHECK(pll > 0 && pll <= DIFF_MAX);
		FUZZ_CHECK(diff_check(pl, pll, NULL) == CVMM_OK);
		FUZZ_CHECK(m->type == RC_MSG_WN || m->flags == 0);
	} else if (m->type == RC_MSG_WN_ACK) {
		FUZZ_CHECK((m->flags == 0 || m->flags == RC_F_DROP) &&
			   pll == 0);
	} else {
		FUZZ_CHECK(m->flags == 0 && pll == 0);
	}
	rc_wire_encode(m, again);
	FUZZ_CHECK(memcmp(again, buf, RC_WIRE_LEN) == 0);
}

static bool rc_fuzz_run(const uint8_t *data, size_t size)
{
	wire_r_t r = wire_r_init(data, size);
	rc_msg_t out, poison;
	const void *pl = &poison, *pl0 = pl;
	size_t pll = 12345;
	uint32_t nnodes;
	uint64_t npages;
	cvmm_status_t st;
	char why[96];

	nnodes = wire_r_u8(&r);
	npages = wire_r_u64(&r);
	if (r.bad)
		return false;
	data += RC_FUZZ_CTL;
	size -= RC_FUZZ_CTL;
	memset(&out, 0xa5, sizeof(out));
	poison = out;
	memset(why, 'x', sizeof(why));
	st = rc_wire_decode(data, size, nnodes, npages, &out, &pl, &pll, why,
			    sizeof(why));
	if (st == CVMM_OK) {
		rc_fuzz_accepted(&out, data, size, pl, pll, nnodes, npages);
		return true;
	}
	FUZZ_CHECK(st == CVMM_ERR_PEER);
	FUZZ_CHECK(fuzz_wire_why_ok(why, sizeof(why)));
	FUZZ_CHECK(memcmp(&out, &poison, sizeof(out)) == 0);
	FUZZ_CHECK(pl == pl0 && pll == 12345);
	return false;
}

/* A job of 3 nodes and 8 pages: a fetch, a page pushed with its bytes, a
 * diff of one run, a write notice without and with its diff. */
static size_t rc_fuzz_seed(unsigned k, uint8_t *buf, size_t cap)
{
	static const rc_msg_t seeds[] = {
		{ .type = RC_MSG_FETCH, .src = 1, .page = 5 },
		{ .type = RC_MSG_PAGE, .flags = RC_F_PAGE, .src = 2, .ver = 3,
		  .page = 0 },
		{ .type = RC_MSG_DIFF, .src = 0, .ver = 1, .seq = 7,
		  .page = 7 },
		{ .type = RC_MSG_WN, .src = 2, .ver = 4, .page = 3 },
		{ .type = RC_MSG_WN, .flags = RC_F_DIFF, .src = 2, .ver = 5,
		  .page = 3 },
	};
	static const uint8_t diff[] = { 16, 0, 2, 0, 0xab, 0xcd };
	wire_w_t w = wire_w_init(buf, cap);
	size_t pll;
	uint8_t *at;

	if (k >= sizeof(seeds) / sizeof(seeds[0]))
		return 0;
	pll = seeds[k].type == RC_MSG_DIFF || seeds[k].flags == RC_F_DIFF
		      ? sizeof(diff)
	      : seeds[k].flags == RC_F_PAGE ? DIFF_PAGE
					     : 0;
	wire_w_u8(&w, 3);
	wire_w_u64(&w, 8);
	at = wire_w_take(&w, RC_WIRE_LEN + pll);
	if (!at)
		return 0;
	rc_wire_encode(&seeds[k], at);
	if (seeds[k].type == RC_MSG_DIFF || seeds[k].flags == RC_F_DIFF)
		memcpy(at + RC_WIRE_LEN, diff, sizeof(diff));
	else
		memset(at + RC_WIRE_LEN, 0x5a, pll); /* the page, if any */
	return w.len;
}

const fuzz_wire_target_t fuzz_wire_rc = {
	.name = "rc",
	.run = rc_fuzz_run,
	.seed = rc_fuzz_seed,
};
