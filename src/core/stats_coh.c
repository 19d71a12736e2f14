/* Coherence fields of --stats (stats_coh.h).
 *
 * Node 0 keeps every node's hot pages as (node, counters) contributions
 * and the fault samples tagged with their node. Writing the JSON sums the
 * contributions per page (a page outside every node's top STATS_HOT_TOP is
 * not seen), takes the STATS_HOT_OUT hottest, and lists for each the
 * copies (from_node -> node) most first. A page has "alternating_writers"
 * when at least two nodes each took two or more write faults on it: a
 * node's second write fault means the page was taken away in between. */
#include "core/stats_coh.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/log.h"
#include "core/gmem.h"
#include "core/stats.h"
#include "core/vm.h"

typedef struct hot_src {
	int node;
	coh_trace_page_t p;
} hot_src_t;

typedef struct trace_ev {
	uint64_t t_ns, page;
	int node;
	bool write;
} trace_ev_t;

typedef struct hot_sum {
	uint64_t page, faults, writes, atomics;
	unsigned writers; /* nodes with two or more write faults */
} hot_sum_t;

typedef struct pair {
	int from, to;
	uint64_t count;
} pair_t;

static stats_thread_t threads[STATS_THREADS_MAX];
static unsigned nthreads;
static pthread_mutex_t threads_lock = PTHREAD_MUTEX_INITIALIZER;

static hot_src_t *hot;
static unsigned nhot_all;
static trace_ev_t *trace;
static size_t ntrace;

void stats_thread_stack(int tid, uint64_t lo, uint64_t hi)
{
	unsigned i;

	pthread_mutex_lock(&threads_lock);
	for (i = 0; i < nthreads; i++)
		if (threads[i].lo == lo && threads[i].hi == hi)
			break;
	if (i < STATS_THREADS_MAX)
		threads[i] = (stats_thread_t){ tid, lo, hi };
	if (i == nthreads && i < STATS_THREADS_MAX)
		nthreads++;
	pthread_mutex_unlock(&threads_lock);
}

unsigned stats_threads_get(stats_thread_t *out, unsigned cap)
{
	unsigned n;

	pthread_mutex_lock(&threads_lock);
	n = nthreads < cap ? nthreads : cap;
	for (unsigned i = 0; i < n; i++)
		out[i] = threads[i];
	pthread_mutex_unlock(&threads_lock);
	return n;
}

static void add_hot(int node, const coh_trace_page_t *p, unsigned n)
{
	hot_src_t *h = realloc(hot, (nhot_all + n) * sizeof(*h));

	if (!h) {
		log_warn("--stats: no memory for node %d's hot pages", node);
		return;
	}
	hot = h;
	for (unsigned i = 0; i < n; i++)
		hot[nhot_all++] = (hot_src_t){ node, p[i] };
}

static void add_trace(int node, const coh_trace_ev_t *ev, unsigned n)
{
	trace_ev_t *t = realloc(trace, (ntrace + n) * sizeof(*t));

	if (!t) {
		log_warn("--stats: no memory for node %d's fault trace", node);
		return;
	}
	trace = t;
	for (unsigned i = 0; i < n; i++)
		trace[ntrace++] = (trace_ev_t){ ev[i].t_ns, ev[i].page, node,
						ev[i].write != 0 };
}

void stats_coh_add(int node, const coh_trace_page_t *hot_pages,
		   unsigned nhot, const coh_trace_ev_t *ev, unsigned nev)
{
	if (nhot)
		add_hot(node, hot_pages, nhot);
	if (nev)
		add_trace(node, ev, nev);
}

/* ---- fault_trace --------------------------------------------------------- */

static int cmp_ev_time(const void *a, const void *b)
{
	const trace_ev_t *x = a, *y = b;

	return (x->t_ns > y->t_ns) - (x->t_ns < y->t_ns);
}

static json_t *trace_json(const vm_t *vm)
{
	size_t step = ntrace / STATS_TRACE_OUT + 1;
	json_t *arr = json_array();

	if (ntrace)
		qsort(trace, ntrace, sizeof(*trace), cmp_ev_time);
	for (size_t i = 0; i < ntrace; i += step) {
		const trace_ev_t *e = &trace[i];
		uint64_t ns = e->t_ns > vm->t_start ? e->t_ns - vm->t_start : 0;

		arr = jdoc_push(arr, json_pack("[f, I, i, s]", stats_secs_us(ns),
			(json_int_t)(e->page * CVMM_PAGE_SIZE), e->node,
			e->write ? "w" : "r"));
	}
	return arr;
}

