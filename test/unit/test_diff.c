/* Page diffs (coherence/diff.h): a diff carries exactly the changed bytes;
 * two nodes' diffs of disjoint bytes merge onto any copy in either order;
 * overlapping ones are found (a race) with the first common byte; a
 * malformed diff from a peer is refused and changes nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "coherence/diff.h"

static uint64_t rng = 88172645463325252ull;

static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

/* Changes k random bytes of p, in runs of 1..maxrun (a byte changed
 * twice may be back to what it was). */
static void scribble(uint8_t *p, unsigned k, unsigned maxrun)
{
	while (k > 0) {
		unsigned at = rnd(DIFF_PAGE), n = 1 + rnd(maxrun);

		for (unsigned j = 0; j < n && at + j < DIFF_PAGE && k > 0;
		     j++, k--)
			p[at + j] ^= (uint8_t)(1 + rnd(255));
	}
}

static void test_round_trip(void **state)
{
	static uint8_t twin[DIFF_PAGE], cur[DIFF_PAGE], copy[DIFF_PAGE];
	static uint8_t d[DIFF_MAX];

	for (int r = 0; r < 3000; r++) {
		size_t len, bytes, want = 0;

		for (int i = 0; i < DIFF_PAGE; i++)
			twin[i] = (uint8_t)rnd(256);
		memcpy(cur, twin, sizeof(cur));
		scribble(cur, rnd(r % 3 ? 64 : DIFF_PAGE), 1 + rnd(40));
		for (int i = 0; i < DIFF_PAGE; i++) /* a byte changed twice
						      may be back */
			want += cur[i] != twin[i];
		len = diff_encode(twin, cur, d);
		assert_true(len <= DIFF_MAX);
		assert_int_equal(diff_check(d, len, &bytes), CVMM_OK);
		assert_int_equal(bytes, want); /* exactly the changed bytes */
		assert_true(len == 0 || want > 0);
		memcpy(copy, twin, sizeof(copy));
		assert_int_equal(diff_apply(copy, d, len), CVMM_OK);
		assert_memory_equal(copy, cur, DIFF_PAGE);
	}
}

/* One run at every start and length around the scan's 8- and 64-byte
 * words and the page's ends is one run, exactly those bytes; so are two
 * runs one unchanged byte apart. */
static void test_run_edges(void **state)
{
	static const unsigned at[] = {0,  1,  7,    8,    9,    63,   64,
				      65, 127, 128, 4031, 4032, 4088, 4095};
	static const unsigned len[] = {1, 2, 6, 7, 8, 9, 63, 64, 65, 129};
	static uint8_t twin[DIFF_PAGE], cur[DIFF_PAGE], d[DIFF_MAX];

	memset(twin, 0x5a, sizeof(twin));
	for (unsigned i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		for (unsigned j = 0; j < sizeof(len) / sizeof(len[0]); j++) {
			unsigned s = at[i], n = len[j], gap;
			size_t l;

			if (s + n > DIFF_PAGE)
				n = DIFF_PAGE - s;
			memcpy(cur, twin, sizeof(cur));
			for (unsigned b = s; b < s + n; b++)
				cur[b] = twin[b] ^ (uint8_t)(1 + b % 255);
			l = diff_encode(twin, cur, d);
			assert_int_equal(l, DIFF_RUN_HDR + n);
			assert_int_equal(d[0] | d[1] << 8, s);
			assert_int_equal(d[2] | d[3] << 8, n);
			assert_memory_equal(d + DIFF_RUN_HDR, cur + s, n);
			gap = s + n + 1; /* a second run after one same byte */
			if (gap >= DIFF_PAGE)
				continue;
			cur[gap] ^= 0xff;
			l = diff_encode(twin, cur, d);
			assert_int_equal(l, 2 * DIFF_RUN_HDR + n + 1);
			assert_int_equal(d[DIFF_RUN_HDR + n] |
						 d[DIFF_RUN_HDR + n + 1] << 8,
					 gap);
			assert_int_equal(d[DIFF_RUN_HDR + n + 2], 1);
		}
	}
}

