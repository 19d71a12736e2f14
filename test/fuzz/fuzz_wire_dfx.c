/* fuzz_wire decoder 2: the distributed futex message, as dfx_recv sees a
 * payload from a peer. Input: 3 control bytes (node count, receiver + 1,
 * sender + 1: each may be out of range), then the payload. Checks: only
 * CVMM_ERR_PEER with a reason and *out untouched, or an accepted message
 * that obeys every rule of dfutex.h and encodes back to the same bytes. */
#include <limits.h>
#include <string.h>

#include "coherence/dfutex.h"
#include "common/wire.h"
#include "fuzz_wire.h"

#define DFX_FUZZ_CTL 3

static void dfx_fuzz_accepted(const dfx_msg_t *m, const uint8_t *buf,
			      size_t len, int src, int self, int nnodes)
{
	bool request = m->type == DFX_MSG_REG || m->type == DFX_MSG_CANCEL ||
		       m->type == DFX_MSG_WAKE;
	bool has_bitset = m->type == DFX_MSG_REG || m->type == DFX_MSG_WAKE;
	uint64_t arg_max = m->type == DFX_MSG_WAKE ||
					   m->type == DFX_MSG_WAKE_ACK ?
				   INT_MAX :
			   m->type == DFX_MSG_CANCEL_ACK ? 1 :
							   0;
	int home = (int)((m->uaddr >> 12) % (uint64_t)nnodes);
	uint8_t again[DFX_WIRE_LEN];

	FUZZ_CHECK(len == DFX_WIRE_LEN && nnodes > 0 && src >= 0 &&
		   src < nnodes && self >= 0 && self < nnodes);
	FUZZ_CHECK(m->version == DFX_WIRE_VERSION && m->type > 0 &&
		   m->type < DFX_MSG_END && (m->uaddr & 2) == 0 && m->id != 0);
	/* the key: a 4-aligned word address, bit 0 DFX_SHARED (dfutex.h) */
	FUZZ_CHECK(has_bitset == (m->bitset != 0) && m->arg <= arg_max);
	FUZZ_CHECK(request ? home == self : home == src);
	dfx_wire_encode(m, again);
	FUZZ_CHECK(memcmp(again, buf, DFX_WIRE_LEN) == 0);
}

static bool dfx_fuzz_run(const uint8_t *data, size_t size)
{
	wire_r_t r = wire_r_init(data, size);
	dfx_msg_t out, poison;
	int nnodes, self, src;
	const char *why = NULL;
	cvmm_status_t st;

	nnodes = wire_r_u8(&r) % 9;		/* 0..8 */
	self = (int)(wire_r_u8(&r) % 10) - 1; /* -1..8 */
	src = (int)(wire_r_u8(&r) % 10) - 1;
	if (r.bad)
		return false;
	data += DFX_FUZZ_CTL;
	size -= DFX_FUZZ_CTL;
	memset(&out, 0xa5, sizeof(out));
	poison = out;
	st = dfx_wire_decode(data, size, src, self, nnodes, NULL, &out,
			     &why);
	if (st == CVMM_OK) {
		dfx_fuzz_accepted(&out, data, size, src, self, nnodes);
		return true;
	}
	FUZZ_CHECK(st == CVMM_ERR_PEER);
	FUZZ_CHECK(why && why[0] != '\0');
	FUZZ_CHECK(memcmp(&out, &poison, sizeof(out)) == 0);
	return false;
}

/* A job of 3 nodes; page 0x30 has home 0 (0x30 % 3). A REG from node 1 to
 * the home, a WAKE_ACK from the home to node 2, a CANCEL_ACK. */
static size_t dfx_fuzz_seed(unsigned k, uint8_t *buf, size_t cap)
{
	static const struct {
		uint8_t self, src;
		dfx_msg_t m;
	} seeds[] = {
		{ 0, 1, { DFX_WIRE_VERSION, DFX_MSG_REG, ~0u, 0x30010, 1, 0 } },
		{ 2, 0,
		  { DFX_WIRE_VERSION, DFX_MSG_WAKE_ACK, 0, 0x30ffc, 9, 3 } },
		{ 1, 0,
		  { DFX_WIRE_VERSION, DFX_MSG_CANCEL_ACK, 0, 0x30000, 2, 1 } },
	};
	wire_w_t w = wire_w_init(buf, cap);
	uint8_t *at;

	if (k >= sizeof(seeds) / sizeof(seeds[0]))
		return 0;
	wire_w_u8(&w, 3);
	wire_w_u8(&w, seeds[k].self + 1);
	wire_w_u8(&w, seeds[k].src + 1);
	at = wire_w_take(&w, DFX_WIRE_LEN);
	if (!at)
		return 0;
	dfx_wire_encode(&seeds[k].m, at);
	return w.len;
}

const fuzz_wire_target_t fuzz_wire_dfx = {
	.name = "dfx",
	.run = dfx_fuzz_run,
	.seed = dfx_fuzz_seed,
};
