/* Counts of guest threads that moved between nodes (stats_mig.h). */
#include "core/stats_mig.h"

#include <pthread.h>
#include <stdlib.h>

#include "common/log.h"
#include "core/vm.h"

#define MIG_NODES 1024 /* nodes node 0 keeps counts of */

/* This node's own counts. */
static pthread_mutex_t mig_lock = PTHREAD_MUTEX_INITIALIZER;
static stats_mig_t mine[STATS_MIG_MAX];
static unsigned nmine;
static uint64_t mine_out, mine_in;

/* Node 0's sums over every node. */
static uint64_t node_out[MIG_NODES], node_in[MIG_NODES];
static stats_mig_t *sum;
static unsigned nsum;

void stats_mig_left(int tid)
{
	unsigned i;

	pthread_mutex_lock(&mig_lock);
	mine_out++;
	for (i = 0; i < nmine && mine[i].tid != tid; i++)
		;
	if (i < STATS_MIG_MAX) {
		mine[i].tid = tid;
		mine[i].count++;
		if (i == nmine)
			nmine++;
	}
	pthread_mutex_unlock(&mig_lock);
}

void stats_mig_arrived(void)
{
	__atomic_fetch_add(&mine_in, 1, __ATOMIC_RELAXED);
}

unsigned stats_mig_get(uint64_t *out, uint64_t *in, stats_mig_t *t,
		       unsigned cap)
{
	unsigned n;

	pthread_mutex_lock(&mig_lock);
	*out = mine_out;
	*in = __atomic_load_n(&mine_in, __ATOMIC_RELAXED);
	n = nmine < cap ? nmine : cap;
	for (unsigned i = 0; i < n; i++)
		t[i] = mine[i];
	pthread_mutex_unlock(&mig_lock);
	return n;
}

void stats_mig_add(int node, uint64_t out, uint64_t in, const stats_mig_t *t,
		   unsigned n)
{
	stats_mig_t *s;

	if (node < 0 || node >= MIG_NODES)
		return;
	node_out[node] += out;
	node_in[node] += in;
	s = n ? realloc(sum, (nsum + n) * sizeof(*s)) : sum;
	if (n && !s) {
		log_warn("--stats: no memory for node %d's migrations", node);
		return;
	}
	sum = s;
	for (unsigned i = 0; i < n; i++) {
		unsigned j;

		for (j = 0; j < nsum && sum[j].tid != t[i].tid; j++)
			;
		if (j == nsum)
			sum[nsum++] = (stats_mig_t){ .tid = t[i].tid };
		sum[j].count += t[i].count;
	}
}

static int cmp_mig(const void *a, const void *b)
{
	const stats_mig_t *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return (x->tid > y->tid) - (x->tid < y->tid);
}

void stats_mig_table(const vm_t *vm, FILE *out)
{
	uint64_t total = 0;

	for (int k = 0; k < vm->nnodes && k < MIG_NODES; k++)
		total += node_out[k];
	fprintf(out, "migrations: %lu", total);
	for (int k = 0; k < vm->nnodes && k < MIG_NODES && total; k++)
		fprintf(out, "%snode %d out %lu in %lu", k ? ", " : " (", k,
			node_out[k], node_in[k]);
	fprintf(out, total ? ")\n" : "\n");
}

json_t *stats_mig_json(const vm_t *vm, json_t *doc)
{
	json_t *nodes = json_array(), *threads = json_array();
	uint64_t total = 0;

	for (int k = 0; k < vm->nnodes && k < MIG_NODES; k++) {
		total += node_out[k];
		nodes = jdoc_push(nodes,
				  json_pack("{s:i, s:I, s:I}", "node", k, "out",
					    (json_int_t)node_out[k], "in",
					    (json_int_t)node_in[k]));
	}
	if (nsum)
		qsort(sum, nsum, sizeof(*sum), cmp_mig);
	for (unsigned i = 0; i < nsum; i++)
		threads = jdoc_push(
			threads,
			json_pack("{s:I, s:I}", "tid", (json_int_t)sum[i].tid,
				  "migrations", (json_int_t)sum[i].count));
	return jdoc_set(doc, "migrations",
			json_pack("{s:I, s:o, s:o}", "total", (json_int_t)total,
				  "per_node", nodes, "per_thread", threads));
}
