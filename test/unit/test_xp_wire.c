/* The transport's message header: encode/decode round trip, every
 * rejection with its reason and blame, and random bytes that must never
 * crash the checker and are accepted only when an independent reading of
 * the bytes says they are valid. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include <string.h>

#include "common/wire.h"
#include "rdma/xp.h"
#include "rdma/xp_wire.h"

#define COOKIE 0x0123456789abcdefull
#define SIZE 4
#define SELF 2

static void encode(unsigned id, int src, uint32_t seq, uint32_t len,
		   uint64_t cookie, uint8_t buf[XP_WIRE_HDR_LEN])
{
	xp_msg_hdr_t h;

	xp_wire_fill(&h, id, src, seq, len, cookie);
	xp_wire_encode(&h, buf);
}

static void test_round_trip(void **state)
{
	uint8_t buf[XP_WIRE_HDR_LEN];
	xp_msg_hdr_t h, out;

	xp_wire_fill(&h, 17, 3, 0xdeadbeef, 1u << 24, COOKIE);
	assert_int_equal(h.epoch, 0);
	h.epoch = 0x0a0b0c0d;
	xp_wire_encode(&h, buf);
	assert_int_equal(xp_wire_decode(buf, sizeof(buf), &out), CVMM_OK);
	assert_memory_equal(&h, &out, sizeof(h));
	/* little-endian on the wire, fields at their documented offsets */
	assert_memory_equal(buf, "CMP1", 4);
	assert_int_equal(buf[4], XP_WIRE_VERSION);
	assert_int_equal(buf[6], 17);
	assert_int_equal(buf[8], 3);
	assert_int_equal(buf[12], 0xef);
	assert_int_equal(buf[19], 1);
	assert_int_equal(buf[20], 0x0d);
	assert_int_equal(buf[23], 0x0a);
	assert_int_equal(buf[24], 0xef);
	assert_int_equal(buf[31], 0x01);
	assert_int_equal(xp_wire_decode(buf, sizeof(buf) - 1, &out),
			 CVMM_ERR_INVALID);
}

/* The decoder takes exactly XP_WIRE_HDR_LEN bytes: one short or one over
 * is refused without touching *out, and nothing past len is read. */
static void test_decode_lengths(void **state)
{
	uint8_t buf[XP_WIRE_HDR_LEN + 1];
	xp_msg_hdr_t h, out, poison;

	xp_wire_fill(&h, 3, 1, 2, 3, COOKIE);
	xp_wire_encode(&h, buf);
	buf[XP_WIRE_HDR_LEN] = 0;
	memset(&poison, 0xa5, sizeof(poison));
	for (size_t len = 0; len <= sizeof(buf); len++) {
		out = poison;
		if (len == XP_WIRE_HDR_LEN) {
			assert_int_equal(xp_wire_decode(buf, len, &out),
					 CVMM_OK);
			assert_int_equal(out.cookie, COOKIE);
			continue;
		}
		assert_int_equal(xp_wire_decode(buf, len, &out),
				 CVMM_ERR_INVALID);
		assert_memory_equal(&out, &poison, sizeof(out));
	}
	assert_int_equal(xp_wire_decode(NULL, XP_WIRE_HDR_LEN, &out),
			 CVMM_ERR_INVALID);
	assert_memory_equal(&out, &poison, sizeof(out));
}

static void test_valid(void **state)
{
	uint8_t buf[XP_WIRE_HDR_LEN];
	xp_msg_hdr_t out;
	char why[64] = "";

	encode(XP_AM_MAX - 1, 3, 5, 100, COOKIE, buf);
	assert_int_equal(xp_wire_check(buf, sizeof(buf), 100, SIZE, SELF,
				       COOKIE, &out, why, sizeof(why)),
			 CVMM_OK);
	assert_int_equal(out.src, 3);
	assert_int_equal(out.seq, 5);
	assert_int_equal(out.id, XP_AM_MAX - 1);
	/* zero-length payload; self allowed when self is -1 */
	encode(0, SELF, 0, 0, COOKIE, buf);
	assert_int_equal(xp_wire_check(buf, sizeof(buf), 0, SIZE, -1, COOKIE,
				       &out, why, sizeof(why)),
			 CVMM_OK);
}

/* Checks one rejection: its status, a reason containing word, and that
 * *out was written exactly when the message is attributable. */
static void reject(const uint8_t *buf, size_t len, size_t payload,
		   cvmm_status_t want, const char *word)
{
	xp_msg_hdr_t out;
	char why[96] = "";

	memset(&out, 0xa5, sizeof(out));
	assert_int_equal(xp_wire_check(buf, len, payload, SIZE, SELF, COOKIE,
				       &out, why, sizeof(why)),
			 want);
	assert_non_null(strstr(why, word));
	if (want == CVMM_ERR_PEER)
		assert_int_equal(out.src, 1);
	else
		assert_int_equal(out.src, 0xa5a5a5a5u);
}

