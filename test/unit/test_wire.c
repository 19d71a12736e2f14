/* common/wire.h: single fields round trip and sit on the wire little-endian
 * whatever the host; a writer stops at its capacity and says so; a reader
 * never reads past the bytes it was given, yields zeros for what is not
 * there, and wire_r_done accepts exactly a buffer consumed to the byte. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/wire.h"

/* A message of every field kind, as a format would define it. */
typedef struct t_msg {
	uint8_t a;
	uint16_t b;
	uint32_t c;
	uint64_t d;
	int32_t e;
	int64_t f;
	uint8_t tail[3];
} t_msg_t;

#define T_MSG_LEN 30
_Static_assert(WIRE_SIZEOF(t_msg_t, a) + WIRE_SIZEOF(t_msg_t, b) +
			       WIRE_SIZEOF(t_msg_t, c) +
			       WIRE_SIZEOF(t_msg_t, d) +
			       WIRE_SIZEOF(t_msg_t, e) +
			       WIRE_SIZEOF(t_msg_t, f) +
			       WIRE_SIZEOF(t_msg_t, tail) ==
		       T_MSG_LEN,
	       "t_msg_t fields add up to T_MSG_LEN");

static size_t t_encode(const t_msg_t *m, uint8_t *buf, size_t cap, bool *bad)
{
	wire_w_t w = wire_w_init(buf, cap);

	wire_w_u8(&w, m->a);
	wire_w_u16(&w, m->b);
	wire_w_u32(&w, m->c);
	wire_w_u64(&w, m->d);
	wire_w_i32(&w, m->e);
	wire_w_i64(&w, m->f);
	wire_w_bytes(&w, m->tail, sizeof(m->tail));
	*bad = w.bad;
	return w.len;
}

static bool t_decode(const uint8_t *buf, size_t len, t_msg_t *m)
{
	wire_r_t r = wire_r_init(buf, len);

	m->a = wire_r_u8(&r);
	m->b = wire_r_u16(&r);
	m->c = wire_r_u32(&r);
	m->d = wire_r_u64(&r);
	m->e = wire_r_i32(&r);
	m->f = wire_r_i64(&r);
	wire_r_bytes(&r, m->tail, sizeof(m->tail));
	return wire_r_done(&r);
}

static const t_msg_t t_sample = {
	.a = 0xa1,
	.b = 0xb2b1,
	.c = 0xc4c3c2c1u,
	.d = 0xd8d7d6d5d4d3d2d1ull,
	.e = -2,
	.f = INT64_MIN + 1,
	.tail = { 't', 'l', '!' },
};

static void test_put_get(void **state)
{
	uint8_t b[8];

	wire_put_u8(b, 0x7f);
	assert_int_equal(b[0], 0x7f);
	assert_int_equal(wire_get_u8(b), 0x7f);
	wire_put_u16(b, 0x1234);
	assert_memory_equal(b, "\x34\x12", 2);
	assert_int_equal(wire_get_u16(b), 0x1234);
	wire_put_u32(b, 0x12345678u);
	assert_memory_equal(b, "\x78\x56\x34\x12", 4);
	assert_int_equal(wire_get_u32(b), 0x12345678u);
	wire_put_u64(b, 0x0123456789abcdefull);
	assert_memory_equal(b, "\xef\xcd\xab\x89\x67\x45\x23\x01", 8);
	assert_true(wire_get_u64(b) == 0x0123456789abcdefull);
	/* the top bit of every width survives (no sign extension) */
	wire_put_u16(b, 0x8000);
	assert_int_equal(wire_get_u16(b), 0x8000);
	wire_put_u32(b, 0x80000000u);
	assert_int_equal(wire_get_u32(b), 0x80000000u);
	wire_put_u64(b, 0x8000000000000000ull);
	assert_true(wire_get_u64(b) == 0x8000000000000000ull);
}

