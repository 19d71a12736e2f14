/* The balancer's decisions and node 0's record of its moves (balance.h). */
#include "core/balance.h"

#include <pthread.h>
#include <stdlib.h>

void balance_start(balance_state_t *s)
{
	s->from = s->to = -1;
	s->streak = 0;
	s->quiet = 0;
}

static uint64_t delta(uint64_t now, uint64_t prev)
{
	return now >= prev ? now - prev : 0; /* a counter reset: nothing */
}

balance_view_t balance_view(const balance_sample_t *prev,
			    const balance_sample_t *now, uint64_t period_ns)
{
	balance_view_t v = { .share_pct = -1, .free_pct = 0,
			     .threads = now->threads,
			     .ok = prev->ok && now->ok && period_ns > 0 };
	uint64_t run, wait, idle;

	if (!v.ok)
		return v;
	run = delta(now->run_ns, prev->run_ns);
	wait = delta(now->wait_ns, prev->wait_ns);
	idle = delta(now->idle_ns, prev->idle_ns);
	if ((run + wait) * 100 >= (uint64_t)BALANCE_BUSY_PCT * period_ns)
		v.share_pct = (int)(run * 100 / (run + wait));
	/* idle over the period, in % of one core (at most all its cores) */
	if (idle > (uint64_t)now->cores * period_ns)
		idle = (uint64_t)now->cores * period_ns;
	v.free_pct = (int)(idle * 100 / period_ns);
	return v;
}

/* The slowest node that has a thread to give, -1 none. */
static int slowest(const balance_view_t *v, int n)
{
	int k = -1;

	for (int i = 0; i < n; i++)
		if (v[i].ok && v[i].threads > 0 && v[i].share_pct >= 0 &&
		    v[i].share_pct < BALANCE_SLOW_PCT &&
		    (k < 0 || v[i].share_pct < v[k].share_pct))
			k = i;
	return k;
}

/* The node with the most idle time that can take a thread from k. */
static int roomiest(const balance_view_t *v, int n, int k)
{
	int j = -1;

	for (int i = 0; i < n; i++)
		if (i != k && v[i].ok && v[i].free_pct >= BALANCE_FREE_PCT &&
		    (v[i].share_pct < 0 ||
		     v[i].share_pct >= BALANCE_FAST_PCT) &&
		    (j < 0 || v[i].free_pct > v[j].free_pct))
			j = i;
	return j;
}

balance_move_t balance_decide(balance_state_t *s, const balance_view_t *v,
			      int n, bool force, char *why, size_t cap)
{
	balance_move_t m = { .from = -1, .to = -1 };
	int k = slowest(v, n), j = k >= 0 ? roomiest(v, n, k) : -1;
	bool quiet = !force && s->quiet > 0;

	if (quiet)
		s->quiet--;
	if (k < 0) {
		int low = -1;

		for (int i = 0; i < n; i++)
			if (v[i].ok && v[i].share_pct >= 0 &&
			    (low < 0 || v[i].share_pct < v[low].share_pct))
				low = i;
		if (low < 0)
			snprintf(why, cap, "no guest thread was runnable long "
				 "enough to measure");
		else
			snprintf(why, cap, "no node is slow (the least CPU "
				 "share: %d%% on node %d)", v[low].share_pct,
				 low);
	} else if (j < 0) {
		snprintf(why, cap, "node %d is slow (its threads got %d%% of "
			 "the CPU they wanted) but no other node has half a "
			 "core idle", k, v[k].share_pct);
	}
	if (k < 0 || j < 0) {
		s->from = s->to = -1;
		s->streak = 0;
		return m;
	}
	if (s->from == k && s->to == j) {
		s->streak++;
	} else {
		s->from = k;
		s->to = j;
		s->streak = 1;
	}
	if (quiet) {
		s->streak = 0; /* what a move changed is seen afresh */
		snprintf(why, cap, "node %d is slow (%d%%), node %d has room: "
			 "quiet after a move", k, v[k].share_pct, j);
		return m;
	}
	if (!force && s->streak < BALANCE_STREAK) {
		snprintf(why, cap, "node %d is slow (%d%%), node %d has room: "
			 "seen %u of %d periods", k, v[k].share_pct, j,
			 s->streak, BALANCE_STREAK);
		return m;
	}
	m = (balance_move_t){ .from = k, .to = j, .share_pct = v[k].share_pct,
			      .free_pct = v[j].free_pct };
	snprintf(why, cap, "node %d's threads got %d%% of the CPU they "
		 "wanted, node %d had %d%% of a core idle", k, v[k].share_pct,
		 j, v[j].free_pct);
	s->streak = 0;
	s->quiet = BALANCE_QUIET;
	return m;
}

/* ---- the record ---------------------------------------------------------- */

typedef struct balance_entry {
	uint64_t t_ns;
	int tid;
	balance_move_t m;
	bool forced;
} balance_entry_t;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static balance_entry_t moves[BALANCE_LOG_MAX];
static unsigned nmoves, nlost;
static const char *log_mode;

void balance_log(uint64_t t_ns, int tid, const balance_move_t *m,
		 bool forced)
{
	pthread_mutex_lock(&log_lock);
	if (nmoves < BALANCE_LOG_MAX)
		moves[nmoves++] = (balance_entry_t){ t_ns, tid, *m, forced };
	else
		nlost++;
	pthread_mutex_unlock(&log_lock);
}

void balance_set_mode(const char *mode)
{
	log_mode = mode;
}

void balance_table(FILE *out)
{
	if (!log_mode)
		return;
	pthread_mutex_lock(&log_lock);
	fprintf(out, "balancer: %s, %u moves\n", log_mode, nmoves + nlost);
	pthread_mutex_unlock(&log_lock);
}

json_t *balance_json(json_t *doc)
{
	json_t *arr;

	if (!log_mode)
		return doc;
	arr = json_array();
	pthread_mutex_lock(&log_lock);
	for (unsigned i = 0; i < nmoves; i++) {
		const balance_entry_t *e = &moves[i];

		arr = jdoc_push(arr,
				json_pack("{s:f, s:i, s:i, s:i, s:i, s:i, s:b}",
					  "t_s",
					  (double)(e->t_ns / 1000) / 1e6,
					  "tid", e->tid, "from", e->m.from,
					  "to", e->m.to, "from_cpu_pct",
					  e->m.share_pct, "to_idle_pct",
					  e->m.free_pct, "forced", e->forced));
	}
	pthread_mutex_unlock(&log_lock);
	return jdoc_set(doc, "balance",
			json_pack("{s:s, s:i, s:i, s:o}", "mode", log_mode,
				  "period_ms", BALANCE_PERIOD_MS, "moves_total",
				  (int)(nmoves + nlost),
				  "moves", arr ? arr : json_null()));
}
