/* The transport's message header. Every active message the transport sends
 * (HELLO, HEARTBEAT and every user id) carries one xp_msg_hdr_t, encoded
 * little-endian into the UCP active-message *header* (the header argument of
 * ucp_am_send_nbx); the payload travels as the UCP AM data, so large payloads
 * can use UCX's rendezvous protocol without a copy. All messages use one UCP
 * AM id (XP_WIRE_UCP_AM_ID); the transport dispatches on hdr.id.
 *
 * Layout (32 bytes, little-endian):
 *   0  u32 magic    XP_WIRE_MAGIC
 *   4  u16 version  XP_WIRE_VERSION
 *   6  u16 id       active-message id, < XP_AM_MAX
 *   8  u32 src      sender's rank, < size
 *  12  u32 seq      per (sender, receiver) sequence number, from 0
 *  16  u32 len      payload length in bytes (must equal the AM data length)
 *  20  u32 epoch    the VM's membership epoch when the sender sent it
 *                   (xp_set_epoch; the receiver's admit hook judges it)
 *  24  u64 cookie   job cookie
 * The receiver delivers each sender's messages in seq order, so ordering
 * holds even when UCX completes a rendezvous message after a later eager
 * one. */
#ifndef CVMM_RDMA_XP_WIRE_H
#define CVMM_RDMA_XP_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "common/wire.h"

#define XP_WIRE_MAGIC 0x31504d43u /* "CMP1" in memory order */
#define XP_WIRE_VERSION 2 /* 1: u64 len, no epoch */
#define XP_WIRE_HDR_LEN 32
#define XP_WIRE_UCP_AM_ID 7 /* the one UCP AM id the transport uses */

typedef struct xp_msg_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t id;
	uint32_t src;
	uint32_t seq;
	uint32_t len;
	uint32_t epoch;
	uint64_t cookie;
} xp_msg_hdr_t;

/* The host struct is not the wire layout: the fields are encoded one by one
 * at the widths of the layout above, which add up to XP_WIRE_HDR_LEN. */
_Static_assert(WIRE_SIZEOF(xp_msg_hdr_t, magic) +
			       WIRE_SIZEOF(xp_msg_hdr_t, version) +
			       WIRE_SIZEOF(xp_msg_hdr_t, id) +
			       WIRE_SIZEOF(xp_msg_hdr_t, src) +
			       WIRE_SIZEOF(xp_msg_hdr_t, seq) +
			       WIRE_SIZEOF(xp_msg_hdr_t, len) +
			       WIRE_SIZEOF(xp_msg_hdr_t, epoch) +
			       WIRE_SIZEOF(xp_msg_hdr_t, cookie) ==
		       XP_WIRE_HDR_LEN,
	       "xp header fields add up to XP_WIRE_HDR_LEN");

/* Fills a header for a message of len payload bytes (at most
 * XP_WIRE_LEN_MAX), epoch 0. Cannot fail. */
#define XP_WIRE_LEN_MAX 0xffffffffu
void xp_wire_fill(xp_msg_hdr_t *h, unsigned id, int src, uint32_t seq,
		  uint32_t len, uint64_t cookie);

/* Encodes h into buf[XP_WIRE_HDR_LEN] (little-endian). Cannot fail. */
void xp_wire_encode(const xp_msg_hdr_t *h, void *buf);

/* Decodes buf without validating anything but its length: CVMM_OK and *out,
 * or CVMM_ERR_INVALID (*out untouched) when len != XP_WIRE_HDR_LEN. Never
 * reads beyond len bytes. */
cvmm_status_t xp_wire_decode(const void *buf, size_t len, xp_msg_hdr_t *out);

/* Validates a received header of hdr_len bytes that came with payload_len
 * bytes of AM data, for a job of size ranks with the given cookie. self is
 * the receiver's rank when messages from itself are illegal, or -1.
 * Returns:
 *   CVMM_OK           valid; *out holds the decoded header.
 *   CVMM_ERR_PEER     from a rank of this job (magic, cookie and src are
 *                     right) but malformed (version, id or length): *out
 *                     holds the decoded header so the caller can name
 *                     out->src as the culprit.
 *   CVMM_ERR_INVALID  not attributable to a rank of this job (short header,
 *                     bad magic, wrong cookie, src out of range or self);
 *                     *out is not written.
 * On error, why (if whylen > 0) holds a lowercase reason such as
 * "wrong job cookie" or "length 12 but 16 payload bytes". Never reads beyond
 * hdr_len bytes of hdr. */
cvmm_status_t xp_wire_check(const void *hdr, size_t hdr_len,
			    size_t payload_len, int size, int self,
			    uint64_t cookie, xp_msg_hdr_t *out, char *why,
			    size_t whylen);

#endif
