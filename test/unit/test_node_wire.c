/* The node-service messages (src/node/node_wire.c): every message round
 * trips field for field, its encoded size is what node_wire.h says, and a
 * decoder refuses short, long, mistyped and out-of-range input; a START's
 * or MIGRATE's register image only when this CPU could restore it
 * (entry_xsave_valid: size, XSTATE_BV, header, MXCSR), its FS and GS bases
 * only when they are user addresses, its tid only when positive; a
 * MIGRATE's robust list length and hold only within their ranges. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/entry.h"
#include "core/place.h"
#include "node/join_wire.h"
#include "node/node_wire.h"

static uint8_t buf[1 << 20];

/* Every shorter prefix and a one-byte-longer copy are refused by check. */
static void refuse_other_lengths(const uint8_t *msg, size_t len)
{
	uint8_t *longer = malloc(len + 1);

	assert_non_null(longer);
	for (size_t n = 0; n < len; n++)
		assert_int_not_equal(node_wire_check(msg, n), CVMM_OK);
	memcpy(longer, msg, len);
	longer[len] = 0;
	assert_int_not_equal(node_wire_check(longer, len + 1), CVMM_OK);
	free(longer);
}

static void test_header(void **state)
{
	node_hdr_t h = { .type = NODE_MSG_LIVE, .count = (uint32_t)-1,
			 .id = 0x1122334455667788ull, .arg = -5, .tid = 1234,
			 .vcpu = 3 }, out;
	size_t len = node_wire_hdr_encode(&h, buf, sizeof(buf));

	assert_int_equal(len, NODE_WIRE_HDR_LEN);
	/* little-endian on the wire whatever the host */
	assert_int_equal(buf[0], NODE_WIRE_VERSION);
	assert_int_equal(buf[2], NODE_MSG_LIVE);
	assert_int_equal(buf[8], 0x88);
	assert_int_equal(buf[15], 0x11);
	assert_int_equal(node_wire_hdr_decode(buf, len, &out), CVMM_OK);
	assert_int_equal(out.version, NODE_WIRE_VERSION);
	assert_int_equal(out.type, h.type);
	assert_int_equal((int32_t)out.count, -1);
	assert_true(out.id == h.id);
	assert_int_equal(out.arg, -5);
	assert_int_equal(out.tid, 1234);
	assert_int_equal(out.vcpu, 3);
	assert_int_equal(node_wire_check(buf, len), CVMM_OK);
	refuse_other_lengths(buf, len);
	/* unknown version and types */
	buf[0] = NODE_WIRE_VERSION + 1;
	assert_int_not_equal(node_wire_hdr_decode(buf, len, &out), CVMM_OK);
	buf[0] = NODE_WIRE_VERSION;
	buf[2] = NODE_MSG_TYPES;
	assert_int_not_equal(node_wire_hdr_decode(buf, len, &out), CVMM_OK);
	buf[2] = 0;
	assert_int_not_equal(node_wire_hdr_decode(buf, len, &out), CVMM_OK);
	assert_int_not_equal(node_wire_hdr_encode(&h, buf, 31), 32);
}

static void test_syscall(void **state)
{
	node_hdr_t h = { .type = NODE_MSG_SYSCALL, .id = 9, .arg = 1,
			 .tid = 7, .vcpu = 1 };
	const uint64_t a[6] = { 1, 0xdeadbeef, 3, ~0ull, 5, 6 };
	uint64_t out[6];
	size_t len = node_wire_syscall_encode(&h, a, buf, sizeof(buf));

	assert_int_equal(len, NODE_WIRE_SYSCALL_LEN);
	assert_int_equal(node_wire_syscall_decode(buf, len, out), CVMM_OK);
	assert_memory_equal(out, a, sizeof(a));
	refuse_other_lengths(buf, len);
	/* a syscall number past the table, a negative vCPU */
	h.arg = SYS_NR_MAX;
	len = node_wire_syscall_encode(&h, a, buf, sizeof(buf));
	assert_int_not_equal(node_wire_syscall_decode(buf, len, out), CVMM_OK);
	h.arg = 1;
	h.vcpu = -1;
	len = node_wire_syscall_encode(&h, a, buf, sizeof(buf));
	assert_int_not_equal(node_wire_syscall_decode(buf, len, out), CVMM_OK);
	/* a message of another type is not a syscall */
	h.vcpu = 0;
	h.type = NODE_MSG_START;
	len = node_wire_syscall_encode(&h, a, buf, sizeof(buf));
	assert_int_not_equal(node_wire_syscall_decode(buf, len, out), CVMM_OK);
}

static void test_layout(void **state)
{
	gmem_change_t c[4] = {
		{ .op = GMEM_CH_SET, .prot = PROT_READ | PROT_WRITE,
		  .flags = 0x22, .start = GMEM_LO, .end = GMEM_LO + 8192 },
		{ .op = GMEM_CH_CLEAR, .start = GMEM_LO + 8192,
		  .end = GMEM_LO + 3 * 4096 },
		{ .op = GMEM_CH_ZERO, .start = GMEM_HI - 4096,
		  .end = GMEM_HI },
		{ .op = GMEM_CH_TLS, .start = GMEM_HI - 16384,
		  .end = GMEM_HI },
	}, out[NODE_WIRE_LAYOUT_MAX];
	node_hdr_t h = { .type = NODE_MSG_LAYOUT, .id = 3 };
	size_t len = node_wire_layout_encode(&h, c, 4, buf, sizeof(buf));
	unsigned n = 0;

	assert_int_equal(len, NODE_WIRE_HDR_LEN + 4 * NODE_WIRE_CHANGE_LEN);
	assert_int_equal(node_wire_layout_decode(buf, len, out, &n), CVMM_OK);
	assert_int_equal(n, 4);
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(out[i].op, c[i].op);
		assert_int_equal(out[i].prot, c[i].prot);
		assert_int_equal(out[i].flags, c[i].flags);
		assert_true(out[i].start == c[i].start);
		assert_true(out[i].end == c[i].end);
	}
	refuse_other_lengths(buf, len);
	/* each bad change is refused: op, alignment, window, empty, prot */
	gmem_change_t bad[] = {
		{ .op = 0, .start = GMEM_LO, .end = GMEM_LO + 4096 },
		{ .op = GMEM_CH_TLS + 1, .start = GMEM_LO,
		  .end = GMEM_LO + 4096 },
		{ .op = GMEM_CH_SET, .start = GMEM_LO + 1,
		  .end = GMEM_LO + 4096 },
		{ .op = GMEM_CH_SET, .start = GMEM_LO - 4096, .end = GMEM_LO },
		{ .op = GMEM_CH_SET, .start = GMEM_HI, .end = GMEM_HI + 4096 },
		{ .op = GMEM_CH_SET, .start = GMEM_LO, .end = GMEM_LO },
		{ .op = GMEM_CH_SET, .prot = 0x10, .start = GMEM_LO,
		  .end = GMEM_LO + 4096 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		len = node_wire_layout_encode(&h, &bad[i], 1, buf,
					      sizeof(buf));
		assert_int_not_equal(len, 0);
		assert_int_not_equal(node_wire_layout_decode(buf, len, out,
							     &n), CVMM_OK);
	}
	/* more changes than one message may carry */
	assert_int_equal(node_wire_layout_encode(&h, c,
						 NODE_WIRE_LAYOUT_MAX + 1, buf,
						 sizeof(buf)), 0);
	/* a count that does not match the bytes */
	len = node_wire_layout_encode(&h, c, 3, buf, sizeof(buf));
	buf[4] = 2;
	assert_int_not_equal(node_wire_layout_decode(buf, len, out, &n),
			     CVMM_OK);
}

