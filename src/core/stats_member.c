/* The membership changes of a run, for --stats (stats_member.h). */
#include "core/stats_member.h"

#include <pthread.h>
#include <stdbool.h>

typedef struct member_entry {
	uint64_t t_ns;
	member_event_t ev;
	int node, heir;
	uint64_t epoch;
	double ms;
	int64_t pages;
	int nnodes;
	uint16_t vcpus[MEMBER_NODES];
} member_entry_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static member_entry_t log_v[MEMBER_LOG_MAX];
static unsigned nlog, nlost, joins, leaves;
static int slots_n, started_n;

void member_start(int slots, int started)
{
	pthread_mutex_lock(&lock);
	slots_n = slots;
	started_n = started;
	pthread_mutex_unlock(&lock);
}

void member_log(uint64_t t_ns, member_event_t ev, int node, int heir,
		uint64_t epoch, double ms, int64_t pages,
		const uint16_t *vcpus, int n)
{
	pthread_mutex_lock(&lock);
	if (ev == MEMBER_JOIN)
		joins++;
	else
		leaves++;
	if (nlog < MEMBER_LOG_MAX) {
		member_entry_t *e = &log_v[nlog++];

		*e = (member_entry_t){ t_ns, ev, node, heir, epoch, ms, pages,
				       0, { 0 } };
		e->nnodes = vcpus ? (n < MEMBER_NODES ? n : MEMBER_NODES) : 0;
		for (int k = 0; k < e->nnodes; k++)
			e->vcpus[k] = vcpus[k];
	} else {
		nlost++;
	}
	pthread_mutex_unlock(&lock);
}

/* Only a VM with free slots or a change has anything to say. */
static bool worth(void)
{
	return slots_n > 0 && (slots_n > started_n || joins || leaves);
}

void member_table(FILE *out)
{
	pthread_mutex_lock(&lock);
	if (worth())
		fprintf(out, "membership: %d slots, %d started, %u joins, %u "
			"leaves\n", slots_n, started_n, joins, leaves);
	pthread_mutex_unlock(&lock);
}

json_t *member_json(json_t *doc)
{
	json_t *arr;

	pthread_mutex_lock(&lock);
	if (!worth()) {
		pthread_mutex_unlock(&lock);
		return doc;
	}
	arr = json_array();
	for (unsigned i = 0; i < nlog; i++) {
		const member_entry_t *e = &log_v[i];
		json_t *vc = json_array();

		for (int k = 0; vc && k < e->nnodes; k++)
			vc = jdoc_push(vc, json_integer(e->vcpus[k]));

		arr = jdoc_push(
			arr, json_pack("{s:f, s:s, s:i, s:i, s:I, s:f, s:I, s:o}",
				       "t_s",
				       (double)(e->t_ns / 1000) / 1e6,
				       "event",
				       e->ev == MEMBER_JOIN ? "join" : "leave",
				       "node", e->node, "heir", e->heir,
				       "epoch", (json_int_t)e->epoch, "ms",
				       e->ms, "pages", (json_int_t)e->pages,
				       "vcpus", vc ? vc : json_null()));
	}
	pthread_mutex_unlock(&lock);
	return jdoc_set(doc, "membership",
			json_pack("{s:i, s:i, s:i, s:i, s:o}", "slots",
				  slots_n, "started", started_n, "joins",
				  (int)joins, "leaves", (int)leaves, "events",
				  arr ? arr : json_null()));
}
