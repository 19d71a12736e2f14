/* fuzz_wire decoder 3: the bootstrap protocol, as a rank or the coordinator
 * reads a stream socket. Input: 1 control byte (the job's size, 1..8), then
 * a stream of messages: a header and its payload, again and again. Checks:
 * a cut or over-long header is refused with the output untouched, a header
 * is accepted exactly with the right magic and version and encodes back to
 * its bytes, HELLO and ABORT payloads decode exactly at their size, and a
 * TABLE parses into `size` entries that stay inside it and encode back to
 * it. The input is accepted when every message in it is. */
#include <stdlib.h>
#include <string.h>

#include "common/wire.h"
#include "fuzz_wire.h"
#include "rdma/boot_int.h"

/* A TABLE payload of size entries; false when it is malformed. */
static bool boot_fuzz_table(const uint8_t *p, uint32_t len, int size)
{
	wire_r_t r = wire_r_init(p, len);
	const uint8_t *blob;
	uint8_t *again;
	wire_w_t w;
	uint32_t n;

	for (int i = 0; i < size; i++) {
		if (!boot_wire_entry_get(&r, &blob, &n)) {
			FUZZ_CHECK(r.bad);
			return false;
		}
		FUZZ_CHECK(n <= BOOT_WIRE_BLOB_MAX && blob >= p &&
			   n <= len - (size_t)(blob - p));
	}
	if (!wire_r_done(&r))
		return false;
	again = malloc(len ? len : 1);
	FUZZ_CHECK(again);
	w = wire_w_init(again, len);
	r = wire_r_init(p, len);
	for (int i = 0; i < size; i++) {
		FUZZ_CHECK(boot_wire_entry_get(&r, &blob, &n));
		boot_wire_entry_put(&w, blob, n);
	}
	FUZZ_CHECK(wire_w_done(&w) && memcmp(again, p, len) == 0);
	free(again);
	return true;
}

/* A HELLO or ABORT payload: decoded exactly at its size, to the same
 * bytes. */
static bool boot_fuzz_fixed(uint16_t type, const uint8_t *p, uint32_t len)
{
	uint8_t again[BOOT_WIRE_HELLO_LEN];
	boot_wire_hello_t h, hp;
	boot_wire_abort_t a, ap;
	const char *why;

	if (type == BOOT_MSG_HELLO) {
		memset(&h, 0xa5, sizeof(h));
		hp = h;
		if (boot_wire_hello_decode(p, len, &h) != CVMM_OK) {
			FUZZ_CHECK(len != BOOT_WIRE_HELLO_LEN);
			FUZZ_CHECK(memcmp(&h, &hp, sizeof(h)) == 0);
			return false;
		}
		FUZZ_CHECK(len == BOOT_WIRE_HELLO_LEN);
		boot_wire_hello_pack(again, &h);
		FUZZ_CHECK(memcmp(again, p, BOOT_WIRE_HELLO_LEN) == 0);
		return true;
	}
	memset(&a, 0xa5, sizeof(a));
	ap = a;
	if (boot_wire_abort_decode(p, len, &a) != CVMM_OK) {
		FUZZ_CHECK(len != BOOT_WIRE_ABORT_LEN);
		FUZZ_CHECK(memcmp(&a, &ap, sizeof(a)) == 0);
		return false;
	}
	FUZZ_CHECK(len == BOOT_WIRE_ABORT_LEN);
	boot_wire_abort_pack(again, a.reason, a.rank);
	FUZZ_CHECK(memcmp(again, p, BOOT_WIRE_ABORT_LEN) == 0);
	why = boot_wire_reason_str(a.reason);
	FUZZ_CHECK(why && why[0] != '\0');
	return true;
}