/* ---- hot_pages ----------------------------------------------------------- */

static int cmp_sum(const void *a, const void *b)
{
	const hot_sum_t *x = a, *y = b;

	if (x->faults != y->faults)
		return x->faults < y->faults ? 1 : -1;
	return (x->page > y->page) - (x->page < y->page);
}

/* Sums the contributions per page into sums; returns how many pages. */
static unsigned hot_sum(hot_sum_t *sums)
{
	unsigned n = 0;

	for (unsigned i = 0; i < nhot_all; i++) {
		const coh_trace_page_t *p = &hot[i].p;
		unsigned j = 0;

		while (j < n && sums[j].page != p->page)
			j++;
		if (j == n)
			sums[n++] = (hot_sum_t){ .page = p->page };
		sums[j].faults += p->faults;
		sums[j].writes += p->writes;
		sums[j].atomics += p->atomics;
		sums[j].writers += p->writes >= 2;
	}
	qsort(sums, n, sizeof(*sums), cmp_sum);
	return n;
}

static int cmp_pair(const void *a, const void *b)
{
	const pair_t *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return x->from != y->from ? x->from - y->from : x->to - y->to;
}

/* Page's [from, to, count] copies, most first. */
static json_t *pairs_json(uint64_t page)
{
	size_t n = 0, cap = 0;
	json_t *arr;
	pair_t *v;

	for (unsigned i = 0; i < nhot_all; i++)
		cap += hot[i].p.page == page ? COH_TRACE_NODES : 0;
	v = calloc(cap + 1, sizeof(*v));
	if (!v)
		return NULL;
	for (unsigned i = 0; i < nhot_all; i++) {
		const hot_src_t *h = &hot[i];

		if (h->p.page != page)
			continue;
		for (int k = 0; k < COH_TRACE_NODES; k++)
			if (h->p.from[k])
				v[n++] = (pair_t){ k, h->node, h->p.from[k] };
	}
	qsort(v, n, sizeof(*v), cmp_pair);
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		arr = jdoc_push(arr, json_pack("[i, i, I]", v[i].from, v[i].to,
					       (json_int_t)v[i].count));
	free(v);
	return arr;
}

static json_t *hot_json(void)
{
	hot_sum_t *sums = calloc(nhot_all + 1, sizeof(*sums));
	unsigned n = sums ? hot_sum(sums) : 0;
	json_t *arr = sums ? json_array() : NULL;

	for (unsigned i = 0; i < n && i < STATS_HOT_OUT; i++)
		arr = jdoc_push(arr, json_pack(
			"{s:I, s:I, s:I, s:I, s:o, s:b}",
			"addr", (json_int_t)(sums[i].page * CVMM_PAGE_SIZE),
			"faults", (json_int_t)sums[i].faults,
			"writes", (json_int_t)sums[i].writes,
			"atomic_writes", (json_int_t)sums[i].atomics,
			"pairs", pairs_json(sums[i].page),
			"alternating_writers", sums[i].writers >= 2));
	free(sums);
	return arr;
}

/* ---- threads, heap ------------------------------------------------------- */

static json_t *stack_json(int64_t tid, uint64_t lo, uint64_t hi)
{
	return json_pack("{s:I, s:I, s:I}", "tid", (json_int_t)tid, "stack_lo",
			 (json_int_t)lo, "stack_hi", (json_int_t)hi);
}

/* The main thread's stack, then every recorded one. */
static json_t *threads_json(const vm_t *vm)
{
	json_t *arr = jdoc_push(json_array(),
				stack_json(vm->pid,
					   GMEM_STACK_TOP - GMEM_STACK_SIZE,
					   GMEM_STACK_TOP));

	pthread_mutex_lock(&threads_lock);
	for (unsigned i = 0; i < nthreads; i++)
		arr = jdoc_push(arr, stack_json(threads[i].tid, threads[i].lo,
						threads[i].hi));
	pthread_mutex_unlock(&threads_lock);
	return arr;
}

json_t *stats_coh_json(const vm_t *vm, json_t *doc)
{
	doc = jdoc_set(doc, "fault_trace", trace_json(vm));
	doc = jdoc_set(doc, "hot_pages", hot_json());
	doc = jdoc_set(doc, "threads", threads_json(vm));
	return jdoc_set(doc, "heap",
			json_pack("[I, I]", (json_int_t)cvmm_gmem.brk_start,
				  (json_int_t)cvmm_gmem.brk_cur));
}