/* An image this node's CPU can restore: patterned registers, MXCSR
 * default, XSTATE_BV = every component it carries, header otherwise zero.
 * Returns its length. */
static uint32_t start_image(guest_regs_t *r, const entry_xstate_t *x)
{
	uint32_t mxcsr = 0x1f80;

	for (unsigned i = 0; i < x->size; i++)
		r->xsave[i] = (uint8_t)(i * 7 + 1);
	memcpy(r->xsave + XSAVE_MXCSR, &mxcsr, 4);
	if (x->mask) {
		memset(r->xsave + XSAVE_XSTATE_BV, 0, XSAVE_HDR_LEN);
		memcpy(r->xsave + XSAVE_XSTATE_BV, &x->mask, 8);
	}
	return x->size;
}

/* Encodes a START of r and returns whether node_wire_start_decode takes
 * it; *out gets the result. */
static bool start_roundtrip(const guest_regs_t *r, guest_regs_t *out)
{
	node_hdr_t h = { .type = NODE_MSG_START, .tid = 42 };
	uint64_t clear = 0, mask = 0;
	size_t len = node_wire_start_encode(&h, 0x7000, 0x55, r, buf,
					    sizeof(buf));

	assert_int_equal(len, NODE_WIRE_START_FIXED + r->xsave_len);
	if (node_wire_start_decode(buf, len, &clear, &mask, out) != CVMM_OK) {
		assert_int_not_equal(node_wire_check(buf, len), CVMM_OK);
		return false;
	}
	assert_int_equal(node_wire_check(buf, len), CVMM_OK);
	assert_true(clear == 0x7000 && mask == 0x55);
	return true;
}

static void test_start(void **state)
{
	static guest_regs_t r, out, bad;
	entry_xstate_t x;
	uint64_t *w = (uint64_t *)&r, v;
	node_hdr_t h = { .type = NODE_MSG_START, .tid = 42 };
	uint64_t clear, mask;
	size_t len;

	entry_xstate_probe(&x);
	assert_true(x.size >= XSAVE_LEGACY_LEN && x.size <= GUEST_XSAVE_MAX);
	for (unsigned i = 0; i < 18; i++)
		w[i] = 0x0101010101010101ull * (i + 1);
	r.fs = 0x7f0000001000; /* the bases: user addresses */
	r.gs = 0x1000;
	/* no image: the thread starts clean */
	r.xsave_len = 0;
	memset(&out, 0xaa, sizeof(out));
	assert_true(start_roundtrip(&r, &out));
	assert_memory_equal(&out, &r, offsetof(guest_regs_t, xsave_len));
	assert_int_equal(out.xsave_len, 0);
	/* a whole image of this CPU travels byte for byte */
	r.xsave_len = start_image(&r, &x);
	memset(&out, 0xaa, sizeof(out));
	assert_true(start_roundtrip(&r, &out));
	assert_memory_equal(&out, &r, offsetof(guest_regs_t, xsave_len));
	assert_int_equal(out.xsave_len, r.xsave_len);
	assert_memory_equal(out.xsave, r.xsave, r.xsave_len);
	assert_true(out.rip == r.rip && out.rsp == r.rsp && out.fs == r.fs);
	len = node_wire_start_encode(&h, 1, 2, &r, buf, sizeof(buf));
	refuse_other_lengths(buf, len);
	/* the reserved word after xsave_len */
	buf[NODE_WIRE_START_FIXED - 4] = 1;
	assert_int_not_equal(node_wire_start_decode(buf, len, &clear, &mask,
						    &out), CVMM_OK);
	/* an xsave_len that does not match the bytes */
	len = node_wire_start_encode(&h, 1, 2, &r, buf, sizeof(buf));
	buf[NODE_WIRE_START_FIXED - 8] ^= 1;
	assert_int_not_equal(node_wire_start_decode(buf, len, &clear, &mask,
						    &out), CVMM_OK);
	/* an image over the largest is not even encoded */
	bad = r;
	bad.xsave_len = GUEST_XSAVE_MAX + 1;
	assert_int_equal(node_wire_start_encode(&h, 1, 2, &bad, buf,
						sizeof(buf)), 0);
	/* MXCSR with a reserved bit: XRSTOR and FXRSTOR would fault */
	bad = r;
	bad.xsave[XSAVE_MXCSR + 3] = 0x80;
	assert_false(start_roundtrip(&bad, &out));
	/* shorter than the legacy area */
	bad = r;
	bad.xsave_len = XSAVE_LEGACY_LEN - 1;
	assert_false(start_roundtrip(&bad, &out));
	if (!x.mask) {
		/* without XSAVE only a 512-byte FXSAVE image */
		bad.xsave_len = XSAVE_LEGACY_LEN + 64;
		assert_false(start_roundtrip(&bad, &out));
		return;
	}
	/* larger than this CPU's image, when it can be encoded */
	if (x.size < GUEST_XSAVE_MAX) {
		bad = r;
		bad.xsave_len = x.size + 1;
		assert_false(start_roundtrip(&bad, &out));
	}
	/* no room for the header */
	bad = r;
	bad.xsave_len = XSAVE_MIN_LEN - 1;
	assert_false(start_roundtrip(&bad, &out));
	/* XSTATE_BV naming a component this CPU does not have (bit 62 is
	 * reserved in XCR0) */
	bad = r;
	v = x.mask | 1ull << 62;
	memcpy(bad.xsave + XSAVE_XSTATE_BV, &v, 8);
	assert_false(start_roundtrip(&bad, &out));
	/* XCOMP_BV set (the compacted format), and every reserved header
	 * byte */
	for (unsigned i = 8; i < XSAVE_HDR_LEN; i++) {
		bad = r;
		bad.xsave[XSAVE_XSTATE_BV + i] = i == 15 ? 0x80 : 1;
		assert_false(start_roundtrip(&bad, &out));
	}
	/* a component named in XSTATE_BV but cut off by the length */
	if (x.mask & 4) {
		bad = r;
		bad.xsave_len = XSAVE_MIN_LEN;
		assert_false(start_roundtrip(&bad, &out));
		v = 3;
		memcpy(bad.xsave + XSAVE_XSTATE_BV, &v, 8);
		assert_true(start_roundtrip(&bad, &out)); /* legacy only */
	}
	/* XSTATE_BV zero: every component initial, still an image */
	bad = r;
	memset(bad.xsave + XSAVE_XSTATE_BV, 0, 8);
	assert_true(start_roundtrip(&bad, &out));
}

