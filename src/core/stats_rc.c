/* Counters of the release memory model for --stats (stats_rc.h). */
#include "core/stats_rc.h"

#include <stddef.h>

#include "core/vm.h"

/* The counters as JSON keys, in coh_rc_stats_t order. */
static const struct rc_field {
	const char *key;
	size_t off;
} rc_fields[] = {
#define F(key, member) { key, offsetof(coh_rc_stats_t, member) }
	F("diffs_sent", diffs_sent),       F("diff_bytes", diff_bytes),
	F("diffs_applied", diffs_applied), F("twins", twins),
	F("write_notices", notices),       F("invalidated", invalidated),
	F("fetches", fetches),             F("zero_fetches", zero_fetches),
	F("acquires", acquires),           F("releases", releases),
	F("sync_pages", sync_pages),       F("races", races),
	F("forwards_deferred", fwd_deferred),
	F("promoted_pages", promoted),     F("notices_applied", updated),
	F("seq_page_faults", seq_faults),  F("seq_page_fault_ns", seq_fault_ns),
	F("data_page_faults", data_faults),
	F("data_page_fault_ns", data_fault_ns),
	F("handover_release_ns", handover_ns),
	F("demoted_pages", demoted),
#undef F
};

#define RC_NFIELDS (sizeof(rc_fields) / sizeof(rc_fields[0]))
_Static_assert(RC_NFIELDS * sizeof(uint64_t) == sizeof(coh_rc_stats_t),
	       "coh_rc_stats_t: every counter has a JSON key");

static bool model_release;
static coh_rc_stats_t per_node[STATS_RC_NODES];

void stats_rc_model(bool release)
{
	model_release = release;
}

void stats_rc_add(int node, const coh_rc_stats_t *s)
{
	if (node >= 0 && node < STATS_RC_NODES)
		per_node[node] = *s;
}

static uint64_t field(const coh_rc_stats_t *s, size_t i)
{
	return *(const uint64_t *)((const char *)s + rc_fields[i].off);
}

/* The sums over vm's nodes. */
static void rc_sum(const vm_t *vm, coh_rc_stats_t *sum)
{
	uint64_t *to = (uint64_t *)sum;

	*sum = (coh_rc_stats_t){ 0 };
	for (int k = 0; k < vm->nnodes && k < STATS_RC_NODES; k++) {
		const uint64_t *from = (const uint64_t *)&per_node[k];

		for (size_t i = 0; i < RC_NFIELDS; i++)
			to[i] += from[i];
	}
}

void stats_rc_table(const vm_t *vm, FILE *out)
{
	coh_rc_stats_t s;

	if (!model_release)
		return;
	rc_sum(vm, &s);
	fprintf(out, "release model: %lu diffs sent (%lu bytes), %lu write "
		"notices (%lu applied in place), %lu pages promoted (%lu given "
		"back), %lu sync pages, %lu races, %lu forwards waited for a "
		"release\n",
		s.diffs_sent, s.diff_bytes, s.notices, s.updated, s.promoted,
		s.demoted, s.sync_pages, s.races, s.fwd_deferred);
}

/* The counters of s as members of object o (consumed). */
static json_t *rc_counters(json_t *o, const coh_rc_stats_t *s)
{
	for (size_t i = 0; i < RC_NFIELDS; i++)
		o = jdoc_set(o, rc_fields[i].key,
			     json_integer((json_int_t)field(s, i)));
	return o;
}

json_t *stats_rc_json(const vm_t *vm, json_t *doc)
{
	json_t *rc = json_pack("{s:s}", "memory_model",
			       model_release ? "release" : "sequential");
	json_t *nodes = json_array();
	coh_rc_stats_t sum;

	rc_sum(vm, &sum);
	rc = rc_counters(rc, &sum);
	for (int k = 0; k < vm->nnodes && k < STATS_RC_NODES; k++)
		nodes = jdoc_push(nodes,
				  rc_counters(json_pack("{s:i}", "node", k),
					      &per_node[k]));
	return jdoc_set(doc, "release", jdoc_set(rc, "per_node", nodes));
}
