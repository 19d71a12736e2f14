/* The coherence protocol's control message (proto.c's message script).
 * Carried as the payload of one transport active message. A grant may
 * carry the page after it (COH_FLAG_PAGE: the owner pushes its copy with
 * the grant, straight to the requester); otherwise the requester copies
 * the page with a one-sided get from the owner's agent view. Page bytes
 * never pass through the manager.
 *
 * Layout (24 bytes, little-endian):
 *   0  u16 version   COH_WIRE_VERSION
 *   2  u16 type      coh_msg_type_t, COH_MSG_READ_REQ .. COH_MSG_CONFIRM_WRITE
 *   4  u32 src       sender's node, < nnodes
 *   8  u32 arg       requester (FWD_*), owner (*_GRANT) or home (NACK
 *                    with COH_FLAG_DATA), < nnodes; 0 else
 *  12  u32 flags     on *_GRANT: COH_FLAG_ZERO (the page is all zeros:
 *                    skip the copy) or COH_FLAG_PAGE (CVMM_PAGE_SIZE of
 *                    page follow the message); on FWD_WRITE:
 *                    COH_FLAG_HAVE (the requester holds a current copy:
 *                    grant without the bytes); on WRITE_REQ:
 *                    COH_FLAG_AHEAD (a write-ahead: the manager may
 *                    answer NACK instead) or COH_FLAG_PLAIN (the fault
 *                    was a plain store: release model); on NACK:
 *                    COH_FLAG_DATA (the page is a data page of the
 *                    release model now, arg = its home); 0 otherwise
 *  16  u64 page      guest page index, < npages
 *  24  (COH_FLAG_PAGE only) the page's bytes
 *
 * One transport message may carry several of these back to back (the
 * messages of one step to one node, proto.h send_many): each is read by
 * its own length, coh_wire_next. */
#ifndef CVMM_COHERENCE_PROTO_WIRE_H
#define CVMM_COHERENCE_PROTO_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "common/page.h"
#include "common/status.h"
#include "common/wire.h"

#define COH_WIRE_VERSION 3
#define COH_WIRE_LEN 24
#define COH_FLAG_ZERO 0x1 /* grant: the owner's copy is all zeros */
#define COH_FLAG_PAGE 0x2 /* grant: the owner's copy follows */
#define COH_FLAG_HAVE 0x4 /* fwd_write: the requester's copy is current */
#define COH_FLAG_AHEAD 0x8 /* write_req: a write-ahead, which the manager
			      may refuse (NACK) */
#define COH_FLAG_PLAIN 0x10 /* write_req: a plain store faulted (the
			       release model counts these: promotion) */
#define COH_FLAG_DATA 0x20 /* nack: the page is a data page now, arg =
			      its home: ask the release model */
#define COH_FLAG_UPGRADE 0x40 /* write_req: an upgrade-ahead of a page
				 the asker holds read-shared, which the
				 manager grants only to the owner (else
				 NACK); counted as no store (v3) */

typedef enum coh_msg_type {
	COH_MSG_READ_REQ = 1, /* requester -> manager */
	COH_MSG_WRITE_REQ,    /* requester -> manager */
	COH_MSG_FWD_READ,     /* manager -> owner, arg = requester */
	COH_MSG_FWD_WRITE,    /* manager -> owner, arg = requester */
	COH_MSG_INVALIDATE,   /* manager -> sharer */
	COH_MSG_INV_ACK,      /* sharer -> manager */
	COH_MSG_READ_GRANT,   /* owner -> requester, arg = owner */
	COH_MSG_WRITE_GRANT,  /* owner or manager -> requester, arg = owner */
	COH_MSG_CONFIRM_READ, /* requester -> manager */
	COH_MSG_CONFIRM_WRITE, /* requester -> manager */
	COH_MSG_NACK,         /* manager -> requester: a write-ahead refused,
				 or (DATA) the page left this protocol */
	COH_MSG_PROMOTE,      /* manager -> owner: the page becomes a data
				 page of the release model, homed here */
	COH_MSG_PROMOTED,     /* owner -> manager: done */
	COH_MSG_END
} coh_msg_type_t;

typedef struct coh_msg {
	uint16_t version;
	uint16_t type;
	uint32_t src;
	uint32_t arg;
	uint32_t flags;
	uint64_t page;
} coh_msg_t;

/* The host struct is not the wire layout: the fields are encoded one by one
 * at the widths of the layout above, which add up to COH_WIRE_LEN. */
_Static_assert(WIRE_SIZEOF(coh_msg_t, version) + WIRE_SIZEOF(coh_msg_t, type) +
			       WIRE_SIZEOF(coh_msg_t, src) +
			       WIRE_SIZEOF(coh_msg_t, arg) +
			       WIRE_SIZEOF(coh_msg_t, flags) +
			       WIRE_SIZEOF(coh_msg_t, page) ==
		       COH_WIRE_LEN,
	       "coh_msg_t fields add up to COH_WIRE_LEN");

/* Encodes m into buf[COH_WIRE_LEN], little-endian. Cannot fail. */
void coh_wire_encode(const coh_msg_t *m, void *buf);

/* Bytes on the wire for m: COH_WIRE_LEN, plus the page with COH_FLAG_PAGE. */
size_t coh_wire_len(const coh_msg_t *m);

/* Decodes and checks len bytes from a peer of a job with nnodes nodes and
 * npages guest pages: length, version, type, src, arg (for the types that
 * carry one; 0 otherwise), flags and page range; len must be
 * coh_wire_len of the message (a pushed page's bytes start at buf +
 * COH_WIRE_LEN). Returns CVMM_OK and writes *out, or CVMM_ERR_PEER with a
 * lowercase reason in why (if whylen > 0) and *out untouched. Never reads
 * beyond len bytes; a NULL buf is a message of no bytes. */
cvmm_status_t coh_wire_decode(const void *buf, size_t len, uint32_t nnodes,
			      uint64_t npages, coh_msg_t *out, char *why,
			      size_t whylen);

/* The length of the first message in buf[0..len), read from its flags
 * (COH_WIRE_LEN, or with COH_FLAG_PAGE COH_WIRE_LEN + CVMM_PAGE_SIZE), or
 * 0 when len cannot hold it. coh_wire_decode checks the rest. */
size_t coh_wire_next(const void *buf, size_t len);

/* Returns the message type's name ("read_req"), or "?" out of range. */
const char *coh_msg_type_str(unsigned type);

#endif
