/* The placement decisions (place.h): pure functions of a thread's record,
 * the time and this node's view. */
#include "core/place.h"

#include <string.h>

void place_start(place_thread_t *t, uint64_t now_ns)
{
	memset(t, 0, sizeof(*t));
	t->arrived_ns = now_ns;
	t->hold_ns = PLACE_HOLD_NS;
	t->prev = -1;
}

void place_arrive(place_thread_t *t, int from, uint64_t hold_ns,
		  uint64_t now_ns)
{
	place_start(t, now_ns);
	if (hold_ns < PLACE_HOLD_NS)
		hold_ns = PLACE_HOLD_NS;
	if (hold_ns > PLACE_HOLD_MAX_NS)
		hold_ns = PLACE_HOLD_MAX_NS;
	t->hold_ns = hold_ns;
	t->prev = from;
}

void place_note(place_thread_t *t, int src, int self, uint64_t now_ns)
{
	if (src < 0 || src == self)
		return;
	t->ring[t->head] = (place_fault_t){ .node = src, .t_ns = now_ns };
	t->head = (t->head + 1) % PLACE_WINDOW;
	if (t->nfaults < PLACE_WINDOW)
		t->nfaults++;
}

int place_vcpus_of(int node, int nnodes, int nvcpus)
{
	if (nnodes < 1 || node < 0 || node >= nnodes)
		return 0;
	return nvcpus / nnodes + (node < nvcpus % nnodes);
}

bool place_balance_ok(const place_view_t *v, int to)
{
	if (to < 0 || to >= v->nnodes)
		return false;
	if (!v->load)
		return true;
	if (v->load[to] + 1 <=
	    (uint32_t)place_vcpus_of(to, v->nnodes, v->nvcpus))
		return true;
	for (int y = 0; y < v->nnodes; y++) {
		uint32_t n = v->load[y];

		if (y == to)
			continue;
		if (y == v->self && n > 0)
			n--; /* the mover leaves it */
		if (n < (uint32_t)place_vcpus_of(y, v->nnodes, v->nvcpus))
			return false;
	}
	return true;
}

/* The fault at ring index i is recent enough to count. */
static bool fresh(const place_thread_t *t, unsigned i, uint64_t now_ns)
{
	return now_ns - t->ring[i].t_ns <= PLACE_AGE_NS;
}

/* The node most of the recent remote faults came from (Boyer-Moore
 * majority vote: a node with 75% is the majority, so the candidate the
 * vote leaves is the only one worth counting); -1 when there are none. */
static int majority(const place_thread_t *t, uint64_t now_ns, unsigned *count,
		    unsigned *remote)
{
	int cand = -1;
	unsigned votes = 0;

	*count = *remote = 0;
	for (unsigned i = 0; i < t->nfaults; i++) {
		if (!fresh(t, i, now_ns))
			continue;
		(*remote)++;
		if (votes == 0) {
			cand = t->ring[i].node;
			votes = 1;
		} else if (t->ring[i].node == cand) {
			votes++;
		} else {
			votes--;
		}
	}
	for (unsigned i = 0; i < t->nfaults && cand >= 0; i++)
		if (fresh(t, i, now_ns) && t->ring[i].node == cand)
			(*count)++;
	return cand;
}

int place_decide(const place_thread_t *t, const place_view_t *v,
		 uint64_t now_ns)
{
	unsigned count, remote;
	int x;

	if (v->nnodes < 2 || now_ns - t->arrived_ns < t->hold_ns)
		return -1;
	x = majority(t, now_ns, &count, &remote);
	if (remote < PLACE_MIN_REMOTE ||
	    (uint64_t)count * 100 < (uint64_t)PLACE_SHARE_PCT * remote)
		return -1;
	if (x < 0 || x >= v->nnodes || x == v->self || !place_balance_ok(v, x))
		return -1;
	return x;
}

uint64_t place_hold_next(const place_thread_t *t, int to, uint64_t now_ns)
{
	uint64_t stay = now_ns - t->arrived_ns;

	if (to != t->prev || stay >= PLACE_SETTLED * t->hold_ns)
		return PLACE_HOLD_NS;
	return t->hold_ns * 2 < PLACE_HOLD_MAX_NS ? t->hold_ns * 2
						  : PLACE_HOLD_MAX_NS;
}

int place_every(place_thread_t *t, unsigned every, int self, int nnodes)
{
	if (!every || nnodes < 2)
		return -1;
	if (++t->traps < every)
		return -1;
	t->traps = 0;
	return (self + 1) % nnodes;
}