/* START: the FS and GS bases travel and must be user addresses; the tid
 * must be positive. */
static void test_start_bases(void **state)
{
	static guest_regs_t r, out;
	node_hdr_t h = { .type = NODE_MSG_START, .tid = 42 };
	uint64_t clear, mask;
	size_t len;

	r.fs = 0x7f0000001000;
	r.gs = GMEM_TASK_SIZE - 1;
	r.xsave_len = 0;
	assert_true(start_roundtrip(&r, &out));
	assert_true(out.fs == r.fs && out.gs == r.gs);
	r.gs = GMEM_TASK_SIZE;
	assert_false(start_roundtrip(&r, &out));
	r.gs = 0;
	r.fs = 0xffffffff81000000ull;
	assert_false(start_roundtrip(&r, &out));
	r.fs = 0;
	h.tid = 0;
	len = node_wire_start_encode(&h, 0, 0, &r, buf, sizeof(buf));
	assert_int_not_equal(node_wire_start_decode(buf, len, &clear, &mask,
						    &out), CVMM_OK);
	h.tid = -3;
	len = node_wire_start_encode(&h, 0, 0, &r, buf, sizeof(buf));
	assert_int_not_equal(node_wire_check(buf, len), CVMM_OK);
}

/* Encodes a MIGRATE of m and r; whether it decodes, into *mo and *out. */
static bool migrate_roundtrip(const node_migrate_t *m, const guest_regs_t *r,
			      node_migrate_t *mo, guest_regs_t *out)
{
	node_hdr_t h = { .type = NODE_MSG_MIGRATE, .tid = 4242 };
	size_t len = node_wire_migrate_encode(&h, m, r, buf, sizeof(buf));

	assert_int_equal(len, NODE_WIRE_MIGRATE_FIXED + r->xsave_len);
	if (node_wire_migrate_decode(buf, len, mo, out) != CVMM_OK) {
		assert_int_not_equal(node_wire_check(buf, len), CVMM_OK);
		return false;
	}
	assert_int_equal(node_wire_check(buf, len), CVMM_OK);
	return true;
}

static void test_migrate(void **state)
{
	static guest_regs_t r, out, bad;
	node_migrate_t m = { .clear_tid = 0x7ffff7dd0990ull,
			     .sigmask = 0x8000000000000001ull,
			     .robust_list = 0x7ffff7dd09a0ull,
			     .robust_len = 24, .hold_ns = 40000000,
			     .sleep_req = 0x7ffff7dd0a00ull,
			     .sleep_left_ns = 2500000000ull }, mo, mb;
	node_hdr_t h = { .type = NODE_MSG_MIGRATE, .tid = 4242 }, hd;
	uint64_t *w = (uint64_t *)&r;
	entry_xstate_t x;
	size_t len;

	entry_xstate_probe(&x);
	/* every general register, rip, rflags, rsp, fs and gs: distinct */
	for (unsigned i = 0; i < 18; i++)
		w[i] = 0x1111111111111111ull * (i + 1) ^ 0x0123456789abcdefull;
	r.fs = 0x7f00000a0000;
	r.gs = 0x7f00000b0000;
	r.xsave_len = start_image(&r, &x);
	memset(&out, 0xaa, sizeof(out));
	assert_true(migrate_roundtrip(&m, &r, &mo, &out));
	assert_memory_equal(&out, &r, offsetof(guest_regs_t, xsave_len));
	assert_int_equal(out.xsave_len, r.xsave_len);
	assert_memory_equal(out.xsave, r.xsave, r.xsave_len);
	assert_memory_equal(&mo, &m, sizeof(m));
	len = node_wire_migrate_encode(&h, &m, &r, buf, sizeof(buf));
	assert_int_equal(node_wire_hdr_decode(buf, len, &hd), CVMM_OK);
	assert_int_equal(hd.type, NODE_MSG_MIGRATE);
	assert_int_equal(hd.tid, 4242);
	refuse_other_lengths(buf, len);
	/* no image (a thread never moves without one, but it decodes) */
	bad = r;
	bad.xsave_len = 0;
	assert_true(migrate_roundtrip(&m, &bad, &mo, &out));
	/* an image this CPU could not restore */
	bad = r;
	bad.xsave[XSAVE_MXCSR + 3] = 0x80;
	assert_false(migrate_roundtrip(&m, &bad, &mo, &out));
	/* bases outside user space */
	bad = r;
	bad.fs = GMEM_TASK_SIZE;
	assert_false(migrate_roundtrip(&m, &bad, &mo, &out));
	bad = r;
	bad.gs = ~0ull;
	assert_false(migrate_roundtrip(&m, &bad, &mo, &out));
	/* a robust list length set_robust_list never takes */
	mb = m;
	mb.robust_len = 23;
	assert_false(migrate_roundtrip(&mb, &r, &mo, &out));
	mb.robust_len = 0;
	assert_true(migrate_roundtrip(&mb, &r, &mo, &out));
	/* a hold past the cap */
	mb = m;
	mb.hold_ns = PLACE_HOLD_MAX_NS + 1;
	assert_false(migrate_roundtrip(&mb, &r, &mo, &out));
	mb.hold_ns = PLACE_HOLD_MAX_NS;
	assert_true(migrate_roundtrip(&mb, &r, &mo, &out));
	/* a sleep left without its call, or a call without what is left,
	 * or more than a signed 64-bit time */
	mb = m;
	mb.sleep_req = 0;
	assert_false(migrate_roundtrip(&mb, &r, &mo, &out));
	mb = m;
	mb.sleep_left_ns = 0;
	assert_false(migrate_roundtrip(&mb, &r, &mo, &out));
	mb.sleep_req = 0;
	assert_true(migrate_roundtrip(&mb, &r, &mo, &out));
	mb = m;
	mb.sleep_left_ns = (uint64_t)INT64_MAX + 1;
	assert_false(migrate_roundtrip(&mb, &r, &mo, &out));
	/* no tid */
	h.tid = 0;
	len = node_wire_migrate_encode(&h, &m, &r, buf, sizeof(buf));
	assert_int_not_equal(node_wire_migrate_decode(buf, len, &mo, &out),
			     CVMM_OK);
	assert_int_not_equal(node_wire_check(buf, len), CVMM_OK);
	/* a START is no MIGRATE, nor the other way round */
	h.tid = 7;
	len = node_wire_start_encode(&(node_hdr_t){ .type = NODE_MSG_START,
						    .tid = 7 },
				     1, 2, &r, buf, sizeof(buf));
	assert_int_not_equal(node_wire_migrate_decode(buf, len, &mo, &out),
			     CVMM_OK);
	len = node_wire_migrate_encode(&h, &m, &r, buf, sizeof(buf));
	{
		uint64_t clear, mask;

		assert_int_not_equal(node_wire_start_decode(buf, len, &clear,
							    &mask, &out),
				     CVMM_OK);
	}
	/* an image over the largest is not even encoded */
	bad = r;
	bad.xsave_len = GUEST_XSAVE_MAX + 1;
	assert_int_equal(node_wire_migrate_encode(&h, &m, &bad, buf,
						  sizeof(buf)), 0);
}

