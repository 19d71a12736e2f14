/* The coherence protocol's control message on the wire (proto_wire.h):
 * encoding, and decoding that checks every field against the job before a
 * peer's message reaches the transition tables. */
#include "coherence/proto_wire.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>

const char *coh_msg_type_str(unsigned type)
{
	static const char *const names[COH_MSG_END] = {
		[COH_MSG_READ_REQ] = "read_req",
		[COH_MSG_WRITE_REQ] = "write_req",
		[COH_MSG_FWD_READ] = "fwd_read",
		[COH_MSG_FWD_WRITE] = "fwd_write",
		[COH_MSG_INVALIDATE] = "invalidate",
		[COH_MSG_INV_ACK] = "inv_ack",
		[COH_MSG_READ_GRANT] = "read_grant",
		[COH_MSG_WRITE_GRANT] = "write_grant",
		[COH_MSG_CONFIRM_READ] = "confirm_read",
		[COH_MSG_CONFIRM_WRITE] = "confirm_write",
		[COH_MSG_NACK] = "nack",
		[COH_MSG_PROMOTE] = "promote",
		[COH_MSG_PROMOTED] = "promoted" };

	return type > 0 && type < COH_MSG_END ? names[type] : "?";
}

void coh_wire_encode(const coh_msg_t *m, void *buf)
{
	wire_w_t w = wire_w_init(buf, COH_WIRE_LEN);

	wire_w_u16(&w, m->version);
	wire_w_u16(&w, m->type);
	wire_w_u32(&w, m->src);
	wire_w_u32(&w, m->arg);
	wire_w_u32(&w, m->flags);
	wire_w_u64(&w, m->page);
	assert(wire_w_done(&w));
}

static bool type_has_arg(unsigned type, uint32_t flags)
{
	return type == COH_MSG_FWD_READ || type == COH_MSG_FWD_WRITE ||
	       type == COH_MSG_READ_GRANT || type == COH_MSG_WRITE_GRANT ||
	       (type == COH_MSG_NACK && flags == COH_FLAG_DATA);
}

/* Grants: none, ZERO or PAGE; FWD_WRITE: none or HAVE; WRITE_REQ: none,
 * AHEAD, PLAIN or UPGRADE; NACK: none or DATA; others none. */
static bool flags_valid(unsigned type, uint32_t flags)
{
	if (type == COH_MSG_READ_GRANT || type == COH_MSG_WRITE_GRANT)
		return flags == 0 || flags == COH_FLAG_ZERO ||
		       flags == COH_FLAG_PAGE;
	if (type == COH_MSG_FWD_WRITE)
		return flags == 0 || flags == COH_FLAG_HAVE;
	if (type == COH_MSG_WRITE_REQ)
		return flags == 0 || flags == COH_FLAG_AHEAD ||
		       flags == COH_FLAG_PLAIN || flags == COH_FLAG_UPGRADE;
	if (type == COH_MSG_NACK)
		return flags == 0 || flags == COH_FLAG_DATA;
	return flags == 0;
}

size_t coh_wire_len(const coh_msg_t *m)
{
	return COH_WIRE_LEN + (m->flags & COH_FLAG_PAGE ? CVMM_PAGE_SIZE : 0);
}

size_t coh_wire_next(const void *buf, size_t len)
{
	wire_r_t r;
	coh_msg_t m = { 0 };
	size_t need;

	if (!buf || len < COH_WIRE_LEN)
		return 0;
	r = wire_r_init((const uint8_t *)buf + 12, 4);
	m.flags = wire_r_u32(&r);
	need = coh_wire_len(&m);
	return need <= len ? need : 0;
}

/* Returns why m is not a message of this job, or NULL. */
static const char *coh_wire_check(const coh_msg_t *m, uint32_t nnodes,
				  uint64_t npages)
{
	if (m->version != COH_WIRE_VERSION)
		return "unknown version";
	if (m->type == 0 || m->type >= COH_MSG_END)
		return "unknown message type";
	if (m->src >= nnodes)
		return "source node out of range";
	if (!flags_valid(m->type, m->flags))
		return "flags not valid for the type";
	if (type_has_arg(m->type, m->flags) ? m->arg >= nnodes : m->arg != 0)
		return "argument node out of range";
	if (m->page >= npages)
		return "page out of range";
	return NULL;
}

cvmm_status_t coh_wire_decode(const void *buf, size_t len, uint32_t nnodes,
			      uint64_t npages, coh_msg_t *out, char *why,
			      size_t whylen)
{
	wire_r_t r;
	const char *bad;
	coh_msg_t m;
	char tmp[64];

	if (!buf)
		len = 0;
	r = wire_r_init(buf, len);
	m.version = wire_r_u16(&r);
	m.type = wire_r_u16(&r);
	m.src = wire_r_u32(&r);
	m.arg = wire_r_u32(&r);
	m.flags = wire_r_u32(&r);
	m.page = wire_r_u64(&r);
	if (r.bad) {
		snprintf(tmp, sizeof(tmp), "length %zu, not %d", len,
			 COH_WIRE_LEN);
		bad = tmp;
	} else {
		bad = coh_wire_check(&m, nnodes, npages);
	}
	if (!bad && (m.flags & COH_FLAG_PAGE))
		wire_r_take(&r, CVMM_PAGE_SIZE); /* the pushed page */
	if (!bad && !wire_r_done(&r)) {
		snprintf(tmp, sizeof(tmp), "length %zu, not %zu", len,
			 coh_wire_len(&m));
		bad = tmp;
	}
	if (bad) {
		if (why && whylen > 0)
			snprintf(why, whylen, "%s", bad);
		return CVMM_ERR_PEER;
	}
	*out = m;
	return CVMM_OK;
}
