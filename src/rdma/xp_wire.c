/* The transport's message header: encoding, decoding and validation. */
#include "rdma/xp_wire.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>

#include "rdma/xp.h"

void xp_wire_fill(xp_msg_hdr_t *h, unsigned id, int src, uint32_t seq,
		  uint32_t len, uint64_t cookie)
{
	h->magic = XP_WIRE_MAGIC;
	h->version = XP_WIRE_VERSION;
	h->id = (uint16_t)id;
	h->src = (uint32_t)src;
	h->seq = seq;
	h->len = len;
	h->epoch = 0;
	h->cookie = cookie;
}

void xp_wire_encode(const xp_msg_hdr_t *h, void *buf)
{
	wire_w_t w = wire_w_init(buf, XP_WIRE_HDR_LEN);

	wire_w_u32(&w, h->magic);
	wire_w_u16(&w, h->version);
	wire_w_u16(&w, h->id);
	wire_w_u32(&w, h->src);
	wire_w_u32(&w, h->seq);
	wire_w_u32(&w, h->len);
	wire_w_u32(&w, h->epoch);
	wire_w_u64(&w, h->cookie);
	assert(wire_w_done(&w));
}

cvmm_status_t xp_wire_decode(const void *buf, size_t len, xp_msg_hdr_t *out)
{
	wire_r_t r = wire_r_init(buf, buf ? len : 0);
	xp_msg_hdr_t h;

	h.magic = wire_r_u32(&r);
	h.version = wire_r_u16(&r);
	h.id = wire_r_u16(&r);
	h.src = wire_r_u32(&r);
	h.seq = wire_r_u32(&r);
	h.len = wire_r_u32(&r);
	h.epoch = wire_r_u32(&r);
	h.cookie = wire_r_u64(&r);
	if (!wire_r_done(&r))
		return CVMM_ERR_INVALID;
	*out = h;
	return CVMM_OK;
}

static cvmm_status_t xp_wire_reject(cvmm_status_t st, char *why, size_t whylen,
				    const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static cvmm_status_t xp_wire_reject(cvmm_status_t st, char *why, size_t whylen,
				    const char *fmt, ...)
{
	va_list ap;

	if (why && whylen > 0) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return st;
}

/* The checks that decide whether the message belongs to this job at all. */
static cvmm_status_t xp_wire_check_origin(const xp_msg_hdr_t *h, int size,
					  int self, uint64_t cookie, char *why,
					  size_t whylen)
{
	if (h->magic != XP_WIRE_MAGIC)
		return xp_wire_reject(CVMM_ERR_INVALID, why, whylen,
				      "bad magic 0x%08x", h->magic);
	if (h->cookie != cookie)
		return xp_wire_reject(CVMM_ERR_INVALID, why, whylen,
				      "wrong job cookie");
	if (size <= 0 || h->src >= (uint32_t)size)
		return xp_wire_reject(CVMM_ERR_INVALID, why, whylen,
				      "sender %u out of range (size %d)",
				      h->src, size);
	if (self >= 0 && h->src == (uint32_t)self)
		return xp_wire_reject(CVMM_ERR_INVALID, why, whylen,
				      "sender %u is this node", h->src);
	return CVMM_OK;
}

cvmm_status_t xp_wire_check(const void *hdr, size_t hdr_len,
			    size_t payload_len, int size, int self,
			    uint64_t cookie, xp_msg_hdr_t *out, char *why,
			    size_t whylen)
{
	xp_msg_hdr_t h;
	cvmm_status_t st;

	if (!hdr || xp_wire_decode(hdr, hdr_len, &h) != CVMM_OK)
		return xp_wire_reject(CVMM_ERR_INVALID, why, whylen,
				      "header of %zu bytes, expected %d",
				      hdr ? hdr_len : 0, XP_WIRE_HDR_LEN);
	st = xp_wire_check_origin(&h, size, self, cookie, why, whylen);
	if (st != CVMM_OK)
		return st;
	*out = h;
	if (h.version != XP_WIRE_VERSION)
		return xp_wire_reject(CVMM_ERR_PEER, why, whylen,
				      "version %u, expected %u", h.version,
				      XP_WIRE_VERSION);
	if (h.id >= XP_AM_MAX)
		return xp_wire_reject(CVMM_ERR_PEER, why, whylen,
				      "message id %u out of range", h.id);
	if (h.len != (uint64_t)payload_len)
		return xp_wire_reject(CVMM_ERR_PEER, why, whylen,
				      "length %llu but %zu payload bytes",
				      (unsigned long long)h.len, payload_len);
	return CVMM_OK;
}
