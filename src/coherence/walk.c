/* Fault walks (walk.h). */
#include "coherence/walk.h"

unsigned walk_fault(walk_t *w, uint64_t page, bool ask, unsigned max,
		    uint64_t lo, uint64_t hi, uint64_t *out)
{
	int64_t d = (int64_t)(page - (w->last - 1));
	bool walk = false;
	unsigned k;

	if (w->last && d == 0)
		return 0; /* the same page again: nothing asked, walk kept */
	if (ask && w->last && w->win)
		walk = d % w->step == 0 && d / w->step >= 1 &&
		       d / w->step <= (int64_t)w->win + 1;
	else if (ask && w->last)
		walk = d == 1 ||
		       (d == w->step && d >= -WALK_STEP_MAX &&
			d <= WALK_STEP_MAX);
	if (walk) {
		if (!w->win)
			w->step = d;
		w->win = w->win ? w->win * 2 : 2;
	} else {
		w->win = 0;
		w->step = d;
	}
	if (w->win > max)
		w->win = max;
	w->last = page + 1;
	for (k = 0; k < w->win; k++) {
		uint64_t q = page + (uint64_t)(w->step * (int64_t)(k + 1));

		if (q < lo || q >= hi)
			break;
		out[k] = q;
	}
	return k;
}
