/* Page diffs (diff.h). */
#include "coherence/diff.h"

#include <string.h>

static uint64_t load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static unsigned get16(const uint8_t *p)
{
	return (unsigned)p[0] | (unsigned)p[1] << 8;
}

/* Bit j set when byte j of x is not zero. */
static unsigned nonzero_bytes(uint64_t x)
{
	const uint64_t lo7 = 0x7f7f7f7f7f7f7f7full;
	uint64_t hi = (((x & lo7) + lo7) | x) & ~lo7; /* bit 7 of each byte */

	/* bit 8j + 7 to bit 56 + j: no two products share a bit, no carry */
	return (unsigned)(((hi >> 7) * 0x0102040810204080ull) >> 56);
}

/* Appends the run cur[s, s + n) to out[0..o) (DIFF_MAX bytes); returns
 * the new length. A short run is copied as one word (the diff's own
 * room and the page allowing: what lands past the run is overwritten by
 * the next run or lies past the returned length). */
static inline size_t put_run(uint8_t *out, size_t o, const uint8_t *cur,
			     size_t s, size_t n)
{
	uint32_t hdr = (uint32_t)s | (uint32_t)n << 16;

	_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
		       "runs are little-endian on the wire");
	memcpy(out + o, &hdr, sizeof(hdr));
	o += DIFF_RUN_HDR;
	if (n <= 8 && o + 8 <= DIFF_MAX && s + 8 <= DIFF_PAGE)
		memcpy(out + o, cur + s, 8);
	else
		memcpy(out + o, cur + s, n);
	return o + n;
}

size_t diff_encode(const uint8_t *twin, const uint8_t *cur, uint8_t *out)
{
	uint64_t carry = 0; /* whether the byte before this chunk differs */
	size_t o = 0, s = 0;

	/* 64 bytes at a time: a map of the bytes that differ, then its
	 * transitions (a run starts or ends): branches per run, not per
	 * byte (doubles that change all but their exponent byte make a run
	 * of 6-7 bytes every 8) */
	for (size_t w = 0; w < DIFF_PAGE; w += 64) {
		uint64_t x[8], any = 0, m = 0, t;

		for (unsigned k = 0; k < 8; k++) {
			x[k] = load64(twin + w + k * 8) ^ load64(cur + w + k * 8);
			any |= x[k];
		}
		if (!any && !carry)
			continue;
		for (unsigned k = 0; k < 8; k++)
			if (x[k])
				m |= (uint64_t)nonzero_bytes(x[k]) << (k * 8);
		t = m ^ (m << 1 | carry);
		carry = m >> 63;
		while (t) {
			unsigned k = (unsigned)__builtin_ctzll(t);

			t &= t - 1;
			if (m >> k & 1)
				s = w + k;
			else
				o = put_run(out, o, cur, s, w + k - s);
		}
	}
	if (carry)
		o = put_run(out, o, cur, s, DIFF_PAGE - s);
	return o;
}

/* The run at d[*pos]: its offset and length, *pos moved past it; false
 * at the end or when malformed (*bad). min: the lowest offset allowed. */
static bool next_run(const uint8_t *d, size_t len, size_t *pos, unsigned min,
		     unsigned *off, unsigned *n, bool *bad)
{
	*bad = false;
	if (*pos == len)
		return false;
	if (len - *pos < DIFF_RUN_HDR) {
		*bad = true;
		return false;
	}
	*off = get16(d + *pos);
	*n = get16(d + *pos + 2);
	if (*n == 0 || *off < min || *off + *n > DIFF_PAGE ||
	    len - *pos - DIFF_RUN_HDR < *n) {
		*bad = true;
		return false;
	}
	*pos += DIFF_RUN_HDR + *n;
	return true;
}

cvmm_status_t diff_check(const uint8_t *d, size_t len, size_t *bytes)
{
	size_t pos = 0, total = 0;
	unsigned off, n, min = 0;
	bool bad;

	while (next_run(d, len, &pos, min, &off, &n, &bad)) {
		total += n;
		min = off + n + 1; /* ascending, not adjacent */
	}
	if (bad)
		return CVMM_ERR_PEER;
	if (bytes)
		*bytes = total;
	return CVMM_OK;
}

void diff_apply_checked(uint8_t *page, const uint8_t *d, size_t len)
{
	size_t pos = 0;
	unsigned off, n;
	const uint8_t *bytes;

	while (diff_run(d, len, &pos, &off, &n, &bytes))
		memcpy(page + off, bytes, n);
}

cvmm_status_t diff_apply(uint8_t *page, const uint8_t *d, size_t len)
{
	if (diff_check(d, len, NULL) != CVMM_OK)
		return CVMM_ERR_PEER;
	diff_apply_checked(page, d, len);
	return CVMM_OK;
}

bool diff_touches(const uint8_t *d, size_t len, const uint8_t *a,
		  const uint8_t *b)
{
	size_t pos = 0;
	unsigned off, n;
	bool bad;

	while (next_run(d, len, &pos, 0, &off, &n, &bad))
		if (memcmp(a + off, b + off, n) != 0)
			return true;
	return false;
}

bool diff_overlap(const uint8_t *a, size_t alen, const uint8_t *b,
		  size_t blen, unsigned *off)
{
	size_t pa = 0, pb = 0;
	unsigned ao, an, bo, bn;
	bool bad, more_a, more_b;

	more_a = next_run(a, alen, &pa, 0, &ao, &an, &bad);
	more_b = next_run(b, blen, &pb, 0, &bo, &bn, &bad);
	while (more_a && more_b) {
		if (ao + an <= bo) {
			more_a = next_run(a, alen, &pa, 0, &ao, &an, &bad);
		} else if (bo + bn <= ao) {
			more_b = next_run(b, blen, &pb, 0, &bo, &bn, &bad);
		} else {
			if (off)
				*off = ao > bo ? ao : bo;
			return true;
		}
	}
	return false;
}