static void test_rejections(void **state)
{
	uint8_t buf[XP_WIRE_HDR_LEN + 1] = { 0 };

	encode(XP_AM_USER, 1, 0, 8, COOKIE, buf);
	reject(buf, XP_WIRE_HDR_LEN - 1, 8, CVMM_ERR_INVALID, "header");
	reject(buf, XP_WIRE_HDR_LEN + 1, 8, CVMM_ERR_INVALID, "header");
	reject(buf, 0, 8, CVMM_ERR_INVALID, "header");
	reject(NULL, XP_WIRE_HDR_LEN, 8, CVMM_ERR_INVALID, "header");
	reject(buf, XP_WIRE_HDR_LEN, 9, CVMM_ERR_PEER, "length");
	reject(buf, XP_WIRE_HDR_LEN, 0, CVMM_ERR_PEER, "length");

	buf[0] ^= 1;
	reject(buf, XP_WIRE_HDR_LEN, 8, CVMM_ERR_INVALID, "magic");
	buf[0] ^= 1;
	buf[4] = XP_WIRE_VERSION + 1;
	reject(buf, XP_WIRE_HDR_LEN, 8, CVMM_ERR_PEER, "version");
	buf[4] = XP_WIRE_VERSION;

	encode(XP_AM_MAX, 1, 0, 8, COOKIE, buf);
	reject(buf, XP_WIRE_HDR_LEN, 8, CVMM_ERR_PEER, "id");
	encode(0xffff, 1, 0, 8, COOKIE, buf);
	reject(buf, XP_WIRE_HDR_LEN, 8, CVMM_ERR_PEER, "id");
	encode(XP_AM_USER, SIZE, 0, 8, COOKIE, buf);
	reject(buf, XP_WIRE_HDR_LEN, 8, CVMM_ERR_INVALID, "range");
	encode(XP_AM_USER, -1, 0, 8, COOKIE, buf);
	reject(buf, XP_WIRE_HDR_LEN, 8, CVMM_ERR_INVALID, "range");
	encode(XP_AM_USER, SELF, 0, 8, COOKIE, buf);
	reject(buf, XP_WIRE_HDR_LEN, 8, CVMM_ERR_INVALID, "this node");
	encode(XP_AM_USER, 1, 0, 8, COOKIE ^ (1ull << 63), buf);
	reject(buf, XP_WIRE_HDR_LEN, 8, CVMM_ERR_INVALID, "wrong job cookie");
}

static void test_reason_buffers(void **state)
{
	uint8_t buf[XP_WIRE_HDR_LEN];
	xp_msg_hdr_t out;
	char small[6];

	encode(XP_AM_USER, 1, 0, 8, COOKIE ^ 1, buf);
	assert_int_equal(xp_wire_check(buf, sizeof(buf), 8, SIZE, SELF, COOKIE,
				       &out, NULL, 0),
			 CVMM_ERR_INVALID);
	memset(small, 'x', sizeof(small));
	assert_int_equal(xp_wire_check(buf, sizeof(buf), 8, SIZE, SELF, COOKIE,
				       &out, small, sizeof(small)),
			 CVMM_ERR_INVALID);
	assert_non_null(memchr(small, '\0', sizeof(small)));
	/* a job of size 0 accepts nobody */
	encode(XP_AM_USER, 0, 0, 8, COOKIE, buf);
	assert_int_equal(xp_wire_check(buf, sizeof(buf), 8, 0, -1, COOKIE,
				       &out, NULL, 0),
			 CVMM_ERR_INVALID);
}

static uint64_t rnd_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* The rules, read straight from the bytes at their documented offsets. */
static cvmm_status_t reference(const uint8_t *b, size_t len, size_t payload)
{
	if (len != XP_WIRE_HDR_LEN || wire_get_u32(b) != XP_WIRE_MAGIC ||
	    wire_get_u64(b + 24) != COOKIE || wire_get_u32(b + 8) >= SIZE ||
	    wire_get_u32(b + 8) == SELF)
		return CVMM_ERR_INVALID;
	if (wire_get_u16(b + 4) != XP_WIRE_VERSION ||
	    wire_get_u16(b + 6) >= XP_AM_MAX || wire_get_u32(b + 16) != payload)
		return CVMM_ERR_PEER;
	return CVMM_OK;
}

/* Random headers: half pure noise, half a valid header with a few random
 * bytes changed, so every check is reached often. */
static void test_random_bytes(void **state)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	unsigned counts[3] = { 0 };
	uint8_t buf[48];
	xp_msg_hdr_t out;
	char why[64];

	for (int i = 0; i < 100000; i++) {
		size_t len = i % 8 ? XP_WIRE_HDR_LEN : rnd_next(&seed) % 48;
		size_t payload = rnd_next(&seed) % 4 ? 8 : rnd_next(&seed);
		cvmm_status_t st, want;

		if (i % 2) {
			for (size_t j = 0; j < sizeof(buf); j++)
				buf[j] = (uint8_t)rnd_next(&seed);
		} else {
			encode(rnd_next(&seed) % 80, (int)(rnd_next(&seed) % 5),
			       0, 8, COOKIE, buf);
			for (int k = rnd_next(&seed) % 3; k > 0; k--)
				buf[rnd_next(&seed) % 32] =
					(uint8_t)rnd_next(&seed);
		}
		st = xp_wire_check(buf, len, payload, SIZE, SELF, COOKIE, &out,
				   why, sizeof(why));
		want = reference(buf, len, payload);
		assert_int_equal(st, want);
		if (st != CVMM_OK)
			assert_true(why[0] != '\0');
		counts[st == CVMM_OK ? 0 : st == CVMM_ERR_PEER ? 1 : 2]++;
	}
	/* all three outcomes were exercised */
	assert_true(counts[0] > 100 && counts[1] > 100 && counts[2] > 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_decode_lengths),
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_reason_buffers),
		cmocka_unit_test(test_random_bytes),
	};

	cmocka_set_test_filter(getenv("CVMM_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