/* MOVED, LOAD and DESCRIBE are a header alone. */
static void test_moved_load(void **state)
{
	node_hdr_t h = { .type = NODE_MSG_MOVED, .tid = 99 }, out;
	size_t len = node_wire_hdr_encode(&h, buf, sizeof(buf));

	assert_int_equal(node_wire_hdr_decode(buf, len, &out), CVMM_OK);
	assert_int_equal(out.type, NODE_MSG_MOVED);
	assert_int_equal(out.tid, 99);
	assert_int_equal(node_wire_check(buf, len), CVMM_OK);
	refuse_other_lengths(buf, len);
	h = (node_hdr_t){ .type = NODE_MSG_LOAD, .count = 5 };
	len = node_wire_hdr_encode(&h, buf, sizeof(buf));
	assert_int_equal(node_wire_hdr_decode(buf, len, &out), CVMM_OK);
	assert_int_equal(out.type, NODE_MSG_LOAD);
	assert_int_equal(out.count, 5);
	refuse_other_lengths(buf, len);
	h = (node_hdr_t){ .type = NODE_MSG_DESCRIBE, .arg = 0x4fb000 };
	len = node_wire_hdr_encode(&h, buf, sizeof(buf));
	assert_int_equal(node_wire_hdr_decode(buf, len, &out), CVMM_OK);
	assert_int_equal(out.type, NODE_MSG_DESCRIBE);
	assert_int_equal(out.arg, 0x4fb000);
	assert_int_equal(node_wire_check(buf, len), CVMM_OK);
	refuse_other_lengths(buf, len);
}

/* JOIN: address and key round-trip (pointing into the message); an empty
 * or oversized address, a key past its limit, lengths that disagree with
 * the message's, another type: refused. JOINED and CANCEL are a header. */
/* The join conversation's SLOT: round trip; every other length, version,
 * node outside the slots and impossible value refused with a reason. */
static void test_join_slot(void **state)
{
	join_slot_t s = { .node = 3, .size = 4, .nvcpus = 8, .pid0 = 4242,
			  .epoch = 5, .push = true, .same_host = false,
			  .release = true, .race_warn = true,
			  .staleness_ms = 7 }, o;
	uint8_t b[JOIN_SLOT_LEN + 1];
	char why[96];

	assert_int_equal(join_wire_slot_encode(&s, b), JOIN_SLOT_LEN);
	assert_int_equal(join_wire_slot_decode(b, JOIN_SLOT_LEN, &o, why,
					       sizeof(why)), CVMM_OK);
	assert_true(o.node == 3 && o.size == 4 && o.nvcpus == 8 &&
		    o.pid0 == 4242 && o.epoch == 5 && o.push && !o.same_host &&
		    o.release && o.race_warn && o.staleness_ms == 7);
	for (size_t n = 0; n <= JOIN_SLOT_LEN + 1; n++) {
		if (n == JOIN_SLOT_LEN)
			continue;
		why[0] = '\0';
		assert_int_equal(join_wire_slot_decode(b, n, &o, why,
						       sizeof(why)),
				 CVMM_ERR_PEER);
		assert_true(why[0] != '\0');
		assert_int_equal(o.size, 0); /* cleared on refusal */
	}
	{
		static const join_slot_t bad[] = {
			{ .node = 0, .size = 4, .nvcpus = 4, .pid0 = 1, .epoch = 1 },
			{ .node = 4, .size = 4, .nvcpus = 4, .pid0 = 1, .epoch = 1 },
			{ .node = 1, .size = 1, .nvcpus = 4, .pid0 = 1, .epoch = 1 },
			{ .node = 1, .size = 65, .nvcpus = 99, .pid0 = 1, .epoch = 1 },
			{ .node = 1, .size = 4, .nvcpus = 3, .pid0 = 1, .epoch = 1 },
			{ .node = 1, .size = 4, .nvcpus = 4, .pid0 = 0, .epoch = 1 },
			{ .node = 1, .size = 4, .nvcpus = 4, .pid0 = 1, .epoch = 0 },
			{ .node = 1, .size = 4, .nvcpus = 4, .pid0 = 1, .epoch = 1,
			  .staleness_ms = -1 },
			{ .node = 1, .size = 4, .nvcpus = 4, .pid0 = 1, .epoch = 1,
			  .staleness_ms = 60001 },
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			assert_int_equal(join_wire_slot_encode(&bad[i], b),
					 JOIN_SLOT_LEN);
			assert_int_equal(join_wire_slot_decode(b, JOIN_SLOT_LEN,
							       &o, why,
							       sizeof(why)),
					 CVMM_ERR_PEER);
		}
	}
	join_wire_slot_encode(&s, b);
	b[0] = JOIN_VERSION + 1;
	assert_int_equal(join_wire_slot_decode(b, JOIN_SLOT_LEN, &o, why,
					       sizeof(why)), CVMM_ERR_PEER);
	assert_non_null(strstr(why, "version"));
	join_wire_slot_encode(&s, b);
	b[28] = 2; /* push neither 0 nor 1 */
	assert_int_equal(join_wire_slot_decode(b, JOIN_SLOT_LEN, &o, why,
					       sizeof(why)), CVMM_ERR_PEER);
	join_wire_slot_encode(&s, b);
	b[36] = 2; /* the memory model neither sequential nor release */
	assert_int_equal(join_wire_slot_decode(b, JOIN_SLOT_LEN, &o, why,
					       sizeof(why)), CVMM_ERR_PEER);
	join_wire_slot_encode(&s, b);
	b[40] = 2; /* nor the race policy */
	assert_int_equal(join_wire_slot_decode(b, JOIN_SLOT_LEN, &o, why,
					       sizeof(why)), CVMM_ERR_PEER);
}