/* The worst case fits DIFF_MAX; a page changed throughout is one run. */
static void test_extremes(void **state)
{
	static uint8_t twin[DIFF_PAGE], cur[DIFF_PAGE], d[DIFF_MAX];
	size_t len, bytes;

	memset(twin, 0, sizeof(twin));
	memset(cur, 0, sizeof(cur));
	assert_int_equal(diff_encode(twin, cur, d), 0);
	for (int i = 0; i < DIFF_PAGE; i += 2)
		cur[i] = 1;
	len = diff_encode(twin, cur, d);
	assert_int_equal(len, DIFF_MAX);
	assert_int_equal(diff_check(d, len, &bytes), CVMM_OK);
	assert_int_equal(bytes, DIFF_PAGE / 2);
	memset(cur, 7, sizeof(cur));
	len = diff_encode(twin, cur, d);
	assert_int_equal(len, DIFF_RUN_HDR + DIFF_PAGE);
	assert_int_equal(d[0] | d[1], 0);		/* offset 0 */
	assert_int_equal(d[2] | d[3] << 8, DIFF_PAGE); /* one run */
	cur[DIFF_PAGE - 1] = 0; /* the last byte back: the run ends before */
	len = diff_encode(twin, cur, d);
	assert_int_equal(len, DIFF_RUN_HDR + DIFF_PAGE - 1);
}

/* Two writers of disjoint bytes: either order gives both; the same bytes
 * written by both: an overlap, at the first common byte. */
static void test_merge_and_race(void **state)
{
	static uint8_t base[DIFF_PAGE], a[DIFF_PAGE], b[DIFF_PAGE];
	static uint8_t ab[DIFF_PAGE], ba[DIFF_PAGE], want[DIFF_PAGE];
	static uint8_t da[DIFF_MAX], db[DIFF_MAX];
	unsigned races = 0;

	for (int r = 0; r < 3000; r++) {
		static uint8_t ma[DIFF_PAGE], mb[DIFF_PAGE];
		size_t la, lb;
		unsigned off = ~0u, first = ~0u;

		for (int i = 0; i < DIFF_PAGE; i++)
			base[i] = (uint8_t)rnd(256);
		memcpy(a, base, sizeof(a));
		memcpy(b, base, sizeof(b));
		scribble(a, 1 + rnd(200), 1 + rnd(16));
		scribble(b, 1 + rnd(200), 1 + rnd(16));
		for (int i = 0; i < DIFF_PAGE; i++) { /* what really changed */
			ma[i] = a[i] != base[i];
			mb[i] = b[i] != base[i];
		}
		for (int i = 0; i < DIFF_PAGE && first == ~0u; i++)
			if (ma[i] && mb[i])
				first = (unsigned)i;
		la = diff_encode(base, a, da);
		lb = diff_encode(base, b, db);
		assert_int_equal(diff_overlap(da, la, db, lb, &off),
				 first != ~0u);
		assert_int_equal(diff_overlap(db, lb, da, la, NULL),
				 first != ~0u);
		if (first != ~0u) {
			assert_int_equal(off, first);
			races++;
			continue;
		}
		for (int i = 0; i < DIFF_PAGE; i++)
			want[i] = ma[i] ? a[i] : mb[i] ? b[i] : base[i];
		memcpy(ab, base, sizeof(ab));
		memcpy(ba, base, sizeof(ba));
		assert_int_equal(diff_apply(ab, da, la), CVMM_OK);
		assert_int_equal(diff_apply(ab, db, lb), CVMM_OK);
		assert_int_equal(diff_apply(ba, db, lb), CVMM_OK);
		assert_int_equal(diff_apply(ba, da, la), CVMM_OK);
		assert_memory_equal(ab, want, DIFF_PAGE);
		assert_memory_equal(ba, want, DIFF_PAGE);
	}
	assert_true(races > 100 && races < 2900);
}