/* Random values of every width come back unchanged. */
static void test_put_get_random(void **state)
{
	uint64_t s = 0x9e3779b97f4a7c15ull;
	uint8_t b[8];

	for (int i = 0; i < 10000; i++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		wire_put_u16(b, (uint16_t)s);
		assert_int_equal(wire_get_u16(b), (uint16_t)s);
		wire_put_u32(b, (uint32_t)s);
		assert_int_equal(wire_get_u32(b), (uint32_t)s);
		wire_put_u64(b, s);
		assert_true(wire_get_u64(b) == s);
		for (int k = 0; k < 8; k++)
			assert_int_equal(b[k], (uint8_t)(s >> (8 * k)));
	}
}

static void test_round_trip(void **state)
{
	uint8_t buf[T_MSG_LEN];
	t_msg_t out;
	bool bad;

	assert_int_equal(t_encode(&t_sample, buf, sizeof(buf), &bad),
			 T_MSG_LEN);
	assert_false(bad);
	memset(&out, 0, sizeof(out));
	assert_true(t_decode(buf, sizeof(buf), &out));
	assert_int_equal(out.a, t_sample.a);
	assert_int_equal(out.b, t_sample.b);
	assert_int_equal(out.c, t_sample.c);
	assert_true(out.d == t_sample.d);
	assert_int_equal(out.e, -2);
	assert_true(out.f == INT64_MIN + 1);
	assert_memory_equal(out.tail, "tl!", 3);
}

/* The encoded bytes, one field after the other, least significant first. */
static void test_byte_order(void **state)
{
	static const uint8_t want[T_MSG_LEN] = {
		0xa1,					/* a */
		0xb1, 0xb2,				/* b */
		0xc1, 0xc2, 0xc3, 0xc4,			/* c */
		0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, /* d */
		0xfe, 0xff, 0xff, 0xff,			/* e = -2 */
		0x01, 0, 0, 0, 0, 0, 0, 0x80,		/* f */
		't', 'l', '!',				/* tail */
	};
	uint8_t buf[T_MSG_LEN];
	bool bad;

	t_encode(&t_sample, buf, sizeof(buf), &bad);
	assert_memory_equal(buf, want, sizeof(want));
}

/* A writer short of room stops at the first field that does not fit,
 * writes nothing past its capacity and stays bad. */
static void test_writer_overflow(void **state)
{
	uint8_t buf[T_MSG_LEN + 4];
	wire_w_t w;
	bool bad;

	for (size_t cap = 0; cap < T_MSG_LEN; cap++) {
		memset(buf, 0xee, sizeof(buf));
		assert_true(t_encode(&t_sample, buf, cap, &bad) <= cap);
		assert_true(bad);
		for (size_t k = cap; k < sizeof(buf); k++)
			assert_int_equal(buf[k], 0xee);
	}
	/* a larger buffer is fine, but not "done" */
	assert_int_equal(t_encode(&t_sample, buf, sizeof(buf), &bad),
			 T_MSG_LEN);
	assert_false(bad);

	w = wire_w_init(buf, 5);
	wire_w_u32(&w, 1);
	assert_false(wire_w_done(&w));
	wire_w_u16(&w, 2); /* does not fit */
	assert_true(w.bad);
	assert_int_equal(w.len, 4);
	wire_w_u8(&w, 3); /* would fit, but the writer is bad */
	assert_int_equal(w.len, 4);
	assert_false(wire_w_done(&w));
	assert_null(wire_w_take(&w, 0));

	w = wire_w_init(buf, 5);
	wire_w_u32(&w, 1);
	wire_w_u8(&w, 2);
	assert_true(wire_w_done(&w));
	wire_w_bytes(&w, NULL, 0); /* nothing more is fine */
	assert_true(wire_w_done(&w));
	wire_w_bytes(&w, "x", 1);
	assert_false(wire_w_done(&w));
}

/* Every read past the end yields zeros and marks the reader bad; nothing
 * beyond the given length is read (ASan would say so). */
