/* fuzz_wire decoder 1: the coherence protocol's message, as the agent's
 * handler sees a payload from a peer. Input: 9 control bytes (the job's
 * node count u8, its page count u64), then the payload. Checks: only
 * CVMM_ERR_PEER with a reason and *out untouched, or an accepted message
 * whose every field is in range, whose length is coh_wire_len, and that
 * encodes back to the same bytes. */
#include <string.h>

#include "coherence/proto_wire.h"
#include "common/wire.h"
#include "fuzz_wire.h"

#define COH_FUZZ_CTL 9

static void coh_fuzz_accepted(const coh_msg_t *m, const uint8_t *buf,
			      size_t len, uint32_t nnodes, uint64_t npages)
{
	bool has_arg = m->type == COH_MSG_FWD_READ ||
		       m->type == COH_MSG_FWD_WRITE ||
		       m->type == COH_MSG_READ_GRANT ||
		       m->type == COH_MSG_WRITE_GRANT ||
		       (m->type == COH_MSG_NACK && m->flags == COH_FLAG_DATA);
	bool grant = m->type == COH_MSG_READ_GRANT ||
		     m->type == COH_MSG_WRITE_GRANT;
	uint8_t again[COH_WIRE_LEN];

	FUZZ_CHECK(m->version == COH_WIRE_VERSION && m->type > 0 &&
		   m->type < COH_MSG_END && m->src < nnodes &&
		   m->page < npages);
	FUZZ_CHECK(has_arg ? m->arg < nnodes : m->arg == 0);
	FUZZ_CHECK(m->flags == 0 ||
		   (grant && (m->flags == COH_FLAG_ZERO ||
			      m->flags == COH_FLAG_PAGE)) ||
		   (m->type == COH_MSG_FWD_WRITE && m->flags == COH_FLAG_HAVE) ||
		   (m->type == COH_MSG_WRITE_REQ &&
		    (m->flags == COH_FLAG_AHEAD || m->flags == COH_FLAG_PLAIN)) ||
		   (m->type == COH_MSG_NACK && m->flags == COH_FLAG_DATA));
	FUZZ_CHECK(len == coh_wire_len(m));
	FUZZ_CHECK(len == COH_WIRE_LEN + ((m->flags & COH_FLAG_PAGE) ?
						  CVMM_PAGE_SIZE : 0));
	coh_wire_encode(m, again);
	FUZZ_CHECK(memcmp(again, buf, COH_WIRE_LEN) == 0);
}

static bool coh_fuzz_run(const uint8_t *data, size_t size)
{
	wire_r_t r = wire_r_init(data, size);
	coh_msg_t out, poison;
	uint32_t nnodes;
	uint64_t npages;
	cvmm_status_t st;
	char why[96];

	nnodes = wire_r_u8(&r);
	npages = wire_r_u64(&r);
	if (r.bad)
		return false;
	data += COH_FUZZ_CTL;
	size -= COH_FUZZ_CTL;
	memset(&out, 0xa5, sizeof(out));
	poison = out;
	memset(why, 'x', sizeof(why));
	st = coh_wire_decode(data, size, nnodes, npages, &out, why,
			     sizeof(why));
	if (st == CVMM_OK) {
		coh_fuzz_accepted(&out, data, size, nnodes, npages);
		return true;
	}
	FUZZ_CHECK(st == CVMM_ERR_PEER);
	FUZZ_CHECK(fuzz_wire_why_ok(why, sizeof(why)));
	FUZZ_CHECK(memcmp(&out, &poison, sizeof(out)) == 0);
	return false;
}

/* A job of 3 nodes and 8 pages: a read request, a forwarded write for a
 * requester holding the page, a grant pushing the page, a zero grant, a
 * plain store's write request, a refusal naming a data page's home. */
static size_t coh_fuzz_seed(unsigned k, uint8_t *buf, size_t cap)
{
	static const coh_msg_t seeds[] = {
		{ COH_WIRE_VERSION, COH_MSG_READ_REQ, 1, 0, 0, 5 },
		{ COH_WIRE_VERSION, COH_MSG_FWD_WRITE, 0, 2, COH_FLAG_HAVE, 7 },
		{ COH_WIRE_VERSION, COH_MSG_READ_GRANT, 2, 2, COH_FLAG_PAGE,
		  0 },
		{ COH_WIRE_VERSION, COH_MSG_WRITE_GRANT, 0, 1, COH_FLAG_ZERO,
		  3 },
		{ COH_WIRE_VERSION, COH_MSG_WRITE_REQ, 2, 0, COH_FLAG_PLAIN,
		  4 },
		{ COH_WIRE_VERSION, COH_MSG_NACK, 1, 2, COH_FLAG_DATA, 6 },
	};
	wire_w_t w = wire_w_init(buf, cap);
	size_t body;
	uint8_t *at;

	if (k >= sizeof(seeds) / sizeof(seeds[0]))
		return 0;
	wire_w_u8(&w, 3);
	wire_w_u64(&w, 8);
	body = coh_wire_len(&seeds[k]);
	at = wire_w_take(&w, body);
	if (!at)
		return 0;
	memset(at, 0x5a, body); /* the pushed page, if any */
	coh_wire_encode(&seeds[k], at);
	return w.len;
}

const fuzz_wire_target_t fuzz_wire_coh = {
	.name = "coh",
	.run = coh_fuzz_run,
	.seed = coh_fuzz_seed,
};
