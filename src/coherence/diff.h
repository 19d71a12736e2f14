/* Page diffs for the release memory model (docs/coherence.md): a node that
 * writes a page keeps a twin (the page as it was before its first write of
 * an interval); at a release the changes are the bytes that differ from
 * the twin, sent as a diff and applied to another copy, so that several
 * nodes may write different bytes of one page at once and none overwrites
 * another's bytes.
 *
 * A diff is a list of runs, ascending, disjoint and not adjacent:
 *   u16 offset, u16 length (1..4096), then length bytes
 * (little-endian), covering exactly the bytes that differ: an unchanged
 * byte between two changed ones is never sent, since another node may have
 * changed it. The scan maps 64 bytes at a time and branches per run. */
#ifndef CVMM_COHERENCE_DIFF_H
#define CVMM_COHERENCE_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

#define DIFF_PAGE 4096
#define DIFF_RUN_HDR 4
/* The largest diff: every other byte changed (2048 runs of one byte). */
#define DIFF_MAX (DIFF_PAGE / 2 * (DIFF_RUN_HDR + 1))

/* Encodes the bytes of cur that differ from twin into out (DIFF_MAX bytes
 * of room always suffice); returns the diff's length, 0 when nothing
 * changed. */
size_t diff_encode(const uint8_t *twin, const uint8_t *cur, uint8_t *out);

/* Checks a diff that came from elsewhere: runs inside the page, ascending,
 * disjoint, not adjacent, nothing after the last. CVMM_ERR_PEER when
 * malformed. *bytes (may be NULL): the bytes it changes. */
cvmm_status_t diff_check(const uint8_t *d, size_t len, size_t *bytes);

/* Applies a diff to page: after diff_check, or CVMM_ERR_PEER and page
 * unchanged. */
cvmm_status_t diff_apply(uint8_t *page, const uint8_t *d, size_t len);

/* diff_apply of a diff known to be well formed: one diff_check passed
 * (a decoded message's: rc_wire_decode checks them) or made here. */
void diff_apply_checked(uint8_t *page, const uint8_t *d, size_t len);

/* Steps through a well-formed diff d[0..len): the run at d[*pos] (its
 * offset, length and bytes), *pos moved past it; false at the end. */
static inline bool diff_run(const uint8_t *d, size_t len, size_t *pos,
			    unsigned *off, unsigned *n, const uint8_t **bytes)
{
	if (*pos >= len)
		return false;
	*off = (unsigned)d[*pos] | (unsigned)d[*pos + 1] << 8;
	*n = (unsigned)d[*pos + 2] | (unsigned)d[*pos + 3] << 8;
	*bytes = d + *pos + DIFF_RUN_HDR;
	*pos += DIFF_RUN_HDR + *n;
	return true;
}

/* Whether two well-formed diffs change a byte in common (two nodes wrote
 * it in one interval: a data race); *off (may be NULL): the first such
 * byte's offset. */
bool diff_overlap(const uint8_t *a, size_t alen, const uint8_t *b,
		  size_t blen, unsigned *off);

/* Whether pages a and b differ at a byte the well-formed diff d[0..len)
 * covers (a copy's own unreleased writes, a = its twin and b = the copy,
 * among the bytes another node's diff would overwrite). */
bool diff_touches(const uint8_t *d, size_t len, const uint8_t *a,
		  const uint8_t *b);

#endif