/* ADDR: round trip, every truncation and a byte more refused, no address
 * or too long a one refused. */
static void test_join_addr(void **state)
{
	uint8_t addr[200], rkey[30], b[300];
	const void *a, *r;
	size_t al, rl, n;
	char why[96];

	memset(addr, 7, sizeof(addr));
	memset(rkey, 9, sizeof(rkey));
	n = join_wire_addr_encode(addr, sizeof(addr), rkey, sizeof(rkey), b,
				  sizeof(b));
	assert_int_equal(n, 8 + sizeof(addr) + sizeof(rkey));
	assert_int_equal(join_wire_addr_decode(b, n, &a, &al, &r, &rl, why,
					       sizeof(why)), CVMM_OK);
	assert_int_equal(al, sizeof(addr));
	assert_int_equal(rl, sizeof(rkey));
	assert_memory_equal(a, addr, al);
	assert_memory_equal(r, rkey, rl);
	for (size_t k = 0; k <= n + 1; k++)
		if (k != n)
			assert_int_equal(join_wire_addr_decode(b, k, &a, &al,
							       &r, &rl, why,
							       sizeof(why)),
					 CVMM_ERR_PEER);
	assert_null(a);
	n = join_wire_addr_encode(addr, 0, rkey, 4, b, sizeof(b));
	assert_int_equal(join_wire_addr_decode(b, n, &a, &al, &r, &rl, why,
					       sizeof(why)), CVMM_ERR_PEER);
	wire_put_u32(b, NODE_WIRE_JOIN_BLOB_MAX + 1);
	assert_int_equal(join_wire_addr_decode(b, sizeof(b), &a, &al, &r, &rl,
					       why, sizeof(why)),
			 CVMM_ERR_PEER);
}

/* WELCOME for node 2 of 4 slots (node 1 left, nodes 0 and 3 in, roles
 * 0 3 0 3), two layout changes: round trip; every truncation refused; the
 * joiner or node 0's absence among the members, a member beyond the
 * slots, a role played by a node not in, a bad layout change refused. */
static void test_join_welcome(void **state)
{
	join_slot_t s = { .node = 2, .size = 4, .nvcpus = 4, .pid0 = 10,
			  .epoch = 3 };
	gmem_change_t lay[2] = {
		{ .op = GMEM_CH_SET, .start = 0x400000, .end = 0x401000,
		  .prot = 3 },
		{ .op = GMEM_CH_IMAGE, .start = 0x400000, .end = 0x401000 },
	};
	uint8_t a0[40], a3[50], k0[8];
	join_welcome_t w = { .live = 0x9, .drained = 0x8,
			     .roles = { 0, 3, 0, 3 }, .layout = lay,
			     .nlayout = 2 }, o;
	size_t n, cap;
	char why[96];
	uint8_t *b;

	memset(a0, 1, sizeof(a0));
	memset(a3, 3, sizeof(a3));
	memset(k0, 5, sizeof(k0));
	w.addr[0] = a0;
	w.addr_len[0] = sizeof(a0);
	w.rkey[0] = k0;
	w.rkey_len[0] = sizeof(k0);
	w.addr[3] = a3;
	w.addr_len[3] = sizeof(a3);
	cap = join_wire_welcome_len(&w, 4);
	b = malloc(cap + 1);
	assert_non_null(b);
	n = join_wire_welcome_encode(&w, 4, b, cap);
	assert_int_equal(n, cap);
	assert_int_equal(join_wire_welcome_decode(b, n, &s, &o, why,
						  sizeof(why)), CVMM_OK);
	assert_int_equal(o.live, 0x9);
	assert_int_equal(o.drained, 0x8);
	assert_memory_equal(o.roles, w.roles, 4);
	assert_int_equal(o.addr_len[0], sizeof(a0));
	assert_memory_equal(o.addr[0], a0, sizeof(a0));
	assert_memory_equal(o.rkey[0], k0, sizeof(k0));
	assert_int_equal(o.addr_len[3], sizeof(a3));
	assert_int_equal(o.rkey_len[3], 0);
	assert_null(o.addr[1]);
	assert_int_equal(o.nlayout, 2);
	assert_int_equal(o.layout[0].end, 0x401000);
	assert_int_equal(o.layout[1].op, GMEM_CH_IMAGE);
	free(o.layout);
	for (size_t k = 0; k <= n + 1; k++) {
		if (k == n)
			continue;
		why[0] = '\0';
		assert_int_equal(join_wire_welcome_decode(b, k, &s, &o, why,
							  sizeof(why)),
				 CVMM_ERR_PEER);
		assert_true(why[0] != '\0');
		assert_null(o.layout);
	}
	{
		static const uint64_t live[] = { 0x8, 0xd, 0x19 };

		for (size_t i = 0; i < 3; i++) {
			join_welcome_t v = w;
			size_t vcap;
			uint8_t *vb;

			v.live = live[i]; /* no node 0, the joiner, slot 4 */
			v.addr[2] = v.addr[4] = a3;
			v.addr_len[2] = v.addr_len[4] = sizeof(a3);
			vcap = join_wire_welcome_len(&v, 4);
			vb = malloc(vcap);
			assert_non_null(vb);
			n = join_wire_welcome_encode(&v, 4, vb, vcap);
			assert_int_equal(n, vcap);
			assert_int_equal(join_wire_welcome_decode(
						 vb, n, &s, &o, why, sizeof(why)),
					 CVMM_ERR_PEER);
			assert_non_null(strstr(why, "members"));
			free(vb);
		}
	}
	w.roles[1] = 1; /* node 1 left: it plays nothing */
	n = join_wire_welcome_encode(&w, 4, b, cap);
	assert_int_equal(join_wire_welcome_decode(b, n, &s, &o, why,
						  sizeof(why)), CVMM_ERR_PEER);
	assert_non_null(strstr(why, "role"));
	w.roles[1] = 3;
	lay[0].end = lay[0].start; /* an empty range */
	n = join_wire_welcome_encode(&w, 4, b, cap);
	assert_int_equal(join_wire_welcome_decode(b, n, &s, &o, why,
						  sizeof(why)), CVMM_ERR_PEER);
	free(b);
}