static size_t run(uint8_t *p, unsigned off, unsigned n)
{
	p[0] = (uint8_t)off;
	p[1] = (uint8_t)(off >> 8);
	p[2] = (uint8_t)n;
	p[3] = (uint8_t)(n >> 8);
	memset(p + DIFF_RUN_HDR, 0xab, n);
	return DIFF_RUN_HDR + n;
}

/* diff_touches: only bytes the diff covers count. */
static void test_touches(void **state)
{
	static uint8_t a[DIFF_PAGE], b[DIFF_PAGE];
	uint8_t d[64];
	size_t len;

	(void)state;
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	len = run(d, 10, 4);
	len += run(d + len, 100, 2);
	assert_false(diff_touches(d, len, a, b));
	b[14] = 1; /* just past the first run */
	b[99] = 1; /* just before the second */
	assert_false(diff_touches(d, len, a, b));
	b[101] = 1; /* the second run's last byte */
	assert_true(diff_touches(d, len, a, b));
	assert_false(diff_touches(d, 0, a, b));
}

/* A peer's diff: refused unless well formed, and the page untouched. */
static void test_malformed(void **state)
{
	static uint8_t page[DIFF_PAGE], zero[DIFF_PAGE];
	uint8_t d[64];
	size_t len;

	memset(page, 0, sizeof(page));
	len = run(d, 10, 4);
	len += run(d + len, 15, 2); /* 14 is untouched: not adjacent */
	assert_int_equal(diff_check(d, len, NULL), CVMM_OK);
	/* truncated anywhere: refused (the empty diff is fine) */
	for (size_t cut = 1; cut < len; cut++)
		if (cut != DIFF_RUN_HDR + 4)
			assert_int_equal(diff_apply(page, d, cut),
					 CVMM_ERR_PEER);
	assert_memory_equal(page, zero, DIFF_PAGE);
	len = run(d, 10, 4);
	len += run(d + len, 14, 2); /* adjacent */
	assert_int_equal(diff_check(d, len, NULL), CVMM_ERR_PEER);
	len = run(d, 10, 4);
	len += run(d + len, 12, 2); /* overlapping */
	assert_int_equal(diff_check(d, len, NULL), CVMM_ERR_PEER);
	len = run(d, 20, 4);
	len += run(d + len, 2, 2); /* descending */
	assert_int_equal(diff_check(d, len, NULL), CVMM_ERR_PEER);
	len = run(d, 10, 0); /* empty run */
	assert_int_equal(diff_check(d, len, NULL), CVMM_ERR_PEER);
	len = run(d, DIFF_PAGE - 2, 3); /* past the page */
	assert_int_equal(diff_apply(page, d, len), CVMM_ERR_PEER);
	d[0] = 0xff; /* offset 65535 */
	d[1] = 0xff;
	assert_int_equal(diff_check(d, len, NULL), CVMM_ERR_PEER);
	len = run(d, DIFF_PAGE - 2, 2); /* the last bytes: fine */
	assert_int_equal(diff_apply(page, d, len), CVMM_OK);
	assert_int_equal(page[DIFF_PAGE - 1], 0xab);
	/* random bytes: an answer, never a write outside the page */
	for (int r = 0; r < 100000; r++) {
		uint8_t junk[32];
		size_t n = rnd(sizeof(junk) + 1);

		for (size_t i = 0; i < n; i++)
			junk[i] = (uint8_t)rnd(256);
		if (rnd(2))
			junk[1] = (uint8_t)rnd(16); /* offsets in range */
		(void)diff_apply(page, junk, n);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_extremes),
		cmocka_unit_test(test_run_edges),
		cmocka_unit_test(test_merge_and_race),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_touches),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
