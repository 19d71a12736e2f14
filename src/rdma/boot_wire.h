/* Bootstrap coordinator protocol: what the launcher (cvmm run -n N) or rank 0
 * (--coordinator) serves to the ranks over a stream socket (TCP or UNIX).
 * All fields are little-endian; every message starts with a header
 * (layouts below; encoding and decoding in boot_sock.c).
 *
 *   client                                server
 *   HELLO {cookie, rank, size}    ->      cookie checked first: a wrong one
 *                                         is dropped silently (and logged);
 *                                         then rank range, size, duplicates
 *                                 <-      WELCOME, or ABORT {reason} + close
 *   GATHER seq {blob}             ->      kept until every rank sent seq
 *                                 <-      TABLE seq {len, blob} x size
 *   BARRIER seq                   ->      same, without data
 *                                 <-      RELEASE seq
 *   ...                                   any number of rounds, seq += 1
 *                                 <-      ABORT {reason, rank}: the job
 *                                         failed (a rank was lost, a round
 *                                         timed out, a protocol error)
 *
 * Allgathers and barriers share one round counter (seq, from 0). A rank
 * that closes its connection while a round is open fails the job. */
#ifndef CVMM_RDMA_BOOT_WIRE_H
#define CVMM_RDMA_BOOT_WIRE_H

#include <stdint.h>

#include "common/wire.h"

#define BOOT_WIRE_MAGIC 0x54425643u /* "CVBT" */
#define BOOT_WIRE_VERSION 1u
#define BOOT_WIRE_BLOB_MAX (1u << 20)    /* one rank's allgather blob */
#define BOOT_WIRE_SIZE_MAX 65536u        /* ranks in a job */
#define BOOT_WIRE_TABLE_MAX (256u << 20) /* a whole TABLE payload */

typedef enum boot_wire_type {
	BOOT_MSG_HELLO = 1,
	BOOT_MSG_WELCOME,
	BOOT_MSG_GATHER,
	BOOT_MSG_TABLE,
	BOOT_MSG_BARRIER,
	BOOT_MSG_RELEASE,
	BOOT_MSG_ABORT,
} boot_wire_type_t;

/* Why the server refused a rank or gave up on the job. */
typedef enum boot_wire_reason {
	BOOT_ABORT_NONE = 0, /* not sent */
	BOOT_ABORT_SIZE,     /* HELLO's size is not the job's */
	BOOT_ABORT_RANK,     /* HELLO's rank is out of range */
	BOOT_ABORT_DUP,      /* HELLO's rank has already joined */
	BOOT_ABORT_LOST,     /* rank disconnected while a round was open */
	BOOT_ABORT_TIMEOUT,  /* rank did not reach the round in time */
	BOOT_ABORT_PROTO,    /* rank sent a malformed message */
	BOOT_ABORT_TOO_BIG,  /* the round's table exceeds BOOT_WIRE_TABLE_MAX */
	BOOT_ABORT_LAST,
} boot_wire_reason_t;

/* Every message: header, then len bytes of payload.
 *   0  u32 magic    BOOT_WIRE_MAGIC
 *   4  u16 version  BOOT_WIRE_VERSION
 *   6  u16 type     boot_wire_type_t
 *   8  u32 seq      round for GATHER/TABLE/BARRIER/RELEASE, else 0
 *  12  u32 len      payload bytes */
#define BOOT_WIRE_HDR_LEN 16u
typedef struct boot_wire_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t type; /* boot_wire_type_t */
	uint32_t seq;
	uint32_t len;
} boot_wire_hdr_t;

/* HELLO payload.
 *   0  u64 cookie   the job cookie
 *   8  u32 rank
 *  12  u32 size */
#define BOOT_WIRE_HELLO_LEN 16u
typedef struct boot_wire_hello {
	uint64_t cookie;
	uint32_t rank;
	uint32_t size;
} boot_wire_hello_t;

/* ABORT payload.
 *   0  u32 reason   boot_wire_reason_t
 *   4  u32 rank     the rank at fault, or UINT32_MAX */
#define BOOT_WIRE_ABORT_LEN 8u
typedef struct boot_wire_abort {
	uint32_t reason;
	uint32_t rank;
} boot_wire_abort_t;

/* TABLE payload: for r in 0..size-1, a u32 length (at most
 * BOOT_WIRE_BLOB_MAX) then that many bytes of rank r's blob. */
#define BOOT_WIRE_ENTRY_HDR 4u

/* The host structs are not the wire layout: the fields are encoded one by
 * one at the widths of the layouts above, which add up to these sizes. */
_Static_assert(WIRE_SIZEOF(boot_wire_hdr_t, magic) +
			       WIRE_SIZEOF(boot_wire_hdr_t, version) +
			       WIRE_SIZEOF(boot_wire_hdr_t, type) +
			       WIRE_SIZEOF(boot_wire_hdr_t, seq) +
			       WIRE_SIZEOF(boot_wire_hdr_t, len) ==
		       BOOT_WIRE_HDR_LEN,
	       "boot header fields add up to BOOT_WIRE_HDR_LEN");
_Static_assert(WIRE_SIZEOF(boot_wire_hello_t, cookie) +
			       WIRE_SIZEOF(boot_wire_hello_t, rank) +
			       WIRE_SIZEOF(boot_wire_hello_t, size) ==
		       BOOT_WIRE_HELLO_LEN,
	       "boot hello fields add up to BOOT_WIRE_HELLO_LEN");
_Static_assert(WIRE_SIZEOF(boot_wire_abort_t, reason) +
			       WIRE_SIZEOF(boot_wire_abort_t, rank) ==
		       BOOT_WIRE_ABORT_LEN,
	       "boot abort fields add up to BOOT_WIRE_ABORT_LEN");
_Static_assert(WIRE_SIZEOF(boot_wire_hdr_t, len) == BOOT_WIRE_ENTRY_HDR,
	       "a table entry's length is a u32 like a payload length");

#endif