static void test_join(void **state)
{
	node_hdr_t h = { .type = NODE_MSG_JOIN, .id = 7, .arg = 3 }, out;
	uint8_t addr[300], rkey[40];
	const void *a, *r;
	size_t al, rl, len;

	for (size_t i = 0; i < sizeof(addr); i++)
		addr[i] = (uint8_t)(i * 7);
	memset(rkey, 0xab, sizeof(rkey));
	len = node_wire_join_encode(&h, addr, sizeof(addr), rkey, sizeof(rkey),
				    buf, sizeof(buf));
	assert_int_equal(len, NODE_WIRE_HDR_LEN + NODE_WIRE_JOIN_FIXED +
				      sizeof(addr) + sizeof(rkey));
	assert_int_equal(node_wire_check(buf, len), CVMM_OK);
	assert_int_equal(node_wire_hdr_decode(buf, len, &out), CVMM_OK);
	assert_int_equal(out.arg, 3);
	assert_int_equal(node_wire_join_decode(buf, len, &a, &al, &r, &rl),
			 CVMM_OK);
	assert_int_equal(al, sizeof(addr));
	assert_int_equal(rl, sizeof(rkey));
	assert_memory_equal(a, addr, sizeof(addr));
	assert_memory_equal(r, rkey, sizeof(rkey));
	refuse_other_lengths(buf, len);
	/* a length field that disagrees: refused */
	wire_put_u32(buf + NODE_WIRE_HDR_LEN, sizeof(addr) + 1);
	assert_int_equal(node_wire_check(buf, len), CVMM_ERR_PEER);
	wire_put_u32(buf + NODE_WIRE_HDR_LEN, 0);
	assert_int_equal(node_wire_check(buf, len), CVMM_ERR_PEER);
	/* no key is fine, no address is not; nor too long a one */
	len = node_wire_join_encode(&h, addr, sizeof(addr), NULL, 0, buf,
				    sizeof(buf));
	assert_int_equal(node_wire_check(buf, len), CVMM_OK);
	assert_int_equal(node_wire_join_encode(&h, addr, 0, rkey, 4, buf,
					       sizeof(buf)), 0);
	assert_int_equal(node_wire_join_encode(&h, buf + 4096,
					       NODE_WIRE_JOIN_BLOB_MAX + 1,
					       rkey, 4, buf, sizeof(buf)), 0);
	assert_int_equal(node_wire_join_encode(&h, addr, sizeof(addr), rkey,
					       sizeof(rkey), buf, 64), 0);
	h.type = NODE_MSG_TAKE;
	assert_int_equal(node_wire_join_encode(&h, addr, sizeof(addr), rkey,
					       sizeof(rkey), buf, sizeof(buf)),
			 0);
	h = (node_hdr_t){ .type = NODE_MSG_JOINED, .arg = 3, .count = 4 };
	len = node_wire_hdr_encode(&h, buf, sizeof(buf));
	assert_int_equal(node_wire_check(buf, len), CVMM_OK);
	refuse_other_lengths(buf, len);
	h = (node_hdr_t){ .type = NODE_MSG_CANCEL, .arg = 1ll << 40,
			  .tid = 77 };
	len = node_wire_hdr_encode(&h, buf, sizeof(buf));
	assert_int_equal(node_wire_check(buf, len), CVMM_OK);
	assert_int_equal(node_wire_hdr_decode(buf, len, &out), CVMM_OK);
	assert_int_equal(out.tid, 77);
	assert_int_equal(out.arg, 1ll << 40);
	refuse_other_lengths(buf, len);
}

/* TAKE (a leaving node's hand-over): each kind at its own length only;
 * one page per PAGE or RC_PAGE; no empty, oversized or unknown batch. */
static void test_take(void **state)
{
	static const struct { int kind; uint32_t count; size_t body; } ok[] = {
		{ NODE_TAKE_RECORDS, 1, NODE_TAKE_ITEM_LEN },
		{ NODE_TAKE_RECORDS, NODE_TAKE_MAX,
		  NODE_TAKE_MAX * NODE_TAKE_ITEM_LEN },
		{ NODE_TAKE_WAITERS, 3, 3 * NODE_TAKE_ITEM_LEN },
		{ NODE_TAKE_PAGE, 1, NODE_TAKE_PAGE_LEN },
		{ NODE_TAKE_RC_PAGE, 1, NODE_TAKE_RC_PAGE_LEN },
	};
	node_hdr_t h = { .type = NODE_MSG_TAKE, .id = 5 };

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		size_t len;

		h.arg = ok[i].kind;
		h.count = ok[i].count;
		assert_int_equal(node_wire_hdr_encode(&h, buf, sizeof(buf)),
				 NODE_WIRE_HDR_LEN);
		memset(buf + NODE_WIRE_HDR_LEN, 0x33, ok[i].body);
		len = NODE_WIRE_HDR_LEN + ok[i].body;
		assert_int_equal(node_wire_check(buf, len), CVMM_OK);
		refuse_other_lengths(buf, len);
		/* a page message's length with another page kind: refused */
		if (ok[i].kind == NODE_TAKE_PAGE ||
		    ok[i].kind == NODE_TAKE_RC_PAGE) {
			h.arg = ok[i].kind == NODE_TAKE_PAGE ? NODE_TAKE_RC_PAGE
							     : NODE_TAKE_PAGE;
			node_wire_hdr_encode(&h, buf, sizeof(buf));
			assert_int_equal(node_wire_check(buf, len),
					 CVMM_ERR_PEER);
			h.arg = ok[i].kind;
			h.count = 2;
			node_wire_hdr_encode(&h, buf, sizeof(buf));
			assert_int_equal(node_wire_check(buf, len),
					 CVMM_ERR_PEER);
		}
	}
	h.arg = NODE_TAKE_RECORDS;
	h.count = 0;
	node_wire_hdr_encode(&h, buf, sizeof(buf));
	assert_int_equal(node_wire_check(buf, NODE_WIRE_HDR_LEN),
			 CVMM_ERR_PEER);
	h.count = NODE_TAKE_MAX + 1;
	node_wire_hdr_encode(&h, buf, sizeof(buf));
	assert_int_equal(node_wire_check(buf, NODE_WIRE_HDR_LEN +
					 (NODE_TAKE_MAX + 1) *
						 NODE_TAKE_ITEM_LEN),
			 CVMM_ERR_PEER);
	h.arg = NODE_TAKE_RC_PAGE + 1;
	h.count = 1;
	node_wire_hdr_encode(&h, buf, sizeof(buf));
	assert_int_equal(node_wire_check(buf, NODE_WIRE_HDR_LEN +
					 NODE_TAKE_ITEM_LEN),
			 CVMM_ERR_PEER);
}

