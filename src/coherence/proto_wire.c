/* The coherence protocol's control message on the wire (proto_wire.h):
 * encoding, and decoding that checks every field against the job before a
 * peer's message reaches the transition tables. */
#include "coherence/proto_wire.h"

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
		[COH_MSG_CONFIRM_WRITE] = "confirm_write" };

	return type > 0 && type < COH_MSG_END ? names[type] : "?";
}

static void put_le(uint8_t *b, uint64_t v, int len)
{
	for (int i = 0; i < len; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *b, int len)
{
	uint64_t v = 0;

	for (int i = len - 1; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

void coh_wire_encode(const coh_msg_t *m, void *buf)
{
	uint8_t *b = buf;

	put_le(b, m->version, 2);
	put_le(b + 2, m->type, 2);
	put_le(b + 4, m->src, 4);
	put_le(b + 8, m->arg, 4);
	put_le(b + 12, m->flags, 4);
	put_le(b + 16, m->page, 8);
}

static bool type_has_arg(unsigned type)
{
	return type == COH_MSG_FWD_READ || type == COH_MSG_FWD_WRITE ||
	       type == COH_MSG_READ_GRANT || type == COH_MSG_WRITE_GRANT;
}

/* Grants: none, ZERO or PAGE; FWD_WRITE: none or HAVE; others none. */
static bool flags_valid(unsigned type, uint32_t flags)
{
	if (type == COH_MSG_READ_GRANT || type == COH_MSG_WRITE_GRANT)
		return flags == 0 || flags == COH_FLAG_ZERO ||
		       flags == COH_FLAG_PAGE;
	if (type == COH_MSG_FWD_WRITE)
		return flags == 0 || flags == COH_FLAG_HAVE;
	return flags == 0;
}

size_t coh_wire_len(const coh_msg_t *m)
{
	return COH_WIRE_LEN + (m->flags & COH_FLAG_PAGE ? CVMM_PAGE_SIZE : 0);
}

cvmm_status_t coh_wire_decode(const void *buf, size_t len, uint32_t nnodes,
			      uint64_t npages, coh_msg_t *out, char *why,
			      size_t whylen)
{
	const uint8_t *b = buf;
	coh_msg_t m;
	const char *bad = NULL;
	char tmp[96];

	if (len < COH_WIRE_LEN) {
		snprintf(tmp, sizeof(tmp), "length %zu, not %d", len,
			 COH_WIRE_LEN);
		bad = tmp;
		goto err;
	}
	m = (coh_msg_t){ .version = (uint16_t)get_le(b, 2),
			 .type = (uint16_t)get_le(b + 2, 2),
			 .src = (uint32_t)get_le(b + 4, 4),
			 .arg = (uint32_t)get_le(b + 8, 4),
			 .flags = (uint32_t)get_le(b + 12, 4),
			 .page = get_le(b + 16, 8) };
	if (m.version != COH_WIRE_VERSION)
		bad = "unknown version";
	else if (m.type == 0 || m.type >= COH_MSG_END)
		bad = "unknown message type";
	else if (m.src >= nnodes)
		bad = "source node out of range";
	else if (type_has_arg(m.type) ? m.arg >= nnodes : m.arg != 0)
		bad = "argument node out of range";
	else if (!flags_valid(m.type, m.flags))
		bad = "flags not valid for the type";
	else if (m.page >= npages)
		bad = "page out of range";
	else if (len != coh_wire_len(&m)) {
		snprintf(tmp, sizeof(tmp), "length %zu, not %zu", len,
			 coh_wire_len(&m));
		bad = tmp;
	}
	if (!bad) {
		*out = m;
		return CVMM_OK;
	}
err:
	if (whylen > 0)
		snprintf(why, whylen, "%s", bad);
	return CVMM_ERR_PEER;
}