/* The header at the reader's position; false when it is refused. */
static bool boot_fuzz_hdr(wire_r_t *r, boot_wire_hdr_t *h)
{
	size_t left = wire_r_left(r);
	uint8_t again[BOOT_WIRE_HDR_LEN];
	boot_wire_hdr_t poison;
	const uint8_t *raw;
	cvmm_status_t st;

	memset(h, 0xa5, sizeof(*h));
	poison = *h;
	raw = r->p + r->off;
	if (left != BOOT_WIRE_HDR_LEN) {
		/* short, or more than one header: refused as a header */
		FUZZ_CHECK(boot_wire_hdr_decode(raw, left, h) ==
			   CVMM_ERR_INVALID);
		FUZZ_CHECK(memcmp(h, &poison, sizeof(*h)) == 0);
	}
	if (!wire_r_take(r, BOOT_WIRE_HDR_LEN))
		return false;
	st = boot_wire_hdr_decode(raw, BOOT_WIRE_HDR_LEN, h);
	FUZZ_CHECK(st == CVMM_OK || st == CVMM_ERR_INVALID);
	FUZZ_CHECK((st == CVMM_OK) == (h->magic == BOOT_WIRE_MAGIC &&
				       h->version == BOOT_WIRE_VERSION));
	boot_wire_hdr_pack(again, (boot_wire_type_t)h->type, h->seq, h->len);
	if (st == CVMM_OK)
		FUZZ_CHECK(memcmp(again, raw, BOOT_WIRE_HDR_LEN) == 0);
	return st == CVMM_OK;
}

static bool boot_fuzz_run(const uint8_t *data, size_t size)
{
	wire_r_t r = wire_r_init(data, size);
	const uint8_t *body;
	boot_wire_hdr_t h;
	bool ok = true;
	int ranks;

	ranks = wire_r_u8(&r) % 8 + 1;
	if (r.bad || wire_r_left(&r) == 0)
		return false;
	while (ok && wire_r_left(&r) > 0) {
		if (!boot_fuzz_hdr(&r, &h))
			return false;
		body = wire_r_take(&r, h.len);
		if (!body)
			return false; /* the stream ends inside the payload */
		if (h.type == BOOT_MSG_HELLO || h.type == BOOT_MSG_ABORT)
			ok = boot_fuzz_fixed(h.type, body, h.len);
		else if (h.type == BOOT_MSG_TABLE)
			ok = boot_fuzz_table(body, h.len, ranks);
	}
	return ok;
}

/* Appends a header and its payload to w. */
static void boot_fuzz_put(wire_w_t *w, boot_wire_type_t type, uint32_t seq,
			  const void *payload, uint32_t len)
{
	uint8_t *at = wire_w_take(w, BOOT_WIRE_HDR_LEN);

	if (at)
		boot_wire_hdr_pack(at, type, seq, len);
	wire_w_bytes(w, payload, len);
}

/* A job of 3 ranks: 0: HELLO; 1: WELCOME then the TABLE of round 0;
 * 2: BARRIER, RELEASE and an ABORT. */
static size_t boot_fuzz_seed(unsigned k, uint8_t *buf, size_t cap)
{
	boot_wire_hello_t h = { .cookie = 0x0123456789abcdefull,
				.rank = 2,
				.size = 3 };
	uint8_t hello[BOOT_WIRE_HELLO_LEN], ab[BOOT_WIRE_ABORT_LEN];
	uint8_t table[3 * BOOT_WIRE_ENTRY_HDR + 7];
	wire_w_t w = wire_w_init(buf, cap), t;

	wire_w_u8(&w, 3 - 1);
	switch (k) {
	case 0:
		boot_wire_hello_pack(hello, &h);
		boot_fuzz_put(&w, BOOT_MSG_HELLO, 0, hello, sizeof(hello));
		break;
	case 1:
		t = wire_w_init(table, sizeof(table));
		boot_wire_entry_put(&t, "rank0", 5);
		boot_wire_entry_put(&t, NULL, 0);
		boot_wire_entry_put(&t, "r2", 2);
		boot_fuzz_put(&w, BOOT_MSG_WELCOME, 0, NULL, 0);
		boot_fuzz_put(&w, BOOT_MSG_TABLE, 0, table, (uint32_t)t.len);
		break;
	case 2:
		boot_wire_abort_pack(ab, BOOT_ABORT_LOST, 1);
		boot_fuzz_put(&w, BOOT_MSG_BARRIER, 1, NULL, 0);
		boot_fuzz_put(&w, BOOT_MSG_RELEASE, 1, NULL, 0);
		boot_fuzz_put(&w, BOOT_MSG_ABORT, 0, ab, sizeof(ab));
		break;
	default:
		return 0;
	}
	return w.bad ? 0 : w.len;
}

const fuzz_wire_target_t fuzz_wire_boot = {
	.name = "boot",
	.run = boot_fuzz_run,
	.seed = boot_fuzz_seed,
};