/* STATUS_REP: every word round-trips; another length, a vCPU or core
 * count past the limit or the wrong type is refused. STATUS and MOVE are a
 * header. */
static void test_status(void **state)
{
	node_status_t s = { .vcpus = 2, .threads = 3, .read_faults = 4,
			    .write_faults = 5, .fault_ns = 6, .resident = 7,
			    .guest_ns = 8, .coherence_ns = 9, .sys_ns = 10,
			    .idle_ns = 11, .mig_out = 12, .mig_in = 13,
			    .run_ns = 14, .wait_ns = 15, .cores = 16,
			    .cores_idle_ns = 17, .owned = 18, .shared = 19,
			    .pid = 20, .speed = 21 },
		      out;
	node_hdr_t h = { .type = NODE_MSG_STATUS_REP, .id = 77 }, oh;
	size_t len = node_wire_status_encode(&h, &s, buf, sizeof(buf));

	(void)state;
	assert_int_equal(len, NODE_WIRE_STATUS_LEN);
	assert_int_equal(node_wire_status_decode(buf, len, &out), CVMM_OK);
	assert_memory_equal(&s, &out, sizeof(s));
	assert_int_equal(node_wire_hdr_decode(buf, len, &oh), CVMM_OK);
	assert_int_equal(oh.id, 77);
	assert_int_equal(node_wire_check(buf, len), CVMM_OK);
	refuse_other_lengths(buf, len);
	assert_int_equal(node_wire_status_decode(buf, len - 1, &out),
			 CVMM_ERR_PEER);
	s.vcpus = CVMM_MAX_VCPUS + 1;
	len = node_wire_status_encode(&h, &s, buf, sizeof(buf));
	assert_int_equal(node_wire_status_decode(buf, len, &out),
			 CVMM_ERR_PEER);
	assert_int_equal(node_wire_check(buf, len), CVMM_ERR_PEER);
	s.vcpus = 1;
	s.cores = NODE_STATUS_CORES_MAX + 1;
	len = node_wire_status_encode(&h, &s, buf, sizeof(buf));
	assert_int_equal(node_wire_status_decode(buf, len, &out),
			 CVMM_ERR_PEER);
	s.cores = NODE_STATUS_CORES_MAX;
	len = node_wire_status_encode(&h, &s, buf, sizeof(buf));
	assert_int_equal(node_wire_status_decode(buf, len, &out), CVMM_OK);
	s.speed = (uint64_t)UINT32_MAX + 1; /* a speed past 32 bits */
	len = node_wire_status_encode(&h, &s, buf, sizeof(buf));
	assert_int_equal(node_wire_status_decode(buf, len, &out),
			 CVMM_ERR_PEER);
	s.speed = UINT32_MAX;
	len = node_wire_status_encode(&h, &s, buf, sizeof(buf));
	assert_int_equal(node_wire_status_decode(buf, len, &out), CVMM_OK);
	h.type = NODE_MSG_STATS_REP;
	len = node_wire_status_encode(&h, &s, buf, sizeof(buf));
	assert_int_equal(node_wire_status_decode(buf, len, &out),
			 CVMM_ERR_PEER);
	h = (node_hdr_t){ .type = NODE_MSG_STATUS, .id = 5 };
	len = node_wire_hdr_encode(&h, buf, sizeof(buf));
	assert_int_equal(node_wire_check(buf, len), CVMM_OK);
	refuse_other_lengths(buf, len);
	h = (node_hdr_t){ .type = NODE_MSG_MOVE, .id = 6, .tid = 101,
			  .arg = 1 };
	len = node_wire_hdr_encode(&h, buf, sizeof(buf));
	assert_int_equal(node_wire_hdr_decode(buf, len, &oh), CVMM_OK);
	assert_int_equal(oh.tid, 101);
	assert_int_equal(oh.arg, 1);
	refuse_other_lengths(buf, len);
}

