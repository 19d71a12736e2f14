/* Fault walks (docs/coherence.md, "Read-ahead and batched messages"): a
 * thread whose faults step through memory by one stride asks for the
 * pages of the next steps ahead of them. The walk's arithmetic only; the
 * runtime (coh.c) checks the layout and asks.
 *
 * A walk starts at its second step when the step is one page up (a walk
 * along an array), at its third for any other stride of at most
 * WALK_STEP_MAX pages, up or down (a transpose reading one page of every
 * row: the same two distances in a row); it asks for 2 steps, then
 * doubles up to its maximum while each fault comes within the steps asked
 * for or right after them. The same page again asks nothing and keeps
 * the walk; any other fault, or one that wants nothing ahead (ask false),
 * starts again from none. */
#ifndef CVMM_COHERENCE_WALK_H
#define CVMM_COHERENCE_WALK_H

#include <stdbool.h>
#include <stdint.h>

#define WALK_STEP_MAX 64

typedef struct walk {
	uint64_t last; /* the last fault that asked, + 1; 0: none yet */
	int64_t step;  /* pages; while win is 0, the last two faults' */
	unsigned win;  /* steps asked for then */
} walk_t;

/* Feeds a fault on page to w; the pages to ask for ahead into out (at
 * most max, and only within [lo, hi)), in step order; returns how many. */
unsigned walk_fault(walk_t *w, uint64_t page, bool ask, unsigned max,
		    uint64_t lo, uint64_t hi, uint64_t *out);

#endif
