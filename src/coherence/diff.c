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

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

size_t diff_encode(const uint8_t *twin, const uint8_t *cur, uint8_t *out)
{
	size_t o = 0, i = 0;

	while (i < DIFF_PAGE) {
		size_t s;

		if (twin[i] == cur[i]) {
			if (!(i & 7) && load64(twin + i) == load64(cur + i))
				i += 8; /* a whole word unchanged */
			else
				i++;
			continue;
		}
		for (s = i; i < DIFF_PAGE && twin[i] != cur[i]; i++)
			;
		put16(out + o, (unsigned)s);
		put16(out + o + 2, (unsigned)(i - s));
		memcpy(out + o + DIFF_RUN_HDR, cur + s, i - s);
		o += DIFF_RUN_HDR + (i - s);
	}
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

cvmm_status_t diff_apply(uint8_t *page, const uint8_t *d, size_t len)
{
	size_t pos = 0;
	unsigned off, n;
	bool bad;

	if (diff_check(d, len, NULL) != CVMM_OK)
		return CVMM_ERR_PEER;
	while (next_run(d, len, &pos, 0, &off, &n, &bad))
		memcpy(page + off, d + pos - n, n);
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