static void test_stats(void **state)
{
	node_stats_t *s = calloc(1, sizeof(*s)), *out = calloc(1, sizeof(*out));
	node_hdr_t h = { .type = NODE_MSG_STATS_REP, .id = 77 };
	size_t len;

	assert_non_null(s);
	assert_non_null(out);
	s->nvcpus = 4;
	s->nhot = 2;
	s->ntrace = 3;
	s->nthreads = 1;
	for (int i = 0; i < 4; i++) {
		s->vc[i].guest_ns = 1000u + i;
		s->vc[i].threads = i;
		s->pu[i] = i - 1;
	}
	s->coh.read_faults = 11;
	s->coh.msgs_sent[63] = 5;
	s->coh.lat_hist[31] = 6;
	s->coh.fault_ns = 7;
	/* the release model's counters, each distinct */
	s->rc = (coh_rc_stats_t){ .fetches = 31, .zero_fetches = 32,
				  .twins = 33, .diffs_sent = 34,
				  .diff_bytes = 35, .diffs_applied = 36,
				  .acquires = 37, .releases = 38,
				  .invalidated = 39, .sync_pages = 40,
				  .races = 41, .notices = 42,
				  .fwd_deferred = ~0ull, .promoted = 43,
				  .updated = 44, .seq_faults = 45,
				  .seq_fault_ns = 46, .data_faults = 47,
				  .data_fault_ns = 48, .handover_ns = 49,
				  .demoted = 50 };
	s->sys[0] = 100;
	s->sys[SYS_NR_MAX - 1] = 9;
	s->hot[1].page = 0x1234;
	s->hot[1].from[COH_TRACE_NODES - 1] = 3;
	s->trace[2].t_ns = 99;
	s->trace[2].write = 1;
	s->threads[0].tid = 1001;
	s->threads[0].hi = 0x7fff0000;
	s->nmig = 2;
	s->mig_out = 12;
	s->mig_in = 9;
	s->mig[0] = (stats_mig_t){ .tid = 1001, .count = 7 };
	s->mig[1] = (stats_mig_t){ .tid = -1, .count = ~0ull };
	len = node_wire_stats_encode(&h, s, buf, sizeof(buf));
	assert_int_equal(len, node_wire_stats_len(s));
	assert_true(len <= node_wire_max_len());
	assert_int_equal(node_wire_stats_decode(buf, len, out), CVMM_OK);
	assert_int_equal(out->nvcpus, 4);
	assert_memory_equal(out->vc, s->vc, 4 * sizeof(s->vc[0]));
	assert_memory_equal(out->pu, s->pu, 4 * sizeof(s->pu[0]));
	assert_memory_equal(&out->coh, &s->coh, sizeof(s->coh));
	assert_memory_equal(&out->rc, &s->rc, sizeof(s->rc));
	assert_memory_equal(out->sys, s->sys, sizeof(s->sys));
	assert_memory_equal(out->hot, s->hot, 2 * sizeof(s->hot[0]));
	assert_memory_equal(out->trace, s->trace, 3 * sizeof(s->trace[0]));
	assert_memory_equal(out->threads, s->threads, sizeof(s->threads[0]));
	assert_int_equal(out->nmig, 2);
	assert_true(out->mig_out == 12 && out->mig_in == 9);
	assert_memory_equal(out->mig, s->mig, 2 * sizeof(s->mig[0]));
	assert_int_equal(node_wire_check(buf, len), CVMM_OK);
	/* the release counters right after the coherence counters, in
	 * coh_rc_stats_t order, little-endian */
	{
		size_t at = NODE_WIRE_HDR_LEN + 6 * 4 + 4 * NODE_WIRE_VCPU_LEN +
			    NODE_WIRE_COH_WORDS * 8;

		assert_int_equal(buf[at], 31);
		assert_int_equal(buf[at + 3 * 8], 34);
		assert_int_equal(buf[at + 11 * 8], 42);
		for (int i = 0; i < 8; i++)
			assert_int_equal(buf[at + 12 * 8 + i], 0xff);
		assert_int_equal(buf[at + 15 * 8], 45);
		assert_int_equal(buf[at + 19 * 8], 49);
		assert_int_equal(buf[at + 20 * 8], 50);
		/* a reply without them (a version 4 body under this
		 * version's header) is refused */
		memmove(buf + at, buf + at + NODE_WIRE_RC_WORDS * 8,
			len - at - NODE_WIRE_RC_WORDS * 8);
		assert_int_not_equal(
			node_wire_check(buf, len - NODE_WIRE_RC_WORDS * 8),
			CVMM_OK);
		len = node_wire_stats_encode(&h, s, buf, sizeof(buf));
	}
	/* the reserved word after the counts */
	buf[NODE_WIRE_HDR_LEN + 20] = 1;
	assert_int_not_equal(node_wire_stats_decode(buf, len, out), CVMM_OK);
	buf[NODE_WIRE_HDR_LEN + 20] = 0;
	/* nmig over its limit */
	buf[NODE_WIRE_HDR_LEN + 16] = (uint8_t)(STATS_MIG_MAX + 1);
	buf[NODE_WIRE_HDR_LEN + 17] = (uint8_t)((STATS_MIG_MAX + 1) >> 8);
	assert_int_not_equal(node_wire_stats_decode(buf, len, out), CVMM_OK);
	len = node_wire_stats_encode(&h, s, buf, sizeof(buf));
	/* lengths around, and counts over their limits */
	assert_int_not_equal(node_wire_check(buf, len - 1), CVMM_OK);
	assert_int_not_equal(node_wire_check(buf, len + 1), CVMM_OK);
	buf[NODE_WIRE_HDR_LEN + 4] = STATS_HOT_TOP + 1; /* nhot */
	assert_int_not_equal(node_wire_stats_decode(buf, len, out), CVMM_OK);
	s->nthreads = STATS_THREADS_MAX + 1;
	assert_int_equal(node_wire_stats_encode(&h, s, buf, sizeof(buf)), 0);
	s->nthreads = 1;
	s->nmig = STATS_MIG_MAX + 1;
	assert_int_equal(node_wire_stats_encode(&h, s, buf, sizeof(buf)), 0);
	/* the largest reply fits the largest length */
	s->nvcpus = CVMM_MAX_VCPUS;
	s->nhot = STATS_HOT_TOP;
	s->ntrace = COH_TRACE_SAMPLE;
	s->nthreads = STATS_THREADS_MAX;
	s->nmig = STATS_MIG_MAX;
	len = node_wire_stats_encode(&h, s, buf, sizeof(buf));
	assert_int_equal(len, node_wire_max_len());
	assert_int_equal(node_wire_stats_decode(buf, len, out), CVMM_OK);
	free(s);
	free(out);
}

/* Random bytes and random mutations of valid messages never crash a
 * decoder and are refused unless well formed. */
static void test_random(void **state)
{
	node_hdr_t h = { .type = NODE_MSG_SYSCALL, .id = 1, .arg = 0 };
	node_hdr_t hs = { .type = NODE_MSG_START, .tid = 5 };
	node_hdr_t hm = { .type = NODE_MSG_MIGRATE, .tid = 6 };
	const node_migrate_t m = { .robust_len = 24, .hold_ns = 1 };
	const uint64_t a[6] = { 0 };
	static guest_regs_t r;
	entry_xstate_t x;
	size_t len;

	entry_xstate_probe(&x);
	r.xsave_len = start_image(&r, &x);
	srand(12345);
	for (int i = 0; i < 200000; i++) {
		size_t n = (size_t)rand() % 800;

		if ((i & 6) == 6)
			len = node_wire_migrate_encode(&hm, &m, &r, buf,
						       sizeof(buf));
		else if (i & 2)
			len = node_wire_start_encode(&hs, 0, 0, &r, buf,
						     sizeof(buf));
		else
			len = node_wire_syscall_encode(&h, a, buf,
						       sizeof(buf));
		if (i & 1) {
			for (size_t k = 0; k < n; k++)
				buf[k] = (uint8_t)rand();
			len = n;
		} else {
			buf[rand() % len] ^= (uint8_t)(1u << (rand() % 8));
			buf[2] = (uint8_t)(rand() % (NODE_MSG_TYPES + 1));
		}
		(void)node_wire_check(buf, len);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_syscall),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_start),
		cmocka_unit_test(test_start_bases),
		cmocka_unit_test(test_migrate),
		cmocka_unit_test(test_moved_load),
		cmocka_unit_test(test_join),
		cmocka_unit_test(test_join_slot),
		cmocka_unit_test(test_join_addr),
		cmocka_unit_test(test_join_welcome),
		cmocka_unit_test(test_take),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_random),
	};

	cmocka_set_test_filter(getenv("CVMM_TEST_FILTER"));
	return cmocka_run_group_tests_name("node_wire", tests, NULL, NULL);
}