static void test_reader_past_end(void **state)
{
	uint8_t *heap = malloc(3);
	uint8_t tail[4] = { 9, 9, 9, 9 };
	wire_r_t r;

	memcpy(heap, "\x01\x02\x03", 3);
	r = wire_r_init(heap, 3);
	assert_int_equal(wire_r_u16(&r), 0x0201);
	assert_int_equal(wire_r_left(&r), 1);
	assert_int_equal(wire_r_u32(&r), 0); /* 1 byte left: refused */
	assert_true(r.bad);
	assert_int_equal(wire_r_left(&r), 0);
	assert_int_equal(wire_r_u8(&r), 0); /* stays bad */
	assert_true(wire_r_u64(&r) == 0);
	assert_int_equal(wire_r_i32(&r), 0);
	assert_true(wire_r_i64(&r) == 0);
	wire_r_bytes(&r, tail, sizeof(tail));
	assert_memory_equal(tail, "\0\0\0\0", 4);
	assert_null(wire_r_take(&r, 0));
	assert_false(wire_r_done(&r));
	free(heap);

	r = wire_r_init(NULL, 0);
	assert_true(wire_r_done(&r));
	assert_int_equal(wire_r_u8(&r), 0);
	assert_false(wire_r_done(&r));

	/* a huge length does not wrap the bounds check */
	r = wire_r_init("ab", 2);
	assert_int_equal(wire_r_u8(&r), 'a');
	assert_null(wire_r_take(&r, SIZE_MAX));
	assert_true(r.bad);
}

/* A fixed-size message is refused when a byte is missing or left over. */
static void test_reader_done(void **state)
{
	uint8_t buf[T_MSG_LEN + 8];
	t_msg_t out;
	wire_r_t r;
	bool bad;

	t_encode(&t_sample, buf, sizeof(buf), &bad);
	memset(buf + T_MSG_LEN, 0, 8);
	assert_true(t_decode(buf, T_MSG_LEN, &out));
	for (size_t len = 0; len < T_MSG_LEN; len++)
		assert_false(t_decode(buf, len, &out));
	for (size_t len = T_MSG_LEN + 1; len <= sizeof(buf); len++)
		assert_false(t_decode(buf, len, &out));

	/* wire_r_left counts down to exactly done */
	r = wire_r_init(buf, 6);

	assert_int_equal(wire_r_left(&r), 6);
	wire_r_u32(&r);
	assert_int_equal(wire_r_left(&r), 2);
	assert_false(wire_r_done(&r));
	assert_non_null(wire_r_take(&r, 2));
	assert_int_equal(wire_r_left(&r), 0);
	assert_true(wire_r_done(&r));
}

/* A variable part behind a fixed one: length-prefixed bytes. */
static void test_length_prefixed(void **state)
{
	uint8_t buf[16];
	const uint8_t *at;
	wire_w_t w = wire_w_init(buf, sizeof(buf));
	wire_r_t r;

	wire_w_u32(&w, 5);
	wire_w_bytes(&w, "hello", 5);
	assert_int_equal(w.len, 9);
	r = wire_r_init(buf, w.len);
	assert_int_equal(wire_r_u32(&r), 5);
	at = wire_r_take(&r, 5);
	assert_non_null(at);
	assert_memory_equal(at, "hello", 5);
	assert_true(wire_r_done(&r));
	/* the same bytes with the length claiming more than is there */
	wire_put_u32(buf, 6);
	r = wire_r_init(buf, 9);
	assert_null(wire_r_take(&r, wire_r_u32(&r)));
	assert_false(wire_r_done(&r));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get),
		cmocka_unit_test(test_put_get_random),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_byte_order),
		cmocka_unit_test(test_writer_overflow),
		cmocka_unit_test(test_reader_past_end),
		cmocka_unit_test(test_reader_done),
		cmocka_unit_test(test_length_prefixed),
	};

	cmocka_set_test_filter(getenv("CVMM_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
